//! `paige serve`: bind, log, serve until SIGTERM/SIGINT, shut down cleanly.

use std::io::IsTerminal;
use std::net::SocketAddr;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::Paige;
use crate::error::{Error, Result};
use crate::http::{self, ServeOptions};
use crate::runtime::sandbox::{self, Isolation};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "PAIGE_LISTEN")]
    pub listen: SocketAddr,
    /// Mark cookies `Secure`: set this when users reach the server over HTTPS.
    #[arg(long, env = "PAIGE_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

pub async fn serve(paige: &Paige, args: ServeArgs) -> Result<()> {
    // Logs go to stderr; `PAIGE_LOG` (e.g. `debug`) sets the level.
    let filter = EnvFilter::try_from_env("PAIGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the listening address: {e}")))?;
    println!("Paige Secrets is serving http://{address}");
    println!("  Dashboard: http://{address}/login");
    println!("  API:       http://{address}/api/v1 (OpenAPI at /api/v1/openapi.json)");
    println!("  Health:    http://{address}/healthz");
    println!("  First time? Create a user to sign in with, from another terminal:");
    println!("    paige users create you@example.com   (reads the password from stdin)");
    println!("    paige projects create my-bot --owner you@example.com");
    println!("  Stop with Ctrl-C or SIGTERM.");
    announce_bot_users(paige);
    let options = ServeOptions {
        secure_cookies: args.secure_cookies,
        ..ServeOptions::default()
    };
    http::serve(listener, paige.clone(), options, shutdown_signal())
        .await
        .map_err(|e| Error::Config(format!("server error: {e}")))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Says once, at start, what Unix user bots run as (in the banner), and
/// warns in the log when that is paige's own (a bot can then read the
/// master key and the database) or when no bot user could reach its code.
fn announce_bot_users(paige: &Paige) {
    let isolation = Isolation::of(paige.config().bot_users);
    let text = isolation.describe();
    println!("  Bots: {text}.");
    match isolation {
        Isolation::PerProject { uid_base } => {
            // The range's first million ids: far more projects than one node holds.
            let problems = sandbox::overlapping_accounts(uid_base, 1 << 20)
                .into_iter()
                .chain(sandbox::unreachable_for_bots(&paige.config().data_dir, uid_base));
            for problem in problems {
                tracing::warn!("{problem}");
            }
        }
        Isolation::SameAsPaige { .. } => tracing::warn!("{text}"),
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
