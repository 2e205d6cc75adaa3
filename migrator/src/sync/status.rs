//! `sync status` (where a sync stands: position, lag, the slot the source keeps WAL
//! for) and `sync drop` (remove what sync made on the source, and its row in the
//! destination).

use super::capture::Setup;
use super::capture::SourceState;
use super::error::SyncError;
use super::position::{self, Stored};
use super::side_types::{origin_name, tombstone_table, version_table};
use crate::rows::source::Source;
use crate::rows::write::Writer;
use seaway_codegen::config::Config;
use seaway_codegen::model::Dialect;

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
    /// A stream of a sync both ways: the conflicts its log holds (in the side it writes
    /// into).
    pub conflicts: Option<i64>,
}

/// Where a sync stands: one stream, or the two of a sync both ways with the measured
/// offset between the two servers' clocks (which `last_write_wins` compares).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overview {
    pub streams: Vec<Status>,
    /// The destination's clock minus the source's, in milliseconds (each read in one
    /// round trip and placed at its middle).
    pub clock_offset_ms: Option<f64>,
}

impl std::fmt::Display for Overview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.streams {
            write!(f, "{s}")?;
        }
        if let Some(ms) = self.clock_offset_ms {
            writeln!(
                f,
                "clock offset: the destination's clock is {ms:+.1} ms from the source's (last_write_wins compares commit times from both; docs/config.md says what skew does)"
            )?;
        }
        Ok(())
    }
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
        if let Some(c) = self.conflicts {
            writeln!(
                f,
                "  conflicts: {c} decided (listed in {} in `{}`)",
                seaway_codegen::diff::CONFLICT_TABLE,
                self.destination
            )?;
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

/// Whether the config (or `--both`) asks for a sync both ways.
fn both_ways(config: &Config, both: bool) -> bool {
    both || config.sync.direction == seaway_codegen::config::sync::Direction::Both
}

/// Reads the destination's row and the source's slot (both ways: of each stream, with
/// the conflicts each decided and the clocks' offset).
pub async fn status(config: &Config, both: bool) -> Result<Overview, SyncError> {
    let source_conn = config.source_connection();
    let dest_conn = config
        .destination_connection("sync status")
        .map_err(seaway_codegen::stage::StageError::from)?;
    if !both_ways(config, both) {
        return Ok(Overview {
            streams: vec![stream_status(source_conn, dest_conn, false).await?],
            clock_offset_ms: None,
        });
    }
    Ok(Overview {
        streams: vec![
            stream_status(source_conn, dest_conn, true).await?,
            stream_status(dest_conn, source_conn, true).await?,
        ],
        clock_offset_ms: clock_offset(source_conn, dest_conn).await?,
    })
}

/// A side's clock now (Unix microseconds): the server's, or for SQLite this machine's
/// as its triggers read it; `None` for an engine with no side both ways.
async fn side_clock(side: &Source) -> Option<Result<i64, sqlx::Error>> {
    if let Some(pool) = side.postgres() {
        return Some(crate::engine::postgres::both::clock(pool).await);
    }
    if let Some(pool) = side.sqlite() {
        return Some(crate::engine::sqlite::both::clock(pool).await);
    }
    if let Some(pool) = side.mysql() {
        return Some(crate::engine::mysql::both::clock(pool).await);
    }
    None
}

/// The destination's clock minus the source's, in milliseconds.
async fn clock_offset(
    source_conn: &seaway_codegen::config::Connection,
    dest_conn: &seaway_codegen::config::Connection,
) -> Result<Option<f64>, SyncError> {
    let mut offsets = Vec::new();
    for conn in [source_conn, dest_conn] {
        let side = Source::open(conn).await?;
        // A first read opens the connection; the second is timed.
        if side_clock(&side).await.is_none() {
            side.close().await;
            return Ok(None);
        }
        let before = super::apply::now_micros();
        let at = side_clock(&side).await.unwrap_or(Ok(0));
        let after = super::apply::now_micros();
        side.close().await;
        let at = at.map_err(|e| SyncError::Source {
            connection: conn.name.clone(),
            what: "reading the server's clock".into(),
            reason: conn.url.scrub(&e.to_string()),
        })?;
        offsets.push(at - (before + after) / 2);
    }
    Ok(Some((offsets[1] - offsets[0]) as f64 / 1000.0))
}

/// One stream's status.
async fn stream_status(
    source_conn: &seaway_codegen::config::Connection,
    dest_conn: &seaway_codegen::config::Connection,
    both: bool,
) -> Result<Status, SyncError> {
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
    let counted = if both {
        Some(super::side_tables::conflict_count(&dest, dest_conn.url.dialect(), &name).await)
    } else {
        None
    };
    let conflicts = counted.transpose().map_err(|e| SyncError::Destination {
        destination: dest_conn.name.clone(),
        what: "counting the conflicts".into(),
        reason: dest_conn.url.scrub(&e.to_string()),
    })?;
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
        conflicts,
    })
}

/// Removes the sync's slot and publication from the source and its row from the
/// destination (both ways: each stream's, with its origin and version table); returns
/// what was removed.
pub async fn remove(config: &Config, both: bool) -> Result<Vec<String>, SyncError> {
    let source_conn = config.source_connection();
    let dest_conn = config
        .destination_connection("sync drop")
        .map_err(seaway_codegen::stage::StageError::from)?;
    let both = both_ways(config, both);
    let mut dropped = remove_stream(source_conn, dest_conn, both).await?;
    if both {
        dropped.extend(remove_stream(dest_conn, source_conn, true).await?);
    }
    Ok(dropped)
}

/// Removes one stream's slot, publication, position row and, both ways, its origin and
/// version table in the side it writes into.
async fn remove_stream(
    source_conn: &seaway_codegen::config::Connection,
    dest_conn: &seaway_codegen::config::Connection,
    both: bool,
) -> Result<Vec<String>, SyncError> {
    let setup = Setup::of(source_conn, dest_conn).await?;
    let name = setup.name().to_string();
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
        dropped.push(format!(
            "the position row of {} in {} of `{}`",
            name,
            position::TABLE,
            dest_conn.name
        ));
    }
    if both {
        let dest = Source::open(dest_conn).await?;
        if let Some(pool) = dest.postgres() {
            use crate::engine::postgres::both as pg;
            let failed = |e: sqlx::Error| SyncError::Destination {
                destination: dest_conn.name.clone(),
                what: "removing the stream's origin and version table".into(),
                reason: dest_conn.url.scrub(&e.to_string()),
            };
            let origin = origin_name(&name);
            if pg::drop_origin(pool, &origin).await.map_err(failed)? {
                dropped.push(format!(
                    "replication origin {origin} in `{}`",
                    dest_conn.name
                ));
            }
            let versions = version_table(&name);
            if pg::drop_versions(pool, &versions).await.map_err(failed)? {
                dropped.push(format!("version table {versions} in `{}`", dest_conn.name));
            }
            if pg::drop_tombstones(pool, &name).await.map_err(failed)? {
                dropped.push(format!(
                    "the delete trigger and table {} in `{}`",
                    tombstone_table(&name),
                    dest_conn.name
                ));
            }
        }
        // A SQLite or MySQL side keeps tables (and MySQL triggers) of its own.
        let failed = |e: sqlx::Error| SyncError::Destination {
            destination: dest_conn.name.clone(),
            what: "removing the stream's triggers and tables".into(),
            reason: dest_conn.url.scrub(&e.to_string()),
        };
        let other = super::capture::stream_name(dest_conn, source_conn);
        let (triggers, tables) = match dest_conn.url.dialect() {
            Dialect::Postgres => (Vec::new(), Vec::new()),
            Dialect::Sqlite => (Vec::new(), crate::engine::sqlite::both::own_tables(&name)),
            Dialect::Mysql => match dest.mysql() {
                Some(pool) => (
                    crate::engine::mysql::both::drop_triggers(pool, &name)
                        .await
                        .map_err(failed)?,
                    crate::engine::mysql::both::own_tables(&name, &other),
                ),
                None => (Vec::new(), Vec::new()),
            },
        };
        dest.close().await;
        let mut removed = triggers;
        if !tables.is_empty() {
            let writer = Writer::open(dest_conn).await?;
            let mut tx = writer.begin().await.map_err(failed)?;
            removed.extend(
                super::side_tables::drop_tables(&mut tx, &tables)
                    .await
                    .map_err(failed)?,
            );
            tx.commit().await.map_err(failed)?;
            writer.close().await;
        }
        dropped.extend(
            removed
                .into_iter()
                .map(|d| format!("{d} in `{}`", dest_conn.name)),
        );
    }
    Ok(dropped)
}
