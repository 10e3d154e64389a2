package media

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPollerWorkers: relays are spread over one worker per processor, and a worker stops
// (its goroutine returns) with its last relay.
func TestPollerWorkers(t *testing.T) {
	m := newTestManager(t, testConfig())
	running := func() (workers []*pollWorker) {
		m.poll.mu.Lock()
		defer m.poll.mu.Unlock()
		for _, w := range m.poll.workers {
			if w != nil {
				workers = append(workers, w)
			}
		}
		return workers
	}
	const n = 6
	var relays []*Relay
	for range n {
		relays = append(relays, newTestRelay(t, m))
	}
	workers := running()
	require.Len(t, workers, min(n, runtime.GOMAXPROCS(0)))
	for _, w := range workers {
		w.mu.Lock()
		require.Equal(t, 2*w.count, len(w.legs), "both legs of each relay on the same worker")
		w.mu.Unlock()
	}
	for _, r := range relays {
		require.NoError(t, r.Close())
	}
	require.Empty(t, running())
	for _, w := range workers {
		select {
		case <-w.done:
		default:
			t.Fatal("a worker's goroutine is still running after its last relay closed")
		}
	}
}
