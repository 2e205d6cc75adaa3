//! `sync status` (where a sync stands: position, lag, the slot the source keeps WAL
//! for) and `sync drop` (remove what sync made on the source, and its row in the
//! destination).

use super::capture::Setup;
use super::capture::SourceState;
use super::error::SyncError;
use super::position::{self, Stored};
use crate::rows::source::Source;
use crate::rows::write::Writer;
use seaway_codegen::config::Config;

/// Where a sync stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub name: String,
    pub source: String,
    pub destination: String,
    /// The destination's row (`None`: no sync has run into it).
    pub position: Option<String>,
    /// Seconds from the last applied source transaction's commit to now.
    pub since_last_commit_seconds: Option<f64>,
    /// Source commit to destination commit of the last batch, in seconds.
    pub last_lag_seconds: Option<f64>,
    pub changes: i64,
    pub copy_done: bool,
    pub copy_table: Option<String>,
    /// Whether the source has what the sync reads (a PostgreSQL slot, a SQLite change
    /// table, a MySQL watermark table), and whether a session uses it (where the engine
    /// knows).
    pub slot_exists: bool,
    pub slot_active: Option<bool>,
    /// How far the source's stream is ahead of what was applied, in `behind_unit`.
    pub behind: Option<i64>,
    pub behind_unit: &'static str,
    pub source_position: String,
    /// What the source keeps (`replication slot`, `change table`, `watermark table`).
    pub source_kind: &'static str,
    /// What the engine says of it, where a slot's or a change table's words do not fit.
    pub source_note: Option<String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "sync {} ({} -> {})",
            self.name, self.source, self.destination
        )?;
        match &self.position {
            Some(p) => writeln!(
                f,
                "  applied through {p} (source now at {}), {} changes in all",
                self.source_position, self.changes
            )?,
            None => writeln!(f, "  nothing applied yet")?,
        }
        if let Some(lag) = self.last_lag_seconds {
            writeln!(
                f,
                "  lag of the last batch: {lag:.3} s (source commit to destination commit)"
            )?;
        }
        if let Some(s) = self.since_last_commit_seconds {
            writeln!(f, "  last applied source commit: {s:.1} s ago")?;
        }
        if let Some(b) = self.behind {
            writeln!(f, "  behind: {b} {} not yet confirmed", self.behind_unit)?;
        }
        if !self.copy_done {
            writeln!(
                f,
                "  initial copy: in progress{}",
                self.copy_table
                    .as_ref()
                    .map(|t| format!(" (at table `{t}`)"))
                    .unwrap_or_default()
            )?;
        }
        match (self.slot_exists, self.slot_active) {
            (false, _) => writeln!(f, "  source side {}: absent", self.name)?,
            (true, _) if self.source_note.is_some() => writeln!(
                f,
                "  {} {}: {}",
                self.source_kind,
                self.name,
                self.source_note.as_deref().unwrap_or_default()
            )?,
            (true, Some(true)) => writeln!(f, "  slot {}: in use", self.name)?,
            (true, Some(false)) => writeln!(
                f,
                "  WARNING: slot {} is not in use and makes the source keep {} {}; run `migrator sync` to resume, or `migrator sync drop` to remove it",
                self.name,
                self.behind.unwrap_or(0),
                self.behind_unit
            )?,
            (true, None) => writeln!(
                f,
                "  change table {} holds {} {}; `migrator sync drop` removes it and its triggers",
                self.name,
                self.behind.unwrap_or(0),
                self.behind_unit
            )?,
        }
        Ok(())
    }
}

/// Reads the destination's row and the source's slot.
pub async fn status(config: &Config) -> Result<Status, SyncError> {
    let source_conn = config.source_connection();
    let dest_conn = config
        .destination_connection("sync status")
        .map_err(seaway_codegen::stage::StageError::from)?;
    let setup = Setup::of(source_conn, dest_conn).await?;
    let source = Source::open(source_conn).await?;
    let slot: SourceState = setup.slot(&source).await?;
    source.close().await;
    let name = setup.name().to_string();
    setup.close().await;
    let dest = Source::open(dest_conn).await?;
    let stored: Stored = position::read(&dest, dest_conn.url.dialect(), &name)
        .await
        .map_err(|e| SyncError::Destination {
            destination: dest_conn.name.clone(),
            what: "reading the sync position".into(),
            reason: dest_conn.url.scrub(&e.to_string()),
        })?
        .unwrap_or_default();
    dest.close().await;
    let now = super::apply::now_micros();
    Ok(Status {
        name,
        source: source_conn.name.clone(),
        destination: dest_conn.name.clone(),
        position: stored.position.map(|p| p.0),
        since_last_commit_seconds: stored.commit_micros.map(|c| (now - c) as f64 / 1e6),
        last_lag_seconds: stored
            .commit_micros
            .zip(stored.applied_micros)
            .map(|(c, a)| (a - c) as f64 / 1e6),
        changes: stored.changes,
        copy_done: stored.copy.done,
        copy_table: stored.copy.table,
        slot_exists: slot.exists,
        slot_active: slot.active,
        behind: slot.behind,
        behind_unit: slot.behind_unit,
        source_position: slot.current,
        source_kind: slot.kind,
        source_note: slot.note,
    })
}

/// Removes the sync's slot and publication from the source and its row from the
/// destination; returns what was removed.
pub async fn remove(config: &Config) -> Result<Vec<String>, SyncError> {
    let source_conn = config.source_connection();
    let dest_conn = config
        .destination_connection("sync drop")
        .map_err(seaway_codegen::stage::StageError::from)?;
    let setup = Setup::of(source_conn, dest_conn).await?;
    let source = Source::open(source_conn).await?;
    let mut dropped = setup.remove(&source).await?;
    source.close().await;
    let writer = Writer::open(dest_conn).await?;
    let forgot =
        position::forget(&writer, setup.name())
            .await
            .map_err(|e| SyncError::Destination {
                destination: dest_conn.name.clone(),
                what: "removing the sync position".into(),
                reason: dest_conn.url.scrub(&e.to_string()),
            })?;
    writer.close().await;
    setup.close().await;
    if forgot {
        dropped.push(format!("the position row in {}", position::TABLE));
    }
    Ok(dropped)
}
