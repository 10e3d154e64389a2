package api

import (
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/centrala/centrala/api/store"
)

// fieldErrors collects every bad field of a request, so one answer names them all.
type fieldErrors []fieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, fieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err is nil when no field was bad, else a 422.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	names := make([]string, len(f))
	for i, e := range f {
		names[i] = e.Field
	}
	return &httpError{status: http.StatusUnprocessableEntity,
		detail: "invalid fields: " + strings.Join(names, ", "), fields: f}
}

var (
	loginRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
	sipUsernameRe = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)
	agentNumberRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	clipRe        = regexp.MustCompile(`^\+?[0-9]{2,20}$`)
	digitsRe      = regexp.MustCompile(`^[0-9]+$`)
)

// Enumerations; the OpenAPI document lists the same values.
var (
	roles      = []string{string(store.RoleAdmin), string(store.RoleSupervisor), string(store.RoleAgent)}
	phoneTypes = []string{"none", "desk", "softphone", "browser"}
	sipKinds   = []string{"desk", "mobile", "softphone"}
)

const (
	defaultPhoneType   = "softphone"
	defaultSIPKind     = "softphone"
	defaultMaxContacts = 3
	maxMaxContacts     = 100
	maxNameLen         = 100
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) checkPassword(f *fieldErrors, field, pw string) {
	switch n := utf8.RuneCountInString(pw); {
	case n < s.cfg.MinPasswordLength:
		f.add(field, "must have at least %d characters", s.cfg.MinPasswordLength)
	case len(pw) > maxPassword:
		f.add(field, "must have at most %d bytes", maxPassword)
	}
}

// checkUser validates every mutable field of a user. Extension may be empty only for a user
// with phone_type none (not callable: a CRM-only user or the bootstrap admin).
func (s *Server) checkUser(f *fieldErrors, u store.User) {
	if !loginRe.MatchString(u.Login) {
		f.add("login", "must be 1 to 64 letters, digits or . _ @ - and start with a letter or digit")
	}
	if !oneOf(string(u.Role), roles) {
		f.add("role", "must be one of %s", strings.Join(roles, ", "))
	}
	checkName(f, "first_name", u.FirstName, true)
	checkName(f, "last_name", u.LastName, true)
	checkName(f, "department", u.Department, false)
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || !strings.Contains(u.Email[strings.LastIndexByte(u.Email, '@')+1:], ".") {
			f.add("email", "must be a plain e-mail address like name@example.com")
		}
	}
	if !oneOf(u.PhoneType, phoneTypes) {
		f.add("phone_type", "must be one of %s", strings.Join(phoneTypes, ", "))
	}
	min, max := s.cfg.ExtensionMinDigits, s.cfg.ExtensionMaxDigits
	switch {
	case u.Extension == "" && u.PhoneType == "none":
	case u.Extension == "":
		f.add("extension", "is required unless phone_type is none")
	case !digitsRe.MatchString(u.Extension) || len(u.Extension) < min || len(u.Extension) > max:
		if min == max {
			f.add("extension", "must be %d digits", min)
		} else {
			f.add("extension", "must be %d to %d digits", min, max)
		}
	}
	if u.AgentNumber != "" && !agentNumberRe.MatchString(u.AgentNumber) {
		f.add("agent_number", "must be 1 to 32 letters, digits, _ or -")
	}
	if u.DefaultCLIP != "" && !clipRe.MatchString(u.DefaultCLIP) {
		f.add("default_clip", "must be a phone number: digits with an optional leading +")
	}
	if u.IdleTimeout < 0 {
		f.add("idle_timeout", "must not be negative")
	}
}

func checkName(f *fieldErrors, field, v string, required bool) {
	switch {
	case required && strings.TrimSpace(v) == "":
		f.add(field, "is required")
	case utf8.RuneCountInString(v) > maxNameLen:
		f.add(field, "must have at most %d characters", maxNameLen)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		f.add(field, "must not contain control characters")
	}
}

func checkSIPAccount(f *fieldErrors, a store.SIPAccount) {
	if !sipUsernameRe.MatchString(a.Username) {
		f.add("username", "must be 1 to 64 letters, digits or . _ ~ -")
	}
	if !oneOf(a.Kind, sipKinds) {
		f.add("kind", "must be one of %s", strings.Join(sipKinds, ", "))
	}
	if a.MaxContacts < 1 || a.MaxContacts > maxMaxContacts {
		f.add("max_contacts", "must be between 1 and %d", maxMaxContacts)
	}
}
