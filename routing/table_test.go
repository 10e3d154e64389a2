package routing

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewTableValidation(t *testing.T) {
	ok := func() Rule { return allowRule(1, 1, anyone, anywhere, userDefault, 1) }
	with := func(change func(r *Rule)) []Rule {
		r := ok()
		change(&r)
		return []Rule{r}
	}
	tests := []struct {
		name   string
		rules  []Rule
		opts   func(*Options)
		fields []string // the fields named, in order
	}{
		{name: "valid", rules: []Rule{ok()}},
		{name: "valid: empty table", rules: nil},
		{name: "valid: unsaved rule has id 0", rules: with(func(r *Rule) { r.ID = 0 })},
		{name: "valid: two unsaved rules", rules: append(with(func(r *Rule) { r.ID = 0 }), with(func(r *Rule) { r.ID = 0 })...)},

		// No spoofing.
		{name: "CLIP number not a project number", rules: with(func(r *Rule) { r.Action.CLIP = number("+48999999999") }),
			fields: []string{"action.clip.number"}},
		{name: "valid: CLIP number as E.164 digits without +", rules: with(func(r *Rule) { r.Action.CLIP = number("442070000000") })},
		{name: "valid: CLIP number in national form", rules: with(func(r *Rule) { r.Action.CLIP = number("022 100 00 00") })},
		{name: "CLIP number that is not a number", rules: with(func(r *Rule) { r.Action.CLIP = number("main line") }),
			fields: []string{"action.clip.number"}},
		{name: "CLIP number short", rules: with(func(r *Rule) { r.Action.CLIP = number("1234") }),
			fields: []string{"action.clip.number"}},
		{name: "withheld asserting a number not owned", rules: with(func(r *Rule) { r.Action.CLIP = CLIP{Mode: CLIPWithheld, Number: "+48999999999"} }),
			fields: []string{"action.clip.number"}},
		{name: "CLIP mode number without number", rules: with(func(r *Rule) { r.Action.CLIP = CLIP{Mode: CLIPNumber} }),
			fields: []string{"action.clip.number"}},
		{name: "CLIP number with user_default", rules: with(func(r *Rule) { r.Action.CLIP = CLIP{Mode: CLIPUserDefault, Number: numMain} }),
			fields: []string{"action.clip.number"}},
		{name: "unknown CLIP mode", rules: with(func(r *Rule) { r.Action.CLIP = CLIP{Mode: "restricted"} }),
			fields: []string{"action.clip.mode"}},

		// Who.
		{name: "unknown who kind", rules: with(func(r *Rule) { r.Who = Who{Kind: "queue", Value: "sales"} }),
			fields: []string{"who.kind"}},
		{name: "who any with a value", rules: with(func(r *Rule) { r.Who = Who{Kind: WhoAny, Value: "x"} }),
			fields: []string{"who.value"}},
		{name: "who account without a value", rules: with(func(r *Rule) { r.Who = Who{Kind: WhoAccount, Value: " "} }),
			fields: []string{"who.value"}},
		{name: "who department without a value", rules: with(func(r *Rule) { r.Who = Who{Kind: WhoDepartment} }),
			fields: []string{"who.value"}},
		{name: "who user not an id", rules: with(func(r *Rule) { r.Who = Who{Kind: WhoUser, Value: "ann"} }),
			fields: []string{"who.value"}},
		{name: "who user zero", rules: with(func(r *Rule) { r.Who = Who{Kind: WhoUser, Value: "0"} }),
			fields: []string{"who.value"}},

		// Dest.
		{name: "bad pattern", rules: with(func(r *Rule) { r.Dest.Pattern = "_0[7" }), fields: []string{"dest.pattern"}},
		{name: "pattern letters without _", rules: with(func(r *Rule) { r.Dest.Pattern = "0700XXX" }), fields: []string{"dest.pattern"}},
		{name: "bad prefixes", rules: with(func(r *Rule) { r.Dest.Prefixes = []string{"44", "", "+", "4a", "+4*", "++4"} }),
			fields: []string{"dest.prefixes[1]", "dest.prefixes[2]", "dest.prefixes[3]", "dest.prefixes[4]", "dest.prefixes[5]"}},
		{name: "bad country codes", rules: with(func(r *Rule) { r.Dest.CountryCodes = []string{"+44", "0044", "4444", ""} }),
			fields: []string{"dest.country_codes[1]", "dest.country_codes[2]", "dest.country_codes[3]"}},
		{name: "length range backwards", rules: with(func(r *Rule) { r.Dest.MinLength, r.Dest.MaxLength = 12, 9 }),
			fields: []string{"dest.max_length"}},
		{name: "lengths out of range", rules: with(func(r *Rule) { r.Dest.MinLength, r.Dest.MaxLength = -1, 99 }),
			fields: []string{"dest.min_length", "dest.max_length"}},

		// Action.
		{name: "unknown action kind", rules: with(func(r *Rule) { r.Action.Kind = "reject" }), fields: []string{"action.kind"}},
		{name: "missing action kind", rules: with(func(r *Rule) { r.Action.Kind = "" }), fields: []string{"action.kind"}},
		{name: "deny with a 3xx", rules: []Rule{denyRule(1, 1, anyone, anywhere, 302, "")}, fields: []string{"action.sip_code"}},
		{name: "deny with 700", rules: []Rule{denyRule(1, 1, anyone, anywhere, 700, "")}, fields: []string{"action.sip_code"}},
		{name: "deny with a challenge code", rules: []Rule{denyRule(1, 1, anyone, anywhere, 407, "")}, fields: []string{"action.sip_code"}},
		{name: "deny with allow fields", rules: []Rule{func() Rule {
			r := denyRule(1, 1, anyone, anywhere, 0, "")
			r.Action.Strip, r.Action.Prepend, r.Action.CLIP = 1, "48", number(numMain)
			r.Action.Trunks, r.Action.FailoverCodes = []int64{1}, []int{503}
			return r
		}()}, fields: []string{"action.strip", "action.prepend", "action.clip.mode", "action.clip.number", "action.trunks", "action.failover_codes"}},
		{name: "allow with a sip code", rules: with(func(r *Rule) { r.Action.SIPCode = 403 }), fields: []string{"action.sip_code"}},
		{name: "allow without trunks and no default trunks", rules: with(func(r *Rule) { r.Action.Trunks = nil }),
			fields: []string{"action.trunks"}},
		{name: "valid: allow without trunks uses default trunks", rules: with(func(r *Rule) { r.Action.Trunks = nil }),
			opts: func(o *Options) { o.DefaultTrunks = []int64{1} }},
		{name: "bad trunk ids", rules: with(func(r *Rule) { r.Action.Trunks = []int64{1, 0, 1, -3} }),
			fields: []string{"action.trunks[1]", "action.trunks[2]", "action.trunks[3]"}},
		{name: "failover codes never allowed", rules: with(func(r *Rule) { r.Action.FailoverCodes = []int{503, 404, 480, 486, 487, 603, 600} }),
			fields: []string{"action.failover_codes[1]", "action.failover_codes[2]", "action.failover_codes[3]",
				"action.failover_codes[4]", "action.failover_codes[5]", "action.failover_codes[6]"}},
		{name: "failover codes not failures or twice", rules: with(func(r *Rule) { r.Action.FailoverCodes = []int{302, 503, 503, 200} }),
			fields: []string{"action.failover_codes[0]", "action.failover_codes[2]", "action.failover_codes[3]"}},
		{name: "strip out of range", rules: with(func(r *Rule) { r.Action.Strip = -1 }), fields: []string{"action.strip"}},
		{name: "strip too much", rules: with(func(r *Rule) { r.Action.Strip = 33 }), fields: []string{"action.strip"}},
		{name: "prepend not digits", rules: with(func(r *Rule) { r.Action.Prepend = "9,w" }), fields: []string{"action.prepend"}},
		{name: "prepend plus inside", rules: with(func(r *Rule) { r.Action.Prepend = "4+8" }), fields: []string{"action.prepend"}},
		{name: "valid: prepend plus first", rules: with(func(r *Rule) { r.Action.Prepend = "+48" })},

		// Ids.
		{name: "duplicate ids", rules: []Rule{ok(), ok()}, fields: []string{"id"}},
		{name: "negative id", rules: with(func(r *Rule) { r.ID = -1 }), fields: []string{"id"}},

		// Options.
		{name: "bad numbering", opts: func(o *Options) { o.Numbering.CountryCode = "+48" },
			fields: []string{"options.numbering.country_code"}},
		{name: "bad project numbers", opts: func(o *Options) { o.ProjectNumbers = []string{numMain, "112", "x"} },
			fields: []string{"options.project_numbers[1]", "options.project_numbers[2]"}},
		{name: "bad emergency numbers", opts: func(o *Options) { o.Emergency = []string{"112", "1x", "*112"} },
			fields: []string{"options.emergency[1]", "options.emergency[2]"}},
		{name: "bad trunk options", opts: func(o *Options) { o.EmergencyTrunks, o.DefaultTrunks = []int64{0}, []int64{2, 2} },
			fields: []string{"options.default_trunks[1]", "options.emergency_trunks[0]"}},
		{name: "emergency CLIP not owned", opts: func(o *Options) { o.EmergencyCLIP = "+48999999999" },
			fields: []string{"options.emergency_clip"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			tab, err := NewTable(tc.rules, o)
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				require.NotNil(t, tab)
				return
			}
			require.Nil(t, tab)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.fields, fieldNames(ve), err.Error())
			for _, f := range ve.Errors {
				require.NotEmpty(t, f.Message)
			}
		})
	}
}

func TestValidationErrorNamesRules(t *testing.T) {
	rules := []Rule{
		allowRule(7, 1, anyone, anywhere, number("+48999999999"), 1),
		allowRule(0, 2, Who{Kind: "team"}, anywhere, userDefault, 1),
	}
	o := testOptions()
	o.ProjectNumbers = append(o.ProjectNumbers, "abc")
	_, err := NewTable(rules, o)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []FieldError{
		{Index: -1, Field: "options.project_numbers[7]", Message: `invalid number "abc": unexpected character 'a'`},
		{RuleID: 7, Index: 0, Field: "action.clip.number",
			Message: "+48999999999 is not a project number (no spoofing: present only numbers the project owns)"},
		{Index: 1, Field: "who.kind", Message: `unknown kind "team" (want any, account, user or department)`},
	}, ve.Errors)
	require.Equal(t, `routing: invalid outbound rules: options.project_numbers[7]: invalid number "abc": `+
		`unexpected character 'a'; rule 7: action.clip.number: +48999999999 is not a project number (no spoofing: `+
		`present only numbers the project owns); rule #1: who.kind: unknown kind "team" (want any, account, user or department)`,
		err.Error())

	b, err := json.Marshal(ve.Errors[1])
	require.NoError(t, err)
	require.JSONEq(t, `{"rule_id":7,"index":0,"field":"action.clip.number",
		"message":"+48999999999 is not a project number (no spoofing: present only numbers the project owns)"}`, string(b))
}

func TestNewTableDefaults(t *testing.T) {
	rules := []Rule{
		{ID: 3, Name: "deny without code", Position: 1, Enabled: true, Action: Action{Kind: Deny}},
		{ID: 4, Name: "bare allow", Position: 2, Enabled: true,
			Who:    Who{Kind: WhoUser, Value: " 011 "},
			Dest:   Dest{CountryCodes: []string{"+44"}},
			Action: Action{Kind: Allow, Trunks: []int64{1}}},
	}
	tab, err := NewTable(rules, testOptions())
	require.NoError(t, err)
	got := tab.Rules()
	require.Equal(t, []Rule{
		{ID: 3, Name: "deny without code", Position: 1, Enabled: true, Who: Who{Kind: WhoAny},
			Action: Action{Kind: Deny, SIPCode: 403}},
		{ID: 4, Name: "bare allow", Position: 2, Enabled: true,
			Who:  Who{Kind: WhoUser, Value: "11"},
			Dest: Dest{CountryCodes: []string{"44"}},
			Action: Action{Kind: Allow, CLIP: CLIP{Mode: CLIPUserDefault}, Trunks: []int64{1},
				FailoverCodes: []int{408, 500, 502, 503, 504}}},
	}, got)
	require.Equal(t, 403, tab.Route(ann, "0221234567").SIPCode, "deny without code gets 403")

	// Rules round-trip through JSON, the form the API stores and serves.
	b, err := json.Marshal(got)
	require.NoError(t, err)
	var back []Rule
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, got, back)
}
