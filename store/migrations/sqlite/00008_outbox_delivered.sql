-- Delivered outbox rows, SQLite flavour. Keep in step with
-- ../postgres/00008_outbox_delivered.sql. A completed delivery is kept as
-- status 'delivered' (the newest per sink; older ones are pruned as new
-- ones complete) so the console can show what reached each integration.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.

-- +goose Up
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sink            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    leased_until    TEXT,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;
INSERT INTO outbox_new (id, event_id, sink, status, attempts, next_attempt_at, leased_until, last_error, created_at, updated_at)
    SELECT id, event_id, sink, status, attempts, next_attempt_at, leased_until, last_error, created_at, updated_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_sink_status_next_idx ON outbox (sink, status, next_attempt_at);
CREATE INDEX outbox_event_id_idx ON outbox (event_id);
CREATE INDEX outbox_sink_id_idx ON outbox (sink, id);

-- +goose Down
DELETE FROM outbox WHERE status = 'delivered';
CREATE TABLE outbox_old (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sink            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    leased_until    TEXT,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;
INSERT INTO outbox_old SELECT id, event_id, sink, status, attempts, next_attempt_at, leased_until, last_error, created_at, updated_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_old RENAME TO outbox;
CREATE INDEX outbox_sink_status_next_idx ON outbox (sink, status, next_attempt_at);
CREATE INDEX outbox_event_id_idx ON outbox (event_id);
