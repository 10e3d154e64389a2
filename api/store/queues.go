package store

import (
	"context"
	"time"

	"github.com/centrala/centrala/queue"
)

// Queue is a stored call queue (queue.Queue, members included) with its times.
type Queue struct {
	queue.Queue
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func queueOf(r docRow) (Queue, error) {
	v := Queue{CreatedAt: r.createdAt, UpdatedAt: r.updatedAt}
	if err := r.decode("queue", &v.Queue); err != nil {
		return Queue{}, err
	}
	v.ID, v.Name = r.id, r.name
	return v, nil
}

// CreateQueue inserts q (its ID is ignored) and returns it as stored; a name in use is a
// *ConflictError on "name". The store keeps q as given: the API fills its defaults and
// validates it first.
func (db *DB) CreateQueue(ctx context.Context, q queue.Queue) (Queue, error) {
	r, err := db.createDoc(ctx, "queues", "queue", q.Name, q)
	return docAs(r, err, queueOf)
}

// GetQueue returns the queue with the id.
func (db *DB) GetQueue(ctx context.Context, id int64) (Queue, error) {
	r, err := db.getDoc(ctx, "queues", "queue", id)
	return docAs(r, err, queueOf)
}

// ListQueues returns every queue ordered by name.
func (db *DB) ListQueues(ctx context.Context) ([]Queue, error) {
	rows, err := db.listDocs(ctx, "queues", "queues")
	return docsAs(rows, err, queueOf)
}

// UpdateQueue writes every field of q (by q.ID), members included, and returns it as stored.
func (db *DB) UpdateQueue(ctx context.Context, q queue.Queue) (Queue, error) {
	r, err := db.updateDoc(ctx, "queues", "queue", q.ID, q.Name, q)
	return docAs(r, err, queueOf)
}

// DeleteQueue removes the queue.
func (db *DB) DeleteQueue(ctx context.Context, id int64) error {
	return db.deleteDoc(ctx, "queues", "queue", id)
}
