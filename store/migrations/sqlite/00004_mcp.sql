-- MCP proxies and their tools, SQLite flavour. Keep in step with ../postgres/00004_mcp.sql:
-- same tables, columns and indexes. mcp_config is the JSON of a proxy's MCP settings (NULL
-- for other proxies); definitions are JSON text kept byte for byte ('' when none); findings
-- and group_names are JSON text arrays.

-- +goose Up
ALTER TABLE proxies ADD COLUMN mcp_config TEXT;

-- The tools (prompts, resources) each MCP proxy's server offers, with their
-- approval state. proxy is the proxy's name and not a foreign key: the store
-- removes a proxy's tools when it deletes the proxy and renames them with it.
CREATE TABLE mcp_tools (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    proxy             TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    definition        TEXT    NOT NULL DEFAULT '',
    hash              TEXT    NOT NULL DEFAULT '',
    status            TEXT    NOT NULL,
    pinned_definition TEXT    NOT NULL DEFAULT '',
    pinned_hash       TEXT    NOT NULL DEFAULT '',
    findings          TEXT    NOT NULL DEFAULT '[]',
    removed           INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    group_names       TEXT    NOT NULL DEFAULT '[]',
    calls_per_minute  INTEGER NOT NULL DEFAULT 0,
    calls             INTEGER NOT NULL DEFAULT 0,
    blocked_calls     INTEGER NOT NULL DEFAULT 0,
    first_seen        TEXT    NOT NULL,
    last_seen         TEXT    NOT NULL,
    decided_by        TEXT    NOT NULL DEFAULT '',
    decided_at        TEXT,
    updated_at        TEXT    NOT NULL,
    CONSTRAINT mcp_tools_proxy_kind_name_key UNIQUE (proxy, kind, name)
) STRICT;
-- The unique constraint's index, led by proxy, serves lookups by proxy.

-- +goose Down
DROP TABLE mcp_tools;
ALTER TABLE proxies DROP COLUMN mcp_config;
