//! `paige serve`: bind, log, serve until SIGTERM/SIGINT, shut down cleanly.

use std::io::IsTerminal;
use std::net::SocketAddr;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::Paige;
use crate::config::{self, Retention};
use crate::error::{Error, Result};
use crate::http::{self, ServeOptions};
use crate::runtime::bwrap;
use crate::runtime::limits::{self, Backend, ResourceLimits};
use crate::runtime::sandbox::{self, Isolation};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "PAIGE_LISTEN")]
    pub listen: SocketAddr,
    /// Mark cookies `Secure`: set this when users reach the server over HTTPS.
    #[arg(long, env = "PAIGE_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Processes (and threads) each execution's sandbox may have at once.
    #[arg(long, env = "PAIGE_BOT_MAX_PROCESSES", value_name = "N", default_value_t = limits::DEFAULT_MAX_PROCESSES,
          value_parser = clap::value_parser!(u32).range(8..))]
    pub bot_max_processes: u32,
    /// Memory of each execution, in MiB.
    #[arg(long, env = "PAIGE_BOT_MEMORY_MIB", value_name = "MIB",
          default_value_t = limits::DEFAULT_MEMORY_BYTES >> 20, value_parser = clap::value_parser!(u64).range(16..))]
    pub bot_memory_mib: u64,
    /// CPU time of each process of an execution, in seconds.
    #[arg(long, env = "PAIGE_BOT_CPU_SECONDS", value_name = "SECONDS",
          default_value_t = limits::DEFAULT_CPU_TIME.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub bot_cpu_seconds: u64,
    /// Size of each execution's private /tmp (its home), and of its /dev/shm, in MiB.
    #[arg(long, env = "PAIGE_BOT_TMPFS_MIB", value_name = "MIB",
          default_value_t = limits::DEFAULT_TMPFS_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub bot_tmpfs_mib: u64,
    /// Days executions and their logs are kept (by start time); 0 keeps them forever.
    #[arg(long, env = "PAIGE_EXECUTION_RETENTION_DAYS", value_name = "DAYS",
          default_value_t = config::DEFAULT_EXECUTION_RETENTION_DAYS)]
    pub execution_retention_days: u32,
    /// Days audit records are kept; 0 keeps them forever.
    #[arg(long, env = "PAIGE_AUDIT_RETENTION_DAYS", value_name = "DAYS",
          default_value_t = config::DEFAULT_AUDIT_RETENTION_DAYS)]
    pub audit_retention_days: u32,
}

impl ServeArgs {
    /// How long this server's sweep keeps executions and audit records.
    pub fn retention(&self) -> Retention {
        Retention {
            execution_days: self.execution_retention_days,
            audit_days: self.audit_retention_days,
        }
    }

    /// The resource limits of every execution this server runs.
    pub fn resource_limits(&self) -> ResourceLimits {
        ResourceLimits {
            max_processes: self.bot_max_processes,
            memory_bytes: self.bot_memory_mib << 20,
            cpu_time: std::time::Duration::from_secs(self.bot_cpu_seconds),
            tmpfs_bytes: self.bot_tmpfs_mib << 20,
        }
    }
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
    let (config, days) = (paige.config(), |d: u32| {
        if d == 0 {
            "forever".to_owned()
        } else {
            format!("{d} days")
        }
    });
    println!(
        "  Keeps: the last {} versions of each key; executions {}, audit records {}.",
        config.secret_versions,
        days(config.retention.execution_days),
        days(config.retention.audit_days)
    );
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

/// Says once, at start, where and as whom bots run and which limits
/// apply how (in the banner), and warns in the log when there is no
/// sandbox, or no bubblewrap to make one.
fn announce_bot_users(paige: &Paige) {
    let isolation = Isolation::of(paige.config().bot_users);
    let text = isolation.describe();
    println!("  Bots: {text}.");
    if !isolation.sandboxed() {
        tracing::warn!("{text}");
        return;
    }
    if let Err(e) = bwrap::bwrap_path() {
        let warning = format!("WARNING: {e}; no bot can run until it is");
        println!("  {warning}");
        tracing::warn!("{warning}");
    }
    let limits = paige.config().resource_limits;
    println!(
        "  Limits per execution: {} processes, {} memory, {} s CPU time per process, {} /tmp; \
         enforced by {}.",
        limits.max_processes,
        limits::format_bytes(limits.memory_bytes),
        limits.cpu_time.as_secs(),
        limits::format_bytes(limits.tmpfs_bytes),
        Backend::detect().describe()
    );
    if let Isolation::PerProject { uid_base } = isolation {
        // The range's first million ids: far more projects than one node holds.
        for problem in sandbox::overlapping_accounts(uid_base, 1 << 20) {
            tracing::warn!("{problem}");
        }
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
