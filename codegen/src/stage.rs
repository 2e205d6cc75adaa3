//! The start every stage that compares or moves data shares: read the source (checked
//! against the config and filtered to the selected tables), read the destination, and
//! build the desired destination model from the source.
//!
//! This is library API, not a subcommand: `codegen diff` and the migrator's transfer and
//! verify all begin here, so they read the same schemas the same way, and the migrator
//! does not depend on codegen's command layer (or its `DiffError`) to get started.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::config::{Config, ConfigError, Connection, validate};
use crate::diff::is_own_table;
use crate::inspect::{self, InspectError, Introspection};
use crate::model::{Dialect, Schema};
use crate::target::{self, Desired, TargetError};

/// Why a stage could not start.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// No destination configured, or the source does not match `mappings:`/`tables:`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading the source or the destination failed.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The destination cannot be built as the source and config ask.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Everything a data stage starts from.
#[derive(Debug, Clone)]
pub struct Prepared<'c> {
    /// The destination connection, as configured.
    pub destination: &'c Connection,
    /// The source schema after validation and table selection.
    pub source: Schema,
    /// The destination as the source and config want it, in the destination's terms.
    pub desired: Desired,
    /// The destination as it is (without seaway's ledger table).
    pub actual: Schema,
}

impl Prepared<'_> {
    /// The desired tables the destination lacks, in name order.
    pub fn missing_tables(&self) -> Vec<&str> {
        self.desired
            .schema
            .tables
            .keys()
            .filter(|t| !self.actual.tables.contains_key(*t))
            .map(String::as_str)
            .collect()
    }
}

/// The source connection's schema, checked against the config's mappings and filtered
/// to the selected tables: what every later stage starts from.
pub async fn read_source(config: &Config) -> Result<Schema, StageError> {
    let Introspection { mut schema, .. } = inspect::introspect(config.source_connection()).await?;
    // A sync's change table on a SQLite source is seaway's, not the application's.
    schema.tables.retain(|name, _| !is_own_table(name));
    validate::against_source(config, &schema)?;
    validate::select_tables(config, &mut schema);
    Ok(schema)
}

/// Reads the destination; a missing SQLite file is an empty database. The ledger table
/// and `migrator sync`'s position table are seaway's own and never part of the comparison.
pub async fn read_destination(conn: &Connection) -> Result<Schema, InspectError> {
    let missing_file = match conn.url.dialect() {
        Dialect::Sqlite => conn.url.sqlite_path().is_none_or(|p| !p.exists()),
        Dialect::Postgres | Dialect::Mysql => false,
    };
    let mut schema = if missing_file {
        Schema::new(Dialect::Sqlite, "main")
    } else {
        inspect::introspect(conn).await?.schema
    };
    schema.tables.retain(|name, _| !is_own_table(name));
    Ok(schema)
}

/// Reads both sides and builds the desired model. `what` names the command in the error
/// when the config has no destination.
///
/// The two reads run at once: each is a few sequential connections and catalog queries,
/// and neither waits for the other. A failing source is reported before a failing
/// destination, as when they were read one after the other.
pub async fn prepare<'c>(config: &'c Config, what: &str) -> Result<Prepared<'c>, StageError> {
    let destination = config.destination_connection(what)?;
    let (source, actual) = tokio::join!(read_source(config), read_destination(destination));
    let source = source?;
    let desired = target::desired(&source, config, destination.url.dialect())?;
    let actual = actual?;
    Ok(Prepared {
        destination,
        source,
        desired,
        actual,
    })
}
