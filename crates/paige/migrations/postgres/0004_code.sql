-- Bot code. The database is the source of truth; every node keeps a copy
-- on its own disk (`<data dir>/code/`) as a cache, rebuilt whenever its
-- revision is not the one here.

-- One row per project that has code. The revision counts up with every
-- push and every file write, in the same transaction as the entries and
-- the audit record.
CREATE TABLE code_revisions (
    project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    revision   BIGINT NOT NULL,
    -- SHA-256 over every entry's path, kind and content digest, in path
    -- order: a copy is reused only for exactly this content.
    digest     BYTEA  NOT NULL,
    -- Regular files (symlinks not counted) and their bytes.
    files      BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL
);

-- The entries of a project's current code: regular files (content is the
-- file's bytes) and symlinks (content is the relative link target).
-- Directories are implied by the paths.
CREATE TABLE code_files (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path       TEXT   NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('file', 'symlink')),
    content    BYTEA  NOT NULL,
    size       BIGINT NOT NULL,
    sha256     BYTEA  NOT NULL,
    PRIMARY KEY (project_id, path)
);
