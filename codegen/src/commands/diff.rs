//! `codegen diff`: the next migration (`migrations::next`), written by the binary.
//! `DiffError` also carries what `codegen check` meets on its way (introspection).

use super::introspect::IntrospectError;
use crate::config::{Config, ConfigError, Connection};
use crate::inspect::{ConnectError, InspectError};
use crate::migrations::MigrationError;
use crate::migrations::next::{self, NextError};
use crate::model::Schema;
use crate::plan::PlanError;
use crate::stage::{self, StageError};
use crate::target::TargetError;

pub use crate::migrations::next::{NextMigration as DiffOutcome, migrations_dir};

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Next(#[from] NextError),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Migrations(#[from] MigrationError),
}

/// Reads the destination without the ledger table (for `codegen check`).
pub async fn read_destination(conn: &Connection) -> Result<Schema, InspectError> {
    stage::read_destination(conn).await
}

/// `codegen diff`'s plan: the next migration, not yet written.
pub async fn run(config: &Config) -> Result<DiffOutcome, DiffError> {
    Ok(next::next(config).await?)
}
