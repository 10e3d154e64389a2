package store

import (
	"context"
	"time"

	"github.com/centrala/centrala/routing"
)

// RingGroup is a stored ring group (routing.RingGroup) with its times.
type RingGroup struct {
	routing.RingGroup
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func ringGroupOf(r docRow) (RingGroup, error) {
	v := RingGroup{CreatedAt: r.createdAt, UpdatedAt: r.updatedAt}
	if err := r.decode("ring group", &v.RingGroup); err != nil {
		return RingGroup{}, err
	}
	v.ID, v.Name = r.id, r.name
	return v, nil
}

// CreateRingGroup inserts v (its ID is ignored) and returns it as stored; a name in use is a
// *ConflictError on "name".
func (db *DB) CreateRingGroup(ctx context.Context, v routing.RingGroup) (RingGroup, error) {
	r, err := db.createDoc(ctx, "ring_groups", "ring group", v.Name, v)
	return docAs(r, err, ringGroupOf)
}

// GetRingGroup returns the ring group with the id.
func (db *DB) GetRingGroup(ctx context.Context, id int64) (RingGroup, error) {
	r, err := db.getDoc(ctx, "ring_groups", "ring group", id)
	return docAs(r, err, ringGroupOf)
}

// ListRingGroups returns every ring group ordered by name.
func (db *DB) ListRingGroups(ctx context.Context) ([]RingGroup, error) {
	rows, err := db.listDocs(ctx, "ring_groups", "ring groups")
	return docsAs(rows, err, ringGroupOf)
}

// UpdateRingGroup writes every field of v (by v.ID) and returns it as stored.
func (db *DB) UpdateRingGroup(ctx context.Context, v routing.RingGroup) (RingGroup, error) {
	r, err := db.updateDoc(ctx, "ring_groups", "ring group", v.ID, v.Name, v)
	return docAs(r, err, ringGroupOf)
}

// DeleteRingGroup removes the ring group.
func (db *DB) DeleteRingGroup(ctx context.Context, id int64) error {
	return db.deleteDoc(ctx, "ring_groups", "ring group", id)
}
