//! `paige backup create|verify|restore` (README, Backups). Verify of a
//! file and restore run without opening the store: the first needs none,
//! the second must find none.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::Paige;
use crate::backup::{self, Verified};
use crate::config::Config;
use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent backup of the embedded store to FILE while the
    /// server runs. It holds ciphertext and wrapped data keys, never the
    /// master key: keep the key file apart.
    Create { file: PathBuf },
    /// Check a backup's digest and integrity; with --with-key also that every
    /// data key unwraps and every value opens (counts only, never values).
    /// Without FILE, checks the live store (e.g. a PostgreSQL database
    /// filled by pg_restore) with the key.
    Verify {
        file: Option<PathBuf>,
        #[arg(long)]
        with_key: bool,
    },
    /// Restore FILE into the data dir, which must hold no database yet, with
    /// the master key file already in place.
    Restore { file: PathBuf },
}

impl BackupCommand {
    /// Whether the command opens the configured store first.
    pub fn opens_store(&self) -> bool {
        matches!(self, Self::Create { .. } | Self::Verify { file: None, .. })
    }
}

/// The commands that run on an opened store.
pub async fn with_store(paige: &Paige, command: BackupCommand) -> Result<ExitCode> {
    match command {
        BackupCommand::Create { file } => {
            let created = paige.create_backup(&file).await?;
            println!(
                "backup written to {}: {} bytes (database {} bytes), master key {}, sha256 {}, in {:.2} s",
                file.display(),
                created.file_bytes,
                created.header.body_bytes,
                created.header.key_id,
                created.header.sha256,
                created.took.as_secs_f64()
            );
            println!("The backup does not hold the master key: keep a copy of the key file apart from it.");
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify { .. } => Ok(report("the live store", &paige.verify_store().await?)),
        BackupCommand::Restore { .. } => unreachable!("restore runs without an opened store"),
    }
}

/// The commands that must not open the configured store.
pub async fn without_store(config: &Config, command: BackupCommand) -> Result<ExitCode> {
    match command {
        BackupCommand::Verify {
            file: Some(file),
            with_key,
        } => {
            let verified = backup::verify_file(&file, with_key.then_some(config)).await?;
            Ok(report(&file.display().to_string(), &verified))
        }
        BackupCommand::Restore { file } => {
            let verified = backup::restore(&file, config).await?;
            report(&file.display().to_string(), &verified);
            println!("restored into {}", config.data_dir.display());
            Ok(ExitCode::SUCCESS)
        }
        _ => unreachable!("these commands open the store"),
    }
}

/// Prints what was checked; failure if anything did not check out.
fn report(what: &str, verified: &Verified) -> ExitCode {
    if let Some(header) = &verified.header {
        println!(
            "{what}: paige backup v1, master key {}, created {}, {} database bytes: digest ok",
            header.key_id, header.created_at, header.body_bytes
        );
    }
    if verified.integrity_problems.is_empty() {
        println!("integrity: ok");
    } else {
        println!("integrity: FAILED");
        for problem in &verified.integrity_problems {
            println!("  {problem}");
        }
    }
    if let Some(check) = &verified.key_check {
        let verdict = if check.passed() { "ok" } else { "FAILED" };
        println!("with the key: {check}: {verdict}");
        for failure in &check.failures {
            println!("  {failure}");
        }
    }
    if verified.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {what} does not check out");
        ExitCode::FAILURE
    }
}
