//! `~/.config/paige/config.toml`: the servers `paige login` stored, by
//! name, and which is the default. It holds API tokens, so it is written
//! with mode 0600 in a 0700 directory, and refused when group or others
//! may read it (as ssh does with a private key).
//!
//! ```toml
//! default = "prod"
//! [servers.prod]
//! url = "https://paige.example.com"
//! token = "paige_…"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::failure::{CliError, CliResult};

/// The file's contents.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The name of the server used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    pub url: String,
    #[serde(serialize_with = "expose")]
    pub token: SecretString,
}

fn expose<S: serde::Serializer>(token: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.expose_secret())
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: BTreeMap<_, _> = self.servers.iter().map(|(n, s)| (n, &s.url)).collect();
        f.debug_struct("ConfigFile")
            .field("default", &self.default)
            .field("servers", &servers)
            .finish()
    }
}

impl fmt::Debug for ServerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerEntry")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `$XDG_CONFIG_HOME/paige/config.toml`, else `$HOME/.config/paige/config.toml`.
pub fn path() -> CliResult<PathBuf> {
    let from = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = from("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| from("HOME").map(|home| home.join(".config")))
        .ok_or_else(|| CliError::usage("neither XDG_CONFIG_HOME nor HOME is set: cannot find the config file"))?;
    Ok(base.join("paige").join("config.toml"))
}

impl ConfigFile {
    /// Reads the file; an absent file is an empty config. A file that
    /// group or others may read is refused, naming the fix.
    pub fn load(path: &Path) -> CliResult<Self> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(CliError::usage(format!("cannot read {}: {e}", path.display()))),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CliError::usage(format!(
                "{} holds API tokens but group or others may read it (mode {mode:o}); \
                 run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
        // toml's messages may quote the line, which may hold a token.
        toml::from_str(&text).map_err(|_| {
            CliError::usage(format!(
                "{} is not a valid paige config file (expected `default = \"NAME\"` and \
                 [servers.NAME] tables with url and token)",
                path.display()
            ))
        })
    }

    /// Writes the file atomically with mode 0600, its directory 0700.
    pub fn save(&self, path: &Path) -> CliResult<()> {
        let fail = |e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", path.display()));
        let dir = path
            .parent()
            .ok_or_else(|| CliError::usage("the config file has no directory"))?;
        std::fs::create_dir_all(dir).map_err(fail)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        let text = toml::to_string(self).map_err(|e| CliError::usage(format!("cannot encode the config: {e}")))?;
        let temporary = dir.join(".config.toml.tmp");
        let _ = std::fs::remove_file(&temporary);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(fail)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }

    /// The server named `name`, or the default one.
    pub fn server(&self, name: Option<&str>) -> Option<(&str, &ServerEntry)> {
        let name = name.or(self.default.as_deref())?;
        self.servers.get_key_value(name).map(|(n, s)| (n.as_str(), s))
    }

    /// The entry whose name or URL is `wanted`.
    pub fn find(&self, wanted: &str) -> Option<(&str, &ServerEntry)> {
        let wanted_url = wanted.trim_end_matches('/');
        self.servers
            .get_key_value(wanted)
            .or_else(|| {
                self.servers
                    .iter()
                    .find(|(_, s)| s.url.trim_end_matches('/') == wanted_url)
            })
            .map(|(n, s)| (n.as_str(), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_with_mode_0600_and_a_readable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("paige").join("config.toml");
        let mut config = ConfigFile::default();
        config.servers.insert(
            "prod".to_owned(),
            ServerEntry {
                url: "https://paige.example".to_owned(),
                token: SecretString::from("paige_tok"),
            },
        );
        config.default = Some("prod".to_owned());
        config.save(&path).unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        let loaded = ConfigFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let (name, server) = loaded.server(None).unwrap_or_else(|| panic!("no default"));
        assert_eq!((name, server.url.as_str()), ("prod", "https://paige.example"));
        assert_eq!(server.token.expose_secret(), "paige_tok");
        assert!(!format!("{loaded:?}").contains("paige_tok"));
        assert!(loaded.find("https://paige.example/").is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap_or_default();
        let refused = ConfigFile::load(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("chmod 600"), "{refused}");
    }
}
