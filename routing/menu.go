package routing

import (
	"slices"
	"sort"
	"strings"
)

// menu is an IVR's digit table, compiled: what Complete and Walk.Input consult.
type menu struct {
	choices   map[string]int  // digits -> index in IVR.Choices
	keys      []string        // choice digits, sorted
	exts      []string        // extensions, sorted, when DialExtensions (shared by all menus)
	extSet    map[string]bool // the same as a set (shared)
	maxDigits int
}

// newMenu compiles iv's choices; exts (sorted) and extSet are the active extensions when
// iv dials extensions, else nil.
func newMenu(iv *IVR, exts []string, extSet map[string]bool) *menu {
	m := &menu{choices: make(map[string]int, len(iv.Choices)), maxDigits: iv.MaxDigits}
	for i, c := range iv.Choices {
		if _, dup := m.choices[c.Digits]; !dup && c.Digits != "" {
			m.choices[c.Digits] = i
			m.keys = append(m.keys, c.Digits)
		}
	}
	slices.Sort(m.keys)
	if iv.DialExtensions {
		m.exts, m.extSet = exts, extSet
	}
	if m.maxDigits <= 0 {
		m.maxDigits = maxChoiceDigits
	}
	return m
}

// complete reports whether digits are a complete input: see Node.Complete.
func (m *menu) complete(digits string) bool {
	switch {
	case digits == "":
		return false
	case digits[len(digits)-1] == '#', len(digits) >= m.maxDigits:
		return true
	}
	return !longer(m.keys, digits) && !longer(m.exts, digits)
}

// longer reports whether a key of sorted keys other than digits itself starts with digits.
func longer(keys []string, digits string) bool {
	i := sort.SearchStrings(keys, digits)
	if i < len(keys) && keys[i] == digits {
		i++
	}
	return i < len(keys) && strings.HasPrefix(keys[i], digits)
}

// inputKind is what a caller's input to a menu means.
type inputKind uint8

const (
	inputNone      inputKind = iota // nothing pressed
	inputChoice                     // a choice: index
	inputExtension                  // an extension (DialExtensions): ext
	inputInvalid                    // anything else
)

// match reads a complete input. A choice equal to the input wins; then, when the input
// ends with '#' (which ends the input and is not part of it), a choice equal to the rest;
// then, with DialExtensions, an extension equal to the input or the rest. "" is no input;
// "#" alone is a choice only when "#" is one, else invalid.
func (m *menu) match(digits string) (kind inputKind, choice int, ext string) {
	if digits == "" {
		return inputNone, 0, ""
	}
	if i, ok := m.choices[digits]; ok {
		return inputChoice, i, ""
	}
	rest, hash := strings.CutSuffix(digits, "#")
	if hash && rest != "" {
		if i, ok := m.choices[rest]; ok {
			return inputChoice, i, ""
		}
	}
	if m.extSet != nil {
		if m.extSet[digits] {
			return inputExtension, 0, digits
		}
		if hash && rest != "" && m.extSet[rest] {
			return inputExtension, 0, rest
		}
	}
	return inputInvalid, 0, ""
}

// Complete reports whether the digits an IVR node has collected so far are a complete
// input, so the engine need not wait the inter-digit timeout: they end with '#', or reach
// MaxDigits, or no choice (nor, with DialExtensions, extension) longer than them starts
// with them: either they are a choice or extension nothing else extends, or nothing starts
// with them and they are invalid already. "" is never complete (the engine waits for the
// no-input timeout). With choices {1, 2, 31, 32}: "1" and "31" are complete, "3" is not,
// "4" is (invalid), "3#" is. On a node that is not an IVR it reports true.
func (n Node) Complete(digits string) bool {
	if n.Kind != NodeIVR {
		return true
	}
	m := n.menu
	if m == nil {
		if n.IVR == nil {
			return true
		}
		// A node built outside a Walk: its choices only, no extensions.
		m = newMenu(n.IVR, nil, nil)
	}
	return m.complete(digits)
}
