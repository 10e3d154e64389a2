package event

import (
	"testing"
	"time"
)

func TestBusDeliversAndDropsForSlowSubscriber(t *testing.T) {
	b := NewBus()
	all := b.Subscribe(10, nil)
	defer all.Close()
	regs := b.Subscribe(1, func(e Event) bool { return e.Type == "registration.added" })
	defer regs.Close()

	b.Publish(Event{Type: "registration.added", Data: 1})
	b.Publish(Event{Type: "call.started"})
	b.Publish(Event{Type: "registration.added", Data: 2})

	got := []string{}
	for i := 0; i < 3; i++ {
		select {
		case e := <-all.C:
			if e.Time.IsZero() {
				t.Fatalf("event %d has no time", i)
			}
			got = append(got, e.Type)
		case <-time.After(time.Second):
			t.Fatal("event not delivered")
		}
	}
	if got[0] != "registration.added" || got[1] != "call.started" || got[2] != "registration.added" {
		t.Fatalf("order: %v", got)
	}
	if e := <-regs.C; e.Data != 1 {
		t.Fatalf("filtered subscriber got %v", e.Data)
	}
	if b.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1 (second registration to a full buffer)", b.Dropped())
	}
	regs.Close()
	regs.Close() // idempotent
	if _, ok := <-regs.C; ok {
		t.Fatal("closed subscription still open")
	}
}
