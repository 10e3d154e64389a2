-- Inbound schemes (package routing): IVRs, ring groups and schedules, the prompts they play,
-- and the rest of a number's destination.
--
-- An IVR, ring group or schedule is its routing type as a JSON document (doc) without id and
-- name, which are columns: the routing package owns the shape and validates it (NewGraph),
-- so new settings need no migration. A prompt's audio is a file, <prompts dir>/<id>.wav
-- (8 kHz 16-bit mono); the row describes it.

-- +goose Up
CREATE TABLE ivrs (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	doc        TEXT    NOT NULL DEFAULT '{}',
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX ivrs_name_key ON ivrs (name);

CREATE TABLE ring_groups (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	doc        TEXT    NOT NULL DEFAULT '{}',
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX ring_groups_name_key ON ring_groups (name);

CREATE TABLE schedules (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	doc        TEXT    NOT NULL DEFAULT '{}',
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX schedules_name_key ON schedules (name);

CREATE TABLE prompts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	name        TEXT    NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	duration_ms BIGINT  NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
	size_bytes  BIGINT  NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
	converted   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX prompts_name_key ON prompts (name);

-- present: what an external destination presents ('' is the caller); then: the JSON
-- destination an announcement continues to (NULL: hang up after it).
ALTER TABLE numbers ADD COLUMN dest_present TEXT NOT NULL DEFAULT '';
ALTER TABLE numbers ADD COLUMN dest_then TEXT;

-- +goose Down
ALTER TABLE numbers DROP COLUMN dest_then;
ALTER TABLE numbers DROP COLUMN dest_present;
DROP TABLE prompts;
DROP TABLE schedules;
DROP TABLE ring_groups;
DROP TABLE ivrs;
