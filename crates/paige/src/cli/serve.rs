//! `paige serve`: bind, log, serve until SIGTERM/SIGINT, shut down cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::run_socket::serve::RunSocket;
use crate::Paige;
use crate::auth::setup::SetupCode;
use crate::config::{self, Retention};
use crate::error::{Error, Result};
use crate::http::{self, ServeOptions};
use crate::runtime::bwrap;
use crate::runtime::limits::{self, Backend, ResourceLimits};
use crate::runtime::sandbox::{self, Isolation};
use crate::runtime::sandbox_pool::{self, PreparedIdle};

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
    /// Warm processes per `http` project: each serves one webhook at a time.
    #[arg(long, env = "PAIGE_BOT_PROCESSES", value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub bot_processes: u16,
    /// Webhooks of one project that may wait for a process; more get 503.
    #[arg(long, env = "PAIGE_BOT_QUEUE", value_name = "N", default_value_t = 16)]
    pub bot_queue: u16,
    /// A warm process unused this long is stopped, in seconds.
    #[arg(long, env = "PAIGE_BOT_IDLE_SECONDS", value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub bot_idle_seconds: u64,
    /// How long a new warm process may take to listen on its PORT, in seconds.
    #[arg(
        long,
        env = "PAIGE_BOT_START_SECONDS",
        value_name = "SECONDS",
        default_value_t = 10.0
    )]
    pub bot_start_seconds: f64,
    /// The time limit of one webhook, in seconds (then 504).
    #[arg(
        long,
        env = "PAIGE_HOOK_TIMEOUT_SECONDS",
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub hook_timeout_seconds: f64,
    /// The largest webhook body, in KiB (then 413).
    #[arg(long, env = "PAIGE_HOOK_BODY_KIB", value_name = "KIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub hook_body_kib: u64,
    /// How long a sandbox prepared for a project's next execution waits for
    /// it, in seconds (also the window in which two executions make the
    /// project's layout worth preparing for); 0 prepares none.
    #[arg(long, env = "PAIGE_PREPARED_IDLE_SECONDS", value_name = "SECONDS",
          default_value_t = sandbox_pool::IDLE_FOR.as_secs(), value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub prepared_idle_seconds: u64,
    /// Serve /metrics on the main listener to `Authorization: Bearer <token>`,
    /// the token being this file's content (at least 32 characters).
    #[arg(long, env = "PAIGE_METRICS_TOKEN_FILE", value_name = "FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Also serve /metrics, without a token, on this address (keep it private).
    #[arg(long, env = "PAIGE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// The shortest metrics token accepted: guessing one must be hopeless.
const METRICS_TOKEN_MIN: usize = 32;

/// Reads the metrics token from its file: one line, surrounding space dropped.
fn read_metrics_token(path: &Path) -> Result<Arc<SecretString>> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?);
    let token = text.trim();
    if token.len() < METRICS_TOKEN_MIN || token.contains(char::is_whitespace) {
        return Err(Error::Config(format!(
            "{}: the metrics token must be one word of at least {METRICS_TOKEN_MIN} characters",
            path.display()
        )));
    }
    Ok(Arc::new(SecretString::from(token)))
}

impl ServeArgs {
    /// How long this server's sweep keeps executions and audit records.
    pub fn retention(&self) -> Retention {
        Retention {
            execution_days: self.execution_retention_days,
            audit_days: self.audit_retention_days,
        }
    }

    /// The warm processes' options of this server.
    pub fn warm_options(&self) -> crate::config::WarmOptions {
        let seconds = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.05, 86_400.0));
        crate::config::WarmOptions {
            processes: usize::from(self.bot_processes),
            queue: usize::from(self.bot_queue),
            idle: std::time::Duration::from_secs(self.bot_idle_seconds),
            start_timeout: seconds(self.bot_start_seconds),
            request_timeout: seconds(self.hook_timeout_seconds),
            body_limit: usize::try_from(self.hook_body_kib << 10).unwrap_or(usize::MAX),
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
    // Logs go to stderr; `PAIGE_LOG` (e.g. `debug`) sets the level,
    // `PAIGE_LOG_FORMAT=json` makes them JSON.
    super::log_format::init(Some("info"))?;

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
    let setup_code = first_run_code(paige, address).await?;
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
    let metrics_token = args.metrics_token_file.as_deref().map(read_metrics_token).transpose()?;
    if metrics_token.is_some() {
        println!("  Metrics:   http://{address}/metrics (with the metrics token)");
    }
    let metrics_server = match args.metrics_listen {
        Some(addr) => Some(serve_metrics_alone(paige, addr).await?),
        None => None,
    };
    let options = ServeOptions {
        secure_cookies: args.secure_cookies,
        setup_code,
        metrics_token,
        prepared_idle: PreparedIdle(std::time::Duration::from_secs(args.prepared_idle_seconds)),
        ..ServeOptions::default()
    };
    let run_socket = RunSocket::bind(paige);
    if let Some(socket) = &run_socket {
        println!(
            "  Runs: `paige run` on this data dir is handed to this server ({}).",
            socket.path().display()
        );
    }
    let shutdown = async move {
        shutdown_signal().await;
        // While the store is open: the runs it holds are stopped and recorded.
        if let Some(socket) = run_socket {
            socket.close().await;
        }
    };
    let served = http::serve(listener, paige.clone(), options, shutdown).await;
    if let Some(server) = metrics_server {
        server.abort();
    }
    served.map_err(|e| Error::Config(format!("server error: {e}")))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// While no user exists, a one-time setup code for the first-run page,
/// printed on one line of stdout and nowhere else (never in the log).
async fn first_run_code(paige: &Paige, address: SocketAddr) -> Result<Option<SetupCode>> {
    if paige.user_count().await? > 0 {
        return Ok(None);
    }
    let code = SetupCode::generate();
    println!(
        "  First run: no account exists yet. Open http://{address}/setup and enter the setup code {} \
         (it works once, on this server).",
        code.expose()
    );
    Ok(Some(code))
}

/// Binds `addr` and serves /metrics alone there, in the background.
async fn serve_metrics_alone(paige: &Paige, addr: SocketAddr) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr} for metrics: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the metrics address: {e}")))?;
    println!("  Metrics:   http://{bound}/metrics (no token: keep this address private)");
    tracing::info!(address = %bound, "metrics listening");
    let paige = paige.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = http::metrics::serve_alone(listener, paige, std::future::pending()).await {
            tracing::warn!("metrics listener stopped: {e}");
        }
    }))
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
    let switch = match isolation {
        // As root, the bot's user switch is paige-start's (runtime/bwrap.rs).
        Isolation::PerProject { .. } => bwrap::start_path().err(),
        Isolation::SameAsPaige { .. } => None,
    };
    for missing in bwrap::bwrap_path().err().into_iter().chain(switch) {
        let warning = format!("WARNING: {missing}; no bot can run until it is");
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
