package api

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/centrala/centrala/api/store"
)

// Bootstrap makes a fresh installation usable: when the store has no users and no admin token
// is configured, it creates the user "admin" (role admin, phone_type none, no extension) with
// a random 20-character password and writes one line with that password to out. It is the
// only place a password is ever shown. Otherwise it does nothing.
func (s *Server) Bootstrap(ctx context.Context, out io.Writer) error {
	if s.cfg.AdminToken != "" {
		return nil
	}
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	pw, err := randomPassword(20)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	hash, err := hashPassword(pw)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	u, err := s.store.CreateUser(ctx, store.User{Login: "admin", Role: store.RoleAdmin,
		FirstName: "Admin", LastName: "Centrala", PhoneType: "none"}, hash)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		return nil // another process sharing the database bootstrapped first
	}
	if err != nil {
		return fmt.Errorf("bootstrap: create admin: %w", err)
	}
	s.log.Info("first start: created admin user", "user_id", u.ID, "login", u.Login)
	_, err = fmt.Fprintf(out, "centrala: first start: created admin user %q with password %s (shown once; change it with PUT /api/v1/users/%d/password)\n",
		u.Login, pw, u.ID)
	return err
}
