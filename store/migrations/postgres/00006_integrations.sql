-- Integrations (event destinations), PostgreSQL flavour. Keep in step with
-- ../sqlite/00006_integrations.sql. types and categories are JSON text arrays; settings is
-- the sink configuration without secrets (JSON); secrets is keyring ciphertext.

-- +goose Up
CREATE TABLE integrations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT COLLATE "C" NOT NULL,
    kind         TEXT        NOT NULL,
    enabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    types        TEXT        NOT NULL DEFAULT '[]',
    min_severity TEXT        NOT NULL DEFAULT '',
    categories   TEXT        NOT NULL DEFAULT '[]',
    settings     TEXT        NOT NULL DEFAULT '{}',
    secrets      TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   TEXT        NOT NULL DEFAULT '',
    CONSTRAINT integrations_name_key UNIQUE (name)
);

-- +goose Down
DROP TABLE integrations;
