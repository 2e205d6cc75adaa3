//! What transfer asks of verify before it writes into a populated destination
//! (compare-first): a table's comparison over transfer's own connections, ranges
//! narrowed by the databases' checksums into leaves (`bisect.rs`: equal, to be diffed,
//! held by one side only), and ranges diffed by key into the rows to send and the extra
//! destination rows. Everything is compared exactly as verify compares it (masks,
//! renamed columns, the `where:` filter, type conversions: `TablePlan` and `canon.rs`),
//! which is what transfer writes; nothing here writes.

use super::canon::{self, Rule, Side};
use super::sql_plan::SqlPlan;
use super::{Job, Options, Row, Side1, VerifyError, Work};
use crate::rows::apply_mask;
use crate::rows::plan::TablePlan;
use crate::rows::range::{self, KeyRange, Keyed};
use crate::rows::read;
use crate::rows::source::Source;
use seaway_codegen::config::{Config, Connection};
use seaway_codegen::model::{Column, Dialect, NeutralType};
use seaway_codegen::target::Desired;

pub use super::bisect::{Leaf, Narrowed, Range, split};

/// One side of a comparison: its open database, its connection (named in errors) and
/// its engine.
#[derive(Debug, Clone, Copy)]
pub struct Database<'a> {
    pub db: &'a Source,
    pub conn: &'a Connection,
    pub dialect: Dialect,
}

/// Compares ranges of tables between a source and a destination, for transfer.
pub struct Comparer<'a> {
    job: Job<'a>,
}

impl std::fmt::Debug for Comparer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Comparer")
    }
}

/// One table's comparison: its plan, how each column compares, and, when the databases
/// compute the checksums, the SQL for them and the key bounds over both sides.
pub struct Table {
    work: Work,
    bounds: Option<(i64, i64)>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("table", &self.work.plan.name)
            .field("sql", &self.work.sql.is_some())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl Table {
    /// Whether both databases compute this table's checksums (`narrow` answers).
    pub fn checksums_in_sql(&self) -> bool {
        self.work.sql.is_some()
    }

    /// The smallest and largest integer key over both sides, when the key is a single
    /// integer on both and either side holds a row.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        self.bounds
    }
}

/// A source row to write: its key as the source's canonical text (for the reject file)
/// and its values as transfer writes them (canonical text, masked).
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub key: Vec<Option<String>>,
    pub values: Vec<Option<String>>,
}

/// What diffing a range found.
#[derive(Debug, Default)]
pub struct RangeDiff {
    pub source_rows: u64,
    pub destination_rows: u64,
    /// Rows read from both sides to be compared.
    pub rows_read: u64,
    /// Source rows the destination lacks or holds with other values.
    pub send: Vec<SourceRow>,
    /// The keys of destination rows the source does not hold (the destination's
    /// canonical text, in key order).
    pub extra: Vec<Vec<Option<String>>>,
}

/// A table without a key, compared whole as a multiset of rows.
#[derive(Debug, Clone, Copy)]
pub struct Keyless {
    pub equal: bool,
    pub source_rows: u64,
    pub rows_read: u64,
}

impl<'a> Comparer<'a> {
    /// A comparer of `source` with `destination`; `by_value` is [`Comparer::by_value`]
    /// of the two (asked once per run). Only `opts`' comparison settings matter (workers,
    /// page size, bisection): it never repairs.
    pub fn new(
        config: &'a Config,
        opts: &'a Options,
        source: Database<'a>,
        destination: Database<'a>,
        by_value: bool,
    ) -> Comparer<'a> {
        let side = |d: Database<'a>| Side1 {
            db: d.db,
            conn: d.conn,
            dialect: d.dialect,
        };
        Comparer {
            job: Job {
                config,
                opts,
                source: side(source),
                destination: side(destination),
                writer: None,
                pg_by_value: by_value,
            },
        }
    }

    /// Whether both sides hash rows by value (PostgreSQL 14 or later on both).
    pub async fn by_value(source: &Source, destination: &Source) -> bool {
        matches!(
            tokio::join!(super::pg_by_value(source), super::pg_by_value(destination)),
            (true, true)
        )
    }

    /// Sets up a table's comparison: when its key is a single integer on both sides, the
    /// key bounds over both and, where both engines can, checksums in SQL.
    pub async fn table(&self, plan: TablePlan, desired: &Desired) -> Result<Table, VerifyError> {
        let job = &self.job;
        let mut work = job.work(plan, desired);
        let integer = |c: &Column| matches!(c.ty, NeutralType::Int { .. });
        let bounds = match (
            work.plan.key_cols.as_slice(),
            work.plan.dest_key_cols.as_slice(),
        ) {
            ([k], [d]) if integer(k) && integer(d) => {
                let (src_keys, dest_keys) = ([k], [d]);
                let source = Keyed {
                    db: job.source.db,
                    dialect: job.source.dialect,
                    table: &work.plan.source_table,
                    keys: &src_keys,
                    filter: work.plan.filter.as_deref(),
                };
                let destination = Keyed {
                    db: job.destination.db,
                    dialect: job.destination.dialect,
                    table: &work.plan.name,
                    keys: &dest_keys,
                    filter: None,
                };
                range::bounds(source, Some(destination))
                    .await
                    .map_err(|e| job.read_error(e.side, &e.table, &e.source))?
            }
            _ => None,
        };
        if let Some(b) = bounds {
            job.plan_sql(&mut work, b);
        }
        Ok(Table { work, bounds })
    }

    /// Narrows an integer range by the databases' checksums into leaves, in key order,
    /// with ranges one side does not hold as leaves of their own; `None` when the table's
    /// checksums are not computed in SQL (then every range is diffed).
    pub async fn narrow(&self, t: &Table, range: Range) -> Result<Option<Narrowed>, VerifyError> {
        match &t.work.sql {
            Some(sql) => Ok(Some(
                self.job.narrow(&t.work, sql, range, true, None).await?,
            )),
            None => Ok(None),
        }
    }

    /// Reads a range on both sides and diffs it by key. In a range between sampled keys
    /// a row found on one side only may sit in another range on the other side (two
    /// engines may order text keys apart): such a source row is sent all the same (the
    /// write matches it by key), and such a destination row is extra only if the source
    /// does not hold its key anywhere.
    pub async fn diff(&self, t: &Table, range: &KeyRange) -> Result<RangeDiff, VerifyError> {
        let result = self.job.compare_rows(&t.work, range).await?;
        let (missing, unmatched) = result.unmatched;
        let mut extra = result.extra_keys;
        for row in unmatched {
            if !self.source_holds(&t.work, &row).await? {
                extra.push(row.raw_key);
            }
        }
        let send = result
            .resend
            .into_iter()
            .chain(missing)
            .map(|r| SourceRow {
                key: r.raw_key,
                values: r.values,
            })
            .collect();
        Ok(RangeDiff {
            source_rows: result.source_rows,
            destination_rows: result.destination_rows,
            rows_read: result.rows_read,
            send,
            extra,
        })
    }

    /// Compares an integer range row by row by the databases' row forms (`SqlPlan`: a
    /// row's hash, or its canonical text, as the range checksums sum them up, plus the
    /// columns the client compares): each side sends a key and a row form per row, not
    /// the row, and only the source rows that differ are then read, by key. This is how
    /// a leaf of `narrow` is diffed when the table's checksums are computed in SQL
    /// (otherwise it is `diff`).
    pub async fn diff_by_rows(&self, t: &Table, range: Range) -> Result<RangeDiff, VerifyError> {
        let Some(sql) = &t.work.sql else {
            return self
                .diff(
                    t,
                    &KeyRange::Ints {
                        lo: range.0,
                        hi: range.1,
                    },
                )
                .await;
        };
        let work = &t.work;
        let (src, dst) = tokio::join!(
            self.row_forms(Side::Source, work, sql, range),
            self.row_forms(Side::Destination, work, sql, range)
        );
        let (src, dst) = (src?, dst?);
        let rows_read = (src.len() + dst.len()) as u64;
        let (source_rows, destination_rows) = (src.len() as u64, dst.len() as u64);
        let mut held: std::collections::HashMap<i64, u128> = dst.into_iter().collect();
        let mut differing = Vec::new();
        for (key, hash) in src {
            match held.remove(&key) {
                Some(h) if h == hash => {}
                _ => differing.push(key),
            }
        }
        let mut extra: Vec<i64> = held.into_keys().collect();
        extra.sort_unstable();
        if differing.is_empty() && extra.is_empty() && sql.raw.is_some() {
            // Raw sums called this range different and its rows are equal: the engines
            // print equal values apart (`narrow` gives up the raw try after a few).
            sql.raw_misses
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let send = self.source_rows(work, &differing).await?;
        Ok(RangeDiff {
            source_rows,
            destination_rows,
            rows_read,
            send,
            // An integer key's canonical text is its decimal form, on every engine.
            extra: extra
                .into_iter()
                .map(|k| vec![Some(k.to_string())])
                .collect(),
        })
    }

    /// One side's rows of `range` as (key, hash of the row form and the client columns'
    /// comparable forms), read over the text protocol without a `String` per value.
    async fn row_forms(
        &self,
        side: Side,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
    ) -> Result<Vec<(i64, u128)>, VerifyError> {
        let job = &self.job;
        let s = job.side(side);
        let plan = &work.plan;
        let (row, key) = match side {
            Side::Source => (&sql.source, &plan.key_cols[0]),
            Side::Destination => (&sql.destination, &plan.dest_key_cols[0]),
        };
        let (table, where_clause) = job.range_sql(side, work, range);
        let client: Vec<String> = sql
            .client
            .iter()
            .map(|&i| {
                let col = match side {
                    Side::Source => &plan.src_cols[i],
                    Side::Destination => &work.dest_cols[i],
                };
                format!(", {}", read::select_expr(s.dialect, col))
            })
            .collect();
        let q = format!(
            "SELECT {}, {}{} FROM {}{where_clause}",
            read::select_expr(s.dialect, key),
            row.text,
            client.concat(),
            read::quote(s.dialect, &table)
        );
        // Masks apply to the source's client columns before they are compared.
        let masks: Vec<Option<seaway_codegen::config::Mask>> = sql
            .client
            .iter()
            .map(|&i| plan.masks[i].filter(|_| side == Side::Source))
            .collect();
        let rules: Vec<Rule> = sql.client.iter().map(|&i| work.rules[i]).collect();
        let config = job.config;
        let mut out = Vec::new();
        let mut bad_key: Option<String> = None;
        let mut encoded = Vec::with_capacity(256);
        s.db.for_each_text_row(&q, &mut |values| {
            let Some(key) = values[0].and_then(|k| k.parse::<i64>().ok()) else {
                bad_key.get_or_insert_with(|| format!("{:?}", values[0]));
                return;
            };
            encoded.clear();
            canon::push_value(&mut encoded, values[1]);
            for ((v, rule), mask) in values[2..].iter().zip(&rules).zip(&masks) {
                let masked = mask.map(|m| {
                    let mut owned = v.map(str::to_string);
                    apply_mask(&mut owned, Some(m), config);
                    owned
                });
                let v = match &masked {
                    Some(m) => m.as_deref(),
                    None => *v,
                };
                let c = v.map(|v| rule.encode(side, v));
                canon::push_value(&mut encoded, c.as_deref());
            }
            out.push((key, canon::hash(&encoded)));
        })
        .await
        .map_err(|e| job.read_error(side, &table, &e))?;
        match bad_key {
            Some(text) => Err(VerifyError::Hashing {
                table,
                reason: format!("the {side:?} key is not an integer: {text}"),
            }),
            None => Ok(out),
        }
    }

    /// The source rows of integer `keys` (under the filter), read as transfer reads
    /// them: masked canonical text, with the key as the source prints it.
    async fn source_rows(&self, work: &Work, keys: &[i64]) -> Result<Vec<SourceRow>, VerifyError> {
        let job = &self.job;
        let s = &job.source;
        let plan = &work.plan;
        let key = &plan.key_cols[0];
        let mut select: Vec<String> = plan
            .src_cols
            .iter()
            .map(|c| read::select_expr(s.dialect, c))
            .collect();
        select.push(read::select_expr(s.dialect, key));
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(1_000) {
            let list: Vec<String> = batch.iter().map(i64::to_string).collect();
            let mut conditions = vec![format!(
                "{} IN ({})",
                read::quote(s.dialect, &key.name),
                list.join(", ")
            )];
            conditions.extend(plan.filter.as_ref().map(|f| format!("({f})")));
            let q = format!(
                "SELECT {} FROM {}{}",
                select.join(", "),
                read::quote(s.dialect, &plan.source_table),
                read::where_clause(&conditions)
            );
            let rows =
                s.db.rows(&q, &[])
                    .await
                    .map_err(|e| job.read_error(Side::Source, &plan.source_table, &e))?;
            for mut values in rows {
                let key = values.split_off(plan.src_cols.len());
                for (v, mask) in values.iter_mut().zip(&plan.masks) {
                    apply_mask(v, *mask, job.config);
                }
                out.push(SourceRow { key, values });
            }
        }
        Ok(out)
    }

    /// Compares a table without a key as two multisets of rows.
    pub async fn keyless(&self, t: &Table) -> Result<Keyless, VerifyError> {
        let result = self.job.keyless(&t.work).await?;
        Ok(Keyless {
            equal: !result.differing,
            source_rows: result.source_rows,
            rows_read: result.rows_read,
        })
    }

    /// Whether the source holds (under the mapping's filter) the key of `row`, a
    /// destination row: its canonical key text bound as the source's key.
    async fn source_holds(&self, work: &Work, row: &Row) -> Result<bool, VerifyError> {
        let s = &self.job.source;
        let plan = &work.plan;
        let mut conditions: Vec<String> = plan
            .key_cols
            .iter()
            .enumerate()
            .map(|(i, k)| {
                format!(
                    "{} = {}",
                    read::quote(s.dialect, &k.name),
                    read::key_param(s.dialect, i + 1, k)
                )
            })
            .collect();
        conditions.extend(plan.filter.as_ref().map(|f| format!("({f})")));
        let sql = format!(
            "SELECT 1 FROM {}{} LIMIT 1",
            read::quote(s.dialect, &plan.source_table),
            read::where_clause(&conditions)
        );
        let params: Vec<String> = row
            .raw_key
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect();
        let found =
            s.db.rows(&sql, &params)
                .await
                .map_err(|e| self.job.read_error(Side::Source, &plan.source_table, &e))?;
        Ok(!found.is_empty())
    }
}
