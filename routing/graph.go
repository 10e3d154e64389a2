package routing

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Defaults of inbound schemes, filled in by NewGraph.
const (
	DefaultMaxHops       = 20   // destinations one call resolves before the walk is cut
	DefaultHangupCode    = 480  // a hangup destination without a code, and every implicit hangup
	DefaultInterDigitMS  = 2000 // IVR.InterDigitMS
	DefaultNoInputMS     = 5000 // IVR.NoInputMS
	DefaultRetries       = 2    // IVR.Retries
	DefaultMemberSeconds = 20   // RingGroup.MemberSeconds
	DefaultGroupSeconds  = 60   // RingGroup.GroupSeconds
)

const (
	maxNameLen      = 100   // characters of a name
	maxChoiceDigits = 20    // characters of an IVR choice, and IVR.MaxDigits
	maxRetries      = 10    // IVR.Retries
	minTimeoutMS    = 500   // IVR timeouts, when set
	maxTimeoutMS    = 60000 //
	minRingSeconds  = 5     // ring times, when set
	maxRingSeconds  = 600   //
)

// ErrNoNumber is returned by Start and Simulate for a number that is not in GraphInput.Numbers.
var ErrNoNumber = errors.New("number has no inbound scheme")

// GraphInput is everything NewGraph needs. NewGraph retains none of it: the graph holds
// copies (Prompts is called during NewGraph only).
type GraphInput struct {
	Numbers    map[string]Destination // project number (E.164, "+48221234567") -> its destination
	IVRs       []IVR
	RingGroups []RingGroup
	Schedules  []Schedule
	Extensions map[string]bool          // extensions of active users (false: not active)
	Prompts    func(ref PromptRef) bool // reports whether a prompt exists; nil: every well-formed ref exists
	Queues     map[int64]bool           // existing queues; a queue destination to any other id is an error
	// QueueExits are the overflow destinations of queues (on_max_wait, on_full, on_empty),
	// by queue id: each is validated like any other destination (errors name "queue N" and
	// the exit's Field, "on_full.target"). A queue named here exists whether or not Queues
	// lists it. A queue is an exit of the way-out analysis (its agents may answer), so its
	// overflows need no way out of their own. nil: queues have no overflows.
	QueueExits map[int64][]QueueExit
	MaxHops    int // destinations resolved per call before the walk is cut; 0: DefaultMaxHops
}

// QueueExit is one overflow destination of a queue with its field (JSON path) in the
// queue: "on_max_wait", "on_full", "on_empty".
type QueueExit struct {
	Field       string
	Destination Destination
}

// GraphError is one problem NewGraph found. Object names the object it is in ("number
// +48221234567", "ivr 3", "ring_group 2", "schedule 1", "queue 5" (its QueueExits), or
// "input" for GraphInput itself);
// Field is the JSON path inside that object ("destination.target",
// "choices[0].destination.then.target", "hours[1].from", "open.type"); empty when the
// problem is the object as a whole.
type GraphError struct {
	Object  string `json:"object"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e GraphError) String() string {
	if e.Field == "" {
		return e.Object + ": " + e.Message
	}
	return e.Object + ": " + e.Field + ": " + e.Message
}

// GraphValidationError lists every problem NewGraph found, so one answer names them all.
type GraphValidationError struct {
	Errors []GraphError
}

func (e *GraphValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.String()
	}
	return "routing: invalid inbound scheme: " + strings.Join(parts, "; ")
}

// Graph is an immutable, validated snapshot of the inbound schemes: project numbers, IVRs,
// ring groups and schedules, with defaults filled in. Build a new one with NewGraph after
// every change and swap it in (GraphHolder); a Graph is safe for concurrent use. Its
// accessors return copies.
type Graph struct {
	numbers    map[string]Destination
	ivrs       map[int64]*ivr
	ringGroups map[int64]*RingGroup
	schedules  map[int64]*schedule
	queues     map[int64]bool
	extensions map[string]bool // active ones only
	maxHops    int
}

// ivr is an IVR with its defaults filled and its digit table compiled.
type ivr struct {
	IVR
	menu *menu
}

// GraphHolder holds the current Graph for readers that must never see a half-built one,
// as Holder does for the outbound Table. The zero value holds nil, whose Start answers
// ErrNoNumber for every number.
type GraphHolder struct {
	p atomic.Pointer[Graph]
}

// Load returns the current graph (nil before the first Store).
func (h *GraphHolder) Load() *Graph { return h.p.Load() }

// Store makes g the current graph.
func (h *GraphHolder) Store(g *Graph) { h.p.Store(g) }

// IVR returns a copy of IVR id with its defaults filled in.
func (g *Graph) IVR(id int64) (*IVR, bool) {
	if g == nil {
		return nil, false
	}
	iv, ok := g.ivrs[id]
	if !ok {
		return nil, false
	}
	return cloneIVR(&iv.IVR), true
}

// RingGroup returns a copy of ring group id with its defaults filled in.
func (g *Graph) RingGroup(id int64) (*RingGroup, bool) {
	if g == nil {
		return nil, false
	}
	rg, ok := g.ringGroups[id]
	if !ok {
		return nil, false
	}
	return cloneRingGroup(rg), true
}

// Schedule returns a copy of schedule id with its defaults filled in.
func (g *Graph) Schedule(id int64) (*Schedule, bool) {
	if g == nil {
		return nil, false
	}
	s, ok := g.schedules[id]
	if !ok {
		return nil, false
	}
	return cloneSchedule(&s.Schedule), true
}

// Number returns a copy of the destination of project number e164 (exactly as given in
// GraphInput.Numbers).
func (g *Graph) Number(e164 string) (Destination, bool) {
	if g == nil {
		return Destination{}, false
	}
	d, ok := g.numbers[e164]
	if !ok {
		return Destination{}, false
	}
	return cloneDest(d), true
}

// Numbers lists the project numbers of the graph, sorted.
func (g *Graph) Numbers() []string {
	if g == nil {
		return []string{}
	}
	return slices.Sorted(maps.Keys(g.numbers))
}

// MaxHops is the number of destinations a call resolves before its walk is cut.
func (g *Graph) MaxHops() int {
	if g == nil {
		return DefaultMaxHops
	}
	return g.maxHops
}

// NewGraph validates in and compiles it into a Graph. On invalid input it returns a
// *GraphValidationError naming every problem, and no graph: a graph is never partially
// valid.
//
// Validation, beyond the field rules documented on each type:
//   - Every Destination (numbers, IVR choices and branches, schedule branches and caller
//     rules, ring group fallbacks, announcements' Then, nested) has a known type and a
//     target that resolves: an active extension, an existing IVR, ring group, schedule or
//     queue id, a prompt that exists, a SIP code 400-699 (empty: 480), an external number
//     of 2-20 digits with an optional leading '+'. Back only as an IVR choice; Present
//     only on external (empty: caller); Then only on announcement.
//   - No way out: every object and number must be able to reach an exit (see wayOut);
//     a cycle with a way out is valid and cut at run time after MaxHops destinations.
func NewGraph(in GraphInput) (*Graph, error) {
	b := newBuilder(in)
	b.build()
	if len(b.errs) > 0 {
		return nil, &GraphValidationError{Errors: b.errs}
	}
	return b.g, nil
}

func newBuilder(in GraphInput) *builder {
	b := &builder{
		in:      in,
		prompts: map[string]bool{},
		ivrIDs:  map[int64]bool{},
		rgIDs:   map[int64]bool{},
		schIDs:  map[int64]bool{},
		edges:   map[string][]outcome{},
		g: &Graph{
			numbers:    make(map[string]Destination, len(in.Numbers)),
			ivrs:       make(map[int64]*ivr, len(in.IVRs)),
			ringGroups: make(map[int64]*RingGroup, len(in.RingGroups)),
			schedules:  make(map[int64]*schedule, len(in.Schedules)),
			queues:     map[int64]bool{},
			extensions: map[string]bool{},
			maxHops:    in.MaxHops,
		},
	}
	for e, ok := range in.Extensions {
		if ok {
			b.g.extensions[e] = true
		}
	}
	for q, ok := range in.Queues {
		if ok {
			b.g.queues[q] = true
		}
	}
	for q := range in.QueueExits {
		if q > 0 {
			b.g.queues[q] = true
		}
	}
	b.extList = slices.Sorted(maps.Keys(b.g.extensions))
	return b
}

// build validates everything and fills the graph in.
func (b *builder) build() {
	in := b.in
	if in.MaxHops < 0 {
		b.bad("input", "max_hops", "must not be negative")
	}
	if b.g.maxHops <= 0 {
		b.g.maxHops = DefaultMaxHops
	}

	// Ids first, so references resolve whatever the order of the lists.
	b.ids("ivr", len(in.IVRs), func(i int) int64 { return in.IVRs[i].ID }, b.ivrIDs)
	b.ids("ring_group", len(in.RingGroups), func(i int) int64 { return in.RingGroups[i].ID }, b.rgIDs)
	b.ids("schedule", len(in.Schedules), func(i int) int64 { return in.Schedules[i].ID }, b.schIDs)

	for _, num := range slices.Sorted(maps.Keys(in.Numbers)) {
		obj := "number " + num
		if !isE164(num) {
			b.bad(obj, "", "not an E.164 number: want + and 2 to 15 digits, the first not 0")
		}
		b.g.numbers[num] = b.dest(obj, "destination", in.Numbers[num], false)
	}
	for i := range in.IVRs {
		b.ivr(i)
	}
	for i := range in.RingGroups {
		b.ringGroup(i)
	}
	for i := range in.Schedules {
		b.schedule(i)
	}
	for _, id := range slices.Sorted(maps.Keys(in.QueueExits)) {
		b.queueExits(id, in.QueueExits[id])
	}
	b.wayOut()
}

// builder validates a GraphInput and builds the Graph.
type builder struct {
	in      GraphInput
	g       *Graph
	errs    []GraphError
	prompts map[string]bool // Prompts answers, asked once per ref
	extList []string        // active extensions, sorted
	ivrIDs  map[int64]bool
	rgIDs   map[int64]bool
	schIDs  map[int64]bool
	// edges holds, for each object that may fail to reach an exit ("number +48...", "ivr
	// 3", "schedule 1"), where its destinations lead, for wayOut.
	edges map[string][]outcome
}

func (b *builder) bad(object, field, format string, args ...any) {
	b.errs = append(b.errs, GraphError{Object: object, Field: field, Message: fmt.Sprintf(format, args...)})
}

// ids collects the ids of one kind of object, reporting bad and duplicate ones; the
// first of duplicates is the one kept.
func (b *builder) ids(kind string, n int, id func(int) int64, seen map[int64]bool) {
	for i := range n {
		v := id(i)
		obj := fmt.Sprintf("%s %d", kind, v)
		switch {
		case v <= 0:
			b.bad(obj, "id", "must be positive")
		case seen[v]:
			b.bad(obj, "id", "duplicate: another %s has id %d", kind, v)
		default:
			seen[v] = true
		}
	}
}

// keep reports whether the object at index i of its list is the one kept for its id
// (positive, first of duplicates).
func keep[T any](list []T, i int, id func(*T) int64) bool {
	v := id(&list[i])
	if v <= 0 {
		return false
	}
	for j := range i {
		if id(&list[j]) == v {
			return false
		}
	}
	return true
}

// outcome is where a destination leads, for the way-out analysis: an exit, or the
// object (ivr or schedule) at the end of its announcement chain.
type outcome struct {
	exit  bool
	to    string // "ivr 3", "schedule 1"
	field string // the field that names it, e.g. "choices[0].destination.then.target"
}

// name checks a required name.
func (b *builder) name(obj, field, s string, required bool) {
	switch {
	case strings.TrimSpace(s) == "":
		if required {
			b.bad(obj, field, "required")
		}
	case utf8.RuneCountInString(s) > maxNameLen:
		b.bad(obj, field, "longer than %d characters", maxNameLen)
	}
}

// prompt checks a prompt reference: well formed, and existing.
func (b *builder) prompt(obj, field string, ref PromptRef) {
	if !validPromptRef(ref) {
		b.bad(obj, field, "not a prompt reference: want an uploaded prompt id or system:<path>")
		return
	}
	if b.in.Prompts == nil {
		return
	}
	ok, asked := b.prompts[ref]
	if !asked {
		ok = b.in.Prompts(ref)
		b.prompts[ref] = ok
	}
	if !ok {
		b.bad(obj, field, "no prompt %s", ref)
	}
}

// validPromptRef: a positive decimal id without leading zeros, or "system:" and a path of
// segments of letters, digits, '_', '-' and '.' (not "." or "..").
func validPromptRef(ref string) bool {
	if p, ok := strings.CutPrefix(ref, SystemPromptPrefix); ok {
		if p == "" || len(p) > 200 {
			return false
		}
		for seg := range strings.SplitSeq(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return false
			}
			for i := 0; i < len(seg); i++ {
				c := seg[i]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
					return false
				}
			}
		}
		return true
	}
	return allDigits(ref) && ref[0] != '0' && len(ref) <= 18
}

// dest validates d, found at field path p of object obj, and returns a copy with its
// defaults filled in. back allows DestBack (IVR choices). It records where d leads for
// the way-out analysis.
func (b *builder) dest(obj, p string, d Destination, back bool) Destination {
	out := Destination{Type: d.Type, Target: d.Target, Present: d.Present, Priority: d.Priority}
	if d.Priority != 0 && d.Type != DestQueue {
		b.bad(obj, p+".priority", "only for queue destinations")
	} else if d.Priority < 0 || d.Priority > MaxQueuePriority {
		b.bad(obj, p+".priority", "must be between 0 and %d", MaxQueuePriority)
	}
	if d.Present != "" && d.Type != DestExternal {
		b.bad(obj, p+".present", "only for external destinations")
	}
	if d.Then != nil && d.Type != DestAnnouncement {
		b.bad(obj, p+".then", "only for announcement destinations")
	}
	exit := outcome{exit: true}
	leads := exit
	switch d.Type {
	case "":
		b.bad(obj, p+".type", "required")
	case DestExtension:
		switch {
		case d.Target == "":
			b.bad(obj, p+".target", "required")
		case !b.g.extensions[d.Target]:
			b.bad(obj, p+".target", "no extension %s", d.Target)
		}
	case DestRingGroup:
		b.ref(obj, p, d.Target, "ring_group", func(id int64) bool { return b.rgIDs[id] })
	case DestQueue:
		b.ref(obj, p, d.Target, "queue", func(id int64) bool { return b.g.queues[id] })
	case DestIVR:
		if b.ref(obj, p, d.Target, "ivr", func(id int64) bool { return b.ivrIDs[id] }) {
			leads = outcome{to: "ivr " + d.Target, field: p + ".target"}
		}
	case DestSchedule:
		if b.ref(obj, p, d.Target, "schedule", func(id int64) bool { return b.schIDs[id] }) {
			leads = outcome{to: "schedule " + d.Target, field: p + ".target"}
		}
	case DestExternal:
		if !validExternal(d.Target) {
			b.bad(obj, p+".target", "not a number: want 2 to 20 digits with an optional leading +")
		}
		switch d.Present {
		case "":
			out.Present = PresentCaller
		case PresentCaller, PresentDID:
		default:
			b.bad(obj, p+".present", "must be caller or did")
		}
	case DestAnnouncement:
		if d.Target == "" {
			b.bad(obj, p+".target", "required")
		} else {
			b.prompt(obj, p+".target", d.Target)
		}
		if d.Then != nil {
			// The chain leads where its last link does (nil Then: hang up, an exit).
			before := b.edges[obj]
			then := b.dest(obj, p+".then", *d.Then, false)
			out.Then = &then
			if after := b.edges[obj]; len(after) > len(before) {
				leads = after[len(after)-1]
				b.edges[obj] = after[:len(after)-1]
			}
		}
	case DestHangup:
		if d.Target == "" {
			out.Target = strconv.Itoa(DefaultHangupCode)
		} else if code, err := strconv.Atoi(d.Target); err != nil || code < 400 || code > 699 || !allDigits(d.Target) {
			b.bad(obj, p+".target", "must be a SIP code 400-699")
		}
	case DestBack:
		if !back {
			b.bad(obj, p+".type", "back is only valid as the destination of an IVR choice")
		}
		if d.Target != "" {
			b.bad(obj, p+".target", "must be empty for back")
		}
		// Back leads to a menu the caller came from, unknown here: no way out of its own.
		return out
	default:
		b.bad(obj, p+".type", "unknown type %q: want extension, ring_group, ivr, queue, external, announcement, hangup or schedule", d.Type)
	}
	b.edges[obj] = append(b.edges[obj], leads)
	return out
}

// ref checks an id target of kind ("ivr", "ring_group", "schedule", "queue"); it reports
// whether the target names an existing object.
func (b *builder) ref(obj, p, target, kind string, exists func(int64) bool) bool {
	if target == "" {
		b.bad(obj, p+".target", "required")
		return false
	}
	id, err := strconv.ParseInt(target, 10, 64)
	if err != nil || id <= 0 || !allDigits(target) || target[0] == '0' {
		b.bad(obj, p+".target", "must be an id: a positive integer")
		return false
	}
	if !exists(id) {
		b.bad(obj, p+".target", "no %s %d", kind, id)
		return false
	}
	return true
}

// validExternal: 2 to 20 digits with an optional leading '+'.
func validExternal(s string) bool {
	s = strings.TrimPrefix(s, "+")
	return allDigits(s) && len(s) >= 2 && len(s) <= 20
}

// isE164: '+', then 2 to 15 digits, the first not 0.
func isE164(s string) bool {
	d, ok := strings.CutPrefix(s, "+")
	return ok && allDigits(d) && d[0] != '0' && len(d) >= 2 && len(d) <= maxE164Digits
}

// ms checks an optional timeout in milliseconds.
func (b *builder) ms(obj, field string, v int) {
	if v != 0 && (v < minTimeoutMS || v > maxTimeoutMS) {
		b.bad(obj, field, "must be 0 (default) or %d to %d", minTimeoutMS, maxTimeoutMS)
	}
}

// seconds checks an optional ring time in seconds.
func (b *builder) seconds(obj, field string, v int) {
	if v != 0 && (v < minRingSeconds || v > maxRingSeconds) {
		b.bad(obj, field, "must be 0 (default) or %d to %d", minRingSeconds, maxRingSeconds)
	}
}

func (b *builder) ivr(i int) {
	in := &b.in.IVRs[i]
	obj := fmt.Sprintf("ivr %d", in.ID)
	iv := &ivr{IVR: *cloneIVR(in)}
	b.name(obj, "name", in.Name, true)
	if in.Menu == "" {
		b.bad(obj, "menu", "required")
	} else {
		b.prompt(obj, "menu", in.Menu)
	}
	if in.Greeting != "" {
		b.prompt(obj, "greeting", in.Greeting)
	}
	if in.InvalidPrompt != "" {
		b.prompt(obj, "invalid_prompt", in.InvalidPrompt)
	}
	if in.NoInputPrompt != "" {
		b.prompt(obj, "no_input_prompt", in.NoInputPrompt)
	}

	seen := map[string]int{}
	longest := 0
	for j, c := range in.Choices {
		p := fmt.Sprintf("choices[%d]", j)
		switch {
		case c.Digits == "":
			b.bad(obj, p+".digits", "required")
		case len(c.Digits) > maxChoiceDigits:
			b.bad(obj, p+".digits", "longer than %d characters", maxChoiceDigits)
		case strings.Trim(c.Digits, "0123456789*#") != "":
			b.bad(obj, p+".digits", "must be of 0-9 * #")
		case strings.Contains(c.Digits[:len(c.Digits)-1], "#"):
			b.bad(obj, p+".digits", "# ends the input: it may only be the last character")
		default:
			if k, dup := seen[c.Digits]; dup {
				b.bad(obj, p+".digits", "duplicate: choices[%d] has the same digits", k)
			}
			seen[c.Digits] = j
			longest = max(longest, len(c.Digits))
		}
		iv.Choices[j].Destination = b.dest(obj, p+".destination", c.Destination, true)
	}
	if in.DialExtensions && len(b.extList) > 0 {
		b.edges[obj] = append(b.edges[obj], outcome{exit: true})
	}

	switch {
	case in.MaxDigits < 0 || in.MaxDigits > maxChoiceDigits:
		b.bad(obj, "max_digits", "must be 0 (the longest choice) to %d", maxChoiceDigits)
	case in.MaxDigits > 0 && in.MaxDigits < longest:
		b.bad(obj, "max_digits", "shorter than the longest choice (%d digits)", longest)
	}
	b.ms(obj, "inter_digit_ms", in.InterDigitMS)
	b.ms(obj, "no_input_ms", in.NoInputMS)
	if in.Retries != nil && (*in.Retries < 0 || *in.Retries > maxRetries) {
		b.bad(obj, "retries", "must be 0 to %d", maxRetries)
	}
	switch in.Answer {
	case "", AnswerAnswer, AnswerEarlyMedia:
	default:
		b.bad(obj, "answer", "must be answer or early_media")
	}
	if in.NoInput != nil {
		d := b.dest(obj, "no_input", *in.NoInput, false)
		iv.NoInput = &d
	}
	if in.Invalid != nil {
		d := b.dest(obj, "invalid", *in.Invalid, false)
		iv.Invalid = &d
	}
	// A failure without its own branch retries, then goes to MaxRetries (nil: hang up).
	retries := in.NoInput == nil || in.Invalid == nil
	if in.MaxRetries != nil {
		before := len(b.edges[obj])
		d := b.dest(obj, "max_retries", *in.MaxRetries, false)
		iv.MaxRetries = &d
		if !retries { // never taken: not a way out
			b.edges[obj] = b.edges[obj][:before]
		}
	} else if retries {
		b.edges[obj] = append(b.edges[obj], outcome{exit: true})
	}

	// Defaults.
	if iv.InterDigitMS == 0 {
		iv.InterDigitMS = DefaultInterDigitMS
	}
	if iv.NoInputMS == 0 {
		iv.NoInputMS = DefaultNoInputMS
	}
	if iv.Retries == nil {
		r := DefaultRetries
		iv.Retries = &r
	}
	if iv.Answer == "" {
		iv.Answer = AnswerAnswer
	}
	var exts []string
	if iv.DialExtensions {
		exts = b.extList
	}
	if iv.MaxDigits == 0 {
		iv.MaxDigits = max(1, longest)
		for _, e := range exts {
			iv.MaxDigits = max(iv.MaxDigits, min(len(e), maxChoiceDigits))
		}
	}
	iv.menu = newMenu(&iv.IVR, exts, b.g.extensions)
	if keep(b.in.IVRs, i, func(v *IVR) int64 { return v.ID }) {
		b.g.ivrs[in.ID] = iv
	}
}

func (b *builder) ringGroup(i int) {
	in := &b.in.RingGroups[i]
	obj := fmt.Sprintf("ring_group %d", in.ID)
	rg := cloneRingGroup(in)
	b.name(obj, "name", in.Name, true)
	switch in.Strategy {
	case "":
		b.bad(obj, "strategy", "required: ring_all, linear, round_robin or random")
	case RingAll, RingLinear, RingRoundRobin, RingRandom:
	default:
		b.bad(obj, "strategy", "unknown strategy %q: want ring_all, linear, round_robin or random", in.Strategy)
	}
	if len(in.Members) == 0 {
		b.bad(obj, "members", "at least one member required")
	}
	seen := map[string]int{}
	for j, m := range in.Members {
		p := fmt.Sprintf("members[%d]", j)
		switch {
		case m.Extension == "":
			b.bad(obj, p+".extension", "required")
		case !b.g.extensions[m.Extension]:
			b.bad(obj, p+".extension", "no extension %s", m.Extension)
		}
		if k, dup := seen[m.Extension]; dup && m.Extension != "" {
			b.bad(obj, p+".extension", "duplicate: members[%d] has the same extension", k)
		}
		seen[m.Extension] = j
		b.seconds(obj, p+".ring_seconds", m.RingSeconds)
	}
	b.seconds(obj, "member_seconds", in.MemberSeconds)
	b.seconds(obj, "group_seconds", in.GroupSeconds)
	if in.MemberSeconds > 0 && in.GroupSeconds > 0 && in.GroupSeconds < in.MemberSeconds {
		b.bad(obj, "group_seconds", "shorter than member_seconds")
	}
	if in.Fallback != nil {
		d := b.dest(obj, "fallback", *in.Fallback, false)
		rg.Fallback = &d
	}
	// A ring group is an exit (its members may answer): its fallback needs no way out.
	delete(b.edges, obj)
	if rg.MemberSeconds == 0 {
		rg.MemberSeconds = DefaultMemberSeconds
	}
	if rg.GroupSeconds == 0 {
		rg.GroupSeconds = DefaultGroupSeconds
	}
	if keep(b.in.RingGroups, i, func(v *RingGroup) int64 { return v.ID }) {
		b.g.ringGroups[in.ID] = rg
	}
}

// queueExits validates the overflow destinations of queue id. A queue is an exit (its
// agents may answer), so where its overflows lead needs no way out.
func (b *builder) queueExits(id int64, exits []QueueExit) {
	obj := fmt.Sprintf("queue %d", id)
	if id <= 0 {
		b.bad(obj, "id", "must be positive")
		return
	}
	for _, x := range exits {
		if x.Field == "" {
			b.bad(obj, "", "an overflow destination without a field")
			continue
		}
		b.dest(obj, x.Field, x.Destination, false)
	}
	delete(b.edges, obj)
}

// wayOut refuses destinations that can never reach an exit.
//
// Exits are extension, queue, external, hangup and ring_group (its members may answer).
// An announcement leads where its Then does (nil: hang up, an exit). An IVR has a way out
// when any of its alternatives does: a choice, dialling an extension (when DialExtensions
// and an extension exists), its no_input and invalid branches when set, and, when a
// failure has no branch of its own, max_retries (nil: hang up, an exit). A back choice is
// no way out of its own (where it leads depends on the call). A schedule picks its branch
// by the clock and the caller, not by choice, so it has a way out only when every branch
// (caller rules, open, closed, holiday) does. A number has one when its destination does.
//
// This is a least fixed point, computed backwards from the exits over the reverse graph
// (linear in the destinations); every object or number left without a way out gets an
// error whose message shows a cycle it is caught in ("no way out: ivr 3 -> schedule 1 ->
// ivr 3"). Destinations that do not resolve are reported elsewhere and count as exits
// here, to keep the answer about one problem; so does an object all of whose
// destinations are in error.
func (b *builder) wayOut() {
	good := b.escapes()
	ok := func(o outcome) bool { return o.exit || good[o.to] }
	bad := slices.SortedFunc(maps.Keys(b.edges), func(a, c string) int {
		return cmp.Or(cmp.Compare(objOrder(a), objOrder(c)), cmp.Compare(len(a), len(c)), cmp.Compare(a, c))
	})
	for _, obj := range bad {
		if good[obj] {
			continue
		}
		path := []string{}
		field := ""
		at := obj
		seen := map[string]bool{}
		for !seen[at] {
			seen[at] = true
			path = append(path, at)
			i := slices.IndexFunc(b.edges[at], func(o outcome) bool { return !ok(o) })
			if i < 0 { // cannot happen: a bad object has a bad outcome
				break
			}
			if at == obj {
				field = b.edges[at][i].field
			}
			at = b.edges[at][i].to
		}
		path = append(path, at)
		if strings.HasPrefix(obj, "number ") {
			path = path[1:]
		}
		b.bad(obj, field, "no way out: %s", strings.Join(path, " -> "))
	}
}

// escapes returns the objects (keys of b.edges) that have a way out: see wayOut.
func (b *builder) escapes() map[string]bool {
	anyOf := func(obj string) bool { return strings.HasPrefix(obj, "ivr ") }
	good := map[string]bool{}
	need := map[string]int{}      // outcomes not known to have a way out yet
	from := map[string][]string{} // object -> the objects with an outcome leading to it
	var found []string            // objects found to have a way out, to propagate
	mark := func(obj string) {
		if !good[obj] {
			good[obj] = true
			found = append(found, obj)
		}
	}
	for obj, outs := range b.edges {
		for _, o := range outs {
			if !o.exit {
				need[obj]++
				from[o.to] = append(from[o.to], obj)
			}
		}
		// An IVR needs one outcome with a way out, the others all of them.
		if need[obj] == 0 || anyOf(obj) && need[obj] < len(outs) {
			mark(obj)
		}
	}
	for len(found) > 0 {
		obj := found[len(found)-1]
		found = found[:len(found)-1]
		for _, p := range from[obj] {
			if need[p]--; anyOf(p) || need[p] == 0 {
				mark(p)
			}
		}
	}
	return good
}

// objOrder sorts way-out errors: numbers, IVRs, schedules.
func objOrder(obj string) int {
	switch {
	case strings.HasPrefix(obj, "number "):
		return 0
	case strings.HasPrefix(obj, "ivr "):
		return 1
	}
	return 2
}

func cloneDest(d Destination) Destination {
	if d.Then != nil {
		t := cloneDest(*d.Then)
		d.Then = &t
	}
	return d
}

func cloneDestPtr(d *Destination) *Destination {
	if d == nil {
		return nil
	}
	c := cloneDest(*d)
	return &c
}

func cloneIVR(in *IVR) *IVR {
	c := *in
	c.Choices = slices.Clone(in.Choices)
	for i := range c.Choices {
		c.Choices[i].Destination = cloneDest(c.Choices[i].Destination)
	}
	if in.Retries != nil {
		r := *in.Retries
		c.Retries = &r
	}
	c.NoInput = cloneDestPtr(in.NoInput)
	c.Invalid = cloneDestPtr(in.Invalid)
	c.MaxRetries = cloneDestPtr(in.MaxRetries)
	return &c
}

func cloneRingGroup(in *RingGroup) *RingGroup {
	c := *in
	c.Members = slices.Clone(in.Members)
	c.Fallback = cloneDestPtr(in.Fallback)
	return &c
}

func cloneSchedule(in *Schedule) *Schedule {
	c := *in
	c.Hours = slices.Clone(in.Hours)
	for i := range c.Hours {
		c.Hours[i].Days = slices.Clone(c.Hours[i].Days)
	}
	c.Holidays = slices.Clone(in.Holidays)
	c.Exceptions = slices.Clone(in.Exceptions)
	for i := range c.Exceptions {
		c.Exceptions[i].Hours = slices.Clone(c.Exceptions[i].Hours)
	}
	c.CallerRules = slices.Clone(in.CallerRules)
	for i := range c.CallerRules {
		r := &c.CallerRules[i]
		r.Numbers = slices.Clone(r.Numbers)
		r.Prefixes = slices.Clone(r.Prefixes)
		r.Destination = cloneDest(r.Destination)
	}
	c.Open = cloneDest(in.Open)
	c.Closed = cloneDest(in.Closed)
	c.Holiday = cloneDestPtr(in.Holiday)
	return &c
}
