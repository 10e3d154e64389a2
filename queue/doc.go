// Package queue is Centrala's ACD as pure logic: queue configuration, the agent state
// machine, the strategies that choose whom to offer a caller to, the order of waiting
// callers with the admission and overflow decisions, and queue and agent statistics. It
// imports no SIP, storage or network code (only routing, for destinations), starts no
// goroutines and reads no clock: every function takes the time it needs.
//
// Where it sits: the admin API (api) validates a Queue (Defaults, Validate, then checks its
// Overflows exist in the inbound graph) and keeps it in SQL; /api/v1/queues/{id}/members
// edits Queue.Members. The agent state of each user lives in a store (queue/memstore in
// process, queue/redisstore shared by several nodes) that applies the transitions of Agent
// atomically (Store, in store.go): the store reads the Agent, calls the pure transition and
// writes the result only if the record's version is unchanged (in Redis a Lua script does
// that compare-and-set, and for a claim the busy check with it), and the contract suite
// (queue/queuetest) holds both stores to this package's answers. GET and PUT /api/v1/agents/{user_id}/state read an Agent and call
// Agent.Request; feature codes (*45 login, *46 logout, *47 pause, *48 resume) call the same.
//
// When an inbound walk reaches a queue node, the call engine (pbx) asks Queue.Admit with the
// queue's Census; admitted, the caller waits as a Caller (music on hold from Queue.Music,
// announcements at NextAnnouncement with Position and Census.ExpectedWait) until a
// dispatcher offers it: for the head caller (Head, ordered by Compare across queues) it
// lists Queue.Candidates, orders them with Queue.Pick, claims an agent with Agent.Offer (a
// lease of Queue.Lease, renewed with Agent.Renew while the call rings and is connected),
// rings the agent's devices for Queue.Ring, and reports OfferAnswered, OfferMissed (limit
// Queue.MissedLimit), OfferFailed, then CallEnded with Queue.WrapUp of the agent. Between
// attempts nobody answered it waits Queue.RetryDelay. Queue.Leave sends a waiting caller to
// on_max_wait or on_empty. The CDR keeps CallRecords and OfferRecords, and the store logs a
// StateSpan per change (Span); QueueReport and AgentReport aggregate them for the
// statistics API and metrics.
//
// Decisions (where the issue was silent):
//   - One Agent per user, shared by all their queues: logging in logs in to every queue the
//     user is a member of; membership (and its penalty) is per queue. "Empty" means no member
//     logged in (not_ready agents count as logged in: they may come back).
//   - A change asked for while an agent handles a queue call (offered, on_call,
//     after_call_work) is kept pending and applies when that work ends, whoever asks: the
//     agent's logout or pause, and the supervisor's ForceLogout and ForceNotReady too (a
//     call is never cut by a state change; a supervisor who must end it barges or hangs up).
//     The latest ask wins; asking for available cancels it. Wrap-up is still done before a
//     pending change applies, so after-call work is counted as such. An offer that ends
//     unanswered goes to the pending change first, before the missed-offers rule.
//   - Resume during after_call_work ends wrap-up early (the "ready" button): the one ask that
//     applies at once during a call's work.
//   - Timers are not trusted to fire: wrap-up ends at WrapUpUntil and an offer whose lease
//     ran out is free, whenever someone next looks (Settle, called by Routable, Offer and
//     the requests). Each applies at its due time, so time in state is exact even when a node
//     noticed late or died. Leases cover the whole call (offered and on_call): a node that
//     dies with a connected call frees its agent at the lease end, without wrap-up, the talk
//     time counted to that end. Call events for an offer that is no longer the agent's
//     (another node claimed the agent after the lease ran out) are ErrStaleOffer.
//   - Missed offers are the agent's misses only: no answer within the ring time, or declined
//     from the device (no_answer, rejected). A caller who hangs up, another agent answering a
//     ring_all, or an unreachable device (cancelled, failed) do not count. The streak resets
//     on answer, login and resume; reaching the queue's not_ready_after_missed (default 3,
//     0 off) makes the agent not_ready with reason missed_offers, by the system.
//   - Counters are per login session: Times (time in each state), Answered and Talk reset at
//     login and stay readable after logout; fewest_calls and least_talk_time compare agents
//     since their login. Per-day figures come from the statistics, which read the span log.
//     Time logged out is not counted. Durations are whole milliseconds (Millis, *_ms in
//     JSON), so the JSON a store keeps reads back exactly.
//   - Times passed in that are before the agent's Since (nodes' clocks disagree) are taken
//     as Since: no span is negative and Since never goes back.
//   - not_ready reasons come from a catalogue of short names (Reasons, validated); an empty
//     reason is always allowed (the pause code without digits); missed_offers is reserved.
//   - Strategies: penalties are strict tiers (every routable member of the lowest penalty
//     before any of the next). Pick returns groups rung at once: ring_all one group per tier,
//     the others one candidate per group; the dispatcher rings the first group and moves on
//     to the next when a claim fails. longest_idle goes by the later of the last call's end
//     and the login (a fresh login has not waited longer than an agent who finished a call
//     earlier), then by available since. fewest_calls and least_talk_time break ties by
//     longest idle; every remaining tie goes by member order. round_robin continues after the
//     member offered last (a user id the store keeps per queue), or from the first member.
//   - Waiting callers are ordered by priority (higher first, 0 to 100), then join time to
//     the millisecond, then call id; Score turns that into one Redis sorted-set score whose
//     ties Redis breaks by call id, so both stores order alike. A raised priority keeps the
//     original join time.
//   - leave_when_empty also refuses a caller joining an empty queue (it would have to leave
//     at once). With both full and empty, empty wins.
//   - Expected wait = (position - routable agents) x average handle time / serving agents,
//     0 when an agent is free for the caller, unknown without serving agents or handle time.
//   - Service level = answered within the threshold / (answered + callers who left
//     unanswered after more than the threshold): short abandons (and callers refused on
//     joining) count on neither side; timeouts and evictions past the threshold count against.
//   - Validate checks an overflow destination's form (as routing does) but not that its
//     target exists, and refuses a queue overflowing to itself; the API checks the targets
//     against the inbound graph. Overflow destinations are required when their feature is on.
package queue
