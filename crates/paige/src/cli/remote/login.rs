//! `paige login` and `paige logout`.

use std::io::{self, IsTerminal};

use clap::Args;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{Client, normalize_url};
use crate::cli::config_file::{self, ConfigFile, ServerEntry};
use crate::cli::failure::{Class, CliError, CliResult};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The name to store the server under (default: `default`, or the
    /// name of the server given by --server if it is stored already).
    #[arg(long)]
    pub name: Option<String>,
    /// Make this server the default even if another one is.
    #[arg(long)]
    pub set_default: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Only forget the token here; do not revoke it on the server.
    #[arg(long)]
    pub keep_token: bool,
}

/// Reads a token from a hidden prompt, or all of stdin when piped.
fn read_token(url: &str) -> CliResult<SecretString> {
    let text = if io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("API token for {url} (input hidden): "))
                .map_err(|e| CliError::usage(format!("cannot read the token: {e}")))?,
        )
    } else {
        let bytes = crate::cli::read_stdin_bounded(4096)?;
        Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
    };
    let token = text.trim();
    if token.is_empty() || token.len() > 1024 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::usage(
            "an API token is one word (create one with `paige tokens create EMAIL` on the server, or in the dashboard)",
        ));
    }
    Ok(SecretString::from(token))
}

fn valid_name(name: &str) -> CliResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid server name {name:?}: 1 to 63 of a-z, A-Z, 0-9, -, _ and ."
        )))
    }
}

/// Checks a token against a server and stores both under a name.
pub async fn login(server: Option<&str>, args: LoginArgs) -> CliResult<()> {
    let path = config_file::path()?;
    let mut config = ConfigFile::load(&path)?;
    let (url, stored_name) = match server {
        Some(wanted) => match config.find(wanted) {
            Some((name, entry)) => (entry.url.clone(), Some(name.to_owned())),
            None => (normalize_url(wanted)?, None),
        },
        None => match config.server(None) {
            Some((name, entry)) => (entry.url.clone(), Some(name.to_owned())),
            None => return Err(CliError::usage("name the server: `paige login --server https://…`")),
        },
    };
    let name = args.name.or(stored_name).unwrap_or_else(|| "default".to_owned());
    valid_name(&name)?;
    let token = read_token(&url)?;
    let client = Client::new(name.clone(), &url, token.clone())?;
    let me = client.me().await?;
    config.servers.insert(
        name.clone(),
        ServerEntry {
            url: url.clone(),
            token,
        },
    );
    if args.set_default || config.default.as_ref().is_none_or(|d| !config.servers.contains_key(d)) {
        config.default = Some(name.clone());
    }
    config.save(&path)?;
    let default = if config.default.as_deref() == Some(name.as_str()) {
        " (the default)"
    } else {
        ""
    };
    let token = me.token_id.map(|id| format!(", token #{id}")).unwrap_or_default();
    println!(
        "logged in to {url} as {}{token} — stored as server {name}{default}",
        me.email
    );
    Ok(())
}

/// Revokes the stored token on its server and removes it from the file.
pub async fn logout(server: Option<&str>, args: LogoutArgs) -> CliResult<()> {
    let path = config_file::path()?;
    let mut config = ConfigFile::load(&path)?;
    let found = match server {
        Some(wanted) => config.find(wanted),
        None => config.server(None),
    };
    let Some((name, entry)) = found.map(|(n, e)| (n.to_owned(), e.clone())) else {
        return Err(CliError::new(Class::NotFound, "no such server is logged in"));
    };
    let mut revoked = false;
    if !args.keep_token {
        let client = Client::new(name.clone(), &entry.url, entry.token.clone())?;
        match client.revoke_current_token().await {
            Ok(()) => revoked = true,
            // Already revoked or expired: forgetting it is all there is to do.
            Err(e) if e.class == Class::Auth => {}
            Err(e) => {
                return Err(CliError::new(
                    e.class,
                    format!("{e}; the token is kept (use --keep-token to forget it without revoking)"),
                ));
            }
        }
    }
    config.servers.remove(&name);
    if config.default.as_deref() == Some(name.as_str()) {
        config.default = config.servers.keys().next().cloned();
    }
    config.save(&path)?;
    let what = if revoked {
        "token revoked and removed"
    } else {
        "token removed"
    };
    println!("logged out of {} ({}): {what}", name, entry.url);
    Ok(())
}
