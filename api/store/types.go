package store

import (
	"errors"
	"time"
)

// Role of a user. Custom roles come later; these three are the templates.
type Role string

const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
)

// User is a person: agent, supervisor or administrator. Fields as in shared/PRODUCT.md.
type User struct {
	ID          int64      `json:"id"`
	Login       string     `json:"login"`
	Role        Role       `json:"role"`
	FirstName   string     `json:"first_name"`
	LastName    string     `json:"last_name"`
	Email       string     `json:"email"`
	Extension   string     `json:"extension"`
	AgentNumber string     `json:"agent_number"` // unique when not empty
	Department  string     `json:"department"`
	DefaultCLIP string     `json:"default_clip"`
	IdleTimeout int        `json:"idle_timeout"` // seconds; 0 = never
	PhoneType   string     `json:"phone_type"`   // none, desk, softphone, browser
	IsAgent     bool       `json:"is_agent"`
	MayDialAny  bool       `json:"may_dial_any"`
	ArchivedAt  *time.Time `json:"archived_at"` // archived users keep history but cannot register or be called
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// SIPAccount is one device identity of a user (desk phone, mobile, softphone). The secret is
// kept only as the two digest hashes (HA1) for the realm it was set in; never in plaintext.
type SIPAccount struct {
	ID              int64     `json:"id"`
	UserID          int64     `json:"user_id"`
	Username        string    `json:"username"`
	Kind            string    `json:"kind"`         // desk, mobile, softphone
	MaxContacts     int       `json:"max_contacts"` // >= 1
	OutboundBlocked bool      `json:"outbound_blocked"`
	Realm           string    `json:"-"`
	HA1MD5          string    `json:"-"` // hex MD5(username:realm:secret)
	HA1SHA256       string    `json:"-"` // hex SHA-256(username:realm:secret)
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// AuthAccount is what the registrar needs to authenticate a SIP account, joined with its user.
type AuthAccount struct {
	SIPAccount
	UserArchived bool
}

// Token is an API bearer token of a user; only its SHA-256 is stored.
type Token struct {
	ID        int64      `json:"id"`
	UserID    int64      `json:"user_id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// Errors. ConflictError wraps ErrConflict and names the field that collided.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
)

// ConflictError reports a unique-constraint violation on Field (extension, login,
// agent_number, username).
type ConflictError struct{ Field string }

func (e *ConflictError) Error() string { return "store: " + e.Field + " already in use" }
func (e *ConflictError) Unwrap() error { return ErrConflict }
