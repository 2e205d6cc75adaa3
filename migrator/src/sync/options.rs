//! What a sync is asked to do and what it reports: the types every part of `sync`
//! shares (a leaf, so that the one-stream loop, the two streams of a sync both ways and
//! `run` import it without an import circle).

use super::apply::TableCounts;
use super::receive;
use super::resolve;
use crate::rows::plan::TablePlan;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// Copy the selected tables first (handed over to the stream without gap or
    /// double); `false` (`--no-copy`) starts from now on a destination already loaded.
    pub copy: bool,
    /// Keys per copy chunk (one read between two watermarks).
    pub chunk_size: usize,
    /// Changes after which a batch of source transactions is committed even when more
    /// are waiting.
    pub batch_changes: u64,
    /// How long a batch may stay open while transactions keep coming.
    pub batch_wait: Duration,
    /// A batch whose newest source transaction committed less than this long ago is
    /// committed as soon as the stream has nothing more ready (latency first). One
    /// further behind waits for more, up to `batch_wait` (group commit): the stream is
    /// late, so an empty moment only means the next changes are still on their way, and
    /// fewer, larger destination transactions catch up sooner.
    pub eager_within: Duration,
    /// Both ways (`--both`; also `sync.direction: both` in the config): checked by
    /// `both::check`, which refuses what is not built.
    pub both: bool,
    /// Both ways: one stream held (not run) while the other runs (`--hold`). Its
    /// changes wait in its source's log, and so do the messages the running stream
    /// sends it, so releasing it (running both again) goes on where it stopped.
    pub hold: Option<Way>,
}

/// One of the two streams of a sync both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Source to destination.
    There,
    /// Destination to source.
    Back,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            copy: true,
            chunk_size: 5_000,
            batch_changes: 5_000,
            batch_wait: Duration::from_millis(50),
            eager_within: Duration::from_millis(10),
            both: false,
            hold: None,
        }
    }
}

/// What a run did, printed at the end and written by `--report`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub destination: String,
    /// The slot (or equivalent) and publication name.
    pub name: String,
    pub transactions: u64,
    pub changes: u64,
    pub changes_per_second: f64,
    /// Rows the initial copy wrote in this run.
    pub copied: u64,
    pub copy_done: bool,
    /// The source position applied through.
    pub position: Option<String>,
    /// Source commit to destination commit of the last batch, and the largest seen.
    pub lag_ms: Option<f64>,
    pub max_lag_ms: Option<f64>,
    pub seconds: f64,
    pub tables: Vec<TableCounts>,
    /// A stream of a sync both ways: the conflicts it decided in this run, and the
    /// newest of them (the conflict log in the side it writes into holds them all).
    pub conflicts: u64,
    pub conflict_log: Vec<receive::Conflict>,
    /// A sync both ways: the report of the way back (this one is the way there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub way_back: Option<Box<Report>>,
    /// A stream of a sync both ways that was held (`--hold`): it did not run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

impl Report {
    /// The report of a stream from `source` into `destination` before it did anything
    /// (and of one held by `--hold`, or stopped before it started).
    pub fn idle(name: &str, source: &str, destination: &str, held: bool) -> Report {
        Report {
            source: source.to_string(),
            destination: destination.to_string(),
            name: name.to_string(),
            transactions: 0,
            changes: 0,
            changes_per_second: 0.0,
            copied: 0,
            copy_done: false,
            position: None,
            lag_ms: None,
            max_lag_ms: None,
            seconds: 0.0,
            tables: Vec::new(),
            conflicts: 0,
            conflict_log: Vec::new(),
            way_back: None,
            held,
        }
    }
}

/// What makes a stream one of the two of a sync both ways.
#[derive(Debug, Clone)]
pub struct BothStream {
    /// The side the stream writes into.
    pub side: resolve::Side,
    /// The origin its applying session runs under.
    pub origin: String,
    /// The other stream's origin: what the capture drops.
    pub skip_origin: String,
    /// The other stream's name (its slot's or change table's): it writes into this
    /// stream's source.
    pub other: String,
    /// Shared by the two streams: a MySQL/MariaDB side's local edits in its commit
    /// order, recorded by the stream reading that side, read by the one writing it.
    pub edit_order: std::sync::Arc<super::edit_order::EditOrder>,
    /// The side that decides conflicts (the source, receiving on the way back) sends
    /// its decisions to the other stream, named here (its slot).
    pub tell: Option<String>,
    /// The other side asks the deciding side's stream, named here, to decide keys it
    /// left alone.
    pub ask: Option<String>,
    /// The way there's plans (source names and column order, which the conflict rules
    /// and the log use for both streams).
    pub forward: Vec<TablePlan>,
}

/// What a running sync reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Streaming begins (`created`: what sync keeps on the source, `kind`, was made now),
    /// resuming after `position`.
    Started {
        name: &'a str,
        kind: &'a str,
        created: bool,
        position: Option<&'a str>,
        copying: bool,
        /// Destination tables that already held rows as a new initial copy began: the
        /// copy writes the source's rows over theirs, and rows the source no longer has
        /// stay (as in DBLog's and Debezium's snapshots) until verify's repair removes
        /// them.
        held: &'a [String],
    },
    /// A few seconds' worth of progress.
    Tick(&'a Report),
    /// The initial copy finished.
    CopyDone,
    /// A column added at the source was applied to the destination by `migration`; the
    /// stream restarts from the destination's position.
    SchemaApplied {
        table: &'a str,
        column: &'a str,
        migration: &'a str,
    },
}
