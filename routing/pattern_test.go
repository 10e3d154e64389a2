package routing

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{"112", []string{"112"}, []string{"1120", "11", "_112", ""}},
		{"+442071234567", []string{"+442071234567"}, []string{"442071234567"}},
		{"*31#", []string{"*31#"}, []string{"*31"}},
		{"_X", []string{"0", "9"}, []string{"", "10", "*", "+"}},
		{"_Z", []string{"1", "9"}, []string{"0"}},
		{"_N", []string{"2", "9"}, []string{"0", "1"}},
		{"_xzn", []string{"012", "099"}, []string{"002", "011"}},
		{"_0700XXXXXX", []string{"0700123456"}, []string{"070012345", "07001234567", "0701123456"}},
		{"_0[5-8]XXXXXXXX", []string{"0512345678", "0812345678"}, []string{"0412345678", "0912345678"}},
		{"_[135]", []string{"1", "3", "5"}, []string{"2", "4", "0"}},
		{"_[13-5*#]X", []string{"10", "30", "40", "50", "*1", "#9"}, []string{"20", "60", "+1"}},
		{"_00.", []string{"001", "0044207"}, []string{"00", "01"}},
		{"_00!", []string{"00", "001", "0044207"}, []string{"0", "01"}},
		{"_.", []string{"1", "+48", "*#"}, []string{""}},
		{"_!", []string{"", "1", "123"}, nil},
		{"_X.1", []string{"121", "1231", "1111"}, []string{"11", "12", "1212"}},
		{"_1!2!3", []string{"123", "1x2y3", "112233"}, []string{"12", "132"}},
		{"_+44.", []string{"+442071234567", "+441"}, []string{"+44", "442071234567", "0044207"}},
		{"_0-700-XXX-XXX", []string{"0700123456"}, []string{"0-700-123-456"}},
		{"_*XX#", []string{"*31#"}, []string{"*31", "#31*"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := CompilePattern(tc.pattern)
			require.NoError(t, err)
			require.Equal(t, tc.pattern, p.String())
			for _, s := range tc.match {
				require.True(t, p.Match(s), "%s should match %q", tc.pattern, s)
			}
			for _, s := range tc.nomatch {
				require.False(t, p.Match(s), "%s should not match %q", tc.pattern, s)
			}
		})
	}
}

func TestPatternE164Form(t *testing.T) {
	require.True(t, MustCompilePattern("_+44.").E164Form())
	require.True(t, MustCompilePattern("+442071234567").E164Form())
	require.False(t, MustCompilePattern("_0044.").E164Form())
	require.Panics(t, func() { MustCompilePattern("_[") })
}

func TestCompilePatternErrors(t *testing.T) {
	tests := []struct {
		pattern string
		message string
	}{
		{"", "empty"},
		{"_", "nothing to match after _"},
		{"_---", "nothing to match after _"},
		{"_0A", `unexpected 'A' at position 3`},
		{"_0[1-5", "[ without ] at position 3"},
		{"_[]", "empty []"},
		{"_[5-1]", "range 5-1 runs backwards at position 3"},
		{"_[1-]", "- must stand between two digits at position 4"},
		{"_[-1]", "- must stand between two digits at position 3"},
		{"_[*-9]", "- must stand between two digits at position 4"},
		{"_[1a]", `unexpected 'a' in [] at position 4`},
		{"_[+1]", `unexpected '+' in [] at position 3`},
		{"_[[1]]", `unexpected '[' in [] at position 3`},
		{"_1+", "+ is allowed only first at position 3"},
		{"_ 1", `unexpected ' ' at position 2`},
		{"12a", `unexpected 'a' at position 3 (without a leading _ a pattern is an exact number`},
		{"+", `unexpected '+' at position 1`},
		{"1+2", `unexpected '+' at position 2`},
		{"0700XXX", `unexpected 'X' at position 5`},
		{"_" + strings.Repeat("X", 64), "more than 63 elements at position 65"},
		{"_" + strings.Repeat("X", 200), "longer than 128 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			_, err := CompilePattern(tc.pattern)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalidPattern))
			require.Contains(t, err.Error(), tc.message)
		})
	}
	_, err := CompilePattern("_" + strings.Repeat("X", 63))
	require.NoError(t, err, "63 elements fit")
}
