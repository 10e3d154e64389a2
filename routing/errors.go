package routing

import (
	"fmt"
	"strings"
)

// FieldError is one bad field of a rule or of the options.
type FieldError struct {
	RuleID int64 `json:"rule_id,omitempty"` // 0 for a rule not saved yet and for options
	// Index is the rule's index in the slice given to NewTable; -1 for options.
	Index int `json:"index"`
	// Field is the JSON path inside the rule ("action.clip.number", "dest.prefixes[2]"),
	// or "options." and the option ("options.project_numbers[0]").
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) String() string {
	switch {
	case e.Index < 0:
		return e.Field + ": " + e.Message
	case e.RuleID != 0:
		return fmt.Sprintf("rule %d: %s: %s", e.RuleID, e.Field, e.Message)
	}
	return fmt.Sprintf("rule #%d: %s: %s", e.Index, e.Field, e.Message)
}

// ValidationError lists every bad field NewTable found, so one answer names them all.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.String()
	}
	return "routing: invalid outbound rules: " + strings.Join(parts, "; ")
}

// collector gathers field errors.
type collector struct {
	list []FieldError
}

func (c *collector) option(field, format string, args ...any) {
	c.list = append(c.list, FieldError{Index: -1, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *collector) rule(index int, id int64, field, format string, args ...any) {
	c.list = append(c.list, FieldError{RuleID: id, Index: index, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.list}
}
