-- Call detail records (package cdr): one row per call in cdrs, one per SIP dialog in cdr_legs.
--
-- A row is written when the call starts and completed when it ends; ended_at IS NULL marks a
-- live call (or one a crash left open, which the next start closes). Times are BIGINT
-- milliseconds since the Unix epoch, UTC; durations whole seconds. user_id and trunk_id have
-- no foreign keys on purpose: a record is history and must be written even if the user or
-- trunk went a moment before, and it keeps the id after they are deleted.

-- +goose Up
CREATE TABLE cdrs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    node        TEXT    NOT NULL DEFAULT '',  -- the node that carried the call
    call_id     TEXT    NOT NULL DEFAULT '',  -- SIP Call-ID of the first leg
    direction   TEXT    NOT NULL CHECK (direction IN ('internal', 'inbound', 'outbound')),
    caller      TEXT    NOT NULL DEFAULT '',
    callee      TEXT    NOT NULL DEFAULT '',
    did         TEXT    NOT NULL DEFAULT '',
    clip        TEXT,                         -- NULL when withheld
    trunk_id    BIGINT,
    user_id     BIGINT,
    started_at  BIGINT  NOT NULL,
    answered_at BIGINT,
    ended_at    BIGINT,                       -- NULL while live
    duration_s  BIGINT  NOT NULL DEFAULT 0,
    billsec_s   BIGINT  NOT NULL DEFAULT 0,
    disposition TEXT    CHECK (disposition IN ('answered', 'no_answer', 'busy', 'failed', 'cancelled', 'rejected')),
    sip_code    INTEGER NOT NULL DEFAULT 0,
    sip_reason  TEXT    NOT NULL DEFAULT '',
    hangup_by   TEXT    CHECK (hangup_by IN ('caller', 'callee', 'system')),
    CHECK ((ended_at IS NULL) = (disposition IS NULL) AND (ended_at IS NULL) = (hangup_by IS NULL))
);
-- Listing: newest first, by time range. Direction and disposition are few values each:
-- they filter the rows this index yields.
CREATE INDEX cdrs_started_at_idx ON cdrs (started_at, id);
CREATE INDEX cdrs_user_id_idx ON cdrs (user_id, started_at);
-- The number filter matches any of these four.
CREATE INDEX cdrs_caller_idx ON cdrs (caller);
CREATE INDEX cdrs_callee_idx ON cdrs (callee);
CREATE INDEX cdrs_did_idx ON cdrs (did);
CREATE INDEX cdrs_clip_idx ON cdrs (clip);
-- Recovery after a crash: the live records of a node.
CREATE INDEX cdrs_live_idx ON cdrs (node) WHERE ended_at IS NULL;

CREATE TABLE cdr_legs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cdr_id      BIGINT  NOT NULL REFERENCES cdrs (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,             -- caller, callee (more kinds may come: no CHECK)
    peer        TEXT    NOT NULL DEFAULT '',  -- SIP account username or trunk name
    user_id     BIGINT,
    trunk_id    BIGINT,
    call_id     TEXT    NOT NULL DEFAULT '',
    started_at  BIGINT  NOT NULL,
    answered_at BIGINT,
    ended_at    BIGINT,
    sip_code    INTEGER NOT NULL DEFAULT 0,
    sip_reason  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX cdr_legs_cdr_id_idx ON cdr_legs (cdr_id, id);
-- The user filter also finds the calls that rang a user's devices.
CREATE INDEX cdr_legs_user_id_idx ON cdr_legs (user_id);

-- +goose Down
DROP TABLE cdr_legs;
DROP TABLE cdrs;
