package registrar

import (
	"context"
	"errors"
	"time"
)

// Binding is one registered contact of an address of record (RFC 3261 section 10).
// The AOR is the SIP account username: every account registers as sip:username@realm.
type Binding struct {
	AOR        string    `json:"username"`
	Contact    string    `json:"contact"`     // the Contact URI as the phone sent it (without header params)
	Transport  string    `json:"transport"`   // udp, tcp, tls, ws, wss (lower case)
	Source     string    `json:"source"`      // ip:port the REGISTER came from (received/rport)
	Local      string    `json:"local"`       // ip:port of our listener that received it
	CallID     string    `json:"call_id"`     // for RFC 3261 10.3 step 7 ordering
	CSeq       uint32    `json:"cseq"`        //
	Q          float64   `json:"q"`           // 0 when absent
	InstanceID string    `json:"instance_id"` // +sip.instance (RFC 5626), when sent
	UserAgent  string    `json:"user_agent"`  //
	Node       string    `json:"node"`        // which Centrala process holds the connection
	ExpiresAt  time.Time `json:"expires_at"`  //
	UpdatedAt  time.Time `json:"updated_at"`  //
}

// Expired reports whether the binding has lapsed at now.
func (b Binding) Expired(now time.Time) bool { return !now.Before(b.ExpiresAt) }

// Change is one contact of a REGISTER request: Expires 0 removes it.
type Change struct {
	Binding // ExpiresAt is ignored; Expires says how long
	Expires time.Duration
}

// Update is everything one REGISTER asks of the location service, applied atomically.
type Update struct {
	AOR         string
	CallID      string
	CSeq        uint32
	RemoveAll   bool     // Contact: * with Expires: 0
	Changes     []Change // contacts to add, refresh or remove (Expires 0)
	MaxContacts int      // 0 means no limit
	Now         time.Time
}

// Errors of Store.Apply. On any error nothing was changed.
var (
	// ErrTooManyContacts: the update would leave more live bindings than MaxContacts.
	ErrTooManyContacts = errors.New("registrar: too many contacts")
	// ErrOutOfOrder: a binding exists with the same Call-ID and a CSeq not lower than the request's.
	ErrOutOfOrder = errors.New("registrar: out-of-order request")
)

// Store is the location service. Implementations: MemoryStore (in-process) and
// redisstore.Store (shared by several Centrala processes). Both pass the same contract suite
// (registrartest.RunStoreContract).
type Store interface {
	// Apply performs a REGISTER atomically and returns the AOR's live bindings afterwards
	// (a REGISTER with no changes and RemoveAll false only lists them). Expired bindings are
	// dropped first. The rules of RFC 3261 section 10.3 step 7 apply per contact: same Call-ID
	// with a CSeq not higher than the stored one is ErrOutOfOrder; otherwise the contact is
	// replaced, refreshed or removed. RemoveAll removes every binding unless one of them has the
	// same Call-ID and a CSeq not lower (ErrOutOfOrder). Exceeding MaxContacts with live
	// bindings after the change is ErrTooManyContacts (refreshing or removing existing ones is
	// always allowed).
	Apply(ctx context.Context, u Update) ([]Binding, error)
	// Lookup returns the live bindings of an AOR, in no particular order.
	Lookup(ctx context.Context, aor string, now time.Time) ([]Binding, error)
	// List returns all live bindings, ordered by AOR then contact.
	List(ctx context.Context, now time.Time) ([]Binding, error)
	// Expire removes every binding expired at now and returns those it removed. When several
	// processes share a store, each removed binding is returned by exactly one caller.
	Expire(ctx context.Context, now time.Time) ([]Binding, error)
	// RemoveAOR drops every binding of an AOR (account deleted or archived) and returns them.
	RemoveAOR(ctx context.Context, aor string) ([]Binding, error)
}
