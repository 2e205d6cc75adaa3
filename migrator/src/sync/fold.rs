//! Folds one table's changes, in source order, into one end state per key, so a batch of
//! source transactions reaches the destination as one keyed delete, one multi-row upsert
//! (and, rarely, updates of some columns) per run of the table, instead of a write per
//! change. A run of one table ends where another table's change comes (foreign keys
//! between them keep the source's order) or at [`super::apply::RUN_ROWS`] keys.
//!
//! Only a key's state at the end of the destination transaction is seen by anyone (the
//! batch commits as a whole, with its position), so folding is exact as long as each
//! key's end state is the one the changes in order leave:
//! - a whole row (an insert, an update with every column, a row of the initial copy)
//!   replaces whatever came before for its key: the last image wins;
//! - a delete ends as a delete whatever came before (an insert then a delete of a key the
//!   destination never held deletes nothing, which is no error);
//! - an update that left some columns out (PostgreSQL sends an unchanged TOASTed value as
//!   "unchanged", without it) is laid over the whole row the run holds for the key, which
//!   makes a whole row; or over an earlier such change (the columns neither sent stay
//!   out); with nothing before it, it stays an update of the columns that came, applied
//!   only where the destination holds the row (never NULL for the others, never a row
//!   of its own); after a delete it changes nothing and the delete stands;
//! - an insert that lacks columns (written before the source added them, replayed after
//!   sync added them to the destination) is an upsert of the columns that came: a new
//!   row takes the destination's defaults for the others, as the source's row did when
//!   the column was added; after a delete of its key in the run, the delete goes first;
//! - a key change deletes the old key, and the new key's row starts from the old key's
//!   end state (an update that left columns out takes them from the old key's whole row
//!   when the run holds one).
//!
//! The writes go out deletes first, then whole rows in the order of their last change,
//! then the updates of some columns. Each key has exactly one end state, so between
//! keys the order matters only for other unique constraints: deletes first free their
//! values, and rows in last-change order take a value only after the row that gave it up.

use super::change::Values;
use std::collections::HashMap;

/// What a key ends as after the changes folded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A whole row, upserted; `copied` when it is the initial copy's row.
    Row { row: Values, copied: bool },
    /// Some columns of a row: the positions in `unchanged` did not come (their values in
    /// `row` are unused). An update (`insert` false) changes them only where the
    /// destination holds the row; an insert upserts them, after a delete of the key when
    /// `after_delete`.
    Columns {
        row: Values,
        unchanged: Vec<usize>,
        insert: bool,
        after_delete: bool,
    },
    /// Deleted.
    Deleted,
}

/// One table's changes, folded.
#[derive(Debug)]
pub struct Fold {
    pub table: usize,
    index: HashMap<Values, usize>,
    /// Per key (in order of first change): the key, its end state, and the sequence
    /// number of its last change.
    ends: Vec<(Values, End, u64)>,
    seq: u64,
}

/// What a fold writes, in this order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Writes {
    /// Keys to delete (in the order of their last change).
    pub deletes: Vec<Values>,
    /// Whole rows to upsert, distinct keys, in the order of their last change.
    pub rows: Vec<Values>,
    /// How many of `rows` are the initial copy's.
    pub copied: u64,
    /// Writes of some columns, grouped by the positions that came (ascending) and whether
    /// they are upserts (inserts that lacked columns) or updates where held; each row
    /// whole-length (the positions that did not come are unused).
    pub columns: Vec<Columns>,
}

/// Rows of which only some columns are written (see [`End::Columns`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Columns {
    pub came: Vec<usize>,
    pub upsert: bool,
    pub rows: Vec<Values>,
}

impl Fold {
    pub fn new(table: usize) -> Fold {
        Fold {
            table,
            index: HashMap::new(),
            ends: Vec::new(),
            seq: 0,
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Sets `key`'s end state; returns the one it had.
    fn set(&mut self, key: Values, end: End) -> Option<End> {
        self.seq += 1;
        match self.index.get(&key) {
            Some(&i) => {
                let slot = &mut self.ends[i];
                slot.2 = self.seq;
                Some(std::mem::replace(&mut slot.1, end))
            }
            None => {
                self.index.insert(key.clone(), self.ends.len());
                self.ends.push((key, end, self.seq));
                None
            }
        }
    }

    fn get(&self, key: &Values) -> Option<&End> {
        self.index.get(key).map(|&i| &self.ends[i].1)
    }

    /// The row under `key` was deleted.
    pub fn delete(&mut self, key: Values) {
        self.set(key, End::Deleted);
    }

    /// The row under `key` is now `row` (an insert when `insert`, else an update;
    /// `copied`: the initial copy's row), with the positions in `unchanged` not sent;
    /// `old_key` when the change moved the row from another key.
    pub fn put(
        &mut self,
        old_key: Option<Values>,
        key: Values,
        row: Values,
        unchanged: &[usize],
        insert: bool,
        copied: bool,
    ) {
        let moved = old_key.filter(|old| *old != key);
        let end = if unchanged.is_empty() {
            // A whole row: what the key (or the old key) held does not matter. The common
            // case, so nothing is cloned for it.
            if let Some(old) = moved {
                self.set(old, End::Deleted);
            }
            End::Row { row, copied }
        } else {
            let before = match moved {
                // The row leaves its old key and carries what it was there.
                Some(old) => match self.set(old, End::Deleted) {
                    Some(End::Deleted) => None,
                    other => other,
                },
                None => self.get(&key).cloned(),
            };
            laid_over(before, row, unchanged, insert)
        };
        self.set(key, end);
    }

    /// The writes that leave every key in its end state.
    pub fn finish(self) -> Writes {
        let mut ends = self.ends;
        ends.sort_by_key(|e| e.2);
        let mut writes = Writes::default();
        let mut groups: HashMap<(Vec<usize>, bool), usize> = HashMap::new();
        for (key, end, _) in ends {
            match end {
                End::Deleted => writes.deletes.push(key),
                End::Row { row, copied } => {
                    writes.copied += u64::from(copied);
                    writes.rows.push(row);
                }
                End::Columns {
                    row,
                    unchanged,
                    insert,
                    after_delete,
                } => {
                    if after_delete {
                        writes.deletes.push(key);
                    }
                    let came: Vec<usize> = (0..row.len())
                        .filter(|i| unchanged.binary_search(i).is_err())
                        .collect();
                    let i = *groups.entry((came.clone(), insert)).or_insert_with(|| {
                        writes.columns.push(Columns {
                            came,
                            upsert: insert,
                            rows: Vec::new(),
                        });
                        writes.columns.len() - 1
                    });
                    writes.columns[i].rows.push(row);
                }
            }
        }
        writes
    }
}

/// A change that left the positions in `unchanged` out, laid over what the key held
/// before in the run.
fn laid_over(before: Option<End>, mut row: Values, unchanged: &[usize], insert: bool) -> End {
    let mut unchanged: Vec<usize> = unchanged.to_vec();
    unchanged.sort_unstable();
    unchanged.dedup();
    if insert {
        // A new row: nothing before it at the source (a delete at most) carries over.
        return End::Columns {
            row,
            unchanged,
            insert,
            after_delete: before.is_some(),
        };
    }
    match before {
        Some(End::Row { row: held, .. }) => {
            for &i in &unchanged {
                if let Some(v) = held.get(i) {
                    row[i] = v.clone();
                }
            }
            End::Row { row, copied: false }
        }
        Some(End::Columns {
            row: held,
            unchanged: held_out,
            insert,
            after_delete,
        }) => {
            // What this update left out but the earlier one sent comes from it.
            unchanged.retain(|&i| {
                let earlier_sent = held_out.binary_search(&i).is_err();
                if earlier_sent && let Some(v) = held.get(i) {
                    row[i] = v.clone();
                }
                !earlier_sent
            });
            End::Columns {
                row,
                unchanged,
                insert,
                after_delete,
            }
        }
        // An update of a row deleted earlier in the run changes nothing.
        Some(End::Deleted) => End::Deleted,
        None => End::Columns {
            row,
            unchanged,
            insert: false,
            after_delete: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(values: &[&str]) -> Values {
        values.iter().map(|s| Some(s.to_string())).collect()
    }

    fn k(id: &str) -> Values {
        v(&[id])
    }

    #[test]
    fn update_after_insert_keeps_the_last_image() {
        let mut f = Fold::new(0);
        f.put(None, k("1"), v(&["1", "a"]), &[], true, false);
        f.put(None, k("1"), v(&["1", "b"]), &[], true, false);
        f.put(None, k("2"), v(&["2", "c"]), &[], true, false);
        let w = f.finish();
        assert_eq!(w.rows, vec![v(&["1", "b"]), v(&["2", "c"])]);
        assert!(w.deletes.is_empty() && w.columns.is_empty());
    }

    #[test]
    fn delete_after_update_and_insert_after_delete() {
        let mut f = Fold::new(0);
        f.put(None, k("1"), v(&["1", "a"]), &[], true, false);
        f.delete(k("1"));
        f.delete(k("2"));
        f.put(None, k("2"), v(&["2", "new"]), &[], true, false);
        let w = f.finish();
        assert_eq!(w.deletes, vec![k("1")]);
        assert_eq!(w.rows, vec![v(&["2", "new"])]);
    }

    #[test]
    fn a_key_change_deletes_the_old_key_and_writes_the_new_one() {
        let mut f = Fold::new(0);
        f.put(Some(k("1")), k("5"), v(&["5", "a"]), &[], true, false);
        let w = f.finish();
        assert_eq!(w.deletes, vec![k("1")]);
        assert_eq!(w.rows, vec![v(&["5", "a"])]);
        // Moved back: the first key ends as the row, the second as deleted.
        let mut f = Fold::new(0);
        f.put(Some(k("1")), k("5"), v(&["5", "a"]), &[], true, false);
        f.put(Some(k("5")), k("1"), v(&["1", "b"]), &[], true, false);
        let w = f.finish();
        assert_eq!(w.deletes, vec![k("5")]);
        assert_eq!(w.rows, vec![v(&["1", "b"])]);
    }

    #[test]
    fn unchanged_columns_take_the_runs_whole_row() {
        let mut f = Fold::new(0);
        f.put(None, k("1"), v(&["1", "big", "x"]), &[], true, true);
        // Column 1 did not change (not sent): its value is the inserted row's.
        f.put(
            None,
            k("1"),
            vec![Some("1".into()), None, Some("y".into())],
            &[1],
            false,
            false,
        );
        let w = f.finish();
        assert_eq!(w.rows, vec![v(&["1", "big", "y"])]);
        assert_eq!(w.copied, 0, "the row is no longer the copy's");
        assert!(w.columns.is_empty());
    }

    #[test]
    fn unchanged_columns_without_a_whole_row_stay_an_update_of_what_came() {
        let mut f = Fold::new(0);
        f.put(
            None,
            k("1"),
            vec![Some("1".into()), None, Some("y".into()), None],
            &[1, 3],
            false,
            false,
        );
        // A second update sends column 3 and leaves 1 and 2 out: 2 comes from the first.
        f.put(
            None,
            k("1"),
            vec![Some("1".into()), None, None, Some("z".into())],
            &[2, 1],
            false,
            false,
        );
        f.put(
            None,
            k("2"),
            vec![Some("2".into()), None, Some("q".into()), None],
            &[1, 3],
            false,
            false,
        );
        let w = f.finish();
        assert!(w.rows.is_empty() && w.deletes.is_empty());
        assert_eq!(
            w.columns,
            vec![
                Columns {
                    came: vec![0, 2, 3],
                    upsert: false,
                    rows: vec![vec![
                        Some("1".into()),
                        None,
                        Some("y".into()),
                        Some("z".into())
                    ]],
                },
                Columns {
                    came: vec![0, 2],
                    upsert: false,
                    rows: vec![vec![Some("2".into()), None, Some("q".into()), None]],
                },
            ]
        );
    }

    #[test]
    fn unchanged_columns_after_a_delete_change_nothing() {
        let mut f = Fold::new(0);
        f.delete(k("1"));
        f.put(
            None,
            k("1"),
            vec![Some("1".into()), None],
            &[1],
            false,
            false,
        );
        let w = f.finish();
        assert_eq!(w.deletes, vec![k("1")]);
        assert!(w.rows.is_empty() && w.columns.is_empty());
    }

    #[test]
    fn a_key_change_with_unchanged_columns_carries_the_old_keys_row() {
        let mut f = Fold::new(0);
        f.put(None, k("1"), v(&["1", "big", "x"]), &[], true, false);
        f.put(
            Some(k("1")),
            k("7"),
            vec![Some("7".into()), None, Some("x".into())],
            &[1],
            false,
            false,
        );
        let w = f.finish();
        assert_eq!(w.deletes, vec![k("1")]);
        assert_eq!(w.rows, vec![v(&["7", "big", "x"])]);
    }

    #[test]
    fn rows_go_out_in_the_order_of_their_last_change() {
        // Row 2 gives up a value (say a unique e-mail) that row 1 then takes: row 2's
        // write must come first although row 1 changed first.
        let mut f = Fold::new(0);
        f.put(None, k("1"), v(&["1", "a@x"]), &[], true, false);
        f.put(None, k("2"), v(&["2", "b@x"]), &[], true, false);
        f.put(None, k("1"), v(&["1", "b@x"]), &[], true, false);
        let w = f.finish();
        assert_eq!(w.rows, vec![v(&["2", "b@x"]), v(&["1", "b@x"])]);
    }

    #[test]
    fn copied_rows_are_counted_until_a_change_replaces_them() {
        let mut f = Fold::new(0);
        f.put(None, k("1"), v(&["1", "a"]), &[], true, true);
        f.put(None, k("2"), v(&["2", "b"]), &[], true, true);
        f.put(None, k("2"), v(&["2", "c"]), &[], true, false);
        assert_eq!(f.len(), 2);
        let w = f.finish();
        assert_eq!(w.copied, 1);
        assert_eq!(w.rows.len(), 2);
    }

    #[test]
    fn an_insert_that_lacks_columns_is_an_upsert_of_what_came() {
        // Written before the source added column 2: the destination's default fills it.
        let mut f = Fold::new(0);
        f.put(
            None,
            k("1"),
            vec![Some("1".into()), Some("a".into()), None],
            &[2],
            true,
            false,
        );
        // Then updated, still without it: laid over the insert, still an upsert.
        f.put(
            None,
            k("1"),
            vec![Some("1".into()), Some("b".into()), None],
            &[2],
            false,
            false,
        );
        // Deleted and inserted again in the run: the delete goes first.
        f.delete(k("2"));
        f.put(
            None,
            k("2"),
            vec![Some("2".into()), Some("c".into()), None],
            &[2],
            true,
            false,
        );
        let w = f.finish();
        assert_eq!(w.deletes, vec![k("2")]);
        assert!(w.rows.is_empty());
        assert_eq!(
            w.columns,
            vec![Columns {
                came: vec![0, 1],
                upsert: true,
                rows: vec![
                    vec![Some("1".into()), Some("b".into()), None],
                    vec![Some("2".into()), Some("c".into()), None]
                ],
            }]
        );
    }
}
