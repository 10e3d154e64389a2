-- +goose Up
-- The way an inbound call took through the inbound scheme: a JSON array of steps.
ALTER TABLE cdrs ADD COLUMN path TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE cdrs DROP COLUMN path;
