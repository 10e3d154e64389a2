package routing

import (
	"fmt"
	"strings"
)

// matcher is the part of a rule that Route reads for every rule it passes: kept apart
// from the rest (names, actions) so that scanning a few hundred rules stays in cache.
type matcher struct {
	enabled   bool
	who       WhoKind
	value     string // Who.Value: account, department (trimmed) or user id
	userID    int64
	minLen    int
	maxLen    int
	countries []string // without '+'
	prefixes  []string // a '+' one matches the E.164 form only
	pattern   *Pattern
}

// target is a dialled number in every form rules match on.
type target struct {
	Number
	// forms are what prefixes and patterns without '+' are tried on: as dialled, in
	// national form, as E.164 digits; empty where absent or the same as an earlier one.
	forms [3]string
}

func (t *Table) target(num Number) target {
	g := target{Number: num}
	g.forms[0] = num.Dialled
	if num.E164 != "" {
		if national := t.numbering.FormatNational(num); national != num.Dialled {
			g.forms[1] = national
		}
		if d := num.E164[1:]; d != num.Dialled && d != g.forms[1] {
			g.forms[2] = d
		}
	}
	return g
}

// test checks Who, then the Dest criteria from the cheapest. c.Department must be
// trimmed. why is built only when explain is set: everything that matched, or the first
// criterion that did not.
func (m *matcher) test(c *Caller, g *target, explain bool) (ok bool, why string) {
	if !m.matchWho(c) {
		if explain {
			why = m.whoMismatch(c)
		}
		return false, why
	}
	var parts []string
	if explain {
		parts = append(parts, m.whoMatch())
	}
	if len(m.countries) > 0 {
		cc := m.country(g)
		if cc == "" {
			switch {
			case !explain:
			case g.E164 == "":
				why = fmt.Sprintf("%s is a short number, without a country code", g.Dialled)
			default:
				why = fmt.Sprintf("%s is not in country code %s", g.E164, strings.Join(m.countries, " or "))
			}
			return false, why
		}
		if explain {
			parts = append(parts, fmt.Sprintf("%s is in country code %s", g.E164, cc))
		}
	}
	if m.minLen > 0 || m.maxLen > 0 {
		n := len(g.Dialled)
		if g.E164 != "" {
			n = len(g.E164) - 1
		}
		ok := n >= m.minLen && (m.maxLen == 0 || n <= m.maxLen)
		if explain {
			not := ""
			if !ok {
				not = "not "
			}
			why = fmt.Sprintf("length %d of %s is %swithin %s", n, describeNumber(g.Number), not, lengthRange(m.minLen, m.maxLen))
			parts = append(parts, why)
		}
		if !ok {
			return false, why
		}
	}
	if len(m.prefixes) > 0 {
		form, p := m.prefix(g)
		if p == "" {
			if explain {
				why = fmt.Sprintf("%s does not start with %s", describeNumber(g.Number), strings.Join(m.prefixes, ", "))
			}
			return false, why
		}
		if explain {
			parts = append(parts, fmt.Sprintf("%s starts with %s", form, p))
		}
	}
	if m.pattern != nil {
		form := m.patternMatch(g)
		if form == "" {
			if explain {
				why = fmt.Sprintf("%s does not match pattern %s", describeNumber(g.Number), m.pattern)
			}
			return false, why
		}
		if explain {
			parts = append(parts, fmt.Sprintf("%s matches pattern %s", form, m.pattern))
		}
	}
	if explain && len(parts) == 1 {
		parts = append(parts, "any destination")
	}
	return true, strings.Join(parts, "; ")
}

func (m *matcher) matchWho(c *Caller) bool {
	switch m.who {
	case WhoAccount:
		return c.Account == m.value
	case WhoUser:
		return c.UserID == m.userID
	case WhoDepartment:
		return strings.EqualFold(c.Department, m.value)
	}
	return true // WhoAny
}

func (m *matcher) whoMatch() string {
	switch m.who {
	case WhoAccount:
		return "SIP account is " + m.value
	case WhoUser:
		return "caller is user " + m.value
	case WhoDepartment:
		return "department is " + m.value
	}
	return "any caller"
}

func (m *matcher) whoMismatch(c *Caller) string {
	switch m.who {
	case WhoAccount:
		return fmt.Sprintf("SIP account is %q, not %q", c.Account, m.value)
	case WhoUser:
		return fmt.Sprintf("caller is user %d, not %s", c.UserID, m.value)
	}
	return fmt.Sprintf("department is %q, not %q", c.Department, m.value)
}

// country returns the first of the rule's country codes the number is in, or "".
func (m *matcher) country(g *target) string {
	if g.E164 == "" {
		return ""
	}
	digits := g.E164[1:]
	for _, cc := range m.countries {
		if strings.HasPrefix(digits, cc) {
			return cc
		}
	}
	return ""
}

// prefix returns the form that matched and the prefix, or "", "".
func (m *matcher) prefix(g *target) (form, prefix string) {
	for _, p := range m.prefixes {
		if p[0] == '+' {
			if g.E164 != "" && strings.HasPrefix(g.E164, p) {
				return g.E164, p
			}
			continue
		}
		for _, f := range &g.forms {
			if f != "" && strings.HasPrefix(f, p) {
				return f, p
			}
		}
	}
	return "", ""
}

// patternMatch returns the form that matched, or "".
func (m *matcher) patternMatch(g *target) string {
	if m.pattern.plus {
		if g.E164 != "" && m.pattern.Match(g.E164) {
			return g.E164
		}
		return ""
	}
	for _, f := range &g.forms {
		if f != "" && m.pattern.Match(f) {
			return f
		}
	}
	return ""
}

func lengthRange(lo, hi int) string {
	switch {
	case hi == 0:
		return fmt.Sprintf("at least %d", lo)
	case lo == 0:
		return fmt.Sprintf("at most %d", hi)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}
