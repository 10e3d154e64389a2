// Package queue will hold Centrala's ACD: queues, strategies, the agent state machine and
// offers, as pure logic with its state in queue/memstore (in-process) or queue/redisstore
// (shared by several nodes, atomic claims with leases). The call engine enqueues callers and
// rings the agents it is given. It is empty until the queues issue.
package queue
