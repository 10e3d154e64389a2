// Package cdr keeps Centrala's call detail records: one Record per call, with its Legs (the
// SIP dialogs: the caller's, one per device or trunk the call was offered to), and exports
// them as CSV.
//
// Where it sits: the call engine (pbx) owns a Recorder and calls it synchronously at each
// step of a call: Start when the INVITE is accepted for routing, Leg for each dialog opened
// or changed, Answer on the first 200, End when the call is over. The Recorder writes
// through the Store interface declared here (implemented by *store.DB in api/store; cdr
// imports no SQL and no SIP), publishes call.started, call.answered and call.ended on the
// pbx/event bus for the API stream and webhooks, and counts the calls in Prometheus. The
// admin API (api) reads the records from the same store: list with filters, one by id, CSV.
//
// Nothing is lost: a record is written when the call starts and completed when it ends, not
// built from the lossy event bus. Recover, called once at process start, closes what a crash
// left open; Shutdown, called on a graceful stop after the engine has hung up what it could,
// closes the rest. Both close a record as Failed, hung up by BySystem, with the SIP reason
// ReasonStopped ("server stopped") and the end time they are given.
//
// Decisions:
//   - Durations are whole seconds rounded half up, computed by the store from the stored
//     millisecond times, so they always agree with the times shown: DurationS from start to
//     end, BillsecS from answer to end (0 if never answered), never negative.
//   - While a call is live, Disposition and HangupBy are zero and marshal as JSON null (not
//     ""), so every non-null value is one of the contract's; SIPCode is 0 and the durations
//     are 0. EndedAt nil is what marks a live record.
//   - SIPCode is the final response to the caller's INVITE: 200 for an answered call. A
//     record closed by Recover or Shutdown gets 200 if it was answered, else 0 (none sent).
//   - The first answer counts; Answer and End on an ended record are ErrEnded and change
//     nothing, so an End racing Shutdown is recorded exactly once. End also ends the legs
//     still open; a Leg update after End is still written (teardown order does not matter).
//   - Store writes do not inherit the caller's cancellation (the hangup being recorded often
//     cancels the call's context); each has its own 10-second timeout.
//   - A Leg carries the user or trunk it reached, so the user filter of the listing also
//     finds the calls that rang a user's devices, not only those whose UserID is theirs.
//   - Records carry the name of the node that carried them (WithNode); Recover closes only
//     the node's own, so nodes sharing a database do not close each other's live calls.
//     Shutdown closes only the calls this Recorder started.
//   - A record closed by Recover ends at the restart, so its durations include the downtime:
//     when a crashed call really ended is not known (a periodic heartbeat could bound it).
//   - No Config struct: the only knob, the node name, comes from cmd through WithNode.
//   - Queue stays (Record.Queues) keep exits and outcomes as strings; End checks them
//     against queue.Exits and queue.Outcomes (package queue is pure logic that imports only
//     routing, so the lists are not copied here).
//   - CSV cells that a spreadsheet would run as a formula get a leading apostrophe; phone
//     numbers such as +48221234567 do not (see WriteCSV).
package cdr
