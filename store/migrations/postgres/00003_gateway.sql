-- Gateway configuration and request log, PostgreSQL flavour. Keep in step with
-- ../sqlite/00003_gateway.sql: same tables, columns and indexes. Lists (policies, tags,
-- proxies, groups) are JSON text arrays; money is DOUBLE PRECISION (USD). Names and the
-- text columns the usage summary groups by use COLLATE "C" so they sort bytewise, like SQLite.

-- +goose Up
CREATE TABLE proxies (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT COLLATE "C" NOT NULL,
    description     TEXT        NOT NULL DEFAULT '',
    type            TEXT        NOT NULL,
    provider        TEXT        NOT NULL DEFAULT '',
    upstream_url    TEXT        NOT NULL,
    listen_addr     TEXT        NOT NULL DEFAULT '',
    policies        TEXT        NOT NULL DEFAULT '[]',
    credential      TEXT        NOT NULL DEFAULT '',
    tags            TEXT        NOT NULL DEFAULT '[]',
    enabled         BOOLEAN     NOT NULL DEFAULT FALSE,
    auto_start      BOOLEAN     NOT NULL DEFAULT FALSE,
    timeout_seconds INTEGER     NOT NULL DEFAULT 0,
    max_body_bytes  BIGINT      NOT NULL DEFAULT 0,
    scan_responses  BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    updated_by      TEXT        NOT NULL DEFAULT '',
    CONSTRAINT proxies_name_key UNIQUE (name)
);

-- "groups" is an SQL keyword, hence client_groups.
CREATE TABLE client_groups (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                TEXT COLLATE "C" NOT NULL,
    description         TEXT             NOT NULL DEFAULT '',
    proxies             TEXT             NOT NULL DEFAULT '[]',
    requests_per_minute INTEGER          NOT NULL DEFAULT 0,
    tokens_per_minute   INTEGER          NOT NULL DEFAULT 0,
    budget_usd          DOUBLE PRECISION NOT NULL DEFAULT 0,
    budget_warn_percent INTEGER          NOT NULL DEFAULT 0,
    budget_action       TEXT             NOT NULL CHECK (budget_action IN ('block', 'warn')),
    budget_reset_at     TIMESTAMPTZ,
    created_at          TIMESTAMPTZ      NOT NULL,
    updated_at          TIMESTAMPTZ      NOT NULL,
    updated_by          TEXT             NOT NULL DEFAULT '',
    CONSTRAINT client_groups_name_key UNIQUE (name)
);

CREATE TABLE gateway_keys (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id            BIGINT      NOT NULL REFERENCES client_groups (id) ON DELETE CASCADE,
    name                TEXT        NOT NULL,
    prefix              TEXT        NOT NULL DEFAULT '',
    hash                TEXT        NOT NULL,
    user_name           TEXT        NOT NULL DEFAULT '',
    user_email          TEXT        NOT NULL DEFAULT '',
    requests_per_minute INTEGER     NOT NULL DEFAULT 0,
    tokens_per_minute   INTEGER     NOT NULL DEFAULT 0,
    expires_at          TIMESTAMPTZ,
    revoked_at          TIMESTAMPTZ,
    last_used_at        TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    created_by          TEXT        NOT NULL DEFAULT '',
    CONSTRAINT gateway_keys_hash_key UNIQUE (hash)
);
CREATE INDEX gateway_keys_group_id_idx ON gateway_keys (group_id);

CREATE TABLE system_prompts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    template    TEXT        NOT NULL,
    priority    INTEGER     NOT NULL DEFAULT 0,
    proxies     TEXT        NOT NULL DEFAULT '[]',
    group_names TEXT        NOT NULL DEFAULT '[]',
    enabled     BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT        NOT NULL DEFAULT '',
    CONSTRAINT system_prompts_name_key UNIQUE (name)
);

-- The request log. group_id and key_id are not foreign keys: records outlive
-- deleted groups and keys, and group_name keeps the name they were made under.
-- budget_period is NULL when the group had no budget.
CREATE TABLE requests (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id         TEXT             NOT NULL DEFAULT '',
    at                 TIMESTAMPTZ      NOT NULL,
    proxy              TEXT COLLATE "C" NOT NULL DEFAULT '',
    group_id           BIGINT           NOT NULL DEFAULT 0,
    group_name         TEXT COLLATE "C" NOT NULL DEFAULT '',
    key_id             BIGINT           NOT NULL DEFAULT 0,
    user_name          TEXT             NOT NULL DEFAULT '',
    model              TEXT COLLATE "C" NOT NULL DEFAULT '',
    api                TEXT             NOT NULL DEFAULT '',
    path               TEXT             NOT NULL DEFAULT '',
    stream             BOOLEAN          NOT NULL DEFAULT FALSE,
    status             INTEGER          NOT NULL DEFAULT 0,
    verdict            TEXT             NOT NULL DEFAULT '',
    rule_id            TEXT             NOT NULL DEFAULT '',
    findings           INTEGER          NOT NULL DEFAULT 0,
    input_tokens       BIGINT           NOT NULL DEFAULT 0,
    output_tokens      BIGINT           NOT NULL DEFAULT 0,
    cache_read_tokens  BIGINT           NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT           NOT NULL DEFAULT 0,
    tokens_estimated   BOOLEAN          NOT NULL DEFAULT FALSE,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    priced             BOOLEAN          NOT NULL DEFAULT FALSE,
    latency_ms         DOUBLE PRECISION NOT NULL DEFAULT 0,
    upstream_ms        DOUBLE PRECISION NOT NULL DEFAULT 0,
    error              TEXT             NOT NULL DEFAULT '',
    budget_period      TIMESTAMPTZ
);
CREATE INDEX requests_at_idx ON requests (at);
CREATE INDEX requests_proxy_at_idx ON requests (proxy, at);
CREATE INDEX requests_group_id_at_idx ON requests (group_id, at);

-- Spend per group and budget period, added to by every recorded request.
CREATE TABLE budget_spend (
    group_id     BIGINT           NOT NULL REFERENCES client_groups (id) ON DELETE CASCADE,
    period_start TIMESTAMPTZ      NOT NULL,
    spent_usd    DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, period_start)
);

-- +goose Down
DROP TABLE budget_spend;
DROP TABLE requests;
DROP TABLE system_prompts;
DROP TABLE gateway_keys;
DROP TABLE client_groups;
DROP TABLE proxies;
