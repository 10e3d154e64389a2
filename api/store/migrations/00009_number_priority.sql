-- The priority a number gives its callers when its destination is a queue
-- (routing.Destination.Priority: 0 to 100; 0 for every other destination).

-- +goose Up
ALTER TABLE numbers ADD COLUMN dest_priority INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE numbers DROP COLUMN dest_priority;
