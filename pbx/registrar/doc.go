// Package registrar is Centrala's SIP registrar (RFC 3261 section 10): it authenticates
// REGISTER requests with digest (pbx/digest), applies them to the location service (Store:
// in-process MemoryStore, or redisstore.Store shared by several processes) and publishes
// binding changes as events. It sits at the start of the call flow: the pbx engine hands it
// every REGISTER, and later looks up the bindings to reach a phone.
package registrar
