//! Row mapping and error checks for both databases: each mapper is
//! generic over the driver's row type.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::error::{Error, Result};
use crate::model::{
    CodeEntry, CodeKind, CodeMeta, CodeRevision, ExecutionRecord, ExecutionStatus, LogLine, ProjectRecord, SecretMeta,
    Stream, UserRecord,
};

/// The statement of every audit record, with its columns; each insert
/// adds its own rows after it (one, or a group-commit batch).
macro_rules! insert_audit_into {
    () => {
        "INSERT INTO audit_events (at, actor, project_id, action, key, version, request_id, detail) "
    };
}
pub(super) use insert_audit_into;

/// The statement of every previous version kept, with its columns.
macro_rules! insert_version_into {
    () => {
        "INSERT INTO secret_versions (project_id, key, version, ciphertext, value_len, created_at, created_by) "
    };
}
pub(super) use insert_version_into;

/// The columns of a listing (`key, version, updated_at, updated_by`) as
/// the listing's keys.
pub(super) fn secret_metas(rows: Vec<(String, i64, i64, String)>) -> Vec<SecretMeta> {
    rows.into_iter()
        .map(|(key, version, updated_at, updated_by)| SecretMeta {
            key,
            version,
            updated_at,
            updated_by,
        })
        .collect()
}

pub(super) const PROJECT_COLUMNS: &str = "id, slug, created_at, wrapped_data_key, kek_id, key_provider";

pub(super) const EXECUTION_COLUMNS: &str = "id, project_id, status, trigger_kind, actor, command, secret_names, \
     started_at, finished_at, duration_ms, exit_code, signal, error, output_bytes, truncated, \
     request_method, request_path, response_status";

// Each mapper is generic over the row type; its bounds list the column
// types it reads. (SQLite decodes `bool` from its 0/1 integers, so one
// mapping serves both stores.)

pub(super) fn user_from_row<R>(row: &R) -> UserRecord
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    UserRecord {
        id: row.get("id"),
        email: row.get("email"),
        password_hash: row.get("password_hash"),
        created_at: row.get("created_at"),
    }
}

pub(super) fn project_from_row<R>(row: &R) -> ProjectRecord
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    ProjectRecord {
        id: row.get("id"),
        slug: row.get("slug"),
        created_at: row.get("created_at"),
        wrapped_data_key: row.get("wrapped_data_key"),
        kek_id: row.get("kek_id"),
        key_provider: row.get("key_provider"),
    }
}

/// An execution row ([`EXECUTION_COLUMNS`]); its lists are JSON text.
pub(super) fn execution_from_row<R>(row: &R) -> Result<ExecutionRecord>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Option<i32>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = row.get("status");
    Ok(ExecutionRecord {
        id: row.get("id"),
        project_id: row.get("project_id"),
        status: ExecutionStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("a stored execution has an unknown status {status:?}")))?,
        trigger: row.get("trigger_kind"),
        actor: row.get("actor"),
        command: list_from_json(&row.get::<String, _>("command"))?,
        secret_names: list_from_json(&row.get::<String, _>("secret_names"))?,
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        duration_ms: row.get("duration_ms"),
        exit_code: row.get("exit_code"),
        signal: row.get("signal"),
        error: row.get("error"),
        output_bytes: row.get("output_bytes"),
        truncated: row.get("truncated"),
        request_method: row.get("request_method"),
        request_path: row.get("request_path"),
        response_status: row.get("response_status"),
    })
}

pub(super) const REVISION_COLUMNS: &str = "revision, digest, files, bytes, updated_at, updated_by";

/// A project's code revision row ([`REVISION_COLUMNS`]).
pub(super) fn revision_from_row<R>(row: &R) -> CodeRevision
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    CodeRevision {
        revision: row.get("revision"),
        digest: row.get("digest"),
        files: u64::try_from(row.get::<i64, _>("files")).unwrap_or(0),
        bytes: u64::try_from(row.get::<i64, _>("bytes")).unwrap_or(0),
        updated_at: row.get("updated_at"),
        updated_by: row.get("updated_by"),
    }
}

/// A code entry's metadata (`path, kind, size, sha256`).
pub(super) fn code_meta_from_row<R>(row: &R) -> Result<CodeMeta>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let sha: Vec<u8> = row.get("sha256");
    Ok(CodeMeta {
        path: row.get("path"),
        kind: kind_of(&row.get::<String, _>("kind"))?,
        size: u64::try_from(row.get::<i64, _>("size")).unwrap_or(0),
        sha256: sha
            .try_into()
            .map_err(|_| Error::Corrupt("a stored code entry has a malformed digest".into()))?,
    })
}

/// A code entry with its content (`path, kind, content`).
pub(super) fn code_entry_from_row<R>(row: &R) -> Result<CodeEntry>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(CodeEntry {
        path: row.get("path"),
        kind: kind_of(&row.get::<String, _>("kind"))?,
        content: row.get("content"),
    })
}

/// A line of an execution's log (`seq, stream, at, line`).
pub(super) fn log_line_from_row<R>(row: &R) -> Result<LogLine>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let stream: String = row.get("stream");
    Ok(LogLine {
        seq: row.get("seq"),
        stream: Stream::parse(&stream)
            .ok_or_else(|| Error::Corrupt(format!("a stored log line has an unknown stream {stream:?}")))?,
        at: row.get("at"),
        text: row.get("line"),
    })
}

/// A stored code entry's kind column.
pub(super) fn kind_of(text: &str) -> Result<CodeKind> {
    CodeKind::parse(text).ok_or_else(|| Error::Corrupt(format!("a stored code entry has an unknown kind {text:?}")))
}

/// A size or count as a SQL integer (both stores' integers are signed).
pub(super) fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A list of strings as stored: JSON text.
pub(super) fn list_to_json(list: &[String]) -> String {
    serde_json::Value::from(list).to_string()
}

fn list_from_json(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("a stored execution has a malformed list: {e}")))
}

/// The statement broke a unique constraint (on either store).
pub(super) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
