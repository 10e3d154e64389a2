package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/centrala/centrala/cdr"
)

var _ cdr.Store = (*DB)(nil)

// Paging of ListCDRs.
const (
	DefaultCDRLimit = 100
	MaxCDRLimit     = 1000
)

// CDRFilter selects call detail records for ListCDRs; zero fields select everything.
type CDRFilter struct {
	From, To    time.Time // started_at in [From, To)
	UserID      *int64    // the record's user, or the user of one of its legs (calls that rang them)
	Number      string    // equal to the caller, callee, DID or CLIP
	Direction   cdr.Direction
	Disposition cdr.Disposition
	Limit       int        // default DefaultCDRLimit, at most MaxCDRLimit
	Offset      int        // records to skip
	After       *CDRCursor // only records listed after this one (keyset paging; with Offset, skip after it)
}

// CDRCursor is a position in the listing order (started_at, then id, both descending).
type CDRCursor struct {
	StartedAt time.Time
	ID        int64
}

const cdrCols = `id, node, call_id, direction, caller, callee, did, clip, trunk_id, user_id,
	started_at, answered_at, ended_at, duration_s, billsec_s, disposition, sip_code, sip_reason,
	hangup_by, path`

const legCols = `id, cdr_id, kind, peer, user_id, trunk_id, call_id, started_at, answered_at,
	ended_at, sip_code, sip_reason`

// endSet ends a record at the time bound five times: durations rounded half up to whole
// seconds, 0 when the end is not after the start (or the answer, or never answered).
const endSet = `ended_at = ?,
	duration_s = CASE WHEN ? > started_at THEN (? - started_at + 500) / 1000 ELSE 0 END,
	billsec_s = CASE WHEN answered_at IS NOT NULL AND ? > answered_at THEN (? - answered_at + 500) / 1000 ELSE 0 END`

func endArgs(at time.Time) []any {
	ms := millis(at)
	return []any{ms, ms, ms, ms, ms}
}

func scanCDR(row rowScanner) (cdr.Record, error) {
	var (
		r                     cdr.Record
		clip                  sql.NullString
		trunkID, userID       sql.NullInt64
		startedAt             int64
		answeredAt, endedAt   sql.NullInt64
		disposition, hangupBy sql.NullString
		direction, path       string
	)
	if err := row.Scan(&r.ID, &r.Node, &r.CallID, &direction, &r.Caller, &r.Callee, &r.DID, &clip,
		&trunkID, &userID, &startedAt, &answeredAt, &endedAt, &r.DurationS, &r.BillsecS,
		&disposition, &r.SIPCode, &r.SIPReason, &hangupBy, &path); err != nil {
		return cdr.Record{}, err
	}
	if path == "" {
		path = "[]"
	}
	r.Path = json.RawMessage(path)
	r.Direction = cdr.Direction(direction)
	r.CLIP = fromNullString(clip)
	r.TrunkID, r.UserID = fromNullInt(trunkID), fromNullInt(userID)
	r.StartedAt = fromMillis(startedAt)
	r.AnsweredAt, r.EndedAt = fromNullMillis(answeredAt), fromNullMillis(endedAt)
	r.Disposition, r.HangupBy = cdr.Disposition(disposition.String), cdr.HangupBy(hangupBy.String)
	r.Legs, r.Queues = []cdr.Leg{}, []cdr.QueueStay{}
	return r, nil
}

func scanLeg(row rowScanner) (cdr.Leg, error) {
	var (
		l                   cdr.Leg
		kind                string
		userID, trunkID     sql.NullInt64
		startedAt           int64
		answeredAt, endedAt sql.NullInt64
	)
	if err := row.Scan(&l.ID, &l.CDRID, &kind, &l.Peer, &userID, &trunkID, &l.CallID, &startedAt,
		&answeredAt, &endedAt, &l.SIPCode, &l.SIPReason); err != nil {
		return cdr.Leg{}, err
	}
	l.Kind = cdr.LegKind(kind)
	l.UserID, l.TrunkID = fromNullInt(userID), fromNullInt(trunkID)
	l.StartedAt = fromMillis(startedAt)
	l.AnsweredAt, l.EndedAt = fromNullMillis(answeredAt), fromNullMillis(endedAt)
	return l, nil
}

// InsertCDR stores a new live record with its legs (r.Legs, e.g. the caller's) in one
// transaction (the record's ID and ending fields are ignored) and returns it as stored.
// It goes through the group-commit writer, as AnswerCDR and EndCDR do.
func (db *DB) InsertCDR(ctx context.Context, r cdr.Record) (cdr.Record, error) {
	var created cdr.Record
	err := db.batch(ctx, func(q querier) error {
		var err error
		created, err = scanCDR(q.QueryRowContext(ctx, `INSERT INTO cdrs (node, call_id, direction, caller, callee,
			did, clip, trunk_id, user_id, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING `+cdrCols,
			r.Node, r.CallID, string(r.Direction), r.Caller, r.Callee, r.DID, nullStringPtr(r.CLIP),
			nullInt(r.TrunkID), nullInt(r.UserID), millis(r.StartedAt)))
		if err != nil {
			return dbErr(err, "insert cdr")
		}
		created.Legs = make([]cdr.Leg, 0, len(r.Legs))
		for _, l := range r.Legs {
			l.ID = 0
			leg, err := upsertLeg(ctx, q, created.ID, l)
			if err != nil {
				return err
			}
			created.Legs = append(created.Legs, leg)
		}
		return nil
	})
	if err != nil {
		return cdr.Record{}, err
	}
	return created, nil
}

// AnswerCDR sets the answer time of the live record unless it is set already and returns the
// record with its legs. An unknown id is ErrNotFound, an ended record cdr.ErrEnded.
func (db *DB) AnswerCDR(ctx context.Context, id int64, at time.Time) (cdr.Record, error) {
	what := fmt.Sprintf("answer cdr %d", id)
	var r cdr.Record
	err := db.batch(ctx, func(q querier) error {
		var err error
		r, err = scanCDR(q.QueryRowContext(ctx, `UPDATE cdrs SET answered_at = COALESCE(answered_at, ?)
			WHERE id = ? AND ended_at IS NULL RETURNING `+cdrCols, millis(at), id))
		if errors.Is(err, sql.ErrNoRows) {
			return notLive(ctx, q, id, what)
		}
		return dbErr(err, what)
	})
	if err != nil {
		return cdr.Record{}, err
	}
	return r, db.withLegs(ctx, what, &r)
}

// EndCDR completes the live record (see cdr.Record for the durations), writes e.Legs (added
// when their ID is 0, else replaced) and e.Queues (the queue stays with their offers), ends
// its legs still open at the same time, and returns it with its legs and queue stays, all
// in one transaction. An unknown id is ErrNotFound, an ended record
// cdr.ErrEnded (and nothing changes).
func (db *DB) EndCDR(ctx context.Context, id int64, e cdr.End) (cdr.Record, error) {
	what := fmt.Sprintf("end cdr %d", id)
	var r cdr.Record
	err := db.batch(ctx, func(q querier) error {
		var path sql.NullString
		if len(e.Path) > 0 {
			path = sql.NullString{String: string(e.Path), Valid: true}
		}
		args := append(endArgs(e.At), string(e.Disposition), e.SIPCode, e.SIPReason, string(e.HangupBy),
			nullInt(e.TrunkID), path, nullInt(e.UserID), id)
		var err error
		r, err = scanCDR(q.QueryRowContext(ctx, `UPDATE cdrs SET `+endSet+`, disposition = ?,
			sip_code = ?, sip_reason = ?, hangup_by = ?, trunk_id = COALESCE(?, trunk_id), path = COALESCE(?, path),
			user_id = COALESCE(?, user_id) WHERE id = ? AND ended_at IS NULL RETURNING `+cdrCols, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return notLive(ctx, q, id, what)
		}
		if err != nil {
			return dbErr(err, what)
		}
		for _, l := range e.Legs {
			if _, err := upsertLeg(ctx, q, id, l); err != nil {
				return err
			}
		}
		if err := insertStays(ctx, q, id, r.CallID, e.Queues); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `UPDATE cdr_legs SET ended_at = ? WHERE cdr_id = ? AND ended_at IS NULL`,
			millis(e.At), id)
		return dbErr(err, what)
	})
	if err != nil {
		return cdr.Record{}, err
	}
	return r, db.withLegs(ctx, what, &r)
}

// notLive explains why a live record with the id was not found: ErrNotFound or cdr.ErrEnded.
func notLive(ctx context.Context, q querier, id int64, what string) error {
	var ended bool
	err := q.QueryRowContext(ctx, `SELECT ended_at IS NOT NULL FROM cdrs WHERE id = ?`, id).Scan(&ended)
	switch {
	case err != nil:
		return dbErr(err, what)
	case ended:
		return fmt.Errorf("store: %s: %w", what, cdr.ErrEnded)
	}
	return fmt.Errorf("store: %s: record is live but did not change", what) // not reached: one writer
}

// CloseOpenCDRs ends every live record of the node (see CloseCDRs) and returns them with
// their legs.
func (db *DB) CloseOpenCDRs(ctx context.Context, node string, at time.Time, reason string) ([]cdr.Record, error) {
	return db.closeCDRs(ctx, "close open cdrs of node "+node, `node = ?`, []any{node}, at, reason)
}

// CloseCDRs ends the records with the ids that are still live as failed, hung up by the
// system, with reason as the SIP reason and the SIP code 200 if they were answered (0 if
// not), at the time; their open legs end at the same time. It returns the records it closed
// with their legs, in id order. Records that had ended are left as they are.
func (db *DB) CloseCDRs(ctx context.Context, ids []int64, at time.Time, reason string) ([]cdr.Record, error) {
	var closed []cdr.Record
	for chunk := range chunks(ids) {
		recs, err := db.closeCDRs(ctx, "close cdrs", `id IN (`+placeholders(len(chunk))+`)`, anys(chunk), at, reason)
		if err != nil {
			return nil, err
		}
		closed = append(closed, recs...)
	}
	return closed, nil
}

func (db *DB) closeCDRs(ctx context.Context, what, cond string, condArgs []any, at time.Time, reason string) ([]cdr.Record, error) {
	tx, err := db.w.begin(ctx)
	if err != nil {
		return nil, dbErr(err, what)
	}
	defer tx.Rollback()
	args := append(endArgs(at), string(cdr.Failed), reason, string(cdr.BySystem))
	rows, err := tx.QueryContext(ctx, `UPDATE cdrs SET `+endSet+`, disposition = ?,
		sip_code = CASE WHEN answered_at IS NULL THEN 0 ELSE 200 END, sip_reason = ?, hangup_by = ?
		WHERE ended_at IS NULL AND `+cond+` RETURNING `+cdrCols, append(args, condArgs...)...)
	if err != nil {
		return nil, dbErr(err, what)
	}
	recs, err := collect(rows, scanCDR)
	if err != nil {
		return nil, dbErr(err, what)
	}
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	for chunk := range chunks(ids) {
		if _, err := tx.ExecContext(ctx, `UPDATE cdr_legs SET ended_at = ? WHERE ended_at IS NULL
			AND cdr_id IN (`+placeholders(len(chunk))+`)`, append([]any{millis(at)}, anys(chunk)...)...); err != nil {
			return nil, dbErr(err, what)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, dbErr(err, what)
	}
	// RETURNING gives no order; callers (and their logs and events) get id order.
	sortByID(recs)
	if err := db.loadDetails(ctx, recs); err != nil {
		return nil, dbErr(err, what)
	}
	return recs, nil
}

// UpsertLeg adds l to the record cdrID (when l.ID is 0) or replaces every field of the
// record's leg l.ID with l's, and returns the leg as stored. An unknown record or leg is
// ErrNotFound.
func (db *DB) UpsertLeg(ctx context.Context, cdrID int64, l cdr.Leg) (cdr.Leg, error) {
	return upsertLeg(ctx, db.w, cdrID, l)
}

// querier is a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func upsertLeg(ctx context.Context, q querier, cdrID int64, l cdr.Leg) (cdr.Leg, error) {
	fields := []any{string(l.Kind), l.Peer, nullInt(l.UserID), nullInt(l.TrunkID), l.CallID,
		millis(l.StartedAt), nullMillis(l.AnsweredAt), nullMillis(l.EndedAt), l.SIPCode, l.SIPReason}
	if l.ID == 0 {
		what := fmt.Sprintf("add leg to cdr %d", cdrID)
		// INSERT ... SELECT: an unknown record inserts nothing, which is ErrNotFound.
		leg, err := scanLeg(q.QueryRowContext(ctx, `INSERT INTO cdr_legs (cdr_id, kind, peer,
			user_id, trunk_id, call_id, started_at, answered_at, ended_at, sip_code, sip_reason)
			SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM cdrs WHERE id = ?
			RETURNING `+legCols, append(fields, cdrID)...))
		return leg, dbErr(err, what)
	}
	what := fmt.Sprintf("update leg %d of cdr %d", l.ID, cdrID)
	leg, err := scanLeg(q.QueryRowContext(ctx, `UPDATE cdr_legs SET kind = ?, peer = ?,
		user_id = ?, trunk_id = ?, call_id = ?, started_at = ?, answered_at = ?, ended_at = ?,
		sip_code = ?, sip_reason = ? WHERE id = ? AND cdr_id = ?
		RETURNING `+legCols, append(fields, l.ID, cdrID)...))
	return leg, dbErr(err, what)
}

// GetCDR returns the record with the id and its legs.
func (db *DB) GetCDR(ctx context.Context, id int64) (cdr.Record, error) {
	what := fmt.Sprintf("cdr %d", id)
	r, err := scanCDR(db.r.QueryRowContext(ctx, `SELECT `+cdrCols+` FROM cdrs WHERE id = ?`, id))
	if err != nil {
		return cdr.Record{}, dbErr(err, what)
	}
	return r, db.withLegs(ctx, what, &r)
}

// ListCDRs returns the records the filter selects, newest first (started_at, then id,
// descending), each with its legs and queue stays: three queries per page, whatever its size.
func (db *DB) ListCDRs(ctx context.Context, f CDRFilter) ([]cdr.Record, error) {
	var (
		conds []string
		args  []any
	)
	where := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	if !f.From.IsZero() {
		where(`started_at >= ?`, millis(f.From))
	}
	if !f.To.IsZero() {
		where(`started_at < ?`, millis(f.To))
	}
	if f.UserID != nil {
		where(`(user_id = ? OR id IN (SELECT cdr_id FROM cdr_legs WHERE user_id = ?))`, *f.UserID, *f.UserID)
	}
	if f.Number != "" {
		where(`(caller = ? OR callee = ? OR did = ? OR clip = ?)`, f.Number, f.Number, f.Number, f.Number)
	}
	if f.Direction != "" {
		where(`direction = ?`, string(f.Direction))
	}
	if f.Disposition != "" {
		where(`disposition = ?`, string(f.Disposition))
	}
	if f.After != nil {
		t := millis(f.After.StartedAt)
		where(`(started_at < ? OR (started_at = ? AND id < ?))`, t, t, f.After.ID)
	}
	q := `SELECT ` + cdrCols + ` FROM cdrs`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultCDRLimit
	case limit > MaxCDRLimit:
		limit = MaxCDRLimit
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err, "list cdrs")
	}
	recs, err := collect(rows, scanCDR)
	if err != nil {
		return nil, dbErr(err, "list cdrs")
	}
	return recs, dbErr(db.loadDetails(ctx, recs), "list cdrs")
}

// withLegs fills in the legs and queue stays of one record.
func (db *DB) withLegs(ctx context.Context, what string, r *cdr.Record) error {
	recs := []cdr.Record{*r}
	if err := db.loadDetails(ctx, recs); err != nil {
		return dbErr(err, what)
	}
	*r = recs[0]
	return nil
}

// loadDetails fills in the legs and the queue stays of the records.
func (db *DB) loadDetails(ctx context.Context, recs []cdr.Record) error {
	if err := db.loadLegs(ctx, recs); err != nil {
		return err
	}
	return db.loadQueues(ctx, recs)
}

// loadLegs fills in the legs of the records (in id order) with one query per chunk of
// maxParams records.
func (db *DB) loadLegs(ctx context.Context, recs []cdr.Record) error {
	index, ids := indexRecords(recs)
	for chunk := range chunks(ids) {
		rows, err := db.r.QueryContext(ctx, `SELECT `+legCols+` FROM cdr_legs
			WHERE cdr_id IN (`+placeholders(len(chunk))+`) ORDER BY cdr_id, id`, anys(chunk)...)
		if err != nil {
			return err
		}
		legs, err := collect(rows, scanLeg)
		if err != nil {
			return err
		}
		for _, l := range legs {
			i := index[l.CDRID]
			recs[i].Legs = append(recs[i].Legs, l)
		}
	}
	return nil
}

// indexRecords returns the records' ids in order and each id's index in recs.
func indexRecords(recs []cdr.Record) (map[int64]int, []int64) {
	index := make(map[int64]int, len(recs))
	ids := make([]int64, len(recs))
	for i, r := range recs {
		index[r.ID] = i
		ids[i] = r.ID
	}
	return index, ids
}

// collect scans every row and closes rows; a result is never nil.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// maxParams bounds the ids bound in one IN list (SQLite allows 32766 parameters, PostgreSQL
// 65535).
const maxParams = 500

// chunks yields ids in slices of at most maxParams.
func chunks(ids []int64) func(yield func([]int64) bool) {
	return func(yield func([]int64) bool) {
		for len(ids) > 0 {
			n := min(len(ids), maxParams)
			if !yield(ids[:n]) {
				return
			}
			ids = ids[n:]
		}
	}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func sortByID(recs []cdr.Record) {
	slices.SortFunc(recs, func(a, b cdr.Record) int { return cmp.Compare(a.ID, b.ID) })
}

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func fromNullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

// nullStringPtr stores nil as NULL and keeps "" (unlike nullString).
func nullStringPtr(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

func fromNullString(n sql.NullString) *string {
	if !n.Valid {
		return nil
	}
	v := n.String
	return &v
}
