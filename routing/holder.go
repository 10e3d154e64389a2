package routing

import "sync/atomic"

// Holder holds the current Table for readers that must never see a half-built one: the
// store builds a new Table with NewTable after every change and Stores it; the pbx Loads
// it once per call. The zero value holds nil, whose Route denies everything with 503.
type Holder struct {
	p atomic.Pointer[Table]
}

// Load returns the current table (nil before the first Store).
func (h *Holder) Load() *Table { return h.p.Load() }

// Store makes t the current table.
func (h *Holder) Store(t *Table) { h.p.Store(t) }
