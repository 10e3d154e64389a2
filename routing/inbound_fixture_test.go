package routing

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func toExt(e string) Destination      { return Destination{Type: DestExtension, Target: e} }
func toIVR(id int64) Destination      { return Destination{Type: DestIVR, Target: fmt.Sprint(id)} }
func toRG(id int64) Destination       { return Destination{Type: DestRingGroup, Target: fmt.Sprint(id)} }
func toSchedule(id int64) Destination { return Destination{Type: DestSchedule, Target: fmt.Sprint(id)} }
func toQueue(id int64) Destination    { return Destination{Type: DestQueue, Target: fmt.Sprint(id)} }
func toHangup(code string) Destination {
	return Destination{Type: DestHangup, Target: code}
}
func toBack() Destination { return Destination{Type: DestBack} }
func toAnnouncement(prompt string, then *Destination) Destination {
	return Destination{Type: DestAnnouncement, Target: prompt, Then: then}
}
func toExternal(n string, p Present) Destination {
	return Destination{Type: DestExternal, Target: n, Present: p}
}
func dp(d Destination) *Destination { return &d }
func ip(i int) *int                 { return &i }

// The contact centre's numbers.
const (
	ccMain    = "+48221000000" // schedule 1
	ccSupport = "+48221000001" // ivr 2 directly
	ccNight   = "+48221000002" // announcement, then the main menu
)

// Callers.
const (
	vip      = "+48601000001"
	spammer  = "+48700123456"
	customer = "+48501234567"
)

// ccInput is a realistic contact centre: the main number goes through office hours (VIP
// caller rule to the duty manager's extension, a blocklist prefix answered 403, holidays
// announced then hung up) to the main menu: 1 sales ring group, 2 the support menu (9
// back), 0 the operator, dial-by-extension; closed: an announcement then hang up.
func ccInput() GraphInput {
	return GraphInput{
		Numbers: map[string]Destination{
			ccMain:    toSchedule(1),
			ccSupport: toIVR(2),
			ccNight:   toAnnouncement("20", dp(toIVR(1))),
		},
		Schedules: []Schedule{{
			ID: 1, Name: "Office hours", TimeZone: "Europe/Warsaw",
			Hours: []Hours{
				{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "08:00", To: "18:00"},
				{Days: []string{"sat"}, From: "09:00", To: "13:00"},
			},
			Holidays: []Holiday{
				{Date: "12-25", Name: "Christmas"},
				{Date: "2026-11-11", Name: "Independence Day"},
			},
			Exceptions: []Exception{{Date: "2026-12-24", Name: "Christmas Eve", Hours: []string{"08:00-12:00"}}},
			CallerRules: []CallerRule{
				{Name: "VIP", Numbers: []string{vip}, Destination: toExt("100")},
				{Name: "Blocklist", Prefixes: []string{"+4870"}, Destination: toHangup("403")},
			},
			Open:    toIVR(1),
			Closed:  toAnnouncement("system:closed", dp(toHangup(""))),
			Holiday: dp(toAnnouncement("12", nil)),
		}},
		IVRs: []IVR{
			{
				ID: 1, Name: "Main", Greeting: "10", Menu: "11",
				InvalidPrompt: "system:invalid", NoInputPrompt: "system:no-input",
				DialExtensions: true,
				Choices: []Choice{
					{Digits: "1", Destination: toRG(1)},
					{Digits: "2", Destination: toIVR(2)},
					{Digits: "0", Destination: toExt("100")},
				},
				MaxRetries: dp(toExt("100")),
			},
			{
				ID: 2, Name: "Support", Menu: "13",
				Choices: []Choice{
					{Digits: "1", Destination: toRG(2)},
					{Digits: "2", Destination: toQueue(5)},
					{Digits: "3", Destination: toExternal("+48227000000", PresentDID)},
					{Digits: "9", Destination: toBack()},
				},
				Invalid: dp(toAnnouncement("system:sorry", dp(toIVR(2)))),
			},
		},
		RingGroups: []RingGroup{
			{ID: 1, Name: "Sales", Strategy: RingLinear,
				Members:  []Member{{Extension: "2001"}, {Extension: "2002", RingSeconds: 15}},
				Fallback: dp(toAnnouncement("14", dp(toHangup("486"))))},
			{ID: 2, Name: "Support", Strategy: RingRoundRobin,
				Members: []Member{{Extension: "3001"}, {Extension: "3002"}, {Extension: "3003"}}},
		},
		Extensions: map[string]bool{"100": true, "2001": true, "2002": true, "2003": true, "201": true,
			"3001": true, "3002": true, "3003": true, "9999": false},
		Queues:  map[int64]bool{5: true},
		Prompts: func(ref PromptRef) bool { return ref != "77" && ref != "system:missing" },
	}
}

func ccGraph(t testing.TB) *Graph {
	t.Helper()
	g, err := NewGraph(ccInput())
	require.NoError(t, err)
	return g
}

var warsaw = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		panic(err)
	}
	return loc
}()

// local is a wall-clock time in Warsaw.
func local(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, warsaw)
	if err != nil {
		panic(err)
	}
	return t
}

// Instants of the contact centre's week (Warsaw).
var (
	wednesdayMorning = local("2026-01-14 10:00") // open
	wednesdayNight   = local("2026-01-14 21:00") // closed
)

// summary writes a path compactly: "number +48... > schedule 1 open > ivr 1 choice 2 > ...".
func summary(path []Hop) string {
	parts := make([]string, len(path))
	for i, h := range path {
		s := []string{h.Type, h.Target}
		for _, f := range []string{h.Branch, h.Digits} {
			if f != "" {
				s = append(s, f)
			}
		}
		if h.Note != "" {
			s = append(s, "("+h.Note+")")
		}
		if len(h.Members) > 0 {
			s = append(s, "["+strings.Join(h.Members, " ")+"]")
		}
		if h.Answered != "" {
			s = append(s, "answered by "+h.Answered)
		}
		parts[i] = strings.Join(s, " ")
	}
	return strings.Join(parts, " > ")
}
