//! `migrator verify`: are the destination's rows the source's (after the config's
//! mappings)? Per table, both sides are compared in the transfer's key-range chunks: by
//! checksums the databases compute, bisected down to the differing rows (`bisect.rs`,
//! `sql_hash.rs`), where both are PostgreSQL or MySQL/MariaDB and the key is a single
//! integer; otherwise by reading each row as canonical text (`canon.rs`) and hashing it
//! here, a chunk's checksum being its row count and the wrapping sum of its row hashes
//! (row order never matters). A chunk whose checksums differ is diffed row by row:
//! missing rows, extra rows, and changed rows with the columns that differ. `--repair`
//! sends missing and changed rows through the transfer writer, and `--delete-extra`
//! deletes extra ones. docs/architecture.md ("Verify") explains the choices.

mod bisect;
pub mod canon;
mod chunks;
mod compare;
pub mod compare_first;
pub mod continuous;
mod keyless;
mod repair;
mod report;
mod sides;
mod sql_hash;
mod sql_plan;

pub use report::{Difference, Kind, Report, TableReport, Values};

use crate::rows::load_order;
use crate::rows::plan::{self, TablePlan};
use crate::rows::range::KeyRange;
use crate::rows::source::Source;
use crate::rows::write::Writer;
use canon::{Rule, Side};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use report::{failed, key_order, percent};
use seaway_codegen::config::{Config, Connection};
use seaway_codegen::model::{Column, Dialect, Schema};
use seaway_codegen::stage::StageError;
use seaway_codegen::target::Desired;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Options {
    /// Chunks of a table checked at the same time.
    pub workers: usize,
    /// Keys per chunk when an integer key is split by range.
    pub chunk_span: i64,
    /// Rows per read (keyset pages within a chunk).
    pub page_size: usize,
    /// Put the differing values in the report (they may be sensitive).
    pub show_values: bool,
    /// Re-send missing and changed rows through the transfer writer.
    pub repair: bool,
    /// Delete extra destination rows (with `repair`).
    pub delete_extra: bool,
    /// At most this many differences listed per table (the counts are always exact).
    pub max_listed: usize,
    /// Key ranges a differing range is split into (checksums computed in SQL).
    pub bisection_factor: usize,
    /// A differing range of at most this many rows is read and diffed, not split.
    pub bisection_threshold: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            workers: 2,
            chunk_span: 10_000,
            // Above the chunk span, so a chunk of an integer key is one query, not a
            // full page and then an empty one.
            page_size: 20_000,
            show_values: false,
            repair: false,
            delete_extra: false,
            max_listed: 1_000,
            // A differing 10,000-key chunk is narrowed to about 156 keys in two rounds
            // of eight queries, then read: a few hundred rows move per difference.
            bisection_factor: 8,
            bisection_threshold: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Prepare(#[from] StageError),
    #[error(transparent)]
    Connect(#[from] seaway_codegen::inspect::ConnectError),
    #[error(
        "destination `{destination}` lacks table(s) {tables}; run `just apply` and `just transfer` first"
    )]
    MissingTables { destination: String, tables: String },
    #[error("table `{table}`: reading the {side} `{connection}` failed: {reason}")]
    Read {
        table: String,
        side: &'static str,
        connection: String,
        reason: String,
    },
    /// A hashing task panicked or was cancelled (a bug, never the data).
    #[error("table `{table}`: hashing rows failed: {reason}")]
    Hashing { table: String, reason: String },
    #[error("table `{table}`: repairing the destination failed: {reason}")]
    Repair { table: String, reason: String },
}

/// Verifies the config's destination against its source; `on_table` sees each table's
/// report as it is done.
pub async fn verify(
    config: &Config,
    opts: &Options,
    on_table: &mut dyn FnMut(&TableReport),
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let dest_conn = config
        .destination_connection("verify")
        .map_err(StageError::from)?;
    // Reading both schemas and connecting both sides overlap: each connection costs
    // round trips (a TLS handshake among them), and none depends on the others.
    let (prepared, source, destination) = tokio::join!(
        plan::prepare(config, "verify"),
        Source::open(config.source_connection()),
        Source::open(dest_conn),
    );
    let (
        plan::Prepared {
            dest_conn,
            source_schema,
            desired,
            ..
        },
        missing,
    ) = prepared?;
    if let Some(tables) = missing {
        return Err(VerifyError::MissingTables {
            destination: dest_conn.name.clone(),
            tables,
        });
    }
    let (source, destination) = (source?, destination?);
    let writer = if opts.repair {
        Some(Writer::open(dest_conn).await?)
    } else {
        None
    };
    let job = Job {
        config,
        opts,
        source: Side1 {
            db: &source,
            conn: config.source_connection(),
            dialect: source_schema.dialect,
        },
        destination: Side1 {
            db: &destination,
            conn: dest_conn,
            dialect: dest_conn.url.dialect(),
        },
        writer: writer.as_ref(),
        pg_by_value: matches!(
            tokio::join!(pg_by_value(&source), pg_by_value(&destination)),
            (true, true)
        ),
    };
    let order = load_order(&desired.schema);
    let mut tables = Vec::new();
    let mut extras: Vec<(TablePlan, Vec<Vec<Option<String>>>)> = Vec::new();
    let mut fatal = None;
    for name in &order {
        let (report, extra) = match job.table(name, &desired, &source_schema).await {
            Ok(done) => done,
            Err(e @ VerifyError::Repair { .. }) => {
                fatal = Some(e);
                break;
            }
            Err(e) => (
                failed(name, &desired, &dest_conn.url.scrub(&e.to_string())),
                None,
            ),
        };
        on_table(&report);
        tables.push(report);
        extras.extend(extra);
    }
    if fatal.is_none()
        && opts.delete_extra
        && let Some(w) = &writer
    {
        fatal = job.delete_extras(w, extras, &mut tables).await.err();
    }
    source.close().await;
    destination.close().await;
    if let Some(w) = writer {
        w.close().await;
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    let rows_checked = tables.iter().map(|t| t.rows_checked).sum();
    let identical_rows = tables.iter().map(|t| t.identical_rows).sum();
    let identical = !tables.iter().any(|t| t.differs() || t.error.is_some());
    Ok(Report {
        source: config.source.clone(),
        destination: dest_conn.name.clone(),
        consistency: percent(identical_rows, rows_checked),
        rows_checked,
        identical_rows,
        identical,
        seconds: started.elapsed().as_secs_f64(),
        tables,
        repair: opts.repair,
    })
}

/// Whether `db` is PostgreSQL 14 or later (`hash_record_extended`); anything else, or
/// a server that does not say, is not.
pub(super) async fn pg_by_value(db: &Source) -> bool {
    if db.postgres().is_none() {
        return false;
    }
    let rows = db
        .rows("SELECT current_setting('server_version_num')", &[])
        .await
        .unwrap_or_default();
    rows.first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v >= 140_000)
}

/// One side's open database.
struct Side1<'a> {
    db: &'a Source,
    conn: &'a Connection,
    dialect: Dialect,
}

struct Job<'a> {
    config: &'a Config,
    opts: &'a Options,
    source: Side1<'a>,
    destination: Side1<'a>,
    writer: Option<&'a Writer>,
    /// Both sides are PostgreSQL 14 or later (rows hashed by value, `sql_hash.rs`).
    pg_by_value: bool,
}

/// A table's plan with what reading and comparing its destination side needs.
struct Work {
    plan: TablePlan,
    /// The destination columns, one per target.
    dest_cols: Vec<Column>,
    /// How each target column, and each key column, is compared.
    rules: Vec<Rule>,
    key_rules: Vec<Rule>,
    /// Set when the databases compute the checksums (`bisect.rs`).
    sql: Option<sql_plan::SqlPlan>,
}

/// One row as read: its key in comparable form (the match between sides), its key as
/// the side's canonical text (for keyset pages and deletes), its values as canonical
/// text (masked on the source side), and the hash of its canonical encoding.
struct Row {
    key: Vec<Option<String>>,
    raw_key: Vec<Option<String>>,
    values: Vec<Option<String>>,
    hash: u128,
}

/// A chunk's outcome.
#[derive(Default)]
struct ChunkResult {
    source_rows: u64,
    destination_rows: u64,
    differing: bool,
    differences: Vec<Difference>,
    /// Source rows (values as masked canonical text) to re-send, and extra rows'
    /// destination keys.
    resend: Vec<Row>,
    extra_keys: Vec<Vec<Option<String>>>,
    /// Checksum comparisons made (SQL checksums), and rows read to be diffed.
    segments: u64,
    rows_read: u64,
    /// Rows of a sampled-key chunk found on one side only, to be matched across chunks
    /// (`KeyRange::Keys`): source rows, then destination rows.
    unmatched: (Vec<Row>, Vec<Row>),
}

impl ChunkResult {
    /// Two disjoint ranges' results as one.
    fn merge(mut self, other: ChunkResult) -> ChunkResult {
        self.source_rows += other.source_rows;
        self.destination_rows += other.destination_rows;
        self.differing |= other.differing;
        self.differences.extend(other.differences);
        self.resend.extend(other.resend);
        self.extra_keys.extend(other.extra_keys);
        self.segments += other.segments;
        self.rows_read += other.rows_read;
        self.unmatched.0.extend(other.unmatched.0);
        self.unmatched.1.extend(other.unmatched.1);
        self
    }
}

impl Job<'_> {
    /// Verifies one table; with `--delete-extra`, also returns its extra rows' keys.
    #[allow(clippy::type_complexity)]
    async fn table(
        &self,
        name: &str,
        desired: &Desired,
        source_schema: &Schema,
    ) -> Result<(TableReport, Option<(TablePlan, Vec<Vec<Option<String>>>)>), VerifyError> {
        let started = Instant::now();
        let mut report = failed(name, desired, "");
        report.error = None;
        let plan = match TablePlan::new(name, desired, source_schema, self.config) {
            Ok(plan) => plan,
            Err(e) => {
                report.error = Some(format!("{e}; it was not verified"));
                return Ok((report, None));
            }
        };
        let mut work = self.work(plan, desired);
        if work.plan.append_only {
            let result = self.keyless(&work).await?;
            report.chunks = 1;
            let (report, _) = self.finish(report, vec![result], &work, started).await?;
            return Ok((report, None));
        }
        let (chunks, bounds) = self.chunks(&work).await?;
        if let Some(bounds) = bounds {
            self.plan_sql(&mut work, bounds);
        }
        if work.sql.is_some() {
            report.checksums = "sql";
        }
        report.chunks = chunks.len() as u64;
        let sampled = chunks.len() > 1 && matches!(chunks[0], KeyRange::Keys { .. });
        let mut results: Vec<ChunkResult> = stream::iter(chunks)
            .map(|chunk| self.chunk(&work, chunk))
            .buffer_unordered(self.opts.workers.max(1))
            .try_collect()
            .await?;
        // Bounds sampled in the source's key order are disjoint there, but not on a
        // destination that orders the key otherwise (text under another collation):
        // there a row may be read in two chunks. Then the table is compared whole.
        if sampled {
            let read: u64 = results.iter().map(|r| r.destination_rows).sum();
            if read != self.count(Side::Destination, &work.plan.name).await? {
                tracing::info!(
                    table = name,
                    "the destination orders the key apart from the source; compared as one chunk"
                );
                let whole = KeyRange::Keys { lo: None, hi: None };
                // `--repair` already re-sent the changed rows the chunks found (matched
                // by key, so real): they stay in the report, and the whole compare no
                // longer sees them. Rows found on one side only were not touched yet.
                let mut repaired: Vec<ChunkResult> = Vec::new();
                if self.writer.is_some() {
                    for mut r in results {
                        r.source_rows = 0;
                        r.destination_rows = 0;
                        r.unmatched = (Vec::new(), Vec::new());
                        repaired.push(r);
                    }
                }
                repaired.push(self.diff_rows(&work, &whole).await?);
                results = repaired;
                report.chunks = 1;
            }
        }
        let unmatched = results
            .iter_mut()
            .fold((Vec::new(), Vec::new()), |mut acc, r| {
                acc.0.append(&mut r.unmatched.0);
                acc.1.append(&mut r.unmatched.1);
                acc
            });
        results.push(self.reconcile(&work, unmatched).await?);
        let (report, extra_keys) = self.finish(report, results, &work, started).await?;
        let extras =
            (self.opts.delete_extra && !extra_keys.is_empty()).then_some((work.plan, extra_keys));
        Ok((report, extras))
    }

    /// What comparing a table's rows needs besides its plan: the destination's columns
    /// and how each column (and each key column) is compared.
    fn work(&self, plan: TablePlan, desired: &Desired) -> Work {
        let dest_table = &desired.schema.tables[&plan.name];
        let dest_cols: Vec<Column> = plan
            .targets
            .iter()
            .filter_map(|t| dest_table.column(&t.name).cloned())
            .collect();
        let (from, to) = (self.source.dialect, self.destination.dialect);
        let rules = plan
            .src_cols
            .iter()
            .zip(&dest_cols)
            .map(|(s, d)| Rule::of(s, d, from, to))
            .collect();
        let key_rules = plan
            .key_cols
            .iter()
            .zip(&plan.dest_key_cols)
            .map(|(s, d)| Rule::of(s, d, from, to))
            .collect();
        Work {
            plan,
            dest_cols,
            rules,
            key_rules,
            sql: None,
        }
    }

    /// Plans the table's checksums in SQL (`sql_plan`), when both engines can: `bounds`
    /// are the smallest and largest integer key over both sides.
    fn plan_sql(&self, work: &mut Work, bounds: (i64, i64)) {
        work.sql = sql_plan::sql_plan(
            sql_plan::Columns {
                plan: &work.plan,
                dest_cols: &work.dest_cols,
                rules: &work.rules,
            },
            self.source.dialect,
            self.destination.dialect,
            bounds,
            self.pg_by_value,
        );
    }

    /// The table's report from its chunks' results (after the repairs' bookkeeping), and
    /// the keys of its extra rows.
    #[allow(clippy::type_complexity)]
    async fn finish(
        &self,
        mut report: TableReport,
        results: Vec<ChunkResult>,
        work: &Work,
        started: Instant,
    ) -> Result<(TableReport, Vec<Vec<Option<String>>>), VerifyError> {
        let name = work.plan.name.as_str();
        let mut differences = Vec::new();
        let mut extra_keys = Vec::new();
        for r in results {
            report.source_rows += r.source_rows;
            report.destination_rows += r.destination_rows;
            report.chunks_differing += u64::from(r.differing);
            report.segments += r.segments;
            report.rows_read += r.rows_read;
            report.repaired += r.resend.len() as u64;
            differences.extend(r.differences);
            extra_keys.extend(r.extra_keys);
        }
        if report.repaired > 0
            && let Some(w) = self.writer
        {
            w.finish_table(name, &work.plan.targets)
                .await
                .map_err(|e| self.repair_error(name, &e))?;
        }
        for d in &differences {
            match d.kind {
                Kind::Missing => report.missing += 1,
                Kind::Extra => report.extra += 1,
                Kind::Changed => report.changed += 1,
            }
        }
        differences.sort_by(|a, b| key_order(&a.key, &b.key));
        report.complete = differences.len() <= self.opts.max_listed;
        differences.truncate(self.opts.max_listed);
        report.differences = differences;
        report.rows_checked = report.source_rows + report.extra;
        report.identical_rows = report.source_rows - report.missing - report.changed;
        report.consistency = percent(report.identical_rows, report.rows_checked);
        report.seconds = started.elapsed().as_secs_f64();
        Ok((report, extra_keys))
    }
}
