-- Bot executions and their (already redacted) logs. Never a secret value:
-- an execution keeps the names of the secrets it was given.

CREATE TABLE executions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects(id),
    status       TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out')),
    trigger_kind TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    -- JSON arrays of strings: the redacted command, the sorted secret keys.
    command      TEXT    NOT NULL,
    secret_names TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    duration_ms  INTEGER,
    exit_code    INTEGER,
    signal       INTEGER,
    error        TEXT,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    truncated    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX executions_by_project ON executions(project_id, id);

-- One row per line, appended while the process runs.
CREATE TABLE execution_logs (
    execution_id INTEGER NOT NULL REFERENCES executions(id),
    seq          INTEGER NOT NULL,
    stream       TEXT    NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    at           INTEGER NOT NULL,
    line         TEXT    NOT NULL,
    PRIMARY KEY (execution_id, seq)
) WITHOUT ROWID;
