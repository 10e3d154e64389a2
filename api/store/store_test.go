package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), "", t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

func agent(login, extension string) User {
	return User{Login: login, Role: RoleAgent, FirstName: "Ann", LastName: "Lee", Extension: extension,
		PhoneType: "desk", IsAgent: true}
}

func createUser(t *testing.T, db *DB, u User) User {
	t.Helper()
	created, err := db.CreateUser(context.Background(), u, "hash-"+u.Login)
	require.NoError(t, err)
	return created
}

func createAccount(t *testing.T, db *DB, userID int64, username string) SIPAccount {
	t.Helper()
	a, err := db.CreateSIPAccount(context.Background(), SIPAccount{UserID: userID, Username: username,
		Kind: "desk", MaxContacts: 1, Realm: "centrala", HA1MD5: "md5-" + username, HA1SHA256: "sha-" + username})
	require.NoError(t, err)
	return a
}

func requireConflict(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, ErrConflict)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, field, ce.Field)
}

func requireUTC(t *testing.T, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		require.False(t, tm.IsZero())
		require.Equal(t, time.UTC, tm.Location())
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir) // for sqlite://rel.db
	tests := []struct {
		name    string
		url     string
		dataDir string
		file    string // expected database file
		err     string
	}{
		{name: "default in new data dir", dataDir: filepath.Join(dir, "data", "sub"), file: filepath.Join(dir, "data", "sub", "centrala.db")},
		{name: "sqlite absolute", url: "sqlite://" + filepath.Join(dir, "abs.db"), file: filepath.Join(dir, "abs.db")},
		{name: "sqlite relative", url: "sqlite://rel.db", file: filepath.Join(dir, "rel.db")},
		{name: "file uri", url: "file:" + filepath.Join(dir, "uri.db") + "?mode=rwc", file: filepath.Join(dir, "uri.db")},
		{name: "plain path", url: filepath.Join(dir, "plain.db"), file: filepath.Join(dir, "plain.db")},
		{name: "postgres", url: "postgres://u:p@localhost/centrala", err: "postgres support is not implemented yet"},
		{name: "postgresql", url: "postgresql://localhost/centrala", err: "postgres support is not implemented yet"},
		{name: "unknown scheme", url: "mysql://localhost/centrala", err: "unsupported database URL"},
		{name: "sqlite without path", url: "sqlite://", err: "no path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(ctx, tc.url, tc.dataDir)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			require.NoError(t, db.Ping(ctx))
			createUser(t, db, agent("ann", "100"))
			_, err = os.Stat(tc.file)
			require.NoError(t, err)
			if tc.dataDir != "" {
				fi, err := os.Stat(tc.dataDir)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
			}
		})
	}
}

func TestOpenInMemory(t *testing.T) {
	db, err := Open(context.Background(), "file:mem?mode=memory&cache=shared", "")
	require.NoError(t, err)
	defer db.Close()
	u := createUser(t, db, agent("ann", "100"))
	got, err := db.GetUser(context.Background(), u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)
}

func TestPragmas(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for _, pool := range []struct {
		name      string
		db        *sql.DB
		queryOnly string
	}{{"writer", db.w.DB, "0"}, {"reader", db.r.DB, "1"}} {
		t.Run(pool.name, func(t *testing.T) {
			for name, want := range map[string]string{
				"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "query_only": pool.queryOnly,
			} {
				var got string
				require.NoError(t, pool.db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got), name)
				require.Equal(t, want, got, name)
			}
		})
	}
	_, err := db.r.ExecContext(ctx, `DELETE FROM users`)
	require.Error(t, err, "reader pool must be read-only")
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	files, err := migrations.ReadDir("migrations")
	require.NoError(t, err)
	var ids []int64
	for i := range 3 {
		db, err := Open(ctx, "", dir)
		require.NoError(t, err, "open %d", i)
		var applied int
		require.NoError(t, db.SQL().QueryRowContext(ctx,
			`SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied))
		require.Equal(t, len(files), applied)
		u := createUser(t, db, agent(fmt.Sprintf("user%d", i), fmt.Sprintf("10%d", i)))
		ids = append(ids, u.ID)
		users, err := db.ListUsers(ctx, true)
		require.NoError(t, err)
		require.Len(t, users, i+1, "data survives reopening")
		require.NoError(t, db.Close())
	}
	require.Equal(t, []int64{1, 2, 3}, ids)
}

func TestUserLifecycle(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()

	in := User{Login: "ann", Role: RoleSupervisor, FirstName: "Ann", LastName: "Lee", Email: "ann@example.com",
		Extension: "101", AgentNumber: "A7", Department: "Sales", DefaultCLIP: "+3612345678",
		IdleTimeout: 300, PhoneType: "softphone", IsAgent: true, MayDialAny: true,
		ID: 99, CreatedAt: time.Unix(1, 0)} // ignored
	before := time.Now().Add(-time.Second)
	u, err := db.CreateUser(ctx, in, "hash1")
	require.NoError(t, err)
	require.NotZero(t, u.ID)
	require.NotEqual(t, int64(99), u.ID)
	requireUTC(t, u.CreatedAt, u.UpdatedAt)
	require.WithinRange(t, u.CreatedAt, before, time.Now().Add(time.Second))
	require.Equal(t, u.CreatedAt, u.UpdatedAt)
	require.Nil(t, u.ArchivedAt)
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = u.ID, u.CreatedAt, u.UpdatedAt
	require.Equal(t, want, u)

	got, err := db.GetUser(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)

	cu, hash, err := db.UserCredentials(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, u, cu)
	require.Equal(t, "hash1", hash)
	require.NoError(t, db.SetUserPassword(ctx, u.ID, "hash2"))
	_, hash, err = db.UserCredentials(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, "hash2", hash)

	time.Sleep(2 * time.Millisecond)
	upd := User{ID: u.ID, Login: "ann.lee", Role: RoleAdmin, FirstName: "Anna", LastName: "Leigh",
		Email: "anna@example.com", Extension: "102", AgentNumber: "", Department: "Support",
		DefaultCLIP: "+3687654321", IdleTimeout: 0, PhoneType: "none", IsAgent: false, MayDialAny: false}
	u2, err := db.UpdateUser(ctx, upd)
	require.NoError(t, err)
	require.Equal(t, u.CreatedAt, u2.CreatedAt)
	require.True(t, u2.UpdatedAt.After(u.UpdatedAt))
	want = upd
	want.CreatedAt, want.UpdatedAt = u2.CreatedAt, u2.UpdatedAt
	require.Equal(t, want, u2)
	got, err = db.GetUser(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u2, got)
	_, _, err = db.UserCredentials(ctx, "ann")
	require.ErrorIs(t, err, ErrNotFound, "old login is gone")

	bob := createUser(t, db, agent("bob", "200"))
	n, err := db.CountUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	archived, err := db.ArchiveUser(ctx, bob.ID)
	require.NoError(t, err)
	require.NotNil(t, archived.ArchivedAt)
	requireUTC(t, *archived.ArchivedAt)
	again, err := db.ArchiveUser(ctx, bob.ID)
	require.NoError(t, err, "archiving is idempotent")
	require.Equal(t, archived, again)

	active, err := db.ListUsers(ctx, false)
	require.NoError(t, err)
	require.Equal(t, []User{u2}, active)
	all, err := db.ListUsers(ctx, true)
	require.NoError(t, err)
	require.Equal(t, []User{u2, archived}, all)
	n, err = db.CountUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "archived users count")
	cu, _, err = db.UserCredentials(ctx, "bob")
	require.NoError(t, err)
	require.NotNil(t, cu.ArchivedAt, "credentials of an archived user show it archived")

	require.NoError(t, db.DeleteUser(ctx, bob.ID))
	_, err = db.GetUser(ctx, bob.ID)
	require.ErrorIs(t, err, ErrNotFound)
	all, err = db.ListUsers(ctx, true)
	require.NoError(t, err)
	require.Equal(t, []User{u2}, all)
}

func TestListEmpty(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	users, err := db.ListUsers(ctx, true)
	require.NoError(t, err)
	require.NotNil(t, users)
	require.Empty(t, users)
	accounts, err := db.ListAllSIPAccounts(ctx)
	require.NoError(t, err)
	require.NotNil(t, accounts)
	require.Empty(t, accounts)
}

func TestNotFound(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	const missing = 42
	for name, call := range map[string]func() error{
		"GetUser":          func() error { _, err := db.GetUser(ctx, missing); return err },
		"UpdateUser":       func() error { _, err := db.UpdateUser(ctx, agent("x", "1")); return err },
		"SetUserPassword":  func() error { return db.SetUserPassword(ctx, missing, "h") },
		"ArchiveUser":      func() error { _, err := db.ArchiveUser(ctx, missing); return err },
		"DeleteUser":       func() error { return db.DeleteUser(ctx, missing) },
		"UserCredentials":  func() error { _, _, err := db.UserCredentials(ctx, "nobody"); return err },
		"GetSIPAccount":    func() error { _, err := db.GetSIPAccount(ctx, missing); return err },
		"UpdateSIPAccount": func() error { _, err := db.UpdateSIPAccount(ctx, SIPAccount{ID: missing, MaxContacts: 1}); return err },
		"DeleteSIPAccount": func() error { return db.DeleteSIPAccount(ctx, missing) },
		"AuthAccount":      func() error { _, err := db.AuthAccount(ctx, "nobody"); return err },
		"CreateSIPAccount for missing user": func() error {
			_, err := db.CreateSIPAccount(ctx, SIPAccount{UserID: missing, Username: "x", Kind: "desk", MaxContacts: 1})
			return err
		},
		"CreateToken for missing user": func() error { _, err := db.CreateToken(ctx, missing, "t", "h", nil); return err },
		"TokenUser":                    func() error { _, err := db.TokenUser(ctx, "nohash", time.Now()); return err },
		"DeleteToken":                  func() error { return db.DeleteToken(ctx, missing) },
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(), ErrNotFound)
		})
	}
	accounts, err := db.ListSIPAccounts(ctx, missing)
	require.NoError(t, err)
	require.Empty(t, accounts)
}

func TestConflicts(t *testing.T) {
	ctx := context.Background()
	base := User{Login: "ann", Role: RoleAgent, FirstName: "Ann", LastName: "Lee", Extension: "100",
		AgentNumber: "A1", PhoneType: "desk"}
	other := User{Login: "bob", Role: RoleAgent, FirstName: "Bob", LastName: "Kay", Extension: "200",
		AgentNumber: "B1", PhoneType: "desk"}
	tests := []struct {
		name  string
		edit  func(u *User) // makes other collide with base
		field string
	}{
		{"login", func(u *User) { u.Login = "ann" }, "login"},
		{"extension", func(u *User) { u.Extension = "100" }, "extension"},
		{"agent number", func(u *User) { u.AgentNumber = "A1" }, "agent_number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			createUser(t, db, base)
			u := other
			tc.edit(&u)

			_, err := db.CreateUser(ctx, u, "h")
			requireConflict(t, err, tc.field)

			bob := createUser(t, db, other)
			u.ID = bob.ID
			_, err = db.UpdateUser(ctx, u)
			requireConflict(t, err, tc.field)
			got, err := db.GetUser(ctx, bob.ID)
			require.NoError(t, err)
			require.Equal(t, bob, got, "a failed update changes nothing")
		})
	}

	t.Run("sip username across users", func(t *testing.T) {
		db := openTest(t)
		ann := createUser(t, db, base)
		bob := createUser(t, db, other)
		createAccount(t, db, ann.ID, "ann-desk")
		_, err := db.CreateSIPAccount(ctx, SIPAccount{UserID: bob.ID, Username: "ann-desk", Kind: "desk", MaxContacts: 1})
		requireConflict(t, err, "username")
		_, err = db.CreateSIPAccount(ctx, SIPAccount{UserID: ann.ID, Username: "ann-desk", Kind: "mobile", MaxContacts: 1})
		requireConflict(t, err, "username")
	})

	t.Run("token hash", func(t *testing.T) {
		db := openTest(t)
		ann := createUser(t, db, base)
		_, err := db.CreateToken(ctx, ann.ID, "a", "same", nil)
		require.NoError(t, err)
		_, err = db.CreateToken(ctx, ann.ID, "b", "same", nil)
		require.ErrorIs(t, err, ErrConflict)
	})
}

func TestEmptyExtensionAndAgentNumberMayRepeat(t *testing.T) {
	db := openTest(t)
	for _, login := range []string{"admin", "crm1", "crm2"} {
		u := createUser(t, db, User{Login: login, Role: RoleAdmin, FirstName: "A", LastName: "B", PhoneType: "none"})
		require.Empty(t, u.Extension)
		require.Empty(t, u.AgentNumber)
	}
}

func TestArchiveFreesExtensionAndAgentNumber(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	old := agent("ann", "100")
	old.AgentNumber = "A1"
	ann := createUser(t, db, old)
	_, err := db.ArchiveUser(ctx, ann.ID)
	require.NoError(t, err)

	successor := agent("bob", "100")
	successor.AgentNumber = "A1"
	bob := createUser(t, db, successor)
	require.Equal(t, "100", bob.Extension)

	// The login stays taken: archived users keep their history under it.
	_, err = db.CreateUser(ctx, agent("ann", "101"), "h")
	requireConflict(t, err, "login")
	// And the newcomer owns the extension now.
	_, err = db.CreateUser(ctx, agent("cat", "100"), "h")
	requireConflict(t, err, "extension")
	// Archiving the second holder too leaves two archived users with the same extension.
	_, err = db.ArchiveUser(ctx, bob.ID)
	require.NoError(t, err)
	createUser(t, db, agent("dan", "100"))
}

func TestCheckConstraints(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	u := agent("ann", "100")
	u.Role = "root"
	_, err := db.CreateUser(ctx, u, "h")
	require.ErrorContains(t, err, "CHECK constraint failed")
	require.NotErrorIs(t, err, ErrConflict)

	ann := createUser(t, db, agent("ann", "100"))
	_, err = db.CreateSIPAccount(ctx, SIPAccount{UserID: ann.ID, Username: "ann", Kind: "desk", MaxContacts: 0})
	require.ErrorContains(t, err, "CHECK constraint failed")
	a := createAccount(t, db, ann.ID, "ann")
	a.MaxContacts = 0
	_, err = db.UpdateSIPAccount(ctx, a)
	require.ErrorContains(t, err, "CHECK constraint failed")
}

func TestSIPAccounts(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	ann := createUser(t, db, agent("ann", "100"))
	bob := createUser(t, db, agent("bob", "200"))

	in := SIPAccount{UserID: ann.ID, Username: "ann-desk", Kind: "desk", MaxContacts: 2, OutboundBlocked: true,
		Realm: "centrala", HA1MD5: "m1", HA1SHA256: "s1"}
	desk, err := db.CreateSIPAccount(ctx, in)
	require.NoError(t, err)
	requireUTC(t, desk.CreatedAt, desk.UpdatedAt)
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = desk.ID, desk.CreatedAt, desk.UpdatedAt
	require.Equal(t, want, desk)
	got, err := db.GetSIPAccount(ctx, desk.ID)
	require.NoError(t, err)
	require.Equal(t, desk, got)

	mobile := createAccount(t, db, ann.ID, "ann-mobile")
	bobs := createAccount(t, db, bob.ID, "bob")
	list, err := db.ListSIPAccounts(ctx, ann.ID)
	require.NoError(t, err)
	require.Equal(t, []SIPAccount{desk, mobile}, list)
	all, err := db.ListAllSIPAccounts(ctx)
	require.NoError(t, err)
	require.Equal(t, []SIPAccount{desk, mobile, bobs}, all)

	time.Sleep(2 * time.Millisecond)
	upd := desk
	upd.Kind, upd.MaxContacts, upd.OutboundBlocked = "softphone", 5, false
	upd.Realm, upd.HA1MD5, upd.HA1SHA256 = "pbx.example.com", "m2", "s2"
	upd.Username, upd.UserID = "renamed", bob.ID // fixed: ignored
	updated, err := db.UpdateSIPAccount(ctx, upd)
	require.NoError(t, err)
	require.True(t, updated.UpdatedAt.After(desk.UpdatedAt))
	want = upd
	want.Username, want.UserID, want.UpdatedAt = desk.Username, desk.UserID, updated.UpdatedAt
	require.Equal(t, want, updated)
	got, err = db.GetSIPAccount(ctx, desk.ID)
	require.NoError(t, err)
	require.Equal(t, updated, got)

	require.NoError(t, db.DeleteSIPAccount(ctx, mobile.ID))
	_, err = db.GetSIPAccount(ctx, mobile.ID)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, db.DeleteSIPAccount(ctx, mobile.ID), ErrNotFound)
	// The username is free again.
	createAccount(t, db, bob.ID, "ann-mobile")
}

func TestAuthAccount(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	ann := createUser(t, db, agent("ann", "100"))
	a := createAccount(t, db, ann.ID, "ann-desk")

	acct, err := db.AuthAccount(ctx, "ann-desk")
	require.NoError(t, err)
	require.Equal(t, AuthAccount{SIPAccount: a, UserArchived: false}, acct)
	_, err = db.AuthAccount(ctx, "ANN-DESK")
	require.ErrorIs(t, err, ErrNotFound, "usernames are case-sensitive")

	_, err = db.ArchiveUser(ctx, ann.ID)
	require.NoError(t, err)
	acct, err = db.AuthAccount(ctx, "ann-desk")
	require.NoError(t, err)
	require.Equal(t, AuthAccount{SIPAccount: a, UserArchived: true}, acct)

	var plan string
	rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+authAccountQuery, "ann-desk")
	require.NoError(t, err)
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		plan += detail + "\n"
	}
	require.NoError(t, rows.Err())
	require.Contains(t, plan, "sip_accounts_username_key")
	require.NotContains(t, plan, "SCAN", "no table scan on the REGISTER path")
}

func TestDeleteUserCascades(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	ann := createUser(t, db, agent("ann", "100"))
	bob := createUser(t, db, agent("bob", "200"))
	a1 := createAccount(t, db, ann.ID, "ann-desk")
	a2 := createAccount(t, db, ann.ID, "ann-mobile")
	createAccount(t, db, bob.ID, "bob")
	tok, err := db.CreateToken(ctx, ann.ID, "cli", "ann-token", nil)
	require.NoError(t, err)
	_, err = db.CreateToken(ctx, bob.ID, "cli", "bob-token", nil)
	require.NoError(t, err)

	require.NoError(t, db.DeleteUser(ctx, ann.ID))
	for _, id := range []int64{a1.ID, a2.ID} {
		_, err := db.GetSIPAccount(ctx, id)
		require.ErrorIs(t, err, ErrNotFound)
	}
	_, err = db.AuthAccount(ctx, "ann-desk")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = db.TokenUser(ctx, "ann-token", time.Now())
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, db.DeleteToken(ctx, tok.ID), ErrNotFound, "the token row is gone")

	all, err := db.ListAllSIPAccounts(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1, "other users keep theirs")
	_, err = db.TokenUser(ctx, "bob-token", time.Now())
	require.NoError(t, err)
	require.ErrorIs(t, db.DeleteUser(ctx, ann.ID), ErrNotFound)
}

func TestTokens(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	ann := createUser(t, db, agent("ann", "100"))
	bob := createUser(t, db, agent("bob", "200"))
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }

	forever, err := db.CreateToken(ctx, ann.ID, "forever", "h-forever", nil)
	require.NoError(t, err)
	require.NotZero(t, forever.ID)
	require.Equal(t, ann.ID, forever.UserID)
	require.Equal(t, "forever", forever.Name)
	require.Nil(t, forever.ExpiresAt)
	requireUTC(t, forever.CreatedAt)

	local := time.FixedZone("CET", 3600)
	hour, err := db.CreateToken(ctx, ann.ID, "hour", "h-hour", func() *time.Time { t := now.Add(time.Hour).In(local); return &t }())
	require.NoError(t, err)
	require.NotNil(t, hour.ExpiresAt)
	require.Equal(t, *at(time.Hour), *hour.ExpiresAt, "stored and returned in UTC")
	requireUTC(t, *hour.ExpiresAt)

	_, err = db.CreateToken(ctx, bob.ID, "bob", "h-bob", at(time.Hour))
	require.NoError(t, err)

	tests := []struct {
		name string
		hash string
		now  time.Time
		want int64 // user id; 0 = ErrNotFound
	}{
		{"no expiry", "h-forever", now.AddDate(50, 0, 0), ann.ID},
		{"before expiry", "h-hour", now.Add(59 * time.Minute), ann.ID},
		{"just before expiry", "h-hour", now.Add(time.Hour - time.Millisecond), ann.ID},
		{"at expiry", "h-hour", now.Add(time.Hour), 0},
		{"after expiry", "h-hour", now.Add(2 * time.Hour), 0},
		{"other user", "h-bob", now, bob.ID},
		{"unknown", "h-nope", now, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := db.TokenUser(ctx, tc.hash, tc.now)
			if tc.want == 0 {
				require.ErrorIs(t, err, ErrNotFound)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, u.ID)
		})
	}

	u, err := db.TokenUser(ctx, "h-forever", now)
	require.NoError(t, err)
	require.Equal(t, ann, u)

	_, err = db.ArchiveUser(ctx, ann.ID)
	require.NoError(t, err)
	_, err = db.TokenUser(ctx, "h-forever", now)
	require.ErrorIs(t, err, ErrNotFound, "archived users' tokens stop working")

	require.NoError(t, db.DeleteToken(ctx, forever.ID))
	require.ErrorIs(t, db.DeleteToken(ctx, forever.ID), ErrNotFound)
}

func TestConcurrentWriters(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	const workers, each = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				u, err := db.CreateUser(ctx, agent(fmt.Sprintf("u%d", n), fmt.Sprintf("%04d", n)), "h")
				if err != nil {
					errs <- err
					continue
				}
				if _, err := db.CreateSIPAccount(ctx, SIPAccount{UserID: u.ID, Username: fmt.Sprintf("s%d", n),
					Kind: "desk", MaxContacts: 1}); err != nil {
					errs <- err
				}
				if _, err := db.GetUser(ctx, u.ID); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := db.CountUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, workers*each, n)
}

// Two stores on one file, as two processes would be: SQLite's own locking and the busy
// timeout must keep both writing.
func TestConcurrentStoresOnOneFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var dbs []*DB
	for range 2 {
		db, err := Open(ctx, "", dir)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 10 {
		db := dbs[w%2]
		wg.Go(func() {
			for i := range 10 {
				n := w*10 + i
				if _, err := db.CreateUser(ctx, agent(fmt.Sprintf("u%d", n), fmt.Sprintf("%04d", n)), "h"); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := dbs[0].CountUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, n)
}

func TestDBErr(t *testing.T) {
	require.NoError(t, dbErr(nil, "x"))
	require.ErrorIs(t, dbErr(sql.ErrNoRows, "x"), ErrNotFound)
	other := errors.New("disk on fire")
	require.ErrorIs(t, dbErr(other, "x"), other)
	require.True(t, containsWord("UNIQUE constraint failed: users.login (2067)", "users.login"))
	require.True(t, containsWord("UNIQUE constraint failed: users.login", "users.login"))
	require.False(t, containsWord("UNIQUE constraint failed: users.login_name", "users.login"))
}

func BenchmarkAuthAccount(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	for i := range 1000 {
		u, err := db.CreateUser(ctx, agent(fmt.Sprintf("u%d", i), fmt.Sprintf("%04d", i)), "h")
		require.NoError(b, err)
		_, err = db.CreateSIPAccount(ctx, SIPAccount{UserID: u.ID, Username: fmt.Sprintf("s%d", i), Kind: "desk", MaxContacts: 1})
		require.NoError(b, err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := db.AuthAccount(ctx, fmt.Sprintf("s%d", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Several processes starting at once on a new data directory: one applies the migrations,
// the others wait for it or find them applied.
func TestConcurrentOpenOfNewFile(t *testing.T) {
	if testing.Short() {
		t.Skip("goose retries the version table after 1s")
	}
	for range 3 {
		dir := t.TempDir()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				db, err := Open(context.Background(), "", dir)
				if err != nil {
					errs <- err
					return
				}
				errs <- db.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
}
