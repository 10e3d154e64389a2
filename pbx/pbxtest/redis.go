package pbxtest

import (
	"bytes"
	"sync"
	"testing"

	"github.com/centrala/centrala/internal/redistest"
)

// Redis is a redis-server started for one test and stopped by its cleanup
// (internal/redistest).
type Redis = redistest.Redis

// StartRedis starts a throw-away redis-server on a free loopback port, without
// persistence, in a temporary directory, and stops it (by its PID) when the test ends.
//
// Without redis-server on PATH the test is skipped, or fails when CI=true: the project's
// test command installs it (apt-get install redis-server).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return redistest.Start(t)
}

// lockedBuffer collects a peer's output, written by exec's copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
