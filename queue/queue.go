package queue

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/centrala/centrala/routing"
)

// Strategy is how a queue chooses the agents to offer a caller to (see Queue.Pick).
type Strategy string

// Queue strategies.
const (
	RingAll       Strategy = "ring_all"        // every routable member of the best tier at once
	LongestIdle   Strategy = "longest_idle"    // the member idle the longest (last call end, then available since)
	RoundRobin    Strategy = "round_robin"     // member order, starting after the member offered last
	Linear        Strategy = "linear"          // member order, always from the first
	FewestCalls   Strategy = "fewest_calls"    // the fewest answered calls since login
	LeastTalkTime Strategy = "least_talk_time" // the least talk time since login
	Random        Strategy = "random"          // a random order
)

// Strategies lists every Strategy in documentation order (the OpenAPI document lists the same).
var Strategies = []Strategy{RingAll, LongestIdle, RoundRobin, Linear, FewestCalls, LeastTalkTime, Random}

// Valid reports whether s is one of Strategies.
func (s Strategy) Valid() bool { return slices.Contains(Strategies, s) }

// JoinEmpty says what a caller arriving at a queue with no member logged in does.
type JoinEmpty string

// Join-when-empty rules.
const (
	JoinAllow       JoinEmpty = "allow"       // wait anyway (default): an agent may log in
	JoinDestination JoinEmpty = "destination" // go to OnEmpty
)

// Defaults and limits of a queue, in seconds unless named otherwise.
const (
	DefaultRingSeconds         = 20
	DefaultRetryDelaySeconds   = 5
	DefaultWrapUpSeconds       = 10
	DefaultServiceLevelSeconds = 20
	DefaultNotReadyAfterMissed = 3
	DefaultMusicOnHold         = "default" // the class (directory) played when MusicOnHold is empty

	MinRingSeconds, MaxRingSeconds = 5, 600
	MaxRetryDelaySeconds           = 300
	MinMaxWaitSeconds              = 5
	MaxMaxWaitSeconds              = 86400
	MaxMaxCallers                  = 10000
	MaxWrapUpSeconds               = 3600
	MinAnnounceSeconds             = 15
	MaxAnnounceSeconds             = 3600
	MaxServiceLevelSeconds         = 3600
	MaxNotReadyAfterMissed         = 100
	MaxPenalty                     = 100
	maxNameLen                     = 100
	maxClassLen                    = 64
	maxDestDepth                   = 8 // announcement chains in an overflow destination
)

// Member is one agent of a queue. Penalty is its tier: a caller is offered to the routable
// members of the lowest penalty before any member of a higher one. WrapUpSeconds, when set,
// replaces the queue's wrap-up time for this member (0: none).
type Member struct {
	UserID        int64 `json:"user_id"`
	Penalty       int   `json:"penalty"`
	WrapUpSeconds *int  `json:"wrap_up_seconds,omitempty"`
}

// Queue is a call queue as the API takes it (POST/PUT /api/v1/queues) and the store keeps
// it. Fields whose zero value means "the default" are filled by Defaults; the ones where 0
// is a meaningful choice (no retry delay, no wrap-up, never not_ready) are pointers, nil
// meaning the default. Destinations are routing destinations (the same shape as a number's);
// Validate checks their form, the API checks that their targets exist.
type Queue struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	Strategy Strategy `json:"strategy"`
	Members  []Member `json:"members"`

	RingSeconds       int  `json:"ring_seconds,omitempty"`        // per attempt; 0: 20
	RetryDelaySeconds *int `json:"retry_delay_seconds,omitempty"` // between attempts; nil: 5

	MaxWaitSeconds int                  `json:"max_wait_seconds,omitempty"` // 0: wait forever
	OnMaxWait      *routing.Destination `json:"on_max_wait,omitempty"`      // required with max_wait_seconds
	MaxCallers     int                  `json:"max_callers,omitempty"`      // waiting callers; 0: no limit
	OnFull         *routing.Destination `json:"on_full,omitempty"`          // required with max_callers

	JoinEmpty      JoinEmpty            `json:"join_empty,omitempty"` // "" or allow: wait; destination: OnEmpty
	LeaveWhenEmpty bool                 `json:"leave_when_empty,omitempty"`
	OnEmpty        *routing.Destination `json:"on_empty,omitempty"` // required with join_empty destination or leave_when_empty

	WrapUpSeconds *int `json:"wrap_up_seconds,omitempty"` // after-call work; nil: 10; members may override

	MusicOnHold             string `json:"music_on_hold,omitempty"`             // a class (directory name); "": default
	AnnouncePositionSeconds int    `json:"announce_position_seconds,omitempty"` // 0: no announcements
	ServiceLevelSeconds     int    `json:"service_level_seconds,omitempty"`     // 0: 20
	NotReadyAfterMissed     *int   `json:"not_ready_after_missed,omitempty"`    // nil: 3; 0: never
}

// Defaults fills in the documented defaults, so the stored and answered queue shows them:
// ring 20 s, retry delay 5 s, join_empty allow, wrap-up 10 s, music class "default", service
// level 20 s, not_ready after 3 missed offers, members an empty list.
func (q *Queue) Defaults() {
	if q.Members == nil {
		q.Members = []Member{}
	}
	if q.RingSeconds == 0 {
		q.RingSeconds = DefaultRingSeconds
	}
	if q.RetryDelaySeconds == nil {
		q.RetryDelaySeconds = intp(DefaultRetryDelaySeconds)
	}
	if q.JoinEmpty == "" {
		q.JoinEmpty = JoinAllow
	}
	if q.WrapUpSeconds == nil {
		q.WrapUpSeconds = intp(DefaultWrapUpSeconds)
	}
	if q.MusicOnHold == "" {
		q.MusicOnHold = DefaultMusicOnHold
	}
	if q.ServiceLevelSeconds == 0 {
		q.ServiceLevelSeconds = DefaultServiceLevelSeconds
	}
	if q.NotReadyAfterMissed == nil {
		q.NotReadyAfterMissed = intp(DefaultNotReadyAfterMissed)
	}
}

func intp(v int) *int { return &v }

// Validate checks every field and returns a *ValidationError naming each bad one by its
// JSON path, or nil. It accepts a queue before or after Defaults. It checks the form of the
// overflow destinations (type, target syntax, that a queue does not overflow to itself), not
// that their targets exist: the API does that with the inbound graph.
func (q *Queue) Validate() error {
	c := &collector{what: "queue"}
	if q.ID < 0 {
		c.bad("id", "must not be negative")
	}
	switch name := strings.TrimSpace(q.Name); {
	case name == "":
		c.bad("name", "required")
	case utf8.RuneCountInString(q.Name) > maxNameLen:
		c.bad("name", "longer than %d characters", maxNameLen)
	}
	switch {
	case q.Strategy == "":
		c.bad("strategy", "required: %s", strategyList())
	case !q.Strategy.Valid():
		c.bad("strategy", "unknown strategy %q: want %s", q.Strategy, strategyList())
	}
	seen := map[int64]int{}
	for i, m := range q.Members {
		p := "members[" + strconv.Itoa(i) + "]"
		if m.UserID <= 0 {
			c.bad(p+".user_id", "must be a user id: a positive integer")
		} else if j, dup := seen[m.UserID]; dup {
			c.bad(p+".user_id", "duplicate: members[%d] is user %d", j, m.UserID)
		} else {
			seen[m.UserID] = i
		}
		if m.Penalty < 0 || m.Penalty > MaxPenalty {
			c.bad(p+".penalty", "must be 0 to %d", MaxPenalty)
		}
		if m.WrapUpSeconds != nil && (*m.WrapUpSeconds < 0 || *m.WrapUpSeconds > MaxWrapUpSeconds) {
			c.bad(p+".wrap_up_seconds", "must be 0 to %d", MaxWrapUpSeconds)
		}
	}
	if q.RingSeconds != 0 && (q.RingSeconds < MinRingSeconds || q.RingSeconds > MaxRingSeconds) {
		c.bad("ring_seconds", "must be 0 (default %d) or %d to %d", DefaultRingSeconds, MinRingSeconds, MaxRingSeconds)
	}
	if v := q.RetryDelaySeconds; v != nil && (*v < 0 || *v > MaxRetryDelaySeconds) {
		c.bad("retry_delay_seconds", "must be 0 to %d", MaxRetryDelaySeconds)
	}
	if q.MaxWaitSeconds != 0 && (q.MaxWaitSeconds < MinMaxWaitSeconds || q.MaxWaitSeconds > MaxMaxWaitSeconds) {
		c.bad("max_wait_seconds", "must be 0 (no limit) or %d to %d", MinMaxWaitSeconds, MaxMaxWaitSeconds)
	}
	if q.MaxCallers < 0 || q.MaxCallers > MaxMaxCallers {
		c.bad("max_callers", "must be 0 (no limit) to %d", MaxMaxCallers)
	}
	switch q.JoinEmpty {
	case "", JoinAllow, JoinDestination:
	default:
		c.bad("join_empty", "must be allow or destination")
	}
	q.overflow(c, "on_max_wait", q.OnMaxWait, q.MaxWaitSeconds > 0, "max_wait_seconds is set")
	q.overflow(c, "on_full", q.OnFull, q.MaxCallers > 0, "max_callers is set")
	switch {
	case q.JoinEmpty == JoinDestination:
		q.overflow(c, "on_empty", q.OnEmpty, true, "join_empty is destination")
	default:
		q.overflow(c, "on_empty", q.OnEmpty, q.LeaveWhenEmpty, "leave_when_empty is set")
	}
	if v := q.WrapUpSeconds; v != nil && (*v < 0 || *v > MaxWrapUpSeconds) {
		c.bad("wrap_up_seconds", "must be 0 to %d", MaxWrapUpSeconds)
	}
	if q.MusicOnHold != "" && !validClass(q.MusicOnHold) {
		c.bad("music_on_hold", "must be a directory name: 1 to %d of A-Z a-z 0-9 _ - . (not . or ..)", maxClassLen)
	}
	if v := q.AnnouncePositionSeconds; v != 0 && (v < MinAnnounceSeconds || v > MaxAnnounceSeconds) {
		c.bad("announce_position_seconds", "must be 0 (off) or %d to %d", MinAnnounceSeconds, MaxAnnounceSeconds)
	}
	if q.ServiceLevelSeconds < 0 || q.ServiceLevelSeconds > MaxServiceLevelSeconds {
		c.bad("service_level_seconds", "must be 0 (default %d) to %d", DefaultServiceLevelSeconds, MaxServiceLevelSeconds)
	}
	if v := q.NotReadyAfterMissed; v != nil && (*v < 0 || *v > MaxNotReadyAfterMissed) {
		c.bad("not_ready_after_missed", "must be 0 (never) to %d", MaxNotReadyAfterMissed)
	}
	return c.err()
}

func strategyList() string {
	s := make([]string, len(Strategies))
	for i, v := range Strategies {
		s[i] = string(v)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// validClass: a music-on-hold class is one directory name, never a path.
func validClass(s string) bool {
	if len(s) > maxClassLen || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return s != ""
}

// overflow checks an overflow destination: required when its feature is on (why says
// which), and well-formed when given (even when the feature is off, so it can be kept).
func (q *Queue) overflow(c *collector, field string, d *routing.Destination, required bool, why string) {
	if d == nil {
		if required {
			c.bad(field, "required: %s", why)
		}
		return
	}
	q.dest(c, field, *d, 0)
}

// dest checks the form of a routing destination, as routing.NewGraph does, except that
// targets are not looked up.
func (q *Queue) dest(c *collector, p string, d routing.Destination, depth int) {
	if d.Present != "" && d.Type != routing.DestExternal {
		c.bad(p+".present", "only for external destinations")
	}
	if d.Then != nil && d.Type != routing.DestAnnouncement {
		c.bad(p+".then", "only for announcement destinations")
	}
	switch d.Type {
	case "":
		c.bad(p+".type", "required")
	case routing.DestExtension:
		if d.Target == "" {
			c.bad(p+".target", "required")
		}
	case routing.DestRingGroup, routing.DestIVR, routing.DestSchedule, routing.DestQueue:
		id, ok := parseID(d.Target)
		switch {
		case d.Target == "":
			c.bad(p+".target", "required")
		case !ok:
			c.bad(p+".target", "must be an id: a positive integer")
		case d.Type == routing.DestQueue && q.ID != 0 && id == q.ID:
			c.bad(p+".target", "a queue cannot overflow to itself")
		}
	case routing.DestExternal:
		if t := strings.TrimPrefix(d.Target, "+"); !allDigits(t) || len(t) < 2 || len(t) > 20 {
			c.bad(p+".target", "not a number: want 2 to 20 digits with an optional leading +")
		}
		if d.Present != "" && d.Present != routing.PresentCaller && d.Present != routing.PresentDID {
			c.bad(p+".present", "must be caller or did")
		}
	case routing.DestAnnouncement:
		if d.Target == "" {
			c.bad(p+".target", "required")
		}
		if d.Then != nil {
			if depth >= maxDestDepth {
				c.bad(p+".then", "announcements nested deeper than %d", maxDestDepth)
			} else {
				q.dest(c, p+".then", *d.Then, depth+1)
			}
		}
	case routing.DestHangup:
		if d.Target != "" {
			if code, err := strconv.Atoi(d.Target); err != nil || !allDigits(d.Target) || code < 400 || code > 699 {
				c.bad(p+".target", "must be a SIP code 400-699")
			}
		}
	case routing.DestBack:
		c.bad(p+".type", "back is only valid as the destination of an IVR choice")
	default:
		c.bad(p+".type", "unknown type %q: want extension, ring_group, ivr, queue, external, announcement, hangup or schedule", d.Type)
	}
}

func parseID(s string) (int64, bool) {
	if s == "" || s[0] == '0' || !allDigits(s) {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Overflow is one overflow destination of a queue with its JSON path, for the API to check
// that its target exists in the inbound graph.
type Overflow struct {
	Field       string
	Destination routing.Destination
}

// Overflows lists the overflow destinations that are set, in field order (on_max_wait,
// on_full, on_empty).
func (q *Queue) Overflows() []Overflow {
	var out []Overflow
	for _, o := range []struct {
		f string
		d *routing.Destination
	}{{"on_max_wait", q.OnMaxWait}, {"on_full", q.OnFull}, {"on_empty", q.OnEmpty}} {
		if o.d != nil {
			out = append(out, Overflow{Field: o.f, Destination: cloneDest(*o.d)})
		}
	}
	return out
}

func cloneDest(d routing.Destination) routing.Destination {
	if d.Then != nil {
		then := cloneDest(*d.Then)
		d.Then = &then
	}
	return d
}

func cloneDestPtr(d *routing.Destination) *routing.Destination {
	if d == nil {
		return nil
	}
	c := cloneDest(*d)
	return &c
}

// Member returns the membership of user id, and whether there is one.
func (q *Queue) Member(userID int64) (Member, bool) {
	for _, m := range q.Members {
		if m.UserID == userID {
			return m, true
		}
	}
	return Member{}, false
}

// Ring is how long one attempt rings (ring_seconds, default 20 s).
func (q *Queue) Ring() time.Duration { return seconds(q.RingSeconds, DefaultRingSeconds) }

// RetryDelay is the pause between two attempts for a caller (default 5 s).
func (q *Queue) RetryDelay() time.Duration {
	return secondsp(q.RetryDelaySeconds, DefaultRetryDelaySeconds)
}

// WrapUp is the after-call work of member userID: the member's override when set, else the
// queue's (default 10 s). 0 means none: the agent is available as soon as the call ends.
func (q *Queue) WrapUp(userID int64) time.Duration {
	if m, ok := q.Member(userID); ok && m.WrapUpSeconds != nil {
		return time.Duration(*m.WrapUpSeconds) * time.Second
	}
	return secondsp(q.WrapUpSeconds, DefaultWrapUpSeconds)
}

// ServiceLevel is the service-level threshold (default 20 s).
func (q *Queue) ServiceLevel() time.Duration {
	return seconds(q.ServiceLevelSeconds, DefaultServiceLevelSeconds)
}

// MissedLimit is the number of unanswered offers in a row that make an agent not_ready
// (default 3); 0: never.
func (q *Queue) MissedLimit() int {
	if q.NotReadyAfterMissed == nil {
		return DefaultNotReadyAfterMissed
	}
	return *q.NotReadyAfterMissed
}

// Music is the music-on-hold class ("default" when unset).
func (q *Queue) Music() string {
	if q.MusicOnHold == "" {
		return DefaultMusicOnHold
	}
	return q.MusicOnHold
}

// Lease is how long an offer's claim lasts before the node that made it must renew it:
// one attempt's ring time plus 10 s, so a node that crashed frees its agents soon after
// their phones would have stopped ringing anyway. The node renews the lease while the call
// rings and while it is connected (Agent.Renew).
func (q *Queue) Lease() time.Duration { return q.Ring() + LeaseMargin }

// LeaseMargin is added to the ring time to make an offer's lease.
const LeaseMargin = 10 * time.Second

func seconds(v, def int) time.Duration {
	if v == 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func secondsp(v *int, def int) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}
