-- Queue statistics: each call's stays in call queues with the offers made to agents for them
-- (package cdr: Record.Queues, written with the end of the record), and the log of agent
-- state entries the agent statistics derive time in state from.
--
-- Times are BIGINT milliseconds since the Unix epoch, UTC, as in cdrs. queue_id, user_id and
-- answered_by have no foreign keys, like the user and trunk of a record: history is written
-- even if the queue or user went a moment before, and keeps the ids after they are deleted.
-- cdr_queue_offers repeats queue_id and the record's call_id so that an agent's offers are
-- read without joins.

-- +goose Up
CREATE TABLE cdr_queue_stays (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cdr_id      BIGINT  NOT NULL REFERENCES cdrs (id) ON DELETE CASCADE,
    queue_id    BIGINT  NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    joined_at   BIGINT  NOT NULL,
    left_at     BIGINT  NOT NULL,
    wait_ms     BIGINT  NOT NULL DEFAULT 0,
    exit        TEXT    NOT NULL CHECK (exit IN ('answered', 'abandoned', 'timeout', 'full', 'empty')),
    answered_by BIGINT,                       -- the agent's user id; NULL unless answered
    talk_ms     BIGINT  NOT NULL DEFAULT 0,
    wrap_up_ms  BIGINT  NOT NULL DEFAULT 0
);
-- Queue statistics: the calls that joined a queue in a range.
CREATE INDEX cdr_queue_stays_queue_idx ON cdr_queue_stays (queue_id, joined_at);
-- Reading records: the stays of a page of records.
CREATE INDEX cdr_queue_stays_cdr_id_idx ON cdr_queue_stays (cdr_id, id);
-- Agent statistics: the calls an agent answered, by when they left the queue.
CREATE INDEX cdr_queue_stays_answered_by_idx ON cdr_queue_stays (answered_by, left_at) WHERE answered_by IS NOT NULL;

CREATE TABLE cdr_queue_offers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stay_id     BIGINT  NOT NULL REFERENCES cdr_queue_stays (id) ON DELETE CASCADE,
    queue_id    BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL,
    call_id     TEXT    NOT NULL DEFAULT '',  -- the record's SIP Call-ID
    offered_at  BIGINT  NOT NULL,
    ring_ms     BIGINT  NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('answered', 'no_answer', 'rejected', 'failed', 'cancelled', 'lease_expired'))
);
CREATE INDEX cdr_queue_offers_stay_id_idx ON cdr_queue_offers (stay_id, id);
-- Agent statistics: an agent's offers in a range.
CREATE INDEX cdr_queue_offers_user_idx ON cdr_queue_offers (user_id, offered_at);

-- One row per state an agent entered: the state lasts from since to the next entry's since.
-- Every node logs the entries it sees (the settled agent before a change and the result
-- after it), so the same entry is often logged more than once: the unique key keeps one.
CREATE TABLE agent_state_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',  -- not_ready only
    since       BIGINT  NOT NULL,             -- entered the state
    by_whom     TEXT    NOT NULL DEFAULT '',  -- agent, supervisor, system
    logged_at   BIGINT  NOT NULL              -- when this node wrote it
);
CREATE UNIQUE INDEX agent_state_log_key ON agent_state_log (user_id, since, state);

-- +goose Down
DROP TABLE agent_state_log;
DROP TABLE cdr_queue_offers;
DROP TABLE cdr_queue_stays;
