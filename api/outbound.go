package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

// Outbound rules, and the routing table built from them.
//
// The table (routing.Table) is a function of the outbound rules, the project numbers (every
// row of the numbers table) and Config.Routing. Every write that changes one of them takes
// s.routingMu, builds the candidate table in memory first (a change that would make
// routing.NewTable fail is refused and nothing is written), writes, then rebuilds the table
// from the store and swaps it into s.holder. Calls read the holder: rules take effect
// without a restart and never half-applied.

// Routing returns the holder of the current outbound routing table (for the call engine).
func (s *Server) Routing() *routing.Holder { return &s.holder }

// RebuildRouting builds the routing table from the store and makes it current. New calls
// it; call it again after changing rules, numbers or trunks behind the API's back.
func (s *Server) RebuildRouting(ctx context.Context) error {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	return s.rebuildLocked(ctx)
}

func (s *Server) rebuildLocked(ctx context.Context) error {
	rules, numbers, err := s.routingInputs(ctx)
	if err != nil {
		return err
	}
	t, err := s.buildTable(rules, numbers)
	if err != nil {
		return fmt.Errorf("outbound routing: %w", err)
	}
	s.holder.Store(t)
	return nil
}

// routingInputs reads the stored rules and project numbers.
func (s *Server) routingInputs(ctx context.Context) ([]routing.Rule, []string, error) {
	stored, err := s.store.ListOutboundRules(ctx)
	if err != nil {
		return nil, nil, err
	}
	ns, err := s.store.ListNumbers(ctx)
	if err != nil {
		return nil, nil, err
	}
	rules := make([]routing.Rule, len(stored))
	for i, r := range stored {
		rules[i] = r.Rule()
	}
	numbers := make([]string, len(ns))
	for i, n := range ns {
		numbers[i] = n.Number
	}
	return rules, numbers, nil
}

// buildTable is routing.NewTable with the configured options. An emergency_clip the project
// does not own (yet) is left out with a warning rather than failing every change.
func (s *Server) buildTable(rules []routing.Rule, numbers []string) (*routing.Table, error) {
	rc := s.cfg.Routing
	o := routing.Options{Numbering: rc.Numbering, ProjectNumbers: numbers, Emergency: rc.Emergency,
		EmergencyTrunks: rc.EmergencyTrunks, EmergencyCLIP: rc.EmergencyCLIP}
	t, err := routing.NewTable(rules, o)
	var ve *routing.ValidationError
	if errors.As(err, &ve) && o.EmergencyCLIP != "" && !slices.ContainsFunc(ve.Errors, func(f routing.FieldError) bool {
		return f.Field != "options.emergency_clip"
	}) {
		s.log.Warn("routing emergency_clip is not a project number: emergency calls present no fallback number",
			"emergency_clip", o.EmergencyCLIP)
		o.EmergencyCLIP = ""
		t, err = routing.NewTable(rules, o)
	}
	return t, err
}

// emergencyCLIPActive reports whether the current table presents the configured
// emergency_clip (so the number must not go).
func (s *Server) emergencyCLIPActive() bool {
	t := s.holder.Load()
	return t != nil && s.cfg.Routing.EmergencyCLIP != "" && t.IsProjectNumber(s.cfg.Routing.EmergencyCLIP)
}

// ruleInput is the body of POST and PUT /api/v1/outbound-rules[/{id}] (PUT is a full
// update, except that a missing position keeps the rule's place).
type ruleInput struct {
	Name     string         `json:"name"`
	Enabled  *bool          `json:"enabled"`  // default true
	Position *int           `json:"position"` // default: last (POST), unchanged (PUT)
	Who      routing.Who    `json:"who"`
	Dest     routing.Dest   `json:"dest"`
	Action   routing.Action `json:"action"`
}

const maxRulePosition = 1_000_000

func (in ruleInput) apply(r *store.OutboundRule) {
	r.Name, r.Who, r.Dest, r.Action = in.Name, in.Who, in.Dest, in.Action
	if r.Who.Kind == "" {
		r.Who.Kind = routing.WhoAny
	}
	r.Enabled = in.Enabled == nil || *in.Enabled
	if in.Position != nil {
		r.Position = *in.Position
	}
}

// checkRule validates r as the rule at its place in the table that would result: the
// API's own checks (name, position, trunks that exist), then routing.NewTable on the
// whole candidate list. others are the other stored rules.
func (s *Server) checkRule(ctx context.Context, r store.OutboundRule, others []store.OutboundRule) error {
	var bad fieldErrors
	checkName(&bad, "name", r.Name, true)
	if r.Position < 0 || r.Position > maxRulePosition {
		bad.add("position", "must be between 1 and %d (0 or none: last)", maxRulePosition)
	}
	if len(r.Action.Trunks) > 0 {
		trunks, err := s.store.ListTrunks(ctx)
		if err != nil {
			return err
		}
		for i, id := range r.Action.Trunks {
			if id > 0 && !slices.ContainsFunc(trunks, func(t store.Trunk) bool { return t.ID == id }) {
				bad.add(fmt.Sprintf("action.trunks[%d]", i), "no trunk has this id")
			}
		}
	}
	_, numbers, err := s.routingInputs(ctx)
	if err != nil {
		return err
	}
	rules := make([]routing.Rule, 0, len(others)+1)
	for _, o := range others {
		rules = append(rules, o.Rule())
	}
	idx := len(rules)
	cand := r.Rule()
	if cand.Position == 0 {
		cand.Position = maxRulePosition + 1
	}
	rules = append(rules, cand)
	if _, err := s.buildTable(rules, numbers); err != nil {
		var ve *routing.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		for _, f := range ve.Errors {
			switch {
			case f.Index == idx:
				if !slices.ContainsFunc(bad, func(e fieldError) bool { return e.Field == f.Field }) {
					bad.add(f.Field, "%s", f.Message)
				}
			case f.Index >= 0:
				bad.add(f.Field, "stored rule %d (%s): %s", f.RuleID, rules[f.Index].Name, f.Message)
			default:
				bad.add(f.Field, "%s", f.Message)
			}
		}
	}
	return bad.err()
}

func (s *Server) listOutboundRules(w http.ResponseWriter, r *http.Request) error {
	rules, err := s.store.ListOutboundRules(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rules)
}

func (s *Server) ruleFromPath(r *http.Request) (store.OutboundRule, error) {
	return fromPath(r, s.store.GetOutboundRule)
}

func (s *Server) getOutboundRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.ruleFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rule)
}

// rebuildAfter rebuilds the table after a write that was checked; a failure is logged (the
// write is done; the previous table stays current until the next change).
func (s *Server) rebuildAfter(ctx context.Context, what string) {
	if err := s.rebuildLocked(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("routing table not rebuilt after "+what, "error", err)
	}
}

func (s *Server) createOutboundRule(w http.ResponseWriter, r *http.Request) error {
	var in ruleInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	var rule store.OutboundRule
	in.apply(&rule)
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	others, err := s.store.ListOutboundRules(ctx)
	if err != nil {
		return err
	}
	if err := s.checkRule(ctx, rule, others); err != nil {
		return err
	}
	rule, err = s.store.CreateOutboundRule(ctx, rule)
	if err != nil {
		return err
	}
	s.rebuildAfter(ctx, "creating an outbound rule")
	s.log.Info("outbound rule created", "rule_id", rule.ID, "name", rule.Name, "action", rule.Action.Kind,
		"by", principalFrom(ctx).user.ID)
	w.Header().Set("Location", "/api/v1/outbound-rules/"+formatID(rule.ID))
	return writeJSON(w, http.StatusCreated, rule)
}

func (s *Server) putOutboundRule(w http.ResponseWriter, r *http.Request) error {
	var in ruleInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	all, err := s.store.ListOutboundRules(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(o store.OutboundRule) bool { return o.ID == id })
	if i < 0 {
		return errNotFound
	}
	rule := store.OutboundRule{ID: id, Position: all[i].Position}
	in.apply(&rule)
	if rule.Position == 0 {
		rule.Position = all[i].Position
	}
	if err := s.checkRule(ctx, rule, slices.Delete(slices.Clone(all), i, i+1)); err != nil {
		return err
	}
	rule, err = s.store.UpdateOutboundRule(ctx, rule)
	if err != nil {
		return err
	}
	s.rebuildAfter(ctx, "updating an outbound rule")
	s.log.Info("outbound rule updated", "rule_id", rule.ID, "name", rule.Name, "action", rule.Action.Kind,
		"by", principalFrom(ctx).user.ID)
	return writeJSON(w, http.StatusOK, rule)
}

func (s *Server) deleteOutboundRule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if err := s.store.DeleteOutboundRule(ctx, id); err != nil {
		return err
	}
	s.rebuildAfter(ctx, "deleting an outbound rule")
	s.log.Info("outbound rule deleted", "rule_id", id, "by", principalFrom(ctx).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type ruleOrder struct {
	IDs []int64 `json:"ids"`
}

func (s *Server) orderOutboundRules(w http.ResponseWriter, r *http.Request) error {
	var in ruleOrder
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	rules, err := s.store.ReorderOutboundRules(ctx, in.IDs)
	if errors.Is(err, store.ErrOrderMismatch) {
		var bad fieldErrors
		bad.add("ids", "must list the id of every outbound rule exactly once")
		return bad.err()
	}
	if err != nil {
		return err
	}
	s.rebuildAfter(ctx, "reordering outbound rules")
	s.log.Info("outbound rules reordered", "ids", in.IDs, "by", principalFrom(ctx).user.ID)
	return writeJSON(w, http.StatusOK, rules)
}

type explainInput struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// explain answers how a call from a SIP account to a number would be routed, without
// placing it.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) error {
	var in explainInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	var bad fieldErrors
	if in.From == "" {
		bad.add("from", "is required")
	}
	if strings.TrimSpace(in.To) == "" {
		bad.add("to", "is required")
	}
	if err := bad.err(); err != nil {
		return err
	}
	c, acct, err := s.store.RoutingCaller(ctx, in.From)
	if errors.Is(err, store.ErrNotFound) {
		bad.add("from", "no SIP account has this username")
		return bad.err()
	}
	if err != nil {
		return err
	}
	if acct.UserArchived {
		bad.add("from", "the SIP account's user is archived")
		return bad.err()
	}
	return writeJSON(w, http.StatusOK, s.holder.Load().Explain(c, in.To))
}

// checkNumbersChange refuses a change of the project numbers (numbers is the list after
// it) that a rule or the emergency_clip depends on: 409 naming number.
func (s *Server) checkNumbersChange(ctx context.Context, numbers []string) error {
	rules, _, err := s.routingInputs(ctx)
	if err != nil {
		return err
	}
	t, err := s.buildTable(rules, numbers)
	var ve *routing.ValidationError
	if errors.As(err, &ve) {
		var why []string
		for _, f := range ve.Errors {
			if f.Index >= 0 {
				why = append(why, fmt.Sprintf("outbound rule %d (%s) presents it", f.RuleID, rules[f.Index].Name))
			} else {
				why = append(why, f.Field+": "+f.Message)
			}
		}
		return &httpError{status: http.StatusConflict, detail: "the number is in use: " + strings.Join(why, "; "),
			fields: []fieldError{{Field: "number", Message: "in use by outbound routing"}}}
	}
	if err != nil {
		return err
	}
	if s.emergencyCLIPActive() && !t.IsProjectNumber(s.cfg.Routing.EmergencyCLIP) {
		return &httpError{status: http.StatusConflict, detail: "the number is in use: it is routing.emergency_clip in the configuration",
			fields: []fieldError{{Field: "number", Message: "in use as the emergency CLIP"}}}
	}
	return nil
}

// numbersWithout lists the project numbers, without the one with id and with extra added.
func (s *Server) numbersWithout(ctx context.Context, id int64, extra string) ([]string, error) {
	ns, err := s.store.ListNumbers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ns)+1)
	for _, n := range ns {
		if n.ID != id {
			out = append(out, n.Number)
		}
	}
	if extra != "" {
		out = append(out, extra)
	}
	return out, nil
}

// checkTrunkUnused refuses deleting a trunk an outbound rule names: 409.
func (s *Server) checkTrunkUnused(ctx context.Context, id int64) error {
	rules, err := s.store.ListOutboundRules(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, r := range rules {
		if slices.Contains(r.Action.Trunks, id) {
			users = append(users, fmt.Sprintf("%d (%s)", r.ID, r.Name))
		}
	}
	if len(users) > 0 {
		return errorf(http.StatusConflict, "the trunk is used by outbound rules "+strings.Join(users, ", ")+
			": remove it from their action.trunks first")
	}
	return nil
}
