-- Custom detection policies, SQLite flavour. Keep in step with ../postgres/00002_policies.sql.
-- Built-in policies are embedded in the binary and never stored here.

-- +goose Up
CREATE TABLE policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    document    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL DEFAULT '',
    CONSTRAINT policies_name_key UNIQUE (name)
) STRICT;

-- +goose Down
DROP TABLE policies;
