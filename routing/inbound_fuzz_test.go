package routing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzBytes reads choices from the fuzzer's bytes; zeros when they run out. In clean mode
// (most inputs) the generator picks only values that validate, so most graphs are accepted
// and walked; otherwise it mixes in bad ones.
type fuzzBytes struct {
	b     []byte
	clean bool
}

func (r *fuzzBytes) next() int {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return int(c)
}

func pick[T any](r *fuzzBytes, from ...T) T { return from[r.next()%len(from)] }

// choose picks from good, or in chaos mode from good and bad.
func choose[T any](r *fuzzBytes, good []T, bad ...T) T {
	if r.clean || len(bad) == 0 {
		return pick(r, good...)
	}
	return pick(r, append(append([]T{}, good...), bad...)...)
}

var fuzzExtensions = map[string]bool{"100": true, "101": true, "2001": true, "201": true, "999": false}

// fuzzGraph builds a graph input from bytes: small and densely connected.
func fuzzGraph(r *fuzzBytes) GraphInput {
	r.clean = r.next()%4 != 0
	in := GraphInput{
		Numbers:    map[string]Destination{},
		Extensions: fuzzExtensions,
		Queues:     map[int64]bool{1: true},
		Prompts:    func(ref PromptRef) bool { return ref != "66" },
		MaxHops:    r.next() % 30,
	}
	nIVR, nRG, nSch := r.next()%4, r.next()%3, r.next()%3
	id := func(i int) int64 {
		if !r.clean && r.next()%8 == 0 {
			return int64(r.next()%3) - 1 // duplicates and bad ids
		}
		return int64(i + 1)
	}
	ref := func(n int) string {
		if n == 0 || !r.clean && r.next()%8 == 0 {
			return pick(r, "0", "x", "7", "")
		}
		return strconv.Itoa(1 + r.next()%n)
	}
	var dest func(depth int, back bool) Destination
	dest = func(depth int, back bool) Destination {
		types := []DestType{DestExtension, DestQueue, DestExternal, DestAnnouncement, DestHangup, DestHangup}
		for range 2 { // objects twice as often, when there are any
			if nIVR > 0 {
				types = append(types, DestIVR, DestIVR)
			}
			if nRG > 0 {
				types = append(types, DestRingGroup)
			}
			if nSch > 0 {
				types = append(types, DestSchedule)
			}
		}
		if back {
			types = append(types, DestBack, DestBack)
		}
		d := Destination{Type: choose(r, types, "", "voicemail", DestBack, DestIVR, DestSchedule)}
		switch d.Type {
		case DestExtension:
			d.Target = choose(r, []string{"100", "101", "2001", "201"}, "999", "")
		case DestRingGroup:
			d.Target = ref(nRG)
		case DestIVR:
			d.Target = ref(nIVR)
		case DestSchedule:
			d.Target = ref(nSch)
		case DestQueue:
			d.Target = choose(r, []string{"1"}, "2", "x")
		case DestExternal:
			d.Target = choose(r, []string{"+48227000000", "12"}, "abc", "+1")
			d.Present = choose(r, []Present{"", PresentCaller, PresentDID}, "bad")
		case DestAnnouncement:
			d.Target = choose(r, []string{"5", "system:x/y"}, "66", "", "system:../x")
			if depth < 3 && r.next()%2 == 0 {
				then := dest(depth+1, false)
				d.Then = &then
			}
		case DestHangup:
			d.Target = choose(r, []string{"", "403", "486", "603"}, "399", "x")
		}
		if !r.clean && r.next()%16 == 0 {
			d.Present = PresentDID
		}
		return d
	}
	maybe := func(depth int) *Destination {
		if r.next()%3 != 0 {
			return nil
		}
		d := dest(depth, false)
		return &d
	}
	for i := range nIVR {
		iv := IVR{ID: id(i), Name: choose(r, []string{"menu"}, ""), Menu: choose(r, []string{"1", "2", "system:menu"}, "66"),
			Greeting: pick(r, "", "3", ""), InvalidPrompt: pick(r, "", "4"), NoInputPrompt: pick(r, "", "4"),
			DialExtensions: r.next()%3 == 0, MaxDigits: choose(r, []int{0, 0, 0, 5}, 1, 25)}
		if r.next()%2 == 0 {
			iv.Retries = ip(choose(r, []int{0, 1, 3}, 11))
		}
		seen := map[string]bool{}
		for range r.next() % 5 {
			c := Choice{Digits: choose(r, []string{"1", "2", "12", "#", "*", "9", "21", "0", "1#"}, "#1", "a"), Destination: dest(0, true)}
			if r.clean && seen[c.Digits] {
				continue
			}
			seen[c.Digits] = true
			iv.Choices = append(iv.Choices, c)
		}
		iv.NoInput, iv.Invalid, iv.MaxRetries = maybe(0), maybe(0), maybe(0)
		in.IVRs = append(in.IVRs, iv)
	}
	for i := range nRG {
		rg := RingGroup{ID: id(i), Name: "group", Strategy: choose(r, []RingStrategy{RingAll, RingLinear, RingRoundRobin, RingRandom}, "")}
		members := []string{"100", "101", "2001", "201"}
		for j := range 1 + r.next()%3 {
			rg.Members = append(rg.Members, Member{Extension: choose(r, members[j:j+1], "999", "100")})
		}
		rg.Fallback = maybe(0)
		in.RingGroups = append(in.RingGroups, rg)
	}
	for i := range nSch {
		s := Schedule{ID: id(i), Name: "hours", TimeZone: choose(r, []string{"", "Europe/Warsaw", "America/New_York"}, "Bad/Zone"),
			Open: dest(0, false), Closed: dest(0, false), Holiday: maybe(0)}
		for range r.next() % 3 {
			h := Hours{Days: choose(r, [][]string{{"mon", "fri"}, {"sat"}, {"sun", "mon", "tue", "wed", "thu"}}, nil, []string{"mon", "mon"}),
				From: choose(r, []string{"08:00", "22:00", "00:00"}, "8"), To: choose(r, []string{"18:00", "06:00", "24:00"}, "08:00")}
			s.Hours = append(s.Hours, h)
		}
		if r.next()%2 == 0 {
			s.Holidays = []Holiday{{Date: choose(r, []string{"12-25", "2026-01-14", "01-14"}, "x"), Name: "h"}}
		}
		if r.next()%3 == 0 {
			s.Exceptions = []Exception{{Date: choose(r, []string{"2026-01-14", "2026-12-25"}, "01-14"),
				Hours: choose(r, [][]string{nil, {"09:00-10:00"}}, []string{"10-09"})}}
		}
		if r.next()%2 == 0 {
			s.CallerRules = []CallerRule{{Name: "r", Numbers: []string{"+48601000001"},
				Prefixes: choose(r, [][]string{{"+4870"}, {"0"}, nil}, []string{"x"}), Destination: dest(0, false)}}
		}
		in.Schedules = append(in.Schedules, s)
	}
	for i := range 1 + r.next()%3 {
		in.Numbers[fmt.Sprintf("+4822100000%d", i)] = dest(0, false)
	}
	return in
}

// checkEscapes compares the way-out analysis with a naive fixed point: repeat until
// nothing changes, an IVR escapes when any outcome does, anything else when all do; an
// object without outcomes (every destination of it in error, reported already) escapes.
func checkEscapes(t *testing.T, in GraphInput) {
	t.Helper()
	b := newBuilder(in)
	b.build()
	want := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for obj, outs := range b.edges {
			if want[obj] {
				continue
			}
			ok := func(o outcome) bool { return o.exit || want[o.to] }
			escapes := !slices.ContainsFunc(outs, func(o outcome) bool { return !ok(o) })
			if strings.HasPrefix(obj, "ivr ") && len(outs) > 0 {
				escapes = slices.ContainsFunc(outs, ok)
			}
			if escapes {
				want[obj], changed = true, true
			}
		}
	}
	if got := b.escapes(); !maps.Equal(got, want) {
		t.Fatalf("escapes %v, naive fixed point %v; edges %+v", got, want, b.edges)
	}
}

// checkSimulation asserts that a simulation of an accepted graph ends where it may.
func checkSimulation(t *testing.T, g *Graph, sim Simulation, exts map[string]bool, queues map[int64]bool, prompt func(PromptRef) bool) {
	t.Helper()
	if limit := 2 + g.MaxHops()*(2+maxRetries); len(sim.Path) > limit {
		t.Fatalf("path of %d hops, over %d: %s", len(sim.Path), limit, summary(sim.Path))
	}
	d := sim.Destination
	switch d.Type {
	case DestExtension:
		if !exts[d.Target] {
			t.Fatalf("ends at missing extension %q: %s", d.Target, summary(sim.Path))
		}
	case DestRingGroup:
		id, _ := strconv.ParseInt(d.Target, 10, 64)
		if _, ok := g.RingGroup(id); !ok {
			t.Fatalf("ends at missing ring group %q", d.Target)
		}
	case DestQueue:
		id, _ := strconv.ParseInt(d.Target, 10, 64)
		if !queues[id] {
			t.Fatalf("ends at missing queue %q", d.Target)
		}
	case DestExternal:
		if !validExternal(d.Target) || d.Present != PresentCaller && d.Present != PresentDID {
			t.Fatalf("ends at bad external %+v", d)
		}
	case DestHangup:
		if code, err := strconv.Atoi(d.Target); err != nil || code < 400 || code > 699 {
			t.Fatalf("hangup %q", d.Target)
		}
	default:
		t.Fatalf("ends at %+v", d)
	}
	for _, h := range sim.Path {
		id, _ := strconv.ParseInt(h.Target, 10, 64)
		switch h.Type {
		case string(DestIVR):
			if _, ok := g.IVR(id); !ok {
				t.Fatalf("visits missing ivr %q", h.Target)
			}
		case string(DestSchedule):
			if _, ok := g.Schedule(id); !ok {
				t.Fatalf("visits missing schedule %q", h.Target)
			}
		}
	}
	for _, p := range sim.Prompts {
		if !validPromptRef(p) || prompt != nil && !prompt(p) {
			t.Fatalf("plays missing prompt %q", p)
		}
	}
}

// FuzzInbound: for any graph NewGraph builds or refuses, and any key presses, caller and
// time, nothing panics; a refused graph comes with errors naming their object, and no
// graph; an accepted graph simulates every number to an end within MaxHops, never to a
// missing object; and a walk driven by reports in any order ends without a panic.
func FuzzInbound(f *testing.F) {
	f.Add([]byte{}, "1", "+48601000001", uint32(0))
	f.Add([]byte{5, 1, 2, 1, 1, 0, 1, 0, 0, 0, 3, 2, 2, 1, 1, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8}, "12#9,1", "+48700123456", uint32(29470000))
	f.Add([]byte("\x00\x02\x00\x01\x00\x02\x02\x01\x02\x00\x01\x03\x01\x04\x02\x02\x09\x00\x02\x00"), "2,91", "0048221", uint32(29500000))
	f.Add([]byte("ivr ivr schedule ring group announcement then back back back"), "999999", "", uint32(1<<31))
	f.Add([]byte("\x1d\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03"), "1,1,1,1,1,1,1,1", "+1", uint32(7))
	f.Add([]byte("\x03\x01\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07"), ",,,,,,", "201", uint32(123456))
	f.Fuzz(func(t *testing.T, graph []byte, digits, caller string, minute uint32) {
		r := &fuzzBytes{b: graph}
		in := fuzzGraph(r)
		checkEscapes(t, in)
		g, err := NewGraph(in)
		if err != nil {
			var verr *GraphValidationError
			if g != nil || !errors.As(err, &verr) || len(verr.Errors) == 0 {
				t.Fatalf("NewGraph: %v, %v", g, err)
			}
			for _, e := range verr.Errors {
				if e.Object == "" || e.Message == "" {
					t.Fatalf("error without object or message: %+v", e)
				}
			}
			return
		}
		keys := []byte(digits)
		for i := range keys {
			keys[i] = "0123456789*#,"[int(keys[i])%13]
		}
		if len(keys) > 200 {
			keys = keys[:200]
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(minute%(3*366*24*60)) * time.Minute)
		for _, num := range g.Numbers() {
			sim, err := g.Simulate(num, caller, at, string(keys))
			if err != nil {
				t.Fatalf("Simulate(%s): %v", num, err)
			}
			checkSimulation(t, g, sim, fuzzExtensions, in.Queues, in.Prompts)
		}

		// A walk driven by the remaining bytes, reports in any order.
		w, err := g.Start(g.Numbers()[0], caller)
		if err != nil {
			t.Fatal(err)
		}
		for range 300 {
			switch r.next() % 6 {
			case 0, 1:
				w.Next(at)
			case 2:
				w.Input(string(keys[:min(len(keys), r.next()%4)]))
			case 3:
				w.Done()
			case 4:
				w.NoAnswer([]string{"100"})
			case 5:
				if r.next()%4 == 0 {
					w.Answered("100")
				}
			}
		}
		if limit := 2 + g.MaxHops()*(2+maxRetries); len(w.Path()) > limit {
			t.Fatalf("walk of %d hops", len(w.Path()))
		}
	})
}

// FuzzSimulateContactCentre: any key presses on the contact centre end somewhere real.
func FuzzSimulateContactCentre(f *testing.F) {
	for _, s := range []string{"", "1", "2,91", "2002", "29", ",,,,", "2,7,7,7", "#", "*", "0#", "9999999999"} {
		f.Add(s, customer, uint32(0))
	}
	f.Add("1", vip, uint32(1000))
	f.Add("1", spammer, uint32(1000))
	in := ccInput()
	g, err := NewGraph(in)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, digits, caller string, minute uint32) {
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(minute%(2*366*24*60)) * time.Minute)
		for _, num := range g.Numbers() {
			sim, err := g.Simulate(num, caller, at, digits)
			if errors.Is(err, ErrInvalidDigits) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkSimulation(t, g, sim, in.Extensions, in.Queues, in.Prompts)
		}
	})
}
