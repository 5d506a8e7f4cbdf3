-- Bot code. The database is the source of truth; every node keeps a copy
-- on its own disk (`<data dir>/code/`) as a cache, rebuilt whenever its
-- revision is not the one here.

-- One row per project that has code. The revision counts up with every
-- push and every file write, in the same transaction as the entries and
-- the audit record.
CREATE TABLE code_revisions (
    project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    -- SHA-256 over every entry's path, kind and content digest, in path
    -- order: a copy is reused only for exactly this content.
    digest     BLOB    NOT NULL,
    -- Regular files (symlinks not counted) and their bytes.
    files      INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL
);

-- The entries of a project's current code: regular files (content is the
-- file's bytes) and symlinks (content is the relative link target).
-- Directories are implied by the paths. A rowid table, not WITHOUT ROWID:
-- the rows hold whole files.
CREATE TABLE code_files (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path       TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('file', 'symlink')),
    content    BLOB    NOT NULL,
    size       INTEGER NOT NULL,
    sha256     BLOB    NOT NULL,
    UNIQUE (project_id, path)
);
