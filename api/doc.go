// Package api is Centrala's admin REST API: users and their roles, SIP accounts (device
// identities, whose secrets are kept only as digest HA1s), live registrations, trunks,
// numbers, outbound rules, inbound schemes (IVRs, ring groups, schedules, prompts), call
// queues with their members and live status, agent state, and the live event stream, for administrators, supervisors and the CRM.
//
// It sits between cmd (which composes it) and the SQL store and the SIP side: handlers write
// to the store (api/store, through the consumer-side Store interface) and tell the registrar
// (Registrar) when an account's credentials change or an account goes, so cached credentials
// and bindings are dropped at once. GET /api/v1/events subscribes to the pbx/event bus.
//
// Shape: one routes() table lists every net/http ServeMux pattern with who may call it; one
// adapter authenticates (Bearer: a personal token from POST /api/v1/auth/login, stored only
// as its SHA-256, or the configured admin token), checks the role, runs the handler and turns
// a returned error into application/problem+json (toProblem, the one mapping) and a log line.
// The embedded openapi.json is the contract: the tests check that it lists exactly the
// routes, and validate every request they send and every response they get against it.
//
// Decisions:
//   - Extension may be empty only for users with phone_type none (not callable: CRM-only
//     users and the bootstrap admin); phone_type defaults to softphone.
//   - Passwords are argon2id (64 MiB, t=2, p=1) in PHC format; at most four hash
//     computations run at once so a burst of logins queues instead of exhausting memory.
//     Unknown logins are verified against a dummy hash: same 401, same work.
//   - The last active admin user cannot be demoted, archived or deleted, and nobody archives
//     or deletes their own user (409): either would lock the administrators out.
//   - Registrar.AccountChanged is called on every account change, creation included (the
//     registrar caches "no such account" too). On user delete it is called before the rows
//     go (as specified); on archive and account delete after, so a REGISTER racing the change
//     cannot reload the old state into the cache.
//   - Routing is data the API owns: after every change it rebuilds the outbound table
//     (Routing) and the inbound graph (Inbound) from the store and swaps them in, under one
//     mutex, so the call engine reads immutable snapshots. A change is first tried on a
//     candidate built in memory; if package routing refuses it, nothing is written. For the
//     inbound graph, problems in the object written are 422 naming its fields, problems it
//     would cause elsewhere are 409 with the list of objects (Problem.conflicts) — the
//     admin sees what to fix first. User edits that take an extension away are checked too,
//     since destinations name extensions.
//   - Objects stored invalid before these checks existed are left out of the graph (logged
//     at Error) instead of failing the start; their known problems do not block other
//     writes, only new problems do.
//   - IVRs, ring groups and schedules are the routing types stored as JSON documents: one
//     set of generic handlers (objectKind) serves the three, and new fields need no
//     migration. A body's "id" is refused, since the path or the store gives it.
//   - Queues (queue.Queue, members inside its document) are a fourth objectKind: besides
//     the graph check (their overflow destinations are routing.QueueExits, a queue an exit
//     of the way-out analysis) they run queue.Validate and check that members are active
//     users. The members routes rewrite the queue under the same lock and checks.
//   - Agent state and queue status read the shared queue.Store given with WithAgents (503
//     without it). PUT .../state is by agent when callers change their own state, by
//     supervisor otherwise (admins too); the state machine's refusals (ErrBadTransition)
//     are 409 and its *queue.ValidationError 422, mapped in toProblem. A change publishes
//     agent.state on the bus. Queue status has no service level until queue CDRs exist.
//   - Prompt audio is a file (<PromptsDir>/<id>.wav, 8 kHz 16-bit mono), not a BLOB: the
//     call engine maps it by path (PromptPath) and the SQL file stays small. Uploads are
//     converted on the way in (media.DecodeWAV), so every stored prompt plays as it is.
package api
