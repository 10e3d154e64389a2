// Package routing is Centrala's pure routing logic. It imports no SIP, storage or network
// code, starts no goroutines and reads no clock: every answer is a function of an
// immutable snapshot and the call in question. It holds the outbound rules and CLIP (the
// number presented to the callee), number normalisation, and the inbound schemes (what a
// call to a project number walks through: schedules, IVRs, ring groups, announcements).
//
// Where it sits: the admin API (api) keeps the outbound rules, project numbers and trunks in
// SQL; after every change the store builds a new Table with NewTable and swaps it into a
// Holder (atomic.Pointer), so rules take effect without a restart and a call never sees a
// half-applied change. When a device's INVITE leaves the PBX (not an internal extension),
// the call engine (pbx) builds a Caller from the authenticated SIP account and asks
// Table.Route for a Decision: allow through an ordered list of trunks, failing over on the
// given SIP codes only, presenting a CLIP (or withholding it), or deny with a SIP code.
// Table.DialString formats the number for each trunk's number_format. The API's
// POST /api/v1/routing/explain calls Table.Explain, which decides exactly as Route does
// and also lists every rule considered and why it matched or not; its JSON is the
// explain contract (rule_id, reason, action, dialled, clip, trunks, sip_code).
//
// Route's order: a dialled string that is not a number is denied with 484; an emergency
// number (Options.Emergency) is always allowed, for everyone; a blocked SIP account is
// denied with 403 (it may only receive calls); a caller with may_dial_any off is denied
// with 403; then the first enabled rule by Position (ties by ID) whose Who and Dest match
// decides; no rule is 403.
//
// Decisions:
//   - No spoofing, twice: NewTable refuses a rule whose CLIP number is not a project number,
//     and Route denies (403, with the reason) a call whose rule presents the caller's default
//     CLIP when the caller has none or the project does not own it. Every presented or
//     asserted number is a project number; the fuzz test checks it for any input.
//   - Prefixes and patterns are tried on three forms of the destination (as dialled, the
//     national form, E.164 digits), so a rule written the way the admin dials ("0700",
//     "00", "_0[5-8]XXXXXXXX") catches the number however the user dialled it; a prefix or
//     pattern starting with '+' is tried on the E.164 form only.
//   - Patterns use the Asterisk syntax PBX admins know (X Z N [] . ! and '-' ignored),
//     matched by our own bit-parallel NFA: linear time, no allocation, no backtracking
//     blow-up; checked against a regexp oracle by a fuzz test.
//   - Strip and prepend mean the admin spells the digits for the trunk: a rewritten number
//     goes to every trunk as it is (Decision.Rewritten); otherwise the trunk's number format
//     (e164, national, as_dialled) applies. A rewrite that is not a number denies with 484.
//   - Withheld CLIP (CLIR) still names a number to assert (Decision.Asserted: the rule's
//     number or the caller's default, if owned) for P-Asserted-Identity with Privacy: id,
//     which most trunks need even when the caller is hidden.
//   - Emergency calls are never denied by a rule and never rewritten: the first matching
//     allow rule lends its trunks, failover codes and CLIP (deny rules are skipped), else
//     Options.EmergencyTrunks (or DefaultTrunks) carry them. A CLIP that cannot be
//     presented falls back to Options.EmergencyCLIP, else the call goes withheld. Only when
//     no trunk at all is configured is an emergency call answered 503, saying so.
//   - Failover never happens on the callee's own answers (404, 480, 486, 487) nor on 6xx
//     (RFC 3261 21.6: no other location may be tried); NewTable refuses them. Deny codes
//     are 400-699 except 401 and 407 (challenges belong to the pbx's digest auth).
//   - Empty values get documented defaults rather than errors where the intent is clear:
//     deny code 403, CLIP mode user_default, who kind any, failover codes 408 500 502 503
//     504, an allow rule's trunks Options.DefaultTrunks. Table.Rules shows them filled in.
//   - Departments match case-insensitively, SIP account names exactly (as digest does).
//   - A Decision's JSON writes rule_id null when no rule decided and clip null when
//     nothing is presented; trunks is always an array; sip_code only on deny.
//   - Route scans a compact copy of the matching fields; with 200 rules a decision costs a
//     few microseconds (BenchmarkRoute), so no index is kept. Decisions own their slices.
//
// Inbound schemes (inbound.go, graph.go, walk.go, schedule.go, menu.go, simulate.go): the
// API builds a Graph with NewGraph from the project numbers, IVRs, ring groups, schedules,
// the active extensions, the existing queues with their overflow destinations (QueueExits:
// checked like any destination, errors naming "queue N"; a queue is an exit of the way-out
// analysis, since its agents may answer) and a prompt lookup, before every write, and
// refuses the write with the GraphValidationError (object, field, message for every
// problem); otherwise it swaps the graph into a GraphHolder. For each call to a project
// number the pbx calls Graph.Start and loops on Walk.Next: it plays the menu, rings the
// group, dials the number or answers the code the Node asks for, and reports back (Input,
// Done, NoAnswer, Answered); the Walk's Path goes to the CDR. POST /api/v1/inbound/simulate
// runs Graph.Simulate, the same walk with given key presses, answering path, destination
// and prompts.
//
// Decisions for inbound schemes:
//   - No dead ends: NewGraph refuses a destination cycle without a way out ("no way out:
//     ivr 3 -> schedule 1 -> ivr 3"). An IVR has a way out when any of its choices or
//     branches does (the caller chooses), a schedule only when all its branches do (the
//     clock chooses). Cycles with a way out (a "repeat menu" option, two menus that link
//     each other and an operator) are valid; a walk is cut with 480 after MaxHops
//     destinations (default 20), so no call loops forever.
//   - Schedules read wall-clock time in their own zone (the zone database is embedded, so
//     the API and the engine agree on every zone whatever the host). Order: caller rules,
//     the date's exception, holidays, weekly hours.
//   - Menus end input early (Node.Complete) when nothing longer can match, so callers do
//     not wait for the inter-digit timeout after "1"; with dial-by-extension a choice that
//     starts extensions waits. A choice beats an extension of the same digits.
//   - Back returns to the menu the caller came from (a stack of menus in the walk, cut
//     back when a menu is entered again, so loops do not grow it); with none, to the same
//     menu. A menu's greeting plays on its first entry in a call only.
//   - The Walk is a state machine that never panics: a report that does not fit the node
//     is ignored, Next repeats the node until its report. Hops record what was played,
//     pressed and chosen, one hop per menu visit and retry.
package routing
