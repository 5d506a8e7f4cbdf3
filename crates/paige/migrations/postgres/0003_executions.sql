-- Bot executions and their (already redacted) logs. Never a secret value:
-- an execution keeps the names of the secrets it was given.

CREATE TABLE executions (
    id           BIGSERIAL PRIMARY KEY,
    project_id   BIGINT  NOT NULL REFERENCES projects(id),
    status       TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out')),
    trigger_kind TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    -- JSON arrays of strings: the redacted command, the sorted secret keys.
    command      TEXT    NOT NULL,
    secret_names TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    duration_ms  BIGINT,
    exit_code    INTEGER,
    signal       INTEGER,
    error        TEXT,
    output_bytes BIGINT  NOT NULL DEFAULT 0,
    truncated    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX executions_by_project ON executions(project_id, id);

-- One row per line, appended while the process runs.
CREATE TABLE execution_logs (
    execution_id BIGINT NOT NULL REFERENCES executions(id),
    seq          BIGINT NOT NULL,
    stream       TEXT   NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    at           BIGINT NOT NULL,
    line         TEXT   NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
