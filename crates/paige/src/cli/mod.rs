//! The `paige` command line (SPEC §6). Each subcommand is a thin call into
//! [`Paige`]; values and passwords are read from standard input only.

mod backup;
mod kms;
mod logs;
mod runtime;
mod serve;

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::Paige;
use crate::config::{
    BotUsers, Config, DEFAULT_DATA_DIR, DEFAULT_SECRET_VERSIONS, DEFAULT_UID_BASE, MAX_SECRET_VERSIONS, Retention,
};
use crate::error::{Error, Result};
use crate::model::{Actor, Page, SecretMeta, format_utc};
use crate::projects::parse_role;
use crate::runtime::sandbox::MIN_UID_BASE;
use crate::secrets::{dotenv, rules};

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
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM or Ctrl-C.
    Serve(serve::ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage projects.
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Manage project members.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Set, list and delete a project's secrets (values are never shown).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Manage the master key and its provider (file or Transit).
    #[command(subcommand)]
    Keys(kms::KeysCommand),
    /// Show a project's audit log, newest first.
    Audit(AuditArgs),
    /// Replace a project's bot code.
    #[command(subcommand)]
    Code(runtime::CodeCommand),
    /// Run a command as one execution of a project, locally, with its secrets.
    Run(runtime::RunArgs),
    /// Back up, verify and restore the store (see README, Backups).
    #[command(subcommand)]
    Backup(backup::BackupCommand),
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

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Create a project, optionally with an owner.
    Create {
        slug: String,
        #[arg(long)]
        owner: Option<String>,
    },
    /// List all projects.
    List,
    /// Show a project's runtime mode, or set it: `http` (a warm HTTP
    /// server behind /hooks/SLUG/…) or `event` (one process per event).
    Mode { slug: String, mode: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Invite someone to a project with a role; they join when they accept
    /// it in the dashboard (Projects page) after signing in with that email.
    Add {
        slug: String,
        email: String,
        /// owner, admin, developer or viewer.
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret; the value is read from standard input, never the command line.
    Set { slug: String, key: String },
    /// List keys with when and by whom each was last updated.
    List {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret.
    Rm { slug: String, key: String },
    /// Import a .env file: every line is applied, or none.
    Import { slug: String, file: PathBuf },
    /// List a key's kept versions with when and by whom each was set (never values).
    Versions {
        slug: String,
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Restore the value of a kept version as a new version (the value is never shown).
    Rollback {
        slug: String,
        key: String,
        /// The version whose value to restore.
        #[arg(long, value_name = "VERSION")]
        to: i64,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    pub slug: String,
    /// How many events to show.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
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
            ExitCode::FAILURE
        }
    }
}

/// The actor recorded for changes made from this machine's command line.
fn cli_actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    Actor {
        name: format!("cli:{user}"),
        user_id: None,
        request_id: None,
    }
}

async fn execute(cli: Cli) -> Result<ExitCode> {
    let (resource_limits, warm, retention) = match &cli.command {
        Command::Serve(args) => (args.resource_limits(), args.warm_options(), args.retention()),
        _ => (
            crate::runtime::limits::ResourceLimits::default(),
            crate::config::WarmOptions::default(),
            Retention::default(),
        ),
    };
    let kms = match &cli.command {
        Command::Keys(command) => cli.kms.config(command.kind())?,
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
    };
    let command = match cli.command {
        Command::Backup(command) if !command.opens_store() => return backup::without_store(&config, command).await,
        command => command,
    };
    let paige = Paige::open(&config).await?;
    let result = dispatch(&paige, command).await;
    paige.close().await;
    result
}

async fn dispatch(paige: &Paige, command: Command) -> Result<ExitCode> {
    let actor = cli_actor();
    match command {
        Command::Users(UsersCommand::Create { email }) => {
            let password = read_password()?;
            let user = paige.create_user(&email, &password, &actor).await?;
            println!("created user {}", user.email);
        }
        Command::Tokens(TokensCommand::Create { email }) => {
            let (id, token) = paige.create_token(&email, &actor).await?;
            println!("{}", token.expose());
            eprintln!("Token #{id} created. It is shown once; store it now.");
        }
        Command::Tokens(TokensCommand::Revoke { id }) => {
            paige.revoke_token(id, None, &actor).await?;
            println!("revoked token #{id}");
        }
        Command::Serve(args) => serve::serve(paige, args).await?,
        Command::Projects(ProjectsCommand::Create { slug, owner }) => {
            let project = paige.create_project(&slug, owner.as_deref(), &actor).await?;
            match owner {
                Some(owner) => println!("created project {} (owner {owner})", project.slug),
                None => println!("created project {}", project.slug),
            }
        }
        Command::Projects(ProjectsCommand::List) => {
            for project in paige.list_projects().await? {
                println!("{}\t{}", project.slug, format_utc(project.created_at));
            }
        }
        Command::Projects(ProjectsCommand::Mode { slug, mode }) => match mode {
            None => println!("{}", paige.runtime_mode(&slug).await?),
            Some(mode) => {
                let mode = crate::model::RuntimeMode::parse(&mode).ok_or_else(|| {
                    Error::invalid(
                        "invalid_runtime_mode",
                        format!("the runtime mode must be `http` or `event`, not {mode:?}"),
                    )
                })?;
                paige.set_runtime_mode(&slug, mode, &actor).await?;
                println!("{slug}: runtime mode {mode}");
            }
        },
        Command::Members(MembersCommand::Add { slug, email, role }) => {
            let role = parse_role(&role)?;
            let project = paige.project(&slug).await?;
            let invite = paige.invite(&project, &email, role, &actor).await?;
            println!(
                "invited {} as {role} to {slug} (invitation #{}, open until {})",
                invite.email,
                invite.id,
                format_utc(invite.expires_at)
            );
            eprintln!(
                "They join when they accept it on the dashboard's Projects page, signed in as {}.",
                invite.email
            );
        }
        Command::Secrets(command) => secrets(paige, command, &actor).await?,
        Command::Keys(command) => kms::keys(paige, command, &actor).await?,
        Command::Audit(args) => audit(paige, &args).await?,
        Command::Code(command) => runtime::code(paige, command, &actor).await?,
        Command::Run(args) => return runtime::run(paige, args, &actor).await,
        Command::Backup(command) => return backup::with_store(paige, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn secrets(paige: &Paige, command: SecretsCommand, actor: &Actor) -> Result<()> {
    match command {
        SecretsCommand::Set { slug, key } => {
            // Check the key before asking for a value nobody can use.
            rules::check_key(&key)?;
            let value = read_value(&key)?;
            let set = paige.set_secret(&slug, &key, &value, actor).await?;
            if let Some(warning) = set.warning {
                eprintln!("warning: {warning}");
            }
            let verb = if set.outcome.created { "created" } else { "overwrote" };
            println!("{verb} {key} in {slug} (version {})", set.outcome.version);
        }
        SecretsCommand::List { slug, json } => {
            let secrets = paige.list_secrets(&slug).await?;
            if json {
                print_json(&SecretList::from(&secrets))?;
            } else {
                print_secret_table(&secrets);
            }
        }
        SecretsCommand::Rm { slug, key } => {
            let version = paige.delete_secret(&slug, &key, actor).await?;
            println!("deleted {key} from {slug} (was version {version})");
        }
        SecretsCommand::Import { slug, file } => {
            let text = Zeroizing::new(
                std::fs::read_to_string(&file)
                    .map_err(|e| Error::invalid("unreadable_file", format!("{}: {e}", file.display())))?,
            );
            let entries: Vec<(String, SecretString)> =
                dotenv::parse(&text)?.into_iter().map(|e| (e.key, e.value)).collect();
            let outcomes = paige.import_secrets(&slug, &entries, actor).await?;
            let created = outcomes.iter().filter(|o| o.created).count();
            println!(
                "imported {} secrets into {slug} ({created} created, {} overwritten)",
                outcomes.len(),
                outcomes.len() - created
            );
        }
        SecretsCommand::Versions { slug, key, json } => {
            let versions = paige.secret_versions(&slug, &key).await?;
            if json {
                let versions: Vec<_> = versions
                    .iter()
                    .map(|v| serde_json::json!({"version": v.version, "created_at": format_utc(v.updated_at), "created_by": v.updated_by}))
                    .collect();
                print_json(&serde_json::json!({ "key": key, "versions": versions }))?;
            } else {
                println!("{:<8}  {:<24}  SET BY", "VERSION", "SET (UTC)");
                for v in &versions {
                    println!("{:<8}  {:<24}  {}", v.version, format_utc(v.updated_at), v.updated_by);
                }
            }
        }
        SecretsCommand::Rollback { slug, key, to } => {
            let outcome = paige.rollback_secret(&slug, &key, to, actor).await?;
            println!(
                "rolled {key} in {slug} back to the value of version {to} (now version {})",
                outcome.version
            );
        }
    }
    Ok(())
}

async fn audit(paige: &Paige, args: &AuditArgs) -> Result<()> {
    let project = paige.project(&args.slug).await?;
    let page = Page {
        before_id: None,
        limit: args.limit,
    };
    let events = paige.audit_events(&project, page).await?;
    if args.json {
        let events: Vec<_> = events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "at": format_utc(e.at), "actor": e.actor, "action": e.action,
                    "key": e.key, "version": e.version, "request_id": e.request_id, "detail": e.detail,
                })
            })
            .collect();
        return print_json(&serde_json::json!({ "events": events }));
    }
    for e in events {
        println!(
            "{}  {:<18} {:<24} {} {}",
            format_utc(e.at),
            e.action,
            e.actor,
            e.key
                .map(|k| format!("{k} v{}", e.version.unwrap_or_default()))
                .unwrap_or_default(),
            e.detail.unwrap_or_default()
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct SecretList<'a> {
    secrets: Vec<SecretListEntry<'a>>,
}

#[derive(Serialize)]
struct SecretListEntry<'a> {
    key: &'a str,
    updated_at: String,
    updated_by: &'a str,
    version: i64,
}

impl<'a> From<&'a Vec<SecretMeta>> for SecretList<'a> {
    fn from(secrets: &'a Vec<SecretMeta>) -> Self {
        Self {
            secrets: secrets
                .iter()
                .map(|s| SecretListEntry {
                    key: &s.key,
                    updated_at: format_utc(s.updated_at),
                    updated_by: &s.updated_by,
                    version: s.version,
                })
                .collect(),
        }
    }
}

fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Config(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn print_secret_table(secrets: &[SecretMeta]) {
    let width = secrets.iter().map(|s| s.key.len()).max().unwrap_or(0).max(3);
    println!("{:<width$}  {:<24}  UPDATED BY", "KEY", "UPDATED (UTC)");
    for s in secrets {
        println!("{:<width$}  {:<24}  {}", s.key, format_utc(s.updated_at), s.updated_by);
    }
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
