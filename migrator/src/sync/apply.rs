//! Ordered, transactional apply. Source transactions are applied in commit order, one
//! or several (small ones batched) in one destination transaction, which also moves the
//! sync's position row (`position.rs`): the destination holds exactly the changes up to
//! its stored position, whatever instant a crash comes at.
//!
//! Inside a batch, consecutive changes of one table (a run) are folded into one end state
//! per key (`fold.rs`: last image wins, a delete after anything is a delete, unchanged
//! columns taken from the run's whole row) and written together through the transfer
//! writers: one keyed delete and one multi-row upsert per run (`Tx::delete_keys`,
//! `Tx::upsert`), so a batch of thousands of changes costs a handful of statements.
//! Another table's change ends the run (foreign keys keep the source's order between
//! tables). Runs are flushed at [`RUN_ROWS`] keys: a million-row source transaction goes
//! through in bounded memory, inside one destination transaction.

use super::change::{Change, Op, Position, Values};
use super::fold::{Fold, Writes};
use super::position::{self, Advance, Copy};
use super::receive::Receiver;
use crate::rows::apply_mask;
use crate::rows::plan::{TablePlan, Target};
use crate::rows::write::{Tx, WriteError, Writer, Written};
use seaway_codegen::config::Config;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Instant;
use tracing::Instrument;

/// Keys a run holds before it is written (inside the open destination transaction).
pub const RUN_ROWS: usize = 5_000;

/// How often a destination whose commits return before its log is on disk (PostgreSQL)
/// is asked how far its log is flushed, to confirm positions to the source.
const MARK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

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

    /// A row's key (its values in `targets` order), as the writers take keys.
    fn key_of(&self, row: &Values) -> Values {
        self.plan
            .targets
            .iter()
            .zip(row)
            .filter(|(t, _)| t.is_key)
            .map(|(_, v)| v.clone())
            .collect()
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
    /// The run of one table's changes not yet written, keys in writer order.
    run: Option<Fold>,
    /// The last source commit in the batch, and its commit time.
    commit: Option<(Position, i64)>,
    /// The latest the batch's last source commit can have been, by the source's clock
    /// (its commit time plus the clock's step, less one microsecond).
    latest_commit: i64,
    changes: u64,
    transactions: u64,
    started: Option<Instant>,
    /// Whether commits return before the destination's log is on disk (PostgreSQL).
    deferred: bool,
    /// Positions committed, oldest first, not yet known durable: each with a point in
    /// the destination's log past its commit, once one was asked for.
    unflushed: VecDeque<(Position, Option<u64>)>,
    last_mark: Option<Instant>,
    /// The copy's progress as of the batch's end.
    pub copy: Copy,
    pub counts: Vec<TableCounts>,
    scrub: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
    /// A stream of a sync both ways: its receiving end, which judges each key's changes
    /// against what the side it writes into holds (`receive.rs`), once the initial copy
    /// is done.
    pub receiver: Option<Receiver>,
    /// Where the destination's log position is asked when not through `writer` (a
    /// stream both ways: `writer` is its one applying session, busy while a batch is
    /// open).
    pub marks: Option<&'a Writer>,
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
            latest_commit: 0,
            changes: 0,
            transactions: 0,
            started: None,
            deferred: writer.postgres().is_some(),
            unflushed: VecDeque::new(),
            last_mark: None,
            copy,
            receiver: None,
            marks: None,
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
        self.tx.is_some()
            || self.run.is_some()
            || self.commit.is_some()
            || self.receiver.as_ref().is_some_and(|r| r.run().is_some())
    }

    /// Changes in the open batch.
    pub fn batch_changes(&self) -> u64 {
        self.changes
    }

    /// How long the open batch has been open.
    pub fn batch_age(&self) -> std::time::Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    /// How long ago, at least, the batch's newest source transaction committed at the
    /// source (its clock against ours); zero without one. At least: a source whose clock
    /// gives whole seconds (MariaDB) may have committed up to a second after the time it
    /// gives, and taking that time as the commit's would make every batch look late (and
    /// wait for more, `Options::eager_within`) when the stream is not.
    pub fn behind(&self) -> std::time::Duration {
        if self.commit.is_none() {
            return std::time::Duration::ZERO;
        }
        u64::try_from(now_micros() - self.latest_commit)
            .map(std::time::Duration::from_micros)
            .unwrap_or_default()
    }

    fn destination(&self, e: &sqlx::Error) -> ApplyError {
        ApplyError::Destination((self.scrub)(&e.to_string()))
    }

    /// Applies one change (after the table's masks) in the open batch.
    pub async fn change(&mut self, change: Change) -> Result<(), ApplyError> {
        self.changes += 1;
        if self.copy.done && self.receiver.is_some() {
            return self.receive(change).await;
        }
        let route = &self.routes[change.table];
        let old_key = change
            .old_key
            .map(|k| route.key_for_writer(&self.masked_key(change.table, k)));
        match (change.op, change.row) {
            (Op::Insert | Op::Update, Some(row)) => {
                let (key, row) = self.masked_row(change.table, row);
                let insert = change.op == Op::Insert;
                self.run_of(change.table).await?.put(
                    old_key,
                    key,
                    row,
                    &change.unchanged,
                    insert,
                    false,
                );
            }
            (Op::Delete, _) | (Op::Insert | Op::Update, None) => {
                if let Some(key) = old_key {
                    self.run_of(change.table).await?.delete(key);
                }
            }
        }
        self.flush_if_full().await
    }

    /// A change of a stream both ways, gathered by the receiving end; its run is written
    /// when another table's change comes or it is full.
    async fn receive(&mut self, change: Change) -> Result<(), ApplyError> {
        // Changes gathered one way before the copy finished go first.
        self.flush().await?;
        let table = change.table;
        if self
            .receiver
            .as_ref()
            .and_then(Receiver::run)
            .is_some_and(|(t, n)| t != table || n >= RUN_ROWS)
        {
            self.flush_received().await?;
        }
        let routes = self.routes;
        let route = &routes[table];
        let txn = usize::try_from(self.transactions).unwrap_or(usize::MAX);
        let key_of = |row: &Values| route.key_of(row);
        let Some(r) = self.receiver.as_mut() else {
            return Ok(());
        };
        let Some(change) = r.take(change, txn, key_of, |key| route.key_for_writer(key)) else {
            return Ok(());
        };
        // Its key waits in the run as the other side's decision: the run is written
        // first, and the change starts the next.
        self.flush_received().await?;
        match self
            .receiver
            .as_mut()
            .map(|r| r.take(change, txn, key_of, |key| route.key_for_writer(key)))
        {
            Some(Some(_)) => Err(ApplyError::Destination(
                "a change could not join an empty run (a bug in sync's receiving end)".into(),
            )),
            Some(None) | None => Ok(()),
        }
    }

    /// Conflicts the other stream of a sync both ways decided, for the side this stream
    /// writes into (`receive.rs`); nothing for a stream one way.
    pub async fn told(&mut self, told: super::change::Told) -> Result<(), ApplyError> {
        self.flush().await?;
        let routes = self.routes;
        // The decisions were made having seen this side up to `told.seen`.
        if let Some(r) = self.receiver.as_mut() {
            r.seen(told.seen);
        }
        for d in told.decisions {
            let route = &routes[d.table];
            let Some(image) = d
                .row
                .as_ref()
                .or_else(|| d.expected.iter().flatten().next())
                .or(d.key.as_ref())
            else {
                continue;
            };
            let key = route.key_of(image);
            if self
                .receiver
                .as_ref()
                .and_then(Receiver::run)
                .is_some_and(|(t, n)| t != d.table || n >= RUN_ROWS)
                || self
                    .receiver
                    .as_ref()
                    .is_some_and(|r| r.holds(d.table, &key))
            {
                self.flush_received().await?;
            }
            if let Some(r) = self.receiver.as_mut() {
                r.take_resolved(d, key);
            }
        }
        for d in told.reconsider {
            let Some(r) = self.receiver.as_ref() else {
                break;
            };
            let row = d.row.as_ref().map(|row| r.stream_order(d.table, row));
            // A key the other side deleted comes as a row of its key in `expected`.
            let named = match (&row, d.expected.first()) {
                (Some(row), _) => row.clone(),
                (None, Some(Some(key_row))) => r.stream_order(d.table, key_row),
                (None, _) => continue,
            };
            let key = routes[d.table].key_of(&named);
            if r.run().is_some_and(|(t, n)| t != d.table || n >= RUN_ROWS) || r.holds(d.table, &key)
            {
                self.flush_received().await?;
            }
            if let Some(r) = self.receiver.as_mut() {
                r.take_reconsider(d, row, key);
            }
        }
        Ok(())
    }

    /// Writes the receiving end's run into the open transaction.
    async fn flush_received(&mut self) -> Result<(), ApplyError> {
        if self.receiver.as_ref().and_then(Receiver::run).is_none() {
            return Ok(());
        }
        self.open().await?;
        let plans: Vec<&TablePlan> = self.routes.iter().map(|r| &r.plan).collect();
        let (Some(tx), Some(r)) = (self.tx.as_mut(), self.receiver.as_mut()) else {
            return Ok(());
        };
        let table = r.run().map_or(0, |(t, _)| t);
        let (written, deleted, _) = r.flush(tx, &plans).await.map_err(|e| ApplyError::Write {
            table: plans[table].name.clone(),
            reason: (self.scrub)(&e.to_string()),
        })?;
        self.counts[table].written += written;
        self.counts[table].deleted += deleted;
        Ok(())
    }

    /// The tables' routes, in load order (a table after those its keys point to).
    pub fn routes(&self) -> &[Route] {
        self.routes
    }

    /// A `TRUNCATE` of `tables` at the source, in the open batch: the run in hand is
    /// written, then the destination's tables emptied together, in the engine's way
    /// that holds whatever foreign keys join them (`engine::role::Write::empty_tables`),
    /// each counted as deleted what it held.
    pub async fn truncate(&mut self, tables: &[usize]) -> Result<(), ApplyError> {
        self.flush().await?;
        self.open().await?;
        self.changes += 1;
        let mut order = tables.to_vec();
        order.sort_unstable_by(|a, b| b.cmp(a));
        order.dedup();
        let routes = self.routes;
        let Some(tx) = self.tx.as_mut() else {
            return Ok(());
        };
        let failed = |e: sqlx::Error| ApplyError::Write {
            table: order
                .iter()
                .map(|&t| routes[t].plan.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            reason: (self.scrub)(&e.to_string()),
        };
        let mut held = Vec::with_capacity(order.len());
        for &table in &order {
            held.push(
                tx.row_count(&routes[table].plan.name)
                    .await
                    .map_err(&failed)?,
            );
        }
        let d = tx.engine();
        let names: Vec<String> = order
            .iter()
            .map(|&t| crate::rows::read::quote(d, &routes[t].plan.name))
            .collect();
        let (statements, restore) = crate::engine::of(d).empty_tables(&names);
        let mut emptied = Ok(());
        for sql in &statements {
            if let Err(e) = tx.execute(sql, &[]).await {
                emptied = Err(e);
                break;
            }
        }
        if let Some(restore) = restore {
            let restored = tx.execute(&restore, &[]).await;
            emptied = emptied.and(restored.map(|_| ()));
        }
        emptied.map_err(failed)?;
        for (&table, n) in order.iter().zip(held) {
            self.counts[table].deleted += n;
        }
        Ok(())
    }

    /// Adds rows the initial copy read (a chunk, at its high watermark).
    pub async fn copied(&mut self, table: usize, rows: Vec<Values>) -> Result<(), ApplyError> {
        for row in rows {
            let (key, row) = self.masked_row(table, row);
            self.run_of(table)
                .await?
                .put(None, key, row, &[], true, true);
            self.flush_if_full().await?;
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

    /// A row after the table's masks, with its key in writer order.
    fn masked_row(&self, table: usize, mut row: Values) -> (Values, Values) {
        let route = &self.routes[table];
        for (v, mask) in row.iter_mut().zip(&route.plan.masks) {
            apply_mask(v, *mask, self.config);
        }
        (route.key_of(&row), row)
    }

    /// The run `table`'s change joins: the current one, or a new one after the current
    /// (another table's) is written.
    async fn run_of(&mut self, table: usize) -> Result<&mut Fold, ApplyError> {
        if self.run.as_ref().is_some_and(|r| r.table != table) {
            self.flush().await?;
        }
        Ok(self.run.get_or_insert_with(|| Fold::new(table)))
    }

    async fn flush_if_full(&mut self) -> Result<(), ApplyError> {
        if self.run.as_ref().is_some_and(|r| r.len() >= RUN_ROWS) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the current run into the open transaction (opening it if needed): its
    /// deletes, its whole rows, then its updates of some columns (`fold.rs` says why in
    /// that order).
    async fn flush(&mut self) -> Result<(), ApplyError> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        if run.is_empty() {
            return Ok(());
        }
        let table = run.table;
        let writes = run.finish();
        self.open().await?;
        let Some(tx) = self.tx.as_mut() else {
            return Ok(());
        };
        let plan = &self.routes[table].plan;
        let span = tracing::debug_span!(
            "sync_run",
            table = %plan.name,
            deletes = writes.deletes.len(),
            rows = writes.rows.len(),
            columns = writes.columns.len()
        );
        let scrub = &self.scrub;
        let (written, deleted) = write_run(tx, plan, &writes)
            .instrument(span)
            .await
            .map_err(|e| ApplyError::Write {
                table: plan.name.clone(),
                reason: scrub(&e.to_string()),
            })?;
        let counts = &mut self.counts[table];
        counts.written += written;
        counts.deleted += deleted;
        counts.copied += writes.copied;
        Ok(())
    }
    async fn open(&mut self) -> Result<(), ApplyError> {
        if self.tx.is_none() {
            let mut tx = self
                .writer
                .begin_deferred()
                .await
                .map_err(|e| self.destination(&e))?;
            // A stream both ways marks its transaction first, where the side's engine
            // needs a mark to tell its writes from the application's (`side::begin`).
            if let Some(r) = self.receiver.as_ref() {
                r.begin(&mut tx).await.map_err(|e| ApplyError::Write {
                    table: "(the sync's marker)".into(),
                    reason: (self.scrub)(&e.to_string()),
                })?;
            }
            self.tx = Some(tx);
            self.started.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// A source transaction committed: it joins the batch.
    pub fn commit_seen(&mut self, position: Position, commit_micros: i64, clock_step_micros: i64) {
        self.transactions += 1;
        if let Some(r) = self.receiver.as_mut() {
            r.committed(commit_micros, &position);
        }
        self.started.get_or_insert_with(Instant::now);
        self.commit = Some((position, commit_micros));
        self.latest_commit = commit_micros.saturating_add(clock_step_micros.max(1) - 1);
    }

    /// Commits the batch with the position of its last source transaction. Returns what
    /// was reached, or `None` when the batch held no source commit.
    pub async fn commit(&mut self) -> Result<Option<Committed>, ApplyError> {
        self.flush().await?;
        self.flush_received().await?;
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
        if let Some(r) = self.receiver.as_mut() {
            let plans: Vec<&TablePlan> = self.routes.iter().map(|r| &r.plan).collect();
            // An error drops the transaction, which rolls it back.
            let settled = r
                .settle(&mut tx, &plans)
                .await
                .map_err(|e| ApplyError::Write {
                    table: "(the batch's conflicts)".into(),
                    reason: (self.scrub)(&e.to_string()),
                })?;
            for (table, written, deleted) in settled {
                self.counts[table].written += written;
                self.counts[table].deleted += deleted;
            }
        }
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
        self.unflushed.push_back((position.clone(), None));
        Ok(Some(Committed {
            position,
            commit_micros,
            applied_micros,
            transactions,
            changes,
        }))
    }

    /// The newest committed position now durable in the destination, when one became
    /// so since the last call: what may be confirmed to the source (which then lets go of
    /// the changes before it). A destination whose commits are durable when they return
    /// answers at once; PostgreSQL's commits return before its log is on disk (as its own
    /// subscriptions apply, for latency), so its log is asked, at most every
    /// [`MARK_EVERY`] unless `now`, how far it is flushed: a crash of the server before
    /// then loses the changes and their position together, and the source still has
    /// them.
    pub async fn durable(&mut self, now: bool) -> Result<Option<Position>, ApplyError> {
        if self.unflushed.is_empty() {
            return Ok(None);
        }
        if !self.deferred {
            return Ok(self.all_durable());
        }
        if !now && self.last_mark.is_some_and(|t| t.elapsed() < MARK_EVERY) {
            return Ok(None);
        }
        self.last_mark = Some(Instant::now());
        let marks = self
            .marks
            .unwrap_or(self.writer)
            .log_marks()
            .await
            .map_err(|e| self.destination(&e))?;
        let Some((mark, flushed)) = marks else {
            return Ok(self.all_durable());
        };
        // Every commit queued committed before this question: `mark` is past it.
        for entry in &mut self.unflushed {
            entry.1.get_or_insert(mark);
        }
        let mut done = None;
        while self
            .unflushed
            .front()
            .is_some_and(|(_, m)| m.is_some_and(|m| m <= flushed))
        {
            done = self.unflushed.pop_front().map(|(p, _)| p);
        }
        Ok(done)
    }

    /// Every commit queued is durable: the newest position.
    fn all_durable(&mut self) -> Option<Position> {
        let newest = self.unflushed.pop_back().map(|(p, _)| p);
        self.unflushed.clear();
        newest
    }

    /// Whether a committed position is not yet known durable.
    pub fn undurable(&self) -> bool {
        !self.unflushed.is_empty()
    }

    /// Abandons the open batch (on error or stop before a commit was seen).
    pub async fn abandon(&mut self) {
        self.run = None;
        if let Some(r) = self.receiver.as_mut() {
            r.abandon();
        }
        self.commit = None;
        self.changes = 0;
        self.transactions = 0;
        self.started = None;
        if let Some(tx) = self.tx.take() {
            let _ = tx.rollback().await;
        }
    }
}

/// A run's writes in the open transaction; returns what the destination wrote and how
/// many rows it deleted, by its own counts.
async fn write_run(
    tx: &mut Tx,
    plan: &TablePlan,
    writes: &Writes,
) -> Result<(Written, u64), WriteError> {
    let deleted = if writes.deletes.is_empty() {
        0
    } else {
        tx.delete_keys(&plan.name, &plan.targets, &writes.deletes)
            .await?
    };
    let mut written = if writes.rows.is_empty() {
        Written::default()
    } else {
        tx.upsert(&plan.name, &plan.targets, &writes.rows).await?
    };
    for columns in &writes.columns {
        let targets: Vec<Target> = columns
            .came
            .iter()
            .map(|&i| plan.targets[i].clone())
            .collect();
        let rows: Vec<Values> = columns
            .rows
            .iter()
            .map(|r| columns.came.iter().map(|&i| r[i].clone()).collect())
            .collect();
        if columns.upsert {
            // Inserts written before the source added a column: the destination's
            // default fills it, as the source's did for rows it already held.
            written += tx.upsert(&plan.name, &targets, &rows).await?;
        } else {
            // Only some columns came: the row is updated where the destination has it.
            // Where it has not, the initial copy has yet to read it (and will read it
            // whole), or holds it in the chunk in flight (`copy.rs` merges the change
            // into it).
            written.updated += tx.update_columns(&plan.name, &targets, &rows).await?;
        }
    }
    Ok((written, deleted))
}
