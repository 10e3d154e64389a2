package queue

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// fuzzBytes reads choices from the fuzzer's bytes; zeros when they run out.
type fuzzBytes []byte

func (b *fuzzBytes) next() int {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return int(c)
}

func (b *fuzzBytes) pick(n int) int { return b.next() % n }

// FuzzAgent applies random events (in any order, with clocks that sometimes step back, as
// two nodes' may) to an agent and checks after each: the agent is valid (one of the six
// states, an offer exactly when offered or on_call, pending only during a call, no negative
// time or counter); the receiver is unchanged; Since never goes back; an offer is only made
// to an agent that was available, not busy and registered (so never to one on a call);
// refusals are ErrBadTransition or a *ValidationError; the JSON form reads back the same.
func FuzzAgent(f *testing.F) {
	f.Add([]byte{0, 0, 7, 1, 1, 8, 0, 9, 5, 10, 3, 11, 0, 12})
	f.Add([]byte{0, 0, 7, 0, 1, 8, 1, 10, 2, 2, 7, 0, 1, 9, 0, 11, 20, 13})
	f.Add([]byte{0, 0, 7, 0, 1, 250, 200, 13, 7, 0, 1, 16, 3, 3, 1, 5})
	f.Add([]byte("the quick brown fox jumps over the lazy agent"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBytes(data)
		a := NewAgent(7)
		now := t0
		calls := []string{"c1", "c2", "c3"}
		reasons := []string{"", "lunch", "break", "nap", ReasonMissedOffers}
		states := []State{LoggedOut, Available, NotReady, OnCall, ""}
		bys := []By{ByAgent, BySupervisor, BySystem}
		for step := 0; len(b) > 0 && step < 200; step++ {
			// The clock: mostly forward, sometimes a little back.
			switch d := b.next(); {
			case d < 200:
				now = now.Add(time.Duration(d) * time.Second / 4)
			default:
				now = now.Add(-time.Duration(d-199) * time.Second / 8)
			}
			before := a.Clone()
			settled := a.Settle(now)
			call := calls[b.pick(len(calls))]
			busy, registered := b.pick(4) == 0, b.pick(5) != 0
			var (
				next Agent
				err  error
				op   string
			)
			switch b.pick(18) {
			case 0:
				op = "login"
				next, err = a.Login(now)
			case 1:
				op = "logout"
				next, err = a.Logout(now)
			case 2:
				op = "pause"
				next, err = a.Pause(now, reasons[b.pick(len(reasons))], cat)
			case 3:
				op = "resume"
				next, err = a.Resume(now)
			case 4:
				op = "force logout"
				next, err = a.ForceLogout(now)
			case 5:
				op = "force not_ready"
				next, err = a.ForceNotReady(now, reasons[b.pick(len(reasons))], cat)
			case 6, 7:
				o := Offer{CallID: call, QueueID: 3, Node: "n", LeaseUntil: now.Add(time.Duration(b.pick(60)) * time.Second)}
				op = "offer"
				next, err = a.Offer(o, now, busy, registered)
				if err == nil && (settled.State != Available || busy || !registered) {
					t.Fatalf("offered while %s (busy %v, registered %v)", settled.State, busy, registered)
				}
				if err == nil && next.Current.CallID != call {
					t.Fatalf("offer of %s became %s", call, next.Current.CallID)
				}
				if settled.Routable(now, busy, registered) != (err == nil) && o.LeaseUntil.After(later(now, settled.Since)) {
					t.Fatalf("Routable %v but Offer: %v", settled.Routable(now, busy, registered), err)
				}
			case 8:
				op = "answered"
				next, err = a.OfferAnswered(call, now)
				if err == nil && next.Answered != a.Answered+1 {
					t.Fatalf("answered count %d -> %d", a.Answered, next.Answered)
				}
			case 9:
				op = "missed"
				next, err = a.OfferMissed(call, now, b.pick(4))
			case 10:
				op = "failed"
				next, err = a.OfferFailed(call, now)
			case 11:
				op = "call ended"
				next, err = a.CallEnded(call, now, time.Duration(b.pick(4))*10*time.Second)
			case 12:
				op = "wrap-up done"
				next, err = a.WrapUpDone(now)
			case 13:
				op = "lease expired"
				next, err = a.LeaseExpired(now)
			case 14:
				op = "renew"
				next, err = a.Renew(call, now.Add(time.Duration(b.pick(60))*time.Second), now)
			case 15:
				op = "idle timeout"
				next, err = a.IdleTimeout(now)
			case 16:
				op = "request"
				next, err = a.Request(now, states[b.pick(len(states))], reasons[b.pick(len(reasons))], bys[b.pick(len(bys))], cat)
			default:
				op, next = "settle", settled
			}
			if !reflect.DeepEqual(before, a) {
				t.Fatalf("%s changed its receiver", op)
			}
			if err != nil {
				if !reflect.DeepEqual(before, next) {
					t.Fatalf("%s refused but returned a changed agent", op)
				}
				var ve *ValidationError
				if !errors.Is(err, ErrBadTransition) && !errors.As(err, &ve) {
					t.Fatalf("%s: unexpected error %v", op, err)
				}
				continue
			}
			if verr := next.Validate(); verr != nil {
				t.Fatalf("%s from %+v: %v", op, a, verr)
			}
			if !next.State.Valid() {
				t.Fatalf("%s: state %q", op, next.State)
			}
			if next.Since.Before(a.Since) {
				t.Fatalf("%s: since went back from %s to %s", op, a.Since, next.Since)
			}
			if next.State == Offered && a.State != Offered && (next.Current == nil || !next.Current.OfferedAt.Equal(next.Since)) {
				t.Fatalf("%s: offered without a fresh offer", op)
			}
			if live := (a.State == OnCall || a.State == Offered) && a.Current.LeaseUntil.After(now); live && op == "offer" {
				t.Fatalf("an agent with a live call got another offer")
			}
			in := next.TimeIn(now.Add(time.Hour))
			for _, s := range States[1:] {
				if next.Times.Of(s) < 0 || in.Of(s) < next.Times.Of(s) {
					t.Fatalf("%s: time in %s: %d, with the current span %d", op, s, next.Times.Of(s), in.Of(s))
				}
			}
			j, jerr := json.Marshal(next)
			if jerr != nil {
				t.Fatal(jerr)
			}
			var back Agent
			if jerr := json.Unmarshal(j, &back); jerr != nil || jsonOf(back) != string(j) {
				t.Fatalf("%s: JSON %s reads back as %+v (%v)", op, j, back, jerr)
			}
			a = next
		}
	})
}

func jsonOf(a Agent) string {
	j, _ := json.Marshal(a)
	return string(j)
}
