package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/pbxtest"
)

// queueSetup is what provisionQueue made on one node (ids are the same on every node
// provisioned in the same order from an empty database).
type queueSetup struct {
	queueID int64
	agents  []int64  // user ids
	accts   []string // their SIP accounts
}

// provisionQueue makes, through the API: agents users (is_agent) with one SIP account each,
// an ip trunk for 127.0.0.1, a queue with the agents as members (queue fields from q), and
// the number did leading to it.
func provisionQueue(t *testing.T, s *server, did string, agents int, q map[string]any) queueSetup {
	t.Helper()
	var out queueSetup
	for i := range agents {
		ext := fmt.Sprint(7001 + i)
		var u struct{ ID int64 }
		if code := s.api("POST", "/api/v1/users", map[string]any{"login": "agent" + ext, "password": "agent-password-" + ext,
			"role": "agent", "first_name": "Agent", "last_name": ext, "extension": ext, "is_agent": true}, &u); code != 201 {
			t.Fatalf("create user: %d", code)
		}
		acct := "agent-" + ext
		if code := s.api("POST", fmt.Sprintf("/api/v1/users/%d/sip-accounts", u.ID),
			map[string]any{"username": acct, "password": acct + "-secret"}, nil); code != 201 {
			t.Fatalf("create sip account: %d", code)
		}
		out.agents = append(out.agents, u.ID)
		out.accts = append(out.accts, acct)
	}
	tr := s.ipTrunk("127.0.0.1", 5060)
	members := []map[string]any{}
	for _, id := range out.agents {
		members = append(members, map[string]any{"user_id": id})
	}
	body := map[string]any{"name": "support", "members": members}
	for k, v := range q {
		body[k] = v
	}
	var qq struct{ ID int64 }
	if code := s.api("POST", "/api/v1/queues", body, &qq); code != 201 {
		t.Fatalf("create queue: %d", code)
	}
	out.queueID = qq.ID
	if code := s.api("POST", "/api/v1/numbers", map[string]any{"number": did, "trunk_id": tr,
		"destination": map[string]any{"type": "queue", "target": fmt.Sprint(qq.ID)}}, nil); code != 201 {
		t.Fatalf("create number: %d", code)
	}
	return out
}

// login makes an agent available through the API.
func (s *server) login(t *testing.T, userID int64) {
	t.Helper()
	if code := s.api("PUT", fmt.Sprintf("/api/v1/agents/%d/state", userID), map[string]any{"state": "available"}, nil); code != 200 {
		t.Fatalf("log agent %d in: %d", userID, code)
	}
}

// offer is one call an agent's phone received: when the INVITE arrived, from which
// caller, and when the call ended there.
type offer struct {
	agent   int
	caller  string
	arrived time.Time
	ended   time.Time
}

// TestQueueTwoNodesSharedRedis: two Centrala processes share one Redis (each with its own
// SQLite, provisioned alike). Six agents register, alternately through either node; 24
// callers call the queue's number, alternately on either node, within about a second; each
// agent answers after 150 ms and hangs up 700 ms later. What the agents' phones saw proves
// the claims: no agent ever had a second INVITE before its call ended, every caller was
// answered by an agent, and no caller waited while an agent was free for longer than one
// dispatch cycle (200 ms here) plus a processing allowance. Both nodes dispatched.
func TestQueueTwoNodesSharedRedis(t *testing.T) {
	const (
		did      = "+48221234567"
		agents   = 6
		callers  = 24
		cycle    = 200 * time.Millisecond
		allow    = 400 * time.Millisecond // a caller's join and an agent's end reaching the other node, under -race
		answerIn = 150 * time.Millisecond
		talk     = 700 * time.Millisecond
	)
	redis := pbxtest.StartRedis(t)
	cfg := writeConfig(t, fmt.Sprintf("queues:\n  dispatch_interval: %s\n", cycle))
	// One short track of music: decoding the Debian tracks (17 MB) in two race-enabled
	// processes on a small machine would take the CPU this test measures dispatch with.
	music := t.TempDir()
	writeToneWAV(t, filepath.Join(music, "tone.wav"), 440, time.Second)
	env := map[string]string{"CENTRALA_REDIS_URL": redis.URL, "CENTRALA_CONFIG": cfg, "CENTRALA_MUSIC_DIR": music}
	nodes := []*server{start(t, maps.Clone(env)), start(t, maps.Clone(env))}
	var setup queueSetup
	for i, s := range nodes {
		got := provisionQueue(t, s, did, agents, map[string]any{"strategy": "longest_idle", "ring_seconds": 10,
			"wrap_up_seconds": 0, "retry_delay_seconds": 0})
		if i > 0 && (got.queueID != setup.queueID || !slices.Equal(got.agents, setup.agents)) {
			t.Fatalf("the nodes were provisioned differently: %+v and %+v", setup, got)
		}
		setup = got
	}

	var mu sync.Mutex
	var offers []*offer
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, acct := range setup.accts {
		ph := pbxtest.NewPhone(t, pbxtest.PhoneOptions{Server: nodes[i%2].SIP, Username: acct, Password: acct + "-secret",
			Silent: true, Answer: pbxtest.Answer{Mode: pbxtest.NeverAnswer}})
		if res, err := ph.Register(300); err != nil || res.StatusCode != 200 {
			t.Fatalf("register %s: %v %v", acct, res, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case call := <-ph.Incoming():
					o := &offer{agent: i, caller: call.Invite().From().Address.User, arrived: time.Now()}
					mu.Lock()
					offers = append(offers, o)
					mu.Unlock()
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(answerIn)
						if err := call.Answer(); err == nil && call.WaitEstablished(3*time.Second) == nil {
							time.Sleep(talk)
							_ = call.Hangup()
						}
						select {
						case <-call.Ended():
						case <-time.After(10 * time.Second):
						}
						mu.Lock()
						o.ended = time.Now()
						mu.Unlock()
					}()
				}
			}
		}()
	}
	answers := nodes[0].stream(t, "queue.answered") // every node's answers, on one node's stream
	loggedIn := time.Now()
	for _, id := range setup.agents {
		nodes[0].login(t, id)
	}

	type waited struct {
		number string
		joined time.Time // our 200 arrived: the queue answered and the caller joins
		err    error
	}
	results := make([]waited, callers)
	var cwg sync.WaitGroup
	for i := range callers {
		number := fmt.Sprintf("+486010000%02d", i)
		ph := pbxtest.NewPhone(t, pbxtest.PhoneOptions{Server: nodes[i%2].SIP, Username: number, Silent: true})
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			results[i].number = number
			call, err := ph.Dial(did)
			if err == nil {
				var code int
				if code, err = call.WaitFinal(5 * time.Second); err == nil && code != 200 {
					err = fmt.Errorf("caller got %d", code)
				}
			}
			if err != nil {
				results[i].err = err
				return
			}
			results[i].joined = time.Now()
			if _, err := call.WaitEnded(60 * time.Second); err != nil {
				results[i].err = fmt.Errorf("never put through and hung up: %w", err)
			}
		}()
		time.Sleep(40 * time.Millisecond)
	}
	cwg.Wait()
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	offered := map[string]time.Time{} // caller -> first INVITE to an agent
	byAgent := map[int][]*offer{}
	for _, o := range offers {
		if t0, ok := offered[o.caller]; !ok || o.arrived.Before(t0) {
			offered[o.caller] = o.arrived
		}
		byAgent[o.agent] = append(byAgent[o.agent], o)
	}
	for _, r := range results {
		if r.err != nil {
			t.Errorf("caller %s: %v", r.number, r.err)
		}
		if _, ok := offered[r.number]; !ok {
			t.Errorf("caller %s was never offered to an agent", r.number)
		}
	}
	if len(offers) != callers {
		t.Errorf("%d offers for %d callers (every agent answers: one each)", len(offers), callers)
	}
	// No agent had two offers at once: each INVITE came after the agent's previous call ended.
	var worst time.Duration
	var worstAt string
	for a := range agents {
		os := byAgent[a]
		slices.SortFunc(os, func(x, y *offer) int { return x.arrived.Compare(y.arrived) })
		if len(os) == 0 {
			t.Errorf("agent %d got no call", a)
			continue
		}
		free := loggedIn
		for k, o := range os {
			if k > 0 && o.arrived.Before(os[k-1].ended) {
				t.Errorf("agent %d: INVITE from %s at %s while on the call from %s (ended %s)", a, o.caller,
					o.arrived.Format("15:04:05.000"), os[k-1].caller, os[k-1].ended.Format("15:04:05.000"))
			}
			// The agent was free from `free` to o.arrived: a caller waiting (joined, not yet
			// offered) during that time waited while an agent was free.
			for _, r := range results {
				from, to := later(free, r.joined), earlier(o.arrived, offered[r.number])
				if to.Sub(from) > worst {
					worst = to.Sub(from)
					worstAt = fmt.Sprintf("agent %d free %s-%s, caller %s joined %s, offered %s", a, free.Format("15:04:05.000"),
						o.arrived.Format("15:04:05.000"), r.number, r.joined.Format("15:04:05.000"), offered[r.number].Format("15:04:05.000"))
				}
			}
			free = o.ended
		}
	}
	t.Logf("longest a caller waited while an agent was free: %v (cycle %v): %s", worst, cycle, worstAt)
	if worst > cycle+allow {
		t.Errorf("a caller waited %v while an agent was free, more than one dispatch cycle (%v) + %v", worst, cycle, allow)
	}
	for i, s := range nodes {
		if won := s.metric(`centrala_queue_claims_total{result="won"}`); won == 0 {
			t.Errorf("node %d claimed no agent", i)
		}
	}
	// Every caller's record (on the node it called) holds its answered stay.
	answered := 0
	for _, s := range nodes {
		var recs []struct {
			Caller string `json:"caller"`
			Queues []struct {
				Exit       string `json:"exit"`
				AnsweredBy *int64 `json:"answered_by"`
				Offers     []struct {
					Outcome string `json:"outcome"`
				} `json:"offers"`
			} `json:"queues"`
		}
		if code := s.api("GET", "/api/v1/cdrs?limit=100", nil, &recs); code != 200 {
			t.Fatalf("cdrs: %d", code)
		}
		for _, r := range recs {
			if len(r.Queues) == 1 && r.Queues[0].Exit == "answered" && r.Queues[0].AnsweredBy != nil &&
				len(r.Queues[0].Offers) == 1 && r.Queues[0].Offers[0].Outcome == "answered" {
				answered++
			} else {
				t.Errorf("record of %s: %+v", r.Caller, r.Queues)
			}
		}
	}
	if answered != callers {
		t.Errorf("%d answered queue records, want %d", answered, callers)
	}
	// Node 0's event stream carried every queue.answered, half of them from node 1.
	evs := answers.wait(callers, 5*time.Second)
	remote := 0
	for _, e := range evs {
		if e.Node != "" {
			remote++
		}
	}
	if len(evs) != callers || remote != callers/2 {
		t.Errorf("node 0's stream: %d queue.answered events, %d from the other node; want %d and %d", len(evs), remote, callers, callers/2)
	}
}

// streamEvent is an event of GET /api/v1/events.
type streamEvent struct {
	Type string `json:"type"`
	Node string `json:"node"`
}

// eventStream collects the events of a server's stream.
type eventStream struct {
	mu  sync.Mutex
	evs []streamEvent
}

// stream reads the server's event stream of the types starting with prefix until the test
// ends.
func (s *server) stream(t *testing.T, prefix string) *eventStream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", s.HTTP+"/api/v1/events?type="+prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("event stream: %v %v", res, err)
	}
	es := &eventStream{}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e streamEvent
			if json.Unmarshal([]byte(data), &e) == nil {
				es.mu.Lock()
				es.evs = append(es.evs, e)
				es.mu.Unlock()
			}
		}
	}()
	return es
}

// wait returns the events once there are n, or what came within d.
func (es *eventStream) wait(n int, d time.Duration) []streamEvent {
	deadline := time.Now().Add(d)
	for {
		es.mu.Lock()
		evs := slices.Clone(es.evs)
		es.mu.Unlock()
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// writeToneWAV writes an 8 kHz 16-bit mono WAV of a tone.
func writeToneWAV(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	a := &media.Audio{Samples: make([]int16, int(d.Seconds()*8000))}
	for i := range a.Samples {
		a.Samples[i] = int16(6000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := media.EncodeWAV(f, a); err != nil {
		t.Fatal(err)
	}
}

// queueRecord is a call record's queue stays as the API answers them.
type queueRecord struct {
	Caller string `json:"caller"`
	Queues []struct {
		QueueID    int64  `json:"queue_id"`
		Exit       string `json:"exit"`
		WaitMS     int64  `json:"wait_ms"`
		AnsweredBy *int64 `json:"answered_by"`
		WrapUpMS   int64  `json:"wrap_up_ms"`
		Offers     []struct {
			UserID  int64  `json:"user_id"`
			RingMS  int64  `json:"ring_ms"`
			Outcome string `json:"outcome"`
		} `json:"offers"`
	} `json:"queues"`
}

// TestSIPpQueueE2E: a provider's caller (SIPp) reaches a linear queue of two agents whose
// phones are SIPp UASes registered to their accounts. The first agent's phone rings for the
// queue's 5 s and is not answered: that agent is made not_ready (missed_offers, after one
// miss here) and the caller, who hears music on hold throughout, goes to the second agent,
// who answers and is in after_call_work once the caller hangs up. The record, the
// statistics and the metrics say the same.
func TestSIPpQueueE2E(t *testing.T) {
	pbxtest.Need(t, "sipp", "sip-tester")
	pbxtest.NeedFile(t, "/usr/share/asterisk/moh/macroform-cold_day.wav", "asterisk-moh-opsound-wav")
	s := start(t, nil)
	setup := provisionQueue(t, s, "+48221234567", 2, map[string]any{"strategy": "linear", "ring_seconds": 5,
		"retry_delay_seconds": 0, "not_ready_after_missed": 1, "wrap_up_seconds": 30})
	first, second := setup.agents[0], setup.agents[1]
	missing := s.callee(setup.accts[0], setup.accts[0]+"-secret", "deploy/sipp/call_uas_noanswer.xml", 1, nil)
	taking := s.callee(setup.accts[1], setup.accts[1]+"-secret", "deploy/sipp/call_uas.xml", 1, nil)
	s.login(t, first)
	s.login(t, second)

	res := pbxtest.RunSIPp(t, pbxtest.SIPpOptions{Scenario: "deploy/sipp/call_uac.xml", Target: s.SIP, Calls: 1,
		Rows: [][]string{{"+48601234567", "unused", "+48221234567"}}, RecvTimeout: 20 * time.Second,
		Vars: map[string]string{"hold_ms": "8000", "audio": "none", "offer": "0"}})
	if res.Successful != 1 {
		t.Fatalf("caller: %s", res)
	}
	if r := missing.Wait(); r.Successful != 1 {
		t.Fatalf("first agent's phone (rang, cancelled): %s", r)
	}
	if r := taking.Wait(); r.Successful != 1 {
		t.Fatalf("second agent's phone (answered): %s", r)
	}
	state := func(uid int64) (string, string) {
		var st struct{ State, Reason string }
		if code := s.api("GET", fmt.Sprintf("/api/v1/agents/%d/state", uid), nil, &st); code != 200 {
			t.Fatalf("agent state: %d", code)
		}
		return st.State, st.Reason
	}
	if st, reason := state(first); st != "not_ready" || reason != "missed_offers" {
		t.Errorf("first agent: %s %q, want not_ready missed_offers", st, reason)
	}
	if st, _ := state(second); st != "after_call_work" {
		t.Errorf("second agent: %s, want after_call_work", st)
	}
	s.lastCDR()
	var recs []queueRecord
	if code := s.api("GET", "/api/v1/cdrs?limit=1", nil, &recs); code != 200 || len(recs) != 1 || len(recs[0].Queues) != 1 {
		t.Fatalf("cdrs: %d %+v", code, recs)
	}
	stay := recs[0].Queues[0]
	if stay.QueueID != setup.queueID || stay.Exit != "answered" || stay.AnsweredBy == nil || *stay.AnsweredBy != second ||
		stay.WrapUpMS != 30000 || len(stay.Offers) != 2 || stay.Offers[0].UserID != first || stay.Offers[0].Outcome != "no_answer" ||
		stay.Offers[0].RingMS < 5000 || stay.Offers[1].UserID != second || stay.Offers[1].Outcome != "answered" || stay.WaitMS < 5000 {
		t.Fatalf("queue stay %+v", stay)
	}
	var stats struct {
		Offered, Answered, Abandoned int
		AvgWait                      int64 `json:"avg_wait_ms"`
	}
	if code := s.api("GET", fmt.Sprintf("/api/v1/queues/%d/stats", setup.queueID), nil, &stats); code != 200 ||
		stats.Offered != 1 || stats.Answered != 1 || stats.AvgWait < stay.WaitMS-2 || stats.AvgWait > stay.WaitMS+2 {
		t.Errorf("queue stats: %d %+v (the stay waited %d ms)", code, stats, stay.WaitMS)
	}
	q := fmt.Sprint(setup.queueID)
	s.wantMetrics(map[string]float64{
		`centrala_queue_offers_total{outcome="no_answer",queue_id="` + q + `"}`: 1,
		`centrala_queue_offers_total{outcome="answered",queue_id="` + q + `"}`:  1,
		`centrala_queue_calls_total{exit="answered",queue_id="` + q + `"}`:      1,
		`centrala_agents{state="not_ready"}`:                                    1,
	})
	// Music on hold toward the caller while it waited and the first phone rang: 5 s at least.
	if n := s.metric(`centrala_rtp_packets_played_total{leg="a"}`); n < 250 {
		t.Errorf("music packets sent to the caller: %v", n)
	}
}

// TestQueueMusicOnHoldE2E: a caller waiting in a queue with nobody logged in hears the
// default class's first track (asterisk-moh-opsound-wav's macroform-cold_day.wav, the first
// by name) from its start, sample for sample through G.711; hanging up, its stay is
// abandoned.
func TestQueueMusicOnHoldE2E(t *testing.T) {
	file := pbxtest.NeedFile(t, "/usr/share/asterisk/moh/macroform-cold_day.wav", "asterisk-moh-opsound-wav")
	s := start(t, nil)
	setup := provisionQueue(t, s, "+48221234567", 1, map[string]any{"strategy": "ring_all"})
	call := s.answeredCaller(t, "+48601234567", "+48221234567")
	time.Sleep(2 * time.Second)
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	want := pcmuSamples(t, file, 8000) // its first second
	if heard := call.Heard(); indexSamples(heard, want) < 0 {
		t.Fatalf("the first second of the track is not in the %d samples heard", len(heard))
	}
	s.lastCDR()
	var recs []queueRecord
	if code := s.api("GET", "/api/v1/cdrs?limit=1", nil, &recs); code != 200 || len(recs) != 1 || len(recs[0].Queues) != 1 ||
		recs[0].Queues[0].Exit != "abandoned" || recs[0].Queues[0].QueueID != setup.queueID || len(recs[0].Queues[0].Offers) != 0 {
		t.Fatalf("record: %d %+v", code, recs)
	}
	q := fmt.Sprint(setup.queueID)
	if got := s.waitMetric(`centrala_queue_calls_total{exit="abandoned",queue_id="`+q+`"}`, 1); got != 1 {
		t.Errorf("abandoned calls counted: %v", got)
	}
}
