package store

import (
	"context"
	"fmt"
	"time"
)

// Prompt describes an uploaded audio prompt. The audio is a file the API keeps beside the
// database (<prompts dir>/<id>.wav, 8 kHz 16-bit mono); routing refers to it by its id in
// decimal.
type Prompt struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	DurationMS  int64     `json:"duration_ms"`
	SizeBytes   int64     `json:"size_bytes"` // of the stored WAV file
	Converted   bool      `json:"converted"`  // the upload was not 8 kHz 16-bit mono PCM and was converted
	CreatedAt   time.Time `json:"created_at"`
}

const promptCols = `id, name, description, duration_ms, size_bytes, converted, created_at`

func scanPrompt(row rowScanner) (Prompt, error) {
	var (
		p         Prompt
		createdAt int64
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &p.DurationMS, &p.SizeBytes, &p.Converted,
		&createdAt); err != nil {
		return Prompt{}, err
	}
	p.CreatedAt = fromMillis(createdAt)
	return p, nil
}

// CreatePrompt inserts p (its ID and CreatedAt are ignored) and returns it as stored; a name
// in use is a *ConflictError on "name".
func (db *DB) CreatePrompt(ctx context.Context, p Prompt) (Prompt, error) {
	created, err := scanPrompt(db.w.QueryRowContext(ctx, `INSERT INTO prompts (name, description,
		duration_ms, size_bytes, converted, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING `+promptCols,
		p.Name, p.Description, p.DurationMS, p.SizeBytes, p.Converted, millis(now())))
	return created, dbErr(err, "create prompt")
}

// GetPrompt returns the prompt with the id.
func (db *DB) GetPrompt(ctx context.Context, id int64) (Prompt, error) {
	p, err := scanPrompt(db.r.QueryRowContext(ctx, `SELECT `+promptCols+` FROM prompts WHERE id = ?`, id))
	return p, dbErr(err, fmt.Sprintf("prompt %d", id))
}

// ListPrompts returns every prompt ordered by name.
func (db *DB) ListPrompts(ctx context.Context) ([]Prompt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+promptCols+` FROM prompts ORDER BY name`)
	if err != nil {
		return nil, dbErr(err, "list prompts")
	}
	defer rows.Close()
	out := []Prompt{}
	for rows.Next() {
		p, err := scanPrompt(rows)
		if err != nil {
			return nil, dbErr(err, "list prompts")
		}
		out = append(out, p)
	}
	return out, dbErr(rows.Err(), "list prompts")
}

// DeletePrompt removes the prompt's row (the API removes its file).
func (db *DB) DeletePrompt(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM prompts WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete prompt %d", id))
}
