-- Custom detection policies, PostgreSQL flavour. Keep in step with ../sqlite/00002_policies.sql.
-- Built-in policies are embedded in the binary and never stored here.

-- +goose Up
CREATE TABLE policies (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    version     TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    document    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT        NOT NULL DEFAULT '',
    CONSTRAINT policies_name_key UNIQUE (name)
);

-- +goose Down
DROP TABLE policies;
