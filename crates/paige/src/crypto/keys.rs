//! Key material: the master key (KEK), project data keys (DEKs), and the
//! file that holds the master key (one `KeyProvider`, see `provider`).
//!
//! Both key types hold their bytes in zeroize-on-drop boxes and print only
//! their id (master key) or nothing at all (data key).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length in bytes of every symmetric key here.
pub const KEY_LEN: usize = 32;

const KEY_FILE_HEADER: &str = "paige-master-key v1";

/// The public identifier of a master key, stored beside every data key it
/// wraps so rotation can tell which key wrapped what.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    fn random() -> Self {
        let mut id = [0u8; 8];
        OsRng.fill_bytes(&mut id);
        Self(hex::encode(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for KeyId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

fn random_key() -> SecretBox<[u8; KEY_LEN]> {
    SecretBox::init_with_mut(|bytes: &mut [u8; KEY_LEN]| OsRng.fill_bytes(bytes))
}

/// The key-encryption key. Never stored in the database.
pub struct MasterKey {
    id: KeyId,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl MasterKey {
    pub fn generate() -> Self {
        Self {
            id: KeyId::random(),
            key: random_key(),
        }
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }

    /// The on-disk form: a header line, the id and the key in hex.
    fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{KEY_FILE_HEADER}\nid={}\nkey={}\n",
            self.id,
            Zeroizing::new(hex::encode(self.bytes())).as_str()
        ))
    }

    fn from_file_text(path: &Path, text: &str) -> Result<Self> {
        let bad = |why: &str| Error::Config(format!("{}: not a master key file: {why}", path.display()));
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(bad("missing the header line"));
        }
        let id = lines
            .next()
            .and_then(|l| l.strip_prefix("id="))
            .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| bad("missing or malformed id line"))?;
        let key_hex = lines
            .next()
            .and_then(|l| l.strip_prefix("key="))
            .ok_or_else(|| bad("missing key line"))?;
        let mut decoded = false;
        let key = SecretBox::init_with_mut(|bytes: &mut [u8; KEY_LEN]| {
            decoded = hex::decode_to_slice(key_hex, bytes).is_ok();
        });
        if !decoded {
            return Err(bad("key is not 64 hex digits"));
        }
        Ok(Self {
            id: KeyId(id.to_owned()),
            key,
        })
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A project's data-encryption key, only ever held unwrapped in memory.
pub struct DataKey(SecretBox<[u8; KEY_LEN]>);

impl DataKey {
    pub fn generate() -> Self {
        Self(random_key())
    }

    pub(crate) fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(SecretBox::init_with_mut(|b: &mut [u8; KEY_LEN]| {
            b.copy_from_slice(bytes)
        }))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// The master key in a file, `master.key`, readable by its owner alone.
#[derive(Debug)]
pub struct FileKeyProvider {
    path: PathBuf,
    cached: RwLock<Arc<MasterKey>>,
}

impl FileKeyProvider {
    /// Opens the key file, creating it (and its directory) on first use.
    /// Refuses a file that group or others can read.
    pub fn open_or_create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            ensure_private_dir(dir)?;
        }
        let key = if path.exists() {
            read_key_file(path)?
        } else {
            let key = MasterKey::generate();
            write_key_file(path, &key)?;
            key
        };
        Ok(Self {
            path: path.to_owned(),
            cached: RwLock::new(Arc::new(key)),
        })
    }

    fn staged_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".next");
        PathBuf::from(name)
    }

    fn cache(&self) -> Arc<MasterKey> {
        Arc::clone(&self.cached.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Opens an existing key file; `None` if there is none (it is not created).
    pub fn open_existing(path: &Path) -> Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        Self::open_or_create(path).map(Some)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that wraps new data keys.
    pub fn current(&self) -> Result<Arc<MasterKey>> {
        Ok(self.cache())
    }

    /// The key with this id, re-reading the file if it changed underneath
    /// (another process rotated it).
    pub fn by_id(&self, id: &KeyId) -> Result<Arc<MasterKey>> {
        let cached = self.cache();
        if cached.id() == id {
            return Ok(cached);
        }
        let fresh = Arc::new(read_key_file(&self.path)?);
        if fresh.id() != id {
            return Err(Error::Config(format!(
                "data key is wrapped by master key {id}, but {} holds key {}",
                self.path.display(),
                fresh.id()
            )));
        }
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// Keeps `new` beside the current key so a crash mid-rotation loses
    /// nothing; `install` or `discard_pending` ends that state.
    pub fn stage(&self, new: &MasterKey) -> Result<()> {
        let staged = self.staged_path();
        remove_if_exists(&staged)?;
        write_key_file(&staged, new)
    }

    /// Makes `new` the current key, as the last step of a rotation.
    pub fn install(&self, new: MasterKey) -> Result<()> {
        let staged = self.staged_path();
        if !staged.exists() {
            self.stage(&new)?;
        }
        fs::rename(&staged, &self.path).map_err(|e| io_error(&self.path, e))?;
        sync_parent(&self.path)?;
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        Ok(())
    }

    /// A staged key left behind by an interrupted rotation, if any.
    pub fn pending(&self) -> Result<Option<MasterKey>> {
        let staged = self.staged_path();
        if staged.exists() {
            read_key_file(&staged).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn discard_pending(&self) -> Result<()> {
        remove_if_exists(&self.staged_path())?;
        sync_parent(&self.path)
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::io("cannot use", path, e)
}

/// Creates `dir` with mode 0700 if it does not exist yet. Missing parents
/// get the usual mode (0755 under the usual umask), not 0700: bots that
/// run as their own users must pass through them to reach their code.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .or_else(|e| if dir.is_dir() { Ok(()) } else { Err(e) })
        .map_err(|e| io_error(dir, e))
}

fn read_key_file(path: &Path) -> Result<MasterKey> {
    let meta = fs::metadata(path).map_err(|e| io_error(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "refusing to use master key file {}: it is readable or writable by group or others \
             (mode {mode:04o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| io_error(path, e))?);
    MasterKey::from_file_text(path, &text)
}

fn write_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    file.write_all(key.to_file_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, e))?;
    sync_parent(path)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path, e)),
        _ => Ok(()),
    }
}

/// Makes a create or rename in the directory durable.
fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}
