package routing

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// oracle translates a pattern CompilePattern accepted into an anchored regexp, the
// reference the bit-parallel matcher is checked against.
func oracle(pattern string) *regexp.Regexp {
	if pattern[0] != '_' {
		return regexp.MustCompile(`^` + regexp.QuoteMeta(pattern) + `$`)
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 1; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case 'X', 'x':
			b.WriteString(`[0-9]`)
		case 'Z', 'z':
			b.WriteString(`[1-9]`)
		case 'N', 'n':
			b.WriteString(`[2-9]`)
		case '.':
			b.WriteString(`.+`)
		case '!':
			b.WriteString(`.*`)
		case '-':
		case '[':
			end := strings.IndexByte(pattern[i:], ']') + i
			b.WriteString(`[` + regexp.QuoteMeta(pattern[i+1:end]) + `]`)
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

const alphabet = "0123456789*#+"

// FuzzPattern: compiling never panics; a compiled pattern agrees with a regexp oracle on
// inputs over the dialled alphabet, and matching anything at all never panics.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"112", "+442071234567", "_X.", "_0700XXXXXX", "_0[5-8]XXXXXXXX",
		"_[13-5*#]X", "_00!", "_+44.", "_X.1", "_1!2!3", "_0-700-XXX", "_[5-1]", "_[1-]", "_", "_[", "*31#"} {
		f.Add(s, "0700123456")
		f.Add(s, "+442071234567")
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		checkPattern(t, pattern, input, false)
		// Most random strings are not patterns; also build a valid one from the same bytes.
		built := "_"
		for i := 0; i < len(pattern) && i < maxPatternTokens; i++ {
			built += elements[int(pattern[i])%len(elements)]
		}
		if strings.Trim(built, "_-") != "" && len(built) <= maxPatternLen {
			checkPattern(t, built, input, true)
		}
	})
}

var elements = []string{"0", "1", "2", "5", "9", "X", "x", "Z", "N", "n", ".", "!", "*", "#", "-",
	"[1-5]", "[135]", "[0*#]", "[2-9#]"}

func checkPattern(t *testing.T, pattern, input string, mustCompile bool) {
	p, err := CompilePattern(pattern)
	if err != nil {
		if mustCompile {
			t.Fatalf("CompilePattern(%q): %v", pattern, err)
		}
		return
	}
	{
		if p.String() != pattern {
			t.Fatalf("String() = %q, want %q", p.String(), pattern)
		}
		p.Match(input) // any bytes: no panic
		// Over the alphabet the oracle's . and the matcher's agree byte for byte.
		b := []byte(input)
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		s := string(b)
		re := oracle(pattern)
		if got, want := p.Match(s), re.MatchString(s); got != want {
			t.Fatalf("pattern %q on %q: Match = %v, oracle %s = %v", pattern, s, got, re, want)
		}
		if p.exact && !p.Match(pattern) {
			t.Fatalf("exact pattern %q does not match itself", pattern)
		}
	}
}

var e164Re = regexp.MustCompile(`^\+[1-9][0-9]{0,14}$`)

// FuzzNormalise: no panics; what Normalise accepts is clean, its E.164 form is valid and
// stable, and every format reads back as the same number.
func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"+48221234567", "0048221234567", "0221234567", "221234567", "112",
		"*31#", "+48 22 123-45-67", "(022) 123.45.67", "00", "+0", "1+2", "+480123", "011442071234567",
		"12125551234", "abc", "", "+123456789012345"} {
		f.Add(s)
	}
	plans := []Numbering{plan48, poland, uk, nanp, {}}
	f.Fuzz(func(t *testing.T, in string) {
		for _, plan := range plans {
			num, err := plan.Normalise(in)
			if err != nil {
				continue
			}
			if num.Dialled == "" || len(num.Dialled) > maxDialledLen {
				t.Fatalf("%+v: Normalise(%q) dialled %q", plan, in, num.Dialled)
			}
			for i := 0; i < len(num.Dialled); i++ {
				if c := num.Dialled[i]; symbol(c) < 0 || c == '+' && i != 0 {
					t.Fatalf("%+v: Normalise(%q) dialled %q holds %q", plan, in, num.Dialled, c)
				}
			}
			again, err := plan.Normalise(num.Dialled)
			if err != nil || again != num {
				t.Fatalf("%+v: not idempotent on %q: %+v, %v", plan, in, again, err)
			}
			if num.E164 == "" {
				for _, f := range []NumberFormat{E164, National, AsDialled} {
					if s, _ := plan.Format(num, f); s != num.Dialled {
						t.Fatalf("%+v: short number %q formats as %s %q", plan, num.Dialled, f, s)
					}
				}
				continue
			}
			if !e164Re.MatchString(num.E164) {
				t.Fatalf("%+v: Normalise(%q) E.164 %q", plan, in, num.E164)
			}
			for _, f := range []NumberFormat{E164, National, AsDialled} {
				s, err := plan.Format(num, f)
				if err != nil {
					t.Fatal(err)
				}
				back, err := plan.Normalise(s)
				if err != nil || back.E164 != num.E164 {
					t.Fatalf("%+v: %q as %s is %q, which reads back as %+v, %v", plan, in, f, s, back, err)
				}
			}
		}
	})
}

// FuzzRoute: whatever is dialled, Route never panics, Explain decides the same, and no
// decision allows a call without a trunk or presents a number the project does not own.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"0221234567", "112", "+442071234567", "0700123456", "*31#", "x", "", "00"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(7))
	}
	rules := append(ukPlRules(),
		denyRule(10, 5, anyone, Dest{Pattern: "_0700XXXXXX"}, 0, "premium"),
		denyRule(11, 6, Who{Kind: WhoDepartment, Value: "support"}, Dest{Prefixes: []string{"00"}}, 603, ""),
		func() Rule {
			r := allowRule(12, 7, Who{Kind: WhoAccount, Value: "bob-soft"}, Dest{MaxLength: 6}, withheld, 3)
			r.Action.Strip, r.Action.Prepend = 2, "+4822"
			return r
		}(),
	)
	tab, err := NewTable(rules, testOptions())
	if err != nil {
		f.Fatal(err)
	}
	callers := []Caller{ann, bob, carol, dave, eve, frank, {}, {Account: "x", DefaultCLIP: "+", MayDialAny: true}}
	f.Fuzz(func(t *testing.T, dialled string, who uint8) {
		c := callers[int(who)%len(callers)]
		d := tab.Route(c, dialled)
		ex := tab.Explain(c, dialled)
		if !reflect.DeepEqual(d, ex.Decision) {
			t.Fatalf("Route %+v != Explain %+v", d, ex.Decision)
		}
		if d.Reason == "" {
			t.Fatalf("no reason: %+v", d)
		}
		switch d.Action {
		case Allow:
			if len(d.Trunks) == 0 || d.SIPCode != 0 {
				t.Fatalf("allowed without trunks or with a code: %+v", d)
			}
			if (d.CLIP == nil) != d.Withheld {
				t.Fatalf("clip and withheld disagree: %+v", d)
			}
			if d.CLIP != nil && !tab.IsProjectNumber(*d.CLIP) {
				t.Fatalf("presents %s, not a project number", *d.CLIP)
			}
			if d.Asserted != "" && !tab.IsProjectNumber(d.Asserted) {
				t.Fatalf("asserts %s, not a project number", d.Asserted)
			}
			if !d.Rewritten && d.Dialled != ex.Dialled {
				t.Fatalf("dialled changed without a rewrite: %+v", d)
			}
		case Deny:
			if d.SIPCode < 400 || d.SIPCode > 699 || len(d.Trunks) != 0 || d.CLIP != nil {
				t.Fatalf("bad deny: %+v", d)
			}
			if d.Emergency && d.SIPCode != 503 {
				t.Fatalf("an emergency call denied by a rule: %+v", d)
			}
		default:
			t.Fatalf("action %q", d.Action)
		}
		if c.OutboundBlocked && d.Action == Allow && !d.Emergency {
			t.Fatalf("a blocked account got out: %+v", d)
		}
	})
}
