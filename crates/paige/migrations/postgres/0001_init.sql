-- Times are Unix milliseconds (UTC). Values and data keys are ciphertext.
-- Text that is sorted or compared (emails, slugs, keys) uses the "C"
-- collation, so it orders byte by byte as it does on SQLite.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    token_hash BYTEA  NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- A sequence never hands out an id twice: a ciphertext bound to a deleted
-- project can never verify under a new one.
CREATE TABLE projects (
    id               BIGSERIAL PRIMARY KEY,
    slug             TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    wrapped_data_key BYTEA  NOT NULL,
    kek_id           TEXT   NOT NULL
);

CREATE TABLE members (
    project_id BIGINT NOT NULL REFERENCES projects(id),
    user_id    BIGINT NOT NULL REFERENCES users(id),
    role       TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_by_user ON members(user_id);

-- One row per key. A deleted key keeps its row with a NULL ciphertext, so
-- its version keeps counting up if it is set again and an old ciphertext
-- can never be replayed into a "new" version 1.
CREATE TABLE secrets (
    project_id BIGINT NOT NULL REFERENCES projects(id),
    key        TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    ciphertext BYTEA,
    value_len  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL,
    PRIMARY KEY (project_id, key)
);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    project_id BIGINT REFERENCES projects(id),
    action     TEXT   NOT NULL,
    key        TEXT COLLATE "C",
    version    BIGINT,
    request_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_by_project ON audit_events(project_id, id);
