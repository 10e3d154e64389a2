package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

var userColumns = []string{"id", "login", "role", "first_name", "last_name", "email", "extension",
	"agent_number", "department", "default_clip", "idle_timeout", "phone_type", "is_agent",
	"may_dial_any", "archived_at", "created_at", "updated_at"}

// userCols lists the user columns for scanUser, each prefixed with prefix ("" or "u.").
func userCols(prefix string) string {
	return prefix + strings.Join(userColumns, ", "+prefix)
}

func scanUser(row rowScanner, extra ...any) (User, error) {
	var (
		u                      User
		extension, agentNumber sql.NullString
		archived               sql.NullInt64
		createdAt, updatedAt   int64
		role                   string
	)
	dest := append([]any{&u.ID, &u.Login, &role, &u.FirstName, &u.LastName, &u.Email, &extension,
		&agentNumber, &u.Department, &u.DefaultCLIP, &u.IdleTimeout, &u.PhoneType, &u.IsAgent,
		&u.MayDialAny, &archived, &createdAt, &updatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.Extension, u.AgentNumber = extension.String, agentNumber.String
	u.ArchivedAt = fromNullMillis(archived)
	u.CreatedAt, u.UpdatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	return u, nil
}

// CreateUser inserts u (its ID, ArchivedAt and times are ignored) with the password hash and
// returns it as stored.
func (db *DB) CreateUser(ctx context.Context, u User, passwordHash string) (User, error) {
	t := millis(now())
	row := db.w.QueryRowContext(ctx, `INSERT INTO users (login, password_hash, role, first_name,
		last_name, email, extension, agent_number, department, default_clip, idle_timeout,
		phone_type, is_agent, may_dial_any, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+userCols(""),
		u.Login, passwordHash, string(u.Role), u.FirstName, u.LastName, u.Email,
		nullString(u.Extension), nullString(u.AgentNumber), u.Department, u.DefaultCLIP,
		u.IdleTimeout, u.PhoneType, u.IsAgent, u.MayDialAny, t, t)
	created, err := scanUser(row)
	return created, dbErr(err, "create user")
}

// GetUser returns the user with the id, archived or not.
func (db *DB) GetUser(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols("")+` FROM users WHERE id = ?`, id))
	return u, dbErr(err, fmt.Sprintf("user %d", id))
}

// UserByExtension returns the user (not archived) with the internal number.
func (db *DB) UserByExtension(ctx context.Context, ext string) (User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx,
		`SELECT `+userCols("")+` FROM users WHERE extension = ? AND archived_at IS NULL`, ext))
	return u, dbErr(err, "user with extension "+ext)
}

// ListUsers returns the users ordered by id, the archived ones only when asked.
func (db *DB) ListUsers(ctx context.Context, includeArchived bool) ([]User, error) {
	q := `SELECT ` + userCols("") + ` FROM users`
	if !includeArchived {
		q += ` WHERE archived_at IS NULL`
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, dbErr(err, "list users")
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, dbErr(err, "list users")
		}
		users = append(users, u)
	}
	return users, dbErr(rows.Err(), "list users")
}

// UpdateUser writes every mutable field of u (all but ID, ArchivedAt and the times) to the
// user with u.ID and returns it as stored.
func (db *DB) UpdateUser(ctx context.Context, u User) (User, error) {
	row := db.w.QueryRowContext(ctx, `UPDATE users SET login = ?, role = ?, first_name = ?,
		last_name = ?, email = ?, extension = ?, agent_number = ?, department = ?,
		default_clip = ?, idle_timeout = ?, phone_type = ?, is_agent = ?, may_dial_any = ?,
		updated_at = ?
		WHERE id = ? RETURNING `+userCols(""),
		u.Login, string(u.Role), u.FirstName, u.LastName, u.Email, nullString(u.Extension),
		nullString(u.AgentNumber), u.Department, u.DefaultCLIP, u.IdleTimeout, u.PhoneType,
		u.IsAgent, u.MayDialAny, millis(now()), u.ID)
	updated, err := scanUser(row)
	return updated, dbErr(err, fmt.Sprintf("update user %d", u.ID))
}

// SetUserPassword replaces the password hash of the user.
func (db *DB) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	res, err := db.w.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
		passwordHash, millis(now()), id)
	return affected(res, err, fmt.Sprintf("set password of user %d", id))
}

// ArchiveUser marks the user archived: it keeps its history but can no longer register, be
// called or use its tokens, and its extension and agent number are free for others.
// Archiving an archived user changes nothing and returns it.
func (db *DB) ArchiveUser(ctx context.Context, id int64) (User, error) {
	t := millis(now())
	row := db.w.QueryRowContext(ctx, `UPDATE users
		SET archived_at = COALESCE(archived_at, ?),
			updated_at = CASE WHEN archived_at IS NULL THEN ? ELSE updated_at END
		WHERE id = ? RETURNING `+userCols(""), t, t, id)
	u, err := scanUser(row)
	return u, dbErr(err, fmt.Sprintf("archive user %d", id))
}

// DeleteUser removes the user for good, with its SIP accounts and tokens.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete user %d", id))
}

// UserCredentials returns the user with the login (archived or not: the caller refuses
// archived users) and its password hash.
func (db *DB) UserCredentials(ctx context.Context, login string) (User, string, error) {
	var hash string
	u, err := scanUser(db.r.QueryRowContext(ctx,
		`SELECT `+userCols("")+`, password_hash FROM users WHERE login = ?`, login), &hash)
	if err != nil {
		return User{}, "", dbErr(err, "user credentials")
	}
	return u, hash, nil
}

// CountUsers counts all users, archived ones included.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, dbErr(err, "count users")
}

// affected turns an Exec that touched no row into ErrNotFound.
func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return dbErr(err, what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(err, what)
	}
	if n == 0 {
		return dbErr(sql.ErrNoRows, what)
	}
	return nil
}
