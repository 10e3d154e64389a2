package store

import (
	"context"
	"time"

	"github.com/centrala/centrala/routing"
)

// IVR is a stored voice menu (routing.IVR) with its times.
type IVR struct {
	routing.IVR
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func ivrOf(r docRow) (IVR, error) {
	v := IVR{CreatedAt: r.createdAt, UpdatedAt: r.updatedAt}
	if err := r.decode("ivr", &v.IVR); err != nil {
		return IVR{}, err
	}
	v.ID, v.Name = r.id, r.name
	return v, nil
}

// CreateIVR inserts v (its ID is ignored) and returns it as stored; a name in use is a
// *ConflictError on "name".
func (db *DB) CreateIVR(ctx context.Context, v routing.IVR) (IVR, error) {
	r, err := db.createDoc(ctx, "ivrs", "ivr", v.Name, v)
	return docAs(r, err, ivrOf)
}

// GetIVR returns the IVR with the id.
func (db *DB) GetIVR(ctx context.Context, id int64) (IVR, error) {
	r, err := db.getDoc(ctx, "ivrs", "ivr", id)
	return docAs(r, err, ivrOf)
}

// ListIVRs returns every IVR ordered by name.
func (db *DB) ListIVRs(ctx context.Context) ([]IVR, error) {
	rows, err := db.listDocs(ctx, "ivrs", "ivrs")
	return docsAs(rows, err, ivrOf)
}

// UpdateIVR writes every field of v (by v.ID) and returns it as stored.
func (db *DB) UpdateIVR(ctx context.Context, v routing.IVR) (IVR, error) {
	r, err := db.updateDoc(ctx, "ivrs", "ivr", v.ID, v.Name, v)
	return docAs(r, err, ivrOf)
}

// DeleteIVR removes the IVR.
func (db *DB) DeleteIVR(ctx context.Context, id int64) error {
	return db.deleteDoc(ctx, "ivrs", "ivr", id)
}
