package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The destinations of the test schedules, told apart by where they go.
var (
	open    = toExt("2001")
	closed  = toExt("2002")
	holiday = toExt("2003")
	vipDest = toExt("100")
	blocked = toHangup("403")
)

func scheduleGraph(t *testing.T, s Schedule) *schedule {
	t.Helper()
	s.ID, s.Name, s.Open, s.Closed = 1, "Test", open, closed
	g, err := NewGraph(GraphInput{
		Schedules:  []Schedule{s},
		Extensions: map[string]bool{"100": true, "2001": true, "2002": true, "2003": true},
	})
	require.NoError(t, err)
	return g.schedules[1]
}

func in(zone, wall string) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", wall, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleRoute(t *testing.T) {
	weekdays := []string{"mon", "tue", "wed", "thu", "fri"}
	office := Schedule{TimeZone: "Europe/Warsaw", Hours: []Hours{{Days: weekdays, From: "08:00", To: "18:00"}}}
	newYork := Schedule{TimeZone: "America/New_York", Hours: []Hours{{Days: weekdays, From: "09:00", To: "17:00"}}}
	sundayNight := func(zone, from, to string) Schedule {
		return Schedule{TimeZone: zone, Hours: []Hours{{Days: []string{"sun"}, From: from, To: to}}}
	}
	nights := Schedule{TimeZone: "Europe/Warsaw", Hours: []Hours{
		{Days: []string{"fri"}, From: "22:00", To: "06:00"},
		{Days: []string{"sat"}, From: "20:00", To: "24:00"},
		{Days: []string{"sun"}, From: "22:00", To: "00:00"}, // 00:00 as an end is midnight
	}}
	holidays := Schedule{TimeZone: "Europe/Warsaw", Hours: []Hours{{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, From: "00:00", To: "24:00"}},
		Holidays: []Holiday{
			{Date: "12-25", Name: "Christmas"},
			{Date: "2026-11-11", Name: "Independence Day"},
			{Date: "2025-01-01", Name: "New Year", Yearly: true},
			{Date: "02-29"},
		},
		Holiday: dp(holiday),
	}
	withExceptions := holidays
	withExceptions.Exceptions = []Exception{
		{Date: "2026-12-25", Name: "Christmas duty", Hours: []string{"10:00-12:00", "20:00-24:00"}},
		{Date: "2026-07-15", Name: "Staff day"},
	}
	withoutHolidayBranch := holidays
	withoutHolidayBranch.Holiday = nil
	rules := office
	rules.Holidays = []Holiday{{Date: "12-25", Name: "Christmas"}}
	rules.CallerRules = []CallerRule{
		{Name: "VIP", Numbers: []string{"+48601000001", "0221234567"}, Destination: vipDest},
		{Name: "Premium-rate spam", Prefixes: []string{"+4870"}, Destination: blocked},
		{Prefixes: []string{"44", "+1"}, Destination: holiday},
	}
	spillOver := nights
	spillOver.Exceptions = []Exception{{Date: "2026-01-17", Name: "Inventory"}}

	tests := []struct {
		name     string
		schedule Schedule
		at       time.Time
		caller   string
		want     Destination
		branch   string
		note     string
	}{
		// Weekly hours, Warsaw: CET (UTC+1) in winter, CEST (UTC+2) in summer.
		{"winter morning open", office, utc("2026-01-14T07:30:00Z"), "", open, "open", ""},       // 08:30 CET
		{"winter before opening", office, utc("2026-01-14T06:59:59Z"), "", closed, "closed", ""}, // 07:59:59 CET
		{"winter at opening", office, utc("2026-01-14T07:00:00Z"), "", open, "open", ""},
		{"winter last minute", office, utc("2026-01-14T16:59:59Z"), "", open, "open", ""}, // 17:59:59: To is exclusive by the minute
		{"winter at closing", office, utc("2026-01-14T17:00:00Z"), "", closed, "closed", ""},
		{"summer opens an hour earlier in UTC", office, utc("2026-07-15T06:00:00Z"), "", open, "open", ""}, // 08:00 CEST
		{"summer closes an hour earlier in UTC", office, utc("2026-07-15T16:00:00Z"), "", closed, "closed", ""},
		{"weekend", office, in("Europe/Warsaw", "2026-01-17 10:00"), "", closed, "closed", ""},
		{"the instant's own zone does not matter", office, in("America/New_York", "2026-01-14 02:30"), "", open, "open", ""}, // 08:30 Warsaw

		// DST in Warsaw: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
		{"spring: the hour before the skipped one", sundayNight("Europe/Warsaw", "02:00", "03:00"), utc("2026-03-29T00:59:00Z"), "", closed, "closed", ""},
		{"spring: the skipped hour never opens", sundayNight("Europe/Warsaw", "02:00", "03:00"), utc("2026-03-29T01:00:00Z"), "", closed, "closed", ""},
		{"spring: a week before it opens", sundayNight("Europe/Warsaw", "02:00", "03:00"), utc("2026-03-22T01:30:00Z"), "", open, "open", ""},
		{"spring: hours across the gap", sundayNight("Europe/Warsaw", "01:00", "04:00"), utc("2026-03-29T01:30:00Z"), "", open, "open", ""}, // 03:30 CEST
		{"autumn: the repeated hour, first time", sundayNight("Europe/Warsaw", "02:00", "03:00"), utc("2026-10-25T00:30:00Z"), "", open, "open", ""},
		{"autumn: the repeated hour, second time", sundayNight("Europe/Warsaw", "02:00", "03:00"), utc("2026-10-25T01:30:00Z"), "", open, "open", ""},
		{"autumn: after the repeated hour", sundayNight("Europe/Warsaw", "02:00", "03:00"), utc("2026-10-25T02:00:00Z"), "", closed, "closed", ""},

		// DST in New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
		{"NY winter Friday 16:30 EST", newYork, utc("2026-03-06T21:30:00Z"), "", open, "open", ""},
		{"NY Monday after the change: 21:30Z is 17:30 EDT", newYork, utc("2026-03-09T21:30:00Z"), "", closed, "closed", ""},
		{"NY Monday 09:00 EDT", newYork, utc("2026-03-09T13:00:00Z"), "", open, "open", ""},
		{"NY spring skipped hour", sundayNight("America/New_York", "02:00", "03:00"), utc("2026-03-08T07:30:00Z"), "", closed, "closed", ""}, // 03:30 EDT
		{"NY autumn 01:30 EDT", sundayNight("America/New_York", "01:00", "02:00"), utc("2026-11-01T05:30:00Z"), "", open, "open", ""},
		{"NY autumn 01:30 EST", sundayNight("America/New_York", "01:00", "02:00"), utc("2026-11-01T06:30:00Z"), "", open, "open", ""},
		{"NY autumn 02:30 EST", sundayNight("America/New_York", "01:00", "02:00"), utc("2026-11-01T07:30:00Z"), "", closed, "closed", ""},

		// Midnight.
		{"night shift starts Friday 22:00", nights, in("Europe/Warsaw", "2026-01-16 22:00"), "", open, "open", ""},
		{"night shift before 22:00", nights, in("Europe/Warsaw", "2026-01-16 21:59"), "", closed, "closed", ""},
		{"night shift runs into Saturday", nights, in("Europe/Warsaw", "2026-01-17 05:59"), "", open, "open", ""},
		{"night shift ends Saturday 06:00", nights, in("Europe/Warsaw", "2026-01-17 06:00"), "", closed, "closed", ""},
		{"no spill-over from Thursday", nights, in("Europe/Warsaw", "2026-01-16 03:00"), "", closed, "closed", ""},
		{"24:00 is the end of Saturday", nights, in("Europe/Warsaw", "2026-01-17 23:59"), "", open, "open", ""},
		{"and not Sunday morning", nights, in("Europe/Warsaw", "2026-01-18 00:00"), "", closed, "closed", ""},
		{"00:00 as an end is midnight", nights, in("Europe/Warsaw", "2026-01-18 23:30"), "", open, "open", ""},
		{"no spill-over from a shift ending at midnight", nights, in("Europe/Warsaw", "2026-01-19 00:30"), "", closed, "closed", ""},

		// Holidays.
		{"yearly holiday", holidays, in("Europe/Warsaw", "2026-12-25 10:00"), "", holiday, "holiday", "Christmas"},
		{"yearly holiday next year", holidays, in("Europe/Warsaw", "2027-12-25 10:00"), "", holiday, "holiday", "Christmas"},
		{"holiday by its full date", holidays, in("Europe/Warsaw", "2026-11-11 10:00"), "", holiday, "holiday", "Independence Day"},
		{"a full date is one year only", holidays, in("Europe/Warsaw", "2027-11-11 10:00"), "", open, "open", ""},
		{"yearly flag on a full date", holidays, in("Europe/Warsaw", "2031-01-01 10:00"), "", holiday, "holiday", "New Year"},
		{"holiday name defaults to the date", holidays, in("Europe/Warsaw", "2028-02-29 10:00"), "", holiday, "holiday", "02-29"},
		{"holiday is a date in the schedule's zone", holidays, utc("2026-12-24T23:30:00Z"), "", holiday, "holiday", "Christmas"}, // 00:30 on the 25th
		{"the day before in the zone", holidays, utc("2026-12-24T22:30:00Z"), "", open, "open", ""},
		{"holiday without its branch is closed", withoutHolidayBranch, in("Europe/Warsaw", "2026-12-25 10:00"), "", closed, "holiday", "Christmas"},

		// Exceptions.
		{"exception overrides a holiday: open", withExceptions, in("Europe/Warsaw", "2026-12-25 11:00"), "", open, "exception", "Christmas duty: open"},
		{"exception overrides a holiday: closed", withExceptions, in("Europe/Warsaw", "2026-12-25 13:00"), "", closed, "exception", "Christmas duty: closed"},
		{"exception until 24:00", withExceptions, in("Europe/Warsaw", "2026-12-25 23:59"), "", open, "exception", "Christmas duty: open"},
		{"exception only on its year", withExceptions, in("Europe/Warsaw", "2027-12-25 11:00"), "", holiday, "holiday", "Christmas"},
		{"exception without hours closes the day", withExceptions, in("Europe/Warsaw", "2026-07-15 11:00"), "", closed, "exception", "Staff day: closed"},
		{"an exception governs the night shift's morning", spillOver, in("Europe/Warsaw", "2026-01-17 03:00"), "", closed, "exception", "Inventory: closed"},

		// Caller rules come first, even on holidays.
		{"VIP at night", rules, wednesdayNight, "+48601000001", vipDest, "caller_rule", "VIP"},
		{"VIP with 00", rules, wednesdayNight, "0048601000001", vipDest, "caller_rule", "VIP"},
		{"VIP without +", rules, wednesdayNight, "48601000001", vipDest, "caller_rule", "VIP"},
		{"VIP national form is another number", rules, wednesdayNight, "601000001", closed, "closed", ""},
		{"VIP on a holiday", rules, in("Europe/Warsaw", "2026-12-25 10:00"), "+48601000001", vipDest, "caller_rule", "VIP"},
		{"rule number in national form", rules, wednesdayMorning, "0221234567", vipDest, "caller_rule", "VIP"},
		{"blocklist prefix", rules, wednesdayMorning, "+48700123456", blocked, "caller_rule", "Premium-rate spam"},
		{"blocklist prefix, caller with 00", rules, wednesdayMorning, "0048700123456", blocked, "caller_rule", "Premium-rate spam"},
		{"a + prefix needs an international caller", rules, wednesdayMorning, "48700123456", open, "open", ""},
		{"a prefix without + on the digits", rules, wednesdayMorning, "+447700900123", holiday, "caller_rule", "caller_rules[2]"},
		{"a prefix without + after 00", rules, wednesdayMorning, "00447700900123", holiday, "caller_rule", "caller_rules[2]"},
		{"+1 prefix", rules, wednesdayMorning, "+12125550100", holiday, "caller_rule", "caller_rules[2]"},
		{"no rule matches", rules, wednesdayMorning, "+48501234567", open, "open", ""},
		{"anonymous caller", rules, wednesdayMorning, "", open, "open", ""},
		{"rules before exceptions", func() Schedule {
			s := rules
			s.Exceptions = []Exception{{Date: "2026-01-14"}}
			return s
		}(), wednesdayMorning, "+48601000001", vipDest, "caller_rule", "VIP"},

		// No zone is UTC.
		{"UTC by default", Schedule{Hours: []Hours{{Days: weekdays, From: "08:00", To: "18:00"}}}, utc("2026-01-14T07:30:00Z"), "", closed, "closed", ""},
		{"UTC by default, open", Schedule{Hours: []Hours{{Days: weekdays, From: "08:00", To: "18:00"}}}, utc("2026-01-14T08:00:00Z"), "", open, "open", ""},
		{"no hours is always closed", Schedule{}, wednesdayMorning, "", closed, "closed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scheduleGraph(t, tc.schedule)
			d, branch, note := s.route(tc.at, tc.caller)
			require.Equal(t, tc.want, d)
			require.Equal(t, tc.branch, branch)
			require.Equal(t, tc.note, note)
		})
	}
}

// TestScheduleZoneDefault: an empty zone is filled as UTC.
func TestScheduleZoneDefault(t *testing.T) {
	g, err := NewGraph(GraphInput{Schedules: []Schedule{{ID: 1, Name: "x", Open: toHangup("486"), Closed: toHangup("")}}})
	require.NoError(t, err)
	s, _ := g.Schedule(1)
	require.Equal(t, "UTC", s.TimeZone)
	require.Equal(t, "486", s.Open.Target)
	require.Equal(t, "480", s.Closed.Target)
}

func TestClock(t *testing.T) {
	for s, want := range map[string]int{"00:00": 0, "08:30": 510, "23:59": 1439, "24:00": 1440} {
		got, ok := clock(s)
		require.True(t, ok, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "8:30", "08:3", "24:01", "25:00", "12:60", "ab:cd", "08-30", "+8:30", "08:30 "} {
		_, ok := clock(s)
		require.False(t, ok, s)
	}
}
