-- Gateway configuration and request log, SQLite flavour. Keep in step with
-- ../postgres/00003_gateway.sql: same tables, columns and indexes. Lists (policies, tags,
-- proxies, groups) are JSON text arrays; money is REAL (USD).

-- +goose Up
CREATE TABLE proxies (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    type            TEXT    NOT NULL,
    provider        TEXT    NOT NULL DEFAULT '',
    upstream_url    TEXT    NOT NULL,
    listen_addr     TEXT    NOT NULL DEFAULT '',
    policies        TEXT    NOT NULL DEFAULT '[]',
    credential      TEXT    NOT NULL DEFAULT '',
    tags            TEXT    NOT NULL DEFAULT '[]',
    enabled         INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    auto_start      INTEGER NOT NULL DEFAULT 0 CHECK (auto_start IN (0, 1)),
    timeout_seconds INTEGER NOT NULL DEFAULT 0,
    max_body_bytes  INTEGER NOT NULL DEFAULT 0,
    scan_responses  INTEGER NOT NULL DEFAULT 0 CHECK (scan_responses IN (0, 1)),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    updated_by      TEXT    NOT NULL DEFAULT '',
    CONSTRAINT proxies_name_key UNIQUE (name)
) STRICT;

-- "groups" is an SQL keyword, hence client_groups.
CREATE TABLE client_groups (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    proxies             TEXT    NOT NULL DEFAULT '[]',
    requests_per_minute INTEGER NOT NULL DEFAULT 0,
    tokens_per_minute   INTEGER NOT NULL DEFAULT 0,
    budget_usd          REAL    NOT NULL DEFAULT 0,
    budget_warn_percent INTEGER NOT NULL DEFAULT 0,
    budget_action       TEXT    NOT NULL CHECK (budget_action IN ('block', 'warn')),
    budget_reset_at     TEXT,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    updated_by          TEXT    NOT NULL DEFAULT '',
    CONSTRAINT client_groups_name_key UNIQUE (name)
) STRICT;

CREATE TABLE gateway_keys (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id            INTEGER NOT NULL REFERENCES client_groups (id) ON DELETE CASCADE,
    name                TEXT    NOT NULL,
    prefix              TEXT    NOT NULL DEFAULT '',
    hash                TEXT    NOT NULL,
    user_name           TEXT    NOT NULL DEFAULT '',
    user_email          TEXT    NOT NULL DEFAULT '',
    requests_per_minute INTEGER NOT NULL DEFAULT 0,
    tokens_per_minute   INTEGER NOT NULL DEFAULT 0,
    expires_at          TEXT,
    revoked_at          TEXT,
    last_used_at        TEXT,
    created_at          TEXT    NOT NULL,
    created_by          TEXT    NOT NULL DEFAULT '',
    CONSTRAINT gateway_keys_hash_key UNIQUE (hash)
) STRICT;
CREATE INDEX gateway_keys_group_id_idx ON gateway_keys (group_id);

CREATE TABLE system_prompts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    template    TEXT    NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    proxies     TEXT    NOT NULL DEFAULT '[]',
    group_names TEXT    NOT NULL DEFAULT '[]',
    enabled     INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL DEFAULT '',
    CONSTRAINT system_prompts_name_key UNIQUE (name)
) STRICT;

-- The request log. group_id and key_id are not foreign keys: records outlive
-- deleted groups and keys, and group_name keeps the name they were made under.
-- budget_period is NULL when the group had no budget.
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id         TEXT    NOT NULL DEFAULT '',
    at                 TEXT    NOT NULL,
    proxy              TEXT    NOT NULL DEFAULT '',
    group_id           INTEGER NOT NULL DEFAULT 0,
    group_name         TEXT    NOT NULL DEFAULT '',
    key_id             INTEGER NOT NULL DEFAULT 0,
    user_name          TEXT    NOT NULL DEFAULT '',
    model              TEXT    NOT NULL DEFAULT '',
    api                TEXT    NOT NULL DEFAULT '',
    path               TEXT    NOT NULL DEFAULT '',
    stream             INTEGER NOT NULL DEFAULT 0 CHECK (stream IN (0, 1)),
    status             INTEGER NOT NULL DEFAULT 0,
    verdict            TEXT    NOT NULL DEFAULT '',
    rule_id            TEXT    NOT NULL DEFAULT '',
    findings           INTEGER NOT NULL DEFAULT 0,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    tokens_estimated   INTEGER NOT NULL DEFAULT 0 CHECK (tokens_estimated IN (0, 1)),
    cost_usd           REAL    NOT NULL DEFAULT 0,
    priced             INTEGER NOT NULL DEFAULT 0 CHECK (priced IN (0, 1)),
    latency_ms         REAL    NOT NULL DEFAULT 0,
    upstream_ms        REAL    NOT NULL DEFAULT 0,
    error              TEXT    NOT NULL DEFAULT '',
    budget_period      TEXT
) STRICT;
CREATE INDEX requests_at_idx ON requests (at);
CREATE INDEX requests_proxy_at_idx ON requests (proxy, at);
CREATE INDEX requests_group_id_at_idx ON requests (group_id, at);

-- Spend per group and budget period, added to by every recorded request.
CREATE TABLE budget_spend (
    group_id     INTEGER NOT NULL REFERENCES client_groups (id) ON DELETE CASCADE,
    period_start TEXT    NOT NULL,
    spent_usd    REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, period_start)
) STRICT;

-- +goose Down
DROP TABLE budget_spend;
DROP TABLE requests;
DROP TABLE system_prompts;
DROP TABLE gateway_keys;
DROP TABLE client_groups;
DROP TABLE proxies;
