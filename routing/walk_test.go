package routing

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func start(t *testing.T, g *Graph, number, caller string) *Walk {
	t.Helper()
	w, err := g.Start(number, caller)
	require.NoError(t, err)
	return w
}

// ivrNode asserts an IVR node and returns it.
func ivrNode(t *testing.T, n Node, id int64, retry int, prompts ...string) Node {
	t.Helper()
	require.Equal(t, NodeIVR, n.Kind, "%+v", n)
	require.Equal(t, id, n.IVR.ID)
	require.Equal(t, retry, n.Retry)
	require.Equal(t, prompts, n.Prompts)
	return n
}

func hangupNode(t *testing.T, n Node, code int, reason string) {
	t.Helper()
	require.Equal(t, NodeHangup, n.Kind, "%+v", n)
	require.Equal(t, code, n.Code)
	require.Equal(t, reason, n.Reason)
}

func TestWalkMenusWithBack(t *testing.T) {
	g := ccGraph(t)
	w := start(t, g, ccMain, customer)
	at := wednesdayMorning

	n := ivrNode(t, w.Next(at), 1, 0, "10", "11")
	require.Equal(t, ccMain, n.DID)
	require.Equal(t, AnswerAnswer, n.IVR.Answer)
	w.Input("2")
	ivrNode(t, w.Next(at), 2, 0, "13")
	w.Input("9") // back to the main menu, without its greeting
	ivrNode(t, w.Next(at), 1, 0, "11")
	w.Input("2")
	ivrNode(t, w.Next(at), 2, 0, "13")
	w.Input("9")
	ivrNode(t, w.Next(at), 1, 0, "11")
	w.Input("0")
	n = w.Next(at)
	require.Equal(t, Node{Kind: NodeExtension, Extension: "100", DID: ccMain}, n)
	w.Answered("100")
	require.True(t, w.Ended())
	require.Equal(t, n, w.Next(at), "after the end Next repeats the last node")

	require.Equal(t, "number +48221000000 > schedule 1 open > ivr 1 choice 2 > ivr 2 back 9 > ivr 1 choice 2 > "+
		"ivr 2 back 9 > ivr 1 choice 0 > extension 100 answered by 100", summary(w.Path()))
	p := w.Path()
	require.Equal(t, Hop{Type: "ivr", Target: "1", Name: "Main", Branch: "choice", Digits: "2", Prompts: []string{"10", "11"}}, p[2])
	require.Equal(t, Hop{Type: "schedule", Target: "1", Name: "Office hours", Branch: "open"}, p[1])
}

func TestWalkBackWithoutPreviousMenu(t *testing.T) {
	g := ccGraph(t)
	w := start(t, g, ccSupport, customer)
	ivrNode(t, w.Next(wednesdayMorning), 2, 0, "13")
	w.Input("9")
	ivrNode(t, w.Next(wednesdayMorning), 2, 0, "13")
	w.Input("2")
	require.Equal(t, Node{Kind: NodeQueue, Queue: 5, DID: ccSupport}, w.Next(wednesdayMorning))
	require.Equal(t, "number +48221000001 > ivr 2 back 9 > ivr 2 choice 2 > queue 5", summary(w.Path()))
}

// TestWalkBackStack: back goes to the menu the caller came from, through other nodes, and
// entering a menu visited before cuts the stack back to it.
func TestWalkBackStack(t *testing.T) {
	in := GraphInput{
		Numbers:    map[string]Destination{ccMain: toIVR(1)},
		Extensions: map[string]bool{"100": true},
		IVRs: []IVR{
			{ID: 1, Name: "One", Menu: "1", Choices: []Choice{{Digits: "2", Destination: toAnnouncement("9", dp(toIVR(2)))}}},
			{ID: 2, Name: "Two", Menu: "2", Choices: []Choice{{Digits: "3", Destination: toIVR(3)}, {Digits: "9", Destination: toBack()}}},
			{ID: 3, Name: "Three", Menu: "3", Choices: []Choice{{Digits: "1", Destination: toIVR(1)}, {Digits: "2", Destination: toIVR(2)}, {Digits: "9", Destination: toBack()}}},
		},
	}
	g, err := NewGraph(in)
	require.NoError(t, err)
	at := wednesdayMorning
	w := start(t, g, ccMain, "")
	ivrNode(t, w.Next(at), 1, 0, "1")
	w.Input("2")
	require.Equal(t, NodeAnnouncement, w.Next(at).Kind)
	w.Done()
	ivrNode(t, w.Next(at), 2, 0, "2")
	w.Input("3")
	ivrNode(t, w.Next(at), 3, 0, "3")
	w.Input("2") // to 2 again: the stack is cut back to [1 2]
	ivrNode(t, w.Next(at), 2, 0, "2")
	w.Input("9")
	ivrNode(t, w.Next(at), 1, 0, "1")
	w.Input("2")
	w.Next(at)
	w.Done()
	w.Next(at)
	w.Input("3")
	w.Next(at)
	w.Input("9") // from 3 back to 2
	ivrNode(t, w.Next(at), 2, 0, "2")
	require.Equal(t, []int64{1, 2}, w.stack)
}

func TestWalkRetries(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning
	w := start(t, g, ccMain, customer)
	ivrNode(t, w.Next(at), 1, 0, "10", "11")
	w.Input("")
	ivrNode(t, w.Next(at), 1, 1, "system:no-input", "11")
	w.Input("7")
	ivrNode(t, w.Next(at), 1, 2, "system:invalid", "11")
	w.Input("") // the third failure: no retries left (2), to max_retries
	require.Equal(t, NodeExtension, w.Next(at).Kind)
	require.Equal(t, "number +48221000000 > schedule 1 open > ivr 1 retry (no input) > ivr 1 retry 7 (invalid input) > "+
		"ivr 1 max_retries (no input) > extension 100", summary(w.Path()))
	require.Equal(t, []string{"system:invalid", "11"}, w.Path()[4].Prompts)
}

func TestWalkIVRBranches(t *testing.T) {
	base := func() GraphInput {
		return GraphInput{
			Numbers:    map[string]Destination{ccMain: toIVR(1)},
			Extensions: map[string]bool{"100": true, "200": true},
			IVRs: []IVR{{ID: 1, Name: "Menu", Menu: "11", NoInputPrompt: "12",
				Choices: []Choice{{Digits: "1", Destination: toExt("100")}}}},
		}
	}
	tests := []struct {
		name   string
		change func(*IVR)
		inputs []string
		path   string
		end    Node
	}{
		{name: "too many retries hang up", inputs: []string{"", "", ""},
			path: "number +48221000000 > ivr 1 retry (no input) > ivr 1 retry (no input) > ivr 1 max_retries (no input) > hangup 480 (ivr 1: too many retries)",
			end:  Node{Kind: NodeHangup, Code: 480, Reason: "ivr 1: too many retries", DID: ccMain}},
		{name: "no retries", change: func(v *IVR) { v.Retries = ip(0) }, inputs: []string{"5"},
			path: "number +48221000000 > ivr 1 max_retries 5 (invalid input) > hangup 480 (ivr 1: too many retries)",
			end:  Node{Kind: NodeHangup, Code: 480, Reason: "ivr 1: too many retries", DID: ccMain}},
		{name: "no input branch", change: func(v *IVR) { v.NoInput = dp(toExt("200")) }, inputs: []string{"9", ""},
			path: "number +48221000000 > ivr 1 retry 9 (invalid input) > ivr 1 no_input > extension 200",
			end:  Node{Kind: NodeExtension, Extension: "200", DID: ccMain}},
		{name: "invalid branch", change: func(v *IVR) { v.Invalid = dp(toHangup("404")) }, inputs: []string{"", "2"},
			path: "number +48221000000 > ivr 1 retry (no input) > ivr 1 invalid 2 > hangup 404 (destination hangup)",
			end:  Node{Kind: NodeHangup, Code: 404, Reason: "destination hangup", DID: ccMain}},
		{name: "max retries branch", change: func(v *IVR) { v.Retries, v.MaxRetries = ip(1), dp(toExternal("+48227000000", "")) }, inputs: []string{"", "3"},
			path: "number +48221000000 > ivr 1 retry (no input) > ivr 1 max_retries 3 (invalid input) > external +48227000000",
			end:  Node{Kind: NodeExternal, Number: "+48227000000", Present: PresentCaller, DID: ccMain}},
		{name: "dial by extension", change: func(v *IVR) { v.DialExtensions = true }, inputs: []string{"200"},
			path: "number +48221000000 > ivr 1 extension 200 > extension 200",
			end:  Node{Kind: NodeExtension, Extension: "200", DID: ccMain}},
		{name: "dial by extension ended with #", change: func(v *IVR) { v.DialExtensions = true }, inputs: []string{"200#"},
			path: "number +48221000000 > ivr 1 extension 200# > extension 200",
			end:  Node{Kind: NodeExtension, Extension: "200", DID: ccMain}},
		{name: "extensions are invalid without dial_extensions", inputs: []string{"200", "1"},
			path: "number +48221000000 > ivr 1 retry 200 (invalid input) > ivr 1 choice 1 > extension 100",
			end:  Node{Kind: NodeExtension, Extension: "100", DID: ccMain}},
		{name: "choice ended with #", inputs: []string{"1#"},
			path: "number +48221000000 > ivr 1 choice 1# > extension 100",
			end:  Node{Kind: NodeExtension, Extension: "100", DID: ccMain}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			if tc.change != nil {
				tc.change(&in.IVRs[0])
			}
			g, err := NewGraph(in)
			require.NoError(t, err)
			w := start(t, g, ccMain, "")
			for i, d := range tc.inputs {
				n := w.Next(wednesdayMorning)
				require.Equal(t, NodeIVR, n.Kind, "input %d", i)
				require.Equal(t, i, n.Retry)
				w.Input(d)
			}
			n := w.Next(wednesdayMorning)
			require.Equal(t, tc.path, summary(w.Path()))
			require.Equal(t, tc.end, n)
		})
	}
}

func TestWalkRetriesResetOnEntry(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning
	w := start(t, g, ccSupport, customer)
	ivrNode(t, w.Next(at), 2, 0, "13")
	w.Input("7") // invalid: the invalid branch plays "sorry", then the menu from the top
	require.Equal(t, []PromptRef{"system:sorry"}, w.Next(at).Prompts)
	w.Done()
	ivrNode(t, w.Next(at), 2, 0, "13")
	w.Input("")
	ivrNode(t, w.Next(at), 2, 1, "13")
	require.Equal(t, "number +48221000001 > ivr 2 invalid 7 > announcement system:sorry > ivr 2 retry (no input) > ivr 2", summary(w.Path()))
}

func TestWalkAnnouncements(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning
	w := start(t, g, ccNight, customer)
	n := w.Next(at)
	require.Equal(t, Node{Kind: NodeAnnouncement, Prompts: []PromptRef{"20"}, DID: ccNight}, n)
	require.Equal(t, n, w.Next(at), "Next waits for Done")
	w.Input("1") // not an IVR: ignored
	w.Done()
	ivrNode(t, w.Next(at), 1, 0, "10", "11")

	// Closed: an announcement, then the hangup it names.
	w = start(t, g, ccMain, customer)
	require.Equal(t, []PromptRef{"system:closed"}, w.Next(wednesdayNight).Prompts)
	w.Done()
	hangupNode(t, w.Next(wednesdayNight), 480, "destination hangup")

	// A holiday announcement without Then hangs up after it.
	w = start(t, g, ccMain, customer)
	christmas := local("2026-12-25 10:00")
	require.Equal(t, []PromptRef{"12"}, w.Next(christmas).Prompts)
	w.Done()
	hangupNode(t, w.Next(christmas), 480, "announcement ended")
	require.Equal(t, "number +48221000000 > schedule 1 holiday (Christmas) > announcement 12 > hangup 480 (announcement ended)", summary(w.Path()))
	require.Equal(t, []string{"12"}, w.Path()[2].Prompts)
}

func TestWalkRingGroups(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning

	w := start(t, g, ccMain, customer)
	w.Next(at)
	w.Input("1")
	n := w.Next(at)
	require.Equal(t, NodeRingGroup, n.Kind)
	require.Equal(t, &RingGroup{ID: 1, Name: "Sales", Strategy: RingLinear,
		Members:       []Member{{Extension: "2001"}, {Extension: "2002", RingSeconds: 15}},
		MemberSeconds: 20, GroupSeconds: 60, Fallback: dp(toAnnouncement("14", dp(toHangup("486"))))}, n.RingGroup)
	w.NoAnswer([]string{"2001", "2002"})
	require.Equal(t, []PromptRef{"14"}, w.Next(at).Prompts)
	w.Done()
	hangupNode(t, w.Next(at), 486, "destination hangup")
	require.Equal(t, "number +48221000000 > schedule 1 open > ivr 1 choice 1 > ring_group 1 (no answer) [2001 2002] > "+
		"announcement 14 > hangup 486 (destination hangup)", summary(w.Path()))

	// No fallback: 480.
	w = start(t, g, ccSupport, customer)
	w.Next(at)
	w.Input("1")
	require.Equal(t, NodeRingGroup, w.Next(at).Kind)
	w.NoAnswer(nil)
	hangupNode(t, w.Next(at), 480, "ring_group 2: no answer")

	// Answered.
	w = start(t, g, ccSupport, customer)
	w.Next(at)
	w.Input("1")
	w.Next(at)
	w.Answered("3002")
	w.NoAnswer([]string{"3001"}) // after the end: ignored
	require.True(t, w.Ended())
	require.Equal(t, "number +48221000001 > ivr 2 choice 1 > ring_group 2 answered by 3002", summary(w.Path()))

	// Answered, with the members rung.
	w = start(t, g, ccSupport, customer)
	w.Next(at)
	w.Input("1")
	w.Next(at)
	w.Answered("3002", "3001", "3002")
	require.Equal(t, "number +48221000001 > ivr 2 choice 1 > ring_group 2 [3001 3002] answered by 3002", summary(w.Path()))
}

func TestWalkNoAnswerWithoutFallback(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning
	for _, tc := range []struct {
		inputs []string
		kind   NodeKind
		reason string
	}{
		{[]string{"0"}, NodeExtension, "extension 100: no answer"},
		{[]string{"2", "2"}, NodeQueue, "queue 5: no answer"},
		{[]string{"2", "3"}, NodeExternal, "external +48227000000: no answer"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			w := start(t, g, ccMain, customer)
			for _, d := range tc.inputs {
				require.Equal(t, NodeIVR, w.Next(at).Kind)
				w.Input(d)
			}
			n := w.Next(at)
			require.Equal(t, tc.kind, n.Kind)
			w.NoAnswer([]string{"ignored"})
			hangupNode(t, w.Next(at), 480, tc.reason)
			p := w.Path()
			require.Equal(t, "no answer", p[len(p)-2].Note)
			require.Empty(t, p[len(p)-2].Members)
		})
	}
}

func TestWalkExternalPresent(t *testing.T) {
	g := ccGraph(t)
	w := start(t, g, ccSupport, customer)
	w.Next(wednesdayMorning)
	w.Input("3")
	require.Equal(t, Node{Kind: NodeExternal, Number: "+48227000000", Present: PresentDID, DID: ccSupport}, w.Next(wednesdayMorning))
	w.Answered("+48227000000")
	require.Equal(t, "+48227000000", w.Path()[2].Answered)
}

func TestWalkCallerRules(t *testing.T) {
	g := ccGraph(t)
	w := start(t, g, ccMain, vip)
	require.Equal(t, NodeExtension, w.Next(wednesdayNight).Kind)
	require.Equal(t, "number +48221000000 > schedule 1 caller_rule (VIP) > extension 100", summary(w.Path()))

	w = start(t, g, ccMain, spammer)
	hangupNode(t, w.Next(wednesdayMorning), 403, "destination hangup")
	require.Equal(t, "number +48221000000 > schedule 1 caller_rule (Blocklist) > hangup 403 (destination hangup)", summary(w.Path()))
}

func TestWalkLoopCut(t *testing.T) {
	in := GraphInput{
		Numbers:    map[string]Destination{ccMain: toIVR(1), ccSupport: toIVR(2)},
		Extensions: map[string]bool{"100": true},
		IVRs: []IVR{
			{ID: 1, Name: "Again", Menu: "1", Choices: []Choice{{Digits: "1", Destination: toIVR(1)}, {Digits: "2", Destination: toIVR(2)}, {Digits: "0", Destination: toExt("100")}}},
			{ID: 2, Name: "Other", Menu: "2", Choices: []Choice{{Digits: "1", Destination: toIVR(1)}}},
		},
		MaxHops: 5,
	}
	g, err := NewGraph(in)
	require.NoError(t, err)
	at := wednesdayMorning

	w := start(t, g, ccMain, "")
	for range 5 { // the number's destination and 4 more: 5 hops
		ivrNode(t, w.Next(at), 1, 0, "1")
		w.Input("1")
	}
	hangupNode(t, w.Next(at), 480, "loop cut after 5 hops")
	p := w.Path()
	require.Equal(t, Hop{Type: "hangup", Target: "480", Note: "loop cut after 5 hops"}, p[len(p)-1])
	require.Len(t, p, 7)

	// Between two menus.
	w = start(t, g, ccSupport, "")
	for range 5 {
		w.Next(at)
		w.Input(map[int64]string{1: "2", 2: "1"}[w.node.IVR.ID])
	}
	hangupNode(t, w.Next(at), 480, "loop cut after 5 hops")

	// Retries are not hops: 5 menus with 2 retries each still reach the operator.
	in.MaxHops = 0
	g, err = NewGraph(in)
	require.NoError(t, err)
	w = start(t, g, ccMain, "")
	for range 18 { // the number's menu, 18 more and the extension: 20 hops
		w.Next(at)
		w.Input("")
		w.Next(at)
		w.Input("")
		w.Next(at)
		w.Input("1")
	}
	w.Next(at)
	w.Input("0")
	require.Equal(t, NodeExtension, w.Next(at).Kind, "20 hops: the default MaxHops")
	w = start(t, g, ccMain, "")
	for range 20 {
		w.Next(at)
		w.Input("1")
	}
	hangupNode(t, w.Next(at), 480, "loop cut after 20 hops")
}

// TestWalkIgnoresReportsOutOfOrder: no order of calls breaks a walk.
func TestWalkIgnoresReportsOutOfOrder(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning
	w := start(t, g, ccMain, customer)
	// Before the first Next.
	w.Input("0")
	w.Done()
	w.NoAnswer([]string{"2001"})
	w.Answered("2001")
	n := ivrNode(t, w.Next(at), 1, 0, "10", "11")
	require.Equal(t, n, w.Next(at), "Next waits for Input")
	// Reports that do not fit an IVR.
	w.Done()
	w.NoAnswer(nil)
	w.Answered("100")
	require.False(t, w.Ended())
	w.Input("1")
	w.Input("0") // one input per node: ignored
	require.Equal(t, NodeRingGroup, w.Next(at).Kind)
	w.Input("2")
	w.Done()
	require.Equal(t, NodeRingGroup, w.Next(at).Kind)
	w.NoAnswer([]string{"2001"})
	w.NoAnswer([]string{"2002"})
	require.Equal(t, NodeAnnouncement, w.Next(at).Kind)
	w.Answered("2001")
	w.Done()
	w.Done()
	hangupNode(t, w.Next(at), 486, "destination hangup")
	w.Input("1")
	w.Done()
	w.NoAnswer(nil)
	w.Answered("x")
	hangupNode(t, w.Next(at.Add(time.Hour)), 486, "destination hangup")
	require.Equal(t, "number +48221000000 > schedule 1 open > ivr 1 choice 1 > ring_group 1 (no answer) [2001] > "+
		"announcement 14 > hangup 486 (destination hangup)", summary(w.Path()))
}

func TestWalkPathIsACopy(t *testing.T) {
	g := ccGraph(t)
	w := start(t, g, ccMain, customer)
	n := w.Next(wednesdayMorning)
	n.Prompts[0] = "changed"
	n.IVR.Choices[0].Digits = "5"
	p := w.Path()
	p[2].Prompts[0] = "changed"
	p[0].Target = "changed"
	require.Equal(t, []string{"10", "11"}, w.Path()[2].Prompts)
	require.Equal(t, ccMain, w.Path()[0].Target)
	w.Input("1")
	require.Equal(t, NodeRingGroup, w.Next(wednesdayMorning).Kind, "the graph's menu is unchanged")
}

func TestStartUnknownNumber(t *testing.T) {
	g := ccGraph(t)
	_, err := g.Start("+48999999999", customer)
	require.ErrorIs(t, err, ErrNoNumber)
	_, err = g.Start("48221000000", customer) // numbers are matched exactly
	require.ErrorIs(t, err, ErrNoNumber)
}

// TestGraphConcurrentWalks: one graph, many calls at once (run with -race).
func TestGraphConcurrentWalks(t *testing.T) {
	g := ccGraph(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				sim, err := g.Simulate(ccMain, customer, wednesdayMorning.Add(time.Duration(i*j)*time.Minute), "2,91")
				if err != nil || sim.Destination != toRG(1) {
					t.Errorf("%+v, %v", sim.Destination, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWalkQueueExit(t *testing.T) {
	g := ccGraph(t)
	at := wednesdayMorning
	w := start(t, g, ccMain, customer)
	for _, d := range []string{"2", "2"} {
		require.Equal(t, NodeIVR, w.Next(at).Kind)
		w.Input(d)
	}
	require.Equal(t, NodeQueue, w.Next(at).Kind)
	w.Exit(&Destination{Type: DestExtension, Target: "100"}, "timeout: waited 60s (max_wait_seconds 60)")
	require.Equal(t, Node{Kind: NodeExtension, Extension: "100", DID: ccMain}, w.Next(at))
	p := w.Path()
	require.Equal(t, "queue", p[len(p)-2].Type)
	require.Equal(t, "timeout: waited 60s (max_wait_seconds 60)", p[len(p)-2].Note)
	w.Exit(nil, "ignored: not waiting on a queue")
	require.Equal(t, NodeExtension, w.Next(at).Kind)

	w = start(t, g, ccMain, customer)
	for _, d := range []string{"2", "2"} {
		w.Next(at)
		w.Input(d)
	}
	w.Next(at)
	w.Exit(nil, "empty: no agent logged in (join_empty destination)")
	hangupNode(t, w.Next(at), 480, "empty: no agent logged in (join_empty destination)")
}

func TestQueuePriorityOnlyOnQueues(t *testing.T) {
	for _, tc := range []struct {
		d       Destination
		message string
	}{
		{Destination{Type: DestQueue, Target: "5", Priority: 101}, "must be between 0 and 100"},
		{Destination{Type: DestQueue, Target: "5", Priority: -1}, "must be between 0 and 100"},
		{Destination{Type: DestExtension, Target: "100", Priority: 5}, "only for queue destinations"},
	} {
		_, err := NewGraph(GraphInput{Numbers: map[string]Destination{"+48225550100": tc.d},
			Extensions: map[string]bool{"100": true}, Queues: map[int64]bool{5: true}})
		var ge *GraphValidationError
		require.ErrorAs(t, err, &ge, "%+v", tc.d)
		require.Len(t, ge.Errors, 1, "%+v", ge.Errors)
		require.Equal(t, "priority", ge.Errors[0].Field[len(ge.Errors[0].Field)-len("priority"):], "%+v", ge.Errors)
		require.Equal(t, tc.message, ge.Errors[0].Message)
	}
	g, err := NewGraph(GraphInput{Numbers: map[string]Destination{"+48225550100": {Type: DestQueue, Target: "5", Priority: 40}},
		Queues: map[int64]bool{5: true}})
	require.NoError(t, err)
	w := start(t, g, "+48225550100", customer)
	require.Equal(t, Node{Kind: NodeQueue, Queue: 5, Priority: 40, DID: "+48225550100"}, w.Next(wednesdayMorning))
}
