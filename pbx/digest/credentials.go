package digest

import (
	"errors"
	"strings"
)

// Credentials are the parameters of one "Authorization: Digest ..." (or Proxy-Authorization)
// header value.
type Credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm Algorithm // MD5 when absent
	CNonce    string
	Opaque    string
	QOP       string
	NC        string // 8 hex digits when QOP is set
}

// ErrMalformed is returned by ParseCredentials for a value that is not a digest response.
var ErrMalformed = errors.New("digest: malformed credentials")

// ErrScheme is returned by ParseCredentials when the scheme is not Digest.
var ErrScheme = errors.New("digest: unsupported authorization scheme")

// ParseCredentials parses the value of an Authorization header. It accepts the grammar of
// RFC 3261 section 25.1 (digest-response): comma-separated auth-params, values as tokens or
// quoted strings with backslash escapes, any amount of linear white space.
func ParseCredentials(v string) (Credentials, error) {
	var c Credentials
	v = strings.TrimLeft(v, " \t")
	sp := strings.IndexAny(v, " \t")
	if sp < 0 {
		if strings.EqualFold(v, "digest") {
			return c, ErrMalformed
		}
		return c, ErrScheme
	}
	if !strings.EqualFold(v[:sp], "digest") {
		return c, ErrScheme
	}
	params, err := ParseParams(v[sp:])
	if err != nil {
		return c, err
	}
	for _, p := range params {
		switch strings.ToLower(p.Name) {
		case "username":
			c.Username = p.Value
		case "realm":
			c.Realm = p.Value
		case "nonce":
			c.Nonce = p.Value
		case "uri":
			c.URI = p.Value
		case "response":
			c.Response = p.Value
		case "algorithm":
			c.Algorithm = Algorithm(p.Value)
		case "cnonce":
			c.CNonce = p.Value
		case "opaque":
			c.Opaque = p.Value
		case "qop":
			c.QOP = p.Value
		case "nc":
			c.NC = p.Value
		}
	}
	if c.Username == "" || c.Nonce == "" || c.Response == "" {
		return c, ErrMalformed
	}
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	return c, nil
}

// Param is one auth-param of a challenge or credentials value.
type Param struct{ Name, Value string }

// ParseParams parses the comma-separated auth-params after the scheme (RFC 3261 section
// 25.1, RFC 7235): values as tokens or quoted strings with backslash escapes, any amount of
// linear white space. It is shared by the server (ParseCredentials) and the client
// (ParseChallenge).
func ParseParams(rest string) ([]Param, error) {
	var out []Param
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" {
			break
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, ErrMalformed
		}
		name := strings.TrimRight(rest[:eq], " \t")
		if !isToken(name) {
			return nil, ErrMalformed
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var ok bool
			if val, rest, ok = cutQuoted(rest[1:]); !ok {
				return nil, ErrMalformed
			}
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
			if val == "" {
				return nil, ErrMalformed
			}
		}
		out = append(out, Param{Name: name, Value: val})
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, ErrMalformed
		}
		rest = rest[1:]
	}
	if len(out) == 0 {
		return nil, ErrMalformed
	}
	return out, nil
}

// cutQuoted reads a quoted-string body up to its closing quote, undoing quoted-pairs.
func cutQuoted(s string) (val, rest string, ok bool) {
	if i := strings.IndexAny(s, `"\`); i >= 0 && s[i] == '"' {
		return s[:i], s[i+1:], true // fast path: no escapes
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
