-- Times are Unix milliseconds (UTC). Values and data keys are ciphertext.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    token_hash BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- AUTOINCREMENT: a project id is never reused, so a ciphertext bound to a
-- deleted project can never verify under a new one.
CREATE TABLE projects (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    slug             TEXT    NOT NULL UNIQUE,
    created_at       INTEGER NOT NULL,
    wrapped_data_key BLOB    NOT NULL,
    kek_id           TEXT    NOT NULL
);

CREATE TABLE members (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    role       TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_by_user ON members(user_id);

-- One row per key. A deleted key keeps its row with a NULL ciphertext, so
-- its version keeps counting up if it is set again and an old ciphertext
-- can never be replayed into a "new" version 1.
CREATE TABLE secrets (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    key        TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    ciphertext BLOB,
    value_len  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL,
    PRIMARY KEY (project_id, key)
) WITHOUT ROWID;

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    project_id INTEGER REFERENCES projects(id),
    action     TEXT    NOT NULL,
    key        TEXT,
    version    INTEGER,
    request_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_by_project ON audit_events(project_id, id);
