package api

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := hashPassword("correct horse")
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), h)
	h2, err := hashPassword("correct horse")
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "salted")

	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horse ", false}, {"", false}, {"Correct horse", false}} {
		ok, err := verifyPassword(h, tc.pw)
		require.NoError(t, err)
		require.Equal(t, tc.want, ok, tc.pw)
	}

	// Unknown logins are checked against dummyHash: well-formed, matched by nothing.
	for _, pw := range []string{"", "correct horse"} {
		ok, err := verifyPassword(dummyHash(), pw)
		require.NoError(t, err)
		require.False(t, ok)
	}

	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		strings.Replace(h, "v=19", "v=16", 1), strings.Replace(h, "t=1", "t=0", 1), strings.Replace(h, "m=64", "m=99999999", 1),
		h[:len(h)-10] + "!!!"} {
		_, err := verifyPassword(bad, "correct horse")
		require.ErrorIs(t, err, errBadHash, bad)
	}
}

func TestRandomPassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		pw, err := randomPassword(20)
		require.NoError(t, err)
		require.Len(t, pw, 20)
		require.Regexp(t, "^["+passwordAlphabet+"]+$", pw)
		require.False(t, seen[pw])
		seen[pw] = true
	}
}

// The PHC parser reads what the database holds; it must never panic or accept garbage.
func FuzzVerifyPassword(f *testing.F) {
	h, _ := hashPassword("pw")
	f.Add(h, "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$$", "")
	f.Add("$argon2id$v=19$m=64,t=1,p=255$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x")
	costly := regexp.MustCompile(`m=0*[0-9]{5,}|t=0*[0-9]{2,}`)
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		if costly.MatchString(encoded) {
			t.Skip("legal but slow parameters: the fuzzer would only measure argon2")
		}
		ok, err := verifyPassword(encoded, pw)
		if err != nil && ok {
			t.Fatal("ok with an error")
		}
	})
}
