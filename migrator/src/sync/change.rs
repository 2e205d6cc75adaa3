//! The one change model every engine's capture produces (`engine/<name>/capture.rs`)
//! and `sync` applies: a stream of [`Event`]s in the source's commit order, each source
//! transaction a `Begin`, its row changes, and a `Commit` carrying the position to
//! resume after it.
//!
//! Values are canonical text (docs/types.md), in the order of the table's plan
//! (`TablePlan::src_cols`), so a change goes through the same mappings, masks and value
//! conversions as a row that `transfer` copies.

use crate::rows::values::{Family, is_zero_date};
use seaway_codegen::config::ZeroDates;
use seaway_codegen::model::Column;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// Canonical text of one row's values (or of its key), `None` for NULL.
pub type Values = Vec<Option<String>>;

/// One row change of a source transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The table, as an index into the tables the capture was opened for.
    pub table: usize,
    pub op: Op,
    /// The row after the change (insert, update), one value per source column of the
    /// plan; `None` for a delete.
    pub row: Option<Values>,
    /// Positions in `row` whose value the source did not send: because it did not change
    /// (PostgreSQL's unchanged TOASTed values: the destination keeps what it holds
    /// there, never NULL), or because the column was added after the change was written
    /// (a resumed stream replaying older changes: an insert leaves it to the
    /// destination's default, an update keeps what the destination holds).
    pub unchanged: Vec<usize>,
    /// The key before the change, in key order (delete; an update that changed the key).
    /// `None` when the key did not change.
    pub old_key: Option<Values>,
    /// The whole row before the change (update, delete), in plan order, where the
    /// source sends it (PostgreSQL with `REPLICA IDENTITY FULL`); a sync both ways
    /// detects conflicts by it (`detect.rs`). `None` where the capture has no old image.
    pub old_row: Option<Values>,
}

/// A position in the source's change stream, as the engine writes it (PostgreSQL: the
/// LSN just past a transaction's commit record). Stored in the destination with the
/// changes it covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(pub String);

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One item of the change stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A source transaction starts; `xid` is the source's own transaction id.
    Begin {
        xid: String,
    },
    Change(Change),
    /// The transaction committed at `commit_micros` (Unix time, microseconds); the
    /// stream resumes after `position`.
    Commit {
        position: Position,
        commit_micros: i64,
        /// How finely the source's clock gave the commit time: it committed within
        /// `clock_step_micros` after `commit_micros` (1 where the source gives
        /// microseconds; MariaDB's binary log gives whole seconds).
        clock_step_micros: i64,
    },
    /// `TRUNCATE` of these selected tables (indexes, as `Change::table`) in the open
    /// transaction: the destination's tables are emptied in the batch, in its order.
    Truncate {
        tables: Vec<usize>,
    },
    /// A watermark `sync` wrote into the source's own stream (copy handover: the low or
    /// high mark of chunk `chunk`), seen where the source committed it.
    Watermark {
        mark: Mark,
        chunk: u64,
    },
    /// Nothing to apply; the source's stream has reached `position` (a heartbeat).
    Idle {
        position: Option<Position>,
    },
    /// A sync both ways: what the other stream told this one through the source's log
    /// (`receive.rs`).
    Told(Told),
}

/// What the stream that decides conflicts tells the other with each batch it applies:
/// how far the deciding side has now seen the other side's changes (the commit time of
/// the last one applied: the deciding side's changes after this point were made
/// knowing them), and the conflicts it decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Told {
    #[serde(rename = "s")]
    pub seen: i64,
    #[serde(rename = "d")]
    pub decisions: Vec<Resolved>,
    /// Sent by the side that does not decide, to the deciding one: keys whose arriving
    /// change it left alone because it had changed them too (`row`: what it holds, in
    /// the way there's column order). The deciding side decides each against what it
    /// holds and tells the outcome back: a change it judged before this side's own
    /// change reached it would otherwise go undecided.
    #[serde(rename = "r", default)]
    pub reconsider: Vec<Resolved>,
}

impl Told {
    /// A message `text` (`<stream>\n<JSON>`) as stream `me` reads it: `None` when it is
    /// another stream's; each table named as an index into `selection` (a table the
    /// stream does not carry is left out).
    pub fn addressed(text: &str, me: &str, selection: &Selection) -> Result<Option<Told>, String> {
        let Some((to, json)) = text.split_once('\n') else {
            return Ok(None);
        };
        if to != me {
            return Ok(None);
        }
        let mut told: Told = serde_json::from_str(json)
            .map_err(|e| format!("an undecodable message of the other stream: {e}"))?;
        let known = |d: &mut Resolved| match selection.index(&d.table_name) {
            Some(t) => {
                d.table = t;
                true
            }
            None => false,
        };
        told.decisions.retain_mut(known);
        told.reconsider.retain_mut(known);
        Ok(Some(told))
    }
}

/// One conflict's outcome as the deciding side sends it to the other: where the other
/// side still holds one of `expected` (its own edit, which the decision was made
/// against, or the deciding side's row then, which its stream may have carried over
/// since), it takes `row` (`None`: the key is deleted). Rows are in the selection's
/// column order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// The table, as an index into the tables the capture was opened for.
    #[serde(skip)]
    pub table: usize,
    /// The source table's name (how the message names it).
    #[serde(rename = "t")]
    pub table_name: String,
    #[serde(rename = "e")]
    pub expected: Vec<Option<Values>>,
    #[serde(rename = "r")]
    pub row: Option<Values>,
    /// Sent the other way (`Told::reconsider`): the commit time of `row` (or of its
    /// delete) where the side that sends it has one.
    #[serde(rename = "m", default)]
    pub micros: Option<i64>,
    /// The key, as a row of its values with the other columns NULL: how a decision
    /// names its key when neither side held a row (both deleted, as the deciding side
    /// saw them). The other side may hold a row by then all the same (its own insert,
    /// which the deciding side had received before it decided), and must be told.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Values>,
}

/// The two watermarks around the read of one copy chunk (DBLog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Low,
    High,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Low => "low",
            Mark::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Mark> {
        match text {
            "low" => Some(Mark::Low),
            "high" => Some(Mark::High),
            _ => None,
        }
    }
}

/// What a capture is opened for: per table (in the order `Change::table` indexes), the
/// source table, its source columns in plan order with the key's positions among them,
/// and the mapping's `where:` filter; and what becomes of MySQL zero dates.
#[derive(Debug, Clone)]
pub struct Selection {
    pub tables: Vec<SelectedTable>,
    /// `transfer.zero_dates`, applied to rows from a source that stores zero dates
    /// (MySQL/MariaDB) as transfer applies it.
    pub zero_dates: ZeroDates,
    /// Changes must carry the whole row before them (`Change::old_row`): a stream of a
    /// sync both ways, which detects conflicts by it.
    pub old_rows: bool,
    /// A stream of a sync both ways: the other stream's name, which writes into this
    /// source (a SQLite source's triggers skip what it applies and record the keys the
    /// application changed; `engine/sqlite/both.rs`).
    pub incoming: Option<String>,
    /// A sync both ways from a MySQL/MariaDB destination (this stream's source): where its local
    /// edits stand in its commit order, as its capture reads them (`edit_order.rs`).
    pub edit_order: Option<std::sync::Arc<super::edit_order::EditOrder>>,
}

#[derive(Debug, Clone)]
pub struct SelectedTable {
    pub source_table: String,
    pub columns: Vec<Column>,
    /// Positions of the key's columns in `columns`, in key order.
    pub key: Vec<usize>,
    pub filter: Option<String>,
}

impl Selection {
    /// The index of `source_table`, if selected.
    pub fn index(&self, source_table: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.source_table == source_table)
    }
}

/// MySQL zero dates (`0000-00-00`, a zero month or day) among `row`'s date and date-time
/// values, which no other engine stores: NULL (`transfer.zero_dates: null`), or why the
/// row cannot be carried (`reject`), as transfer treats them. Only for rows of a source
/// engine that stores them (`Read::holds_zero_dates`).
pub fn clear_zero_dates(
    policy: ZeroDates,
    columns: &[Column],
    row: &mut Values,
) -> Result<(), String> {
    for (col, value) in columns.iter().zip(row.iter_mut()) {
        let dated = matches!(
            Family::of(&col.ty),
            Family::Date | Family::Timestamp | Family::TimestampTz
        );
        if !dated || !value.as_deref().is_some_and(is_zero_date) {
            continue;
        }
        match policy {
            ZeroDates::Null => *value = None,
            ZeroDates::Reject => {
                return Err(format!(
                    "column `{}` holds the MySQL zero date `{}`, which the destination cannot store (transfer.zero_dates: reject); change the row at the source, or set `transfer.zero_dates: null` to carry it as NULL",
                    col.name,
                    value.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(key: Option<Values>) -> Resolved {
        Resolved {
            table: 0,
            table_name: "accounts".into(),
            expected: vec![None, None],
            row: None,
            micros: None,
            key,
        }
    }

    #[test]
    fn a_decision_with_no_row_on_either_side_still_names_its_key() {
        let told = Told {
            seen: 7,
            decisions: vec![decision(Some(vec![Some("8".into()), None]))],
            reconsider: Vec::new(),
        };
        let text = serde_json::to_string(&told).unwrap();
        let back: Told = serde_json::from_str(&text).unwrap();
        assert_eq!(back, told, "{text}");
        assert_eq!(
            back.decisions[0].key.as_deref(),
            Some(&[Some("8".to_string()), None][..])
        );
    }

    #[test]
    fn a_message_without_keys_reads_as_before() {
        // A message of an earlier build (no `k`), and one this build writes without a
        // key: the same text.
        let old = r#"{"s":1,"d":[{"t":"accounts","e":[null,null],"r":null}]}"#;
        let told: Told = serde_json::from_str(old).unwrap();
        assert_eq!(told.decisions, vec![decision(None)]);
        assert_eq!(
            serde_json::to_string(&Told {
                seen: 1,
                decisions: vec![decision(None)],
                reconsider: Vec::new(),
            })
            .unwrap(),
            r#"{"s":1,"d":[{"t":"accounts","e":[null,null],"r":null,"m":null}],"r":[]}"#
        );
    }
}
