package routing

import "strconv"

// Project numbers of the test project.
const (
	numMain    = "+48221000000"
	numSales   = "+48221000001"
	numSupport = "+48221000002"
	numUK      = "+442070000000"
	numDE      = "+4930000000"
	numAnn     = "+48221000010"
	numBob     = "+48221000011"
)

func testOptions() Options {
	return Options{
		Numbering: plan48,
		// Mixed forms on purpose: the table reads them as E.164.
		ProjectNumbers:  []string{numMain, "0221000001", "0048221000002", numUK, numDE, numAnn, numBob},
		Emergency:       []string{"112", "999", "911"},
		EmergencyTrunks: []int64{9},
	}
}

// Callers of the test project.
var (
	ann = Caller{Account: "ann-desk", UserID: 10, Department: "Sales", DefaultCLIP: numAnn, MayDialAny: true}
	// bob's default CLIP is stored in national form.
	bob   = Caller{Account: "bob-soft", UserID: 11, Department: "Support", DefaultCLIP: "0221000011", MayDialAny: true}
	carol = Caller{Account: "carol-desk", UserID: 12, Department: "Support", MayDialAny: true}
	// dave's default CLIP is a number the project does not own.
	dave = Caller{Account: "dave-desk", UserID: 13, Department: "Sales", DefaultCLIP: "+48999999999", MayDialAny: true}
	// eve's account is a lobby phone that may only receive calls.
	eve   = Caller{Account: "eve-lobby", UserID: 14, DefaultCLIP: numMain, MayDialAny: true, OutboundBlocked: true}
	frank = Caller{Account: "frank-desk", UserID: 15, Department: "Support", DefaultCLIP: numMain}
)

var (
	anyone   = Who{Kind: WhoAny}
	anywhere = Dest{}
)

func allowRule(id int64, pos int, who Who, dest Dest, clip CLIP, trunks ...int64) Rule {
	return Rule{ID: id, Name: "allow " + strconv.FormatInt(id, 10), Position: pos, Enabled: true, Who: who, Dest: dest,
		Action: Action{Kind: Allow, CLIP: clip, Trunks: trunks}}
}

func denyRule(id int64, pos int, who Who, dest Dest, code int, reason string) Rule {
	return Rule{ID: id, Name: "deny " + strconv.FormatInt(id, 10), Position: pos, Enabled: true, Who: who, Dest: dest,
		Action: Action{Kind: Deny, SIPCode: code, Reason: reason}}
}

func number(n string) CLIP { return CLIP{Mode: CLIPNumber, Number: n} }

var (
	userDefault = CLIP{Mode: CLIPUserDefault}
	withheld    = CLIP{Mode: CLIPWithheld}
)

// allowed is the decision of allow rule id presenting clip ("" = withheld, nothing
// asserted) through trunks with the default failover codes.
func allowed(id int64, dialled, e164, clip string, trunks ...int64) Decision {
	d := Decision{Action: Allow, RuleID: id, Dialled: dialled, E164: e164, Trunks: trunks,
		FailoverCodes: DefaultFailoverCodes(), Asserted: clip}
	if clip == "" {
		d.Withheld = true
	} else {
		d.CLIP = &clip
	}
	return d
}

func denied(id int64, code int, dialled, e164 string) Decision {
	return Decision{Action: Deny, SIPCode: code, RuleID: id, Dialled: dialled, E164: e164}
}
