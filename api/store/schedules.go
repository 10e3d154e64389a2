package store

import (
	"context"
	"time"

	"github.com/centrala/centrala/routing"
)

// Schedule is a stored schedule (routing.Schedule) with its times.
type Schedule struct {
	routing.Schedule
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func scheduleOf(r docRow) (Schedule, error) {
	v := Schedule{CreatedAt: r.createdAt, UpdatedAt: r.updatedAt}
	if err := r.decode("schedule", &v.Schedule); err != nil {
		return Schedule{}, err
	}
	v.ID, v.Name = r.id, r.name
	return v, nil
}

// CreateSchedule inserts v (its ID is ignored) and returns it as stored; a name in use is a
// *ConflictError on "name".
func (db *DB) CreateSchedule(ctx context.Context, v routing.Schedule) (Schedule, error) {
	r, err := db.createDoc(ctx, "schedules", "schedule", v.Name, v)
	return docAs(r, err, scheduleOf)
}

// GetSchedule returns the schedule with the id.
func (db *DB) GetSchedule(ctx context.Context, id int64) (Schedule, error) {
	r, err := db.getDoc(ctx, "schedules", "schedule", id)
	return docAs(r, err, scheduleOf)
}

// ListSchedules returns every schedule ordered by name.
func (db *DB) ListSchedules(ctx context.Context) ([]Schedule, error) {
	rows, err := db.listDocs(ctx, "schedules", "schedules")
	return docsAs(rows, err, scheduleOf)
}

// UpdateSchedule writes every field of v (by v.ID) and returns it as stored.
func (db *DB) UpdateSchedule(ctx context.Context, v routing.Schedule) (Schedule, error) {
	r, err := db.updateDoc(ctx, "schedules", "schedule", v.ID, v.Name, v)
	return docAs(r, err, scheduleOf)
}

// DeleteSchedule removes the schedule.
func (db *DB) DeleteSchedule(ctx context.Context, id int64) error {
	return db.deleteDoc(ctx, "schedules", "schedule", id)
}
