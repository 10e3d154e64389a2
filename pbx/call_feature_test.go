package pbx_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/routing"
)

// agentsLog records the feature code changes; the second login is refused.
type agentsLog struct {
	mu  sync.Mutex
	got []string
}

func (a *agentsLog) Feature(_ context.Context, userID int64, action string, reason int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	entry := action
	if reason != 0 {
		entry += ":" + string(rune('0'+reason))
	}
	if slices.Contains(a.got, entry) && action == pbx.FeatureLogin {
		return errors.New("already logged in")
	}
	a.got = append(a.got, entry)
	return nil
}

// TestFeatureCodes: an agent dials *45, *471, *48 and *46 from a phone: each call is
// answered, the state change is made, a confirmation plays and the PBX hangs up; a refused
// change plays the error tone. Other numbers are not feature codes.
func TestFeatureCodes(t *testing.T) {
	agents := &agentsLog{}
	prompts := tonePrompts{"system:agent-loginok": 500, "system:agent-loggedoff": 600, "system:beep": 900, "system:beeperr": 1300}
	var holder routing.GraphHolder
	h := startPBXWith(t, pbx.CallConfig{}, media.Config{}, registrar.Config{},
		pbx.WithInbound(&holder, prompts), pbx.WithAgents(agents, pbx.FeatureCodes{}))
	h.user(1, "201", "agent")
	ph := h.phone(t, "agent", pbxtest.PhoneOptions{Silent: true})
	for _, tc := range []struct {
		dial string
		tone float64
	}{{"*45", 500}, {"*471", 900}, {"*48", 900}, {"*45", 1300}, {"*46", 600}} {
		call, err := ph.Dial(tc.dial)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := call.WaitFinal(3 * time.Second); err != nil || code != 200 {
			t.Fatalf("%s: %d %v", tc.dial, code, err)
		}
		if r, err := call.WaitEnded(5 * time.Second); err != nil || r != pbxtest.EndRemoteHangup {
			t.Fatalf("%s: ended %v %v, want the PBX's BYE", tc.dial, r, err)
		}
		if got := pbxtest.ToneSequence(call.Heard(), prompts.freqs()); !slices.Equal(got, []float64{tc.tone}) {
			t.Fatalf("%s: heard %v, want %v", tc.dial, got, tc.tone)
		}
		if rec := h.record(t); rec.Callee != tc.dial || rec.Disposition != cdr.Answered {
			t.Fatalf("%s: record %+v", tc.dial, rec)
		}
	}
	agents.mu.Lock()
	defer agents.mu.Unlock()
	if want := []string{"login", "pause:1", "resume", "logout"}; !slices.Equal(agents.got, want) {
		t.Fatalf("changes %v, want %v", agents.got, want)
	}
}
