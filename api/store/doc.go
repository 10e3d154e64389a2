// Package store keeps Centrala's configuration data in SQL: users, their SIP accounts and
// their API tokens, trunks, numbers, outbound rules, the objects of inbound schemes (IVRs,
// ring groups and schedules as JSON documents of the routing types; prompts' descriptions,
// whose audio the API keeps as files), call queues (queue.Queue with its members, a JSON
// document like the inbound objects) and call detail records. The admin API edits it and
// the SIP registrar reads it on every REGISTER (DB.AuthAccount, one indexed query on a
// prepared statement).
//
// SQLite is the default (modernc.org/sqlite, pure Go): one file, centrala.db, in the data
// directory, in WAL mode with a busy timeout and foreign keys on. Writes go through a single
// connection, so writers in this process queue in Go instead of failing with SQLITE_BUSY;
// reads use a separate read-only pool and run alongside them. The schema is created by the
// embedded goose migrations in migrations/, applied by Open. They are written in portable SQL
// (partial unique indexes, CHECK constraints, times as UTC milliseconds) so that PostgreSQL
// can follow later with the same migration sequence.
//
// Errors: a missing row is ErrNotFound, a unique collision a *ConflictError naming the field
// (login, extension, agent_number, username, number, or name for trunks, IVRs, ring groups,
// schedules, queues and prompts). Both are matched with errors.Is/As.
// Validation proper is the API's job; the schema's CHECK constraints are only a backstop.
package store
