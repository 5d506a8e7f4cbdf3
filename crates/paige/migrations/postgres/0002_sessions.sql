-- Dashboard sessions: only a hash of the session id is stored.
CREATE TABLE sessions (
    id_hash      BYTEA  PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Absolute expiry; idle expiry is checked against last_seen_at.
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
