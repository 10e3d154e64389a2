// Package pbxtest holds test helpers: real peers started by tests. For now that is
// redis-server (StartRedis); SIPp and the engine on loopback come later.
package pbxtest
