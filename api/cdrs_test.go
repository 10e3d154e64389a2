package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
)

var cdrT0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func ptrTo[T any](v T) *T { return &v }

// cdrCalls records calls the way the call engine does: through a cdr.Recorder on the env's
// store, bus and registry. It returns the record ids by name.
func (e *env) cdrCalls() map[string]int64 {
	e.t.Helper()
	rec, err := cdr.NewRecorder(e.db, e.bus, e.registry)
	require.NoError(e.t, err)
	ctx := e.t.Context()
	at := func(min int) time.Time { return cdrT0.Add(time.Duration(min) * time.Minute) }
	ids := map[string]int64{}
	call := func(name string, s cdr.Start, legs []cdr.Leg, answer *time.Time, end *cdr.End) {
		id, err := rec.Start(ctx, s)
		require.NoError(e.t, err)
		for _, l := range legs {
			_, err := rec.Leg(ctx, id, l)
			require.NoError(e.t, err)
		}
		if answer != nil {
			require.NoError(e.t, rec.Answer(ctx, id, *answer))
		}
		if end != nil {
			require.NoError(e.t, rec.End(ctx, id, *end))
		}
		ids[name] = id
	}
	call("internal", cdr.Start{At: at(0), CallID: "int-1", Direction: cdr.Internal, Caller: "201", Callee: "202", CLIP: ptrTo("201"), UserID: ptrTo(int64(11))},
		[]cdr.Leg{{Kind: cdr.LegCaller, Peer: "anna-desk", UserID: ptrTo(int64(11)), CallID: "int-1", StartedAt: at(0)},
			{Kind: cdr.LegCallee, Peer: "bob-desk", UserID: ptrTo(int64(12)), CallID: "int-1b", StartedAt: at(0)}},
		ptrTo(at(0).Add(5*time.Second)), &cdr.End{At: at(2), Disposition: cdr.Answered, SIPCode: 200, SIPReason: "OK", HangupBy: cdr.ByCaller})
	call("inbound busy", cdr.Start{At: at(10), CallID: "in-1", Direction: cdr.Inbound, Caller: "+48600100200", Callee: "202", DID: "+48225550100", CLIP: ptrTo("+48600100200"), TrunkID: ptrTo(int64(1)), UserID: ptrTo(int64(12))},
		nil, nil, &cdr.End{At: at(10).Add(2 * time.Second), Disposition: cdr.Busy, SIPCode: 486, SIPReason: "Busy Here", HangupBy: cdr.ByCallee})
	call("outbound withheld", cdr.Start{At: at(20), CallID: "out-1", Direction: cdr.Outbound, Caller: "201", Callee: "+48600100200", TrunkID: ptrTo(int64(1)), UserID: ptrTo(int64(11))},
		nil, nil, &cdr.End{At: at(20).Add(30 * time.Second), Disposition: cdr.NoAnswer, SIPCode: 480, SIPReason: "Temporarily Unavailable", HangupBy: cdr.BySystem})
	call("inbound live", cdr.Start{At: at(30), CallID: "in-2", Direction: cdr.Inbound, Caller: "+48700800900", Callee: "203", DID: "+48225550101", CLIP: ptrTo("+48700800900"), TrunkID: ptrTo(int64(1)), UserID: ptrTo(int64(13))},
		nil, nil, nil)
	return ids
}

func (e *env) listCDRs(query string) []cdr.Record {
	e.t.Helper()
	res := e.do("GET", "/api/v1/cdrs"+query, testAdminToken, nil)
	require.Equal(e.t, http.StatusOK, res.status, "body: %s", res.body)
	var recs []cdr.Record
	res.decode(e.t, &recs)
	return recs
}

func TestListCDRs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.Equal(t, "[]\n", string(e.do("GET", "/api/v1/cdrs", testAdminToken, nil).body), "none yet: an empty array")
	ids := e.cdrCalls()

	recs := e.listCDRs("")
	require.Len(t, recs, 4)
	stored, err := e.db.ListCDRs(t.Context(), store.CDRFilter{})
	require.NoError(t, err)
	for i := range stored {
		stored[i].Node = ""
	}
	require.Equal(t, stored, recs, "the records as stored, newest first")

	// The contract's fields, with nulls where the call has not got that far.
	res := e.do("GET", "/api/v1/cdrs", testAdminToken, nil)
	var raw []map[string]any
	res.decode(t, &raw)
	for _, k := range []string{"id", "started_at", "answered_at", "ended_at", "duration_s", "billsec_s", "direction",
		"caller", "callee", "did", "clip", "trunk_id", "user_id", "disposition", "sip_code", "sip_reason", "hangup_by"} {
		for _, r := range raw {
			require.Contains(t, r, k)
		}
	}
	live := raw[0]
	require.EqualValues(t, ids["inbound live"], live["id"])
	require.Nil(t, live["ended_at"])
	require.Nil(t, live["disposition"])
	require.Nil(t, live["hangup_by"])
	withheld := raw[1]
	require.Nil(t, withheld["clip"])
	require.Equal(t, "no_answer", withheld["disposition"])
	internal := raw[3]
	require.Equal(t, "answered", internal["disposition"])
	require.EqualValues(t, 120, internal["duration_s"])
	require.EqualValues(t, 115, internal["billsec_s"])
	require.Len(t, internal["legs"], 2)

	names := func(recs []cdr.Record) []string {
		byID := map[int64]string{}
		for n, id := range ids {
			byID[id] = n
		}
		out := []string{}
		for _, r := range recs {
			out = append(out, byID[r.ID])
		}
		return out
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "?" + v.Encode()
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"from", q("from", "2025-03-10T09:20:00Z"), []string{"inbound live", "outbound withheld"}},
		{"to, exclusive", q("to", "2025-03-10T09:20:00Z"), []string{"inbound busy", "internal"}},
		{"range with offsets", q("from", "2025-03-10T10:05:00+01:00", "to", "2025-03-10T09:25:00Z"), []string{"outbound withheld", "inbound busy"}},
		{"user of the record", q("user_id", "11"), []string{"outbound withheld", "internal"}},
		{"user of a leg", q("user_id", "12"), []string{"inbound busy", "internal"}},
		{"number", q("number", "+48600100200"), []string{"outbound withheld", "inbound busy"}},
		{"number as did", q("number", "+48225550101"), []string{"inbound live"}},
		{"extension", q("number", "203"), []string{"inbound live"}},
		{"direction", q("direction", "inbound"), []string{"inbound live", "inbound busy"}},
		{"disposition", q("disposition", "busy"), []string{"inbound busy"}},
		{"no match", q("disposition", "rejected"), []string{}},
		{"combined", q("direction", "inbound", "user_id", "12", "from", "2025-03-10T09:05:00Z"), []string{"inbound busy"}},
		{"limit", q("limit", "2"), []string{"inbound live", "outbound withheld"}},
		{"limit and offset", q("limit", "2", "offset", "2"), []string{"inbound busy", "internal"}},
		{"offset past the end", q("offset", "10"), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, names(e.listCDRs(tc.query)))
		})
	}
}

func TestGetCDR(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.cdrCalls()
	res := e.do("GET", fmt.Sprintf("/api/v1/cdrs/%d", ids["internal"]), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var got cdr.Record
	res.decode(t, &got)
	want, err := e.db.GetCDR(t.Context(), ids["internal"])
	require.NoError(t, err)
	want.Node = ""
	require.Equal(t, want, got)
	require.Len(t, got.Legs, 2)
	require.Equal(t, "bob-desk", got.Legs[1].Peer)

	res = e.do("GET", "/api/v1/cdrs/999", testAdminToken, nil)
	require.Equal(t, http.StatusNotFound, res.status)
	res.problem(t)
	res = e.do("GET", "/api/v1/cdrs/abc", testAdminToken, nil, specInvalid)
	require.Equal(t, http.StatusNotFound, res.status)
	res.problem(t)
}

func TestExportCDRs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.cdrCalls()
	res := e.do("GET", "/api/v1/cdrs.csv", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	require.Equal(t, "text/csv; charset=utf-8", res.header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="cdrs.csv"`, res.header.Get("Content-Disposition"))
	var want bytes.Buffer
	require.NoError(t, cdr.WriteCSV(&want, e.listCDRs("")))
	require.Equal(t, want.String(), string(res.body), "the listing as CSV")

	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 5)
	require.Equal(t, cdr.CSVHeader, rows[0])
	require.Equal(t, fmt.Sprint(ids["inbound live"]), rows[1][0])

	// The same filters, limit and offset as the listing.
	for _, query := range []string{"?direction=inbound", "?user_id=12&from=2025-03-10T09:05:00Z", "?limit=1&offset=2", "?disposition=cancelled"} {
		res := e.do("GET", "/api/v1/cdrs.csv"+query, testAdminToken, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		want.Reset()
		require.NoError(t, cdr.WriteCSV(&want, e.listCDRs(query)))
		require.Equal(t, want.String(), string(res.body), query)
	}

	res = e.do("GET", "/api/v1/cdrs.csv?direction=sideways", testAdminToken, nil, specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, []string{"direction"}, fieldsOf(res.problem(t)))
}

// Without limit the export holds every matching record, read a page at a time.
func TestExportCDRsPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 2*store.MaxCDRLimit + 17
	// Bulk rows straight into the table: the per-call path is tested elsewhere.
	_, err := e.db.SQL().ExecContext(t.Context(), `INSERT INTO cdrs (direction, call_id, started_at,
		ended_at, duration_s, disposition, hangup_by)
		WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
		SELECT 'outbound', 'bulk-' || i, ? + (i / 3) * 1000, ? + (i / 3) * 1000 + 5000, 5, 'answered', 'caller' FROM seq`,
		n, cdrT0.UnixMilli(), cdrT0.UnixMilli())
	require.NoError(t, err)
	res := e.do("GET", "/api/v1/cdrs.csv", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, n+1)
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		require.False(t, seen[r[0]], "row %s twice", r[0])
		seen[r[0]] = true
	}
	// Newest first across page boundaries (three calls share each start: id breaks ties).
	var prev cdr.Record
	for i, r := range rows[1:] {
		var id int64
		fmt.Sscan(r[0], &id)
		at, err := time.Parse(time.RFC3339, r[1])
		require.NoError(t, err)
		if i > 0 {
			require.True(t, at.Before(prev.StartedAt) || at.Equal(prev.StartedAt) && id < prev.ID, "row %d out of order", i)
		}
		prev = cdr.Record{ID: id, StartedAt: at}
	}

	res = e.do("GET", "/api/v1/cdrs.csv?from=2025-03-10T09:00:10Z&to=2025-03-10T09:00:20Z", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, 1+30, bytes.Count(res.body, []byte("\r\n")), "ten seconds of three calls each, and the header")
}

func TestCDRBadParams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("1", 65)
	for _, tc := range []struct {
		name, query string
		mode        specMode
		fields      []string
	}{
		{"from not a time", "?from=yesterday", specInvalid, []string{"from"}},
		{"to without zone", "?to=2025-03-10T09:00:00", specInvalid, []string{"to"}},
		{"to not after from", "?from=2025-03-10T09:00:00Z&to=2025-03-10T09:00:00Z", specUnchecked, []string{"to"}},
		{"user_id zero", "?user_id=0", specInvalid, []string{"user_id"}},
		{"user_id not a number", "?user_id=anna", specInvalid, []string{"user_id"}},
		{"number too long", "?number=" + long, specInvalid, []string{"number"}},
		{"unknown direction", "?direction=sideways", specInvalid, []string{"direction"}},
		{"unknown disposition", "?disposition=maybe", specInvalid, []string{"disposition"}},
		{"limit zero", "?limit=0", specInvalid, []string{"limit"}},
		{"limit too large", "?limit=1001", specInvalid, []string{"limit"}},
		{"negative offset", "?offset=-1", specInvalid, []string{"offset"}},
		{"every bad one at once", "?from=x&user_id=-3&direction=up&limit=abc", specInvalid, []string{"from", "user_id", "direction", "limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/cdrs", "/api/v1/cdrs.csv"} {
				res := e.do("GET", path+tc.query, testAdminToken, nil, tc.mode)
				require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
				require.Equal(t, tc.fields, fieldsOf(res.problem(t)))
			}
		})
	}
}

func TestCDRRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.cdrCalls()
	_, agentTok := e.userWithToken("agent1", "201", store.RoleAgent)
	_, supTok := e.userWithToken("sup", "203", store.RoleSupervisor)
	_, adminTok := e.userWithToken("boss", "204", store.RoleAdmin)
	for _, path := range []string{"/api/v1/cdrs", "/api/v1/cdrs.csv", fmt.Sprintf("/api/v1/cdrs/%d", ids["internal"])} {
		for tok, want := range map[string]int{agentTok: 403, supTok: 200, adminTok: 200, testAdminToken: 200} {
			res := e.do("GET", path, tok, nil)
			require.Equal(t, want, res.status, "%s: %s", path, res.body)
			if want == 403 {
				res.problem(t)
			}
		}
		res := e.do("GET", path, "", nil, specInvalid)
		require.Equal(t, http.StatusUnauthorized, res.status)
	}
}

// The call engine's Recorder and the API share the registry: /metrics shows the calls.
func TestCDRMetricsServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cdrCalls()
	res := e.do("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	text := string(res.body)
	require.Contains(t, text, "centrala_calls_active 1\n")
	require.Contains(t, text, `centrala_calls_total{direction="internal",disposition="answered"} 1`)
	require.Contains(t, text, `centrala_calls_total{direction="inbound",disposition="busy"} 1`)
	require.Contains(t, text, `centrala_calls_total{direction="outbound",disposition="no_answer"} 1`)
	require.Contains(t, text, `centrala_calls_total{direction="outbound",disposition="failed"} 0`)
}

// fakeCDRs stands in for a CDR store that fails.
type fakeCDRs struct {
	ListFunc func(ctx context.Context, f store.CDRFilter) ([]cdr.Record, error)
}

func (f fakeCDRs) ListCDRs(ctx context.Context, filter store.CDRFilter) ([]cdr.Record, error) {
	return f.ListFunc(ctx, filter)
}

func (f fakeCDRs) GetCDR(context.Context, int64) (cdr.Record, error) {
	return cdr.Record{}, store.ErrNotFound
}

func TestCDRStoreFailures(t *testing.T) {
	t.Parallel()
	failing := fakeCDRs{ListFunc: func(context.Context, store.CDRFilter) ([]cdr.Record, error) {
		return nil, errors.New("disk on fire")
	}}
	e := newEnv(t, withOption(WithCDRs(failing)))
	for _, path := range []string{"/api/v1/cdrs", "/api/v1/cdrs.csv"} {
		res := e.do("GET", path, testAdminToken, nil)
		require.Equal(t, http.StatusInternalServerError, res.status)
		require.NotContains(t, string(res.body), "disk on fire")
		res.problem(t)
	}
	res := e.do("GET", "/api/v1/cdrs/1", testAdminToken, nil)
	require.Equal(t, http.StatusNotFound, res.status)

	// A failure after the first page aborts the download instead of ending it cleanly.
	page := make([]cdr.Record, store.MaxCDRLimit)
	for i := range page {
		page[i] = cdr.Record{ID: int64(len(page) - i), StartedAt: cdrT0, Direction: cdr.Outbound, Legs: []cdr.Leg{}}
	}
	midway := fakeCDRs{ListFunc: func(_ context.Context, f store.CDRFilter) ([]cdr.Record, error) {
		if f.After == nil {
			return page, nil
		}
		return nil, errors.New("disk on fire")
	}}
	e = newEnv(t, withOption(WithCDRs(midway)))
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/api/v1/cdrs.csv", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req) // not the validating client: the body fails
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = bytes.NewBuffer(nil).ReadFrom(resp.Body)
	require.Error(t, err, "the client must see the export fail")

	_, err = New(Config{AdminToken: testAdminToken}, e.db, e.reg, e.bus, WithCDRs(nil))
	require.Error(t, err)
}

// The events the Recorder publishes reach the API's live stream.
func TestCDREventsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.bus.Subscribe(16, nil)
	defer sub.Close()
	e.cdrCalls()
	var types []string
	for len(sub.C) > 0 {
		ev := <-sub.C
		types = append(types, ev.Type)
		raw, err := json.Marshal(ev)
		require.NoError(t, err)
		var back struct {
			CallID string     `json:"call_id"`
			Data   cdr.Record `json:"data"`
		}
		require.NoError(t, json.Unmarshal(raw, &back))
		require.Equal(t, back.CallID, back.Data.CallID)
	}
	require.Equal(t, []string{"call.started", "call.answered", "call.ended", "call.started", "call.ended",
		"call.started", "call.ended", "call.started"}, types)
}
