//! The backup file: a short text header, then the SQLite snapshot as is.
//!
//! ```text
//! paige-backup v1
//! key_id=<16 hex digits: the master key that wraps the data keys>
//! created_at=<RFC 3339, UTC>
//! body_bytes=<length of the snapshot>
//! sha256=<64 hex digits>
//! <empty line>
//! <body_bytes bytes: the SQLite database>
//! ```
//!
//! The digest is SHA-256 over the first four lines (exactly as written,
//! newlines included) followed by the body, so a changed byte anywhere,
//! header or body, fails verification. The file holds what the database
//! holds (ciphertext and wrapped data keys), never the master key.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const MAGIC: &str = "paige-backup v1";
/// No header line is longer; a longer one is not a backup.
const MAX_LINE: u64 = 256;
const CHUNK: usize = 1 << 20;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key_id: String,
    pub created_at: String,
    pub body_bytes: u64,
    pub sha256: String,
}

impl Header {
    /// The lines the digest covers, before the digest itself.
    fn signed_lines(key_id: &str, created_at: &str, body_bytes: u64) -> String {
        format!("{MAGIC}\nkey_id={key_id}\ncreated_at={created_at}\nbody_bytes={body_bytes}\n")
    }
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl Fn(std::io::Error) -> Error + 'p {
    move |e| Error::io(what, path, e)
}

/// Writes `file` (which must not exist, mode 0600) from the snapshot at
/// `snapshot`: hashes the snapshot, then writes the header and copies it.
pub fn write(file: &Path, snapshot: &Path, key_id: &str, created_at: &str) -> Result<Header> {
    let body_bytes = std::fs::metadata(snapshot).map_err(io("cannot read", snapshot))?.len();
    let signed = Header::signed_lines(key_id, created_at, body_bytes);
    let mut hasher = Sha256::new();
    hasher.update(signed.as_bytes());
    copy(snapshot, body_bytes, &mut hasher, None)?;
    let sha256 = hex::encode(hasher.finalize());
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(io("cannot create", file))?;
    out.write_all(format!("{signed}sha256={sha256}\n\n").as_bytes())
        .map_err(io("cannot write", file))?;
    copy(snapshot, body_bytes, &mut Sha256::new(), Some(&mut out))?;
    out.sync_all().map_err(io("cannot write", file))?;
    Ok(Header {
        key_id: key_id.to_owned(),
        created_at: created_at.to_owned(),
        body_bytes,
        sha256,
    })
}

/// Streams `len` bytes of `path` into `hasher`, and into `out` if given.
fn copy(path: &Path, len: u64, hasher: &mut Sha256, mut out: Option<&mut File>) -> Result<()> {
    let mut input = File::open(path).map_err(io("cannot read", path))?.take(len);
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buffer).map_err(io("cannot read", path))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..n]);
        if let Some(out) = out.as_deref_mut() {
            out.write_all(&buffer[..n]).map_err(io("cannot write", path))?;
        }
    }
}

fn not_a_backup(file: &Path, why: &str) -> Error {
    Error::invalid(
        "backup_format",
        format!("{}: not a paige backup: {why}", file.display()),
    )
}

fn header_line(reader: &mut impl BufRead, file: &Path, name: &str) -> Result<String> {
    let mut line = String::new();
    reader
        .by_ref()
        .take(MAX_LINE)
        .read_line(&mut line)
        .map_err(|_| not_a_backup(file, "the header is not text"))?;
    let line = line
        .strip_suffix('\n')
        .ok_or_else(|| not_a_backup(file, "the header is cut short"))?;
    match name {
        "" if line == MAGIC => Ok(String::new()),
        "" => Err(not_a_backup(file, &format!("the first line is not `{MAGIC}`"))),
        _ => line
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_owned)
            .ok_or_else(|| not_a_backup(file, &format!("missing the `{name}=` line"))),
    }
}

/// Reads the header, then hashes the body (copying it to `extract_to`, a
/// new 0600 file, if given) and checks its length and the digest. On any
/// failure the extracted copy is removed.
pub fn verify(file: &Path, extract_to: Option<&Path>) -> Result<Header> {
    let mut reader = BufReader::new(File::open(file).map_err(io("cannot open", file))?);
    header_line(&mut reader, file, "")?;
    let key_id = header_line(&mut reader, file, "key_id")?;
    let created_at = header_line(&mut reader, file, "created_at")?;
    let body_bytes: u64 = header_line(&mut reader, file, "body_bytes")?
        .parse()
        .map_err(|_| not_a_backup(file, "body_bytes is not a number"))?;
    let sha256 = header_line(&mut reader, file, "sha256")?;
    let mut blank = [0u8; 1];
    if reader.read_exact(&mut blank).is_err() || blank[0] != b'\n' {
        return Err(not_a_backup(file, "no empty line after the header"));
    }
    let header = Header {
        key_id,
        created_at,
        body_bytes,
        sha256,
    };
    let result = check_body(file, &mut reader, &header, extract_to);
    if result.is_err()
        && let Some(dest) = extract_to
    {
        let _ = std::fs::remove_file(dest);
    }
    result.map(|()| header)
}

fn check_body(file: &Path, reader: &mut impl Read, header: &Header, extract_to: Option<&Path>) -> Result<()> {
    let mut out = match extract_to {
        Some(dest) => Some(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dest)
                .map_err(io("cannot create", dest))?,
        ),
        None => None,
    };
    let mut hasher = Sha256::new();
    hasher.update(Header::signed_lines(&header.key_id, &header.created_at, header.body_bytes).as_bytes());
    let mut buffer = vec![0u8; CHUNK];
    let mut seen: u64 = 0;
    loop {
        let n = reader.read(&mut buffer).map_err(io("cannot read", file))?;
        if n == 0 {
            break;
        }
        seen += n as u64;
        hasher.update(&buffer[..n]);
        if let (Some(out), Some(dest)) = (out.as_mut(), extract_to) {
            out.write_all(&buffer[..n]).map_err(io("cannot write", dest))?;
        }
    }
    if seen != header.body_bytes {
        return Err(Error::corrupt(format!(
            "{}: the body is {seen} bytes, the header says {}",
            file.display(),
            header.body_bytes
        )));
    }
    if hex::encode(hasher.finalize()) != header.sha256 {
        return Err(Error::corrupt(format!(
            "{}: the SHA-256 digest does not match: the file was changed or damaged",
            file.display()
        )));
    }
    if let (Some(out), Some(dest)) = (out, extract_to) {
        out.sync_all().map_err(io("cannot write", dest))?;
    }
    Ok(())
}
