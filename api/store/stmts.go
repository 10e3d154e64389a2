package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// pool is a *sql.DB that prepares each query text once and reuses the statement: with the
// pure-Go SQLite driver, parsing and planning a statement cost more than running it (a call's
// records and lookups spent a fifth of the server's CPU in sqlite3Prepare). Query texts
// built with a variable number of placeholders are many: at most maxStmts are kept, the
// rest run unprepared.
type pool struct {
	*sql.DB
	stmts sync.Map // query text -> *sql.Stmt
	n     atomic.Int32
}

const maxStmts = 512

func newPool(db *sql.DB) *pool { return &pool{DB: db} }

// stmt returns the prepared statement of q, or nil (run it unprepared).
func (p *pool) stmt(ctx context.Context, q string) *sql.Stmt {
	if v, ok := p.stmts.Load(q); ok {
		return v.(*sql.Stmt)
	}
	if p.n.Load() >= maxStmts {
		return nil
	}
	st, err := p.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil // the unprepared run reports the error
	}
	if v, loaded := p.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sql.Stmt)
	}
	p.n.Add(1)
	return st
}

func (p *pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := p.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, q, args...)
}

func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, q, args...)
}

func (p *pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, q, args...)
}

// begin starts a transaction whose queries use the pool's prepared statements.
func (p *pool) begin(ctx context.Context) (*txn, error) {
	tx, err := p.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, p: p}, nil
}

// txn is a transaction of a pool. It uses the statements the pool has prepared already; the
// others run unprepared and are prepared after the commit: preparing needs a connection,
// and the writer pool's only one is the transaction's.
type txn struct {
	*sql.Tx
	p       *pool
	missing []string
}

func (t *txn) prepared(q string) *sql.Stmt {
	if v, ok := t.p.stmts.Load(q); ok {
		return v.(*sql.Stmt)
	}
	t.missing = append(t.missing, q)
	return nil
}

func (t *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.prepared(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.prepared(q); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

// Commit commits, then prepares the statements the transaction ran unprepared.
func (t *txn) Commit() error {
	err := t.Tx.Commit()
	if err == nil {
		for _, q := range t.missing {
			t.p.stmt(context.Background(), q)
		}
		t.missing = nil
	}
	return err
}

// close closes the prepared statements (not the pool).
func (p *pool) close() {
	p.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}

// A batch job is one caller's writes, run by the group-commit writer (see batch).
type batchJob struct {
	ctx  context.Context
	fn   func(q querier) error
	done chan error
}

var errClosed = errors.New("store: closed")

// maxBatch is how many callers' writes share one transaction at most.
const maxBatch = 128

// batch runs fn inside a transaction the writer goroutine shares with the writes other
// callers queued meanwhile (group commit): each call's records cost a share of one commit
// instead of a commit each, which is what bounded the call rate. fn runs inside a savepoint:
// its error undoes its own writes only. batch returns when the transaction has committed
// (or fn failed). fn must use q, never db.w (the writer holds its only connection).
func (db *DB) batch(ctx context.Context, fn func(q querier) error) error {
	j := &batchJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.jobsMu.RLock()
	if db.jobs == nil {
		db.jobsMu.RUnlock()
		return errClosed
	}
	select {
	case db.jobs <- j:
		db.jobsMu.RUnlock()
	case <-ctx.Done():
		db.jobsMu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer runs the batches until jobs is closed.
func (db *DB) writer() {
	defer close(db.writerDone)
	for j := range db.jobs {
		batch := []*batchJob{j}
	drain:
		for len(batch) < maxBatch {
			select {
			case more, ok := <-db.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		db.runBatch(batch)
	}
}

func (db *DB) runBatch(batch []*batchJob) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	tx, err := db.w.begin(ctx)
	if err != nil {
		for _, j := range batch {
			j.done <- err
		}
		return
	}
	defer tx.Rollback()
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = j.fn(tx); errs[i] != nil {
			_, _ = tx.ExecContext(ctx, "ROLLBACK TO job")
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil && errs[i] == nil {
			errs[i] = err
		}
	}
	if err := tx.Commit(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	for i, j := range batch {
		j.done <- errs[i]
	}
}
