-- Integration cursors, SQLite flavour. Keep in step with
-- ../postgres/00007_integration_cursors.sql. A tailing integration (Langfuse)
-- reads request records after position (a requests.id) and moves it only
-- after the receiver accepted them; owner and leased_until let one replica
-- at a time tail. The row goes with its integration.

-- +goose Up
CREATE TABLE integration_cursors (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL DEFAULT 0,
    owner          TEXT    NOT NULL DEFAULT '',
    leased_until   TEXT,
    updated_at     TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE integration_cursors;
