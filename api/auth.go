package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/centrala/centrala/api/store"
)

// principal is who sent a request: a user with a personal token, or the configured admin
// token (a synthetic admin with id 0).
type principal struct {
	user       store.User
	adminToken bool
}

func (p principal) isAdmin() bool { return p.user.Role == store.RoleAdmin }

// adminTokenUser is what GET /api/v1/me answers for the admin token.
var adminTokenUser = store.User{ID: 0, Login: "admin-token", Role: store.RoleAdmin,
	FirstName: "Admin", LastName: "Token", PhoneType: "none"}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// maxTokenLen bounds what we hash and look up for a bearer token.
const maxTokenLen = 512

// authenticate finds the principal of a request from its bearer token (RFC 6750).
func (s *Server) authenticate(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, errUnauthorized("a bearer token is required", false)
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxTokenLen {
		return principal{}, errUnauthorized("Authorization must be: Bearer <token>", true)
	}
	if s.cfg.AdminToken != "" {
		// Compare digests: equal length, so the comparison leaks neither content nor length.
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.cfg.AdminToken))
		if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			return principal{user: adminTokenUser, adminToken: true}, nil
		}
	}
	u, err := s.store.TokenUser(r.Context(), tokenHash(tok), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, errUnauthorized("the token is invalid or expired", true)
	}
	if err != nil {
		return principal{}, err
	}
	if u.ArchivedAt != nil {
		return principal{}, errUnauthorized("the token is invalid or expired", true)
	}
	return principal{user: u}, nil
}

// tokenHash is what the store keeps of a token: hex SHA-256. Tokens carry 256 random bits,
// so a fast hash is enough (nothing to brute-force).
func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string     `json:"token"`
	ExpiresAt time.Time  `json:"expires_at"`
	User      store.User `json:"user"`
}

var errBadLogin = errUnauthorized("wrong login or password", false)

// login: POST /api/v1/auth/login. Unknown login, wrong password and archived user all get
// the same 401 after the same argon2 work.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	var bad fieldErrors
	if req.Login == "" || len(req.Login) > 256 {
		bad.add("login", "is required")
	}
	if req.Password == "" || len(req.Password) > maxPassword {
		bad.add("password", "is required")
	}
	if err := bad.err(); err != nil {
		return err
	}
	ctx := r.Context()
	u, hash, err := s.store.UserCredentials(ctx, req.Login)
	unknown := errors.Is(err, store.ErrNotFound)
	if err != nil && !unknown {
		return err
	}
	if unknown {
		hash = dummyHash() // the same argon2 work as for a known login
	}
	ok, err := s.verify(ctx, hash, req.Password)
	if err != nil && !unknown {
		if errors.Is(err, errBadHash) {
			s.log.Error("stored password hash is malformed; set the password again", "user_id", u.ID)
			return errBadLogin
		}
		return err
	}
	switch {
	case unknown:
		s.log.Info("login failed: unknown login")
		return errBadLogin
	case !ok:
		s.log.Info("login failed: wrong password", "user_id", u.ID)
		return errBadLogin
	case u.ArchivedAt != nil:
		s.log.Info("login failed: user archived", "user_id", u.ID)
		return errBadLogin
	}
	tok, err := newToken()
	if err != nil {
		return err
	}
	expires := s.now().Add(s.cfg.TokenTTL).UTC().Truncate(time.Second)
	if _, err := s.store.CreateToken(ctx, u.ID, "login", tokenHash(tok), &expires); err != nil {
		return err
	}
	s.log.Info("user logged in", "user_id", u.ID)
	return writeJSON(w, http.StatusOK, loginResponse{Token: tok, ExpiresAt: expires, User: u})
}

// verify runs argon2 with at most cap(hashSem) verifications at a time: each takes tens of
// MiB, so a burst of logins must queue rather than exhaust memory.
func (s *Server) verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return false, errClientGone
	}
	defer func() { <-s.hashSem }()
	return verifyPassword(hash, password)
}

// hash is hashPassword under the same bound as verify.
func (s *Server) hash(ctx context.Context, password string) (string, error) {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return "", errClientGone
	}
	defer func() { <-s.hashSem }()
	return hashPassword(password)
}

// me: GET /api/v1/me.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, principalFrom(r.Context()).user)
}
