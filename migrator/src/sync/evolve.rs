//! What a sync does when a column is added at its source while it runs: the report of
//! the runs before and after joined, and the destination migrated (`codegen diff` then
//! `migrator apply`). Shared by one way (`mod.rs`) and both ways (`both_run.rs`).

use super::error::SyncError;
use super::options::Report;
use seaway_codegen::config::Config;

/// `earlier`'s counts added to `later`'s (runs before a schema change restarted the
/// stream).
pub(super) fn merged(earlier: Option<Report>, mut later: Report) -> Report {
    let Some(earlier) = earlier else {
        return later;
    };
    later.transactions += earlier.transactions;
    later.changes += earlier.changes;
    later.copied += earlier.copied;
    later.seconds += earlier.seconds;
    later.changes_per_second = if later.seconds > 0.0 {
        later.changes as f64 / later.seconds
    } else {
        0.0
    };
    later.conflicts += earlier.conflicts;
    later.max_lag_ms = match (earlier.max_lag_ms, later.max_lag_ms) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for t in earlier.tables {
        match later.tables.iter_mut().find(|l| l.table == t.table) {
            Some(l) => {
                l.written += t.written;
                l.deleted += t.deleted;
                l.copied += t.copied;
            }
            None => later.tables.push(t),
        }
    }
    later
}

/// Plans and applies the destination's side of a column added at the source, as
/// `codegen diff` then `migrator apply` would (the migration file is written beside the
/// others); returns the migration's name. Refuses when diff plans nothing for it.
pub(super) async fn evolve(
    config: &Config,
    table: &str,
    column: &str,
) -> Result<String, SyncError> {
    let refuse = |why: String| SyncError::SchemaChange {
        table: table.to_string(),
        change: format!("column `{column}` was added at the source, and {why}"),
    };
    let outcome = seaway_codegen::migrations::next::next(config)
        .await
        .map_err(|e| refuse(format!("planning it failed: {e}")))?;
    let Some(name) = outcome.migration_name.clone() else {
        let skipped: Vec<String> = outcome.skipped.iter().map(|d| d.to_string()).collect();
        return Err(refuse(format!(
            "`codegen diff` plans no change for it{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join("; "))
            }
        )));
    };
    seaway_codegen::snapshot_io::write_all(&outcome.files)
        .map_err(|e| refuse(format!("writing the migration failed: {e}")))?;
    let options = crate::apply::ApplyOptions {
        sections: crate::apply::SectionChoice::All,
        dry_run: false,
        lock_timeout: None,
    };
    crate::apply::apply(config, &options, &mut |_| {})
        .await
        .map_err(|e| refuse(format!("applying migration {name} failed: {e}")))?;
    Ok(name)
}
