-- Foundation schema, SQLite flavour. Keep in step with ../postgres/00001_foundation.sql:
-- same tables, columns and indexes. Times are TEXT "2006-01-02T15:04:05.000000Z" (UTC,
-- fixed width, so text order is time order); booleans are INTEGER 0/1; JSON is TEXT.
-- STRICT tables reject a value of the wrong type instead of silently storing it.

-- +goose Up
CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT    NOT NULL,
    email                TEXT    NOT NULL DEFAULT '',
    display_name         TEXT    NOT NULL DEFAULT '',
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash        TEXT    NOT NULL DEFAULT '',
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         TEXT,
    last_login_at        TEXT,
    password_changed_at  TEXT,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
) STRICT;

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    source_ip    TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL DEFAULT '',
    hash         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash)
) STRICT;
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- actor_id is not a foreign key: the audit trail outlives deleted users.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    time          TEXT    NOT NULL,
    actor_id      INTEGER NOT NULL DEFAULT 0,
    actor         TEXT    NOT NULL DEFAULT '',
    action        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL DEFAULT '',
    resource_id   TEXT    NOT NULL DEFAULT '',
    result        TEXT    NOT NULL DEFAULT '',
    source_ip     TEXT    NOT NULL DEFAULT '',
    user_agent    TEXT    NOT NULL DEFAULT '',
    details       TEXT
) STRICT;
CREATE INDEX audit_log_time_idx ON audit_log (time, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor);
CREATE INDEX audit_log_action_idx ON audit_log (action);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE events (
    id       TEXT PRIMARY KEY,
    time     TEXT NOT NULL,
    type     TEXT NOT NULL,
    action   TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    actor    TEXT NOT NULL DEFAULT '',
    subject  TEXT NOT NULL DEFAULT '',
    data     TEXT
) STRICT;
CREATE INDEX events_time_idx ON events (time);
CREATE INDEX events_type_time_idx ON events (type, time);

-- One row per (event, sink) delivery. Delivered rows are deleted; dead ones stay
-- for inspection and replay.
CREATE TABLE outbox (
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
CREATE INDEX outbox_sink_status_next_idx ON outbox (sink, status, next_attempt_at);
CREATE INDEX outbox_event_id_idx ON outbox (event_id);

-- +goose Down
DROP TABLE outbox;
DROP TABLE events;
DROP TABLE settings;
DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
