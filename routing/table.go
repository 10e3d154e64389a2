package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

const (
	maxStrip      = maxDialledLen
	maxPrepend    = 16
	maxLengthSpec = maxDialledLen
)

// Table is an immutable, validated snapshot of the outbound rules and their options. Build
// a new one with NewTable after every change and swap it in (Holder); a Table is safe for
// concurrent use and never changes.
type Table struct {
	numbering       Numbering
	rules           []rule    // by Position, then ID; disabled ones included for Explain
	match           []matcher // match[i] is rules[i].m
	project         map[string]struct{}
	emergency       map[string]struct{} // dialled and E.164 forms
	emergencyTrunks []int64             // EmergencyTrunks, else DefaultTrunks
	emergencyCLIP   string              // E.164
}

// rule is a Rule compiled.
type rule struct {
	Rule               // normalised: defaults filled in
	m          matcher // copied to Table.match
	trunks     []int64 // Trunks, else DefaultTrunks
	clipNumber string  // E.164 of Action.CLIP.Number
}

// NewTable validates rules and options and compiles them into a Table. On invalid input it
// returns a *ValidationError naming every bad field. rules is not retained.
func NewTable(rules []Rule, o Options) (*Table, error) {
	var v collector
	t := &Table{
		numbering: o.Numbering,
		project:   make(map[string]struct{}, len(o.ProjectNumbers)),
		emergency: make(map[string]struct{}, 2*len(o.Emergency)),
	}
	o.Numbering.validate(&v, "options.numbering.")
	for i, s := range o.ProjectNumbers {
		e, msg := t.e164(s)
		if msg != "" {
			v.option(fmt.Sprintf("options.project_numbers[%d]", i), "%s", msg)
			continue
		}
		t.project[e] = struct{}{}
	}
	for i, s := range o.Emergency {
		field := fmt.Sprintf("options.emergency[%d]", i)
		num, err := t.numbering.Normalise(s)
		if err != nil {
			v.option(field, "%v", err)
			continue
		}
		if strings.ContainsAny(num.Dialled, "*#") {
			v.option(field, "must be digits only")
			continue
		}
		t.emergency[num.Dialled] = struct{}{}
		if num.E164 != "" {
			t.emergency[num.E164] = struct{}{}
		}
	}
	checkTrunks(o.DefaultTrunks, func(i int, msg string) {
		v.option(fmt.Sprintf("options.default_trunks[%d]", i), "%s", msg)
	})
	checkTrunks(o.EmergencyTrunks, func(i int, msg string) {
		v.option(fmt.Sprintf("options.emergency_trunks[%d]", i), "%s", msg)
	})
	t.emergencyTrunks = slices.Clone(o.EmergencyTrunks)
	if len(t.emergencyTrunks) == 0 {
		t.emergencyTrunks = slices.Clone(o.DefaultTrunks)
	}
	if o.EmergencyCLIP != "" {
		e, msg := t.owned(o.EmergencyCLIP)
		if msg != "" {
			v.option("options.emergency_clip", "%s", msg)
		}
		t.emergencyCLIP = e
	}

	seen := make(map[int64]int, len(rules))
	t.rules = make([]rule, 0, len(rules))
	for i, r := range rules {
		if r.ID != 0 {
			if j, dup := seen[r.ID]; dup {
				v.rule(i, r.ID, "id", "duplicate: rule #%d has the same id", j)
			}
			seen[r.ID] = i
		}
		if cr, ok := t.compile(&v, i, r, o.DefaultTrunks); ok {
			t.rules = append(t.rules, cr)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(t.rules, func(a, b rule) int {
		return cmp.Or(cmp.Compare(a.Position, b.Position), cmp.Compare(a.ID, b.ID))
	})
	t.match = make([]matcher, len(t.rules))
	for i := range t.rules {
		t.match[i] = t.rules[i].m
	}
	return t, nil
}

// compile validates one rule and fills in its defaults.
func (t *Table) compile(v *collector, i int, in Rule, defaultTrunks []int64) (rule, bool) {
	before := len(v.list)
	bad := func(field, format string, args ...any) { v.rule(i, in.ID, field, format, args...) }
	r := rule{Rule: in}
	d, a := &r.Dest, &r.Action
	d.Prefixes = slices.Clone(in.Dest.Prefixes)
	d.CountryCodes = slices.Clone(in.Dest.CountryCodes)
	a.Trunks = slices.Clone(in.Action.Trunks)
	a.FailoverCodes = slices.Clone(in.Action.FailoverCodes)

	if in.ID < 0 {
		bad("id", "must not be negative")
	}

	switch r.Who.Kind {
	case "", WhoAny:
		r.Who.Kind = WhoAny
		if r.Who.Value != "" {
			bad("who.value", "must be empty for kind any")
		}
	case WhoAccount, WhoDepartment:
		r.Who.Value = strings.TrimSpace(r.Who.Value)
		if r.Who.Value == "" {
			bad("who.value", "required for kind %s", r.Who.Kind)
		}
	case WhoUser:
		id, err := strconv.ParseInt(strings.TrimSpace(r.Who.Value), 10, 64)
		if err != nil || id <= 0 {
			bad("who.value", "must be a user id (a positive integer), not %q", r.Who.Value)
		}
		r.m.userID, r.Who.Value = id, strconv.FormatInt(id, 10)
	default:
		bad("who.kind", "unknown kind %q (want any, account, user or department)", r.Who.Kind)
	}

	for j, p := range d.Prefixes {
		body := strings.TrimPrefix(p, "+")
		ok := body != ""
		for k := 0; ok && k < len(body); k++ {
			c := body[k]
			ok = c >= '0' && c <= '9' || (c == '*' || c == '#') && body == p
		}
		if !ok {
			bad(fmt.Sprintf("dest.prefixes[%d]", j), "must be digits, * or #, or + and digits, not %q", p)
		}
	}
	for j, c := range d.CountryCodes {
		c = strings.TrimPrefix(c, "+")
		if !isCountryCode(c) {
			bad(fmt.Sprintf("dest.country_codes[%d]", j), "must be 1 to 3 digits not starting with 0, not %q", d.CountryCodes[j])
		}
		d.CountryCodes[j] = c
	}
	if d.MinLength < 0 || d.MinLength > maxLengthSpec {
		bad("dest.min_length", "must be between 0 and %d", maxLengthSpec)
	}
	if d.MaxLength < 0 || d.MaxLength > maxLengthSpec {
		bad("dest.max_length", "must be between 0 and %d", maxLengthSpec)
	} else if d.MaxLength > 0 && d.MaxLength < d.MinLength {
		bad("dest.max_length", "must not be less than min_length")
	}
	if d.Pattern != "" {
		p, err := CompilePattern(d.Pattern)
		if err != nil {
			bad("dest.pattern", "%v", err)
		}
		r.m.pattern = p
	}
	r.m.enabled, r.m.who, r.m.value = r.Enabled, r.Who.Kind, r.Who.Value
	r.m.minLen, r.m.maxLen = d.MinLength, d.MaxLength
	r.m.prefixes, r.m.countries = d.Prefixes, d.CountryCodes

	switch a.Kind {
	case Deny:
		switch {
		case a.SIPCode == 0:
			a.SIPCode = DefaultDenyCode
		case a.SIPCode < 400 || a.SIPCode > 699:
			bad("action.sip_code", "must be a final error response, 400 to 699")
		case a.SIPCode == 401 || a.SIPCode == 407:
			bad("action.sip_code", "%d is a challenge the pbx makes itself; use 403", a.SIPCode)
		}
		empty := func(field string, isEmpty bool) {
			if !isEmpty {
				bad(field, "only for allow rules")
			}
		}
		empty("action.strip", a.Strip == 0)
		empty("action.prepend", a.Prepend == "")
		empty("action.clip.mode", a.CLIP.Mode == "")
		empty("action.clip.number", a.CLIP.Number == "")
		empty("action.trunks", len(a.Trunks) == 0)
		empty("action.failover_codes", len(a.FailoverCodes) == 0)
	case Allow:
		if a.SIPCode != 0 {
			bad("action.sip_code", "only for deny rules")
		}
		if a.Strip < 0 || a.Strip > maxStrip {
			bad("action.strip", "must be between 0 and %d", maxStrip)
		}
		if !validPrepend(a.Prepend) {
			bad("action.prepend", "must be at most %d digits, * or #, optionally after a leading +", maxPrepend)
		}
		t.compileCLIP(&r, bad)
		checkTrunks(a.Trunks, func(j int, msg string) { bad(fmt.Sprintf("action.trunks[%d]", j), "%s", msg) })
		r.trunks = a.Trunks
		if len(r.trunks) == 0 {
			r.trunks = slices.Clone(defaultTrunks)
			if len(r.trunks) == 0 {
				bad("action.trunks", "an allow rule needs at least one trunk (or set default trunks)")
			}
		}
		if len(a.FailoverCodes) == 0 {
			a.FailoverCodes = DefaultFailoverCodes()
		}
		seen := make(map[int]bool, len(a.FailoverCodes))
		for j, c := range a.FailoverCodes {
			if msg := failoverProblem(c); msg != "" {
				bad(fmt.Sprintf("action.failover_codes[%d]", j), "%s", msg)
			} else if seen[c] {
				bad(fmt.Sprintf("action.failover_codes[%d]", j), "duplicate %d", c)
			}
			seen[c] = true
		}
	default:
		bad("action.kind", "unknown kind %q (want allow or deny)", a.Kind)
	}
	return r, len(v.list) == before
}

func (t *Table) compileCLIP(r *rule, bad func(field, format string, args ...any)) {
	c := &r.Action.CLIP
	if c.Mode == "" {
		c.Mode = CLIPUserDefault
	}
	switch c.Mode {
	case CLIPNumber:
		if c.Number == "" {
			bad("action.clip.number", "required for mode number")
			return
		}
	case CLIPWithheld:
		if c.Number == "" {
			return
		}
	case CLIPUserDefault:
		if c.Number != "" {
			bad("action.clip.number", "must be empty for mode user_default")
		}
		return
	default:
		bad("action.clip.mode", "unknown mode %q (want number, user_default or withheld)", c.Mode)
		return
	}
	e, msg := t.owned(c.Number)
	if msg != "" {
		bad("action.clip.number", "%s", msg)
	}
	r.clipNumber = e
}

// failoverProblem says why code cannot trigger a failover, or "".
func failoverProblem(code int) string {
	switch {
	case code == 404 || code == 480 || code == 486 || code == 487:
		return fmt.Sprintf("%d is the callee's answer, never a reason to try another trunk", code)
	case code >= 600 && code <= 699:
		return fmt.Sprintf("%d is a global failure (RFC 3261 21.6): no other trunk may be tried", code)
	case code < 400 || code > 599:
		return fmt.Sprintf("%d is not a failure response (want 400 to 599)", code)
	}
	return ""
}

func checkTrunks(ids []int64, bad func(i int, msg string)) {
	seen := make(map[int64]bool, len(ids))
	for i, id := range ids {
		switch {
		case id <= 0:
			bad(i, "must be a trunk id (a positive integer)")
		case seen[id]:
			bad(i, fmt.Sprintf("trunk %d is listed twice", id))
		}
		seen[id] = true
	}
}

func validPrepend(s string) bool {
	if len(s) > maxPrepend {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '*' || c == '#' || c == '+' && i == 0 && len(s) > 1) {
			return false
		}
	}
	return true
}

// e164 reads a number that must have an E.164 form (a project number, a CLIP): what
// Normalise reads as E.164, or else 7 or more digits alone as E.164 digits without '+'
// ("48221000000", a form users often store; no E.164 number in use is shorter). msg says
// why it is not a number.
func (t *Table) e164(s string) (e string, msg string) {
	num, err := t.numbering.Normalise(s)
	switch {
	case err != nil:
		return "", err.Error()
	case num.E164 != "":
		return num.E164, ""
	}
	if len(num.Dialled) < 7 || !allDigits(num.Dialled) {
		return "", fmt.Sprintf("%q has no E.164 form under the numbering plan", s)
	}
	if plus, err := t.numbering.Normalise("+" + num.Dialled); err == nil {
		return plus.E164, ""
	}
	return "", fmt.Sprintf("%q has no E.164 form under the numbering plan", s)
}

// owned is e164 plus the check that the project owns the number.
func (t *Table) owned(s string) (e string, msg string) {
	e, msg = t.e164(s)
	if msg != "" {
		return "", msg
	}
	if _, ok := t.project[e]; !ok {
		return "", fmt.Sprintf("%s is not a project number (no spoofing: present only numbers the project owns)", e)
	}
	return e, ""
}

// Rules returns the table's rules in evaluation order, with defaults filled in (deny code
// 403, CLIP mode user_default, the default failover codes, country codes without '+').
func (t *Table) Rules() []Rule {
	out := make([]Rule, len(t.rules))
	for i, r := range t.rules {
		out[i] = r.Rule
		out[i].Dest.Prefixes = slices.Clone(r.Dest.Prefixes)
		out[i].Dest.CountryCodes = slices.Clone(r.Dest.CountryCodes)
		out[i].Action.Trunks = slices.Clone(r.Action.Trunks)
		out[i].Action.FailoverCodes = slices.Clone(r.Action.FailoverCodes)
	}
	return out
}

// Numbering returns the numbering plan the table was built with.
func (t *Table) Numbering() Numbering { return t.numbering }

// IsProjectNumber reports whether the project owns number (any form Numbering reads).
func (t *Table) IsProjectNumber(number string) bool {
	_, msg := t.owned(number)
	return msg == ""
}

// DialString gives the number to put in the Request-URI toward a trunk with number format
// f for an allowed decision: the rewritten digits as they are when the rule stripped or
// prepended (the admin spelled them for the trunk), else the destination formatted as f.
func (t *Table) DialString(d Decision, f NumberFormat) (string, error) {
	if d.Action != Allow {
		return "", fmt.Errorf("routing: dial string of a %s decision", d.Action)
	}
	if d.Rewritten {
		if !f.Valid() {
			return "", fmt.Errorf("routing: unknown number format %q (want e164, national or as_dialled)", f)
		}
		return d.Dialled, nil
	}
	return t.numbering.Format(Number{Dialled: d.Dialled, E164: d.E164}, f)
}
