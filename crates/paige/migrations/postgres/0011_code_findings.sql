-- The code guard's findings (SPEC §1, "not in code"), stored with the code
-- revision they were found in, in the same transaction. Only the current
-- revision's findings are kept: a push replaces them all, a file write
-- replaces that file's and carries the others over. Never the value: a
-- place, a rule or key name, and at most a masked fingerprint.
CREATE TABLE code_findings (
    id            BIGSERIAL PRIMARY KEY,
    project_id    BIGINT  NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    revision      BIGINT  NOT NULL,
    file          TEXT    NOT NULL,
    line          BIGINT  NOT NULL,
    col           BIGINT  NOT NULL,
    rule          TEXT    NOT NULL,
    key           TEXT,
    fingerprint   TEXT,
    suggested_key TEXT    NOT NULL
);
CREATE INDEX code_findings_project ON code_findings (project_id, revision);
