package routing

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidNumber is wrapped by every error Normalise returns.
var ErrInvalidNumber = errors.New("invalid number")

const (
	maxDialledLen = 32 // characters of a dialled number after cleaning
	maxE164Digits = 15 // ITU-T E.164
)

// Numbering is the numbering plan of the country the PBX dials from. It turns what a user
// dials into E.164 and back into the form a trunk wants.
//
// Examples: Poland {CountryCode: "48", InternationalPrefix: "00", NationalLength: 9} (no
// trunk prefix since 2005), United Kingdom {"44", "0", "00", 0}, Germany {"49", "0", "00",
// 0}, NANP {"1", "1", "011", 10}.
type Numbering struct {
	// CountryCode is the country calling code without "+", e.g. "48". Empty: only numbers
	// dialled with "+" or the international prefix have an E.164 form.
	CountryCode string `json:"country_code" yaml:"country_code"`
	// NationalPrefix is the trunk prefix that starts a national number, e.g. "0". Empty
	// when the country has none.
	NationalPrefix string `json:"national_prefix" yaml:"national_prefix"`
	// InternationalPrefix is dialled before a country code, e.g. "00" or "011".
	InternationalPrefix string `json:"international_prefix" yaml:"international_prefix"`
	// NationalLength is the length of a national number dialled without the national
	// prefix (Poland: 9, NANP: 10). 0: a number dialled without a prefix is a short number.
	NationalLength int `json:"national_length" yaml:"national_length"`
}

// Number is a dialled number after normalisation.
type Number struct {
	// Dialled is what was dialled with the visual separators (space - . ( )) removed: digits,
	// '*' and '#', and '+' only as the first character.
	Dialled string
	// E164 is the number in E.164 form ("+48221234567"); empty for a short number (service
	// codes, local numbers, emergency numbers, anything with '*' or '#').
	E164 string
}

// NumberFormat is how a trunk wants called numbers (its number_format setting).
type NumberFormat string

// The number formats a trunk can ask for.
const (
	E164      NumberFormat = "e164"       // "+48221234567"
	National  NumberFormat = "national"   // "0221234567"; foreign numbers as "0044..."
	AsDialled NumberFormat = "as_dialled" // exactly what the user dialled (separators removed)
)

// Valid reports whether f is one of E164, National and AsDialled.
func (f NumberFormat) Valid() bool {
	return f == E164 || f == National || f == AsDialled
}

// Validate checks the plan; field names are the JSON/YAML keys.
func (n Numbering) Validate() error {
	var v collector
	n.validate(&v, "")
	return v.err()
}

func (n Numbering) validate(v *collector, prefix string) {
	bad := func(field, format string, args ...any) {
		v.option(prefix+field, format, args...)
	}
	if n.CountryCode != "" && !isCountryCode(n.CountryCode) {
		bad("country_code", "must be 1 to 3 digits not starting with 0, without +")
	}
	if n.NationalPrefix != "" {
		switch {
		case !allDigits(n.NationalPrefix) || len(n.NationalPrefix) > 4:
			bad("national_prefix", "must be 1 to 4 digits")
		case n.CountryCode == "":
			bad("national_prefix", "needs country_code")
		case n.InternationalPrefix != "" && strings.HasPrefix(n.NationalPrefix, n.InternationalPrefix):
			bad("national_prefix", "must not start with the international prefix")
		}
	}
	if n.InternationalPrefix != "" && (!allDigits(n.InternationalPrefix) || len(n.InternationalPrefix) > 4) {
		bad("international_prefix", "must be 1 to 4 digits")
	}
	switch {
	case n.NationalLength < 0 || n.NationalLength > maxE164Digits-1:
		bad("national_length", "must be between 0 and %d", maxE164Digits-1)
	case n.NationalLength > 0 && n.CountryCode == "":
		bad("national_length", "needs country_code")
	}
}

// Normalise cleans a dialled number and finds its E.164 form:
//
//	"+48 22 123-45-67"  -> E.164 as dialled
//	"0048221234567"     -> after the international prefix
//	"0221234567"        -> after the national prefix, with CountryCode in front
//	"221234567"         -> a national number of NationalLength digits
//	"112", "*31#", "123" -> short numbers: no E.164 form
//
// Anything else than digits, '*', '#', a leading '+' and the visual separators is refused,
// and so is an E.164 form that is empty, starts with 0 or has more than 15 digits. The
// error wraps ErrInvalidNumber.
func (n Numbering) Normalise(dialled string) (Number, error) {
	s, err := clean(dialled)
	if err != nil {
		return Number{}, err
	}
	num := Number{Dialled: s}
	if strings.ContainsAny(s, "*#") {
		if s[0] == '+' {
			return Number{}, invalid(dialled, "* and # cannot follow +")
		}
		return num, nil
	}
	var digits string
	switch {
	case s[0] == '+':
		digits = s[1:]
	case n.InternationalPrefix != "" && strings.HasPrefix(s, n.InternationalPrefix):
		digits = s[len(n.InternationalPrefix):]
	case n.CountryCode != "" && n.NationalPrefix != "" && len(s) > len(n.NationalPrefix) &&
		strings.HasPrefix(s, n.NationalPrefix):
		digits = n.CountryCode + s[len(n.NationalPrefix):]
	case n.CountryCode != "" && n.NationalLength > 0 && len(s) == n.NationalLength:
		digits = n.CountryCode + s
	default:
		return num, nil // a short number
	}
	switch {
	case digits == "":
		return Number{}, invalid(dialled, "no digits after the international prefix")
	case digits[0] == '0':
		return Number{}, invalid(dialled, "a country code cannot start with 0")
	case len(digits) > maxE164Digits:
		return Number{}, invalid(dialled, "longer than the 15 digits of an E.164 number")
	}
	num.E164 = "+" + digits
	return num, nil
}

// clean removes visual separators and checks the characters.
func clean(dialled string) (string, error) {
	if len(dialled) > 4*maxDialledLen {
		return "", invalid(dialled[:maxDialledLen]+"...", "too long")
	}
	separators := 0
	for i := 0; i < len(dialled); i++ {
		switch c := dialled[i]; {
		case c >= '0' && c <= '9', c == '*', c == '#':
		case c == '+':
			if i != separators {
				return "", invalid(dialled, "+ is allowed only at the start")
			}
		case c == ' ', c == '-', c == '.', c == '(', c == ')':
			separators++
		default:
			r, _ := utf8.DecodeRuneInString(dialled[i:])
			return "", invalid(dialled, fmt.Sprintf("unexpected character %q", r))
		}
	}
	s := dialled
	if separators > 0 {
		b := make([]byte, 0, len(dialled)-separators)
		for i := 0; i < len(dialled); i++ {
			if c := dialled[i]; c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' {
				b = append(b, c)
			}
		}
		s = string(b)
	}
	switch {
	case s == "":
		return "", invalid(dialled, "empty")
	case s == "+":
		return "", invalid(dialled, "no digits after +")
	case len(s) > maxDialledLen:
		return "", invalid(dialled, fmt.Sprintf("longer than %d characters", maxDialledLen))
	}
	return s, nil
}

func invalid(dialled, why string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidNumber, dialled, why)
}

// FormatE164 gives the E.164 form, or the dialled form of a short number.
func (n Numbering) FormatE164(num Number) string {
	if num.E164 != "" {
		return num.E164
	}
	return num.Dialled
}

// FormatNational gives the form dialled inside the country: national prefix and national
// number for the own country ("0221234567", or "221234567" without a national prefix),
// international prefix and E.164 digits for a foreign number ("0044207..."), the dialled
// form of a short number. When the national form would read back as another number (a
// national number of the wrong length where the country has no national prefix), the
// international form is used; without an international prefix, the E.164 form.
func (n Numbering) FormatNational(num Number) string {
	if num.E164 == "" {
		return num.Dialled
	}
	digits := num.E164[1:]
	if n.CountryCode != "" && strings.HasPrefix(digits, n.CountryCode) && len(digits) > len(n.CountryCode) {
		national := n.NationalPrefix + digits[len(n.CountryCode):]
		if back, err := n.Normalise(national); err == nil && back.E164 == num.E164 {
			return national
		}
	}
	if n.InternationalPrefix != "" {
		return n.InternationalPrefix + digits
	}
	return num.E164
}

// FormatAsDialled gives the number as dialled, separators removed.
func (n Numbering) FormatAsDialled(num Number) string {
	return num.Dialled
}

// Format formats num as a trunk with number format f wants it.
func (n Numbering) Format(num Number, f NumberFormat) (string, error) {
	switch f {
	case E164:
		return n.FormatE164(num), nil
	case National:
		return n.FormatNational(num), nil
	case AsDialled:
		return n.FormatAsDialled(num), nil
	}
	return "", fmt.Errorf("routing: unknown number format %q (want e164, national or as_dialled)", f)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isCountryCode: 1 to 3 digits, not starting with 0.
func isCountryCode(s string) bool {
	return allDigits(s) && len(s) <= 3 && s[0] != '0'
}
