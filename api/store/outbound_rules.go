package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/centrala/centrala/routing"
)

// OutboundRule is one stored line of the outbound rule table (see package routing). Dest
// and Action are kept as JSON in the routing package's own encoding.
type OutboundRule struct {
	ID        int64          `json:"id"`
	Position  int            `json:"position"`
	Name      string         `json:"name"`
	Enabled   bool           `json:"enabled"`
	Who       routing.Who    `json:"who"`
	Dest      routing.Dest   `json:"dest"`
	Action    routing.Action `json:"action"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Rule is the rule as routing.NewTable takes it.
func (r OutboundRule) Rule() routing.Rule {
	return routing.Rule{ID: r.ID, Name: r.Name, Position: r.Position, Enabled: r.Enabled,
		Who: r.Who, Dest: r.Dest, Action: r.Action}
}

// ErrOrderMismatch is returned by ReorderOutboundRules when the ids are not exactly the
// set of existing rules (each once).
var ErrOrderMismatch = errors.New("store: ids must list every outbound rule exactly once")

const outboundRuleCols = `id, position, name, enabled, who_kind, who_value, dest, action, created_at, updated_at`

func scanOutboundRule(row rowScanner) (OutboundRule, error) {
	var (
		r                    OutboundRule
		kind                 string
		dest, action         string
		createdAt, updatedAt int64
	)
	if err := row.Scan(&r.ID, &r.Position, &r.Name, &r.Enabled, &kind, &r.Who.Value, &dest, &action,
		&createdAt, &updatedAt); err != nil {
		return OutboundRule{}, err
	}
	r.Who.Kind = routing.WhoKind(kind)
	if err := json.Unmarshal([]byte(dest), &r.Dest); err != nil {
		return OutboundRule{}, fmt.Errorf("outbound rule %d dest: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(action), &r.Action); err != nil {
		return OutboundRule{}, fmt.Errorf("outbound rule %d action: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	return r, nil
}

func ruleJSON(r OutboundRule) (dest, action string, err error) {
	d, err := json.Marshal(r.Dest)
	if err != nil {
		return "", "", err
	}
	a, err := json.Marshal(r.Action)
	if err != nil {
		return "", "", err
	}
	return string(d), string(a), nil
}

// ListOutboundRules returns every rule by position, then id (the order routing tries them).
func (db *DB) ListOutboundRules(ctx context.Context) ([]OutboundRule, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+outboundRuleCols+` FROM outbound_rules ORDER BY position, id`)
	if err != nil {
		return nil, dbErr(err, "list outbound rules")
	}
	defer rows.Close()
	out := []OutboundRule{}
	for rows.Next() {
		r, err := scanOutboundRule(rows)
		if err != nil {
			return nil, dbErr(err, "list outbound rules")
		}
		out = append(out, r)
	}
	return out, dbErr(rows.Err(), "list outbound rules")
}

// GetOutboundRule returns the rule with the id.
func (db *DB) GetOutboundRule(ctx context.Context, id int64) (OutboundRule, error) {
	r, err := scanOutboundRule(db.r.QueryRowContext(ctx, `SELECT `+outboundRuleCols+` FROM outbound_rules WHERE id = ?`, id))
	return r, dbErr(err, fmt.Sprintf("outbound rule %d", id))
}

// CreateOutboundRule inserts r and returns it as stored. A Position of 0 puts it last
// (the highest position plus one).
func (db *DB) CreateOutboundRule(ctx context.Context, r OutboundRule) (OutboundRule, error) {
	dest, action, err := ruleJSON(r)
	if err != nil {
		return OutboundRule{}, err
	}
	ms := millis(now())
	created, err := scanOutboundRule(db.w.QueryRowContext(ctx, `INSERT INTO outbound_rules (position,
		name, enabled, who_kind, who_value, dest, action, created_at, updated_at)
		VALUES (CASE WHEN ? > 0 THEN ? ELSE (SELECT COALESCE(MAX(position), 0) + 1 FROM outbound_rules) END,
		?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+outboundRuleCols,
		r.Position, r.Position, r.Name, r.Enabled, string(r.Who.Kind), r.Who.Value, dest, action, ms, ms))
	return created, dbErr(err, "create outbound rule")
}

// UpdateOutboundRule writes every field of r (Position included) and returns it as stored.
func (db *DB) UpdateOutboundRule(ctx context.Context, r OutboundRule) (OutboundRule, error) {
	dest, action, err := ruleJSON(r)
	if err != nil {
		return OutboundRule{}, err
	}
	updated, err := scanOutboundRule(db.w.QueryRowContext(ctx, `UPDATE outbound_rules SET position = ?,
		name = ?, enabled = ?, who_kind = ?, who_value = ?, dest = ?, action = ?, updated_at = ?
		WHERE id = ? RETURNING `+outboundRuleCols,
		r.Position, r.Name, r.Enabled, string(r.Who.Kind), r.Who.Value, dest, action, millis(now()), r.ID))
	return updated, dbErr(err, fmt.Sprintf("update outbound rule %d", r.ID))
}

// DeleteOutboundRule removes the rule.
func (db *DB) DeleteOutboundRule(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM outbound_rules WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete outbound rule %d", id))
}

// ReorderOutboundRules gives the rules positions 1, 2, ... in the order of ids, in one
// transaction. ids must be exactly the existing rules, each once, else ErrOrderMismatch and
// nothing changes. It returns the rules in their new order.
func (db *DB) ReorderOutboundRules(ctx context.Context, ids []int64) ([]OutboundRule, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbErr(err, "reorder outbound rules")
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM outbound_rules`)
	if err != nil {
		return nil, dbErr(err, "reorder outbound rules")
	}
	existing := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, dbErr(err, "reorder outbound rules")
		}
		existing[id] = false
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr(err, "reorder outbound rules")
	}
	if len(ids) != len(existing) {
		return nil, ErrOrderMismatch
	}
	for _, id := range ids {
		seen, ok := existing[id]
		if !ok || seen {
			return nil, ErrOrderMismatch
		}
		existing[id] = true
	}
	ms := millis(now())
	for i, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE outbound_rules SET position = ?, updated_at = ? WHERE id = ?`,
			i+1, ms, id); err != nil {
			return nil, dbErr(err, "reorder outbound rules")
		}
	}
	out := make([]OutboundRule, 0, len(ids))
	q, err := tx.QueryContext(ctx, `SELECT `+outboundRuleCols+` FROM outbound_rules ORDER BY position, id`)
	if err != nil {
		return nil, dbErr(err, "reorder outbound rules")
	}
	defer q.Close()
	for q.Next() {
		r, err := scanOutboundRule(q)
		if err != nil {
			return nil, dbErr(err, "reorder outbound rules")
		}
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		return nil, dbErr(err, "reorder outbound rules")
	}
	q.Close()
	return out, dbErr(tx.Commit(), "reorder outbound rules")
}
