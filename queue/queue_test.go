package queue

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/centrala/centrala/routing"
	"github.com/stretchr/testify/require"
)

func dest(typ routing.DestType, target string) *routing.Destination {
	return &routing.Destination{Type: typ, Target: target}
}

// baseQueue is a small valid queue the validation cases change one thing in.
func baseQueue() Queue {
	return Queue{ID: 3, Name: "Support", Strategy: LongestIdle,
		Members: []Member{{UserID: 7}, {UserID: 8, Penalty: 10}}}
}

func TestQueueValidate(t *testing.T) {
	e := func(field, message string) FieldError { return FieldError{Field: field, Message: message} }
	const strategies = "ring_all, longest_idle, round_robin, linear, fewest_calls, least_talk_time or random"
	tests := []struct {
		name   string
		change func(*Queue)
		want   []FieldError
	}{
		{name: "valid", change: func(*Queue) {}},
		{name: "valid: new queue without id or members", change: func(q *Queue) { q.ID, q.Members = 0, nil }},
		{name: "valid: every option", change: func(q *Queue) {
			q.RingSeconds, q.RetryDelaySeconds = 30, intp(0)
			q.MaxWaitSeconds, q.OnMaxWait = 300, dest(routing.DestIVR, "4")
			q.MaxCallers, q.OnFull = 20, &routing.Destination{Type: routing.DestAnnouncement, Target: "system:queue-full",
				Then: dest(routing.DestHangup, "486")}
			q.JoinEmpty, q.LeaveWhenEmpty = JoinDestination, true
			q.OnEmpty = &routing.Destination{Type: routing.DestExternal, Target: "+48221000100", Present: routing.PresentDID}
			q.WrapUpSeconds, q.MusicOnHold, q.AnnouncePositionSeconds = intp(0), "opsound", 60
			q.ServiceLevelSeconds, q.NotReadyAfterMissed = 30, intp(0)
			q.Members[0].WrapUpSeconds = intp(3600)
		}},
		{name: "valid: after Defaults", change: func(q *Queue) { q.Defaults() }},
		{name: "valid: overflow to another queue", change: func(q *Queue) { q.MaxCallers, q.OnFull = 5, dest(routing.DestQueue, "4") }},
		{name: "valid: an overflow kept while its feature is off", change: func(q *Queue) { q.OnFull = dest(routing.DestHangup, "") }},

		{name: "id negative", change: func(q *Queue) { q.ID = -1 }, want: []FieldError{e("id", "must not be negative")}},
		{name: "name missing", change: func(q *Queue) { q.Name = "  " }, want: []FieldError{e("name", "required")}},
		{name: "name too long", change: func(q *Queue) { q.Name = strings.Repeat("é", 101) },
			want: []FieldError{e("name", "longer than 100 characters")}},
		{name: "strategy missing", change: func(q *Queue) { q.Strategy = "" },
			want: []FieldError{e("strategy", "required: "+strategies)}},
		{name: "strategy unknown", change: func(q *Queue) { q.Strategy = "leastrecent" },
			want: []FieldError{e("strategy", `unknown strategy "leastrecent": want `+strategies)}},
		{name: "member user missing", change: func(q *Queue) { q.Members[1].UserID = 0 },
			want: []FieldError{e("members[1].user_id", "must be a user id: a positive integer")}},
		{name: "member duplicate", change: func(q *Queue) { q.Members = append(q.Members, Member{UserID: 7, Penalty: 5}) },
			want: []FieldError{e("members[2].user_id", "duplicate: members[0] is user 7")}},
		{name: "penalty out of range", change: func(q *Queue) { q.Members[0].Penalty, q.Members[1].Penalty = -1, 101 },
			want: []FieldError{e("members[0].penalty", "must be 0 to 100"), e("members[1].penalty", "must be 0 to 100")}},
		{name: "member wrap-up out of range", change: func(q *Queue) { q.Members[1].WrapUpSeconds = intp(-5) },
			want: []FieldError{e("members[1].wrap_up_seconds", "must be 0 to 3600")}},
		{name: "ring too short", change: func(q *Queue) { q.RingSeconds = 4 },
			want: []FieldError{e("ring_seconds", "must be 0 (default 20) or 5 to 600")}},
		{name: "ring too long", change: func(q *Queue) { q.RingSeconds = 601 },
			want: []FieldError{e("ring_seconds", "must be 0 (default 20) or 5 to 600")}},
		{name: "retry delay out of range", change: func(q *Queue) { q.RetryDelaySeconds = intp(301) },
			want: []FieldError{e("retry_delay_seconds", "must be 0 to 300")}},
		{name: "max wait too short, and its destination missing", change: func(q *Queue) { q.MaxWaitSeconds = 3 },
			want: []FieldError{e("max_wait_seconds", "must be 0 (no limit) or 5 to 86400"),
				e("on_max_wait", "required: max_wait_seconds is set")}},
		{name: "max callers without on_full", change: func(q *Queue) { q.MaxCallers = 10 },
			want: []FieldError{e("on_full", "required: max_callers is set")}},
		{name: "max callers negative", change: func(q *Queue) { q.MaxCallers = -1 },
			want: []FieldError{e("max_callers", "must be 0 (no limit) to 10000")}},
		{name: "join_empty unknown", change: func(q *Queue) { q.JoinEmpty = "yes" },
			want: []FieldError{e("join_empty", "must be allow or destination")}},
		{name: "join_empty destination without on_empty", change: func(q *Queue) { q.JoinEmpty = JoinDestination },
			want: []FieldError{e("on_empty", "required: join_empty is destination")}},
		{name: "leave_when_empty without on_empty", change: func(q *Queue) { q.LeaveWhenEmpty = true },
			want: []FieldError{e("on_empty", "required: leave_when_empty is set")}},
		{name: "wrap-up out of range", change: func(q *Queue) { q.WrapUpSeconds = intp(3601) },
			want: []FieldError{e("wrap_up_seconds", "must be 0 to 3600")}},
		{name: "music on hold a path", change: func(q *Queue) { q.MusicOnHold = "../etc" },
			want: []FieldError{e("music_on_hold", "must be a directory name: 1 to 64 of A-Z a-z 0-9 _ - . (not . or ..)")}},
		{name: "music on hold ..", change: func(q *Queue) { q.MusicOnHold = ".." },
			want: []FieldError{e("music_on_hold", "must be a directory name: 1 to 64 of A-Z a-z 0-9 _ - . (not . or ..)")}},
		{name: "announcements too often", change: func(q *Queue) { q.AnnouncePositionSeconds = 10 },
			want: []FieldError{e("announce_position_seconds", "must be 0 (off) or 15 to 3600")}},
		{name: "service level out of range", change: func(q *Queue) { q.ServiceLevelSeconds = 3601 },
			want: []FieldError{e("service_level_seconds", "must be 0 (default 20) to 3600")}},
		{name: "not ready after missed out of range", change: func(q *Queue) { q.NotReadyAfterMissed = intp(-1) },
			want: []FieldError{e("not_ready_after_missed", "must be 0 (never) to 100")}},

		// Destinations: their form.
		{name: "destination type missing", change: func(q *Queue) { q.MaxCallers, q.OnFull = 5, &routing.Destination{Target: "1"} },
			want: []FieldError{e("on_full.type", "required")}},
		{name: "destination type unknown", change: func(q *Queue) { q.MaxCallers, q.OnFull = 5, dest("voicemail", "1") },
			want: []FieldError{e("on_full.type", `unknown type "voicemail": want extension, ring_group, ivr, queue, external, announcement, hangup or schedule`)}},
		{name: "destination back", change: func(q *Queue) { q.MaxCallers, q.OnFull = 5, dest(routing.DestBack, "") },
			want: []FieldError{e("on_full.type", "back is only valid as the destination of an IVR choice")}},
		{name: "destination to itself", change: func(q *Queue) { q.MaxWaitSeconds, q.OnMaxWait = 60, dest(routing.DestQueue, "3") },
			want: []FieldError{e("on_max_wait.target", "a queue cannot overflow to itself")}},
		{name: "destination id malformed", change: func(q *Queue) { q.MaxWaitSeconds, q.OnMaxWait = 60, dest(routing.DestIVR, "04") },
			want: []FieldError{e("on_max_wait.target", "must be an id: a positive integer")}},
		{name: "destination extension missing", change: func(q *Queue) { q.LeaveWhenEmpty, q.OnEmpty = true, dest(routing.DestExtension, "") },
			want: []FieldError{e("on_empty.target", "required")}},
		{name: "destination external not a number", change: func(q *Queue) {
			q.LeaveWhenEmpty, q.OnEmpty = true, &routing.Destination{Type: routing.DestExternal, Target: "+4822 100", Present: "anonymous"}
		}, want: []FieldError{e("on_empty.target", "not a number: want 2 to 20 digits with an optional leading +"),
			e("on_empty.present", "must be caller or did")}},
		{name: "destination present on an extension", change: func(q *Queue) {
			q.LeaveWhenEmpty, q.OnEmpty = true, &routing.Destination{Type: routing.DestExtension, Target: "2001", Present: routing.PresentDID}
		}, want: []FieldError{e("on_empty.present", "only for external destinations")}},
		{name: "destination hangup code", change: func(q *Queue) { q.MaxCallers, q.OnFull = 5, dest(routing.DestHangup, "200") },
			want: []FieldError{e("on_full.target", "must be a SIP code 400-699")}},
		{name: "destination then on a hangup, nested", change: func(q *Queue) {
			q.MaxCallers, q.OnFull = 5, &routing.Destination{Type: routing.DestAnnouncement, Target: "12",
				Then: &routing.Destination{Type: routing.DestHangup, Target: "486", Then: dest(routing.DestIVR, "x")}}
		}, want: []FieldError{e("on_full.then.then", "only for announcement destinations")}},
		{name: "destination announcement chain with a bad end", change: func(q *Queue) {
			q.MaxCallers, q.OnFull = 5, &routing.Destination{Type: routing.DestAnnouncement, Target: "12",
				Then: &routing.Destination{Type: routing.DestAnnouncement, Target: "13", Then: dest(routing.DestIVR, "x")}}
		}, want: []FieldError{e("on_full.then.then.target", "must be an id: a positive integer")}},

		{name: "everything at once", change: func(q *Queue) {
			*q = Queue{ID: -1, Members: []Member{{UserID: -7, Penalty: 200}}, RingSeconds: 1}
		}, want: []FieldError{
			e("id", "must not be negative"),
			e("name", "required"),
			e("strategy", "required: "+strategies),
			e("members[0].user_id", "must be a user id: a positive integer"),
			e("members[0].penalty", "must be 0 to 100"),
			e("ring_seconds", "must be 0 (default 20) or 5 to 600"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := baseQueue()
			tc.change(&q)
			err := q.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.want, ve.Errors)
		})
	}
}

func TestQueueValidationErrorText(t *testing.T) {
	q := baseQueue()
	q.Name, q.RingSeconds = "", 1
	require.EqualError(t, q.Validate(),
		"queue: invalid queue: name: required; ring_seconds: must be 0 (default 20) or 5 to 600")
}

func TestQueueDefaults(t *testing.T) {
	q := Queue{ID: 1, Name: "Sales", Strategy: RingAll}
	// The accessors give the defaults before Defaults is called...
	require.Equal(t, 20*time.Second, q.Ring())
	require.Equal(t, 5*time.Second, q.RetryDelay())
	require.Equal(t, 10*time.Second, q.WrapUp(1))
	require.Equal(t, 20*time.Second, q.ServiceLevel())
	require.Equal(t, 3, q.MissedLimit())
	require.Equal(t, "default", q.Music())
	require.Equal(t, 30*time.Second, q.Lease())
	// ... and Defaults writes them down.
	q.Defaults()
	b, err := json.Marshal(q)
	require.NoError(t, err)
	require.JSONEq(t, `{"id": 1, "name": "Sales", "strategy": "ring_all", "members": [],
		"ring_seconds": 20, "retry_delay_seconds": 5, "join_empty": "allow", "wrap_up_seconds": 10,
		"music_on_hold": "default", "service_level_seconds": 20, "not_ready_after_missed": 3}`, string(b))

	// Zeros chosen on purpose stay.
	z := Queue{RetryDelaySeconds: intp(0), WrapUpSeconds: intp(0), NotReadyAfterMissed: intp(0)}
	z.Defaults()
	require.Equal(t, time.Duration(0), z.RetryDelay())
	require.Equal(t, time.Duration(0), z.WrapUp(1))
	require.Equal(t, 0, z.MissedLimit())
}

func TestQueueOverflows(t *testing.T) {
	q := baseQueue()
	require.Empty(t, q.Overflows())
	q.OnMaxWait = &routing.Destination{Type: routing.DestAnnouncement, Target: "12", Then: dest(routing.DestIVR, "4")}
	q.OnEmpty = dest(routing.DestExtension, "2001")
	o := q.Overflows()
	require.Equal(t, []Overflow{{"on_max_wait", *q.OnMaxWait}, {"on_empty", *q.OnEmpty}}, o)
	o[0].Destination.Then.Target = "5"
	require.Equal(t, "4", q.OnMaxWait.Then.Target, "copies")
}
