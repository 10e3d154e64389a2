package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// IVRs, ring groups and schedules are kept alike: id and name as columns (name unique), the
// rest of the routing type as a JSON document in doc, in the routing package's own encoding.
// These helpers do the SQL once for the three tables; ivrs.go, ring_groups.go and
// schedules.go give each its typed methods.

// docRow is one row of a document table.
type docRow struct {
	id                   int64
	name                 string
	doc                  string
	createdAt, updatedAt time.Time
}

const docCols = `id, name, doc, created_at, updated_at`

func scanDoc(row rowScanner) (docRow, error) {
	var (
		r                    docRow
		createdAt, updatedAt int64
	)
	if err := row.Scan(&r.id, &r.name, &r.doc, &createdAt, &updatedAt); err != nil {
		return docRow{}, err
	}
	r.createdAt, r.updatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	return r, nil
}

// decode reads the document into v and reports a damaged one with the row it is in.
func (r docRow) decode(what string, v any) error {
	if err := json.Unmarshal([]byte(r.doc), v); err != nil {
		return fmt.Errorf("store: %s %d doc: %w", what, r.id, err)
	}
	return nil
}

// docJSON is the doc column of v (a routing type): its JSON object without id and name,
// which are columns.
func docJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	delete(m, "id")
	delete(m, "name")
	b, err = json.Marshal(m)
	return string(b), err
}

func (db *DB) createDoc(ctx context.Context, table, what, name string, v any) (docRow, error) {
	doc, err := docJSON(v)
	if err != nil {
		return docRow{}, fmt.Errorf("store: create %s: %w", what, err)
	}
	ms := millis(now())
	r, err := scanDoc(db.w.QueryRowContext(ctx, `INSERT INTO `+table+` (name, doc, created_at, updated_at)
		VALUES (?, ?, ?, ?) RETURNING `+docCols, name, doc, ms, ms))
	return r, dbErr(err, "create "+what)
}

func (db *DB) getDoc(ctx context.Context, table, what string, id int64) (docRow, error) {
	r, err := scanDoc(db.r.QueryRowContext(ctx, `SELECT `+docCols+` FROM `+table+` WHERE id = ?`, id))
	return r, dbErr(err, fmt.Sprintf("%s %d", what, id))
}

// listDocs returns every row of the table ordered by name.
func (db *DB) listDocs(ctx context.Context, table, what string) ([]docRow, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+docCols+` FROM `+table+` ORDER BY name`)
	if err != nil {
		return nil, dbErr(err, "list "+what)
	}
	defer rows.Close()
	var out []docRow
	for rows.Next() {
		r, err := scanDoc(rows)
		if err != nil {
			return nil, dbErr(err, "list "+what)
		}
		out = append(out, r)
	}
	return out, dbErr(rows.Err(), "list "+what)
}

func (db *DB) updateDoc(ctx context.Context, table, what string, id int64, name string, v any) (docRow, error) {
	doc, err := docJSON(v)
	if err != nil {
		return docRow{}, fmt.Errorf("store: update %s %d: %w", what, id, err)
	}
	r, err := scanDoc(db.w.QueryRowContext(ctx, `UPDATE `+table+` SET name = ?, doc = ?, updated_at = ?
		WHERE id = ? RETURNING `+docCols, name, doc, millis(now()), id))
	return r, dbErr(err, fmt.Sprintf("update %s %d", what, id))
}

func (db *DB) deleteDoc(ctx context.Context, table, what string, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete %s %d", what, id))
}

// docsAs converts listed rows with conv.
func docsAs[T any](rows []docRow, err error, conv func(docRow) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		v, err := conv(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// docAs converts one row with conv.
func docAs[T any](r docRow, err error, conv func(docRow) (T, error)) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return conv(r)
}
