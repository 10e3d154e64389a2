package routing

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// baseInput is a small valid graph the validation cases change one thing in.
func baseInput() GraphInput {
	return GraphInput{
		Numbers: map[string]Destination{ccMain: toIVR(1)},
		IVRs: []IVR{{ID: 1, Name: "Main", Menu: "11",
			Choices: []Choice{{Digits: "1", Destination: toExt("2001")}}}},
		RingGroups: []RingGroup{{ID: 1, Name: "Sales", Strategy: RingLinear, Members: []Member{{Extension: "2001"}}}},
		Schedules:  []Schedule{{ID: 1, Name: "Hours", Open: toExt("2001"), Closed: toHangup("")}},
		Extensions: map[string]bool{"2001": true, "2002": true, "9999": false},
		Queues:     map[int64]bool{5: true},
		Prompts:    func(ref PromptRef) bool { return ref != "77" && ref != "system:missing" },
	}
}

func TestNewGraphValidation(t *testing.T) {
	num := func(d Destination) func(*GraphInput) {
		return func(in *GraphInput) { in.Numbers[ccMain] = d }
	}
	ivr := func(change func(*IVR)) func(*GraphInput) {
		return func(in *GraphInput) { change(&in.IVRs[0]) }
	}
	rg := func(change func(*RingGroup)) func(*GraphInput) {
		return func(in *GraphInput) { change(&in.RingGroups[0]) }
	}
	sch := func(change func(*Schedule)) func(*GraphInput) {
		return func(in *GraphInput) { change(&in.Schedules[0]) }
	}
	const numObj = "number " + ccMain
	e := func(object, field, message string) GraphError {
		return GraphError{Object: object, Field: field, Message: message}
	}
	long := strings.Repeat("x", 101)
	tests := []struct {
		name   string
		change func(*GraphInput)
		want   []GraphError
	}{
		{name: "valid", change: func(*GraphInput) {}},
		{name: "valid: nothing at all", change: func(in *GraphInput) { *in = GraphInput{} }},
		{name: "valid: nil Prompts accepts every well-formed ref", change: func(in *GraphInput) {
			in.Prompts = nil
			in.IVRs[0].Menu = "77"
		}},
		{name: "valid: objects in any order reference each other", change: func(in *GraphInput) {
			in.IVRs = append(in.IVRs, IVR{ID: 2, Name: "Second", Menu: "12",
				Choices: []Choice{{Digits: "1", Destination: toSchedule(1)}, {Digits: "2", Destination: toRG(1)}}})
			in.Schedules[0].Open = toIVR(2)
		}},

		// Input.
		{name: "negative max hops", change: func(in *GraphInput) { in.MaxHops = -1 },
			want: []GraphError{e("input", "max_hops", "must not be negative")}},

		// Numbers and destinations (at a number; the same checks apply everywhere).
		{name: "number not E.164", change: func(in *GraphInput) { in.Numbers["0221000000"] = toExt("2001") },
			want: []GraphError{e("number 0221000000", "", "not an E.164 number: want + and 2 to 15 digits, the first not 0")}},
		{name: "type missing", change: num(Destination{Target: "2001"}),
			want: []GraphError{e(numObj, "destination.type", "required")}},
		{name: "type unknown", change: num(Destination{Type: "voicemail", Target: "2001"}),
			want: []GraphError{e(numObj, "destination.type", `unknown type "voicemail": want extension, ring_group, ivr, queue, external, announcement, hangup or schedule`)}},
		{name: "extension missing target", change: num(toExt("")),
			want: []GraphError{e(numObj, "destination.target", "required")}},
		{name: "extension unknown", change: num(toExt("2999")),
			want: []GraphError{e(numObj, "destination.target", "no extension 2999")}},
		{name: "extension of an inactive user", change: num(toExt("9999")),
			want: []GraphError{e(numObj, "destination.target", "no extension 9999")}},
		{name: "ring group id not a number", change: num(Destination{Type: DestRingGroup, Target: "sales"}),
			want: []GraphError{e(numObj, "destination.target", "must be an id: a positive integer")}},
		{name: "ring group id with a leading zero", change: num(Destination{Type: DestRingGroup, Target: "01"}),
			want: []GraphError{e(numObj, "destination.target", "must be an id: a positive integer")}},
		{name: "ring group unknown", change: num(toRG(7)),
			want: []GraphError{e(numObj, "destination.target", "no ring_group 7")}},
		{name: "ivr unknown", change: num(toIVR(9)),
			want: []GraphError{e(numObj, "destination.target", "no ivr 9")}},
		{name: "ivr target missing", change: num(Destination{Type: DestIVR}),
			want: []GraphError{e(numObj, "destination.target", "required")}},
		{name: "schedule unknown", change: num(toSchedule(9)),
			want: []GraphError{e(numObj, "destination.target", "no schedule 9")}},
		{name: "queue unknown", change: num(toQueue(6)),
			want: []GraphError{e(numObj, "destination.target", "no queue 6")}},
		{name: "queue id zero", change: num(Destination{Type: DestQueue, Target: "0"}),
			want: []GraphError{e(numObj, "destination.target", "must be an id: a positive integer")}},
		{name: "external with letters", change: num(toExternal("+48 22 1", "")),
			want: []GraphError{e(numObj, "destination.target", "not a number: want 2 to 20 digits with an optional leading +")}},
		{name: "external too short", change: num(toExternal("+1", "")),
			want: []GraphError{e(numObj, "destination.target", "not a number: want 2 to 20 digits with an optional leading +")}},
		{name: "external too long", change: num(toExternal(strings.Repeat("1", 21), "")),
			want: []GraphError{e(numObj, "destination.target", "not a number: want 2 to 20 digits with an optional leading +")}},
		{name: "external present unknown", change: num(toExternal("+48227000000", "anonymous")),
			want: []GraphError{e(numObj, "destination.present", "must be caller or did")}},
		{name: "present on an extension", change: num(Destination{Type: DestExtension, Target: "2001", Present: PresentDID}),
			want: []GraphError{e(numObj, "destination.present", "only for external destinations")}},
		{name: "then on a hangup", change: num(Destination{Type: DestHangup, Then: dp(toExt("2001"))}),
			want: []GraphError{e(numObj, "destination.then", "only for announcement destinations")}},
		{name: "announcement without a prompt", change: num(toAnnouncement("", nil)),
			want: []GraphError{e(numObj, "destination.target", "required")}},
		{name: "announcement prompt missing", change: num(toAnnouncement("77", nil)),
			want: []GraphError{e(numObj, "destination.target", "no prompt 77")}},
		{name: "announcement system prompt missing", change: num(toAnnouncement("system:missing", nil)),
			want: []GraphError{e(numObj, "destination.target", "no prompt system:missing")}},
		{name: "announcement prompt escaping the system set", change: num(toAnnouncement("system:../../etc/passwd", nil)),
			want: []GraphError{e(numObj, "destination.target", "not a prompt reference: want an uploaded prompt id or system:<path>")}},
		{name: "announcement prompt not an id", change: num(toAnnouncement("hello.wav", nil)),
			want: []GraphError{e(numObj, "destination.target", "not a prompt reference: want an uploaded prompt id or system:<path>")}},
		{name: "announcement then nested twice", change: num(toAnnouncement("12", dp(toAnnouncement("13", dp(toExt("2999")))))),
			want: []GraphError{e(numObj, "destination.then.then.target", "no extension 2999")}},
		{name: "hangup code below 400", change: num(toHangup("399")),
			want: []GraphError{e(numObj, "destination.target", "must be a SIP code 400-699")}},
		{name: "hangup code above 699", change: num(toHangup("700")),
			want: []GraphError{e(numObj, "destination.target", "must be a SIP code 400-699")}},
		{name: "hangup code not a number", change: num(toHangup("busy")),
			want: []GraphError{e(numObj, "destination.target", "must be a SIP code 400-699")}},
		{name: "back at a number", change: num(toBack()),
			want: []GraphError{e(numObj, "destination.type", "back is only valid as the destination of an IVR choice")}},

		// IVRs.
		{name: "ivr id zero", change: ivr(func(v *IVR) { v.ID = 0 }),
			want: []GraphError{e("ivr 0", "id", "must be positive"), e(numObj, "destination.target", "no ivr 1")}},
		{name: "ivr id duplicate", change: func(in *GraphInput) { in.IVRs = append(in.IVRs, in.IVRs[0]) },
			want: []GraphError{e("ivr 1", "id", "duplicate: another ivr has id 1")}},
		{name: "ivr name missing", change: ivr(func(v *IVR) { v.Name = " " }),
			want: []GraphError{e("ivr 1", "name", "required")}},
		{name: "ivr name too long", change: ivr(func(v *IVR) { v.Name = long }),
			want: []GraphError{e("ivr 1", "name", "longer than 100 characters")}},
		{name: "ivr menu missing", change: ivr(func(v *IVR) { v.Menu = "" }),
			want: []GraphError{e("ivr 1", "menu", "required")}},
		{name: "ivr menu prompt missing", change: ivr(func(v *IVR) { v.Menu = "77" }),
			want: []GraphError{e("ivr 1", "menu", "no prompt 77")}},
		{name: "ivr other prompts missing", change: ivr(func(v *IVR) {
			v.Greeting, v.InvalidPrompt, v.NoInputPrompt = "77", "system:missing", "0"
		}), want: []GraphError{
			e("ivr 1", "greeting", "no prompt 77"),
			e("ivr 1", "invalid_prompt", "no prompt system:missing"),
			e("ivr 1", "no_input_prompt", "not a prompt reference: want an uploaded prompt id or system:<path>"),
		}},
		{name: "choice digits missing", change: ivr(func(v *IVR) { v.Choices[0].Digits = "" }),
			want: []GraphError{e("ivr 1", "choices[0].digits", "required")}},
		{name: "choice digits too long", change: ivr(func(v *IVR) { v.Choices[0].Digits = strings.Repeat("1", 21) }),
			want: []GraphError{e("ivr 1", "choices[0].digits", "longer than 20 characters")}},
		{name: "choice digits not keys", change: ivr(func(v *IVR) { v.Choices[0].Digits = "1a" }),
			want: []GraphError{e("ivr 1", "choices[0].digits", "must be of 0-9 * #")}},
		{name: "choice # not last", change: ivr(func(v *IVR) { v.Choices[0].Digits = "#1" }),
			want: []GraphError{e("ivr 1", "choices[0].digits", "# ends the input: it may only be the last character")}},
		{name: "valid: choices # and 1#", change: ivr(func(v *IVR) {
			v.Choices = append(v.Choices, Choice{Digits: "#", Destination: toExt("2002")}, Choice{Digits: "1#", Destination: toExt("2002")})
		})},
		{name: "choice digits duplicate", change: ivr(func(v *IVR) { v.Choices = append(v.Choices, v.Choices[0]) }),
			want: []GraphError{e("ivr 1", "choices[1].digits", "duplicate: choices[0] has the same digits")}},
		{name: "choice destination unknown", change: ivr(func(v *IVR) { v.Choices[0].Destination = toAnnouncement("12", dp(toIVR(4))) }),
			want: []GraphError{e("ivr 1", "choices[0].destination.then.target", "no ivr 4")}},
		{name: "valid: back as a choice", change: ivr(func(v *IVR) { v.Choices = append(v.Choices, Choice{Digits: "9", Destination: toBack()}) })},
		{name: "back with a target", change: ivr(func(v *IVR) {
			v.Choices = append(v.Choices, Choice{Digits: "9", Destination: Destination{Type: DestBack, Target: "1"}})
		}), want: []GraphError{e("ivr 1", "choices[1].destination.target", "must be empty for back")}},
		{name: "back as a no-input branch", change: ivr(func(v *IVR) { v.NoInput = dp(toBack()) }),
			want: []GraphError{e("ivr 1", "no_input.type", "back is only valid as the destination of an IVR choice")}},
		{name: "back after an announcement in a choice", change: ivr(func(v *IVR) {
			v.Choices[0].Destination = toAnnouncement("12", dp(toBack()))
		}), want: []GraphError{e("ivr 1", "choices[0].destination.then.type", "back is only valid as the destination of an IVR choice")}},
		{name: "max digits too many", change: ivr(func(v *IVR) { v.MaxDigits = 21 }),
			want: []GraphError{e("ivr 1", "max_digits", "must be 0 (the longest choice) to 20")}},
		{name: "max digits negative", change: ivr(func(v *IVR) { v.MaxDigits = -1 }),
			want: []GraphError{e("ivr 1", "max_digits", "must be 0 (the longest choice) to 20")}},
		{name: "max digits shorter than a choice", change: ivr(func(v *IVR) {
			v.MaxDigits = 1
			v.Choices = append(v.Choices, Choice{Digits: "21", Destination: toExt("2002")})
		}), want: []GraphError{e("ivr 1", "max_digits", "shorter than the longest choice (2 digits)")}},
		{name: "timeouts out of range", change: ivr(func(v *IVR) { v.InterDigitMS, v.NoInputMS = 499, 60001 }),
			want: []GraphError{
				e("ivr 1", "inter_digit_ms", "must be 0 (default) or 500 to 60000"),
				e("ivr 1", "no_input_ms", "must be 0 (default) or 500 to 60000"),
			}},
		{name: "valid: timeouts at the limits", change: ivr(func(v *IVR) { v.InterDigitMS, v.NoInputMS = 500, 60000 })},
		{name: "retries too many", change: ivr(func(v *IVR) { v.Retries = ip(11) }),
			want: []GraphError{e("ivr 1", "retries", "must be 0 to 10")}},
		{name: "retries negative", change: ivr(func(v *IVR) { v.Retries = ip(-1) }),
			want: []GraphError{e("ivr 1", "retries", "must be 0 to 10")}},
		{name: "valid: retries zero", change: ivr(func(v *IVR) { v.Retries = ip(0) })},
		{name: "answer mode unknown", change: ivr(func(v *IVR) { v.Answer = "ringing" }),
			want: []GraphError{e("ivr 1", "answer", "must be answer or early_media")}},
		{name: "ivr branches unknown", change: ivr(func(v *IVR) {
			v.NoInput, v.Invalid, v.MaxRetries = dp(toExt("1")), dp(toRG(3)), dp(toQueue(4))
		}), want: []GraphError{
			e("ivr 1", "no_input.target", "no extension 1"),
			e("ivr 1", "invalid.target", "no ring_group 3"),
			e("ivr 1", "max_retries.target", "no queue 4"),
		}},

		// Ring groups.
		{name: "ring group id negative", change: rg(func(r *RingGroup) { r.ID = -2 }),
			want: []GraphError{e("ring_group -2", "id", "must be positive")}},
		{name: "ring group id duplicate", change: func(in *GraphInput) { in.RingGroups = append(in.RingGroups, in.RingGroups[0]) },
			want: []GraphError{e("ring_group 1", "id", "duplicate: another ring_group has id 1")}},
		{name: "ring group name missing", change: rg(func(r *RingGroup) { r.Name = "" }),
			want: []GraphError{e("ring_group 1", "name", "required")}},
		{name: "ring group strategy missing", change: rg(func(r *RingGroup) { r.Strategy = "" }),
			want: []GraphError{e("ring_group 1", "strategy", "required: ring_all, linear, round_robin or random")}},
		{name: "ring group strategy unknown", change: rg(func(r *RingGroup) { r.Strategy = "hunt" }),
			want: []GraphError{e("ring_group 1", "strategy", `unknown strategy "hunt": want ring_all, linear, round_robin or random`)}},
		{name: "ring group without members", change: rg(func(r *RingGroup) { r.Members = nil }),
			want: []GraphError{e("ring_group 1", "members", "at least one member required")}},
		{name: "ring group member without extension", change: rg(func(r *RingGroup) { r.Members[0].Extension = "" }),
			want: []GraphError{e("ring_group 1", "members[0].extension", "required")}},
		{name: "ring group member unknown", change: rg(func(r *RingGroup) { r.Members = append(r.Members, Member{Extension: "9999"}) }),
			want: []GraphError{e("ring_group 1", "members[1].extension", "no extension 9999")}},
		{name: "ring group member twice", change: rg(func(r *RingGroup) { r.Members = append(r.Members, r.Members[0]) }),
			want: []GraphError{e("ring_group 1", "members[1].extension", "duplicate: members[0] has the same extension")}},
		{name: "ring times out of range", change: rg(func(r *RingGroup) {
			r.Members[0].RingSeconds, r.MemberSeconds, r.GroupSeconds = 4, 601, 3
		}), want: []GraphError{
			e("ring_group 1", "members[0].ring_seconds", "must be 0 (default) or 5 to 600"),
			e("ring_group 1", "member_seconds", "must be 0 (default) or 5 to 600"),
			e("ring_group 1", "group_seconds", "must be 0 (default) or 5 to 600"),
			e("ring_group 1", "group_seconds", "shorter than member_seconds"),
		}},
		{name: "group shorter than member", change: rg(func(r *RingGroup) { r.MemberSeconds, r.GroupSeconds = 30, 20 }),
			want: []GraphError{e("ring_group 1", "group_seconds", "shorter than member_seconds")}},
		{name: "ring group fallback unknown", change: rg(func(r *RingGroup) { r.Fallback = dp(toSchedule(2)) }),
			want: []GraphError{e("ring_group 1", "fallback.target", "no schedule 2")}},

		// Schedules.
		{name: "schedule name missing", change: sch(func(s *Schedule) { s.Name = "" }),
			want: []GraphError{e("schedule 1", "name", "required")}},
		{name: "schedule time zone unknown", change: sch(func(s *Schedule) { s.TimeZone = "Europe/Gotham" }),
			want: []GraphError{e("schedule 1", "time_zone", `unknown time zone "Europe/Gotham"`)}},
		{name: "schedule time zone Local", change: sch(func(s *Schedule) { s.TimeZone = "Local" }),
			want: []GraphError{e("schedule 1", "time_zone", "must be an IANA zone name such as Europe/Warsaw, not Local")}},
		{name: "hours without days", change: sch(func(s *Schedule) { s.Hours = []Hours{{From: "08:00", To: "16:00"}} }),
			want: []GraphError{e("schedule 1", "hours[0].days", "at least one day required")}},
		{name: "hours day unknown", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon", "Tue"}, From: "08:00", To: "16:00"}} }),
			want: []GraphError{e("schedule 1", "hours[0].days[1]", `unknown day "Tue": want mon tue wed thu fri sat sun`)}},
		{name: "hours day twice", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon", "mon"}, From: "08:00", To: "16:00"}} }),
			want: []GraphError{e("schedule 1", "hours[0].days[1]", "duplicate day mon")}},
		{name: "hours from malformed", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon"}, From: "8:00", To: "16:00"}} }),
			want: []GraphError{e("schedule 1", "hours[0].from", "must be HH:MM, 00:00 to 23:59")}},
		{name: "hours from 24:00", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon"}, From: "24:00", To: "06:00"}} }),
			want: []GraphError{e("schedule 1", "hours[0].from", "must be HH:MM, 00:00 to 23:59")}},
		{name: "hours to past midnight", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon"}, From: "08:00", To: "24:30"}} }),
			want: []GraphError{e("schedule 1", "hours[0].to", "must be HH:MM, 00:00 to 24:00")}},
		{name: "hours minutes 60", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon"}, From: "08:00", To: "16:60"}} }),
			want: []GraphError{e("schedule 1", "hours[0].to", "must be HH:MM, 00:00 to 24:00")}},
		{name: "hours empty", change: sch(func(s *Schedule) { s.Hours = []Hours{{Days: []string{"mon"}, From: "08:00", To: "08:00"}} }),
			want: []GraphError{e("schedule 1", "hours[0].to", "must differ from from (use 00:00 to 24:00 for the whole day)")}},
		{name: "valid: hours over midnight and to 24:00", change: sch(func(s *Schedule) {
			s.Hours = []Hours{{Days: []string{"fri"}, From: "22:00", To: "06:00"}, {Days: []string{"sat"}, From: "20:00", To: "24:00"}}
		})},
		{name: "holiday date malformed", change: sch(func(s *Schedule) { s.Holidays = []Holiday{{Date: "25.12"}} }),
			want: []GraphError{e("schedule 1", "holidays[0].date", "must be YYYY-MM-DD, or MM-DD for every year")}},
		{name: "holiday date impossible", change: sch(func(s *Schedule) { s.Holidays = []Holiday{{Date: "2026-02-29"}, {Date: "13-01"}} }),
			want: []GraphError{
				e("schedule 1", "holidays[0].date", "must be YYYY-MM-DD, or MM-DD for every year"),
				e("schedule 1", "holidays[1].date", "must be YYYY-MM-DD, or MM-DD for every year"),
			}},
		{name: "valid: yearly 02-29", change: sch(func(s *Schedule) { s.Holidays = []Holiday{{Date: "02-29"}} })},
		{name: "holiday name too long", change: sch(func(s *Schedule) { s.Holidays = []Holiday{{Date: "12-25", Name: long}} }),
			want: []GraphError{e("schedule 1", "holidays[0].name", "longer than 100 characters")}},
		{name: "exception date yearly", change: sch(func(s *Schedule) { s.Exceptions = []Exception{{Date: "12-24"}} }),
			want: []GraphError{e("schedule 1", "exceptions[0].date", "must be YYYY-MM-DD")}},
		{name: "exception date twice", change: sch(func(s *Schedule) {
			s.Exceptions = []Exception{{Date: "2026-12-24"}, {Date: "2026-12-24", Hours: []string{"08:00-12:00"}}}
		}), want: []GraphError{e("schedule 1", "exceptions[1].date", "duplicate: another exception is on 2026-12-24")}},
		{name: "exception hours malformed", change: sch(func(s *Schedule) { s.Exceptions = []Exception{{Date: "2026-12-24", Hours: []string{"08:00"}}} }),
			want: []GraphError{e("schedule 1", "exceptions[0].hours[0]", "must be HH:MM-HH:MM")}},
		{name: "exception hours backwards", change: sch(func(s *Schedule) {
			s.Exceptions = []Exception{{Date: "2026-12-24", Hours: []string{"22:00-06:00"}}}
		}), want: []GraphError{e("schedule 1", "exceptions[0].hours[0]", "must end after it starts (24:00 is the end of the day)")}},
		{name: "caller rule matching nobody", change: sch(func(s *Schedule) {
			s.CallerRules = []CallerRule{{Name: "VIP", Destination: toExt("2001")}}
		}), want: []GraphError{e("schedule 1", "caller_rules[0]", "needs at least one number or prefix")}},
		{name: "caller rule number and prefix malformed", change: sch(func(s *Schedule) {
			s.CallerRules = []CallerRule{{Numbers: []string{"+48 601"}, Prefixes: []string{"+"}, Destination: toExt("2001")}}
		}), want: []GraphError{
			e("schedule 1", "caller_rules[0].numbers[0]", "must be digits with an optional leading +"),
			e("schedule 1", "caller_rules[0].prefixes[0]", "must be digits with an optional leading +"),
		}},
		{name: "caller rule destination missing", change: sch(func(s *Schedule) {
			s.CallerRules = []CallerRule{{Prefixes: []string{"+4870"}}}
		}), want: []GraphError{e("schedule 1", "caller_rules[0].destination.type", "required")}},
		{name: "schedule branches", change: sch(func(s *Schedule) {
			s.Open, s.Closed, s.Holiday = Destination{}, toAnnouncement("12", dp(toHangup("200"))), dp(toExt("2"))
		}), want: []GraphError{
			e("schedule 1", "open.type", "required"),
			e("schedule 1", "closed.then.target", "must be a SIP code 400-699"),
			e("schedule 1", "holiday.target", "no extension 2"),
		}},
		{name: "schedule id duplicate", change: func(in *GraphInput) { in.Schedules = append(in.Schedules, in.Schedules[0]) },
			want: []GraphError{e("schedule 1", "id", "duplicate: another schedule has id 1")}},

		// No way out.
		{name: "ivr and schedule in a cycle", change: func(in *GraphInput) {
			in.IVRs = append(in.IVRs, IVR{ID: 3, Name: "Loop", Menu: "12",
				Choices:    []Choice{{Digits: "1", Destination: toSchedule(2)}},
				MaxRetries: dp(toIVR(3))})
			in.Schedules = append(in.Schedules, Schedule{ID: 2, Name: "Loop", Open: toIVR(3), Closed: toIVR(3)})
			in.Numbers["+48221000009"] = toIVR(3)
		}, want: []GraphError{
			e("number +48221000009", "destination.target", "no way out: ivr 3 -> schedule 2 -> ivr 3"),
			e("ivr 3", "choices[0].destination.target", "no way out: ivr 3 -> schedule 2 -> ivr 3"),
			e("schedule 2", "open.target", "no way out: schedule 2 -> ivr 3 -> schedule 2"),
		}},
		{name: "schedule closed on itself", change: sch(func(s *Schedule) { s.Closed = toAnnouncement("12", dp(toSchedule(1))) }),
			want: []GraphError{e("schedule 1", "closed.then.target", "no way out: schedule 1 -> schedule 1")}},
		{name: "ivr whose every failure loops", change: ivr(func(v *IVR) {
			v.Choices = []Choice{{Digits: "9", Destination: toBack()}}
			v.NoInput, v.Invalid = dp(toIVR(1)), dp(toAnnouncement("12", dp(toIVR(1))))
		}), want: []GraphError{
			e("number +48221000000", "destination.target", "no way out: ivr 1 -> ivr 1"),
			e("ivr 1", "no_input.target", "no way out: ivr 1 -> ivr 1"),
		}},
		{name: "valid: cycles with a way out", change: func(in *GraphInput) {
			in.IVRs[0].Choices = append(in.IVRs[0].Choices,
				Choice{Digits: "2", Destination: toIVR(2)}, Choice{Digits: "8", Destination: toIVR(1)})
			in.IVRs = append(in.IVRs, IVR{ID: 2, Name: "Second", Menu: "12", Choices: []Choice{
				{Digits: "1", Destination: toIVR(1)}, {Digits: "9", Destination: toBack()}},
				MaxRetries: dp(toIVR(1))})
			in.RingGroups[0].Fallback = dp(toRG(1))
		}},
		{name: "valid: an ivr that only loops still hangs up after its retries", change: ivr(func(v *IVR) {
			v.Choices = []Choice{{Digits: "1", Destination: toIVR(1)}}
		})},
		{name: "valid: dialling an extension is a way out", change: ivr(func(v *IVR) {
			v.Choices = []Choice{{Digits: "1", Destination: toIVR(1)}}
			v.DialExtensions, v.MaxRetries = true, dp(toIVR(1))
		})},
		{name: "unresolved references are not reported twice", change: ivr(func(v *IVR) {
			v.Choices = []Choice{{Digits: "1", Destination: toIVR(7)}}
			v.MaxRetries = dp(toIVR(1))
		}), want: []GraphError{e("ivr 1", "choices[0].destination.target", "no ivr 7")}},

		// Queue overflow destinations.
		{name: "valid: queue overflows to an IVR, a queue named only by its exits", change: func(in *GraphInput) {
			in.QueueExits = map[int64][]QueueExit{8: {{Field: "on_full", Destination: toIVR(1)}},
				5: {{Field: "on_max_wait", Destination: toQueue(8)}}}
			in.Numbers[ccMain] = toQueue(8)
		}},
		{name: "valid: a queue is an exit, so a queue overflowing into a menu loop back to it is fine", change: func(in *GraphInput) {
			in.IVRs[0].Choices = []Choice{{Digits: "1", Destination: toQueue(5)}}
			in.QueueExits = map[int64][]QueueExit{5: {{Field: "on_empty", Destination: toIVR(1)}}}
		}},
		{name: "queue overflow to a missing object", change: func(in *GraphInput) {
			in.QueueExits = map[int64][]QueueExit{5: {{Field: "on_full", Destination: toIVR(9)},
				{Field: "on_empty", Destination: Destination{Type: DestAnnouncement, Target: "77"}},
				{Field: "on_max_wait", Destination: Destination{Type: DestBack}}}}
		}, want: []GraphError{e("queue 5", "on_full.target", "no ivr 9"), e("queue 5", "on_empty.target", "no prompt 77"),
			e("queue 5", "on_max_wait.type", "back is only valid as the destination of an IVR choice")}},
		{name: "queue overflow to a queue that does not exist", change: func(in *GraphInput) {
			in.QueueExits = map[int64][]QueueExit{5: {{Field: "on_full", Destination: toQueue(6)}}}
		}, want: []GraphError{e("queue 5", "on_full.target", "no queue 6")}},
		{name: "queue exits of a bad id", change: func(in *GraphInput) {
			in.QueueExits = map[int64][]QueueExit{0: {{Field: "on_full", Destination: toHangup("")}}}
		}, want: []GraphError{e("queue 0", "id", "must be positive")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.change(&in)
			g, err := NewGraph(in)
			if tc.want == nil {
				require.NoError(t, err)
				require.NotNil(t, g)
				return
			}
			require.Nil(t, g)
			var verr *GraphValidationError
			require.True(t, errors.As(err, &verr), "%v", err)
			require.Equal(t, tc.want, verr.Errors)
		})
	}
}

func TestGraphValidationErrorMessage(t *testing.T) {
	in := baseInput()
	in.Numbers[ccMain] = toExt("2999")
	in.IVRs[0].Name = ""
	_, err := NewGraph(in)
	require.EqualError(t, err, "routing: invalid inbound scheme: number +48221000000: destination.target: no extension 2999; ivr 1: name: required")

	require.Equal(t, "ivr 1: no way out: ivr 1 -> ivr 1", GraphError{Object: "ivr 1", Message: "no way out: ivr 1 -> ivr 1"}.String())
}

func TestGraphReportsEveryError(t *testing.T) {
	in := baseInput()
	in.MaxHops = -5
	in.Numbers[ccMain] = toIVR(9)
	in.IVRs[0].Menu = "77"
	in.RingGroups[0].Strategy = ""
	in.Schedules[0].TimeZone = "Mars/Olympus"
	_, err := NewGraph(in)
	var verr *GraphValidationError
	require.ErrorAs(t, err, &verr)
	var objects []string
	for _, e := range verr.Errors {
		objects = append(objects, e.Object+" "+e.Field)
	}
	require.Equal(t, []string{"input max_hops", "number +48221000000 destination.target", "ivr 1 menu",
		"ring_group 1 strategy", "schedule 1 time_zone"}, objects)
}

func TestGraphDefaultsAndCopies(t *testing.T) {
	in := ccInput()
	in.Numbers[ccNight] = toExternal("+48227000000", "")
	g, err := NewGraph(in)
	require.NoError(t, err)
	require.Equal(t, DefaultMaxHops, g.MaxHops())

	iv, ok := g.IVR(1)
	require.True(t, ok)
	require.Equal(t, 2000, iv.InterDigitMS)
	require.Equal(t, 5000, iv.NoInputMS)
	require.Equal(t, 2, *iv.Retries)
	require.Equal(t, AnswerAnswer, iv.Answer)
	require.Equal(t, 4, iv.MaxDigits, "the longest extension, as ivr 1 dials extensions")
	iv2, _ := g.IVR(2)
	require.Equal(t, 1, iv2.MaxDigits, "the longest choice")

	rg, ok := g.RingGroup(1)
	require.True(t, ok)
	require.Equal(t, 20, rg.MemberSeconds)
	require.Equal(t, 60, rg.GroupSeconds)
	require.Equal(t, 15, rg.Members[1].RingSeconds)

	s, ok := g.Schedule(1)
	require.True(t, ok)
	require.Equal(t, "480", s.Closed.Then.Target, "an empty hangup code is filled")

	d, ok := g.Number(ccNight)
	require.True(t, ok)
	require.Equal(t, PresentCaller, d.Present, "external presents the caller by default")
	require.Equal(t, []string{ccMain, ccSupport, ccNight}, g.Numbers())

	// Copies: changing what an accessor returns changes nothing in the graph, nor does
	// changing the input afterwards.
	iv.Choices[0].Digits = "7"
	*iv.Retries = 9
	rg.Members[0].Extension = "x"
	s.Closed.Then.Target = "403"
	in.IVRs[0].Choices[1].Digits = "5"
	again, _ := g.IVR(1)
	require.Equal(t, "1", again.Choices[0].Digits)
	require.Equal(t, "2", again.Choices[1].Digits)
	require.Equal(t, 2, *again.Retries)
	rg2, _ := g.RingGroup(1)
	require.Equal(t, "2001", rg2.Members[0].Extension)
	s2, _ := g.Schedule(1)
	require.Equal(t, "480", s2.Closed.Then.Target)

	_, ok = g.IVR(42)
	require.False(t, ok)
	_, ok = g.RingGroup(42)
	require.False(t, ok)
	_, ok = g.Schedule(42)
	require.False(t, ok)
	_, ok = g.Number("+48999")
	require.False(t, ok)
}

func TestGraphHolder(t *testing.T) {
	var h GraphHolder
	require.Nil(t, h.Load())
	_, err := h.Load().Start(ccMain, customer)
	require.ErrorIs(t, err, ErrNoNumber)
	g := ccGraph(t)
	h.Store(g)
	require.Same(t, g, h.Load())
	_, err = h.Load().Start(ccMain, customer)
	require.NoError(t, err)
}

func TestGraphPromptsAskedOncePerRef(t *testing.T) {
	in := ccInput()
	asked := map[string]int{}
	in.Prompts = func(ref PromptRef) bool { asked[ref]++; return true }
	_, err := NewGraph(in)
	require.NoError(t, err)
	for ref, n := range asked {
		require.Equal(t, 1, n, ref)
	}
	require.Contains(t, asked, "system:closed")
}
