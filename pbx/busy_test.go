package pbx_test

import (
	"testing"
	"time"

	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/pbxtest"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/queue/memstore"
)

// TestCallsMakeUsersBusy: both users of an internal call are busy in the queue store while it
// lasts (an agent on a direct call gets no queue offer), and free when it ends.
func TestCallsMakeUsersBusy(t *testing.T) {
	st := memstore.New()
	h := startPBXWith(t, pbx.CallConfig{}, media.Config{}, registrar.Config{}, pbx.WithBusy(st))
	h.user(1, "201", "alice")
	h.user(2, "202", "bob")
	alice := h.phone(t, "alice", pbxtest.PhoneOptions{})
	bob := h.phone(t, "bob", pbxtest.PhoneOptions{})
	busy := func(user int64) bool {
		b, err := st.Busy(t.Context(), user, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	call, err := alice.Call("202")
	if err != nil || call.Status() != 200 {
		t.Fatalf("call: %v %v", call, err)
	}
	if _, err := bob.WaitIncoming(time.Second); err != nil {
		t.Fatal(err)
	}
	if !busy(1) || !busy(2) {
		t.Fatalf("busy during the call: alice %v, bob %v", busy(1), busy(2))
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	h.record(t)
	deadline := time.Now().Add(2 * time.Second)
	for (busy(1) || busy(2)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if busy(1) || busy(2) {
		t.Fatalf("still busy after the call: alice %v, bob %v", busy(1), busy(2))
	}
}
