-- Foundation schema, PostgreSQL flavour. Keep in step with ../sqlite/00001_foundation.sql:
-- same tables, columns and indexes. Times are TIMESTAMPTZ; JSON is TEXT so values come back
-- byte for byte as written. Columns that are ordered or range-scanned as text use
-- COLLATE "C" so they sort bytewise, exactly like SQLite.

-- +goose Up
CREATE TABLE users (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username             TEXT COLLATE "C" NOT NULL,
    email                TEXT        NOT NULL DEFAULT '',
    display_name         TEXT        NOT NULL DEFAULT '',
    role                 TEXT        NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash        TEXT        NOT NULL DEFAULT '',
    must_change_password BOOLEAN     NOT NULL DEFAULT FALSE,
    disabled             BOOLEAN     NOT NULL DEFAULT FALSE,
    failed_logins        INTEGER     NOT NULL DEFAULT 0,
    locked_until         TIMESTAMPTZ,
    last_login_at        TIMESTAMPTZ,
    password_changed_at  TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE sessions (
    id           TEXT        PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    source_ip    TEXT        NOT NULL DEFAULT '',
    user_agent   TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    prefix       TEXT        NOT NULL DEFAULT '',
    hash         TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash)
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- actor_id is not a foreign key: the audit trail outlives deleted users.
CREATE TABLE audit_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time          TIMESTAMPTZ NOT NULL,
    actor_id      BIGINT      NOT NULL DEFAULT 0,
    actor         TEXT        NOT NULL DEFAULT '',
    action        TEXT COLLATE "C" NOT NULL,
    resource_type TEXT        NOT NULL DEFAULT '',
    resource_id   TEXT        NOT NULL DEFAULT '',
    result        TEXT        NOT NULL DEFAULT '',
    source_ip     TEXT        NOT NULL DEFAULT '',
    user_agent    TEXT        NOT NULL DEFAULT '',
    details       TEXT
);
CREATE INDEX audit_log_time_idx ON audit_log (time, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor);
CREATE INDEX audit_log_action_idx ON audit_log (action);

CREATE TABLE settings (
    key        TEXT        PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT        NOT NULL DEFAULT ''
);

CREATE TABLE events (
    id       TEXT        PRIMARY KEY,
    time     TIMESTAMPTZ NOT NULL,
    type     TEXT        NOT NULL,
    action   TEXT        NOT NULL DEFAULT '',
    severity TEXT        NOT NULL DEFAULT '',
    category TEXT        NOT NULL DEFAULT '',
    actor    TEXT        NOT NULL DEFAULT '',
    subject  TEXT        NOT NULL DEFAULT '',
    data     TEXT
);
CREATE INDEX events_time_idx ON events (time);
CREATE INDEX events_type_time_idx ON events (type, time);

-- One row per (event, sink) delivery. Delivered rows are deleted; dead ones stay
-- for inspection and replay.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        TEXT        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sink            TEXT        NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    leased_until    TIMESTAMPTZ,
    last_error      TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
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
