//! The receiving end of one stream of a sync both ways: what the stream does with the
//! changes it carries into a side that is itself written to (docs/architecture.md,
//! "Both ways").
//!
//! A batch's changes are gathered per key, as `fold.rs` gathers them one way, but each
//! key keeps the row the sender held *before* its first change in the batch (the old
//! image, `REPLICA IDENTITY FULL`). Before a run of one table is written, the rows the
//! receiving side holds for its keys are read, locked until the batch commits, and each
//! key is judged by `detect::check`:
//! - the receiving side holds what the sender changed: the change is applied;
//! - it holds the change's end state already: nothing is written;
//! - it changed the row too (a conflict): the key waits for the batch's end, when the
//!   commit times of its source transactions are known, and `resolve::resolve_at`
//!   decides the row both sides keep. The receiving side's version of the row is the
//!   commit time of the transaction that wrote it (`pg_xact_commit_timestamp_origin`);
//!   where this stream wrote it as the outcome of an earlier conflict, the version
//!   recorded then in the stream's version table; where this stream wrote it as a plain
//!   change, that change came from the same sender before this one, so this one is the
//!   later. Every conflict is logged, in the same transaction.
//!
//! The statements that read and record all this run on the side's engine
//! (`side.rs`), for every engine.

use super::change::{Change, Op, Position, Values};
use super::detect::{self, Verdict};
use super::resolve::{self, Edit, Rules, Side};
use super::side::{self, Stream};
pub use super::side_types::key_text;
use super::side_types::{Deleted, Held, Logged};
use crate::rows::plan::TablePlan;
use crate::rows::values::{Family, comparable};
use crate::rows::write::{Tx, WriteError, Written};
use seaway_codegen::model::Column;
use serde::Serialize;
use std::collections::HashMap;

/// One table as the receiving end judges its changes.
#[derive(Debug, Clone)]
pub struct TableRules {
    /// The table's name at the sync's source (the config's name), in the log.
    pub source_table: String,
    /// The source's column names, in source order (the resolver's order), in the log.
    pub source_columns: Vec<String>,
    /// The table's conflict rules, columns in source order.
    pub rules: Rules,
    /// For each source-order position, the position in this stream's rows (the way
    /// back's plan orders columns as the destination does).
    pub from_source: Vec<usize>,
    /// The receiving table's columns, in this stream's targets order (read back as
    /// canonical text).
    pub columns: Vec<Column>,
    /// The receiving table's name (how the other stream's capture names it).
    pub here_table: String,
}

/// What a stream both ways needs at its receiving end.
#[derive(Debug, Clone)]
pub struct Receiving {
    /// The side this stream writes into.
    pub side: Side,
    /// The stream's name (its slot's), in the log.
    pub stream: String,
    /// The stream's replication origin id at the receiving server (PostgreSQL).
    pub origin: i64,
    /// How the sending side orders its changes: the scale of `seen` that this stream,
    /// when it decides, tells the other.
    pub source_order: Order,
    /// A MySQL/MariaDB side that does not decide: its local edits in its commit order,
    /// as the other stream reads them (`edit_order.rs`).
    pub edit_order: Option<std::sync::Arc<super::edit_order::EditOrder>>,
    /// The stream's version table.
    pub versions: String,
    /// The side that decides conflicts (the source: its stream receives the
    /// destination's changes) tells the other stream, named here, what it decided.
    pub tell: Option<String>,
    /// The other side (the one that does not decide): how far the deciding side had
    /// seen its changes, as stored by the last run (`Told::seen`).
    pub seen: i64,
    /// The other side: the deciding side's stream (its slot), asked to reconsider keys.
    pub ask: Option<String>,
    /// Per route, in route order.
    pub tables: Vec<TableRules>,
}

/// A conflict as `--report` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub stream: String,
    pub table: String,
    pub key: String,
    pub rule: &'static str,
    pub winner: &'static str,
}

/// The row before a key's first change in the batch, as the sender held it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Before {
    /// The sender did not hold the key (an insert).
    Absent,
    Row(Values),
    /// An update or delete whose old image did not come.
    Unknown,
    /// A conflict the other side decided: its outcome is taken where this side still
    /// holds one of these rows (`None`: lacks the key), what it was decided against.
    Decided(Vec<Option<Values>>),
    /// The other side left this key alone because it changed it too: decided here
    /// against what this side holds, the other side's version committed at this time.
    Reconsider(Option<i64>),
}

#[derive(Debug, Clone)]
struct KeyEdit {
    before: Before,
    /// The row after the key's last change, targets order; `None`: deleted.
    end: Option<Values>,
    /// The batch's source transaction of the last change (index into `commits`).
    txn: usize,
    /// How far the sender had seen this side's changes when it made the first change.
    seen: i64,
}

/// A key whose arriving change conflicts with what the receiving side holds.
#[derive(Debug, Clone)]
struct Waiting {
    table: usize,
    key: Values,
    end: Option<Values>,
    txn: usize,
    held: Option<Held>,
    /// The arriving version's commit time when it is not its source transaction's (a
    /// key the other side asks to have reconsidered).
    micros: Option<Option<i64>>,
}

/// Why receiving failed: the destination's error.
pub type Failed = WriteError;

/// Where a side's change stands in that side's own order of changes: what `Told::seen`
/// counts, and what a row's local edit is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// PostgreSQL: the commit time (its log is in commit order, and every row carries
    /// its writer's commit time).
    CommitTime,
    /// SQLite: the change table's sequence, the stream's position (one writer at a time,
    /// so sequence order is commit order; its clock has only milliseconds).
    Sequence,
    /// MySQL/MariaDB: the GTID's sequence number in the position (the binary log is in
    /// commit order; a row carries no commit time).
    Gtid,
}

/// One table's keys gathered so far: the table, each key with its edit in order of
/// first change, and where each key is in that list.
type Run = (usize, Vec<(Values, KeyEdit)>, HashMap<Values, usize>);

/// The receiving end's state for the open batch.
#[derive(Debug)]
pub struct Receiver {
    pub settings: Receiving,
    run: Option<Run>,
    waiting: Vec<Waiting>,
    waiting_at: HashMap<(usize, Values), usize>,
    commits: Vec<i64>,
    /// The batch's last source transaction in the sender's order (`Order`).
    last_order: Option<i64>,
    /// Conflicts decided in this run of `sync` (the newest [`KEPT`]), and how many.
    pub conflicts: Vec<Conflict>,
    pub conflict_count: u64,
    /// How far the deciding side had seen this side's changes, at the point of the
    /// stream read so far; whether it moved in the open batch.
    seen: i64,
    seen_moved: bool,
    /// `seen` as of the last committed batch (a rolled-back batch's messages come again).
    seen_committed: i64,
    /// Keys to ask the deciding side to reconsider, with this batch.
    asking: Vec<super::change::Resolved>,
}

/// Conflicts kept for `--report` (the log in the database holds them all).
const KEPT: usize = 1_000;

impl Receiver {
    pub fn new(settings: Receiving) -> Receiver {
        Receiver {
            run: None,
            waiting: Vec::new(),
            waiting_at: HashMap::new(),
            commits: Vec::new(),
            last_order: None,
            conflicts: Vec::new(),
            conflict_count: 0,
            seen: settings.seen,
            // Stored at the first batch: a first run starts from the time it started.
            seen_moved: true,
            seen_committed: settings.seen,
            asking: Vec::new(),
            settings,
        }
    }

    /// The table of the run being gathered, and its keys.
    pub fn run(&self) -> Option<(usize, usize)> {
        self.run.as_ref().map(|(t, keys, _)| (*t, keys.len()))
    }

    /// The deciding side has now seen this side's changes committed up to `micros`.
    pub fn seen(&mut self, micros: i64) {
        if micros > self.seen {
            self.seen = micros;
            self.seen_moved = true;
        }
    }

    /// Asks the deciding side to decide a key this side left alone (`current`: what
    /// this side holds, `micros`: when this side's application wrote it).
    /// `key_row`: the key at its columns, the others NULL (how a deleted key is named).
    fn ask(&mut self, table: usize, current: Option<&Held>, micros: Option<i64>, key_row: Values) {
        let rules = &self.settings.tables[table];
        self.asking.push(super::change::Resolved {
            table: 0,
            table_name: rules.here_table.clone(),
            expected: vec![Some(to_source(&rules.from_source, &key_row))],
            row: current.map(|h| to_source(&rules.from_source, &h.row)),
            micros,
            key: None,
        });
    }

    /// Whether the run being gathered holds `key` of `table`.
    pub fn holds(&self, table: usize, key: &Values) -> bool {
        self.run
            .as_ref()
            .is_some_and(|(t, _, at)| *t == table && at.contains_key(key))
    }

    /// Gathers a conflict the other side decided (`key` from its row).
    pub fn take_resolved(&mut self, decided: super::change::Resolved, key: Values) {
        self.take_message(
            decided.table,
            key,
            Before::Decided(decided.expected),
            decided.row,
        );
    }

    /// A key the other stream's message names, as the run's last entry (the caller
    /// wrote the run first where it held the key).
    fn take_message(&mut self, table: usize, key: Values, before: Before, end: Option<Values>) {
        let seen = self.seen;
        let (_, keys, at) = self
            .run
            .get_or_insert_with(|| (table, Vec::new(), HashMap::new()));
        at.insert(key.clone(), keys.len());
        keys.push((
            key,
            KeyEdit {
                before,
                end,
                txn: 0,
                seen,
            },
        ));
    }

    /// A source transaction of the batch committed at `micros`; the stream resumes
    /// after `position`.
    pub fn committed(&mut self, micros: i64, position: &Position) {
        self.commits.push(micros);
        self.last_order = match self.settings.source_order {
            Order::CommitTime => Some(micros),
            Order::Sequence => position.0.parse().ok().or(self.last_order),
            Order::Gtid => position
                .0
                .rsplit(' ')
                .next()
                .and_then(crate::engine::mysql::both::gtid_seq)
                .or(self.last_order),
        };
    }

    /// The stream as the side's statements name it.
    fn stream(&self) -> Stream<'_> {
        Stream {
            name: &self.settings.stream,
            versions: &self.settings.versions,
            origin: self.settings.origin,
            edit_order: self.settings.edit_order.as_deref(),
        }
    }

    /// Opens the stream's work in a new apply transaction (`side::begin`).
    pub async fn begin(&self, tx: &mut Tx) -> Result<(), Failed> {
        side::begin(tx, &self.stream()).await
    }

    /// Forgets the open batch (rolled back).
    pub fn abandon(&mut self) {
        self.run = None;
        self.waiting.clear();
        self.waiting_at.clear();
        self.commits.clear();
        self.last_order = None;
        self.seen = self.seen_committed;
        self.asking.clear();
    }

    /// A row of the way there's column order in this stream's order.
    pub fn stream_order(&self, table: usize, row: &Values) -> Values {
        from_source(&self.settings.tables[table].from_source, row)
    }

    /// Gathers a key the other side asks to have decided (`row` in this stream's order).
    pub fn take_reconsider(
        &mut self,
        asked: super::change::Resolved,
        row: Option<Values>,
        key: Values,
    ) {
        self.take_message(asked.table, key, Before::Reconsider(asked.micros), row);
    }

    /// Gathers `change` of the batch's source transaction `txn`; `key_of` gives a
    /// row's key and `writer_key` turns a plan-order key into the writer's order.
    /// Returns the change untaken when it cannot join the run: its key waits there as
    /// the other side's decision (or request), which a change must not be folded into;
    /// the caller writes the run, then gives it again.
    pub fn take(
        &mut self,
        change: Change,
        txn: usize,
        key_of: impl Fn(&Values) -> Values,
        writer_key: impl Fn(&Values) -> Values,
    ) -> Option<Change> {
        let table = change.table;
        let seen = self.seen;
        if let Some((t, keys, at)) = &self.run
            && *t == table
        {
            let mut touched = change.old_key.iter().map(&writer_key).collect::<Vec<_>>();
            touched.extend(change.row.iter().map(&key_of));
            let special = touched.iter().any(|k| {
                at.get(k).is_some_and(|&i| {
                    matches!(keys[i].1.before, Before::Decided(_) | Before::Reconsider(_))
                })
            });
            if special {
                return Some(change);
            }
        }
        let (_, keys, at) = self
            .run
            .get_or_insert_with(|| (table, Vec::new(), HashMap::new()));
        let mut put = |key: Values, before: Before, end: Option<Values>| match at.get(&key) {
            Some(&i) => {
                keys[i].1.end = end;
                keys[i].1.txn = txn;
            }
            None => {
                at.insert(key.clone(), keys.len());
                keys.push((
                    key,
                    KeyEdit {
                        before,
                        end,
                        txn,
                        seen,
                    },
                ));
            }
        };
        let before = match (change.op, change.old_row) {
            (Op::Insert, _) => Before::Absent,
            (Op::Update | Op::Delete, Some(old)) => Before::Row(old),
            (Op::Update | Op::Delete, None) => Before::Unknown,
        };
        match (change.op, change.row) {
            (Op::Insert | Op::Update, Some(row)) => {
                let key = key_of(&row);
                if let Some(old) = change.old_key.map(|k| writer_key(&k))
                    && old != key
                {
                    // A key change: the old key is deleted, the new one inserted.
                    put(old, before, None);
                    put(key, Before::Absent, Some(row));
                } else {
                    put(key, before, Some(row));
                }
            }
            (Op::Delete, _) | (Op::Insert | Op::Update, None) => {
                if let Some(key) = change.old_key.map(|k| writer_key(&k)) {
                    put(key, before, None);
                }
            }
        }
        None
    }

    /// Writes the gathered run into `tx`: the keys whose changes apply, and the
    /// conflicting ones kept for [`Receiver::settle`]. Returns the destination's counts.
    pub async fn flush(
        &mut self,
        tx: &mut Tx,
        plans: &[&TablePlan],
    ) -> Result<(Written, u64, usize), Failed> {
        let Some((table, keys, _)) = self.run.take() else {
            return Ok((Written::default(), 0, 0));
        };
        let plan = plans[table];
        // Cloned: `self` is changed while they are in use.
        let columns = self.settings.tables[table].columns.clone();
        let mut fresh = Vec::new();
        for (key, edit) in keys {
            match self.waiting_at.get(&(table, key.clone())) {
                // A request to decide the key after a change of it in this batch: the
                // request holds what the other side had when its stream read the key,
                // and every change of it that side had committed by then, or commits
                // before the request's own commit, comes ahead of the request. So the
                // change waiting here is at least as new, and the request's row may
                // be older (an insert committed between the read and the commit):
                // decided on that, the other side's newer edit would be lost.
                Some(&i)
                    if matches!(edit.before, Before::Reconsider(_))
                        && self.waiting[i].micros.is_none() => {}
                // Still in conflict: the receiving side's row is locked and unchanged;
                // the arriving side's end state moves on.
                Some(&i) => {
                    self.waiting[i].end = edit.end;
                    self.waiting[i].txn = edit.txn;
                    self.waiting[i].micros = match edit.before {
                        Before::Reconsider(m) => Some(m),
                        Before::Absent | Before::Row(_) | Before::Unknown | Before::Decided(_) => {
                            None
                        }
                    };
                }
                None => fresh.push((key, edit)),
            }
        }
        let lookup: Vec<Values> = fresh.iter().map(|(k, _)| k.clone()).collect();
        let held = side::held(tx, &self.stream(), plan, &columns, &lookup).await?;
        let families: Vec<Family> = plan.targets.iter().map(|t| Family::of(&t.ty)).collect();
        let key_row = |key: &Values| key_row(plan, key);
        // The side that does not decide leaves to the deciding side any change made
        // without seeing this side's own change of the key (its row committed, or its
        // delete, after what the sender had seen of this side): the deciding side
        // receives this side's change and decides the two together, as a conflict.
        // Judged by the old image alone, a key this side deleted would take an insert
        // the deciding side then overrules.
        let deleted_here = if self.settings.tell.is_none() {
            let absent: Vec<Values> = fresh
                .iter()
                .filter(|(k, _)| !held.contains_key(k))
                .map(|(k, _)| k.clone())
                .collect();
            side::deleted(tx, &self.stream(), plan, &columns, &absent).await?
        } else {
            HashMap::new()
        };
        let mut deletes = Vec::new();
        let mut rows = Vec::new();
        // Rows for keys the receiving side did not hold when read: inserted only where
        // still missing, since no lock could hold a row that did not exist.
        let mut new_rows: Vec<(Values, Values, usize)> = Vec::new();
        for (key, edit) in fresh {
            // The sender's changes in the batch left the key as they found it (inserted
            // then deleted, or changed and changed back): nothing of the sender's
            // reaches the other side, so there is nothing to apply and nothing to
            // conflict with. Judged on its own, an insert then delete would delete a row
            // the receiving side inserted meanwhile, which the sender is about to
            // receive and keep.
            let unchanged = match (&edit.before, &edit.end) {
                (Before::Absent, None) => true,
                (Before::Row(b), Some(e)) => {
                    comparable_row(&families, b) == comparable_row(&families, e)
                }
                (
                    Before::Absent
                    | Before::Row(_)
                    | Before::Unknown
                    | Before::Decided(_)
                    | Before::Reconsider(_),
                    _,
                ) => false,
            };
            if unchanged {
                continue;
            }
            let current = held.get(&key);
            if let Before::Reconsider(micros) = edit.before {
                let same = current.map(|h| comparable_row(&families, &h.row))
                    == edit.end.as_ref().map(|e| comparable_row(&families, e));
                if !same {
                    self.wait(Waiting {
                        table,
                        key,
                        end: edit.end,
                        txn: edit.txn,
                        held: current.cloned(),
                        micros: Some(micros),
                    });
                }
                continue;
            }
            if let Before::Decided(expected) = &edit.before {
                let now = current.map(|h| comparable_row(&families, &h.row));
                if now == edit.end.as_ref().map(|e| comparable_row(&families, e)) {
                    continue;
                }
                let held_then = expected
                    .iter()
                    .any(|e| now == e.as_ref().map(|e| comparable_row(&families, e)));
                let take = match local_edit(current, &deleted_here, &key) {
                    // This side holds what the decision was made against.
                    _ if held_then => true,
                    // Its own edit: taken where the deciding side had seen it when it
                    // decided; one made since is on its way there, to be decided again.
                    Some((order, _)) => order <= edit.seen,
                    // A row the deciding side's stream wrote here (or none), which the
                    // decision was not made against: a change of the deciding side's
                    // own that its read for the decision missed (a key it did not hold
                    // then, inserted before the decision committed), or one the stream
                    // carried over since. Which, this side cannot tell: the deciding
                    // side is asked to send what it holds now.
                    None => {
                        self.ask(table, current, None, key_row(&key));
                        false
                    }
                };
                if take {
                    match (edit.end, current) {
                        (Some(row), Some(_)) => rows.push(row),
                        (Some(row), None) => new_rows.push((key, row, edit.txn)),
                        (None, _) => deletes.push(key),
                    }
                }
                continue;
            }
            let op = match (&edit.before, &edit.end) {
                (Before::Absent, _) => Op::Insert,
                (_, None) => Op::Delete,
                (_, Some(_)) => Op::Update,
            };
            if self.settings.tell.is_none()
                && let Some((order, micros)) = local_edit(current, &deleted_here, &key)
                && order > edit.seen
            {
                self.ask(table, current, micros, key_row(&key));
                continue;
            }
            let old = match &edit.before {
                Before::Row(r) => Some(comparable_row(&families, r)),
                Before::Absent | Before::Unknown | Before::Decided(_) | Before::Reconsider(_) => {
                    None
                }
            };
            let verdict = detect::check(
                op,
                old.as_ref(),
                edit.end
                    .as_ref()
                    .map(|r| comparable_row(&families, r))
                    .as_ref(),
                current.map(|h| comparable_row(&families, &h.row)).as_ref(),
            );
            match verdict {
                Verdict::Apply => match (edit.end, current) {
                    (Some(row), Some(_)) => rows.push(row),
                    (Some(row), None) => new_rows.push((key, row, edit.txn)),
                    (None, _) => deletes.push(key),
                },
                Verdict::Held => {}
                // The destination's end leaves every conflict to the source's, which
                // sees both edits with the source's current row: one side deciding is
                // what makes both end the same (each deciding alone, the two can pair
                // different edits of a key, e.g. a delete here and the re-insert that
                // followed it there). The destination's own edit is on its way there.
                Verdict::Conflict if self.settings.tell.is_none() => {
                    let here = local_edit(current, &deleted_here, &key).and_then(|(_, m)| m);
                    self.ask(table, current, here, key_row(&key));
                }
                Verdict::Conflict => {
                    self.wait(Waiting {
                        table,
                        key,
                        end: edit.end,
                        txn: edit.txn,
                        held: current.cloned(),
                        micros: None,
                    });
                }
            }
        }
        let (mut written, deleted) = write(tx, plan, &deletes, &rows).await?;
        let mut plain: Vec<Values> = deletes;
        plain.extend(rows.iter().map(|r| plan_key(plan, r)));
        plain.extend(new_rows.iter().map(|(k, _, _)| k.clone()));
        side::wrote_plainly(tx, &self.stream(), &plan.name, &plain).await?;
        if !new_rows.is_empty() {
            let sent: Vec<Values> = new_rows.iter().map(|(_, r, _)| r.clone()).collect();
            let inserted = side::insert_missing(tx, &plan.name, &plan.targets, &sent).await?;
            written += Written::inserted(inserted);
            if inserted < sent.len() as u64 {
                // A local write inserted some of the keys since they were read: each is
                // now locked, and a conflict where it differs from the arriving row.
                let keys: Vec<Values> = new_rows.iter().map(|(k, _, _)| k.clone()).collect();
                let now = side::held(tx, &self.stream(), plan, &columns, &keys).await?;
                for (key, row, txn) in new_rows {
                    let Some(h) = now.get(&key) else { continue };
                    if comparable_row(&families, &h.row) == comparable_row(&families, &row) {
                        continue;
                    }
                    self.wait(Waiting {
                        table,
                        key,
                        end: Some(row),
                        txn,
                        held: Some(h.clone()),
                        micros: None,
                    });
                }
            }
        }
        Ok((written, deleted, table))
    }

    /// Keeps a conflicting key for the batch's end.
    fn wait(&mut self, waiting: Waiting) {
        self.waiting_at
            .insert((waiting.table, waiting.key.clone()), self.waiting.len());
        self.waiting.push(waiting);
    }

    /// Decides the batch's conflicts, now that every source transaction's commit time
    /// is known, writes what each decided, records the versions of the rows written and
    /// logs each conflict. Returns the destination's counts per table.
    pub async fn settle(
        &mut self,
        tx: &mut Tx,
        plans: &[&TablePlan],
    ) -> Result<Vec<(usize, Written, u64)>, Failed> {
        let commits = std::mem::take(&mut self.commits);
        let waiting = std::mem::take(&mut self.waiting);
        self.waiting_at.clear();
        let side = self.settings.side;
        let mut out = Vec::new();
        let mut logged = Vec::new();
        let mut told = Vec::new();
        // Grouped by table, each in the order its conflicts arose.
        let mut tables: Vec<usize> = waiting.iter().map(|w| w.table).collect();
        tables.dedup();
        tables.sort_unstable();
        tables.dedup();
        for table in tables {
            let plan = plans[table];
            let rules = &self.settings.tables[table];
            let families: Vec<Family> = plan.targets.iter().map(|t| Family::of(&t.ty)).collect();
            let mine: Vec<&Waiting> = waiting.iter().filter(|w| w.table == table).collect();
            let stream = Stream {
                name: &self.settings.stream,
                versions: &self.settings.versions,
                origin: self.settings.origin,
                edit_order: self.settings.edit_order.as_deref(),
            };
            let recorded = side::versions(
                tx,
                &stream,
                &rules.source_table,
                &mine
                    .iter()
                    .filter(|w| w.held.as_ref().is_some_and(|h| h.ours))
                    .map(|w| key_text(&w.key))
                    .collect::<Vec<_>>(),
            )
            .await?;
            let mut deletes = Vec::new();
            let mut rows = Vec::new();
            let mut new_rows = Vec::new();
            let mut versions = Vec::new();
            for w in mine {
                let arriving = Edit {
                    op: match &w.end {
                        Some(r) => resolve::Op::Upsert(to_source(&rules.from_source, r)),
                        None => resolve::Op::Delete,
                    },
                    commit_micros: match w.micros {
                        Some(m) => m.unwrap_or(i64::MIN),
                        None => commits
                            .get(w.txn)
                            .or(commits.last())
                            .copied()
                            .unwrap_or(i64::MIN),
                    },
                };
                let here = Edit {
                    op: match &w.held {
                        Some(h) => resolve::Op::Upsert(to_source(&rules.from_source, &h.row)),
                        None => resolve::Op::Delete,
                    },
                    commit_micros: match &w.held {
                        None => i64::MIN,
                        Some(h) if h.ours => recorded
                            .get(&key_text(&w.key))
                            .filter(|(_, xid)| *xid == h.xmin)
                            .map_or(i64::MIN, |(v, _)| *v),
                        Some(h) => h.micros.unwrap_or(i64::MIN),
                    },
                };
                // Asked about a key the other side holds nothing of its own for (a row
                // this side's stream wrote there, or none): there is no conflict, and
                // what this side holds stands.
                let decided = (w.micros != Some(None))
                    .then(|| resolve::resolve_at(&rules.rules, side, &here, &arriving));
                let after = match &decided {
                    Some(d) => d.row.clone(),
                    None => match &here.op {
                        resolve::Op::Upsert(r) => Some(r.clone()),
                        resolve::Op::Delete => None,
                    },
                };
                let end = after.as_ref().map(|r| from_source(&rules.from_source, r));
                let same = match (&end, &w.held) {
                    (None, None) => true,
                    (Some(e), Some(h)) => {
                        comparable_row(&families, e) == comparable_row(&families, &h.row)
                    }
                    _ => false,
                };
                if !same {
                    match end {
                        Some(row) => {
                            versions.push((
                                key_text(&w.key),
                                here.commit_micros.max(arriving.commit_micros),
                            ));
                            if w.held.is_some() {
                                rows.push(row);
                            } else {
                                new_rows.push(row);
                            }
                        }
                        None => deletes.push(w.key.clone()),
                    }
                }
                // The other side is told every decision: it holds its own edit, or this
                // side's row if this stream's other half carried it there since.
                if self.settings.tell.is_some() {
                    let side_row = |op: &resolve::Op| match op {
                        resolve::Op::Upsert(r) => Some(r.clone()),
                        resolve::Op::Delete => None,
                    };
                    told.push(super::change::Resolved {
                        table: 0,
                        table_name: rules.source_table.clone(),
                        expected: vec![side_row(&arriving.op), side_row(&here.op)],
                        row: after.clone(),
                        micros: None,
                        key: Some(to_source(&rules.from_source, &key_row(plan, &w.key))),
                    });
                }
                let Some(decided) = decided else {
                    continue;
                };
                let (source_edit, destination_edit) = match side {
                    Side::Source => (&here, &arriving),
                    Side::Destination => (&arriving, &here),
                };
                let key = key_text(&w.key);
                logged.push(Logged {
                    table: rules.source_table.clone(),
                    key: key.clone(),
                    source_version: version_json(&rules.source_columns, source_edit),
                    destination_version: version_json(&rules.source_columns, destination_edit),
                    rule: decided.decided.as_str(),
                    winner: decided.winner.as_str(),
                });
                self.conflict_count += 1;
                if self.conflicts.len() >= KEPT {
                    self.conflicts.remove(0);
                }
                self.conflicts.push(Conflict {
                    stream: self.settings.stream.clone(),
                    table: rules.source_table.clone(),
                    key,
                    rule: decided.decided.as_str(),
                    winner: decided.winner.as_str(),
                });
            }
            let (mut written, deleted) = write(tx, plan, &deletes, &rows).await?;
            // A key the receiving side had deleted: a local insert since then stands
            // (it travels to the other side as a change of its own).
            written += Written::inserted(
                side::insert_missing(tx, &plan.name, &plan.targets, &new_rows).await?,
            );
            side::write_versions(tx, &stream, &rules.source_table, &versions).await?;
            out.push((table, written, deleted));
        }
        side::log_conflicts(tx, &self.stream(), &logged).await?;
        match (&self.settings.tell, self.last_order.take()) {
            (Some(to), Some(seen)) => {
                let told = super::change::Told {
                    seen,
                    decisions: told,
                    reconsider: Vec::new(),
                };
                let text = serde_json::to_string(&told)
                    .map_err(|e| WriteError::Declined(format!("encoding the decisions: {e}")))?;
                side::send_told(tx, to, &text).await?;
            }
            (Some(_), None) => {}
            (None, _) => {
                if std::mem::take(&mut self.seen_moved) {
                    side::write_seen(tx, &self.stream(), self.seen).await?;
                }
                self.seen_committed = self.seen;
                let asking = std::mem::take(&mut self.asking);
                if let (Some(to), false) = (&self.settings.ask, asking.is_empty()) {
                    let told = super::change::Told {
                        seen: 0,
                        decisions: Vec::new(),
                        reconsider: asking,
                    };
                    let text = serde_json::to_string(&told)
                        .map_err(|e| WriteError::Declined(format!("encoding the keys: {e}")))?;
                    side::send_told(tx, to, &text).await?;
                }
            }
        }
        side::end(tx, &self.stream()).await?;
        Ok(out)
    }
}

/// Deletes `deletes` and upserts `rows` (keys and rows the receiving side holds, locked);
/// the destination's counts.
async fn write(
    tx: &mut Tx,
    plan: &TablePlan,
    deletes: &[Values],
    rows: &[Values],
) -> Result<(Written, u64), WriteError> {
    let deleted = if deletes.is_empty() {
        0
    } else {
        tx.delete_keys(&plan.name, &plan.targets, deletes).await?
    };
    let written = if rows.is_empty() {
        Written::default()
    } else {
        tx.upsert(&plan.name, &plan.targets, rows).await?
    };
    Ok((written, deleted))
}

/// When this side's application last changed the key, where that is known: its place
/// in the side's change order (`Order`) and its time, for the row when the application
/// wrote it (not this stream), or for its delete when the side no longer holds the key.
fn local_edit(
    current: Option<&Held>,
    deleted_here: &HashMap<Values, Deleted>,
    key: &Values,
) -> Option<(i64, Option<i64>)> {
    match current {
        Some(h) if !h.ours => h.edit.map(|e| (e, h.micros)),
        Some(_) => None,
        None => deleted_here.get(key).map(|d| (d.edit, Some(d.micros))),
    }
}

/// A key (targets order) as a row of `plan`'s targets: its values at the key columns,
/// the others NULL.
fn key_row(plan: &TablePlan, key: &Values) -> Values {
    let mut row = vec![None; plan.targets.len()];
    let at = plan.targets.iter().enumerate().filter(|(_, t)| t.is_key);
    for ((i, _), v) in at.zip(key) {
        row[i] = v.clone();
    }
    row
}

/// The key of a row in targets order (the writer's key order).
fn plan_key(plan: &TablePlan, row: &Values) -> Values {
    plan.targets
        .iter()
        .zip(row)
        .filter(|(t, _)| t.is_key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// A row in the comparable form of each target's family (`rows::values::comparable`),
/// so that equal rows read from the change stream and from the table compare equal.
fn comparable_row(families: &[Family], row: &Values) -> Values {
    row.iter()
        .zip(families)
        .map(|(v, f)| v.as_deref().map(|v| comparable(*f, v)))
        .collect()
}

/// A row of this stream's order in source order.
fn to_source(from_source: &[usize], row: &Values) -> Values {
    from_source.iter().map(|&i| row[i].clone()).collect()
}

/// A source-order row in this stream's order.
fn from_source(from_source: &[usize], row: &Values) -> Values {
    let mut out = vec![None; row.len()];
    for (s, &i) in from_source.iter().enumerate() {
        out[i] = row[s].clone();
    }
    out
}

/// One side's version of a key, as the log keeps it: the operation, the row by column
/// name, and the commit time it was ordered by.
fn version_json(columns: &[String], edit: &Edit) -> String {
    let row = match &edit.op {
        resolve::Op::Delete => serde_json::Value::Null,
        resolve::Op::Upsert(r) => serde_json::Value::Object(
            columns
                .iter()
                .zip(r)
                .map(|(c, v)| {
                    (
                        c.clone(),
                        v.clone()
                            .map_or(serde_json::Value::Null, serde_json::Value::String),
                    )
                })
                .collect(),
        ),
    };
    serde_json::json!({
        "op": match edit.op { resolve::Op::Delete => "delete", resolve::Op::Upsert(_) => "upsert" },
        "row": row,
        "commit_micros": (edit.commit_micros != i64::MIN).then_some(edit.commit_micros),
    })
    .to_string()
}
