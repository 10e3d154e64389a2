package routing

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestSimulateContactCentre walks the contact centre's calls end to end.
func TestSimulateContactCentre(t *testing.T) {
	g := ccGraph(t)
	tests := []struct {
		name    string
		number  string
		caller  string
		at      time.Time
		digits  string
		dest    Destination
		prompts []string
		path    string
	}{
		{name: "sales", number: ccMain, caller: customer, at: wednesdayMorning, digits: "1",
			dest: toRG(1), prompts: []string{"10", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 choice 1 > ring_group 1"},
		{name: "operator", number: ccMain, caller: customer, at: wednesdayMorning, digits: "0",
			dest: toExt("100"), prompts: []string{"10", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 choice 0 > extension 100"},
		{name: "support menu waits after 2, the caller lets it time out", number: ccMain, caller: customer, at: wednesdayMorning, digits: "2,2",
			dest: toQueue(5), prompts: []string{"10", "11", "13"},
			path: "number +48221000000 > schedule 1 open > ivr 1 choice 2 > ivr 2 choice 2 > queue 5"},
		{name: "2 then 9 at once is no choice of the main menu", number: ccMain, caller: customer, at: wednesdayMorning, digits: "29 0",
			dest: toExt("100"), prompts: []string{"10", "11", "system:invalid", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 retry 29 (invalid input) > ivr 1 choice 0 > extension 100"},
		{name: "support, back, sales", number: ccMain, caller: customer, at: wednesdayMorning, digits: "2,91",
			dest: toRG(1), prompts: []string{"10", "11", "13", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 choice 2 > ivr 2 back 9 > ivr 1 choice 1 > ring_group 1"},
		{name: "support, external presenting the number called", number: ccMain, caller: customer, at: wednesdayMorning, digits: "2,3",
			dest: toExternal("+48227000000", PresentDID), prompts: []string{"10", "11", "13"},
			path: "number +48221000000 > schedule 1 open > ivr 1 choice 2 > ivr 2 choice 3 > external +48227000000"},
		{name: "dial by extension", number: ccMain, caller: customer, at: wednesdayMorning, digits: "2002",
			dest: toExt("2002"), prompts: []string{"10", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 extension 2002 > extension 2002"},
		// The menu takes 201 (complete: nothing extends it); the trailing 1 is never read.
		{name: "dial by extension: 201 nothing extends", number: ccMain, caller: customer, at: wednesdayMorning, digits: "2011",
			dest: toExt("201"), prompts: []string{"10", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 extension 201 > extension 201"},
		{name: "no digits: retries, then the operator", number: ccMain, caller: customer, at: wednesdayMorning, digits: "",
			dest: toExt("100"), prompts: []string{"10", "11", "system:no-input", "11", "system:no-input", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 retry (no input) > ivr 1 retry (no input) > ivr 1 max_retries (no input) > extension 100"},
		{name: "explicit no input, then a choice", number: ccMain, caller: customer, at: wednesdayMorning, digits: ",1",
			dest: toRG(1), prompts: []string{"10", "11", "system:no-input", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 retry (no input) > ivr 1 choice 1 > ring_group 1"},
		{name: "invalid in support: sorry, the menu again", number: ccSupport, caller: customer, at: wednesdayMorning, digits: "71",
			dest: toRG(2), prompts: []string{"13", "system:sorry", "13"},
			path: "number +48221000001 > ivr 2 invalid 7 > announcement system:sorry > ivr 2 choice 1 > ring_group 2"},
		{name: "closed", number: ccMain, caller: customer, at: wednesdayNight, digits: "1",
			dest: toHangup("480"), prompts: []string{"system:closed"},
			path: "number +48221000000 > schedule 1 closed > announcement system:closed > hangup 480 (destination hangup)"},
		{name: "holiday", number: ccMain, caller: customer, at: local("2027-12-25 10:00"), digits: "",
			dest: toHangup("480"), prompts: []string{"12"},
			path: "number +48221000000 > schedule 1 holiday (Christmas) > announcement 12 > hangup 480 (announcement ended)"},
		{name: "Christmas Eve morning", number: ccMain, caller: customer, at: local("2026-12-24 11:00"), digits: "0",
			dest: toExt("100"), prompts: []string{"10", "11"},
			path: "number +48221000000 > schedule 1 exception (Christmas Eve: open) > ivr 1 choice 0 > extension 100"},
		{name: "Christmas Eve afternoon", number: ccMain, caller: customer, at: local("2026-12-24 13:00"), digits: "0",
			dest: toHangup("480"), prompts: []string{"system:closed"},
			path: "number +48221000000 > schedule 1 exception (Christmas Eve: closed) > announcement system:closed > hangup 480 (destination hangup)"},
		{name: "VIP at night", number: ccMain, caller: vip, at: wednesdayNight,
			dest: toExt("100"), prompts: []string{},
			path: "number +48221000000 > schedule 1 caller_rule (VIP) > extension 100"},
		{name: "blocklist", number: ccMain, caller: "0048700123456", at: wednesdayMorning,
			dest: toHangup("403"), prompts: []string{},
			path: "number +48221000000 > schedule 1 caller_rule (Blocklist) > hangup 403 (destination hangup)"},
		{name: "night line: announcement, then the menu", number: ccNight, caller: customer, at: wednesdayNight, digits: "1",
			dest: toRG(1), prompts: []string{"20", "10", "11"},
			path: "number +48221000002 > announcement 20 > ivr 1 choice 1 > ring_group 1"},
		{name: "Saturday morning", number: ccMain, caller: customer, at: local("2026-01-17 12:59"), digits: "1",
			dest: toRG(1), prompts: []string{"10", "11"},
			path: "number +48221000000 > schedule 1 open > ivr 1 choice 1 > ring_group 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, err := g.Simulate(tc.number, tc.caller, tc.at, tc.digits)
			require.NoError(t, err)
			require.Equal(t, tc.path, summary(sim.Path))
			require.Equal(t, tc.dest, sim.Destination)
			require.Equal(t, tc.prompts, sim.Prompts)
		})
	}
}

func TestSimulateErrors(t *testing.T) {
	g := ccGraph(t)
	_, err := g.Simulate("+48999999999", customer, wednesdayMorning, "1")
	require.ErrorIs(t, err, ErrNoNumber)
	_, err = g.Simulate(ccMain, customer, wednesdayMorning, "1a")
	require.ErrorIs(t, err, ErrInvalidDigits)
	_, err = g.Simulate(ccMain, customer, wednesdayMorning, string(make([]byte, 1001)))
	require.ErrorIs(t, err, ErrInvalidDigits)
	var nilGraph *Graph
	_, err = nilGraph.Simulate(ccMain, customer, wednesdayMorning, "")
	require.ErrorIs(t, err, ErrNoNumber)
}

// TestSimulateGolden keeps the JSON answer of simulate (the API contract) in testdata.
func TestSimulateGolden(t *testing.T) {
	g := ccGraph(t)
	for _, tc := range []struct {
		file           string
		number, caller string
		at             time.Time
		digits         string
	}{
		{"support_back_sales.json", ccMain, customer, wednesdayMorning, "2,91"},
		{"sales.json", ccMain, customer, wednesdayMorning, "1"},
		{"closed.json", ccMain, customer, wednesdayNight, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sim, err := g.Simulate(tc.number, tc.caller, tc.at, tc.digits)
			require.NoError(t, err)
			got, err := json.MarshalIndent(sim, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", "simulate", tc.file)
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./routing -run TestSimulateGolden -update")
			require.Equal(t, string(want), string(got))

			var back Simulation
			require.NoError(t, json.Unmarshal(got, &back))
			require.Equal(t, sim, back)
		})
	}
}

func TestRingOrder(t *testing.T) {
	members := []Member{{Extension: "a"}, {Extension: "b"}, {Extension: "c"}, {Extension: "d"}}
	exts := func(ms []Member) string {
		s := ""
		for _, m := range ms {
			s += m.Extension
		}
		return s
	}
	// A fixed "random" source: always the smallest index.
	zero := func(int) int { return 0 }
	last := func(n int) int { return n - 1 }
	tests := []struct {
		name     string
		strategy RingStrategy
		last     int
		rnd      func(int) int
		want     string
	}{
		{"linear", RingLinear, 2, zero, "abcd"},
		{"ring all", RingAll, 2, zero, "abcd"},
		{"round robin from the start", RingRoundRobin, -1, nil, "abcd"},
		{"round robin after b", RingRoundRobin, 1, nil, "cdab"},
		{"round robin after the last", RingRoundRobin, 3, nil, "abcd"},
		{"round robin after a member gone", RingRoundRobin, 7, nil, "abcd"},
		{"random, rnd 0", RingRandom, -1, zero, "bcda"},
		{"random, rnd n-1", RingRandom, -1, last, "abcd"},
		{"random without a source", RingRandom, -1, nil, "abcd"},
		{"random with a source out of range", RingRandom, -1, func(n int) int { return n + 1 }, "acdb"}, // taken modulo: j = 1 each time,
		{"random with a negative source", RingRandom, -1, func(int) int { return -1 }, "abcd"},          // taken modulo: j = i, no swap,
		{"unknown strategy", "hunt", -1, nil, "abcd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rg := &RingGroup{Strategy: tc.strategy, Members: members}
			got := RingOrder(rg, tc.last, tc.rnd)
			require.Equal(t, tc.want, exts(got))
			got[0].Extension = "x"
			require.Equal(t, "a", rg.Members[0].Extension, "a new slice")
		})
	}
	require.Empty(t, RingOrder(nil, 0, nil))
	require.Empty(t, RingOrder(&RingGroup{Strategy: RingLinear}, 0, nil))

	// random draws every permutation of 3 members with a uniform source.
	seen := map[string]bool{}
	rg := &RingGroup{Strategy: RingRandom, Members: members[:3]}
	for a := range 3 {
		for b := range 2 {
			draws := []int{a, b}
			got := RingOrder(rg, -1, func(n int) int { d := draws[0]; draws = draws[1:]; return d % n })
			seen[exts(got)] = true
		}
	}
	require.Len(t, seen, 6)
}
