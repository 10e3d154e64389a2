package routing

import (
	"fmt"
	"strings"
	"time"
	// The zone database is embedded so that validation does not depend on the host: the
	// API that accepts a schedule and the engine that runs it must agree on every zone,
	// and a slim container has no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Schedule branches, as recorded in Hop.Branch.
const (
	BranchCallerRule = "caller_rule"
	BranchException  = "exception"
	BranchHoliday    = "holiday"
	BranchOpen       = "open"
	BranchClosed     = "closed"
)

// schedule is a Schedule compiled.
type schedule struct {
	Schedule
	loc        *time.Location
	hours      []span               // the weekly hours
	holidays   map[string]string    // "2006-01-02" or yearly "01-02" -> name (or the date)
	exceptions map[string]exception // "2006-01-02" ->
	rules      []callerRule
}

// span is open time in minutes of the day: from inclusive, to exclusive, to up to 1440.
// A weekly span with to <= from spans midnight: from until 24:00 on days, then 00:00 until
// to on the day after.
type span struct {
	days     uint8 // bit time.Weekday
	from, to int
}

type exception struct {
	name  string
	spans []span
}

type callerRule struct {
	numbers map[string]bool // normalised (normCaller)
	plus    []string        // prefixes with '+'
	digits  []string        // prefixes without '+'
	name    string
	dest    Destination
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// clock parses "HH:MM", 00:00 to 24:00, into minutes of the day.
func clock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' || !allDigits(s[:2]) || !allDigits(s[3:]) {
		return 0, false
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || h == 24 && m != 0 {
		return 0, false
	}
	return h*60 + m, true
}

// callerNumber is '+' (optional) and 1 to 20 digits.
func callerNumber(s string) bool {
	d := strings.TrimPrefix(s, "+")
	return allDigits(d) && len(d) <= 20
}

// normCaller drops a leading "+" or "00": "+48221234567", "0048221234567" and
// "48221234567" are the same caller.
func normCaller(s string) string {
	if d, ok := strings.CutPrefix(s, "+"); ok {
		return d
	}
	if d, ok := strings.CutPrefix(s, "00"); ok {
		return d
	}
	return s
}

func (b *builder) schedule(i int) {
	in := &b.in.Schedules[i]
	obj := fmt.Sprintf("schedule %d", in.ID)
	s := &schedule{
		Schedule:   *cloneSchedule(in),
		holidays:   map[string]string{},
		exceptions: map[string]exception{},
	}
	b.name(obj, "name", in.Name, true)

	switch in.TimeZone {
	case "":
		s.TimeZone = "UTC"
		s.loc = time.UTC
	case "Local": // the host's zone: not the same everywhere
		b.bad(obj, "time_zone", "must be an IANA zone name such as Europe/Warsaw, not Local")
	default:
		loc, err := time.LoadLocation(in.TimeZone)
		if err != nil {
			b.bad(obj, "time_zone", "unknown time zone %q", in.TimeZone)
		}
		s.loc = loc
	}

	for j, h := range in.Hours {
		p := fmt.Sprintf("hours[%d]", j)
		var sp span
		if len(h.Days) == 0 {
			b.bad(obj, p+".days", "at least one day required")
		}
		for k, d := range h.Days {
			wd, ok := weekdays[d]
			switch {
			case !ok:
				b.bad(obj, fmt.Sprintf("%s.days[%d]", p, k), "unknown day %q: want mon tue wed thu fri sat sun", d)
			case sp.days&(1<<wd) != 0:
				b.bad(obj, fmt.Sprintf("%s.days[%d]", p, k), "duplicate day %s", d)
			}
			sp.days |= 1 << wd
		}
		from, okFrom := clock(h.From)
		to, okTo := clock(h.To)
		if !okFrom || from == 24*60 {
			b.bad(obj, p+".from", "must be HH:MM, 00:00 to 23:59")
		}
		if !okTo {
			b.bad(obj, p+".to", "must be HH:MM, 00:00 to 24:00")
		}
		if okFrom && okTo && from == to {
			b.bad(obj, p+".to", "must differ from from (use 00:00 to 24:00 for the whole day)")
		}
		sp.from, sp.to = from, to
		if to == 0 { // "00:00" as an end is midnight: the same as 24:00
			sp.to = 24 * 60
		}
		s.hours = append(s.hours, sp)
	}

	for j, h := range in.Holidays {
		p := fmt.Sprintf("holidays[%d]", j)
		b.name(obj, p+".name", h.Name, false)
		name := h.Name
		if name == "" {
			name = h.Date
		}
		key, ok := "", false
		if _, err := time.Parse("2006-01-02", h.Date); err == nil && len(h.Date) == 10 {
			key, ok = h.Date, true
			if h.Yearly {
				key = h.Date[5:]
			}
		} else if _, err := time.Parse("2006-01-02", "2000-"+h.Date); err == nil && len(h.Date) == 5 {
			key, ok = h.Date, true // 2000 is a leap year: 02-29 is a date
		}
		if !ok {
			b.bad(obj, p+".date", "must be YYYY-MM-DD, or MM-DD for every year")
			continue
		}
		if _, dup := s.holidays[key]; !dup {
			s.holidays[key] = name
		}
	}

	for j, e := range in.Exceptions {
		p := fmt.Sprintf("exceptions[%d]", j)
		b.name(obj, p+".name", e.Name, false)
		ex := exception{name: e.Name}
		if ex.name == "" {
			ex.name = e.Date
		}
		for k, r := range e.Hours {
			from, to, ok := strings.Cut(r, "-")
			f, okF := clock(from)
			t, okT := clock(to)
			switch {
			case !ok || !okF || !okT || f == 24*60:
				b.bad(obj, fmt.Sprintf("%s.hours[%d]", p, k), "must be HH:MM-HH:MM")
			case t <= f:
				b.bad(obj, fmt.Sprintf("%s.hours[%d]", p, k), "must end after it starts (24:00 is the end of the day)")
			default:
				ex.spans = append(ex.spans, span{from: f, to: t})
			}
		}
		if _, err := time.Parse("2006-01-02", e.Date); err != nil || len(e.Date) != 10 {
			b.bad(obj, p+".date", "must be YYYY-MM-DD")
			continue
		}
		if _, dup := s.exceptions[e.Date]; dup {
			b.bad(obj, p+".date", "duplicate: another exception is on %s", e.Date)
			continue
		}
		s.exceptions[e.Date] = ex
	}

	for j, r := range in.CallerRules {
		p := fmt.Sprintf("caller_rules[%d]", j)
		b.name(obj, p+".name", r.Name, false)
		cr := callerRule{numbers: map[string]bool{}, name: r.Name}
		if cr.name == "" {
			cr.name = p
		}
		if len(r.Numbers) == 0 && len(r.Prefixes) == 0 {
			b.bad(obj, p, "needs at least one number or prefix")
		}
		for k, n := range r.Numbers {
			if !callerNumber(n) {
				b.bad(obj, fmt.Sprintf("%s.numbers[%d]", p, k), "must be digits with an optional leading +")
				continue
			}
			cr.numbers[normCaller(n)] = true
		}
		for k, n := range r.Prefixes {
			if !callerNumber(n) {
				b.bad(obj, fmt.Sprintf("%s.prefixes[%d]", p, k), "must be digits with an optional leading +")
				continue
			}
			if strings.HasPrefix(n, "+") {
				cr.plus = append(cr.plus, n)
			} else {
				cr.digits = append(cr.digits, n)
			}
		}
		cr.dest = b.dest(obj, p+".destination", r.Destination, false)
		s.CallerRules[j].Destination = cr.dest
		s.rules = append(s.rules, cr)
	}

	s.Open = b.dest(obj, "open", in.Open, false)
	s.Closed = b.dest(obj, "closed", in.Closed, false)
	if in.Holiday != nil {
		d := b.dest(obj, "holiday", *in.Holiday, false)
		s.Holiday = &d
	}
	if keep(b.in.Schedules, i, func(v *Schedule) int64 { return v.ID }) {
		b.g.schedules[in.ID] = s
	}
}

// match reports whether the caller's number is one of the rule's. Numbers match when equal
// after dropping a leading "+" or "00" from both. A prefix with '+' matches the caller's
// '+' form (a caller received with "+" or "00"; a national number has none); a prefix
// without '+' matches the caller's digits as received without a leading '+', or after
// dropping "00". "0" thus catches national callers, "48" and "+48" Polish ones however
// they arrive, "00" those received with the international prefix.
func (r *callerRule) match(caller string) bool {
	if caller == "" {
		return false
	}
	n := normCaller(caller)
	if r.numbers[n] {
		return true
	}
	if strings.HasPrefix(caller, "+") || strings.HasPrefix(caller, "00") {
		plus := "+" + n
		for _, p := range r.plus {
			if strings.HasPrefix(plus, p) {
				return true
			}
		}
	}
	raw := strings.TrimPrefix(caller, "+")
	for _, p := range r.digits {
		if strings.HasPrefix(raw, p) || strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// route picks the schedule's branch for a call from caller at instant at: the first caller
// rule that matches; else an exception on today's date (today in the schedule's zone:
// Open inside one of its hours, else Closed); else a holiday on today's date, by its full
// date or, yearly, its month and day (Holiday, else Closed); else the weekly hours (Open
// inside any of them, else Closed). Times are wall-clock minutes in the zone, so hours
// follow daylight saving time: an hour skipped in spring never opens, an hour repeated in
// autumn is open both times. An exception or holiday governs its whole date, including
// the morning part of a weekly span that started the evening before.
func (s *schedule) route(at time.Time, caller string) (d Destination, branch, note string) {
	for i := range s.rules {
		if r := &s.rules[i]; r.match(caller) {
			return r.dest, BranchCallerRule, r.name
		}
	}
	lt := at.In(s.loc)
	date := lt.Format("2006-01-02")
	m := lt.Hour()*60 + lt.Minute()
	if ex, ok := s.exceptions[date]; ok {
		for _, sp := range ex.spans {
			if sp.from <= m && m < sp.to {
				return s.Open, BranchException, ex.name + ": open"
			}
		}
		return s.Closed, BranchException, ex.name + ": closed"
	}
	name, ok := s.holidays[date]
	if !ok {
		name, ok = s.holidays[date[5:]]
	}
	if ok {
		if s.Holiday != nil {
			return *s.Holiday, BranchHoliday, name
		}
		return s.Closed, BranchHoliday, name
	}
	wd := lt.Weekday()
	yesterday := (wd + 6) % 7
	for _, sp := range s.hours {
		if sp.from < sp.to {
			if sp.days&(1<<wd) != 0 && sp.from <= m && m < sp.to {
				return s.Open, BranchOpen, ""
			}
			continue
		}
		if sp.days&(1<<wd) != 0 && m >= sp.from || sp.days&(1<<yesterday) != 0 && m < sp.to {
			return s.Open, BranchOpen, ""
		}
	}
	return s.Closed, BranchClosed, ""
}
