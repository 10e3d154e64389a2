package memstore

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/queuetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStoreContract(t *testing.T) {
	queuetest.Run(t, func(*testing.T) queue.Store { return New() }, nil)
}
