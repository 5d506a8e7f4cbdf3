//! The project commands, written once over a [`Backend`]: the same text
//! and `--json` output whether they run on this machine or on a server.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::backend::Backend;
use super::failure::{Class, CliError, CliResult};
use super::views::{ExecutionSummary, SecretEntry};
use super::{print_json, read_value};
use crate::secrets::rules;

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Create a project. On a server the caller becomes its owner; locally
    /// `--owner` names one.
    Create {
        slug: String,
        /// Local only: the owner's email.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List projects: all of them locally, the caller's on a server.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a project's runtime mode, or set it: `http` (a warm HTTP
    /// server behind /hooks/SLUG/…) or `event` (one process per event).
    Mode { slug: String, mode: Option<String> },
    /// Post a WhatsApp Cloud API test message to an `http` project's bot
    /// (signed when the project has WHATSAPP_APP_SECRET); prints its
    /// execution.
    TestEvent {
        slug: String,
        #[arg(long)]
        json: bool,
    },
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
    /// Remove a member from a project.
    Rm { slug: String, email: String },
    /// List a project's members and their roles.
    List {
        slug: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret; the value is read from standard input or a hidden
    /// prompt, never the command line.
    Set {
        slug: String,
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// List keys with when and by whom each was last updated.
    List {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret.
    Rm { slug: String, key: String },
    /// Import a .env file: every line is applied, or none.
    Import {
        slug: String,
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
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
    /// How many events to show (at most 200 from a server).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// A project's recent executions, newest first.
    List {
        slug: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One execution with its redacted log.
    Show {
        slug: String,
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn projects(backend: &Backend<'_>, command: ProjectsCommand) -> CliResult<()> {
    match command {
        ProjectsCommand::Create { slug, owner, json } => {
            if owner.is_some() && matches!(backend, Backend::Remote(_)) {
                return Err(CliError::usage(
                    "--owner is for a local store; on a server you become the owner of what you create",
                ));
            }
            let project = backend.create_project(&slug, owner.as_deref()).await?;
            if json {
                return print_json(&project);
            }
            match owner {
                Some(owner) => println!("created project {} (owner {owner})", project.slug),
                None => println!("created project {}", project.slug),
            }
        }
        ProjectsCommand::List { json } => {
            let list = backend.list_projects().await?;
            if json {
                return print_json(&list);
            }
            for p in list.projects {
                match p.role {
                    Some(role) => println!("{}\t{}\t{role}", p.slug, p.created_at),
                    None => println!("{}\t{}", p.slug, p.created_at),
                }
            }
        }
        ProjectsCommand::Mode { slug, mode } => {
            let view = backend.runtime_mode(&slug, mode.as_deref()).await?;
            match mode {
                Some(_) => println!("{slug}: runtime mode {}", view.mode),
                None => println!("{}", view.mode),
            }
        }
        ProjectsCommand::TestEvent { slug, json } => {
            let sent = backend.test_event(&slug).await?;
            if json {
                return print_json(&sent);
            }
            let answer = sent
                .response_status
                .map_or_else(String::new, |s| format!(", the bot answered {s}"));
            println!("test event sent: execution {} {}{answer}", sent.id, sent.status);
        }
    }
    Ok(())
}

pub async fn members(backend: &Backend<'_>, command: MembersCommand) -> CliResult<()> {
    match command {
        MembersCommand::Add { slug, email, role } => {
            let invite = backend.invite_member(&slug, &email, &role).await?;
            println!(
                "invited {} as {} to {slug} (invitation #{}, open until {})",
                invite.email, invite.role, invite.id, invite.expires_at
            );
            eprintln!(
                "They join when they accept it on the dashboard's Projects page, signed in as {}.",
                invite.email
            );
        }
        MembersCommand::Rm { slug, email } => {
            backend.remove_member(&slug, &email).await?;
            println!("removed {email} from {slug}");
        }
        MembersCommand::List { slug, json } => {
            let list = backend.list_members(&slug).await?;
            if json {
                return print_json(&list);
            }
            for m in list.members {
                println!("{}\t{}", m.email, m.role);
            }
        }
    }
    Ok(())
}

pub async fn secrets(backend: &Backend<'_>, command: SecretsCommand) -> CliResult<()> {
    match command {
        SecretsCommand::Set { slug, key, json } => {
            // Check the key before asking for a value nobody can use.
            rules::check_key(&key).map_err(crate::Error::from)?;
            let value = read_value(&key)?;
            let set = backend.set_secret(&slug, &key, &value).await?;
            if let Some(warning) = &set.warning {
                eprintln!("warning: {warning}");
            }
            if json {
                return print_json(&set);
            }
            let verb = if set.created { "created" } else { "overwrote" };
            println!("{verb} {key} in {slug} (version {})", set.version);
        }
        SecretsCommand::List { slug, json } => {
            let list = backend.list_secrets(&slug).await?;
            if json {
                return print_json(&list);
            }
            print_secret_table(&list.secrets);
        }
        SecretsCommand::Rm { slug, key } => match backend.delete_secret(&slug, &key).await? {
            Some(version) => println!("deleted {key} from {slug} (was version {version})"),
            None => println!("deleted {key} from {slug}"),
        },
        SecretsCommand::Import { slug, file, json } => {
            let text = Zeroizing::new(
                std::fs::read_to_string(&file)
                    .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?,
            );
            let imported = backend.import_secrets(&slug, &text).await?;
            if json {
                return print_json(&imported);
            }
            let count = imported.secrets.len();
            let created = imported.secrets.iter().filter(|s| s.created).count();
            println!(
                "imported {count} secrets into {slug} ({created} created, {} overwritten)",
                count - created
            );
        }
        SecretsCommand::Versions { slug, key, json } => {
            let list = backend.secret_versions(&slug, &key).await?;
            if json {
                return print_json(&list);
            }
            println!("{:<8}  {:<24}  SET BY", "VERSION", "SET (UTC)");
            for v in &list.versions {
                println!("{:<8}  {:<24}  {}", v.version, v.created_at, v.created_by);
            }
        }
        SecretsCommand::Rollback { slug, key, to } => {
            let rolled = backend.rollback_secret(&slug, &key, to).await?;
            println!(
                "rolled {key} in {slug} back to the value of version {} (now version {})",
                rolled.restored_from, rolled.version
            );
        }
    }
    Ok(())
}

pub async fn audit(backend: &Backend<'_>, args: AuditArgs) -> CliResult<()> {
    let list = backend.audit(&args.slug, args.limit).await?;
    if args.json {
        return print_json(&list);
    }
    for e in list.events {
        println!(
            "{}  {:<18} {:<24} {} {}",
            e.at,
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

pub async fn executions(backend: &Backend<'_>, command: ExecutionsCommand) -> CliResult<()> {
    match command {
        ExecutionsCommand::List { slug, limit, json } => {
            let list = backend.list_executions(&slug, limit).await?;
            if json {
                return print_json(&list);
            }
            println!(
                "{:<6}  {:<10}  {:<24}  {:<8}  ACTOR",
                "ID", "STATUS", "STARTED (UTC)", "EXIT"
            );
            for e in &list.executions {
                println!(
                    "{:<6}  {:<10}  {:<24}  {:<8}  {}",
                    e.id,
                    e.status,
                    e.started_at,
                    ending(e),
                    e.actor
                );
            }
        }
        ExecutionsCommand::Show { slug, id, json } => {
            let detail = backend.execution(&slug, id).await?;
            if json {
                return print_json(&detail);
            }
            let s = &detail.summary;
            println!("execution {} of {slug}: {} ({})", s.id, s.status, ending(s));
            println!("started {} by {} ({})", s.started_at, s.actor, s.trigger);
            if let Some(error) = &detail.error {
                println!("error: {error}");
            }
            println!("secrets: {}", s.secret_names.join(", "));
            for line in &detail.log {
                println!("{} {:<6} {}", line.at, line.stream, line.text);
            }
        }
    }
    Ok(())
}

/// `code push`, with a progress bar on a terminal for a remote push.
pub async fn push(backend: &Backend<'_>, slug: &str, dir: &std::path::Path, json: bool) -> CliResult<()> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("pushing {bar:30} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |sent: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(sent);
        }
    };
    let pushed = backend.push_code(slug, dir, &mut progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let pushed = pushed?;
    for warning in &pushed.warnings {
        if let Some(message) = warning["message"].as_str() {
            eprintln!("warning: {message}");
        }
    }
    if let Some(notice) = pushed.skipped.and_then(|skipped| skipped.notice()) {
        eprintln!("note: {notice}");
    }
    if json {
        return print_json(&pushed);
    }
    println!("pushed {} files ({} bytes) to {slug}", pushed.files, pushed.bytes);
    Ok(())
}

/// How an execution ended, in a few characters.
fn ending(e: &ExecutionSummary) -> String {
    match (e.exit_code, e.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "-".to_owned(),
    }
}

fn print_secret_table(secrets: &[SecretEntry]) {
    let width = secrets.iter().map(|s| s.key.len()).max().unwrap_or(0).max(3);
    println!("{:<width$}  {:<24}  UPDATED BY", "KEY", "UPDATED (UTC)");
    for s in secrets {
        println!("{:<width$}  {:<24}  {}", s.key, s.updated_at, s.updated_by);
    }
}

/// A command that needs this machine's store, refused when the CLI talks
/// to a server.
pub fn local_only(what: &str, server: &str) -> CliError {
    CliError::new(
        Class::Usage,
        format!(
            "`paige {what}` works only on the server's own machine, with its data dir; \
             the CLI is set to use the server {server}. Run it there, or add --local to run it here"
        ),
    )
}
