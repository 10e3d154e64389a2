package routing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// SIP codes of decisions no rule made.
const (
	codeBadNumber = 484 // Address Incomplete: the dialled string is not a number
	codeNoTable   = 503 // no rules loaded, or nowhere to send an emergency call
)

// Route decides an outbound call from c to the dialled number. In order:
//
//  1. A dialled string that is not a number is denied with 484.
//  2. An emergency number is always allowed, for every caller, blocked or not: the first
//     matching enabled allow rule gives CLIP, trunks and failover codes (deny rules are
//     skipped; digits are never rewritten), else the emergency trunks carry it.
//  3. A blocked SIP account (OutboundBlocked) is denied with 403.
//  4. A caller with MayDialAny off is denied with 403 (internal calls never get here).
//  5. The first enabled rule, by Position then ID, whose Who and Dest match decides.
//     An allow rule whose CLIP cannot be presented (no default CLIP, or one the project
//     does not own) denies with 403 rather than present an unowned number.
//  6. No rule matches: denied with 403.
//
// A nil *Table denies everything with 503.
func (t *Table) Route(c Caller, dialled string) Decision {
	return t.decide(c, dialled, nil)
}

// Explain is Route with a trace of every rule considered (for the admin API's explain
// call). It places no call and changes nothing.
func (t *Table) Explain(c Caller, dialled string) Explanation {
	trace := []Step{}
	d := t.decide(c, dialled, &trace)
	return Explanation{Decision: d, Trace: trace}
}

func (t *Table) decide(c Caller, dialled string, trace *[]Step) Decision {
	if t == nil {
		return Decision{Action: Deny, SIPCode: codeNoTable, Reason: "no outbound rules are loaded", Dialled: dialled}
	}
	num, err := t.numbering.Normalise(dialled)
	if err != nil {
		return Decision{Action: Deny, SIPCode: codeBadNumber, Reason: err.Error(), Dialled: dialled}
	}
	if t.isEmergency(num) {
		return t.routeEmergency(c, t.target(num), trace)
	}
	denied := Decision{Action: Deny, SIPCode: DefaultDenyCode, Dialled: num.Dialled, E164: num.E164}
	if c.OutboundBlocked {
		denied.Reason = fmt.Sprintf("outbound calls are blocked for %s: it may only receive calls", describeCaller(c))
		return denied
	}
	if !c.MayDialAny {
		denied.Reason = fmt.Sprintf("%s may dial internal numbers only (may_dial_any is off)", describeCaller(c))
		return denied
	}
	explain := trace != nil
	g := t.target(num)
	c.Department = strings.TrimSpace(c.Department)
	for i := range t.match {
		m := &t.match[i]
		if !m.enabled {
			addStep(trace, &t.rules[i], false, "rule is disabled")
			continue
		}
		ok, why := m.test(&c, &g, explain)
		if !ok {
			addStep(trace, &t.rules[i], false, why)
			continue
		}
		if !explain {
			_, why = m.test(&c, &g, true)
		}
		r := &t.rules[i]
		d, note := t.apply(r, c, num)
		d.Reason = fmt.Sprintf("rule %d %q matched: %s%s", r.ID, r.Name, why, note)
		addStep(trace, r, true, why+note)
		return d
	}
	denied.Reason = fmt.Sprintf("no outbound rule matches %s for %s", describeNumber(num), describeCaller(c))
	return denied
}

// apply carries out a matching rule's action. note goes after the match description in
// the reason.
func (t *Table) apply(r *rule, c Caller, num Number) (d Decision, note string) {
	a := &r.Action
	d = Decision{RuleID: r.ID, Dialled: num.Dialled, E164: num.E164}
	if a.Kind == Deny {
		d.Action, d.SIPCode = Deny, a.SIPCode
		note = "; denied with " + strconv.Itoa(a.SIPCode)
		if a.Reason != "" {
			note += ": " + a.Reason
		}
		return d, note
	}
	if a.Strip > 0 || a.Prepend != "" {
		s := ""
		if a.Strip < len(num.Dialled) {
			s = num.Dialled[a.Strip:]
		}
		s = a.Prepend + s
		if _, err := t.numbering.Normalise(s); err != nil {
			d.Action, d.SIPCode = Deny, codeBadNumber
			return d, fmt.Sprintf("; but strip %d and prepend %q turn %s into %q, which is not a number",
				a.Strip, a.Prepend, num.Dialled, s)
		}
		d.Dialled, d.Rewritten = s, true
	}
	switch a.CLIP.Mode {
	case CLIPNumber:
		d.CLIP, d.Asserted = ptr(r.clipNumber), r.clipNumber
	case CLIPWithheld:
		d.Withheld, d.Asserted = true, r.clipNumber
		if d.Asserted == "" {
			d.Asserted, _ = t.callerCLIP(c)
		}
	default: // CLIPUserDefault
		e, why := t.callerCLIP(c)
		if why != "" {
			d.Action, d.SIPCode = Deny, DefaultDenyCode
			return d, "; but " + why + ", and only numbers the project owns are presented"
		}
		d.CLIP, d.Asserted = ptr(e), e
	}
	d.Action = Allow
	d.Trunks = slices.Clone(r.trunks)
	d.FailoverCodes = slices.Clone(a.FailoverCodes)
	if a.Reason != "" {
		note = "; " + a.Reason
	}
	return d, note
}

func (t *Table) isEmergency(num Number) bool {
	if len(t.emergency) == 0 {
		return false
	}
	if _, ok := t.emergency[num.Dialled]; ok {
		return true
	}
	_, ok := t.emergency[num.E164]
	return ok && num.E164 != ""
}

// routeEmergency: always allowed, never rewritten, never denied by a rule.
func (t *Table) routeEmergency(c Caller, g target, trace *[]Step) Decision {
	num, explain := g.Number, trace != nil
	c.Department = strings.TrimSpace(c.Department)
	var via *rule
	for i := range t.match {
		r := &t.rules[i]
		if !t.match[i].enabled {
			addStep(trace, r, false, "rule is disabled")
			continue
		}
		ok, why := t.match[i].test(&c, &g, explain)
		switch {
		case !ok:
			addStep(trace, r, false, why)
			continue
		case r.Action.Kind == Deny:
			addStep(trace, r, true, why+"; skipped: emergency calls are never denied")
			continue
		}
		addStep(trace, r, true, why+"; carries the emergency call (digits not rewritten)")
		via = r
		break
	}

	d := Decision{Action: Allow, Dialled: num.Dialled, E164: num.E164, Emergency: true}
	reason := num.Dialled + " is an emergency number: always allowed"
	fallback := func(why string) {
		switch {
		case t.emergencyCLIP != "":
			d.CLIP, d.Asserted = ptr(t.emergencyCLIP), t.emergencyCLIP
		default:
			d.Withheld = true
			reason += "; no number presented: " + why
		}
	}
	if via != nil {
		d.RuleID = via.ID
		d.Trunks = slices.Clone(via.trunks)
		d.FailoverCodes = slices.Clone(via.Action.FailoverCodes)
		reason += fmt.Sprintf("; routed by rule %d %q", via.ID, via.Name)
		switch via.Action.CLIP.Mode {
		case CLIPNumber:
			d.CLIP, d.Asserted = ptr(via.clipNumber), via.clipNumber
		case CLIPWithheld:
			d.Withheld, d.Asserted = true, via.clipNumber
			if d.Asserted == "" {
				d.Asserted, _ = t.callerCLIP(c)
			}
			if d.Asserted == "" {
				d.Asserted = t.emergencyCLIP
			}
		default:
			if e, why := t.callerCLIP(c); why == "" {
				d.CLIP, d.Asserted = ptr(e), e
			} else {
				fallback(why)
			}
		}
	} else {
		d.Trunks = slices.Clone(t.emergencyTrunks)
		d.FailoverCodes = DefaultFailoverCodes()
		if len(d.Trunks) == 0 {
			return Decision{Action: Deny, SIPCode: codeNoTable, Dialled: num.Dialled, E164: num.E164,
				Emergency: true, Reason: num.Dialled + " is an emergency number, but no allow rule matches " +
					"and no emergency or default trunks are set: configure them"}
		}
		reason += "; no allow rule matches: routed to the emergency trunks"
		switch e, why := t.callerCLIP(c); {
		case t.emergencyCLIP != "":
			d.CLIP, d.Asserted = ptr(t.emergencyCLIP), t.emergencyCLIP
		case why == "":
			d.CLIP, d.Asserted = ptr(e), e
		default:
			fallback(why)
		}
	}
	d.Reason = reason
	return d
}

// callerCLIP is the caller's default CLIP in E.164 form if the project owns it; otherwise
// why says why not.
func (t *Table) callerCLIP(c Caller) (e string, why string) {
	if c.DefaultCLIP == "" {
		return "", describeCaller(c) + " has no default CLIP"
	}
	e, msg := t.e164(c.DefaultCLIP)
	if msg != "" {
		return "", fmt.Sprintf("the default CLIP of %s is not a number: %s", describeCaller(c), msg)
	}
	if _, ok := t.project[e]; !ok {
		return "", fmt.Sprintf("the default CLIP %s of %s is not a project number", e, describeCaller(c))
	}
	return e, ""
}

func describeCaller(c Caller) string {
	switch {
	case c.Account != "" && c.UserID != 0:
		return fmt.Sprintf("SIP account %s (user %d)", c.Account, c.UserID)
	case c.Account != "":
		return "SIP account " + c.Account
	case c.UserID != 0:
		return fmt.Sprintf("user %d", c.UserID)
	}
	return "the caller"
}

func describeNumber(num Number) string {
	if num.E164 == "" || num.E164 == num.Dialled {
		return num.Dialled
	}
	return num.Dialled + " (" + num.E164 + ")"
}

func addStep(trace *[]Step, r *rule, matched bool, why string) {
	if trace != nil {
		*trace = append(*trace, Step{RuleID: r.ID, Name: r.Name, Matched: matched, Why: why})
	}
}

func ptr(s string) *string { return &s }
