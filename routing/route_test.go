package routing

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoute(t *testing.T) {
	catchAll := allowRule(99, 99, anyone, anywhere, userDefault, 1)
	tests := []struct {
		name    string
		rules   []Rule
		opts    func(*Options) // changes to testOptions
		caller  Caller
		dialled string
		want    Decision
		reason  string // must be in want.Reason
	}{
		// Systell, Thulium: each user presents their own default CLIP.
		{name: "each user's default CLIP: ann", rules: []Rule{catchAll}, caller: ann, dialled: "0221234567",
			want:   allowed(99, "0221234567", "+48221234567", numAnn, 1),
			reason: `rule 99 "allow 99" matched: any caller; any destination`},
		{name: "each user's default CLIP: bob's stored nationally", rules: []Rule{catchAll}, caller: bob, dialled: "+48 22 123 45 67",
			want: allowed(99, "+48221234567", "+48221234567", numBob, 1)},
		{name: "user default CLIP stored as E.164 digits without +", rules: []Rule{catchAll},
			caller: Caller{Account: "x", UserID: 20, DefaultCLIP: "48221000010", MayDialAny: true}, dialled: "0221234567",
			want: allowed(99, "0221234567", "+48221234567", numAnn, 1)},
		{name: "user default CLIP that is not a number: denied", rules: []Rule{catchAll},
			caller: Caller{Account: "x", UserID: 20, DefaultCLIP: "ext 201", MayDialAny: true}, dialled: "0221234567",
			want:   denied(99, 403, "0221234567", "+48221234567"),
			reason: `the default CLIP of SIP account x (user 20) is not a number: invalid number "ext 201": unexpected character 'e'`},
		{name: "user default CLIP missing: denied", rules: []Rule{catchAll}, caller: carol, dialled: "0221234567",
			want:   denied(99, 403, "0221234567", "+48221234567"),
			reason: "but SIP account carol-desk (user 12) has no default CLIP, and only numbers the project owns are presented"},
		{name: "user default CLIP not a project number: denied, no spoofing", rules: []Rule{catchAll}, caller: dave, dialled: "0221234567",
			want:   denied(99, 403, "0221234567", "+48221234567"),
			reason: "the default CLIP +48999999999 of SIP account dave-desk (user 13) is not a project number"},

		// Ringostat: one outbound number per SIP account, per employee, per department.
		{name: "one number per SIP account: the account's", caller: ann, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, Who{Kind: WhoAccount, Value: "ann-desk"}, anywhere, number(numSales), 1),
				allowRule(2, 2, anyone, anywhere, number(numMain), 1)},
			want:   allowed(1, "0221234567", "+48221234567", numSales, 1),
			reason: "SIP account is ann-desk"},
		{name: "one number per SIP account: another account gets the main number", caller: bob, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, Who{Kind: WhoAccount, Value: "ann-desk"}, anywhere, number(numSales), 1),
				allowRule(2, 2, anyone, anywhere, number(numMain), 1)},
			want: allowed(2, "0221234567", "+48221234567", numMain, 1)},
		{name: "one number per employee", caller: bob, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, Who{Kind: WhoUser, Value: "10"}, anywhere, number(numAnn), 1),
				allowRule(2, 2, Who{Kind: WhoUser, Value: "11"}, anywhere, number(numSupport), 1)},
			want:   allowed(2, "0221234567", "+48221234567", numSupport, 1),
			reason: "caller is user 11"},
		{name: "one number per department (case-insensitive)", caller: carol, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, Who{Kind: WhoDepartment, Value: "sales"}, anywhere, number(numSales), 1),
				allowRule(2, 2, Who{Kind: WhoDepartment, Value: "SUPPORT"}, anywhere, number(numSupport), 1)},
			want:   allowed(2, "0221234567", "+48221234567", numSupport, 1),
			reason: "department is SUPPORT"},

		// Ringostat combined rules: the number depends on where the call goes.
		{name: "number by destination country: UK number for calls to +44", caller: ann, dialled: "00442071234567",
			rules: ukPlRules(),
			want:  allowed(1, "00442071234567", "+442071234567", numUK, 2, 1), reason: "+442071234567 is in country code 44"},
		{name: "number by destination country: Polish number for calls to +48", caller: ann, dialled: "0221234567",
			rules: ukPlRules(),
			want:  allowed(2, "0221234567", "+48221234567", numMain, 1)},
		{name: "number by destination country: Germany by + prefix", caller: ann, dialled: "+49301234567",
			rules: ukPlRules(),
			want:  allowed(3, "+49301234567", "+49301234567", numDE, 1), reason: "+49301234567 starts with +49"},
		{name: "number by destination country: elsewhere the user's own", caller: ann, dialled: "+33123456789",
			rules: ukPlRules(),
			want:  allowed(4, "+33123456789", "+33123456789", numAnn, 1)},
		{name: "number by destination prefix: Warsaw number for Warsaw", caller: ann, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, anyone, Dest{Prefixes: []string{"4822"}}, number(numMain), 1), catchAll},
			want:  allowed(1, "0221234567", "+48221234567", numMain, 1), reason: "48221234567 starts with 4822"},
		{name: "number by department and country combined", caller: dave, dialled: "+442071234567",
			rules: []Rule{
				allowRule(1, 1, Who{Kind: WhoDepartment, Value: "Sales"}, Dest{CountryCodes: []string{"+44"}}, number(numUK), 2),
				allowRule(2, 2, Who{Kind: WhoDepartment, Value: "Sales"}, anywhere, number(numSales), 1)},
			want: allowed(1, "+442071234567", "+442071234567", numUK, 2)},

		// Blocked accounts and may_dial_any.
		{name: "blocked SIP account may only receive calls", rules: []Rule{catchAll}, caller: eve, dialled: "0221234567",
			want:   denied(0, 403, "0221234567", "+48221234567"),
			reason: "outbound calls are blocked for SIP account eve-lobby"},
		{name: "may_dial_any off keeps an agent to internal numbers", rules: []Rule{catchAll}, caller: frank, dialled: "0221234567",
			want:   denied(0, 403, "0221234567", "+48221234567"),
			reason: "SIP account frank-desk (user 15) may dial internal numbers only (may_dial_any is off)"},

		// CLIR.
		{name: "withheld CLIP (CLIR) asserts the user's default", rules: []Rule{allowRule(1, 1, anyone, anywhere, withheld, 1)},
			caller: ann, dialled: "0221234567",
			want: func() Decision { d := allowed(1, "0221234567", "+48221234567", "", 1); d.Asserted = numAnn; return d }()},
		{name: "withheld CLIP asserts the rule's number", rules: []Rule{allowRule(1, 1, anyone, anywhere, CLIP{Mode: CLIPWithheld, Number: numMain}, 1)},
			caller: carol, dialled: "0221234567",
			want: func() Decision { d := allowed(1, "0221234567", "+48221234567", "", 1); d.Asserted = numMain; return d }()},
		{name: "withheld CLIP without any number to assert is still allowed", rules: []Rule{allowRule(1, 1, anyone, anywhere, withheld, 1)},
			caller: carol, dialled: "0221234567",
			want: allowed(1, "0221234567", "+48221234567", "", 1)},

		// Deny rules with a chosen code.
		{name: "premium-rate 0700 denied with 403", caller: ann, dialled: "0700123456",
			rules: []Rule{denyRule(1, 1, anyone, Dest{Prefixes: []string{"0700"}}, 0, "premium-rate numbers are blocked"), catchAll},
			want:  denied(1, 403, "0700123456", "+48700123456"),
			reason: `rule 1 "deny 1" matched: any caller; 0700123456 starts with 0700; denied with 403: ` +
				"premium-rate numbers are blocked"},
		{name: "premium-rate 0700 denied however dialled", caller: ann, dialled: "+48700123456",
			rules: []Rule{denyRule(1, 1, anyone, Dest{Pattern: "_0700XXXXXX"}, 0, ""), catchAll},
			want:  denied(1, 403, "+48700123456", "+48700123456"), reason: "0700123456 matches pattern _0700XXXXXX"},
		{name: "premium-rate: the same pattern lets other numbers through", caller: ann, dialled: "0701123456",
			rules: []Rule{denyRule(1, 1, anyone, Dest{Pattern: "_0700XXXXXX"}, 0, ""), catchAll},
			want:  allowed(99, "0701123456", "+48701123456", numAnn, 1)},
		{name: "international denied with 603", caller: ann, dialled: "00442071234567",
			rules: []Rule{allowRule(1, 1, anyone, Dest{CountryCodes: []string{"48"}}, userDefault, 1),
				denyRule(2, 2, anyone, anywhere, 603, "international calls are not allowed")},
			want: denied(2, 603, "00442071234567", "+442071234567"), reason: "denied with 603: international calls are not allowed"},
		{name: "international denied with 603: national passes", caller: ann, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, anyone, Dest{CountryCodes: []string{"48"}}, userDefault, 1),
				denyRule(2, 2, anyone, anywhere, 603, "international calls are not allowed")},
			want: allowed(1, "0221234567", "+48221234567", numAnn, 1)},

		{name: "international denied with 603 by prefix 00, however dialled", caller: ann, dialled: "+33 1 23 45 67 89",
			rules: []Rule{denyRule(1, 1, anyone, Dest{Prefixes: []string{"00"}}, 603, ""), catchAll},
			want:  denied(1, 603, "+33123456789", "+33123456789"), reason: "0033123456789 starts with 00"},

		// Digits toward the trunk.
		{name: "strip 1 digit and prepend 48", caller: ann, dialled: "0221234567",
			rules: []Rule{func() Rule {
				r := allowRule(1, 1, anyone, anywhere, userDefault, 1)
				r.Action.Strip, r.Action.Prepend = 1, "48"
				return r
			}()},
			want: func() Decision {
				d := allowed(1, "48221234567", "+48221234567", numAnn, 1)
				d.Rewritten = true
				return d
			}()},
		{name: "strip everything and prepend: the prepend alone", caller: ann, dialled: "0221234567",
			rules: []Rule{func() Rule {
				r := allowRule(1, 1, anyone, anywhere, userDefault, 1)
				r.Action.Strip, r.Action.Prepend = 20, "19"
				return r
			}()},
			want: func() Decision { d := allowed(1, "19", "+48221234567", numAnn, 1); d.Rewritten = true; return d }()},
		{name: "rewrite that is not a number: 484", caller: ann, dialled: "+48221234567",
			rules: []Rule{func() Rule {
				r := allowRule(1, 1, anyone, anywhere, userDefault, 1)
				r.Action.Prepend = "+48"
				return r
			}()},
			want:   denied(1, 484, "+48221234567", "+48221234567"),
			reason: `strip 0 and prepend "+48" turn +48221234567 into "+48+48221234567", which is not a number`},

		// Failover codes.
		{name: "failover code defaults", caller: ann, dialled: "0221234567", rules: []Rule{allowRule(1, 1, anyone, anywhere, userDefault, 1, 2, 3)},
			want: allowed(1, "0221234567", "+48221234567", numAnn, 1, 2, 3)},
		{name: "failover codes chosen", caller: ann, dialled: "0221234567",
			rules: []Rule{func() Rule {
				r := allowRule(1, 1, anyone, anywhere, userDefault, 1, 2)
				r.Action.FailoverCodes = []int{503, 408}
				return r
			}()},
			want: func() Decision {
				d := allowed(1, "0221234567", "+48221234567", numAnn, 1, 2)
				d.FailoverCodes = []int{503, 408}
				return d
			}()},
		{name: "default trunks for a rule without trunks", caller: ann, dialled: "0221234567",
			rules: []Rule{allowRule(1, 1, anyone, anywhere, userDefault)},
			opts:  func(o *Options) { o.DefaultTrunks = []int64{5, 6} },
			want:  allowed(1, "0221234567", "+48221234567", numAnn, 5, 6)},

		// Emergency numbers.
		{name: "emergency number allowed for a blocked account", caller: eve, dialled: "112",
			want: func() Decision {
				d := allowed(0, "112", "", numMain, 9)
				d.Emergency = true
				return d
			}(),
			reason: "112 is an emergency number: always allowed; no allow rule matches: routed to the emergency trunks"},
		{name: "emergency number allowed with may_dial_any off", caller: frank, dialled: "999", rules: []Rule{catchAll},
			want:   func() Decision { d := allowed(99, "999", "", numMain, 1); d.Emergency = true; return d }(),
			reason: `999 is an emergency number: always allowed; routed by rule 99 "allow 99"`},
		{name: "emergency: deny rules are skipped, the first allow rule carries it", caller: eve, dialled: "112",
			rules: []Rule{denyRule(1, 1, anyone, anywhere, 603, ""), allowRule(2, 2, anyone, anywhere, number(numSupport), 3, 4)},
			want:  func() Decision { d := allowed(2, "112", "", numSupport, 3, 4); d.Emergency = true; return d }()},
		{name: "emergency: digits are never rewritten", caller: ann, dialled: "112",
			rules: []Rule{func() Rule {
				r := allowRule(1, 1, anyone, anywhere, userDefault, 1)
				r.Action.Strip, r.Action.Prepend = 1, "48"
				return r
			}()},
			want: func() Decision { d := allowed(1, "112", "", numAnn, 1); d.Emergency = true; return d }()},
		{name: "emergency: no owned CLIP presents the emergency CLIP", caller: dave, dialled: "112",
			opts: func(o *Options) { o.EmergencyCLIP = "0221000000" },
			want: func() Decision { d := allowed(0, "112", "", numMain, 9); d.Emergency = true; return d }()},
		{name: "emergency: no owned CLIP and no emergency CLIP withholds, still allowed", caller: carol, dialled: "112",
			rules:  []Rule{catchAll},
			want:   func() Decision { d := allowed(99, "112", "", "", 1); d.Emergency = true; return d }(),
			reason: "no number presented: SIP account carol-desk (user 12) has no default CLIP"},
		{name: "emergency: a withheld rule stays withheld", caller: eve, dialled: "112",
			rules: []Rule{allowRule(1, 1, anyone, anywhere, withheld, 1)},
			want: func() Decision {
				d := allowed(1, "112", "", "", 1)
				d.Emergency, d.Asserted = true, numMain
				return d
			}()},
		{name: "emergency: rule's user default missing presents the emergency CLIP", caller: carol, dialled: "112",
			rules: []Rule{catchAll}, opts: func(o *Options) { o.EmergencyCLIP = numSupport },
			want: func() Decision { d := allowed(99, "112", "", numSupport, 1); d.Emergency = true; return d }()},
		{name: "emergency: default trunks when no emergency trunks", caller: ann, dialled: "911",
			opts: func(o *Options) { o.EmergencyTrunks, o.DefaultTrunks = nil, []int64{7} },
			want: func() Decision { d := allowed(0, "911", "", numAnn, 7); d.Emergency = true; return d }()},
		{name: "emergency: nowhere to send it is 503", caller: ann, dialled: "112",
			opts:   func(o *Options) { o.EmergencyTrunks = nil },
			want:   Decision{Action: Deny, SIPCode: 503, Dialled: "112", Emergency: true},
			reason: "no emergency or default trunks are set"},
		{name: "emergency number given in E.164", caller: eve, dialled: "0048112",
			opts: func(o *Options) { o.Emergency = []string{"+48112"} },
			want: func() Decision { d := allowed(0, "0048112", "+48112", numMain, 9); d.Emergency = true; return d }()},
		{name: "not an emergency number: 1120", caller: eve, dialled: "1120",
			want: denied(0, 403, "1120", "")},

		// Order and matching.
		{name: "no rule matches", caller: ann, dialled: "0221234567",
			rules:  []Rule{allowRule(1, 1, Who{Kind: WhoAccount, Value: "bob-soft"}, anywhere, userDefault, 1)},
			want:   denied(0, 403, "0221234567", "+48221234567"),
			reason: "no outbound rule matches 0221234567 (+48221234567) for SIP account ann-desk (user 10)"},
		{name: "no rules at all", caller: ann, dialled: "0221234567",
			want: denied(0, 403, "0221234567", "+48221234567")},
		{name: "disabled rules are skipped", caller: ann, dialled: "0221234567",
			rules: []Rule{func() Rule { r := denyRule(1, 1, anyone, anywhere, 0, ""); r.Enabled = false; return r }(), catchAll},
			want:  allowed(99, "0221234567", "+48221234567", numAnn, 1)},
		{name: "position decides, not the order given", caller: ann, dialled: "0221234567",
			rules: []Rule{catchAll, denyRule(5, 1, anyone, anywhere, 0, "")},
			want:  denied(5, 403, "0221234567", "+48221234567")},
		{name: "equal positions: lower id first", caller: ann, dialled: "0221234567",
			rules: []Rule{denyRule(8, 1, anyone, anywhere, 480, ""), denyRule(7, 1, anyone, anywhere, 404, "")},
			want:  denied(7, 404, "0221234567", "+48221234567")},
		{name: "pattern with + tries the E.164 form however dialled", caller: ann, dialled: "0044 20 7123 4567",
			rules: []Rule{allowRule(1, 1, anyone, Dest{Pattern: "_+44."}, number(numUK), 2), catchAll},
			want:  allowed(1, "00442071234567", "+442071234567", numUK, 2), reason: "+442071234567 matches pattern _+44."},
		{name: "pattern with + never matches a short number", caller: ann, dialled: "4412",
			rules: []Rule{allowRule(1, 1, anyone, Dest{Pattern: "_+44."}, number(numUK), 2), catchAll},
			want:  allowed(99, "4412", "", numAnn, 1)},
		{name: "length range: mobile-length numbers", caller: ann, dialled: "600123456",
			rules:  []Rule{allowRule(1, 1, anyone, Dest{MinLength: 11, MaxLength: 11, Pattern: "_4[5-8]!"}, number(numSales), 1), catchAll},
			want:   allowed(1, "600123456", "+48600123456", numSales, 1),
			reason: "length 11 of 600123456 (+48600123456) is within 11 to 11; 48600123456 matches pattern _4[5-8]!"},
		{name: "length range: short service numbers", caller: ann, dialled: "9333",
			rules: []Rule{denyRule(1, 1, anyone, Dest{MaxLength: 4}, 404, "short numbers are not routed"), catchAll},
			want:  denied(1, 404, "9333", "")},
		{name: "country codes never match short numbers", caller: ann, dialled: "4412",
			rules: []Rule{denyRule(1, 1, anyone, Dest{CountryCodes: []string{"44"}}, 0, ""), catchAll},
			want:  allowed(99, "4412", "", numAnn, 1)},
		{name: "star codes reach the rules", caller: ann, dialled: "*31#0221234567",
			rules: []Rule{denyRule(1, 1, anyone, Dest{Prefixes: []string{"*31#"}}, 0, "no CLIR codes"), catchAll},
			want:  denied(1, 403, "*31#0221234567", "")},
		{name: "garbage is 484", caller: ann, dialled: "0221234567;ext=1", rules: []Rule{catchAll},
			want:   Decision{Action: Deny, SIPCode: 484, Dialled: "0221234567;ext=1"},
			reason: `invalid number "0221234567;ext=1": unexpected character ';'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			tab, err := NewTable(tc.rules, o)
			require.NoError(t, err)
			got := tab.Route(tc.caller, tc.dialled)
			require.Contains(t, got.Reason, tc.reason)
			require.NotEmpty(t, got.Reason)
			got.Reason = ""
			require.Equal(t, tc.want, got)

			ex := tab.Explain(tc.caller, tc.dialled)
			got.Reason = ex.Reason
			require.Equal(t, got, ex.Decision, "Explain decides as Route does")
		})
	}
}

// ukPlRules: Ringostat's combined rule list.
func ukPlRules() []Rule {
	return []Rule{
		allowRule(1, 10, anyone, Dest{CountryCodes: []string{"44"}}, number(numUK), 2, 1),
		allowRule(2, 20, anyone, Dest{CountryCodes: []string{"48"}}, number(numMain), 1),
		allowRule(3, 30, anyone, Dest{Prefixes: []string{"+49"}}, number(numDE), 1),
		allowRule(4, 40, anyone, anywhere, userDefault, 1),
	}
}

func TestRouteNilTable(t *testing.T) {
	var tab *Table
	d := tab.Route(ann, "112")
	require.Equal(t, Deny, d.Action)
	require.Equal(t, 503, d.SIPCode)
	require.Equal(t, "no outbound rules are loaded", d.Reason)
	require.Equal(t, 503, tab.Explain(ann, "112").SIPCode)
}

func TestExplainTrace(t *testing.T) {
	rules := []Rule{
		allowRule(1, 1, Who{Kind: WhoAccount, Value: "bob-soft"}, anywhere, userDefault, 1),
		func() Rule { r := denyRule(2, 2, anyone, anywhere, 0, ""); r.Enabled = false; return r }(),
		allowRule(3, 3, Who{Kind: WhoUser, Value: "11"}, anywhere, userDefault, 1),
		allowRule(4, 4, Who{Kind: WhoDepartment, Value: "Support"}, anywhere, userDefault, 1),
		allowRule(5, 5, anyone, Dest{CountryCodes: []string{"44", "49"}}, number(numUK), 1),
		allowRule(6, 6, anyone, Dest{MinLength: 12}, userDefault, 1),
		allowRule(7, 7, anyone, Dest{Prefixes: []string{"0700", "+4870"}}, userDefault, 1),
		allowRule(8, 8, anyone, Dest{Pattern: "_0[5-8]XXXXXXXX"}, userDefault, 1),
		allowRule(9, 9, Who{Kind: WhoDepartment, Value: "sales"}, Dest{Prefixes: []string{"022"}, Pattern: "_X."}, number(numSales), 1),
		allowRule(10, 10, anyone, anywhere, userDefault, 1),
	}
	tab, err := NewTable(rules, testOptions())
	require.NoError(t, err)
	ex := tab.Explain(ann, "0221234567")
	require.Equal(t, []Step{
		{RuleID: 1, Name: "allow 1", Why: `SIP account is "ann-desk", not "bob-soft"`},
		{RuleID: 2, Name: "deny 2", Why: "rule is disabled"},
		{RuleID: 3, Name: "allow 3", Why: "caller is user 10, not 11"},
		{RuleID: 4, Name: "allow 4", Why: `department is "Sales", not "Support"`},
		{RuleID: 5, Name: "allow 5", Why: "+48221234567 is not in country code 44 or 49"},
		{RuleID: 6, Name: "allow 6", Why: "length 11 of 0221234567 (+48221234567) is not within at least 12"},
		{RuleID: 7, Name: "allow 7", Why: "0221234567 (+48221234567) does not start with 0700, +4870"},
		{RuleID: 8, Name: "allow 8", Why: "0221234567 (+48221234567) does not match pattern _0[5-8]XXXXXXXX"},
		{RuleID: 9, Name: "allow 9", Matched: true, Why: "department is sales; 0221234567 starts with 022; 0221234567 matches pattern _X."},
	}, ex.Trace)
	require.Equal(t, `rule 9 "allow 9" matched: department is sales; 0221234567 starts with 022; 0221234567 matches pattern _X.`, ex.Reason)
	require.Equal(t, allowed(9, "0221234567", "+48221234567", numSales, 1), func() Decision { d := ex.Decision; d.Reason = ""; return d }())

	// Emergency: a matching deny rule shows as skipped.
	tab, err = NewTable([]Rule{denyRule(1, 1, anyone, anywhere, 0, ""), allowRule(2, 2, anyone, anywhere, userDefault, 1)}, testOptions())
	require.NoError(t, err)
	ex = tab.Explain(eve, "112")
	require.Equal(t, []Step{
		{RuleID: 1, Name: "deny 1", Matched: true, Why: "any caller; any destination; skipped: emergency calls are never denied"},
		{RuleID: 2, Name: "allow 2", Matched: true, Why: "any caller; any destination; carries the emergency call (digits not rewritten)"},
	}, ex.Trace)

	// Blocked: no rule is considered; the trace is empty, not nil.
	ex = tab.Explain(eve, "0221234567")
	require.NotNil(t, ex.Trace)
	require.Empty(t, ex.Trace)
}

func TestDecisionJSON(t *testing.T) {
	tab, err := NewTable([]Rule{
		denyRule(1, 1, anyone, Dest{Prefixes: []string{"0700"}}, 0, "premium"),
		allowRule(2, 2, Who{Kind: WhoAccount, Value: "bob-soft"}, anywhere, withheld, 1, 2),
		allowRule(3, 3, anyone, anywhere, number(numMain), 1),
	}, testOptions())
	require.NoError(t, err)

	tests := []struct {
		name   string
		caller Caller
		to     string
		json   string
	}{
		{name: "allow presents a number, no sip_code", caller: ann, to: "0221234567",
			json: `{"rule_id":3,"action":"allow","reason":"rule 3 \"allow 3\" matched: any caller; any destination",` +
				`"dialled":"0221234567","e164":"+48221234567","clip":"+48221000000","withheld":false,` +
				`"asserted":"+48221000000","trunks":[1],"failover_codes":[408,500,502,503,504]}`},
		{name: "withheld: clip is null", caller: bob, to: "0221234567",
			json: `{"rule_id":2,"action":"allow","reason":"rule 2 \"allow 2\" matched: SIP account is bob-soft; any destination",` +
				`"dialled":"0221234567","e164":"+48221234567","clip":null,"withheld":true,` +
				`"asserted":"+48221000011","trunks":[1,2],"failover_codes":[408,500,502,503,504]}`},
		{name: "deny by a rule: sip_code, clip null, trunks empty", caller: ann, to: "0700123456",
			json: `{"rule_id":1,"action":"deny","sip_code":403,"reason":"rule 1 \"deny 1\" matched: any caller; ` +
				`0700123456 starts with 0700; denied with 403: premium","dialled":"0700123456","e164":"+48700123456",` +
				`"clip":null,"withheld":false,"trunks":[]}`},
		{name: "deny by no rule: rule_id null", caller: eve, to: "0221234567",
			json: `{"rule_id":null,"action":"deny","sip_code":403,"reason":"outbound calls are blocked for SIP account ` +
				`eve-lobby (user 14): it may only receive calls","dialled":"0221234567","e164":"+48221234567","clip":null,` +
				`"withheld":false,"trunks":[]}`},
		{name: "emergency", caller: eve, to: "112",
			json: `{"rule_id":3,"action":"allow","reason":"112 is an emergency number: always allowed; routed by rule 3 \"allow 3\"",` +
				`"dialled":"112","clip":"+48221000000","withheld":false,"asserted":"+48221000000","trunks":[1],` +
				`"failover_codes":[408,500,502,503,504],"emergency":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tab.Route(tc.caller, tc.to)
			b, err := json.Marshal(d)
			require.NoError(t, err)
			require.JSONEq(t, tc.json, string(b))

			var back Decision
			require.NoError(t, json.Unmarshal(b, &back))
			if len(d.Trunks) == 0 {
				back.Trunks = nil // [] and nil are the same decision
			}
			require.Equal(t, d, back)

			ex := tab.Explain(tc.caller, tc.to)
			b, err = json.Marshal(ex)
			require.NoError(t, err)
			var fields map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(b, &fields))
			require.Contains(t, fields, "trace")
			delete(fields, "trace")
			rest, err := json.Marshal(fields)
			require.NoError(t, err)
			require.JSONEq(t, tc.json, string(rest), "explain is the decision plus trace")

			var exBack Explanation
			require.NoError(t, json.Unmarshal(b, &exBack))
			require.Equal(t, ex.Trace, exBack.Trace)
			require.Equal(t, ex.Reason, exBack.Reason)
		})
	}
}

func TestTableIsImmutable(t *testing.T) {
	rules := []Rule{{ID: 1, Name: "uk", Position: 1, Enabled: true,
		Dest:   Dest{Prefixes: []string{"44"}, CountryCodes: []string{"44"}},
		Action: Action{Kind: Allow, CLIP: number(numUK), Trunks: []int64{1, 2}, FailoverCodes: []int{503}}}}
	o := testOptions()
	tab, err := NewTable(rules, o)
	require.NoError(t, err)
	before := tab.Route(ann, "+442071234567")

	// Changing what NewTable was given changes nothing.
	rules[0].Dest.Prefixes[0], rules[0].Dest.CountryCodes[0] = "9", "9"
	rules[0].Action.Trunks[0], rules[0].Action.FailoverCodes[0] = 7, 500
	rules[0].Action.Kind = Deny
	o.ProjectNumbers[3] = "+48111111111"
	o.EmergencyTrunks[0] = 8

	// Nor does changing what it returns.
	before.Trunks[0], before.FailoverCodes[0] = 5, 408
	got := tab.Rules()
	got[0].Action.Trunks[0], got[0].Dest.Prefixes[0] = 6, "1"

	d := tab.Route(ann, "+442071234567")
	require.Equal(t, []int64{1, 2}, d.Trunks)
	require.Equal(t, []int{503}, d.FailoverCodes)
	require.Equal(t, numUK, *d.CLIP)
	require.Equal(t, []int64{9}, tab.Route(eve, "112").Trunks)
	require.Equal(t, "44", tab.Rules()[0].Dest.Prefixes[0])
}

func TestHolder(t *testing.T) {
	var h Holder
	require.Nil(t, h.Load())
	require.Equal(t, 503, h.Load().Route(ann, "0221234567").SIPCode, "nothing loaded yet")

	deny, err := NewTable([]Rule{denyRule(1, 1, anyone, anywhere, 0, "")}, testOptions())
	require.NoError(t, err)
	allow, err := NewTable([]Rule{allowRule(2, 1, anyone, anywhere, userDefault, 1)}, testOptions())
	require.NoError(t, err)
	h.Store(deny)

	// Readers see one whole table or the other while a writer swaps them.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				d := h.Load().Route(ann, "0221234567")
				if !(d.RuleID == 1 && d.Action == Deny || d.RuleID == 2 && d.Action == Allow) {
					t.Errorf("torn decision %+v", d)
					return
				}
			}
		})
	}
	for i := range 1000 {
		if i%2 == 0 {
			h.Store(allow)
		} else {
			h.Store(deny)
		}
	}
	wg.Wait()
	h.Store(allow)
	require.Same(t, allow, h.Load())
}

func TestDialString(t *testing.T) {
	strip := allowRule(1, 1, anyone, Dest{Prefixes: []string{"0800"}}, userDefault, 1)
	strip.Action.Strip, strip.Action.Prepend = 1, "+48"
	tab, err := NewTable([]Rule{strip, allowRule(2, 2, anyone, anywhere, userDefault, 1)}, testOptions())
	require.NoError(t, err)
	tests := []struct {
		to     string
		format NumberFormat
		want   string
	}{
		{"0221234567", E164, "+48221234567"},
		{"0221234567", National, "0221234567"},
		{"0221234567", AsDialled, "0221234567"},
		{"+48 22 123 45 67", National, "0221234567"},
		{"+48 22 123 45 67", AsDialled, "+48221234567"},
		{"00442071234567", E164, "+442071234567"},
		{"+442071234567", National, "00442071234567"},
		{"112", E164, "112"},
		{"0800123456", National, "+48800123456"}, // rewritten: as the rule spelled it
		{"0800123456", E164, "+48800123456"},
	}
	for _, tc := range tests {
		t.Run(tc.to+" "+string(tc.format), func(t *testing.T) {
			got, err := tab.DialString(tab.Route(ann, tc.to), tc.format)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err = tab.DialString(tab.Route(eve, "0221234567"), E164)
	require.ErrorContains(t, err, "dial string of a deny decision")
	_, err = tab.DialString(tab.Route(ann, "0800123456"), "bogus")
	require.ErrorContains(t, err, "unknown number format")
	_, err = tab.DialString(tab.Route(ann, "0221234567"), "bogus")
	require.ErrorContains(t, err, "unknown number format")

	require.True(t, tab.IsProjectNumber("0221000000"))
	require.False(t, tab.IsProjectNumber("+48999999999"))
	require.Equal(t, plan48, tab.Numbering())
	require.False(t, strings.Contains(tab.Route(ann, "0221234567").Reason, "%!"), "no format verbs leak")
}
