package pbxtest

import (
	"testing"

	"github.com/centrala/centrala/internal/testkit"
)

// Redis is a redis-server started for one test and stopped by its cleanup
// (internal/testkit).
type Redis = testkit.Redis

// StartRedis starts a throw-away redis-server on a free loopback port, without
// persistence, in a temporary directory, and stops it (by its PID) when the test ends.
//
// Without redis-server on PATH the test is skipped, or fails when CI=true: the project's
// test command installs it (apt-get install redis-server).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return testkit.StartRedis(t)
}

// lockedBuffer is a peer's output (SIPp, baresip).
type lockedBuffer = testkit.Output
