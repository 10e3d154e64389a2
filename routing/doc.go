// Package routing will hold Centrala's pure routing logic: inbound schemes (number to
// destination graph, schedules, caller-ID rules), outbound and CLIP rules, number
// normalisation, and the explain and simulate calls. It imports no SIP, storage or network
// code; the call engine (pbx) asks it for a routing.Decision for each call. It is empty until
// calls arrive (the calls issue).
package routing
