package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/centrala/centrala/routing"
)

// Destination is where an inbound call to a number goes: a routing.Destination (the same
// JSON shape: type, target, present, then, priority) with a string Type, so callers that
// only read type and target need not know the routing package.
type Destination struct {
	Type     string       `json:"type"`
	Target   string       `json:"target"`
	Present  string       `json:"present,omitempty"`  // external only; empty: the caller's number
	Then     *Destination `json:"then,omitempty"`     // announcement only; nil: hang up after it
	Priority int          `json:"priority,omitempty"` // queue only: the callers' priority in it
}

// Routing is d as package routing takes it.
func (d Destination) Routing() routing.Destination {
	out := routing.Destination{Type: routing.DestType(d.Type), Target: d.Target, Present: routing.Present(d.Present),
		Priority: d.Priority}
	if d.Then != nil {
		then := d.Then.Routing()
		out.Then = &then
	}
	return out
}

// DestinationOf is the store's form of a routing.Destination.
func DestinationOf(d routing.Destination) Destination {
	out := Destination{Type: string(d.Type), Target: d.Target, Present: string(d.Present), Priority: d.Priority}
	if d.Then != nil {
		then := DestinationOf(*d.Then)
		out.Then = &then
	}
	return out
}

// Number is a DID the project owns.
type Number struct {
	ID          int64       `json:"id"`
	Number      string      `json:"number"` // E.164 with +
	Description string      `json:"description"`
	TrunkID     *int64      `json:"trunk_id"` // the trunk it arrives on, when known
	Destination Destination `json:"destination"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

const numberCols = `id, number, description, trunk_id, dest_type, dest_target, dest_present, dest_then,
	dest_priority, created_at, updated_at`

func scanNumber(row rowScanner) (Number, error) {
	var (
		n                    Number
		trunk                sql.NullInt64
		then                 sql.NullString
		createdAt, updatedAt int64
	)
	if err := row.Scan(&n.ID, &n.Number, &n.Description, &trunk, &n.Destination.Type,
		&n.Destination.Target, &n.Destination.Present, &then, &n.Destination.Priority, &createdAt, &updatedAt); err != nil {
		return Number{}, err
	}
	if trunk.Valid {
		n.TrunkID = &trunk.Int64
	}
	if then.Valid {
		n.Destination.Then = new(Destination)
		if err := json.Unmarshal([]byte(then.String), n.Destination.Then); err != nil {
			return Number{}, fmt.Errorf("number %d dest_then: %w", n.ID, err)
		}
	}
	n.CreatedAt, n.UpdatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	return n, nil
}

// thenJSON is the dest_then column of d: NULL when d has no continuation.
func thenJSON(d Destination) (sql.NullString, error) {
	if d.Then == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(d.Then)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func nullID(id *int64) sql.NullInt64 {
	if id == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *id, Valid: true}
}

// CreateNumber inserts n and returns it as stored; a number in use is a *ConflictError on
// "number", an unknown trunk ErrNotFound.
func (db *DB) CreateNumber(ctx context.Context, n Number) (Number, error) {
	then, err := thenJSON(n.Destination)
	if err != nil {
		return Number{}, err
	}
	ms := millis(now())
	created, err := scanNumber(db.w.QueryRowContext(ctx, `INSERT INTO numbers (number,
		description, trunk_id, dest_type, dest_target, dest_present, dest_then, dest_priority, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+numberCols,
		n.Number, n.Description, nullID(n.TrunkID), n.Destination.Type, n.Destination.Target,
		n.Destination.Present, then, n.Destination.Priority, ms, ms))
	return created, dbErr(err, "create number")
}

// GetNumber returns the number with the id.
func (db *DB) GetNumber(ctx context.Context, id int64) (Number, error) {
	n, err := scanNumber(db.r.QueryRowContext(ctx, `SELECT `+numberCols+` FROM numbers WHERE id = ?`, id))
	return n, dbErr(err, fmt.Sprintf("number %d", id))
}

// NumberByE164 returns the number record of an E.164 number (an inbound INVITE's target).
func (db *DB) NumberByE164(ctx context.Context, e164 string) (Number, error) {
	n, err := scanNumber(db.r.QueryRowContext(ctx, `SELECT `+numberCols+` FROM numbers WHERE number = ?`, e164))
	return n, dbErr(err, "number "+e164)
}

// ListNumbers returns every number ordered by number.
func (db *DB) ListNumbers(ctx context.Context) ([]Number, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+numberCols+` FROM numbers ORDER BY number`)
	if err != nil {
		return nil, dbErr(err, "list numbers")
	}
	defer rows.Close()
	out := []Number{}
	for rows.Next() {
		n, err := scanNumber(rows)
		if err != nil {
			return nil, dbErr(err, "list numbers")
		}
		out = append(out, n)
	}
	return out, dbErr(rows.Err(), "list numbers")
}

// UpdateNumber writes every field of n and returns it as stored.
func (db *DB) UpdateNumber(ctx context.Context, n Number) (Number, error) {
	then, err := thenJSON(n.Destination)
	if err != nil {
		return Number{}, err
	}
	updated, err := scanNumber(db.w.QueryRowContext(ctx, `UPDATE numbers SET number = ?,
		description = ?, trunk_id = ?, dest_type = ?, dest_target = ?, dest_present = ?,
		dest_then = ?, dest_priority = ?, updated_at = ? WHERE id = ? RETURNING `+numberCols,
		n.Number, n.Description, nullID(n.TrunkID), n.Destination.Type, n.Destination.Target,
		n.Destination.Present, then, n.Destination.Priority, millis(now()), n.ID))
	return updated, dbErr(err, fmt.Sprintf("update number %d", n.ID))
}

// DeleteNumber removes the number.
func (db *DB) DeleteNumber(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM numbers WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete number %d", id))
}
