package routing

import (
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// ErrInvalidPattern is wrapped by every error CompilePattern returns.
var ErrInvalidPattern = errors.New("invalid pattern")

const (
	maxPatternLen    = 128
	maxPatternTokens = 63 // states 0..63 fit one uint64
)

// Pattern is a compiled dial pattern in the Asterisk syntax PBX admins know. A pattern that
// starts with '_' is matched character by character:
//
//	X      any digit 0-9        Z  1-9        N  2-9   (lower case too)
//	[1-5]  one of a set; ranges and single characters mix: [13-5*#]
//	.      one or more of anything
//	!      zero or more of anything
//	-      ignored, for readability: _0-700-XXX-XXX
//	0-9 * #  themselves; + only as the first character
//
// Without '_' the pattern is an exact number ("112", "+442071234567"). The whole string must
// match, as in Asterisk. A pattern is immutable and safe for concurrent use; matching is a
// bit-parallel NFA, linear in the input and allocation-free.
type Pattern struct {
	src   string
	exact bool
	plus  bool // starts with '+': meant for the E.164 form
	toks  []token
	stars uint64 // bit k set: toks[k] is '!'
}

type tokKind uint8

const (
	tokOne  tokKind = iota // one character of set
	tokPlus                // '.': one or more of anything
	tokStar                // '!': zero or more of anything
)

type token struct {
	kind tokKind
	set  uint16 // tokOne: bit symbol(c)
}

// symbol maps the characters a dialled number may hold to 0..12; -1 for anything else.
func symbol(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c == '*':
		return 10
	case c == '#':
		return 11
	case c == '+':
		return 12
	}
	return -1
}

func digitRange(lo, hi byte) uint16 {
	var s uint16
	for c := lo; c <= hi; c++ {
		s |= 1 << symbol(c)
	}
	return s
}

// CompilePattern parses s; errors wrap ErrInvalidPattern and give the 1-based position.
func CompilePattern(s string) (*Pattern, error) {
	fail := func(pos int, format string, args ...any) (*Pattern, error) {
		msg := fmt.Sprintf(format, args...)
		if pos > 0 {
			msg = fmt.Sprintf("%s at position %d", msg, pos)
		}
		return nil, fmt.Errorf("%w %q: %s", ErrInvalidPattern, s, msg)
	}
	switch {
	case s == "":
		return fail(0, "empty")
	case len(s) > maxPatternLen:
		return fail(0, "longer than %d characters", maxPatternLen)
	}
	p := &Pattern{src: s}
	if s[0] != '_' {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '+' && i == 0 && len(s) > 1 {
				continue
			}
			if c == '+' || symbol(c) < 0 {
				return nil, fmt.Errorf("%w %q: unexpected %q at position %d (without a leading _ a "+
					"pattern is an exact number; start it with _ to use X, Z, N, [], . and !)",
					ErrInvalidPattern, s, charAt(s, i), i+1)
			}
		}
		p.exact, p.plus = true, s[0] == '+'
		return p, nil
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		t := token{kind: tokOne}
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			t.set = 1 << symbol(c)
		case c == '+':
			if len(p.toks) != 0 {
				return fail(i+1, "+ is allowed only first")
			}
			t.set, p.plus = 1<<symbol('+'), true
		case c == 'X' || c == 'x':
			t.set = digitRange('0', '9')
		case c == 'Z' || c == 'z':
			t.set = digitRange('1', '9')
		case c == 'N' || c == 'n':
			t.set = digitRange('2', '9')
		case c == '.':
			t.kind = tokPlus
		case c == '!':
			t.kind = tokStar
		case c == '-':
			continue
		case c == '[':
			end := i + 1
			for end < len(s) && s[end] != ']' {
				end++
			}
			if end == len(s) {
				return fail(i+1, "[ without ]")
			}
			set, pos, msg := parseSet(s[i+1 : end])
			if msg != "" {
				return fail(i+2+pos, "%s", msg)
			}
			t.set, i = set, end
		default:
			return fail(i+1, "unexpected %q", charAt(s, i))
		}
		if len(p.toks) == maxPatternTokens {
			return fail(i+1, "more than %d elements", maxPatternTokens)
		}
		if t.kind == tokStar {
			p.stars |= 1 << len(p.toks)
		}
		p.toks = append(p.toks, t)
	}
	if len(p.toks) == 0 {
		return fail(0, "nothing to match after _")
	}
	return p, nil
}

// parseSet parses the inside of [...]: digits, '*', '#' and digit ranges a-b with a <= b.
// On error it returns the 0-based position inside and a message.
func parseSet(in string) (uint16, int, string) {
	if in == "" {
		return 0, 0, "empty []"
	}
	var set uint16
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '-' {
			return 0, i, "- must stand between two digits"
		}
		if symbol(c) < 0 || c == '+' {
			return 0, i, fmt.Sprintf("unexpected %q in []", charAt(in, i))
		}
		if i+1 < len(in) && in[i+1] == '-' {
			if i+2 >= len(in) {
				return 0, i + 1, "- must stand between two digits"
			}
			hi := in[i+2]
			if c < '0' || c > '9' || hi < '0' || hi > '9' {
				return 0, i + 1, "- must stand between two digits"
			}
			if hi < c {
				return 0, i, fmt.Sprintf("range %c-%c runs backwards", c, hi)
			}
			set |= digitRange(c, hi)
			i += 2
			continue
		}
		set |= 1 << symbol(c)
	}
	return set, 0, ""
}

// charAt is the character at byte i, for messages.
func charAt(s string, i int) rune {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r
}

// MustCompilePattern is CompilePattern for patterns known to be good; it panics otherwise.
func MustCompilePattern(s string) *Pattern {
	p, err := CompilePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// E164Form reports whether the pattern starts with '+' and so only matches E.164 forms.
func (p *Pattern) E164Form() bool { return p.plus }

// Match reports whether the whole of s matches.
func (p *Pattern) Match(s string) bool {
	if p.exact {
		return s == p.src
	}
	m := len(p.toks)
	accept := uint64(1) << m
	cur := p.closure(1)
	for i := 0; i < len(s); i++ {
		sym := symbol(s[i])
		var next uint64
		for st := cur &^ accept; st != 0; st &= st - 1 {
			k := bits.TrailingZeros64(st)
			switch t := p.toks[k]; t.kind {
			case tokOne:
				if sym >= 0 && t.set&(1<<sym) != 0 {
					next |= 1 << (k + 1)
				}
			case tokPlus:
				next |= 1<<k | 1<<(k+1)
			case tokStar:
				next |= 1 << k
			}
		}
		if next == 0 {
			return false
		}
		cur = p.closure(next)
	}
	return cur&accept != 0
}

// closure adds the states reachable by skipping '!' (zero of anything).
func (p *Pattern) closure(st uint64) uint64 {
	if st&p.stars == 0 {
		return st
	}
	for k := range p.toks {
		if st&(1<<k) != 0 && p.stars&(1<<k) != 0 {
			st |= 1 << (k + 1)
		}
	}
	return st
}
