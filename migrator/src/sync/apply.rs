//! Ordered, transactional apply. Source transactions are applied in commit order, one
//! or several (small ones batched) in one destination transaction, which also moves the
//! sync's position row (`position.rs`): the destination holds exactly the changes up to
//! its stored position, whatever instant a crash comes at.
//!
//! Inside a batch, consecutive changes of one table are written together through the
//! transfer writers (`Tx::upsert`, `Tx::delete_keys`): a run of upserts keeps the last
//! image of each key (the images are whole rows, so the last one is the row's state), and
//! a delete, a key change or another table ends the run, so the destination sees the
//! changes in the source's order. Runs are flushed at [`RUN_ROWS`] rows: a million-row
//! source transaction goes through in bounded memory, inside one destination transaction.

use super::change::{Change, Op, Position, Values};
use super::position::{self, Advance, Copy};
use crate::rows::apply_mask;
use crate::rows::plan::{TablePlan, Target};
use crate::rows::write::{Tx, WriteError, Writer, Written};
use seaway_codegen::config::Config;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;
use tracing::Instrument;

/// Rows a run holds before it is written (inside the open destination transaction).
pub const RUN_ROWS: usize = 5_000;

/// A destination table's route: its plan, and where its key is among the plan's targets.
#[derive(Debug)]
pub struct Route {
    pub plan: TablePlan,
    /// For each key target (in `targets` order), its position in the plan's key order.
    key_order: Vec<usize>,
}

impl Route {
    pub fn new(plan: TablePlan) -> Route {
        let key_order = plan
            .targets
            .iter()
            .filter(|t| t.is_key)
            .map(|t| {
                plan.dest_key_cols
                    .iter()
                    .position(|k| k.name == t.name)
                    .unwrap_or(0)
            })
            .collect();
        Route { plan, key_order }
    }

    /// A key in plan key order, as the writers take it (key targets in `targets` order).
    fn key_for_writer(&self, key: &[Option<String>]) -> Values {
        self.key_order.iter().map(|&i| key[i].clone()).collect()
    }
}

/// Per-table counts, as the destination reported them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableCounts {
    pub table: String,
    #[serde(flatten)]
    pub written: Written,
    pub deleted: u64,
    /// Rows the initial copy wrote (part of `written`).
    pub copied: u64,
}

/// What one run holds: upserts (of these targets: all, or all but columns the source
/// left out) or deletes, of one table. `insert`: the rows with columns left out are
/// inserts whose source description predates those columns (added at the source since),
/// written where the destination lacks them, its defaults filling the rest.
#[derive(Debug)]
enum Kind {
    Upsert {
        columns: Option<Vec<usize>>,
        insert: bool,
    },
    Delete,
}

#[derive(Debug)]
struct Run {
    table: usize,
    kind: Kind,
    /// Rows (upserts, after masks) or keys in writer order (deletes).
    rows: Vec<Values>,
    /// Upserts: the index in `rows` of each key, so a later image replaces an earlier one.
    by_key: HashMap<Values, usize>,
    /// Rows of the run that come from the initial copy.
    copied: u64,
}

/// Why applying stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("table `{table}`: the destination refused the change: {reason}")]
    Write { table: String, reason: String },
    #[error("the destination: {0}")]
    Destination(String),
}

/// The open batch: a destination transaction with the source transactions applied in
/// it so far.
pub struct Applier<'a> {
    writer: &'a Writer,
    config: &'a Config,
    routes: &'a [Route],
    name: String,
    tx: Option<Tx>,
    run: Option<Run>,
    /// The last source commit in the batch, and its commit time.
    commit: Option<(Position, i64)>,
    changes: u64,
    transactions: u64,
    started: Option<Instant>,
    /// The copy's progress as of the batch's end.
    pub copy: Copy,
    pub counts: Vec<TableCounts>,
    scrub: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
}

impl std::fmt::Debug for Applier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("name", &self.name)
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

/// What a committed batch reached.
#[derive(Debug, Clone)]
pub struct Committed {
    pub position: Position,
    pub commit_micros: i64,
    pub applied_micros: i64,
    pub transactions: u64,
    pub changes: u64,
}

/// Now, as Unix microseconds.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl<'a> Applier<'a> {
    pub fn new(
        writer: &'a Writer,
        config: &'a Config,
        routes: &'a [Route],
        name: &str,
        copy: Copy,
        scrub: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
    ) -> Applier<'a> {
        Applier {
            writer,
            config,
            routes,
            name: name.to_string(),
            tx: None,
            run: None,
            commit: None,
            changes: 0,
            transactions: 0,
            started: None,
            copy,
            counts: routes
                .iter()
                .map(|r| TableCounts {
                    table: r.plan.name.clone(),
                    ..TableCounts::default()
                })
                .collect(),
            scrub,
        }
    }

    /// Whether a batch is open (changes applied but not committed).
    pub fn pending(&self) -> bool {
        self.tx.is_some() || self.run.is_some() || self.commit.is_some()
    }

    /// Changes in the open batch.
    pub fn batch_changes(&self) -> u64 {
        self.changes
    }

    /// How long the open batch has been open.
    pub fn batch_age(&self) -> std::time::Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn destination(&self, e: &sqlx::Error) -> ApplyError {
        ApplyError::Destination((self.scrub)(&e.to_string()))
    }

    /// Applies one change (after the table's masks) in the open batch.
    pub async fn change(&mut self, change: Change) -> Result<(), ApplyError> {
        self.changes += 1;
        let route = &self.routes[change.table];
        match change.op {
            Op::Delete => {
                if let Some(key) = change.old_key {
                    let key = self.masked_key(change.table, key);
                    self.delete(change.table, route.key_for_writer(&key))
                        .await?;
                }
            }
            Op::Insert | Op::Update => {
                if let Some(old) = change.old_key {
                    // A key change: the row under its old key goes first.
                    let key = self.masked_key(change.table, old);
                    self.delete(change.table, route.key_for_writer(&key))
                        .await?;
                }
                if let Some(row) = change.row {
                    let columns = (!change.unchanged.is_empty()).then(|| {
                        (0..row.len())
                            .filter(|i| !change.unchanged.contains(i))
                            .collect::<Vec<usize>>()
                    });
                    // An insert leaves columns out only when its description predates
                    // them: it is still a new row, never dropped for want of a column.
                    let insert = change.op == Op::Insert && columns.is_some();
                    self.upsert(change.table, row, columns, insert, false)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Adds rows the initial copy read (a chunk, at its high watermark).
    pub async fn copied(&mut self, table: usize, rows: Vec<Values>) -> Result<(), ApplyError> {
        for row in rows {
            self.upsert(table, row, None, false, true).await?;
        }
        Ok(())
    }

    /// The key columns' values, masked as the row's would be.
    fn masked_key(&self, table: usize, mut key: Values) -> Values {
        let plan = &self.routes[table].plan;
        for (v, k) in key.iter_mut().zip(&plan.key_cols) {
            let mask = plan
                .src_cols
                .iter()
                .position(|c| c.name == k.name)
                .and_then(|i| plan.masks[i]);
            apply_mask(v, mask, self.config);
        }
        key
    }

    async fn upsert(
        &mut self,
        table: usize,
        mut row: Values,
        columns: Option<Vec<usize>>,
        insert: bool,
        copied: bool,
    ) -> Result<(), ApplyError> {
        let plan = &self.routes[table].plan;
        for (v, mask) in row.iter_mut().zip(&plan.masks) {
            apply_mask(v, *mask, self.config);
        }
        let same = matches!(&self.run, Some(r) if r.table == table
            && matches!(&r.kind, Kind::Upsert { columns: c, insert: i } if *c == columns && *i == insert));
        if !same {
            self.flush().await?;
            self.run = Some(Run {
                table,
                kind: Kind::Upsert { columns, insert },
                rows: Vec::new(),
                by_key: HashMap::new(),
                copied: 0,
            });
        }
        let key: Values = plan
            .targets
            .iter()
            .zip(&row)
            .filter(|(t, _)| t.is_key)
            .map(|(_, v)| v.clone())
            .collect();
        if let Some(run) = &mut self.run {
            if copied {
                run.copied += 1;
            }
            match run.by_key.get(&key) {
                Some(&i) => run.rows[i] = row,
                None => {
                    run.by_key.insert(key, run.rows.len());
                    run.rows.push(row);
                }
            }
            if run.rows.len() >= RUN_ROWS {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn delete(&mut self, table: usize, key: Values) -> Result<(), ApplyError> {
        let same =
            matches!(&self.run, Some(r) if r.table == table && matches!(r.kind, Kind::Delete));
        if !same {
            self.flush().await?;
            self.run = Some(Run {
                table,
                kind: Kind::Delete,
                rows: Vec::new(),
                by_key: HashMap::new(),
                copied: 0,
            });
        }
        if let Some(run) = &mut self.run {
            run.rows.push(key);
            if run.rows.len() >= RUN_ROWS {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Writes the current run into the open transaction (opening it if needed).
    async fn flush(&mut self) -> Result<(), ApplyError> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        if run.rows.is_empty() {
            return Ok(());
        }
        self.open().await?;
        let Some(tx) = self.tx.as_mut() else {
            return Ok(());
        };
        let plan = &self.routes[run.table].plan;
        let span = tracing::debug_span!("sync_run", table = %plan.name, rows = run.rows.len());
        let write_error = |e: WriteError| ApplyError::Write {
            table: plan.name.clone(),
            reason: (self.scrub)(&e.to_string()),
        };
        let done = async {
            Ok::<_, ApplyError>(match &run.kind {
                Kind::Delete => {
                    let n = tx
                        .delete_keys(&plan.name, &plan.targets, &run.rows)
                        .await
                        .map_err(|e| write_error(WriteError::Refused(e)))?;
                    (Written::default(), n)
                }
                Kind::Upsert { columns: None, .. } => (
                    tx.upsert(&plan.name, &plan.targets, &run.rows)
                        .await
                        .map_err(write_error)?,
                    0,
                ),
                Kind::Upsert {
                    columns: Some(columns),
                    insert: true,
                } => {
                    let (targets, rows) = subset(&plan.targets, &run.rows, columns);
                    (
                        tx.upsert(&plan.name, &targets, &rows)
                            .await
                            .map_err(write_error)?,
                        0,
                    )
                }
                Kind::Upsert {
                    columns: Some(columns),
                    insert: false,
                } => {
                    // Only some columns came: the row is updated where the destination
                    // has it. Where it has not, the initial copy has yet to read it (and
                    // will read it whole), or holds it in the chunk in flight (`copy.rs`
                    // merges the change into it).
                    let (targets, rows) = subset(&plan.targets, &run.rows, columns);
                    let n = tx
                        .update_columns(&plan.name, &targets, &rows)
                        .await
                        .map_err(|e| write_error(WriteError::Refused(e)))?;
                    (
                        Written {
                            updated: n,
                            ..Written::default()
                        },
                        0,
                    )
                }
            })
        }
        .instrument(span)
        .await?;
        let counts = &mut self.counts[run.table];
        counts.written += done.0;
        counts.deleted += done.1;
        counts.copied += run.copied;
        Ok(())
    }

    async fn open(&mut self) -> Result<(), ApplyError> {
        if self.tx.is_none() {
            let tx = self
                .writer
                .begin()
                .await
                .map_err(|e| self.destination(&e))?;
            self.tx = Some(tx);
            self.started.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// A source transaction committed: it joins the batch.
    pub fn commit_seen(&mut self, position: Position, commit_micros: i64) {
        self.transactions += 1;
        self.started.get_or_insert_with(Instant::now);
        self.commit = Some((position, commit_micros));
    }

    /// Commits the batch with the position of its last source transaction. Returns what
    /// was reached, or `None` when the batch held no source commit.
    pub async fn commit(&mut self) -> Result<Option<Committed>, ApplyError> {
        self.flush().await?;
        let Some((position, commit_micros)) = self.commit.take() else {
            return Ok(None);
        };
        self.open().await?;
        let applied_micros = now_micros();
        let changes = std::mem::take(&mut self.changes);
        let transactions = std::mem::take(&mut self.transactions);
        self.started = None;
        let Some(mut tx) = self.tx.take() else {
            return Ok(None);
        };
        let span = tracing::info_span!("sync_batch", transactions, changes, position = %position);
        position::write(
            &mut tx,
            &self.name,
            &Advance {
                position: &position,
                commit_micros,
                applied_micros,
                changes,
                copy: &self.copy,
            },
        )
        .instrument(span.clone())
        .await
        .map_err(|e| self.destination(&e))?;
        tx.commit()
            .instrument(span)
            .await
            .map_err(|e| self.destination(&e))?;
        Ok(Some(Committed {
            position,
            commit_micros,
            applied_micros,
            transactions,
            changes,
        }))
    }

    /// Abandons the open batch (on error or stop before a commit was seen).
    pub async fn abandon(&mut self) {
        self.run = None;
        self.commit = None;
        self.changes = 0;
        self.transactions = 0;
        self.started = None;
        if let Some(tx) = self.tx.take() {
            let _ = tx.rollback().await;
        }
    }
}

/// The targets at `columns`, and each row's values there.
fn subset(targets: &[Target], rows: &[Values], columns: &[usize]) -> (Vec<Target>, Vec<Values>) {
    (
        columns.iter().map(|&i| targets[i].clone()).collect(),
        rows.iter()
            .map(|r| columns.iter().map(|&i| r[i].clone()).collect())
            .collect(),
    )
}
