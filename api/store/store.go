package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultFile is the SQLite database file created in the data directory when no URL is given.
const DefaultFile = "centrala.db"

// Pragmas every connection runs (modernc.org/sqlite _pragma DSN parameters). journal_mode is
// persistent in the file, but setting it again is cheap and keeps a copied file in WAL.
// synchronous NORMAL in WAL mode syncs at checkpoints, not at every commit: a crash of the
// process loses nothing, a power cut may lose the last commits (call records of the last
// moments, which the next start cannot close then). Every call writes its record three times,
// so FULL would put a disk flush on every call set-up.
const (
	pragmas      = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)"
	writerParams = pragmas + "&_pragma=synchronous(NORMAL)&_txlock=immediate"
	readerParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
)

// DB is the SQL store. It is safe for concurrent use.
type DB struct {
	w *pool // one connection: every write, the migrations
	r *pool // read-only pool; the same as w for an in-memory database

	jobsMu     sync.RWMutex   // Close takes it to close jobs
	jobs       chan *batchJob // to the group-commit writer (batch); nil once closed
	writerDone chan struct{}

	authAccount *sql.Stmt // on r: the REGISTER path
	tokenUser   *sql.Stmt // on r: every authenticated API request
	sealer      *sealer   // trunk passwords; nil until SetSecretKey
}

// Open opens the database and applies the pending migrations. dbURL is one of
//
//	""                     centrala.db in dataDir (dataDir is created with mode 0700)
//	sqlite:///abs/path.db  an absolute path
//	sqlite://rel.db        a path relative to the working directory
//	file:path.db?...       an SQLite URI filename, passed to SQLite as it is
//	/some/path.db          a plain path
//
// postgres:// URLs are recognised but not supported yet.
func Open(ctx context.Context, dbURL, dataDir string) (*DB, error) {
	name, err := sqliteName(dbURL, dataDir)
	if err != nil {
		return nil, err
	}
	w, err := openPool(ctx, name, writerParams, 1)
	if err != nil {
		return nil, err
	}
	wp := newPool(w)
	db := &DB{w: wp, r: wp}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	// An in-memory database exists once per connection: it cannot have a second pool.
	if !strings.Contains(name, ":memory:") && !strings.Contains(name, "mode=memory") {
		r, err := openPool(ctx, name, readerParams, max(4, runtime.NumCPU()))
		if err != nil {
			w.Close()
			return nil, err
		}
		db.r = newPool(r)
	}
	db.jobs, db.writerDone = make(chan *batchJob, 4*maxBatch), make(chan struct{})
	go db.writer()
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sqliteName turns the configured URL into a modernc.org/sqlite data source name without
// the driver parameters.
func sqliteName(dbURL, dataDir string) (string, error) {
	switch {
	case dbURL == "":
		if dataDir == "" {
			dataDir = "."
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return "", fmt.Errorf("store: data dir: %w", err)
		}
		return filepath.Join(dataDir, DefaultFile), nil
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return "", errors.New("store: postgres support is not implemented yet; use sqlite (leave the database URL empty)")
	case strings.HasPrefix(dbURL, "sqlite://"):
		name := strings.TrimPrefix(dbURL, "sqlite://")
		if name == "" || name == "/" {
			return "", fmt.Errorf("store: database URL %q has no path", dbURL)
		}
		return name, nil
	case strings.HasPrefix(dbURL, "file:"):
		return dbURL, nil
	case strings.Contains(dbURL, "://"):
		return "", fmt.Errorf("store: unsupported database URL %q: want sqlite://, file: or postgres://", dbURL)
	default:
		return dbURL, nil
	}
}

func openPool(ctx context.Context, name, params string, conns int) (*sql.DB, error) {
	sep := "?"
	if strings.Contains(name, "?") {
		sep = "&"
	}
	p, err := sql.Open("sqlite", name+sep+params)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	p.SetMaxOpenConns(conns)
	p.SetMaxIdleConns(conns)
	p.SetConnMaxIdleTime(0)
	// The first connection sets the journal mode; while another process does the same on a
	// new file SQLite may answer SQLITE_BUSY at once, without waiting for the busy timeout.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = p.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	return p, nil
}

func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w.DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	// SQLite has no migration lock: another process opening the same file may apply the same
	// migration first, and ours then fails (its transaction rolls back). What matters is that
	// none is left pending.
	for attempt := 1; ; attempt++ {
		_, err := p.Up(ctx)
		if err == nil {
			return nil
		}
		if pending, perr := p.HasPending(ctx); perr == nil && !pending {
			return nil
		}
		if attempt == 3 {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
}

func (db *DB) prepare(ctx context.Context) error {
	var err error
	if db.authAccount, err = db.r.PrepareContext(ctx, authAccountQuery); err != nil {
		return fmt.Errorf("store: prepare: %w", err)
	}
	if db.tokenUser, err = db.r.PrepareContext(ctx, tokenUserQuery); err != nil {
		return fmt.Errorf("store: prepare: %w", err)
	}
	return nil
}

// Close closes the statements and both pools.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.authAccount, db.tokenUser} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	db.jobsMu.Lock()
	if db.jobs != nil {
		close(db.jobs)
		<-db.writerDone
		db.jobs = nil
	}
	db.jobsMu.Unlock()
	db.w.close()
	if db.r != db.w {
		db.r.close()
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	return db.r.PingContext(ctx)
}

// SQL returns the writer pool (one connection) for packages that keep their own tables in
// this database. Hold its connection briefly: every write of the store waits for it.
func (db *DB) SQL() *sql.DB { return db.w.DB }

// uniqueFields maps the columns of the unique indexes (named <table>_<column>_key) to the
// field a ConflictError names. SQLite reports a violation as "table.column".
var uniqueFields = []struct{ column, index, field string }{
	{"users.login", "users_login_key", "login"},
	{"users.extension", "users_extension_key", "extension"},
	{"users.agent_number", "users_agent_number_key", "agent_number"},
	{"sip_accounts.username", "sip_accounts_username_key", "username"},
	{"tokens.token_hash", "tokens_token_hash_key", "token"},
	{"trunks.name", "trunks_name_key", "name"},
	{"numbers.number", "numbers_number_key", "number"},
	{"ivrs.name", "ivrs_name_key", "name"},
	{"ring_groups.name", "ring_groups_name_key", "name"},
	{"schedules.name", "schedules_name_key", "name"},
	{"prompts.name", "prompts_name_key", "name"},
	{"queues.name", "queues_name_key", "name"},
}

// dbErr maps driver errors to the package's: no rows to ErrNotFound, a unique violation to a
// *ConflictError, a foreign key violation to ErrNotFound (the referenced row is missing).
func dbErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			msg := se.Error()
			for _, u := range uniqueFields {
				if containsWord(msg, u.column) || containsWord(msg, u.index) {
					return &ConflictError{Field: u.field}
				}
			}
			return fmt.Errorf("%s: %w: %v", what, ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: user: %w", what, ErrNotFound)
		}
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// containsWord reports whether s contains w not followed by another identifier character,
// so that "users.login" does not match "users.login_name".
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		end := i + j + len(w)
		if end == len(s) || !isIdent(s[end]) {
			return true
		}
		i = end
	}
}

func isIdent(c byte) bool {
	return c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Times are stored as UTC milliseconds since the Unix epoch.

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMillis(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMillis(n.Int64)
	return &t
}

// nullString stores "" as NULL, for columns unique only when set.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// now is the store's clock, truncated to what it keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }
