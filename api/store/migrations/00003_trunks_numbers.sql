-- +goose Up
CREATE TABLE trunks (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	name             TEXT    NOT NULL,
	kind             TEXT    NOT NULL CHECK (kind IN ('register', 'ip')),
	host             TEXT    NOT NULL,
	port             INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
	transport        TEXT    NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
	username         TEXT    NOT NULL DEFAULT '',
	password_sealed  TEXT    NOT NULL DEFAULT '',
	register_expires INTEGER NOT NULL DEFAULT 3600,
	allowed_sources  TEXT    NOT NULL DEFAULT '',
	number_format    TEXT    NOT NULL CHECK (number_format IN ('e164', 'national', 'as_dialled')),
	clip_header      TEXT    NOT NULL CHECK (clip_header IN ('from', 'pai', 'rpid')),
	max_calls        INTEGER NOT NULL DEFAULT 0 CHECK (max_calls >= 0),
	enabled          BOOLEAN NOT NULL DEFAULT TRUE,
	created_at       BIGINT  NOT NULL,
	updated_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX trunks_name_key ON trunks (name);

CREATE TABLE numbers (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	number      TEXT    NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	trunk_id    INTEGER REFERENCES trunks (id) ON DELETE SET NULL,
	dest_type   TEXT    NOT NULL,
	dest_target TEXT    NOT NULL DEFAULT '',
	created_at  BIGINT  NOT NULL,
	updated_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX numbers_number_key ON numbers (number);
CREATE INDEX numbers_trunk_id_idx ON numbers (trunk_id);

-- +goose Down
DROP TABLE numbers;
DROP TABLE trunks;
