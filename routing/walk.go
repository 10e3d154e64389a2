package routing

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// NodeKind is what a Node asks of the call engine.
type NodeKind string

// Node kinds.
const (
	NodeExtension    NodeKind = "extension"    // ring Extension; report Answered or NoAnswer
	NodeRingGroup    NodeKind = "ring_group"   // ring RingGroup's members (RingOrder); report Answered or NoAnswer
	NodeIVR          NodeKind = "ivr"          // play Prompts, collect digits (Complete); report Input
	NodeQueue        NodeKind = "queue"        // put the call in Queue; report Answered or NoAnswer
	NodeExternal     NodeKind = "external"     // dial Number through the outbound rules presenting Present; report Answered or NoAnswer
	NodeAnnouncement NodeKind = "announcement" // play Prompts[0]; report Done
	NodeHangup       NodeKind = "hangup"       // answer Code (or hang up an answered call); the walk is over
)

// Node is the next thing a call needs from the outside world.
type Node struct {
	Kind      NodeKind
	Extension string     // extension
	RingGroup *RingGroup // ring_group: a copy, defaults filled (MemberSeconds 20, GroupSeconds 60)
	// IVR is a copy of the menu with its defaults filled (InterDigitMS 2000, NoInputMS 5000,
	// Retries 2, Answer "answer", MaxDigits the longest choice or dialable extension).
	IVR *IVR
	// Prompts is what to play now. IVR: on entry the greeting (on the menu's first entry
	// in this call only) and the menu; on a retry the invalid or no-input prompt (if any)
	// and the menu. Announcement: its prompt.
	Prompts  []PromptRef
	Retry    int     // ivr: 0 on entry, 1.. on retries
	Queue    int64   // queue
	Priority int     // queue: the caller's priority (Destination.Priority)
	Number   string  // external: the number to dial
	Present  Present // external: who is presented (caller or did)
	DID      string  // the project number called (every node)
	Code     int     // hangup: SIP code 400-699
	// Reason says why a hangup happens, for the CDR: "destination hangup", "loop cut after
	// 20 hops", "ivr 3: too many retries", "ring_group 2: no answer", "announcement ended".
	Reason string

	menu *menu // ivr: the compiled digit table, for Complete
}

// Hop types other than the destination types.
const HopNumber = "number" // the project number called: the first hop of every path

// IVR branches, as recorded in Hop.Branch of an IVR visit: where the visit went.
const (
	BranchChoice     = "choice"      // a choice: Digits
	BranchExtension  = "extension"   // DialExtensions: Digits was an extension
	BranchBack       = "back"        // a choice whose destination is back
	BranchNoInput    = "no_input"    // no input, to the no_input branch
	BranchInvalid    = "invalid"     // invalid input, to the invalid branch
	BranchRetry      = "retry"       // a failure (Note) replayed the menu: the next hop is the retry
	BranchMaxRetries = "max_retries" // a failure (Note) with no retries left
)

// Hop is one step of a call's path, stored in its CDR and answered by simulate.
//
// Every destination resolved is one hop (the number first). An IVR visit is one hop: its
// Prompts are what the visit played, Digits what the caller pressed, Branch where the
// visit went; a retry is a new hop of the same IVR (Prompts: the retry prompt and the
// menu) after one with Branch "retry" and Note "no input" or "invalid input". A schedule
// hop's Branch is the branch taken (caller_rule, exception, holiday, open, closed), its
// Note the caller rule's name, the holiday's name or the exception's name and whether it
// was open. A ring group's Members are the extensions tried when nobody answered; Note is
// "no answer" then. A hangup hop's Target is the code and Note the reason.
type Hop struct {
	Type     string   `json:"type"`   // "number", "schedule", "ivr", "ring_group", "announcement", "extension", "queue", "external", "hangup"
	Target   string   `json:"target"` // number, id, extension, prompt, code
	Name     string   `json:"name,omitempty"`
	Branch   string   `json:"branch,omitempty"`
	Digits   string   `json:"digits,omitempty"`   // ivr: what the caller pressed
	Prompts  []string `json:"prompts,omitempty"`  // what was played at this step
	Members  []string `json:"members,omitempty"`  // ring group: extensions tried, in order
	Answered string   `json:"answered,omitempty"` // who answered
	Note     string   `json:"note,omitempty"`
}

type walkState uint8

const (
	walkResolve walkState = iota // Next resolves w.next (or replays the menu)
	walkWait                     // w.node was handed out; waiting for the engine's report
	walkEnded                    // hung up or answered: Next repeats w.node
)

// Walk is one call's way through a Graph. It belongs to the goroutine that owns the call
// and is not safe for concurrent use.
//
// The engine loops: Next gives a node, the engine does what it asks and reports back with
// the method its kind names (Input, Done, NoAnswer, Answered); a hangup node ends the walk.
// Until the report, Next returns the same node again; after the walk ended it returns the
// last node (the hangup, or the node that answered). A report that does not fit the
// current node (Input on a ring group, Done twice, anything after the end) is ignored, so
// no order of calls can break a walk.
//
// Every destination resolved counts one hop; when MaxHops have resolved, the next one is
// not: the walk hangs up 480 with the reason "loop cut after N hops" (a cycle with a way
// out, such as a menu option back to the same menu, is only cut here). The implicit
// hangups (after an announcement without Then, too many retries, no answer without a
// fallback) are not counted.
type Walk struct {
	g      *Graph
	did    string
	caller string
	path   []Hop
	hops   int
	state  walkState

	next    Destination // to resolve (walkResolve)
	counted bool        // next counts toward MaxHops
	reason  string      // the reason of an implicit hangup in next
	replay  bool        // walkResolve: replay curIVR (a retry) instead of next
	prompt  PromptRef   // the retry prompt

	node   Node        // handed out last
	hop    int         // index in path of node's hop
	cur    Destination // the destination node came from
	curIVR *ivr
	curRG  *RingGroup
	retry  int

	stack   []int64 // IVRs visited, the current one on top, for back
	greeted []int64 // IVRs whose greeting was played
}

// Start begins a walk for a call to number (exactly as in GraphInput.Numbers) from caller
// (the caller's number as received, for caller rules). It returns an error wrapping
// ErrNoNumber when number has no scheme.
func (g *Graph) Start(number, caller string) (*Walk, error) {
	if g == nil {
		return nil, fmt.Errorf("start %s: %w", number, ErrNoNumber)
	}
	d, ok := g.numbers[number]
	if !ok {
		return nil, fmt.Errorf("start %s: %w", number, ErrNoNumber)
	}
	return &Walk{
		g: g, did: number, caller: caller,
		path:  []Hop{{Type: HopNumber, Target: number}},
		state: walkResolve, next: d, counted: true,
	}, nil
}

// Next resolves destinations until one needs the outside world and returns it. Schedules
// and caller rules need only at and the caller, so Next resolves them itself (at is the
// instant of the call or of this step).
func (w *Walk) Next(at time.Time) Node {
	if w.state != walkResolve {
		return w.node
	}
	if w.replay {
		w.replay = false
		iv := w.curIVR
		var prompts []PromptRef
		if w.prompt != "" {
			prompts = append(prompts, w.prompt)
		}
		prompts = append(prompts, iv.Menu)
		return w.present(Node{Kind: NodeIVR, IVR: cloneIVR(&iv.IVR), Prompts: prompts, Retry: w.retry, menu: iv.menu},
			Hop{Type: string(DestIVR), Target: strconv.FormatInt(iv.ID, 10), Name: iv.Name})
	}
	for {
		d := w.next
		if w.counted {
			if w.hops >= w.g.maxHops {
				return w.hangup(DefaultHangupCode, fmt.Sprintf("loop cut after %d hops", w.hops))
			}
			w.hops++
		}
		w.counted = true
		w.cur = d
		id, _ := strconv.ParseInt(d.Target, 10, 64)
		switch d.Type {
		case DestSchedule:
			s, ok := w.g.schedules[id]
			if !ok {
				return w.hangup(DefaultHangupCode, "no schedule "+d.Target)
			}
			next, branch, note := s.route(at, w.caller)
			w.path = append(w.path, Hop{Type: string(DestSchedule), Target: d.Target, Name: s.Name, Branch: branch, Note: note})
			w.next = next
		case DestIVR:
			iv, ok := w.g.ivrs[id]
			if !ok {
				return w.hangup(DefaultHangupCode, "no ivr "+d.Target)
			}
			return w.enterIVR(iv, false)
		case DestBack:
			switch n := len(w.stack); {
			case n > 1:
				w.stack = w.stack[:n-1]
			case n == 0:
				return w.hangup(DefaultHangupCode, "back without a menu")
			}
			return w.enterIVR(w.g.ivrs[w.stack[len(w.stack)-1]], true)
		case DestRingGroup:
			rg, ok := w.g.ringGroups[id]
			if !ok {
				return w.hangup(DefaultHangupCode, "no ring_group "+d.Target)
			}
			w.curRG = rg
			return w.present(Node{Kind: NodeRingGroup, RingGroup: cloneRingGroup(rg)},
				Hop{Type: string(DestRingGroup), Target: d.Target, Name: rg.Name})
		case DestExtension:
			return w.present(Node{Kind: NodeExtension, Extension: d.Target},
				Hop{Type: string(DestExtension), Target: d.Target})
		case DestQueue:
			return w.present(Node{Kind: NodeQueue, Queue: id, Priority: d.Priority}, Hop{Type: string(DestQueue), Target: d.Target})
		case DestExternal:
			present := d.Present
			if present == "" {
				present = PresentCaller
			}
			return w.present(Node{Kind: NodeExternal, Number: d.Target, Present: present},
				Hop{Type: string(DestExternal), Target: d.Target})
		case DestAnnouncement:
			return w.present(Node{Kind: NodeAnnouncement, Prompts: []PromptRef{d.Target}},
				Hop{Type: string(DestAnnouncement), Target: d.Target})
		case DestHangup:
			code, err := strconv.Atoi(d.Target)
			if err != nil || code < 400 || code > 699 {
				code = DefaultHangupCode
			}
			reason := w.reason
			if reason == "" {
				reason = "destination hangup"
			}
			return w.hangup(code, reason)
		default:
			return w.hangup(DefaultHangupCode, fmt.Sprintf("unknown destination type %q", d.Type))
		}
	}
}

// enterIVR presents iv from the top. Entering a menu puts it on the back stack, or, when
// the caller was there before, cuts the stack back to it; back re-enters the menu below
// without touching the stack.
func (w *Walk) enterIVR(iv *ivr, back bool) Node {
	if iv == nil {
		return w.hangup(DefaultHangupCode, "back to a missing menu")
	}
	if !back {
		if k := slices.Index(w.stack, iv.ID); k >= 0 {
			w.stack = w.stack[:k+1]
		} else {
			w.stack = append(w.stack, iv.ID)
		}
	}
	w.curIVR, w.retry = iv, 0
	var prompts []PromptRef
	if iv.Greeting != "" && !slices.Contains(w.greeted, iv.ID) {
		prompts = append(prompts, iv.Greeting)
		w.greeted = append(w.greeted, iv.ID)
	}
	prompts = append(prompts, iv.Menu)
	return w.present(Node{Kind: NodeIVR, IVR: cloneIVR(&iv.IVR), Prompts: prompts, menu: iv.menu},
		Hop{Type: string(DestIVR), Target: strconv.FormatInt(iv.ID, 10), Name: iv.Name})
}

// present hands n out and records its hop.
func (w *Walk) present(n Node, h Hop) Node {
	n.DID = w.did
	h.Prompts = slices.Clone(n.Prompts)
	w.path = append(w.path, h)
	w.hop = len(w.path) - 1
	w.node = n
	w.state = walkWait
	return n
}

// hangup ends the walk with code.
func (w *Walk) hangup(code int, reason string) Node {
	w.reason = ""
	w.path = append(w.path, Hop{Type: string(DestHangup), Target: strconv.Itoa(code), Note: reason})
	w.hop = len(w.path) - 1
	w.node = Node{Kind: NodeHangup, DID: w.did, Code: code, Reason: reason}
	w.state = walkEnded
	return w.node
}

// goTo makes d the destination the next Next resolves.
func (w *Walk) goTo(d Destination) {
	w.next, w.counted, w.reason, w.state = d, true, "", walkResolve
}

// end makes the next Next hang up 480 for reason, without counting a hop.
func (w *Walk) end(reason string) {
	w.next = Destination{Type: DestHangup, Target: strconv.Itoa(DefaultHangupCode)}
	w.counted, w.reason, w.state = false, reason, walkResolve
}

// waiting reports whether the walk waits for a report on a node of one of kinds.
func (w *Walk) waiting(kinds ...NodeKind) bool {
	return w.state == walkWait && slices.Contains(kinds, w.node.Kind)
}

// Input reports the caller's complete input to the IVR node ("" = nothing pressed before
// the no-input timeout). A choice goes to its destination (Branch "choice", or "back");
// with DialExtensions an extension goes to it (Branch "extension"); a choice wins over an
// extension of the same digits. Otherwise it is a failure, no input or invalid: to the
// NoInput or Invalid branch when set; else, while retries are left, the next Next
// replays the menu with Retry+1; else to MaxRetries (nil: hang up 480, "ivr N: too many
// retries"). No input and invalid input count against the same Retries. Ignored when the
// walk is not waiting on an IVR.
func (w *Walk) Input(digits string) {
	if !w.waiting(NodeIVR) || w.curIVR == nil {
		return
	}
	iv := w.curIVR
	h := &w.path[w.hop]
	h.Digits = digits
	kind, i, ext := iv.menu.match(digits)
	switch kind {
	case inputChoice:
		d := iv.Choices[i].Destination
		h.Branch = BranchChoice
		if d.Type == DestBack {
			h.Branch = BranchBack
		}
		w.goTo(d)
	case inputExtension:
		h.Branch = BranchExtension
		w.goTo(Destination{Type: DestExtension, Target: ext})
	case inputNone:
		w.fail(h, iv.NoInput, iv.NoInputPrompt, BranchNoInput, "no input")
	default:
		w.fail(h, iv.Invalid, iv.InvalidPrompt, BranchInvalid, "invalid input")
	}
}

// fail handles a failed input of the current IVR, recorded in h.
func (w *Walk) fail(h *Hop, branch *Destination, prompt PromptRef, name, note string) {
	iv := w.curIVR
	if branch != nil {
		h.Branch = name
		w.goTo(*branch)
		return
	}
	retries := DefaultRetries
	if iv.Retries != nil {
		retries = *iv.Retries
	}
	h.Note = note
	if w.retry < retries {
		h.Branch = BranchRetry
		w.retry++
		w.replay, w.prompt, w.state = true, prompt, walkResolve
		return
	}
	h.Branch = BranchMaxRetries
	if iv.MaxRetries != nil {
		w.goTo(*iv.MaxRetries)
		return
	}
	w.end(fmt.Sprintf("ivr %d: too many retries", iv.ID))
}

// Done reports that the announcement node finished playing: the walk goes on to its Then
// (nil: hang up 480, "announcement ended"). Ignored on other nodes.
func (w *Walk) Done() {
	if !w.waiting(NodeAnnouncement) {
		return
	}
	if w.cur.Then != nil {
		w.goTo(*w.cur.Then)
		return
	}
	w.end("announcement ended")
}

// NoAnswer reports that nobody answered the node. Ring group: tried are the extensions
// rung, in order (recorded in the hop's Members); the walk goes to its Fallback (nil: hang
// up 480, "ring_group N: no answer"). Extension, queue, external: they have no fallback;
// the walk hangs up 480 ("extension 2001: no answer"). Ignored on other nodes.
func (w *Walk) NoAnswer(tried []string) {
	if !w.waiting(NodeRingGroup, NodeExtension, NodeQueue, NodeExternal) {
		return
	}
	h := &w.path[w.hop]
	h.Note = "no answer"
	if w.node.Kind != NodeRingGroup {
		w.end(fmt.Sprintf("%s %s: no answer", h.Type, h.Target))
		return
	}
	h.Members = slices.Clone(tried)
	if fb := w.curRG.Fallback; fb != nil {
		w.goTo(*fb)
		return
	}
	w.end(fmt.Sprintf("ring_group %d: no answer", w.curRG.ID))
}

// Exit reports that the caller left the queue node without an answer, for why (noted in the
// hop: "timeout: waited 60s (max_wait_seconds 60)"): the walk goes on to d, one of the
// queue's overflow destinations (validated with the graph as its QueueExits), or with d nil
// hangs up 480 for why. Ignored unless the walk waits on a queue.
func (w *Walk) Exit(d *Destination, why string) {
	if !w.waiting(NodeQueue) {
		return
	}
	w.path[w.hop].Note = why
	if d != nil {
		w.goTo(*d)
		return
	}
	w.end(why)
}

// Answered records who answered the node (an extension, or for an external destination
// the number) in the path; the walk ends. For a ring group, tried (optional) are the
// extensions rung, in order, recorded in the hop's Members as NoAnswer does. Ignored
// unless the walk waits on an extension, ring group, queue or external node.
func (w *Walk) Answered(by string, tried ...string) {
	if !w.waiting(NodeRingGroup, NodeExtension, NodeQueue, NodeExternal) {
		return
	}
	h := &w.path[w.hop]
	h.Answered = by
	if w.node.Kind == NodeRingGroup && len(tried) > 0 {
		h.Members = slices.Clone(tried)
	}
	w.state = walkEnded
}

// Ended reports whether the walk is over: it hung up or a destination answered.
func (w *Walk) Ended() bool { return w.state == walkEnded }

// Path returns a copy of the path so far.
func (w *Walk) Path() []Hop {
	p := slices.Clone(w.path)
	for i := range p {
		p[i].Prompts = slices.Clone(p[i].Prompts)
		p[i].Members = slices.Clone(p[i].Members)
	}
	return p
}
