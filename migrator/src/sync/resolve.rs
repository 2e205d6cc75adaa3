//! Conflict resolution for a sync both ways (`sync.direction: both`): when the same key
//! was changed on both sides before either saw the other's change, one rule decides
//! which end state both sides keep.
//!
//! Pure: no I/O, no clock. The decision is a function of the two edits *labelled by
//! side* (source, destination), never of which side computes it ("local" and
//! "incoming" are not inputs), so the stream applying source changes to the destination
//! and the stream applying destination changes to the source reach the same end state
//! for the key. Ties are broken by a fixed side order ([`TIE_WINNER`]) for the same
//! reason.
//!
//! The rules (docs/config.md, `sync.tables`):
//! - a delete against an upsert: `priority`, where set, decides first; else `delete_wins`
//!   (default true) keeps the delete, and `delete_wins: false` keeps the row;
//! - two deletes: the key is gone on both sides, whatever the rules;
//! - two upserts: per column, the column's rule (`columns: { email: source }`), else the
//!   `"*"` rule, else the table's (`priority: source|destination`, or `last_write_wins`);
//!   `last_write_wins` takes the edit with the later version: the `version_column`'s
//!   value when the table has one, else the commit time.

use super::change::Values;
use serde::Serialize;
use std::cmp::Ordering;

/// One side of a sync both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Destination,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Destination,
            Side::Destination => Side::Source,
        }
    }
}

/// Which side wins when `last_write_wins` finds both versions equal: fixed, so that both
/// sides, each computing the decision, pick the same one.
pub const TIE_WINNER: Side = Side::Source;

/// How a column (or a whole table) is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    LastWriteWins,
    /// That side always wins.
    Side(Side),
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::LastWriteWins => "last_write_wins",
            Rule::Side(Side::Source) => "priority_source",
            Rule::Side(Side::Destination) => "priority_destination",
        }
    }
}

/// A table's conflict settings, columns by position in the row images the resolver is
/// given (the source's columns in plan order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `priority:` when set, else `last_write_wins`.
    pub table: Rule,
    /// `columns:`, by position: the column's own rule.
    pub columns: Vec<(usize, Rule)>,
    /// `columns: { "*": ... }`: the rule of columns not named; the table's when absent.
    pub rest: Option<Rule>,
    /// `delete_wins` (default true).
    pub delete_wins: bool,
    /// `version_column`, by position, with how its values order.
    pub version: Option<(usize, VersionOrder)>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            table: Rule::LastWriteWins,
            columns: Vec::new(),
            rest: None,
            delete_wins: true,
            version: None,
        }
    }
}

/// How a `version_column`'s values (canonical text, `rows::values::comparable`) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOrder {
    /// Integers and decimals, by value.
    Number,
    /// Dates and timestamps (their canonical text orders as they do), and text.
    Text,
}

/// What one side did to the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The row's whole image after the change (insert or update).
    Upsert(Values),
    Delete,
}

/// One side's change of the key since the last change the two sides exchanged for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub op: Op,
    /// The commit time at that side's server (Unix microseconds; whole seconds from a
    /// MariaDB binlog, scaled), used by `last_write_wins` without a `version_column`.
    pub commit_micros: i64,
}

/// Who the end state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Winner {
    Source,
    Destination,
    /// Some columns from each side (column rules).
    Merged,
}

impl Winner {
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::Source => "source",
            Winner::Destination => "destination",
            Winner::Merged => "merged",
        }
    }

    fn of(side: Side) -> Winner {
        match side {
            Side::Source => Winner::Source,
            Side::Destination => Winner::Destination,
        }
    }
}

/// Which rule made the decision (the conflict log's `rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    /// `last_write_wins` by the versions (or commit times).
    LastWriteWins,
    /// `last_write_wins` with equal versions: [`TIE_WINNER`].
    Tie,
    Priority,
    DeleteWins,
    /// `delete_wins: false`: the row is kept.
    UpdateWins,
    BothDeleted,
    /// Column rules: some columns decided one way, some another.
    Columns,
}

impl Decided {
    pub fn as_str(self) -> &'static str {
        match self {
            Decided::LastWriteWins => "last_write_wins",
            Decided::Tie => "last_write_wins_tie",
            Decided::Priority => "priority",
            Decided::DeleteWins => "delete_wins",
            Decided::UpdateWins => "update_wins",
            Decided::BothDeleted => "both_deleted",
            Decided::Columns => "columns",
        }
    }
}

/// The end state both sides keep for the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The row both sides hold afterwards; `None`: the key is deleted on both.
    pub row: Option<Values>,
    pub winner: Winner,
    pub decided: Decided,
}

/// Decides a conflict: `source` and `destination` are what each side did to the key.
pub fn resolve(rules: &Rules, source: &Edit, destination: &Edit) -> Resolution {
    match (&source.op, &destination.op) {
        (Op::Delete, Op::Delete) => Resolution {
            row: None,
            winner: Winner::of(TIE_WINNER),
            decided: Decided::BothDeleted,
        },
        (Op::Delete, Op::Upsert(row)) => delete_against_upsert(rules, Side::Source, row),
        (Op::Upsert(row), Op::Delete) => delete_against_upsert(rules, Side::Destination, row),
        (Op::Upsert(s), Op::Upsert(d)) => upserts(rules, source, s, destination, d),
    }
}

/// The same decision, asked by the side that holds `local` and received `incoming`:
/// the labels are put back in side order first, so either side gets the same answer.
pub fn resolve_at(rules: &Rules, receiver: Side, local: &Edit, incoming: &Edit) -> Resolution {
    match receiver {
        Side::Source => resolve(rules, local, incoming),
        Side::Destination => resolve(rules, incoming, local),
    }
}

fn delete_against_upsert(rules: &Rules, deleter: Side, row: &Values) -> Resolution {
    let keep_row = || Resolution {
        row: Some(row.clone()),
        winner: Winner::of(deleter.other()),
        decided: Decided::UpdateWins,
    };
    let delete = |decided| Resolution {
        row: None,
        winner: Winner::of(deleter),
        decided,
    };
    match rules.table {
        Rule::Side(side) if side == deleter => delete(Decided::Priority),
        Rule::Side(_) => Resolution {
            decided: Decided::Priority,
            ..keep_row()
        },
        Rule::LastWriteWins if rules.delete_wins => delete(Decided::DeleteWins),
        Rule::LastWriteWins => keep_row(),
    }
}

/// Which side's edit is the later by `last_write_wins`, and whether it was a tie.
fn later(rules: &Rules, source: &Edit, s: &Values, destination: &Edit, d: &Values) -> (Side, bool) {
    let order = match rules.version {
        Some((at, how)) => compare_versions(
            s.get(at).and_then(|v| v.as_deref()),
            d.get(at).and_then(|v| v.as_deref()),
            how,
        ),
        None => source.commit_micros.cmp(&destination.commit_micros),
    };
    match order {
        Ordering::Greater => (Side::Source, false),
        Ordering::Less => (Side::Destination, false),
        Ordering::Equal => (TIE_WINNER, true),
    }
}

fn upserts(rules: &Rules, source: &Edit, s: &Values, destination: &Edit, d: &Values) -> Resolution {
    let (newer, tie) = later(rules, source, s, destination, d);
    let side_of = |rule: Rule| match rule {
        Rule::Side(side) => side,
        Rule::LastWriteWins => newer,
    };
    if rules.columns.is_empty() && rules.rest.is_none() {
        let side = side_of(rules.table);
        return Resolution {
            row: Some(match side {
                Side::Source => s.clone(),
                Side::Destination => d.clone(),
            }),
            winner: Winner::of(side),
            decided: match rules.table {
                Rule::Side(_) => Decided::Priority,
                Rule::LastWriteWins if tie => Decided::Tie,
                Rule::LastWriteWins => Decided::LastWriteWins,
            },
        };
    }
    let rest = rules.rest.unwrap_or(rules.table);
    let mut from_source = 0usize;
    let mut from_destination = 0usize;
    let row: Values = s
        .iter()
        .zip(d)
        .enumerate()
        .map(|(i, (sv, dv))| {
            let rule = rules
                .columns
                .iter()
                .find(|(at, _)| *at == i)
                .map_or(rest, |(_, r)| *r);
            if sv == dv {
                return sv.clone();
            }
            match side_of(rule) {
                Side::Source => {
                    from_source += 1;
                    sv.clone()
                }
                Side::Destination => {
                    from_destination += 1;
                    dv.clone()
                }
            }
        })
        .collect();
    let (winner, decided) = match (from_source, from_destination) {
        (0, 0) => (
            Winner::of(newer),
            if tie { Decided::Tie } else { Decided::Columns },
        ),
        (_, 0) => (Winner::Source, Decided::Columns),
        (0, _) => (Winner::Destination, Decided::Columns),
        (_, _) => (Winner::Merged, Decided::Columns),
    };
    Resolution {
        row: Some(row),
        winner,
        decided,
    }
}

/// Orders two versions; NULL is older than any value.
fn compare_versions(a: Option<&str>, b: Option<&str>, how: VersionOrder) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match how {
            VersionOrder::Number => compare_numbers(a, b),
            VersionOrder::Text => a.cmp(b),
        },
    }
}

/// Two plain decimals (`-12.5`, `3`) by value, exactly: integers of any length, then
/// the fractions digit by digit.
fn compare_numbers(a: &str, b: &str) -> Ordering {
    let (an, a) = a.strip_prefix('-').map_or((false, a), |r| (true, r));
    let (bn, b) = b.strip_prefix('-').map_or((false, b), |r| (true, r));
    let zero = |s: &str| s.chars().all(|c| c == '0' || c == '.');
    let (an, bn) = (an && !zero(a), bn && !zero(b));
    match (an, bn) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude(a, b),
        (true, true) => magnitude(b, a),
    }
}

fn magnitude(a: &str, b: &str) -> Ordering {
    let (ai, af) = a.split_once('.').unwrap_or((a, ""));
    let (bi, bf) = b.split_once('.').unwrap_or((b, ""));
    let (ai, bi) = (ai.trim_start_matches('0'), bi.trim_start_matches('0'));
    ai.len()
        .cmp(&bi.len())
        .then_with(|| ai.cmp(bi))
        .then_with(|| af.trim_end_matches('0').cmp(bf.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Values {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    fn up(values: &[&str], at: i64) -> Edit {
        Edit {
            op: Op::Upsert(row(values)),
            commit_micros: at,
        }
    }

    fn del(at: i64) -> Edit {
        Edit {
            op: Op::Delete,
            commit_micros: at,
        }
    }

    /// Resolves both ways round (as each side would) and checks they agree.
    fn both(rules: &Rules, source: &Edit, destination: &Edit) -> Resolution {
        let at_destination = resolve_at(rules, Side::Destination, destination, source);
        let at_source = resolve_at(rules, Side::Source, source, destination);
        assert_eq!(at_destination, at_source, "the two sides decide alike");
        at_source
    }

    #[test]
    fn last_write_wins_by_commit_time() {
        let rules = Rules::default();
        let r = both(&rules, &up(&["1", "a"], 10), &up(&["1", "b"], 20));
        assert_eq!(r.row, Some(row(&["1", "b"])));
        assert_eq!(
            (r.winner, r.decided),
            (Winner::Destination, Decided::LastWriteWins)
        );
        let r = both(&rules, &up(&["1", "a"], 30), &up(&["1", "b"], 20));
        assert_eq!(r.row, Some(row(&["1", "a"])));
        assert_eq!(r.winner, Winner::Source);
    }

    #[test]
    fn last_write_wins_tie_goes_to_the_fixed_side() {
        let rules = Rules::default();
        let r = both(&rules, &up(&["1", "a"], 10), &up(&["1", "b"], 10));
        assert_eq!(r.row, Some(row(&["1", "a"])));
        assert_eq!(
            (r.winner, r.decided),
            (Winner::of(TIE_WINNER), Decided::Tie)
        );
    }

    #[test]
    fn last_write_wins_by_version_column_over_commit_time() {
        let rules = Rules {
            version: Some((2, VersionOrder::Text)),
            ..Rules::default()
        };
        // The destination committed later, but the source's row carries the later
        // `updated_at`.
        let r = both(
            &rules,
            &up(&["1", "a", "2026-01-01 10:00:00.5"], 10),
            &up(&["1", "b", "2026-01-01 10:00:00.25"], 99),
        );
        assert_eq!(r.winner, Winner::Source);
        // A NULL version is older than any.
        let mut nulled = row(&["1", "a", ""]);
        nulled[2] = None;
        let r = both(
            &rules,
            &Edit {
                op: Op::Upsert(nulled),
                commit_micros: 50,
            },
            &up(&["1", "b", "2000-01-01 00:00:00"], 1),
        );
        assert_eq!(r.winner, Winner::Destination);
    }

    #[test]
    fn numeric_versions_order_by_value_not_text() {
        let rules = Rules {
            version: Some((1, VersionOrder::Number)),
            ..Rules::default()
        };
        let r = both(&rules, &up(&["a", "9"], 0), &up(&["b", "10"], 0));
        assert_eq!(r.winner, Winner::Destination);
        let r = both(&rules, &up(&["a", "-2"], 0), &up(&["b", "-10"], 0));
        assert_eq!(r.winner, Winner::Source);
        let r = both(&rules, &up(&["a", "1.25"], 0), &up(&["b", "1.3"], 0));
        assert_eq!(r.winner, Winner::Destination);
        let r = both(&rules, &up(&["a", "7"], 0), &up(&["b", "7.0"], 0));
        assert_eq!(
            (r.winner, r.decided),
            (Winner::of(TIE_WINNER), Decided::Tie)
        );
        assert_eq!(compare_numbers("-0", "0"), Ordering::Equal);
        assert_eq!(
            compare_numbers("123456789012345678901234567890", "99"),
            Ordering::Greater
        );
    }

    #[test]
    fn priority_wins_whatever_the_times() {
        for side in [Side::Source, Side::Destination] {
            let rules = Rules {
                table: Rule::Side(side),
                ..Rules::default()
            };
            for (ts, td) in [(1, 2), (2, 1), (5, 5)] {
                let r = both(&rules, &up(&["1", "s"], ts), &up(&["1", "d"], td));
                assert_eq!((r.winner, r.decided), (Winner::of(side), Decided::Priority));
                let expect = match side {
                    Side::Source => "s",
                    Side::Destination => "d",
                };
                assert_eq!(r.row, Some(row(&["1", expect])));
            }
        }
    }

    #[test]
    fn delete_wins_by_default_either_side() {
        let rules = Rules::default();
        let r = both(&rules, &del(1), &up(&["1", "d"], 99));
        assert_eq!(
            (r.row.clone(), r.winner, r.decided),
            (None, Winner::Source, Decided::DeleteWins)
        );
        let r = both(&rules, &up(&["1", "s"], 99), &del(1));
        assert_eq!(
            (r.row.clone(), r.winner, r.decided),
            (None, Winner::Destination, Decided::DeleteWins)
        );
    }

    #[test]
    fn delete_wins_false_keeps_the_row() {
        let rules = Rules {
            delete_wins: false,
            ..Rules::default()
        };
        let r = both(&rules, &del(99), &up(&["1", "d"], 1));
        assert_eq!(r.row, Some(row(&["1", "d"])));
        assert_eq!(
            (r.winner, r.decided),
            (Winner::Destination, Decided::UpdateWins)
        );
    }

    #[test]
    fn priority_decides_before_delete_wins() {
        // The destination has priority: its update beats the source's delete, though
        // delete_wins is true.
        let rules = Rules {
            table: Rule::Side(Side::Destination),
            ..Rules::default()
        };
        let r = both(&rules, &del(5), &up(&["1", "d"], 1));
        assert_eq!(r.row, Some(row(&["1", "d"])));
        assert_eq!(
            (r.winner, r.decided),
            (Winner::Destination, Decided::Priority)
        );
        // And its delete beats the source's update, though delete_wins is false.
        let rules = Rules {
            delete_wins: false,
            ..rules
        };
        let r = both(&rules, &up(&["1", "s"], 9), &del(1));
        assert_eq!((r.row.clone(), r.decided), (None, Decided::Priority));
    }

    #[test]
    fn two_deletes_delete() {
        for rules in [
            Rules::default(),
            Rules {
                table: Rule::Side(Side::Destination),
                delete_wins: false,
                ..Rules::default()
            },
        ] {
            let r = both(&rules, &del(1), &del(2));
            assert_eq!((r.row.clone(), r.decided), (None, Decided::BothDeleted));
        }
    }

    #[test]
    fn column_rules_merge_the_row() {
        // columns: { email: source, last_login: destination, "*": last_write_wins }
        // over (id, email, last_login, name); the destination wrote later.
        let rules = Rules {
            columns: vec![
                (1, Rule::Side(Side::Source)),
                (2, Rule::Side(Side::Destination)),
            ],
            rest: Some(Rule::LastWriteWins),
            ..Rules::default()
        };
        let s = up(&["1", "s@x", "2026-01-01", "Sam"], 10);
        let d = up(&["1", "d@x", "2026-02-02", "Dee"], 20);
        let r = both(&rules, &s, &d);
        assert_eq!(r.row, Some(row(&["1", "s@x", "2026-02-02", "Dee"])));
        assert_eq!((r.winner, r.decided), (Winner::Merged, Decided::Columns));
        // The source wrote later: `name` follows it, the named columns do not move.
        let s = up(&["1", "s@x", "2026-01-01", "Sam"], 30);
        let r = both(&rules, &s, &d);
        assert_eq!(r.row, Some(row(&["1", "s@x", "2026-02-02", "Sam"])));
        // Where the sides differ only in columns decided one way, that side wins.
        let s = up(&["1", "s@x", "2026-02-02", "Dee"], 1);
        let r = both(&rules, &s, &d);
        assert_eq!(r.row, Some(row(&["1", "s@x", "2026-02-02", "Dee"])));
        assert_eq!(r.winner, Winner::Source);
    }

    #[test]
    fn column_rules_without_star_fall_back_to_the_table_rule() {
        // priority: destination, columns: { email: source }
        let rules = Rules {
            table: Rule::Side(Side::Destination),
            columns: vec![(1, Rule::Side(Side::Source))],
            ..Rules::default()
        };
        let r = both(
            &rules,
            &up(&["1", "s@x", "Sam"], 99),
            &up(&["1", "d@x", "Dee"], 1),
        );
        assert_eq!(r.row, Some(row(&["1", "s@x", "Dee"])));
        assert_eq!(r.winner, Winner::Merged);
    }

    #[test]
    fn column_rules_do_not_apply_to_a_delete() {
        let rules = Rules {
            columns: vec![(1, Rule::Side(Side::Destination))],
            ..Rules::default()
        };
        let r = both(&rules, &up(&["1", "s"], 1), &del(2));
        assert_eq!((r.row.clone(), r.decided), (None, Decided::DeleteWins));
    }
}
