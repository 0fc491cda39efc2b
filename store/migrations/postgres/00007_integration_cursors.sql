-- Integration cursors, PostgreSQL flavour. Keep in step with
-- ../sqlite/00007_integration_cursors.sql. A tailing integration (Langfuse)
-- reads request records after position (a requests.id) and moves it only
-- after the receiver accepted them; owner and leased_until let one replica
-- at a time tail. The row goes with its integration.

-- +goose Up
CREATE TABLE integration_cursors (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    position       BIGINT      NOT NULL DEFAULT 0,
    owner          TEXT        NOT NULL DEFAULT '',
    leased_until   TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE integration_cursors;
