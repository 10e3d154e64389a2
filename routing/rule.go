package routing

// Caller is the internal user placing an outbound call, as the pbx knows them after digest
// authentication of the INVITE (or as the API finds them for explain).
type Caller struct {
	Account         string // SIP account username
	UserID          int64
	Department      string
	DefaultCLIP     string // the user's default presented number, E.164 or national form
	MayDialAny      bool   // false: internal numbers only
	OutboundBlocked bool   // the SIP account may only receive calls
}

// WhoKind says which callers a rule is for.
type WhoKind string

// The caller matchers.
const (
	WhoAny        WhoKind = "any"
	WhoAccount    WhoKind = "account"    // Value: SIP account username (exact)
	WhoUser       WhoKind = "user"       // Value: user id, decimal
	WhoDepartment WhoKind = "department" // Value: department name (case-insensitive)
)

// Who matches the caller. An empty Kind is WhoAny.
type Who struct {
	Kind  WhoKind `json:"kind"`
	Value string  `json:"value,omitempty"`
}

// Dest matches the dialled number. Every criterion that is set must hold; an empty Dest
// matches every number.
//
// Prefixes and Pattern are tried on three forms of the number, and one matching is
// enough: as dialled (separators removed), in national form (as dialled inside the
// country: "0700123456", "00442071234567") and as E.164 digits without '+'
// ("48700123456"). So "0700" or "_0700XXXXXX" catch 0700 numbers however they are dialled,
// and "00" catches every international call. A prefix or pattern that starts with '+' is
// tried on the E.164 form only ("+44" matches +44..., 0044...).
type Dest struct {
	Prefixes     []string `json:"prefixes,omitempty"`      // any of them
	CountryCodes []string `json:"country_codes,omitempty"` // any of them; short numbers have none
	// MinLength and MaxLength bound the digits of the E.164 number (country code
	// included), or the characters of a short number. 0: no bound.
	MinLength int    `json:"min_length,omitempty"`
	MaxLength int    `json:"max_length,omitempty"`
	Pattern   string `json:"pattern,omitempty"` // Asterisk syntax, see Pattern
}

// ActionKind is what a rule does with a call; it is also a Decision's outcome.
type ActionKind string

// The two outcomes.
const (
	Allow ActionKind = "allow"
	Deny  ActionKind = "deny"
)

// CLIPMode says which number an allowed call presents.
type CLIPMode string

// The presentation modes. An empty mode is CLIPUserDefault.
const (
	CLIPNumber      CLIPMode = "number"       // CLIP.Number, a project number
	CLIPUserDefault CLIPMode = "user_default" // the caller's DefaultCLIP, if the project owns it
	CLIPWithheld    CLIPMode = "withheld"     // CLIR: Privacy: id; CLIP.Number, if set, is asserted
)

// CLIP is the presented number of an allowed call.
type CLIP struct {
	Mode   CLIPMode `json:"mode"`
	Number string   `json:"number,omitempty"`
}

// Action is what a matching rule does.
type Action struct {
	Kind ActionKind `json:"kind"`
	// SIPCode answers a denied call: 400-699 except 401 and 407; 0 means 403.
	SIPCode int `json:"sip_code,omitempty"`
	// Reason is a note for the decision's reason ("premium-rate numbers are blocked").
	Reason string `json:"reason,omitempty"`

	// Allow only. Strip removes that many leading characters of the dialled form, then
	// Prepend is put in front; the trunk gets the result as it is (no number formatting).
	Strip   int    `json:"strip,omitempty"`
	Prepend string `json:"prepend,omitempty"`
	CLIP    CLIP   `json:"clip"`
	// Trunks in the order to try; empty means Options.DefaultTrunks.
	Trunks []int64 `json:"trunks,omitempty"`
	// FailoverCodes are the final responses on which the next trunk is tried; empty means
	// DefaultFailoverCodes(). 404, 480, 486, 487 and 6xx are refused: they are the callee's
	// answer, and another trunk would only bother the callee again.
	FailoverCodes []int `json:"failover_codes,omitempty"`
}

// Rule is one line of the outbound rule table. Rules are tried by Position (ties by ID);
// the first enabled rule whose Who and Dest match decides.
type Rule struct {
	ID       int64  `json:"id"` // 0 for a rule not saved yet
	Name     string `json:"name"`
	Position int    `json:"position"`
	Enabled  bool   `json:"enabled"`
	Who      Who    `json:"who"`
	Dest     Dest   `json:"dest"`
	Action   Action `json:"action"`
}

// DefaultFailoverCodes returns the codes an allow rule fails over on when it names none:
// 408, 500, 502, 503, 504.
func DefaultFailoverCodes() []int { return []int{408, 500, 502, 503, 504} }

// DefaultDenyCode answers a deny rule without a SIP code.
const DefaultDenyCode = 403

// Options is what the rule table needs besides the rules.
type Options struct {
	Numbering Numbering
	// ProjectNumbers are the numbers the project owns (its DIDs), in any form Numbering
	// reads as E.164. Every presented number must be one of them.
	ProjectNumbers []string
	// Emergency numbers are always allowed, even for blocked accounts and callers with
	// may_dial_any off, and never denied by a rule. Matched exactly against the dialled
	// form (or the E.164 form, for an entry given as E.164): "112", "999", "911".
	Emergency []string
	// EmergencyTrunks carry emergency calls no allow rule matches; empty: DefaultTrunks.
	EmergencyTrunks []int64
	// EmergencyCLIP, a project number, is presented on emergency calls no allow rule gives
	// a number for (it should be the site's main number, known to the emergency services).
	EmergencyCLIP string
	// DefaultTrunks are used by allow rules that name no trunks.
	DefaultTrunks []int64
}
