-- The previous versions of each key (the current one stays in `secrets`),
-- at most `paige serve --secret-versions` minus one per key. Each keeps the
-- ciphertext sealed when it was current: its associated data binds it to
-- its project, key and version, so a row copied under another version
-- number does not open. A deleted key's versions are purged with it.
CREATE TABLE secret_versions (
    project_id BIGINT NOT NULL REFERENCES projects(id),
    key        TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    ciphertext BYTEA  NOT NULL,
    value_len  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL,
    PRIMARY KEY (project_id, key, version)
);

-- Retention finds old executions and audit records by time.
CREATE INDEX executions_by_start ON executions(started_at);
CREATE INDEX audit_by_time ON audit_events(at);
