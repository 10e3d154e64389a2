package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

// polish is the numbering plan of the routing tests: +48, 9-digit national numbers.
func polish(c *Config) {
	c.Routing.Numbering = routing.Numbering{CountryCode: "48", InternationalPrefix: "00", NationalLength: 9}
}

func allowRule(name string, trunks ...int64) map[string]any {
	return map[string]any{"name": name, "who": map[string]any{"kind": "any"},
		"action": map[string]any{"kind": "allow", "clip": map[string]any{"mode": "user_default"}, "trunks": trunks}}
}

func denyRule(name string) map[string]any {
	return map[string]any{"name": name, "action": map[string]any{"kind": "deny"}}
}

func (e *env) order(ids ...int64) {
	e.t.Helper()
	res := e.do("PUT", "/api/v1/outbound-rules/order", testAdminToken, map[string]any{"ids": ids})
	require.Equal(e.t, http.StatusOK, res.status, "body: %s", res.body)
}

func (e *env) createRule(body map[string]any) store.OutboundRule {
	e.t.Helper()
	res := e.do("POST", "/api/v1/outbound-rules", testAdminToken, body)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var r store.OutboundRule
	res.decode(e.t, &r)
	return r
}

func (e *env) listRules() []store.OutboundRule {
	e.t.Helper()
	res := e.do("GET", "/api/v1/outbound-rules", testAdminToken, nil)
	require.Equal(e.t, http.StatusOK, res.status, "body: %s", res.body)
	var rs []store.OutboundRule
	res.decode(e.t, &rs)
	return rs
}

// explanation is the explain answer with the contract's raw fields kept.
type explanation struct {
	RuleID  *int64            `json:"rule_id"`
	Action  string            `json:"action"`
	SIPCode int               `json:"sip_code"`
	Reason  string            `json:"reason"`
	Dialled string            `json:"dialled"`
	CLIP    *string           `json:"clip"`
	Trunks  []int64           `json:"trunks"`
	Trace   []json.RawMessage `json:"trace"`
	raw     map[string]any
}

func (e *env) explain(token, from, to string) explanation {
	e.t.Helper()
	res := e.do("POST", "/api/v1/routing/explain", token, map[string]any{"from": from, "to": to})
	require.Equal(e.t, http.StatusOK, res.status, "body: %s", res.body)
	var x explanation
	res.decode(e.t, &x)
	res.decode(e.t, &x.raw)
	return x
}

// callers makes a sales user with a SIP account "anna-desk" (default CLIP a project number,
// may dial any), returning the user.
func (e *env) routingFixture() (store.User, trunkJSON, store.Number) {
	e.t.Helper()
	tr := e.createTrunk(validTrunk("provider"))
	u := validUser("anna", "201")
	u["department"], u["default_clip"], u["may_dial_any"] = "Sales", "+48221234567", true
	user := e.createUser(u)
	e.createSIPAccount(user.ID, map[string]any{"username": "anna-desk", "password": "correct horse"})
	n := e.createNumber(validNumber("+48221234567", "201"))
	return user, tr, n
}

func TestOutboundRuleCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(polish))
	_, tr, _ := e.routingFixture()
	require.Empty(t, e.listRules())

	body := allowRule("uk calls", tr.ID)
	body["dest"] = map[string]any{"prefixes": []string{"0044"}, "country_codes": []string{"44"}, "min_length": 8,
		"max_length": 15, "pattern": "_X."}
	body["action"].(map[string]any)["failover_codes"] = []int{503}
	res := e.do("POST", "/api/v1/outbound-rules", testAdminToken, body)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	var a store.OutboundRule
	res.decode(t, &a)
	require.Equal(t, fmt.Sprintf("/api/v1/outbound-rules/%d", a.ID), res.header.Get("Location"))
	require.Equal(t, 1, a.Position)
	require.True(t, a.Enabled)
	require.Equal(t, routing.Who{Kind: routing.WhoAny}, a.Who)
	require.Equal(t, []string{"0044"}, a.Dest.Prefixes)
	require.Equal(t, []int64{tr.ID}, a.Action.Trunks)
	require.Equal(t, []int{503}, a.Action.FailoverCodes)

	b := e.createRule(map[string]any{"name": "premium", "enabled": false, "dest": map[string]any{"prefixes": []string{"0700"}},
		"action": map[string]any{"kind": "deny", "sip_code": 603, "reason": "premium-rate"}})
	require.Equal(t, 2, b.Position)
	require.False(t, b.Enabled)
	require.Equal(t, routing.WhoAny, b.Who.Kind, "no who is anyone")

	one := fmt.Sprintf("/api/v1/outbound-rules/%d", b.ID)
	var got store.OutboundRule
	res = e.do("GET", one, testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	res.decode(t, &got)
	require.Equal(t, b, got)

	// PUT is a full update; a missing position keeps the place.
	got = store.OutboundRule{}
	res = e.do("PUT", one, testAdminToken, map[string]any{"name": "premium2", "who": map[string]any{"kind": "department", "value": "sales"},
		"action": map[string]any{"kind": "deny"}})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res.decode(t, &got)
	require.Equal(t, "premium2", got.Name)
	require.Equal(t, 2, got.Position)
	require.True(t, got.Enabled)
	require.Empty(t, got.Dest.Prefixes)
	require.Equal(t, routing.Who{Kind: routing.WhoDepartment, Value: "sales"}, got.Who)

	require.Equal(t, http.StatusNotFound, e.do("GET", "/api/v1/outbound-rules/999", testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.do("PUT", "/api/v1/outbound-rules/999", testAdminToken, denyRule("x")).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", "/api/v1/outbound-rules/999", testAdminToken, nil).status)

	// The trunk is in use: it cannot go.
	p := e.do("DELETE", fmt.Sprintf("/api/v1/trunks/%d", tr.ID), testAdminToken, nil).problem(t)
	require.Equal(t, http.StatusConflict, p.Status)
	require.Contains(t, p.Detail, "uk calls")

	require.Equal(t, http.StatusNoContent, e.do("DELETE", one, testAdminToken, nil).status)
	require.Equal(t, []int64{a.ID}, ruleIDsOf(e.listRules()))
}

func ruleIDsOf(rs []store.OutboundRule) []int64 {
	out := []int64{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestOutboundRuleOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(polish))
	a := e.createRule(denyRule("a"))
	b := e.createRule(denyRule("b"))
	c := e.createRule(denyRule("c"))
	res := e.do("PUT", "/api/v1/outbound-rules/order", testAdminToken, map[string]any{"ids": []int64{c.ID, a.ID, b.ID}})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var rs []store.OutboundRule
	res.decode(t, &rs)
	require.Equal(t, []int64{c.ID, a.ID, b.ID}, ruleIDsOf(rs))
	require.Equal(t, []int64{c.ID, a.ID, b.ID}, ruleIDsOf(e.listRules()))
	for _, bad := range [][]int64{{c.ID, a.ID}, {c.ID, a.ID, a.ID}, {c.ID, a.ID, b.ID, 99}, {}} {
		p := e.do("PUT", "/api/v1/outbound-rules/order", testAdminToken, map[string]any{"ids": bad}).problem(t)
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Equal(t, []string{"ids"}, fieldsOf(p))
	}
	require.Equal(t, []int64{c.ID, a.ID, b.ID}, ruleIDsOf(e.listRules()))
	// A position given on create puts the rule there.
	d := denyRule("d")
	d["position"] = 1
	dr := e.createRule(d)
	require.Equal(t, 1, dr.Position)
	require.Equal(t, []int64{c.ID, dr.ID, a.ID, b.ID}, ruleIDsOf(e.listRules()), "ties by id")
}

func TestOutboundRuleValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(polish))
	_, tr, n := e.routingFixture()

	// A spoofed CLIP is refused, naming the field; nothing is saved.
	spoof := allowRule("spoof", tr.ID)
	spoof["action"].(map[string]any)["clip"] = map[string]any{"mode": "number", "number": "+48229999999"}
	p := e.do("POST", "/api/v1/outbound-rules", testAdminToken, spoof).problem(t)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, []string{"action.clip.number"}, fieldsOf(p))
	require.Empty(t, e.listRules())

	// Unknown trunk.
	p = e.do("POST", "/api/v1/outbound-rules", testAdminToken, allowRule("x", tr.ID, 999)).problem(t)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, []string{"action.trunks[1]"}, fieldsOf(p))

	// More: every bad field named at once.
	p = e.do("POST", "/api/v1/outbound-rules", testAdminToken, map[string]any{"name": "",
		"dest":   map[string]any{"pattern": "_[", "min_length": 9, "max_length": 3},
		"action": map[string]any{"kind": "allow", "failover_codes": []int{486}}}).problem(t)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, fieldsOf(p), "name")
	require.Contains(t, fieldsOf(p), "dest.pattern")
	require.Contains(t, fieldsOf(p), "action.failover_codes[0]")
	p = e.do("POST", "/api/v1/outbound-rules", testAdminToken, map[string]any{"name": "x",
		"action": map[string]any{"kind": "deny", "sip_code": 401}}).problem(t)
	require.Equal(t, []string{"action.sip_code"}, fieldsOf(p))
	require.Equal(t, http.StatusBadRequest, e.do("POST", "/api/v1/outbound-rules", testAdminToken,
		map[string]any{"name": "x", "action": map[string]any{"kind": "allow"}, "bogus": 1}, specInvalid).status)
	require.Empty(t, e.listRules())

	// A real number is fine; a PUT spoofing it is refused and changes nothing.
	good := allowRule("good", tr.ID)
	good["action"].(map[string]any)["clip"] = map[string]any{"mode": "number", "number": "0048221234567"}
	r := e.createRule(good)
	one := fmt.Sprintf("/api/v1/outbound-rules/%d", r.ID)
	p = e.do("PUT", one, testAdminToken, spoof).problem(t)
	require.Equal(t, []string{"action.clip.number"}, fieldsOf(p))
	require.Equal(t, "good", e.listRules()[0].Name)

	// The number it presents cannot be deleted nor changed.
	num := fmt.Sprintf("/api/v1/numbers/%d", n.ID)
	p = e.do("DELETE", num, testAdminToken, nil).problem(t)
	require.Equal(t, http.StatusConflict, p.Status)
	require.Equal(t, []string{"number"}, fieldsOf(p))
	p = e.do("PUT", num, testAdminToken, validNumber("+48221234599", "201")).problem(t)
	require.Equal(t, http.StatusConflict, p.Status)
	require.Equal(t, []string{"number"}, fieldsOf(p))
	require.Equal(t, http.StatusOK, e.do("PUT", num, testAdminToken, validNumber("+48221234567", "201")).status)

	// Once the rule is gone, the number may go.
	require.Equal(t, http.StatusNoContent, e.do("DELETE", one, testAdminToken, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", num, testAdminToken, nil).status)
}

func TestExplain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(polish))
	user, tr, _ := e.routingFixture()
	e.createNumber(validNumber("+48221234500", "201"))

	// No rule: deny 403.
	x := e.explain(testAdminToken, "anna-desk", "0048601234567")
	require.Equal(t, "deny", x.Action)
	require.Equal(t, 403, x.SIPCode)
	require.Nil(t, x.RuleID)
	require.Contains(t, x.raw, "rule_id")

	// Allowed with the user's default CLIP.
	all := e.createRule(allowRule("everyone", tr.ID))
	x = e.explain(testAdminToken, "anna-desk", "601 234 567")
	require.Equal(t, "allow", x.Action)
	require.Equal(t, all.ID, *x.RuleID)
	require.NotNil(t, x.CLIP)
	require.Equal(t, "+48221234567", *x.CLIP)
	require.Equal(t, []int64{tr.ID}, x.Trunks)
	require.Equal(t, "601234567", x.Dialled)
	require.NotContains(t, x.raw, "sip_code")
	require.Len(t, x.Trace, 1)
	for _, k := range []string{"rule_id", "reason", "action", "dialled", "clip", "trunks"} {
		require.Contains(t, x.raw, k)
	}

	// Rules take effect at once: a withheld CLIP ahead of it.
	hide := allowRule("hide uk", tr.ID)
	hide["position"] = 1
	hide["dest"] = map[string]any{"country_codes": []string{"44"}}
	hide["action"].(map[string]any)["clip"] = map[string]any{"mode": "withheld"}
	h := e.createRule(hide)
	e.order(h.ID, all.ID)
	x = e.explain(testAdminToken, "anna-desk", "00442071234567")
	require.Equal(t, "allow", x.Action)
	require.Equal(t, h.ID, *x.RuleID)
	require.Nil(t, x.CLIP)
	require.Nil(t, x.raw["clip"])
	require.Contains(t, x.raw, "clip")

	// A PUT changes the answer right away: deny 603.
	res := e.do("PUT", fmt.Sprintf("/api/v1/outbound-rules/%d", h.ID), testAdminToken, map[string]any{"name": "no uk",
		"dest": map[string]any{"country_codes": []string{"44"}}, "action": map[string]any{"kind": "deny", "sip_code": 603}})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	x = e.explain(testAdminToken, "anna-desk", "00442071234567")
	require.Equal(t, "deny", x.Action)
	require.Equal(t, 603, x.SIPCode)
	require.Equal(t, h.ID, *x.RuleID)
	require.Nil(t, x.CLIP)
	require.Empty(t, x.Trunks)

	// A number for the department (Ringostat).
	dept := allowRule("sales number", tr.ID)
	dept["position"] = 1
	dept["who"] = map[string]any{"kind": "department", "value": "sales"}
	dept["action"].(map[string]any)["clip"] = map[string]any{"mode": "number", "number": "+48221234500"}
	dr := e.createRule(dept)
	e.order(dr.ID, h.ID, all.ID)
	x = e.explain(testAdminToken, "anna-desk", "601234567")
	require.Equal(t, "+48221234500", *x.CLIP)

	// An emergency number is allowed, even for a blocked account.
	other := validUser("bart", "202")
	other["may_dial_any"] = true
	bart := e.createUser(other)
	e.createSIPAccount(bart.ID, map[string]any{"username": "bart-desk", "password": "correct horse", "outbound_blocked": true})
	x = e.explain(testAdminToken, "bart-desk", "601234567")
	require.Equal(t, "deny", x.Action)
	require.Equal(t, 403, x.SIPCode)
	require.Nil(t, x.RuleID)
	require.Contains(t, x.Reason, "block")
	x = e.explain(testAdminToken, "bart-desk", "112")
	require.Equal(t, "allow", x.Action)
	require.Equal(t, true, x.raw["emergency"])
	require.Equal(t, []int64{tr.ID}, x.Trunks)

	// may_dial_any off keeps an agent to internal numbers.
	c := validUser("cyra", "203")
	cyra := e.createUser(c)
	e.createSIPAccount(cyra.ID, map[string]any{"username": "cyra-desk", "password": "correct horse"})
	x = e.explain(testAdminToken, "cyra-desk", "601234567")
	require.Equal(t, "deny", x.Action)
	require.Equal(t, 403, x.SIPCode)
	require.Contains(t, x.Reason, "may_dial_any")
	require.Equal(t, "allow", e.explain(testAdminToken, "cyra-desk", "999").Action)

	// Unknown from.
	p := e.do("POST", "/api/v1/routing/explain", testAdminToken, map[string]any{"from": "nobody", "to": "601234567"}).problem(t)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, []string{"from"}, fieldsOf(p))
	p = e.do("POST", "/api/v1/routing/explain", testAdminToken, map[string]any{"from": "", "to": ""}).problem(t)
	require.Equal(t, []string{"from", "to"}, fieldsOf(p))
	_ = user
}

func TestOutboundRuleRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(polish))
	e.routingFixture()
	_, agent := e.userWithToken("agent", "211", "agent")
	_, sup := e.userWithToken("super", "212", "supervisor")
	r := e.createRule(denyRule("a"))
	one := fmt.Sprintf("/api/v1/outbound-rules/%d", r.ID)
	order := map[string]any{"ids": []int64{r.ID}}
	explain := map[string]any{"from": "anna-desk", "to": "601234567"}
	for _, rq := range []struct {
		method, path string
		body         any
	}{{"GET", "/api/v1/outbound-rules", nil}, {"GET", one, nil}, {"POST", "/api/v1/outbound-rules", denyRule("b")},
		{"PUT", one, denyRule("b")}, {"DELETE", one, nil}, {"PUT", "/api/v1/outbound-rules/order", order},
		{"POST", "/api/v1/routing/explain", explain}} {
		require.Equal(t, http.StatusForbidden, e.do(rq.method, rq.path, agent, rq.body).status, "%s %s", rq.method, rq.path)
	}
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/outbound-rules", sup, nil).status)
	require.Equal(t, http.StatusOK, e.do("GET", one, sup, nil).status)
	require.Equal(t, http.StatusOK, e.do("POST", "/api/v1/routing/explain", sup, explain).status)
	require.Equal(t, http.StatusForbidden, e.do("POST", "/api/v1/outbound-rules", sup, denyRule("b")).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", one, sup, denyRule("b")).status)
	require.Equal(t, http.StatusForbidden, e.do("DELETE", one, sup, nil).status)
	require.Equal(t, http.StatusForbidden, e.do("PUT", "/api/v1/outbound-rules/order", sup, order).status)
	require.Equal(t, http.StatusUnauthorized, e.do("GET", "/api/v1/outbound-rules", "", nil, specInvalid).status)
}
