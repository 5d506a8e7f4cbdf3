//! Which back end a command uses: `--local`; else the server of
//! `--server`/`PAIGE_SERVER` (a stored name or a URL, the token from
//! `PAIGE_TOKEN` or the config file); else the config file's default
//! server; else this machine's store.

use std::ffi::OsString;

use secrecy::SecretString;

use super::config_file::{self, ConfigFile};
use super::failure::{Class, CliError, CliResult};
use super::remote::{Client, normalize_url};

pub enum Target {
    Local,
    Remote(Client),
}

fn token_from_env() -> Option<SecretString> {
    std::env::var("PAIGE_TOKEN")
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(SecretString::from)
}

pub fn resolve(server: Option<&str>, local: bool) -> CliResult<Target> {
    if local {
        return Ok(Target::Local);
    }
    let env_token = token_from_env();
    // A URL and a token from the environment need no file (CI).
    if let (Some(server), Some(token)) = (server, &env_token)
        && normalize_url(server).is_ok()
    {
        return Ok(Target::Remote(Client::new(server.to_owned(), server, token.clone())?));
    }
    let config = ConfigFile::load(&config_file::path()?)?;
    let found = match server {
        Some(wanted) => match config.find(wanted) {
            Some(found) => Some(found),
            None if normalize_url(wanted).is_ok() => {
                return Err(CliError::new(
                    Class::Auth,
                    format!("no token for {wanted}: run `paige login --server {wanted}`, or set PAIGE_TOKEN"),
                ));
            }
            None => {
                return Err(CliError::usage(format!(
                    "no server named {wanted:?} is logged in (`paige login --server URL --name {wanted}`)"
                )));
            }
        },
        None => config.server(None),
    };
    match found {
        Some((name, entry)) => {
            let token = env_token.unwrap_or_else(|| entry.token.clone());
            Ok(Target::Remote(Client::new(name.to_owned(), &entry.url, token)?))
        }
        None if env_token.is_some() => Err(CliError::usage(
            "PAIGE_TOKEN is set but no server is: set PAIGE_SERVER to the server's URL",
        )),
        None => Ok(Target::Local),
    }
}

/// The line `--help` starts with: which back end this command line would
/// use, and how to pick the other. Never fails: a problem is named.
pub fn describe(args: &[OsString]) -> String {
    let mut server = std::env::var("PAIGE_SERVER").ok().filter(|s| !s.is_empty());
    let mut local = false;
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned());
    while let Some(word) = words.next() {
        if word == "--local" {
            local = true;
        } else if word == "--server" {
            server = words.next();
        } else if let Some(value) = word.strip_prefix("--server=") {
            server = Some(value.to_owned());
        }
    }
    match resolve(server.as_deref(), local) {
        Ok(Target::Remote(client)) => format!(
            "Back end: the server {} ({}), through its API. Use --local for this machine's data dir.",
            client.name,
            client.url()
        ),
        Ok(Target::Local) => "Back end: this machine's data dir (or PAIGE_DATABASE_URL). \
                              Use `paige login --server URL` or --server to work on a server."
            .to_owned(),
        Err(e) => format!("Back end: not usable: {e}"),
    }
}
