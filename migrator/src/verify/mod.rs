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
mod keyless;
mod sql_hash;

use crate::rows::plan::{self, TablePlan};
use crate::rows::range::{self, KeyRange, Keyed};
use crate::rows::read::{self, Page};
use crate::rows::source::Source;
use crate::rows::{apply_mask, load_order};
use crate::transfer::write::Writer;
use canon::{Rule, Side};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use seaway_codegen::commands::diff::DiffError;
use seaway_codegen::config::{Config, Connection};
use seaway_codegen::model::{Column, Dialect, Schema};
use seaway_codegen::target::Desired;
use serde::Serialize;
use std::collections::HashMap;
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

/// What kind of difference a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// In the source, not in the destination.
    Missing,
    /// In the destination, not in the source.
    Extra,
    /// In both, with different values.
    Changed,
}

/// One source and one destination value of a changed column (`--show-values`).
#[derive(Debug, Clone, Serialize)]
pub struct Values {
    pub column: String,
    pub source: Option<String>,
    pub destination: Option<String>,
}

/// One differing row.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub kind: Kind,
    /// The row's key values, in key order.
    pub key: Vec<Option<String>>,
    /// The destination columns that differ (changed rows only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Values>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    pub source_table: String,
    pub source_rows: u64,
    pub destination_rows: u64,
    /// Distinct keys seen on either side.
    pub rows_checked: u64,
    /// Rows in both sides with equal values.
    pub identical_rows: u64,
    /// identical rows / rows checked, in percent (100 for two empty tables).
    pub consistency: f64,
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
    /// Chunks compared, and how many of them had different checksums.
    pub chunks: u64,
    pub chunks_differing: u64,
    /// How checksums were computed: `sql` (by each database, with bisection) or
    /// `client` (rows read and hashed by verify: SQLite, or no column both engines
    /// print alike, or a key other than a single integer).
    pub checksums: &'static str,
    /// Checksum comparisons made, bisection included (`sql` only).
    pub segments: u64,
    /// Rows read from both sides to be compared one by one.
    pub rows_read: u64,
    /// The differences, ordered by key, at most `--max-listed`.
    pub differences: Vec<Difference>,
    /// Whether `differences` lists every difference.
    pub complete: bool,
    /// Rows re-sent by `--repair`, and deleted by `--delete-extra`.
    pub repaired: u64,
    pub deleted: u64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TableReport {
    pub fn differs(&self) -> bool {
        self.missing + self.extra + self.changed > 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub destination: String,
    pub tables: Vec<TableReport>,
    pub rows_checked: u64,
    pub identical_rows: u64,
    /// Over all tables, in percent.
    pub consistency: f64,
    /// No table differs and none failed.
    pub identical: bool,
    pub seconds: f64,
}

impl Report {
    pub fn differs(&self) -> bool {
        self.tables.iter().any(TableReport::differs)
    }

    pub fn failed(&self) -> bool {
        self.tables.iter().any(|t| t.error.is_some())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Prepare(#[from] DiffError),
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
        .map_err(DiffError::from)?;
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
    // Extra rows go last, children before parents, so foreign keys never refuse.
    if fatal.is_none()
        && opts.delete_extra
        && let Some(w) = &writer
    {
        for (plan, keys) in extras.into_iter().rev() {
            let deleted = w
                .delete(&plan.name, &plan.dest_key_cols, &keys)
                .await
                .map_err(|e| VerifyError::Repair {
                    table: plan.name.clone(),
                    reason: dest_conn.url.scrub(&e.to_string()),
                });
            match deleted {
                Ok(n) => {
                    if let Some(t) = tables.iter_mut().find(|t| t.table == plan.name) {
                        t.deleted = n;
                    }
                }
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            }
        }
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
    })
}

/// Whether `db` is PostgreSQL 14 or later (`hash_record_extended`); anything else, or
/// a server that does not say, is not.
async fn pg_by_value(db: &Source) -> bool {
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

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn failed(name: &str, desired: &Desired, error: &str) -> TableReport {
    TableReport {
        table: name.to_string(),
        source_table: desired
            .origins
            .get(name)
            .map(|o| o.source_table.clone())
            .unwrap_or_default(),
        source_rows: 0,
        destination_rows: 0,
        rows_checked: 0,
        identical_rows: 0,
        consistency: 0.0,
        missing: 0,
        extra: 0,
        changed: 0,
        chunks: 0,
        chunks_differing: 0,
        checksums: "client",
        segments: 0,
        rows_read: 0,
        differences: Vec::new(),
        complete: false,
        repaired: 0,
        deleted: 0,
        seconds: 0.0,
        error: Some(error.to_string()),
    }
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
    sql: Option<bisect::SqlPlan>,
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
    /// Source rows (masked canonical text) to re-send, and extra rows' destination keys.
    resend: Vec<Vec<Option<String>>>,
    extra_keys: Vec<Vec<Option<String>>>,
    /// Checksum comparisons made (SQL checksums), and rows read to be diffed.
    segments: u64,
    rows_read: u64,
    /// Rows of a sampled-key chunk found on one side only, to be matched across chunks
    /// (`KeyRange::Keys`): source rows, then destination rows.
    unmatched: (Vec<Row>, Vec<Row>),
}

impl ChunkResult {
    /// A range both sides' checksums prove equal: one segment, no row read.
    fn equal(s: &bisect::Summary, d: &bisect::Summary) -> ChunkResult {
        ChunkResult {
            source_rows: s.rows,
            destination_rows: d.rows,
            segments: 1,
            ..ChunkResult::default()
        }
    }

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
        let dest_table = &desired.schema.tables[name];
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
        let mut work = Work {
            plan,
            dest_cols,
            rules,
            key_rules,
            sql: None,
        };
        if work.plan.append_only {
            let result = self.keyless(&work).await?;
            report.chunks = 1;
            let (report, _) = self.finish(report, vec![result], &work, started).await?;
            return Ok((report, None));
        }
        let (chunks, bounds) = self.chunks(&work).await?;
        if let Some(bounds) = bounds {
            work.sql = bisect::sql_plan(&work, from, to, bounds, self.pg_by_value);
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

    fn repair_error(&self, table: &str, e: &dyn std::fmt::Display) -> VerifyError {
        VerifyError::Repair {
            table: table.to_string(),
            reason: self.destination.conn.url.scrub(&e.to_string()),
        }
    }

    /// The chunks (`rows::range`): for a single integer key on both sides, ranges
    /// spanning both sides' keys and open at both ends (so extra rows outside the
    /// source's keys are seen), with the smallest and largest key of both sides; for any
    /// other key, ranges between every `--chunk-size`-th source key (as transfer samples
    /// them), the first open below and the last open above.
    #[allow(clippy::type_complexity)]
    async fn chunks(
        &self,
        work: &Work,
    ) -> Result<(Vec<KeyRange>, Option<(i64, i64)>), VerifyError> {
        let plan = &work.plan;
        let src_keys: Vec<&Column> = plan.key_cols.iter().collect();
        let dest_keys: Vec<&Column> = plan.dest_key_cols.iter().collect();
        let source = Keyed {
            db: self.source.db,
            dialect: self.source.dialect,
            table: &plan.source_table,
            keys: &src_keys,
            filter: plan.filter.as_deref(),
        };
        let destination = Keyed {
            db: self.destination.db,
            dialect: self.destination.dialect,
            table: &plan.name,
            keys: &dest_keys,
            filter: None,
        };
        let planned = range::ranges(source, Some(destination), self.span(work))
            .await
            .map_err(|e| self.read_error(e.side, &e.table, &e.source))?;
        Ok((planned.ranges, planned.bounds))
    }

    /// Keys per chunk: `--chunk-size`, fewer when the source's rows are wide, so that a
    /// chunk's text stays near `CHUNK_BYTES`: a PostgreSQL range digest joins a range's
    /// rows in one value (at most 1 GB), and a chunk read to be diffed is held in memory
    /// on both sides. PostgreSQL's width is measured on a few rows as text (its catalog
    /// counts compressed, and a table never analysed has no row count); MySQL's comes from
    /// its catalog (its digests are streamed: only a diffed chunk is held).
    async fn span(&self, work: &Work) -> i64 {
        const CHUNK_BYTES: i64 = 32 << 20;
        let s = &self.source;
        let table = &work.plan.source_table;
        let (sql, params) = match s.dialect {
            Dialect::Postgres => (
                format!(
                    "SELECT avg(octet_length(s::text))::bigint::text \
                     FROM (SELECT * FROM {} LIMIT 32) AS s",
                    read::quote(s.dialect, table)
                ),
                Vec::new(),
            ),
            Dialect::Mysql => (
                "SELECT CAST(AVG_ROW_LENGTH AS CHAR) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
                    .to_string(),
                vec![table.clone()],
            ),
            Dialect::Sqlite => return self.opts.chunk_span,
        };
        // Only a guide to the size: without an answer, the configured span.
        let width =
            s.db.rows(&sql, &params)
                .await
                .ok()
                .and_then(|r| r.first().and_then(|r| r.first().cloned().flatten()))
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|w| *w > 0);
        match width {
            Some(w) => self.opts.chunk_span.min((CHUNK_BYTES / w).max(1)),
            None => self.opts.chunk_span,
        }
    }

    fn side(&self, side: Side) -> &Side1<'_> {
        match side {
            Side::Source => &self.source,
            Side::Destination => &self.destination,
        }
    }

    fn read_error(&self, side: Side, table: &str, e: &sqlx::Error) -> VerifyError {
        let s = self.side(side);
        VerifyError::Read {
            table: table.to_string(),
            side: match side {
                Side::Source => "source",
                Side::Destination => "destination",
            },
            connection: s.conn.name.clone(),
            reason: s.conn.url.scrub(&e.to_string()),
        }
    }

    /// One side's row count (the destination's: no filter).
    async fn count(&self, side: Side, table: &str) -> Result<u64, VerifyError> {
        let s = self.side(side);
        let sql = read::count_query(s.dialect, table, None);
        let rows =
            s.db.rows(&sql, &[])
                .await
                .map_err(|e| self.read_error(side, table, &e))?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Reads one side's rows of a chunk in keyset pages, encoded and hashed.
    async fn read(
        &self,
        side: Side,
        work: &Work,
        chunk: &KeyRange,
    ) -> Result<Vec<Row>, VerifyError> {
        let (range, (lo, hi)) = (chunk.ints(), chunk.keys());
        let s = self.side(side);
        let plan = &work.plan;
        let (table, cols, keys, filter): (&str, Vec<&Column>, Vec<&Column>, Option<&str>) =
            match side {
                Side::Source => (
                    &plan.source_table,
                    plan.src_cols.iter().collect(),
                    plan.key_cols.iter().collect(),
                    plan.filter.as_deref(),
                ),
                Side::Destination => (
                    &plan.name,
                    work.dest_cols.iter().collect(),
                    plan.dest_key_cols.iter().collect(),
                    None,
                ),
            };
        // Each page is encoded and hashed on the blocking pool while the next page is
        // read, so decoding, hashing and the servers' work overlap on every core.
        let mut pages = Vec::new();
        let mut last: Option<Vec<String>> = None;
        loop {
            let q = read::page_query(
                s.dialect,
                Page {
                    table,
                    columns: &cols,
                    keys: &keys,
                    after: last.is_some(),
                    range,
                    key_range: (lo.is_some(), hi.is_some()),
                    filter,
                    limit: self.opts.page_size,
                },
            );
            // Bound in the order the query numbers them: last key, lower, upper bound.
            let params: Vec<String> = [last.as_deref(), lo, hi]
                .into_iter()
                .flatten()
                .flatten()
                .cloned()
                .collect();
            let mut rows =
                s.db.rows(&q.sql, &params)
                    .await
                    .map_err(|e| self.read_error(side, table, &e))?;
            let full = rows.len() == self.opts.page_size;
            if side == Side::Source && plan.masks.iter().any(Option::is_some) {
                for values in &mut rows {
                    for (v, mask) in values.iter_mut().zip(&plan.masks) {
                        apply_mask(v, *mask, self.config);
                    }
                }
            }
            last = rows.last().map(|r| {
                r[q.width..]
                    .iter()
                    .map(|v| v.clone().unwrap_or_default())
                    .collect()
            });
            let (rules, key_rules, width) = (work.rules.clone(), work.key_rules.clone(), q.width);
            pages.push(tokio::task::spawn_blocking(move || {
                encode_page(rows, width, &rules, &key_rules, side)
            }));
            if !full {
                break;
            }
        }
        let mut out = Vec::new();
        for page in pages {
            out.extend(page.await.map_err(|e| VerifyError::Hashing {
                table: table.to_string(),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// Checks one chunk: by the databases' checksums and bisection where they can
    /// (`bisect.rs`), otherwise by reading and hashing its rows here.
    async fn chunk(&self, work: &Work, chunk: KeyRange) -> Result<ChunkResult, VerifyError> {
        match (&chunk, &work.sql) {
            (KeyRange::Ints { lo, hi }, Some(sql)) => self.bisect(work, sql, (*lo, *hi)).await,
            _ => self.diff_rows(work, &chunk).await,
        }
    }

    /// Reads a chunk's rows from both sides at once, compares checksums, and, when they
    /// differ, diffs the rows by key (and repairs them with `--repair`). A sampled-key
    /// chunk leaves the rows it finds on one side only to `reconcile`.
    async fn diff_rows(&self, work: &Work, chunk: &KeyRange) -> Result<ChunkResult, VerifyError> {
        let (src, dst) = tokio::join!(
            self.read(Side::Source, work, chunk),
            self.read(Side::Destination, work, chunk)
        );
        let (src, dst) = (src?, dst?);
        let checksum = |rows: &[Row]| {
            rows.iter().fold((rows.len(), 0u128), |(n, sum), r| {
                (n, sum.wrapping_add(r.hash))
            })
        };
        let mut result = ChunkResult {
            source_rows: src.len() as u64,
            destination_rows: dst.len() as u64,
            rows_read: (src.len() + dst.len()) as u64,
            ..ChunkResult::default()
        };
        if checksum(&src) == checksum(&dst) {
            return Ok(result);
        }
        result.differing = true;
        let mut by_key: HashMap<Vec<Option<String>>, Row> =
            dst.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut missing = Vec::new();
        for s in src {
            match by_key.remove(&s.key) {
                None => missing.push(s),
                Some(d) if d.hash != s.hash => {
                    result.differences.push(self.changed(work, &s, &d));
                    result.resend.push(s.values);
                }
                Some(_) => {}
            }
        }
        let extra: Vec<Row> = by_key.into_values().collect();
        if matches!(chunk, KeyRange::Keys { .. }) {
            result.unmatched = (missing, extra);
        } else {
            self.one_sided(&mut result, missing, extra);
        }
        self.resend(work, &mut result).await?;
        Ok(result)
    }

    /// Rows found on one side only, as missing and extra differences (and what repair
    /// re-sends or deletes).
    fn one_sided(&self, result: &mut ChunkResult, missing: Vec<Row>, mut extra: Vec<Row>) {
        for s in missing {
            result.differences.push(Difference {
                kind: Kind::Missing,
                key: s.key,
                columns: Vec::new(),
                values: None,
            });
            result.resend.push(s.values);
        }
        extra.sort_by(|a, b| key_order(&a.key, &b.key));
        for d in extra {
            result.differences.push(Difference {
                kind: Kind::Extra,
                key: d.key,
                columns: Vec::new(),
                values: None,
            });
            result.extra_keys.push(d.raw_key);
        }
    }

    /// A changed row: the columns whose comparable forms differ (and their values, with
    /// `--show-values`).
    fn changed(&self, work: &Work, s: &Row, d: &Row) -> Difference {
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for (i, rule) in work.rules.iter().enumerate() {
            let theirs = d.values[i].as_deref();
            let ours = s.values[i].as_deref();
            if ours.map(|v| rule.encode(Side::Source, v))
                != theirs.map(|v| rule.encode(Side::Destination, v))
            {
                let column = work.plan.targets[i].name.clone();
                values.push(Values {
                    column: column.clone(),
                    source: s.values[i].clone(),
                    destination: d.values[i].clone(),
                });
                columns.push(column);
            }
        }
        Difference {
            kind: Kind::Changed,
            key: s.key.clone(),
            columns,
            values: self.opts.show_values.then_some(values),
        }
    }

    /// With `--repair`, upserts the result's source rows to re-send; otherwise forgets
    /// them.
    async fn resend(&self, work: &Work, result: &mut ChunkResult) -> Result<(), VerifyError> {
        match self.writer {
            Some(w) if !result.resend.is_empty() => {
                w.upsert(&work.plan.name, &work.plan.targets, &result.resend)
                    .await
                    .map_err(|e| self.repair_error(&work.plan.name, &e))?;
            }
            _ => result.resend.clear(),
        }
        Ok(())
    }

    /// Matches the rows sampled-key chunks found on one side only, by key across the
    /// whole table: a source row and a destination row of one key that landed in
    /// different chunks (the engines order the key apart) are equal or changed, never
    /// missing and extra.
    async fn reconcile(
        &self,
        work: &Work,
        (missing, extra): (Vec<Row>, Vec<Row>),
    ) -> Result<ChunkResult, VerifyError> {
        let mut result = ChunkResult::default();
        if missing.is_empty() && extra.is_empty() {
            return Ok(result);
        }
        let mut by_key: HashMap<Vec<Option<String>>, Row> =
            extra.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut alone = Vec::new();
        for s in missing {
            match by_key.remove(&s.key) {
                None => alone.push(s),
                Some(d) if d.hash != s.hash => {
                    result.differences.push(self.changed(work, &s, &d));
                    result.resend.push(s.values);
                }
                Some(_) => {}
            }
        }
        self.one_sided(&mut result, alone, by_key.into_values().collect());
        self.resend(work, &mut result).await?;
        Ok(result)
    }
}

/// Encodes and hashes one page of rows (each: the values, then the key columns from
/// `width` on).
fn encode_page(
    rows: Vec<Vec<Option<String>>>,
    width: usize,
    rules: &[Rule],
    key_rules: &[Rule],
    side: Side,
) -> Vec<Row> {
    let mut encoded = Vec::with_capacity(256);
    rows.into_iter()
        .map(|mut values| {
            let raw_key = values.split_off(width);
            encoded.clear();
            for (v, rule) in values.iter().zip(rules) {
                let c = v.as_deref().map(|v| rule.encode(side, v));
                canon::push_value(&mut encoded, c.as_deref());
            }
            let key = raw_key
                .iter()
                .zip(key_rules)
                .map(|(v, rule)| v.as_deref().map(|v| rule.encode(side, v).into_owned()))
                .collect();
            Row {
                key,
                raw_key,
                values,
                hash: canon::hash(&encoded),
            }
        })
        .collect()
}

/// Keys in a stable order for reports: integers numerically, other values as text.
fn key_order(a: &[Option<String>], b: &[Option<String>]) -> std::cmp::Ordering {
    let sort_key = |v: &Option<String>| match v.as_deref().map(|s| (s.parse::<i128>(), s)) {
        None => (0, 0, String::new()),
        Some((Ok(n), _)) => (1, n, String::new()),
        Some((Err(_), s)) => (2, 0, s.to_string()),
    };
    a.iter().map(sort_key).cmp(b.iter().map(sort_key))
}
