-- Users, their SIP accounts and their API tokens.
--
-- Portable SQL on purpose (TEXT, BIGINT, BOOLEAN, CHECK, partial unique indexes), so the
-- PostgreSQL migrations can follow this one with only the id columns changed. Times are
-- BIGINT milliseconds since the Unix epoch, UTC. Unique indexes are named <table>_<column>_key:
-- the store maps a violation of each to the field it names.

-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    login         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    email         TEXT    NOT NULL DEFAULT '',
    extension     TEXT,             -- NULL when the user has none (phone_type none)
    agent_number  TEXT,             -- NULL when the user has none
    department    TEXT    NOT NULL DEFAULT '',
    default_clip  TEXT    NOT NULL DEFAULT '',
    idle_timeout  INTEGER NOT NULL DEFAULT 0,
    phone_type    TEXT    NOT NULL DEFAULT 'none',
    is_agent      BOOLEAN NOT NULL DEFAULT FALSE,
    may_dial_any  BOOLEAN NOT NULL DEFAULT FALSE,
    archived_at   BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE UNIQUE INDEX users_login_key ON users (login);
-- An archived user keeps history but frees its extension and agent number.
CREATE UNIQUE INDEX users_extension_key ON users (extension) WHERE archived_at IS NULL;
CREATE UNIQUE INDEX users_agent_number_key ON users (agent_number) WHERE archived_at IS NULL;

CREATE TABLE sip_accounts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    username         TEXT    NOT NULL,
    kind             TEXT    NOT NULL DEFAULT 'desk',
    max_contacts     INTEGER NOT NULL DEFAULT 1 CHECK (max_contacts >= 1),
    outbound_blocked BOOLEAN NOT NULL DEFAULT FALSE,
    realm            TEXT    NOT NULL DEFAULT '',
    ha1_md5          TEXT    NOT NULL DEFAULT '',
    ha1_sha256       TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX sip_accounts_username_key ON sip_accounts (username);
CREATE INDEX sip_accounts_user_id_idx ON sip_accounts (user_id);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL DEFAULT '',
    token_hash TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE UNIQUE INDEX tokens_token_hash_key ON tokens (token_hash);
CREATE INDEX tokens_user_id_idx ON tokens (user_id);

-- +goose Down
DROP TABLE tokens;
DROP TABLE sip_accounts;
DROP TABLE users;
