//! The key provider options (`--kms ...`) and `paige keys`.
//!
//! The Transit token comes from a file or from `PAIGE_KMS_TOKEN`, never
//! from the command line, where every user of the machine could read it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::Paige;
use crate::config::{DEFAULT_KMS_TIMEOUT, KmsConfig, KmsKind, TransitSettings};
use crate::error::{Error, Result};
use crate::model::Actor;

/// The environment variable that may hold the Transit token.
pub const TOKEN_ENV: &str = "PAIGE_KMS_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KmsChoice {
    /// The master key file (<data dir>/master.key or --master-key-file).
    File,
    /// OpenBao/Vault Transit (--kms-address, --kms-key, a token).
    Transit,
}

impl From<KmsChoice> for KmsKind {
    fn from(choice: KmsChoice) -> Self {
        match choice {
            KmsChoice::File => Self::File,
            KmsChoice::Transit => Self::Transit,
        }
    }
}

#[derive(Debug, Args)]
pub struct KmsArgs {
    /// Which key provider wraps data keys.
    #[arg(long, global = true, env = "PAIGE_KMS", value_enum, default_value_t = KmsChoice::File)]
    pub kms: KmsChoice,
    /// OpenBao/Vault address, e.g. https://bao.example:8200.
    #[arg(long, global = true, env = "PAIGE_KMS_ADDRESS", value_name = "URL")]
    pub kms_address: Option<String>,
    /// Name of the Transit key (a derived key: `derived=true`).
    #[arg(long, global = true, env = "PAIGE_KMS_KEY", value_name = "NAME")]
    pub kms_key: Option<String>,
    /// Where the Transit engine is mounted.
    #[arg(long, global = true, env = "PAIGE_KMS_MOUNT", default_value = "transit")]
    pub kms_mount: String,
    /// File holding the Transit token (else PAIGE_KMS_TOKEN).
    #[arg(long, global = true, env = "PAIGE_KMS_TOKEN_FILE", value_name = "FILE")]
    pub kms_token_file: Option<PathBuf>,
    /// How long an unwrapped data key (and a redactor built from a
    /// project's values) stays in this node's memory: 300, 300s, 5m or
    /// 1h; 0 turns the cache off.
    #[arg(long, global = true, env = "PAIGE_KMS_CACHE_TTL", value_name = "TIME", default_value = "5m",
          value_parser = parse_duration)]
    pub kms_cache_ttl: Duration,
    /// The longest one call to the key service may take.
    #[arg(long, global = true, env = "PAIGE_KMS_TIMEOUT", value_name = "TIME", default_value = "5s",
          value_parser = parse_duration)]
    pub kms_timeout: Duration,
}

/// `300`, `300s`, `5m`, `1h`, `250ms`.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let rule = || format!("invalid time {text:?}: a number of seconds, or a number followed by ms, s, m or h");
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| rule())?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(rule()),
    }
}

impl KmsArgs {
    /// The key provider configuration; `kind` overrides `--kms` (a
    /// migration makes its target the primary provider).
    pub fn config(&self, kind: Option<KmsKind>) -> Result<KmsConfig> {
        let kind = kind.unwrap_or(self.kms.into());
        let transit = if kind == KmsKind::Transit || self.kms_address.is_some() {
            Some(self.transit()?)
        } else {
            None
        };
        Ok(KmsConfig {
            kind,
            transit,
            cache_ttl: self.kms_cache_ttl,
        })
    }

    fn transit(&self) -> Result<TransitSettings> {
        let missing = |what: &str| Error::Config(format!("the Transit key provider needs {what}"));
        let address = self.kms_address.clone().ok_or_else(|| missing("--kms-address"))?;
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(Error::Config(format!(
                "--kms-address {address:?} must start with http:// or https://"
            )));
        }
        Ok(TransitSettings {
            address,
            mount: self.kms_mount.clone(),
            key: self.kms_key.clone().ok_or_else(|| missing("--kms-key"))?,
            token: self.token()?,
            token_file: self.kms_token_file.clone(),
            timeout: if self.kms_timeout.is_zero() {
                DEFAULT_KMS_TIMEOUT
            } else {
                self.kms_timeout
            },
        })
    }

    fn token(&self) -> Result<SecretString> {
        let text = match &self.kms_token_file {
            Some(path) => Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?),
            None => Zeroizing::new(std::env::var(TOKEN_ENV).map_err(|_| {
                Error::Config(format!(
                    "the Transit key provider needs a token: --kms-token-file or {TOKEN_ENV}"
                ))
            })?),
        };
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::Config("the Transit token is empty".to_owned()));
        }
        Ok(SecretString::from(token))
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Rotate the master key and re-wrap every project's data key with it
    /// (the file: a new key file; Transit: a new key version).
    Rotate,
    /// Show the key providers, their current keys and how many data keys each key wraps.
    Status,
    /// Re-wrap every data key with another provider; run it again to
    /// finish a run that was interrupted.
    Migrate {
        #[arg(long, value_enum)]
        to: KmsChoice,
    },
}

impl KeysCommand {
    /// The provider a command needs as its primary one.
    pub fn kind(&self) -> Option<KmsKind> {
        match self {
            Self::Migrate { to } => Some((*to).into()),
            _ => None,
        }
    }
}

pub async fn keys(paige: &Paige, command: KeysCommand, actor: &Actor) -> Result<()> {
    match command {
        KeysCommand::Rotate => {
            let rotation = paige.rotate_master_key(actor).await?;
            if paige.keyring().primary().as_file().is_some() {
                println!("master key rotated: {} data keys re-wrapped", rotation.rewrapped);
            } else if rotation.resumed {
                println!(
                    "finished an interrupted rotation: {} data keys re-wrapped under {}",
                    rotation.rewrapped, rotation.key_id
                );
            } else {
                println!(
                    "master key rotated to {}: {} data keys re-wrapped",
                    rotation.key_id, rotation.rewrapped
                );
            }
        }
        KeysCommand::Status => {
            let status = paige.key_status().await?;
            println!(
                "provider: {} ({}), current key {}",
                status.primary.provider, status.primary.location, status.primary.current
            );
            for other in &status.others {
                println!(
                    "also:     {} ({}), current key {}",
                    other.provider, other.location, other.current
                );
            }
            println!("data keys:");
            if status.data_keys.is_empty() {
                println!("  none");
            }
            for (provider, key_id, count) in &status.data_keys {
                println!("  {provider:<8} {key_id:<24} {count}");
            }
        }
        KeysCommand::Migrate { to } => {
            let to = match to {
                KmsChoice::File => crate::crypto::provider::FILE,
                KmsChoice::Transit => crate::crypto::transit::TRANSIT,
            };
            let moved = paige.migrate_keys(to, actor).await?;
            println!("migrated {moved} data keys to the {to} key provider");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 min").is_err());
        assert!(parse_duration("").is_err());
    }
}
