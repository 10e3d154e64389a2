package routing

// Inbound schemes: the destination graph a call to a project number (DID) walks through.
//
// A number points at a Destination; so do IVR choices and their no-input, invalid and
// too-many-retries branches, schedule branches and caller rules, a ring group's fallback and
// an announcement's continuation. NewGraph validates the whole graph at once (every
// reference resolves, no cycle without a way out) and returns an immutable *Graph; the API
// builds a candidate graph before every write and refuses the write when NewGraph fails,
// then swaps the new graph into a GraphHolder, so calls never see a half-applied change.
//
// The call engine (pbx) walks the graph with a Walk: it asks Next for the node that needs
// the outside world (a menu to play, phones to ring, a prompt to play, a number to dial, a
// SIP code to answer), does it, and reports back (the digits the caller pressed, that
// nobody answered, that the prompt ended). Schedules and caller rules need only the time
// and the caller's number, so Next resolves them itself. POST /api/v1/inbound/simulate
// runs the same Walk with the digits given and no phones, and answers the path.

// DestType is the kind of a destination.
type DestType string

// The destination types. Back is only valid as the destination of an IVR choice.
const (
	DestExtension    DestType = "extension"    // Target: the extension of an active user
	DestRingGroup    DestType = "ring_group"   // Target: ring group id (decimal)
	DestIVR          DestType = "ivr"          // Target: IVR id
	DestQueue        DestType = "queue"        // Target: queue id (queues arrive with the queues issue)
	DestExternal     DestType = "external"     // Target: a number dialled through the outbound rules; Present says what is presented
	DestAnnouncement DestType = "announcement" // Target: a prompt reference; Then: where to go after (nil: hang up)
	DestHangup       DestType = "hangup"       // Target: SIP final code 400-699 (empty: 480, filled in by NewGraph)
	DestSchedule     DestType = "schedule"     // Target: schedule id
	DestBack         DestType = "back"         // IVR choices only: the menu the caller came from (none: this menu again)
)

// DestTypes lists the types a number, a branch or a fallback may take, in documentation
// order (Back is for IVR choices only).
var DestTypes = []DestType{DestExtension, DestRingGroup, DestIVR, DestQueue, DestExternal,
	DestAnnouncement, DestHangup, DestSchedule}

// Present says which number a call forwarded to an external number presents.
type Present string

// What an external destination presents.
const (
	PresentCaller Present = "caller" // the original caller's number (default); must be allowed by the trunk
	PresentDID    Present = "did"    // the project number that was called
)

// Destination is where a call goes next: a typed, extendable value.
type Destination struct {
	Type    DestType     `json:"type"`
	Target  string       `json:"target"`
	Present Present      `json:"present,omitempty"` // external only; empty: caller
	Then    *Destination `json:"then,omitempty"`    // announcement only; nil: hang up after it
	// Priority is a caller's priority in the queue (queue only): 0 (default) to 100,
	// higher served first.
	Priority int `json:"priority,omitempty"`
}

// MaxQueuePriority bounds Destination.Priority (queue.MaxPriority is the same).
const MaxQueuePriority = 100

// PromptRef names an audio prompt: an uploaded prompt by its id in decimal ("12"), or a
// prompt of the system set (a directory of 8 kHz WAV files) as "system:" and its path
// below that directory without ".wav" ("system:vm-goodbye", "system:digits/1"). NewGraph
// refuses other forms: path segments are letters, digits, '_', '-' and '.', never "." or
// "..", so a reference cannot leave the system directory.
type PromptRef = string

// SystemPromptPrefix starts a PromptRef of the system set.
const SystemPromptPrefix = "system:"

// AnswerMode says whether an IVR's prompts play before the call is answered (early media: a
// 183 with SDP, free for the caller on most networks) or after a 200.
type AnswerMode string

// Answer modes of an IVR.
const (
	AnswerAnswer     AnswerMode = "answer"      // default
	AnswerEarlyMedia AnswerMode = "early_media" // prompts in 183 early media; answered only when a destination answers
)

// IVR is a voice menu. On entry it plays Greeting (on the menu's first entry in a call
// only: coming back to a menu plays just Menu) then Menu, and collects digits: a digit
// interrupts the prompt; input ends with '#', when no longer choice (nor extension, with
// DialExtensions) starts with the digits, at MaxDigits, or after InterDigit without a new
// digit (Node.Complete). A '#' that ends the input is not part of it, unless a choice is
// spelt with it ("#", "1#"); a choice may hold '#' only as its last character.
//
// Failures, each counted: nothing pressed for NoInputTimeout after the prompt ended (no
// input), or digits that are no choice (invalid). On a failure the menu goes to NoInput or
// Invalid when that branch is set; otherwise it plays NoInputPrompt or InvalidPrompt (if
// any) and the menu again, up to Retries times; one failure more goes to MaxRetries (nil:
// hang up).
type IVR struct {
	ID             int64        `json:"id"`
	Name           string       `json:"name"`
	Greeting       PromptRef    `json:"greeting,omitempty"`
	Menu           PromptRef    `json:"menu"`
	InvalidPrompt  PromptRef    `json:"invalid_prompt,omitempty"`
	NoInputPrompt  PromptRef    `json:"no_input_prompt,omitempty"`
	Choices        []Choice     `json:"choices"`
	DialExtensions bool         `json:"dial_extensions"`          // digits that are an extension go to it
	MaxDigits      int          `json:"max_digits,omitempty"`     // 0: the longest choice or extension
	InterDigitMS   int          `json:"inter_digit_ms,omitempty"` // default 2000
	NoInputMS      int          `json:"no_input_ms,omitempty"`    // default 5000
	Retries        *int         `json:"retries,omitempty"`        // default 2
	NoInput        *Destination `json:"no_input,omitempty"`
	Invalid        *Destination `json:"invalid,omitempty"`
	MaxRetries     *Destination `json:"max_retries,omitempty"`
	Answer         AnswerMode   `json:"answer,omitempty"` // default answer
}

// Choice is one entry of an IVR's digit table: one or more of 0-9 * #.
type Choice struct {
	Digits      string      `json:"digits"`
	Destination Destination `json:"destination"`
}

// Schedule routes by the caller and the time. Order: the first CallerRule matching the
// caller's number; then an Exception for today's date (its hours replace the week's: none
// means closed all day); then a Holiday (Holiday branch, else Closed); then the weekly
// Hours (Open inside any of them, else Closed). Dates and hours are in TimeZone.
type Schedule struct {
	ID          int64        `json:"id"`
	Name        string       `json:"name"`
	TimeZone    string       `json:"time_zone"` // IANA name, e.g. "Europe/Warsaw"; default UTC
	Hours       []Hours      `json:"hours"`
	Holidays    []Holiday    `json:"holidays"`
	Exceptions  []Exception  `json:"exceptions"`
	CallerRules []CallerRule `json:"caller_rules"`
	Open        Destination  `json:"open"`
	Closed      Destination  `json:"closed"`
	Holiday     *Destination `json:"holiday,omitempty"` // nil: Closed
}

// Hours are open hours on some days of the week: From inclusive, To exclusive, "HH:MM"
// wall-clock time in the schedule's zone (minutes; daylight saving time moves them with
// the clock). To may be "24:00" (or "00:00"), the end of the day; To before From spans
// midnight: "fri" 22:00-06:00 is open Friday 22:00 to Saturday 06:00.
type Hours struct {
	Days []string `json:"days"` // mon tue wed thu fri sat sun
	From string   `json:"from"`
	To   string   `json:"to"`
}

// Holiday is a date closed all day ("2026-12-25"), or every year when Yearly ("12-25" is
// also accepted and means yearly).
type Holiday struct {
	Date   string `json:"date"`
	Name   string `json:"name,omitempty"`
	Yearly bool   `json:"yearly,omitempty"`
}

// Exception replaces the weekly hours on one date ("YYYY-MM-DD"; one exception per date):
// open during Hours (each "HH:MM-HH:MM", ending after it starts, "24:00" the end of the
// day), closed when Hours is empty. An exception on a holiday wins. Exceptions and
// holidays govern their whole date, including the morning part of weekly hours that
// span midnight from the evening before.
type Exception struct {
	Date  string   `json:"date"`
	Name  string   `json:"name,omitempty"`
	Hours []string `json:"hours"`
}

// CallerRule sends callers by number: a VIP list, a blocklist. Numbers and prefixes are
// '+' (optional) and 1 to 20 digits; a rule needs at least one. Numbers match the caller's
// number when both are equal after dropping a leading "+" or "00" ("+48601000001" matches
// callers "+48601000001", "0048601000001" and "48601000001", not the national
// "601000001"). A prefix with '+' matches a caller received in international form ("+" or
// "00"); one without '+' matches the caller's digits as received (without '+') or after
// dropping "00": "+4870" and "4870" both catch "+48700123456" and "0048700123456".
type CallerRule struct {
	Name        string      `json:"name,omitempty"`
	Numbers     []string    `json:"numbers,omitempty"`
	Prefixes    []string    `json:"prefixes,omitempty"`
	Destination Destination `json:"destination"`
}

// RingStrategy is how a ring group rings its members.
type RingStrategy string

// Ring group strategies.
const (
	RingAll        RingStrategy = "ring_all"    // every member at once for RingTime of the group
	RingLinear     RingStrategy = "linear"      // one after the other, in order
	RingRoundRobin RingStrategy = "round_robin" // linear, starting after the member who rang last
	RingRandom     RingStrategy = "random"      // linear in a random order
)

// RingGroup rings users' phones, in the order RingOrder gives. Members that are busy (on
// a call) or have no registered phone are skipped. One member rings for its RingSeconds
// (0: the group's MemberSeconds); the whole group gives up after GroupSeconds and goes to
// Fallback (nil: hang up 480). Ring times are 0 or 5 to 600 seconds; GroupSeconds, when
// both are set, is at least MemberSeconds.
type RingGroup struct {
	ID            int64        `json:"id"`
	Name          string       `json:"name"`
	Strategy      RingStrategy `json:"strategy"`
	Members       []Member     `json:"members"`
	MemberSeconds int          `json:"member_seconds,omitempty"` // default 20
	GroupSeconds  int          `json:"group_seconds,omitempty"`  // default 60
	Fallback      *Destination `json:"fallback,omitempty"`
}

// Member is one user of a ring group, by extension.
type Member struct {
	Extension   string `json:"extension"`
	RingSeconds int    `json:"ring_seconds,omitempty"`
}
