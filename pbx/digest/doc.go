// Package digest implements server-side SIP digest authentication (RFC 3261 section 22,
// RFC 2617 qop=auth, RFC 7616/RFC 8760 for SHA-256): challenges for both algorithms, stateless
// signed nonces that expire (stale=true), nonce-count replay protection, and a per-source ban
// after repeated failures (Guard). The registrar uses it for REGISTER (401) and the call engine
// for INVITE (407). Secrets never reach this package: only HA1 hashes do.
package digest
