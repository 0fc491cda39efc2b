-- Alerts and their notes, PostgreSQL flavour. Keep in step with ../sqlite/00005_alerts.sql: same
-- tables, columns and indexes. An alert row is written in the transaction that stores its
-- event (type 'alert') and has the event's id; it is not a foreign key so that event
-- retention cannot remove alerts under triage. severity_rank orders severities
-- (critical 5 … info 1). Columns a listing sorts by use COLLATE "C" so they sort bytewise, like SQLite.

-- +goose Up
CREATE TABLE alerts (
    id            TEXT    NOT NULL PRIMARY KEY,
    time          TIMESTAMPTZ NOT NULL,
    severity      TEXT    NOT NULL,
    severity_rank SMALLINT NOT NULL DEFAULT 0,
    category      TEXT COLLATE "C" NOT NULL DEFAULT '',
    title         TEXT    NOT NULL DEFAULT '',
    description   TEXT    NOT NULL DEFAULT '',
    action        TEXT    NOT NULL DEFAULT '',
    user_name     TEXT    NOT NULL DEFAULT '',
    user_email    TEXT    NOT NULL DEFAULT '',
    group_name    TEXT    NOT NULL DEFAULT '',
    source_ip     TEXT    NOT NULL DEFAULT '',
    proxy         TEXT COLLATE "C" NOT NULL DEFAULT '',
    target        TEXT    NOT NULL DEFAULT '',
    policy        TEXT    NOT NULL DEFAULT '',
    rule_id       TEXT    NOT NULL DEFAULT '',
    evidence      TEXT    NOT NULL DEFAULT '',
    status        TEXT COLLATE "C" NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'acknowledged', 'in_progress', 'resolved', 'false_positive')),
    status_by     TEXT    NOT NULL DEFAULT '',
    status_at     TIMESTAMPTZ
);
CREATE INDEX alerts_time_idx ON alerts (time, id);
CREATE INDEX alerts_status_time_idx ON alerts (status, time);
CREATE INDEX alerts_severity_time_idx ON alerts (severity_rank, time);
CREATE INDEX alerts_proxy_time_idx ON alerts (proxy, time);
CREATE INDEX alerts_rule_time_idx ON alerts (rule_id, time);

CREATE TABLE alert_notes (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id TEXT    NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at       TIMESTAMPTZ NOT NULL,
    author   TEXT    NOT NULL DEFAULT '',
    text     TEXT    NOT NULL
);
CREATE INDEX alert_notes_alert_idx ON alert_notes (alert_id, id);

-- +goose Down
DROP TABLE alert_notes;
DROP TABLE alerts;
