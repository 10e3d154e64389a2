package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// tokenUserQuery finds the live user of a live token: unknown, expired and archived are all
// no rows.
var tokenUserQuery = `SELECT ` + userCols("u.") + `
	FROM tokens t JOIN users u ON u.id = t.user_id
	WHERE t.token_hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.archived_at IS NULL`

// CreateToken stores the SHA-256 (tokenHash) of a new API token of the user, valid until
// expiresAt or, when nil, until deleted. A missing user is ErrNotFound.
func (db *DB) CreateToken(ctx context.Context, userID int64, name, tokenHash string, expiresAt *time.Time) (Token, error) {
	var (
		tok       = Token{UserID: userID, Name: name, CreatedAt: now()}
		expires   = nullMillis(expiresAt)
		expiresMs sql.NullInt64
	)
	err := db.w.QueryRowContext(ctx, `INSERT INTO tokens (user_id, name, token_hash, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id, expires_at`,
		userID, name, tokenHash, millis(tok.CreatedAt), expires).Scan(&tok.ID, &expiresMs)
	if err != nil {
		return Token{}, dbErr(err, fmt.Sprintf("create token of user %d", userID))
	}
	tok.ExpiresAt = fromNullMillis(expiresMs)
	return tok, nil
}

// TokenUser returns the user of the token with the hash if the token has not expired at now
// and the user is not archived; otherwise ErrNotFound.
func (db *DB) TokenUser(ctx context.Context, tokenHash string, now time.Time) (User, error) {
	u, err := scanUser(db.tokenUser.QueryRowContext(ctx, tokenHash, millis(now)))
	return u, dbErr(err, "token")
}

// DeleteToken removes the token.
func (db *DB) DeleteToken(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM tokens WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete token %d", id))
}
