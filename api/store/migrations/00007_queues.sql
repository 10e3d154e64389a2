-- Call queues (package queue): a queue.Queue as a JSON document (doc) without id and name,
-- which are columns, like IVRs, ring groups and schedules. The members (agents with their
-- penalty and wrap-up override) are part of the document; agent state is not kept here
-- but in the queue store (in process or Redis).

-- +goose Up
CREATE TABLE queues (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	doc        TEXT    NOT NULL DEFAULT '{}',
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX queues_name_key ON queues (name);

-- +goose Down
DROP TABLE queues;
