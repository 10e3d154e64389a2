-- +goose Up
CREATE TABLE outbound_rules (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	position   INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	enabled    BOOLEAN NOT NULL DEFAULT TRUE,
	who_kind   TEXT    NOT NULL DEFAULT 'any',
	who_value  TEXT    NOT NULL DEFAULT '',
	dest       TEXT    NOT NULL DEFAULT '{}',
	action     TEXT    NOT NULL,
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL
);
CREATE INDEX outbound_rules_position_idx ON outbound_rules (position, id);

-- +goose Down
DROP TABLE outbound_rules;
