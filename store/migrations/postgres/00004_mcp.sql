-- MCP proxies and their tools, PostgreSQL flavour. Keep in step with ../sqlite/00004_mcp.sql:
-- same tables, columns and indexes. mcp_config is the JSON of a proxy's MCP settings (NULL
-- for other proxies); definitions are JSON text kept byte for byte ('' when none); findings
-- and group_names are JSON text arrays. proxy, kind and name use COLLATE "C" so tools sort
-- bytewise, like SQLite.

-- +goose Up
ALTER TABLE proxies ADD COLUMN mcp_config TEXT;

-- The tools (prompts, resources) each MCP proxy's server offers, with their
-- approval state. proxy is the proxy's name and not a foreign key: the store
-- removes a proxy's tools when it deletes the proxy and renames them with it.
CREATE TABLE mcp_tools (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proxy             TEXT COLLATE "C" NOT NULL,
    kind              TEXT COLLATE "C" NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    definition        TEXT        NOT NULL DEFAULT '',
    hash              TEXT        NOT NULL DEFAULT '',
    status            TEXT        NOT NULL,
    pinned_definition TEXT        NOT NULL DEFAULT '',
    pinned_hash       TEXT        NOT NULL DEFAULT '',
    findings          TEXT        NOT NULL DEFAULT '[]',
    removed           BOOLEAN     NOT NULL DEFAULT FALSE,
    group_names       TEXT        NOT NULL DEFAULT '[]',
    calls_per_minute  INTEGER     NOT NULL DEFAULT 0,
    calls             BIGINT      NOT NULL DEFAULT 0,
    blocked_calls     BIGINT      NOT NULL DEFAULT 0,
    first_seen        TIMESTAMPTZ NOT NULL,
    last_seen         TIMESTAMPTZ NOT NULL,
    decided_by        TEXT        NOT NULL DEFAULT '',
    decided_at        TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT mcp_tools_proxy_kind_name_key UNIQUE (proxy, kind, name)
);
-- The unique constraint's index, led by proxy, serves lookups by proxy.

-- +goose Down
DROP TABLE mcp_tools;
ALTER TABLE proxies DROP COLUMN mcp_config;
