//! The next migration: the source (after mappings) against the live destination,
//! filtered to additive changes, rendered as the next numbered file. A library step, so
//! `codegen diff`, `codegen check`, and the migrator's `serve` and `sync` (which plan a
//! change mid-run) share it without going through codegen's command layer.

use crate::config::{Config, Connection};
use crate::diff::{self, policy};
use crate::inspect::{self, ConnectError, InspectError};
use crate::migrations::{self, Migration, MigrationError, Section, Statement};
use crate::model::{Dialect, Schema};
use crate::plan::{self, PlanError};
use crate::snapshot_io::OutputFile;
use crate::stage::{self, Prepared, StageError};
use crate::target::Diagnostic;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NextError {
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Migrations(#[from] MigrationError),
    #[error(
        "destination `{destination}` has migrations not yet applied ({pending}); apply them first (`just apply`), then diff again"
    )]
    Pending {
        destination: String,
        pending: String,
    },
}

/// What a diff found and, if anything is to change, the files to write.
#[derive(Debug, Clone)]
pub struct NextMigration {
    pub destination: String,
    pub dialect: Dialect,
    /// The new migration (and the updated sum file), or empty when nothing is to do.
    pub files: Vec<OutputFile>,
    pub migration_name: Option<String>,
    pub statements: Vec<Statement>,
    /// Changes seaway will not make, with codes.
    pub skipped: Vec<Diagnostic>,
    /// Lossy casts accepted and source features left out.
    pub notes: Vec<Diagnostic>,
    /// Source objects the destination plan does not carry (views, triggers,
    /// functions, partitioning...), with codes (`diff::left_out`).
    pub left_out: Vec<Diagnostic>,
}

/// The folder of `destination`'s migrations.
pub fn migrations_dir(config: &Config, destination: &str) -> PathBuf {
    config.output.join("migrations").join(destination)
}

/// The next migration for the configured destination: the source (after mappings)
/// against the live destination, filtered to additive changes, rendered with the
/// updated sum file but not written (the caller writes `files`).
pub async fn next(config: &Config) -> Result<NextMigration, NextError> {
    let Prepared {
        destination: dest_conn,
        source,
        desired,
        actual,
    } = stage::prepare(config, "diff").await?;
    let dialect = dest_conn.url.dialect();

    let decision = additive(dest_conn, &desired.schema, &actual).await?;
    let statements = plan::plan(&decision.emit, dialect)?;

    let mut outcome = NextMigration {
        destination: dest_conn.name.clone(),
        dialect,
        files: Vec::new(),
        migration_name: None,
        statements: Vec::new(),
        skipped: decision.reported,
        left_out: diff::left_out::left_out(&source, &desired),
        notes: desired.notes,
    };
    if statements.is_empty() {
        return Ok(outcome);
    }
    let dir = migrations_dir(config, &dest_conn.name);
    let mut existing_migrations = migrations::load_dir(&dir)?;
    refuse_if_pending(dest_conn, &existing_migrations).await?;

    let version = existing_migrations.last().map_or(1, |m| m.version + 1);
    let name = format!(
        "{version:04}_{}",
        slug(&statements, existing_migrations.is_empty())
    );
    let summary = format!(
        "{} ({}) -> {} ({})",
        config.source, source.dialect, dest_conn.name, dialect
    );
    let contents = migrations::render(&name, &summary, &statements);
    let path = dir.join(format!("{name}.sql"));
    existing_migrations.push(Migration {
        version,
        name: name.clone(),
        checksum: migrations::checksum(&contents),
        path: path.clone(),
        contents: contents.clone(),
    });
    outcome.files = vec![
        OutputFile { path, contents },
        OutputFile {
            path: dir.join(migrations::SUM_FILE),
            contents: migrations::sum_file(&existing_migrations),
        },
    ];
    outcome.migration_name = Some(name);
    outcome.statements = statements;
    Ok(outcome)
}

/// The changes from `actual` (the destination as read) to `desired`, split by the
/// additive policy into what a migration makes and what is reported instead; tables
/// that hold rows are asked in one query, since some changes are safe only on empty
/// ones. `codegen check` asks the same question to find drift.
pub async fn additive(
    destination: &Connection,
    desired: &Schema,
    actual: &Schema,
) -> Result<policy::Decision, ConnectError> {
    let changes = diff::diff(desired, actual);
    let existing: Vec<String> = desired
        .tables
        .keys()
        .filter(|t| actual.tables.contains_key(*t))
        .cloned()
        .collect();
    let populated = inspect::populated_tables(destination, &existing).await?;
    Ok(policy::decide(
        changes,
        destination.url.dialect(),
        &populated,
    ))
}

async fn refuse_if_pending(conn: &Connection, existing: &[Migration]) -> Result<(), NextError> {
    if existing.is_empty() {
        return Ok(());
    }
    let applied = migrations::ledger::applied(conn).await?;
    let mut pending = Vec::new();
    for m in existing {
        let sections: BTreeSet<Section> = migrations::parse(&m.path, &m.contents)?
            .iter()
            .map(|s| s.section)
            .collect();
        if sections.iter().any(|s| !applied.contains(&(m.version, *s))) {
            pending.push(m.name.clone());
        }
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(NextError::Pending {
            destination: conn.name.clone(),
            pending: pending.join(", "),
        })
    }
}

/// `initial` for a first migration that only creates tables, else from the first change.
fn slug(statements: &[Statement], first: bool) -> String {
    if first
        && statements.iter().all(|s| {
            !s.description.starts_with("widen") && !s.description.starts_with("add column")
        })
    {
        return "initial".to_string();
    }
    let text = statements
        .first()
        .map(|s| s.description.as_str())
        .unwrap_or("change");
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_matches('_');
    let cut: String = slug.chars().take(48).collect();
    let cut = cut.trim_end_matches('_').to_string();
    if statements.len() > 1 {
        format!("{cut}_and_more")
    } else {
        cut
    }
}
