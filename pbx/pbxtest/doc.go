// Package pbxtest holds test helpers with real peers, started by the tests and stopped by
// their PID: redis-server (StartRedis), SIPp (RunSIPp, StartSIPp), baresip (StartBaresip),
// a registrar and engine on loopback (StartEngine), and a minimal SIP user agent that writes
// requests as text and computes digest answers independently (Dial).
package pbxtest
