//! The `paige` command line (SPEC §6). The project commands run through a
//! [`Backend`]: this machine's store, or a server's API after `paige
//! login` (see `remote/`). Values, passwords and tokens are read from
//! standard input or a hidden prompt only, never from the command line.

mod actor;
mod backend;
mod backup;
mod commands;
mod config_file;
mod failure;
mod kms;
mod lazy;
mod log_format;
mod logs;
mod push;
mod remote;
mod run_socket;
mod runtime;
mod serve;
mod target;
mod views;

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::Paige;
use crate::config::{
    BotUsers, Config, DEFAULT_DATA_DIR, DEFAULT_SECRET_VERSIONS, DEFAULT_UID_BASE, MAX_SECRET_VERSIONS, Retention,
};
use crate::error::{Error, Result};
use crate::runtime::sandbox::MIN_UID_BASE;
use crate::secrets::rules;
use backend::Backend;
use commands::{AuditArgs, ExecutionsCommand, MembersCommand, ProjectsCommand, SecretsCommand};
use failure::{CliError, CliResult};
use lazy::{Lazy, Used};
use target::Target;

pub use actor::local_actor;

#[derive(Debug, Parser)]
#[command(
    name = "paige",
    version,
    about = "Paige Secrets: encrypted, write-only secrets for bot projects"
)]
pub struct Cli {
    /// Directory of the embedded database, the master key and the local copy of bot code.
    #[arg(long, global = true, env = "PAIGE_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Master key file, instead of <data dir>/master.key.
    #[arg(long, global = true, env = "PAIGE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// PostgreSQL database URL (postgres://user@host/db) to use instead of
    /// the embedded store; the data dir then holds only the master key and a
    /// copy of the bot code.
    #[arg(long, global = true, env = "PAIGE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// When paige runs as root, project N's bots run as uid and gid BASE + N
    /// (no account needed); keep that range free of other users and groups.
    #[arg(
        long,
        global = true,
        env = "PAIGE_BOT_UID_BASE",
        value_name = "BASE",
        default_value_t = DEFAULT_UID_BASE,
        value_parser = clap::value_parser!(u32).range(i64::from(MIN_UID_BASE)..i64::from(i32::MAX))
    )]
    pub bot_uid_base: u32,
    /// Run bots with no sandbox, as paige's own user (even when paige is
    /// root). Any bot can then read the master key, the database, other
    /// projects' bots and every process's command line.
    #[arg(long, global = true, env = "PAIGE_INSECURE_BOTS_AS_PAIGE_USER")]
    pub insecure_bots_as_paige_user: bool,
    /// The server to use: a name stored by `paige login`, or a URL (its
    /// token then from PAIGE_TOKEN). Default: the default stored server.
    #[arg(long, global = true, env = "PAIGE_SERVER", value_name = "NAME|URL")]
    pub server: Option<String>,
    /// Use this machine's data dir or database even when a server is configured.
    #[arg(long, global = true)]
    pub local: bool,
    /// Versions kept per key, the current one included: older ones are
    /// deleted by the write that passes the count. Every command that
    /// writes secrets (and every node) should be given the same number.
    #[arg(
        long,
        global = true,
        env = "PAIGE_SECRET_VERSIONS",
        value_name = "N",
        default_value_t = DEFAULT_SECRET_VERSIONS,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SECRET_VERSIONS))
    )]
    pub secret_versions: u32,
    #[command(flatten)]
    pub kms: kms::KmsArgs,
    #[command(subcommand)]
    pub command: Used<Command>,
}

/// Each subcommand's arguments are built only when it is used ([`Lazy`]).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM or Ctrl-C (local only).
    Serve(Lazy<serve::ServeArgs>),
    /// Store a server and an API token for it (read from stdin or a hidden prompt).
    Login(Lazy<remote::login::LoginArgs>),
    /// Revoke the stored token on its server and forget it.
    Logout(Lazy<remote::login::LogoutArgs>),
    /// Manage user accounts (local only).
    #[command(subcommand)]
    Users(Lazy<UsersCommand>),
    /// Manage API tokens (local only).
    #[command(subcommand)]
    Tokens(Lazy<TokensCommand>),
    /// Manage projects.
    #[command(subcommand)]
    Projects(Lazy<ProjectsCommand>),
    /// Manage project members.
    #[command(subcommand)]
    Members(Lazy<MembersCommand>),
    /// Set, list and delete a project's secrets (values are never shown).
    #[command(subcommand)]
    Secrets(Lazy<SecretsCommand>),
    /// Manage the master key and its provider, file or Transit (local only).
    #[command(subcommand)]
    Keys(Lazy<kms::KeysCommand>),
    /// Show a project's audit log, newest first.
    Audit(Lazy<AuditArgs>),
    /// Replace a project's bot code.
    #[command(subcommand)]
    Code(Lazy<runtime::CodeCommand>),
    /// A project's executions and their redacted logs.
    #[command(subcommand)]
    Executions(Lazy<ExecutionsCommand>),
    /// Print an execution's redacted log; --follow until it ends.
    Logs(Lazy<logs::LogsArgs>),
    /// Run one execution of a project: locally with its secrets, or on the
    /// server with --remote.
    Run(Lazy<runtime::RunArgs>),
    /// Back up, verify and restore the store (local only; see README, Backups).
    #[command(subcommand)]
    Backup(Lazy<backup::BackupCommand>),
    /// Print a shell completion script (bash, zsh or fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from standard input.
    Create { email: String },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for a user and print it, once.
    Create { email: String },
    /// Revoke a token by its id (printed when it was created).
    Revoke { id: i64 },
}

/// Parses the command line, with `--help` saying which back end is in use.
pub fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Only help pays for reading the config file twice, and for building
    // every subcommand (see `lazy`).
    let asks_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help" || a == "help");
    let command = if asks_help {
        let note = target::describe(&args);
        with_note(lazy::whole_tree(Cli::command), &note)
    } else {
        lazy::tree_for::<Cli, Command>(&args)
    };
    let mut matches = command.get_matches_from(args);
    match Cli::from_arg_matches_mut(&mut matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

/// Puts `note` at the top of the help of `command` and every subcommand.
fn with_note(mut command: clap::Command, note: &str) -> clap::Command {
    let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| with_note(sub, note));
    }
    command.before_help(note.to_owned()).before_long_help(note.to_owned())
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn execute(cli: Cli) -> CliResult<ExitCode> {
    match cli.command.0 {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut lazy::whole_tree(Cli::command), "paige", &mut io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Login(Lazy(args)) => {
            remote::login::login(cli.server.as_deref(), args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Logout(Lazy(args)) => {
            remote::login::logout(cli.server.as_deref(), args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    match target::resolve(cli.server.as_deref(), cli.local)? {
        Target::Remote(client) => remote_command(&client, cli.command.0).await,
        Target::Local => local_command(cli).await,
    }
}

/// A command against a server: the project commands, or a refusal naming
/// the local-only ones.
async fn remote_command(client: &remote::Client, command: Command) -> CliResult<ExitCode> {
    let backend = Backend::Remote(client);
    let server = format!("{} ({})", client.name, client.url());
    match command {
        Command::Run(Lazy(args)) if args.remote => {
            if !args.command.is_empty() {
                return Err(CliError::usage(
                    "`paige run --remote` runs the project's own entry point; a command after -- runs only locally",
                ));
            }
            return logs::run_remote(client, &args.slug, args.event.as_deref()).await;
        }
        Command::Serve(_) => return Err(commands::local_only("serve", &server)),
        Command::Users(_) => return Err(commands::local_only("users", &server)),
        Command::Tokens(_) => return Err(commands::local_only("tokens", &server)),
        Command::Keys(_) => return Err(commands::local_only("keys", &server)),
        Command::Backup(_) => return Err(commands::local_only("backup", &server)),
        Command::Code(Lazy(runtime::CodeCommand::Findings { .. } | runtime::CodeCommand::Fix { .. })) => {
            return Err(commands::local_only("code findings and code fix", &server));
        }
        Command::Run(_) => {
            return Err(CliError::usage(format!(
                "`paige run` without --remote runs the bot on this machine with its secrets, which lives on                  the server {server}: add --remote to run it there, or --local to run it here"
            )));
        }
        other => shared_command(&backend, other).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The commands both back ends have.
async fn shared_command(backend: &Backend<'_>, command: Command) -> CliResult<()> {
    match command {
        Command::Projects(Lazy(command)) => commands::projects(backend, command).await,
        Command::Members(Lazy(command)) => commands::members(backend, command).await,
        Command::Secrets(Lazy(command)) => commands::secrets(backend, command).await,
        Command::Audit(Lazy(args)) => commands::audit(backend, args).await,
        Command::Executions(Lazy(command)) => commands::executions(backend, command).await,
        Command::Logs(Lazy(args)) => logs::logs(backend, args).await,
        Command::Code(Lazy(runtime::CodeCommand::Push { slug, dir, json })) => {
            commands::push(backend, &slug, &dir, json).await
        }
        _ => Err(CliError::usage("this command does not run here")),
    }
}

async fn local_command(cli: Cli) -> CliResult<ExitCode> {
    let (resource_limits, warm, retention) = match &cli.command.0 {
        Command::Serve(Lazy(args)) => (args.resource_limits(), args.warm_options(), args.retention()),
        _ => (
            crate::runtime::limits::ResourceLimits::default(),
            crate::config::WarmOptions::default(),
            Retention::default(),
        ),
    };
    let kms = match &cli.command.0 {
        Command::Keys(Lazy(command)) => cli.kms.config(command.kind())?,
        _ => cli.kms.config(None)?,
    };
    let config = Config {
        data_dir: cli.data_dir,
        master_key_file: cli.master_key_file,
        database_url: cli.database_url,
        bot_users: if cli.insecure_bots_as_paige_user {
            BotUsers::SameAsPaige
        } else {
            BotUsers::PerProject {
                uid_base: cli.bot_uid_base,
            }
        },
        resource_limits,
        warm,
        secret_versions: cli.secret_versions,
        retention,
        kms,
        sqlite_readers: match &cli.command.0 {
            Command::Serve(_) => crate::store::sqlite::SERVER_READERS,
            _ => crate::store::sqlite::SHARED_WITH_WRITER,
        },
    };
    let command = match cli.command.0 {
        Command::Backup(Lazy(command)) if !command.opens_store() => {
            return Ok(backup::without_store(&config, command).await?);
        }
        command => command,
    };
    if let Command::Run(Lazy(args)) = &command
        && !args.remote
        && config.bot_users != BotUsers::SameAsPaige
    {
        // In the sandbox, a running `paige serve` of this data dir runs it
        // faster, with the store, keys and redactor it holds (see
        // `run_socket`).
        if let Some(code) = run_socket::client::run(&config, args, &local_actor()).await? {
            return Ok(code);
        }
        // Its limits are found while the store opens (see `prepare_limits`).
        crate::runtime::jail::prepare_limits();
        // Before the store opens its files: the scan reads one `fdinfo`
        // per open descriptor (see `inherited_fds`), a few here.
        let _ = crate::runtime::bwrap::inherited_fds();
    }
    let opening = std::time::Instant::now();
    let paige = Paige::open(&config).await?;
    let opened = opening.elapsed();
    let result = dispatch(&paige, command).await;
    let closing = std::time::Instant::now();
    paige.close().await;
    // The process's own phases around an execution's (`runtime::timing`).
    tracing::debug!(
        target: "paige::runtime::timing",
        open_us = opened.as_micros(),
        close_us = closing.elapsed().as_micros(),
        "store"
    );
    result
}

async fn dispatch(paige: &Paige, command: Command) -> CliResult<ExitCode> {
    let actor = local_actor();
    match command {
        Command::Users(Lazy(UsersCommand::Create { email })) => {
            let password = read_password()?;
            let user = paige.create_user(&email, &password, &actor).await?;
            println!("created user {}", user.email);
        }
        Command::Tokens(Lazy(TokensCommand::Create { email })) => {
            let (id, token) = paige.create_token(&email, &actor).await?;
            println!("{}", token.expose());
            eprintln!("Token #{id} created. It is shown once; store it now.");
        }
        Command::Tokens(Lazy(TokensCommand::Revoke { id })) => {
            paige.revoke_token(id, None, &actor).await?;
            println!("revoked token #{id}");
        }
        Command::Serve(Lazy(args)) => serve::serve(paige, args).await?,
        Command::Keys(Lazy(command)) => kms::keys(paige, command, &actor).await?,
        Command::Backup(Lazy(command)) => return Ok(backup::with_store(paige, command).await?),
        Command::Code(Lazy(command @ (runtime::CodeCommand::Findings { .. } | runtime::CodeCommand::Fix { .. }))) => {
            runtime::code(paige, command, &actor).await?;
        }
        Command::Run(Lazy(args)) => {
            if args.remote {
                return Err(CliError::usage(
                    "`paige run --remote` needs a server: `paige login --server URL`, or --server and PAIGE_TOKEN",
                ));
            }
            return Ok(runtime::run(paige, args, &actor).await?);
        }
        other => shared_command(&Backend::Local { paige, actor }, other).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json(value: &impl Serialize) -> CliResult<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Config(format!("cannot encode JSON: {e}")))?;
    // A reader that stopped reading (`| head`) is not an error worth a panic.
    let _ = writeln!(io::stdout().lock(), "{text}");
    Ok(())
}

/// Reads a secret value: a hidden prompt on a terminal, otherwise all of
/// standard input (one trailing newline dropped).
fn read_value(key: &str) -> Result<SecretString> {
    let bytes = if io::stdin().is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password(format!("Value for {key} (input hidden): "))
                .map_err(|e| Error::invalid("unreadable_input", format!("cannot read the value: {e}")))?,
        );
        Zeroizing::new(typed.as_bytes().to_vec())
    } else {
        read_stdin_bounded(rules::VALUE_MAX_BYTES)?
    };
    let value = rules::value_from_input(&bytes)?;
    Ok(value)
}

fn read_password() -> Result<SecretString> {
    if io::stdin().is_terminal() {
        let first = Zeroizing::new(
            rpassword::prompt_password("Password: ")
                .map_err(|e| Error::invalid("unreadable_input", format!("cannot read the password: {e}")))?,
        );
        let again = Zeroizing::new(
            rpassword::prompt_password("Repeat password: ")
                .map_err(|e| Error::invalid("unreadable_input", format!("cannot read the password: {e}")))?,
        );
        if *first != *again {
            return Err(Error::invalid("password_mismatch", "the two passwords differ"));
        }
        return Ok(SecretString::from(first.as_str()));
    }
    let bytes = read_stdin_bounded(crate::auth::passwords::PASSWORD_MAX_BYTES)?;
    let value = rules::value_from_input(&bytes)
        .map_err(|_| Error::invalid("invalid_password", "a password must be UTF-8 text"))?;
    Ok(SecretString::from(value.expose_secret()))
}

/// Reads standard input up to a little past `max` bytes, so an endless
/// stream is refused instead of filling memory; the caller's rules report
/// the exact size.
fn read_stdin_bounded(max: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    let limit = u64::try_from(max + 3).unwrap_or(u64::MAX);
    io::stdin()
        .lock()
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid("unreadable_input", format!("cannot read standard input: {e}")))?;
    io::stdout().flush().ok();
    Ok(bytes)
}
