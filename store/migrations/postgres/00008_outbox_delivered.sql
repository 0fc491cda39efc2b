-- Delivered outbox rows, PostgreSQL flavour. Keep in step with
-- ../sqlite/00008_outbox_delivered.sql. A completed delivery is kept as
-- status 'delivered' (the newest per sink; older ones are pruned as new
-- ones complete) so the console can show what reached each integration.

-- +goose Up
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'delivered', 'dead'));
CREATE INDEX outbox_sink_id_idx ON outbox (sink, id);

-- +goose Down
DROP INDEX outbox_sink_id_idx;
DELETE FROM outbox WHERE status = 'delivered';
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'dead'));
