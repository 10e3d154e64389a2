package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Trunk is a connection to a telephony provider: one Centrala registers to (kind register,
// outbound REGISTER with digest) or a peer recognised by its source address (kind ip).
type Trunk struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name"`
	Kind            string    `json:"kind"` // register, ip
	Host            string    `json:"host"`
	Port            int       `json:"port"`
	Transport       string    `json:"transport"` // udp, tcp, tls
	Username        string    `json:"username"`
	Password        string    `json:"-"` // in clear in memory only; sealed at rest
	RegisterExpires int       `json:"register_expires"`
	AllowedSources  []string  `json:"allowed_sources"` // CIDRs an ip trunk's INVITEs may come from
	NumberFormat    string    `json:"number_format"`   // e164, national, as_dialled
	CLIPHeader      string    `json:"clip_header"`     // from, pai, rpid
	MaxCalls        int       `json:"max_calls"`       // 0: no limit
	Enabled         bool      `json:"enabled"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

const trunkCols = `id, name, kind, host, port, transport, username, password_sealed,
	register_expires, allowed_sources, number_format, clip_header, max_calls, enabled,
	created_at, updated_at`

const trunkPurpose = "trunk password"

func (db *DB) scanTrunk(row rowScanner) (Trunk, error) {
	var (
		t                    Trunk
		sealed, sources      string
		createdAt, updatedAt int64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Kind, &t.Host, &t.Port, &t.Transport, &t.Username,
		&sealed, &t.RegisterExpires, &sources, &t.NumberFormat, &t.CLIPHeader, &t.MaxCalls,
		&t.Enabled, &createdAt, &updatedAt); err != nil {
		return Trunk{}, err
	}
	var err error
	if t.Password, err = db.sealer.open(sealed, trunkPurpose); err != nil {
		return Trunk{}, fmt.Errorf("trunk %d: %w", t.ID, err)
	}
	t.AllowedSources = []string{}
	if sources != "" {
		t.AllowedSources = strings.Split(sources, ",")
	}
	t.CreatedAt, t.UpdatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	return t, nil
}

// CreateTrunk inserts t (ID and times ignored), sealing its password, and returns it as
// stored. A name in use is a *ConflictError on "name".
func (db *DB) CreateTrunk(ctx context.Context, t Trunk) (Trunk, error) {
	sealed, err := db.sealer.seal(t.Password, trunkPurpose)
	if err != nil {
		return Trunk{}, err
	}
	ms := millis(now())
	created, err := db.scanTrunk(db.w.QueryRowContext(ctx, `INSERT INTO trunks (name, kind, host,
		port, transport, username, password_sealed, register_expires, allowed_sources,
		number_format, clip_header, max_calls, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+trunkCols,
		t.Name, t.Kind, t.Host, t.Port, t.Transport, t.Username, sealed, t.RegisterExpires,
		strings.Join(t.AllowedSources, ","), t.NumberFormat, t.CLIPHeader, t.MaxCalls, t.Enabled, ms, ms))
	return created, dbErr(err, "create trunk")
}

// GetTrunk returns the trunk with its password in clear.
func (db *DB) GetTrunk(ctx context.Context, id int64) (Trunk, error) {
	t, err := db.scanTrunk(db.r.QueryRowContext(ctx, `SELECT `+trunkCols+` FROM trunks WHERE id = ?`, id))
	return t, dbErr(err, fmt.Sprintf("trunk %d", id))
}

// ListTrunks returns every trunk ordered by id.
func (db *DB) ListTrunks(ctx context.Context) ([]Trunk, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+trunkCols+` FROM trunks ORDER BY id`)
	if err != nil {
		return nil, dbErr(err, "list trunks")
	}
	defer rows.Close()
	out := []Trunk{}
	for rows.Next() {
		t, err := db.scanTrunk(rows)
		if err != nil {
			return nil, dbErr(err, "list trunks")
		}
		out = append(out, t)
	}
	return out, dbErr(rows.Err(), "list trunks")
}

// UpdateTrunk writes every field of t (the password sealed anew) and returns it as stored.
func (db *DB) UpdateTrunk(ctx context.Context, t Trunk) (Trunk, error) {
	sealed, err := db.sealer.seal(t.Password, trunkPurpose)
	if err != nil {
		return Trunk{}, err
	}
	updated, err := db.scanTrunk(db.w.QueryRowContext(ctx, `UPDATE trunks SET name = ?, kind = ?,
		host = ?, port = ?, transport = ?, username = ?, password_sealed = ?, register_expires = ?,
		allowed_sources = ?, number_format = ?, clip_header = ?, max_calls = ?, enabled = ?,
		updated_at = ? WHERE id = ? RETURNING `+trunkCols,
		t.Name, t.Kind, t.Host, t.Port, t.Transport, t.Username, sealed, t.RegisterExpires,
		strings.Join(t.AllowedSources, ","), t.NumberFormat, t.CLIPHeader, t.MaxCalls, t.Enabled,
		millis(now()), t.ID))
	return updated, dbErr(err, fmt.Sprintf("update trunk %d", t.ID))
}

// DeleteTrunk removes the trunk; numbers routed through it keep existing without a trunk.
func (db *DB) DeleteTrunk(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM trunks WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete trunk %d", id))
}
