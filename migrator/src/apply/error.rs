//! Why `apply` or `status` stopped.

use seaway_codegen::config::ConfigError;
use seaway_codegen::inspect::ConnectError;
use seaway_codegen::migrations::MigrationError;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Migrations(#[from] MigrationError),
    #[error(
        "{}: migration applied to {target} with checksum {recorded}, but the file now has checksum {current}; an applied migration must not change: restore the file and put new changes in a new migration (`just diff`)",
        path.display()
    )]
    ChecksumChanged {
        path: PathBuf,
        target: String,
        recorded: String,
        current: String,
    },
    #[error(
        "{migration}: its pre-data section is not applied yet, and post-data refers to what it creates; run `migrator apply --section pre-data` (or `--section all`) first"
    )]
    PreDataPending { migration: String },
    #[error(
        "another `migrator apply` holds the lock on {location}; gave up after {} s (it is released when that run ends; --lock-timeout waits longer)",
        waited.as_secs()
    )]
    LockBusy { location: String, waited: Duration },
    #[error("{target}: {what} failed: {reason}")]
    Database {
        target: String,
        what: String,
        reason: String,
    },
    /// Boxed: the error is returned on every path and this variant is much the largest.
    #[error(transparent)]
    Statement(Box<StatementFailure>),
}

/// A migration statement the destination refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "migration {migration} ({section}) failed on {target} at statement {number} of {total}, `{description}`: {reason}. {hint}"
)]
pub struct StatementFailure {
    pub migration: String,
    pub section: &'static str,
    pub target: String,
    pub number: usize,
    pub total: usize,
    pub description: String,
    /// The database's message, password scrubbed.
    pub reason: String,
    /// What state the section is in and what to do.
    pub hint: String,
}
