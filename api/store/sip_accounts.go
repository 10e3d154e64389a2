package store

import (
	"context"
	"fmt"

	"github.com/centrala/centrala/routing"
)

const sipAccountCols = `id, user_id, username, kind, max_contacts, outbound_blocked, realm,
	ha1_md5, ha1_sha256, created_at, updated_at`

// authAccountQuery is the registrar's lookup: one probe of sip_accounts_username_key and one
// of the users primary key.
const authAccountQuery = `SELECT s.id, s.user_id, s.username, s.kind, s.max_contacts,
	s.outbound_blocked, s.realm, s.ha1_md5, s.ha1_sha256, s.created_at, s.updated_at,
	u.archived_at IS NOT NULL
	FROM sip_accounts s JOIN users u ON u.id = s.user_id
	WHERE s.username = ?`

func scanSIPAccount(row rowScanner, extra ...any) (SIPAccount, error) {
	var (
		a                    SIPAccount
		createdAt, updatedAt int64
	)
	dest := append([]any{&a.ID, &a.UserID, &a.Username, &a.Kind, &a.MaxContacts,
		&a.OutboundBlocked, &a.Realm, &a.HA1MD5, &a.HA1SHA256, &createdAt, &updatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return SIPAccount{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(createdAt), fromMillis(updatedAt)
	return a, nil
}

// CreateSIPAccount inserts a (its ID and times are ignored) and returns it as stored. A
// missing user is ErrNotFound; a username in use (by any user) a *ConflictError.
func (db *DB) CreateSIPAccount(ctx context.Context, a SIPAccount) (SIPAccount, error) {
	t := millis(now())
	row := db.w.QueryRowContext(ctx, `INSERT INTO sip_accounts (user_id, username, kind,
		max_contacts, outbound_blocked, realm, ha1_md5, ha1_sha256, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+sipAccountCols,
		a.UserID, a.Username, a.Kind, a.MaxContacts, a.OutboundBlocked, a.Realm, a.HA1MD5,
		a.HA1SHA256, t, t)
	created, err := scanSIPAccount(row)
	return created, dbErr(err, "create sip account")
}

// GetSIPAccount returns the SIP account with the id.
func (db *DB) GetSIPAccount(ctx context.Context, id int64) (SIPAccount, error) {
	a, err := scanSIPAccount(db.r.QueryRowContext(ctx,
		`SELECT `+sipAccountCols+` FROM sip_accounts WHERE id = ?`, id))
	return a, dbErr(err, fmt.Sprintf("sip account %d", id))
}

// ListSIPAccounts returns the SIP accounts of the user ordered by id (none for an unknown
// user).
func (db *DB) ListSIPAccounts(ctx context.Context, userID int64) ([]SIPAccount, error) {
	return db.listSIPAccounts(ctx, `SELECT `+sipAccountCols+` FROM sip_accounts
		WHERE user_id = ? ORDER BY id`, userID)
}

// ListAllSIPAccounts returns every SIP account ordered by id.
func (db *DB) ListAllSIPAccounts(ctx context.Context) ([]SIPAccount, error) {
	return db.listSIPAccounts(ctx, `SELECT `+sipAccountCols+` FROM sip_accounts ORDER BY id`)
}

func (db *DB) listSIPAccounts(ctx context.Context, q string, args ...any) ([]SIPAccount, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err, "list sip accounts")
	}
	defer rows.Close()
	accounts := []SIPAccount{}
	for rows.Next() {
		a, err := scanSIPAccount(rows)
		if err != nil {
			return nil, dbErr(err, "list sip accounts")
		}
		accounts = append(accounts, a)
	}
	return accounts, dbErr(rows.Err(), "list sip accounts")
}

// UpdateSIPAccount writes the kind, max contacts, outbound block, realm and both HA1s of a to
// the account with a.ID and returns it as stored. The username and user are fixed: the HA1s
// are hashed with the username, so a new name is a new account.
func (db *DB) UpdateSIPAccount(ctx context.Context, a SIPAccount) (SIPAccount, error) {
	row := db.w.QueryRowContext(ctx, `UPDATE sip_accounts SET kind = ?, max_contacts = ?,
		outbound_blocked = ?, realm = ?, ha1_md5 = ?, ha1_sha256 = ?, updated_at = ?
		WHERE id = ? RETURNING `+sipAccountCols,
		a.Kind, a.MaxContacts, a.OutboundBlocked, a.Realm, a.HA1MD5, a.HA1SHA256, millis(now()), a.ID)
	updated, err := scanSIPAccount(row)
	return updated, dbErr(err, fmt.Sprintf("update sip account %d", a.ID))
}

// DeleteSIPAccount removes the SIP account.
func (db *DB) DeleteSIPAccount(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sip_accounts WHERE id = ?`, id)
	return affected(res, err, fmt.Sprintf("delete sip account %d", id))
}

// AuthAccount returns the SIP account with the username joined with its user, for the
// registrar's digest check. UserArchived is set when its user is archived.
func (db *DB) AuthAccount(ctx context.Context, username string) (AuthAccount, error) {
	var acct AuthAccount
	a, err := scanSIPAccount(db.authAccount.QueryRowContext(ctx, username), &acct.UserArchived)
	if err != nil {
		return AuthAccount{}, dbErr(err, "sip account "+username)
	}
	acct.SIPAccount = a
	return acct, nil
}

// RoutingCaller describes the SIP account's user as the outbound rules see a caller, with
// the account (whose UserArchived the caller checks). ErrNotFound when either is missing.
func (db *DB) RoutingCaller(ctx context.Context, username string) (routing.Caller, AuthAccount, error) {
	acct, err := db.AuthAccount(ctx, username)
	if err != nil {
		return routing.Caller{}, acct, err
	}
	u, err := db.GetUser(ctx, acct.UserID)
	if err != nil {
		return routing.Caller{}, acct, err
	}
	return routing.Caller{Account: acct.Username, UserID: u.ID, Department: u.Department,
		DefaultCLIP: u.DefaultCLIP, MayDialAny: u.MayDialAny, OutboundBlocked: acct.OutboundBlocked}, acct, nil
}
