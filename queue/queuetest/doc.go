// Package queuetest holds the contract suite every queue.Store must pass (queue/memstore,
// queue/redisstore). It is an ordinary package so that the tests of each store can call Run.
package queuetest
