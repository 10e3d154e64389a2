package routing

import "encoding/json"

// Decision is the outcome for one outbound call: a value, never an error.
//
// JSON (the contract of POST /api/v1/routing/explain): rule_id (null when no rule decided),
// action, sip_code (deny only), reason, dialled, e164, clip (null when withheld or denied),
// withheld, asserted, trunks (always an array), failover_codes, emergency, rewritten.
type Decision struct {
	Action  ActionKind
	SIPCode int    // deny: the final response to the caller; 0 for allow
	Reason  string // which rule decided and why, or why none did
	RuleID  int64  // 0 when no rule decided

	// Dialled is what to send toward the trunk: the dialled number (separators removed)
	// after the rule's strip and prepend. When Rewritten is false the trunk's number format
	// still applies (Table.DialString); when true it goes as it is.
	Dialled   string
	Rewritten bool
	E164      string // the destination in E.164 form; empty for a short number

	// CLIP is the presented number in E.164 form; nil when withheld (and on deny).
	CLIP     *string
	Withheld bool // CLIR: send Privacy: id
	// Asserted is the project number for P-Asserted-Identity: the CLIP when presented; when
	// withheld the rule's number or the caller's default CLIP, if any.
	Asserted string

	Trunks        []int64 // in order; empty on deny
	FailoverCodes []int   // final responses on which the next trunk is tried
	Emergency     bool    // the number is an emergency number
}

// Step is one rule considered by Explain.
type Step struct {
	RuleID  int64  `json:"rule_id"`
	Name    string `json:"name"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

// Explanation is a Decision with the trace of every rule considered, in order (disabled
// rules included); its JSON is the Decision's plus "trace".
type Explanation struct {
	Decision
	Trace []Step
}

type decisionJSON struct {
	RuleID        *int64     `json:"rule_id"`
	Action        ActionKind `json:"action"`
	SIPCode       int        `json:"sip_code,omitempty"`
	Reason        string     `json:"reason"`
	Dialled       string     `json:"dialled"`
	Rewritten     bool       `json:"rewritten,omitempty"`
	E164          string     `json:"e164,omitempty"`
	CLIP          *string    `json:"clip"`
	Withheld      bool       `json:"withheld"`
	Asserted      string     `json:"asserted,omitempty"`
	Trunks        []int64    `json:"trunks"`
	FailoverCodes []int      `json:"failover_codes,omitempty"`
	Emergency     bool       `json:"emergency,omitempty"`
}

func (d Decision) wire() decisionJSON {
	w := decisionJSON{Action: d.Action, SIPCode: d.SIPCode, Reason: d.Reason,
		Dialled: d.Dialled, Rewritten: d.Rewritten, E164: d.E164, CLIP: d.CLIP,
		Withheld: d.Withheld, Asserted: d.Asserted, Trunks: d.Trunks,
		FailoverCodes: d.FailoverCodes, Emergency: d.Emergency}
	if d.RuleID != 0 {
		id := d.RuleID
		w.RuleID = &id
	}
	if w.Trunks == nil {
		w.Trunks = []int64{}
	}
	return w
}

func (w decisionJSON) decision() Decision {
	d := Decision{Action: w.Action, SIPCode: w.SIPCode, Reason: w.Reason,
		Dialled: w.Dialled, Rewritten: w.Rewritten, E164: w.E164, CLIP: w.CLIP,
		Withheld: w.Withheld, Asserted: w.Asserted, Trunks: w.Trunks,
		FailoverCodes: w.FailoverCodes, Emergency: w.Emergency}
	if w.RuleID != nil {
		d.RuleID = *w.RuleID
	}
	return d
}

// MarshalJSON writes the API contract form.
func (d Decision) MarshalJSON() ([]byte, error) { return json.Marshal(d.wire()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Decision) UnmarshalJSON(b []byte) error {
	var w decisionJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = w.decision()
	return nil
}

type explanationJSON struct {
	decisionJSON
	Trace []Step `json:"trace"`
}

// MarshalJSON writes the Decision's fields and "trace" (always an array).
func (e Explanation) MarshalJSON() ([]byte, error) {
	w := explanationJSON{decisionJSON: e.Decision.wire(), Trace: e.Trace}
	if w.Trace == nil {
		w.Trace = []Step{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Explanation) UnmarshalJSON(b []byte) error {
	var w explanationJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Explanation{Decision: w.decision(), Trace: w.Trace}
	return nil
}
