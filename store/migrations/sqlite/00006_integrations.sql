-- Integrations (event destinations), SQLite flavour. Keep in step with
-- ../postgres/00006_integrations.sql. types and categories are JSON text arrays; settings is
-- the sink configuration without secrets (JSON); secrets is keyring ciphertext.

-- +goose Up
CREATE TABLE integrations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    types        TEXT    NOT NULL DEFAULT '[]',
    min_severity TEXT    NOT NULL DEFAULT '',
    categories   TEXT    NOT NULL DEFAULT '[]',
    settings     TEXT    NOT NULL DEFAULT '{}',
    secrets      TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    updated_by   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- +goose Down
DROP TABLE integrations;
