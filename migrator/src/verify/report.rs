//! What verify found: per table and for the run, with the differing rows' keys (values
//! only with `--show-values`, since data may be sensitive).

use seaway_codegen::target::Desired;
use serde::Serialize;

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
    /// Whether this run repaired (`--repair`), which the printed summary says.
    #[serde(skip)]
    pub repair: bool,
}

impl Report {
    pub fn differs(&self) -> bool {
        self.tables.iter().any(TableReport::differs)
    }

    pub fn failed(&self) -> bool {
        self.tables.iter().any(|t| t.error.is_some())
    }
}

pub(super) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A table's report before anything is known: the table could not be verified, for
/// `error`.
pub(super) fn failed(name: &str, desired: &Desired, error: &str) -> TableReport {
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

/// Keys in a stable order for reports: integers numerically, other values as text.
pub(super) fn key_order(a: &[Option<String>], b: &[Option<String>]) -> std::cmp::Ordering {
    let sort_key = |v: &Option<String>| match v.as_deref().map(|s| (s.parse::<i128>(), s)) {
        None => (0, 0, String::new()),
        Some((Ok(n), _)) => (1, n, String::new()),
        Some((Err(_), s)) => (2, 0, s.to_string()),
    };
    a.iter().map(sort_key).cmp(b.iter().map(sort_key))
}

/// Differences printed per table; the JSON report has up to `--max-listed`.
const SHOWN: usize = 20;

/// The table's line as it finishes: its consistency and counts, or why it failed.
impl std::fmt::Display for TableReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(e) = &self.error {
            return write!(f, "{}: FAILED: {e}", self.table);
        }
        write!(
            f,
            "{:<24} {:>10} rows {:>9.4}% consistent  {}",
            self.table,
            self.rows_checked,
            self.consistency,
            if self.differs() {
                format!(
                    "{} missing, {} extra, {} changed",
                    self.missing, self.extra, self.changed
                )
            } else {
                "identical".to_string()
            }
        )
    }
}

/// The run's differences (the first few of each differing table) and its summary line,
/// each line ended.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for t in self.tables.iter().filter(|t| t.differs()) {
            writeln!(f, "\n{} (source `{}`):", t.table, t.source_table)?;
            for d in t.differences.iter().take(SHOWN) {
                write_difference(f, d)?;
            }
            let total = (t.missing + t.extra + t.changed) as usize;
            if total > SHOWN {
                writeln!(f, "  ... and {} more (see --report)", total - SHOWN)?;
            }
            if self.repair {
                writeln!(
                    f,
                    "  repaired {} row(s), deleted {} extra row(s)",
                    t.repaired, t.deleted
                )?;
            }
        }
        let (missing, extra, changed) = self.tables.iter().fold((0, 0, 0), |acc, t| {
            (acc.0 + t.missing, acc.1 + t.extra, acc.2 + t.changed)
        });
        writeln!(
            f,
            "verified {} rows in {} tables of `{}` against `{}` in {:.2} s: {}",
            self.rows_checked,
            self.tables.len(),
            self.destination,
            self.source,
            self.seconds,
            if self.identical {
                "identical".to_string()
            } else {
                format!(
                    "{missing} missing, {extra} extra, {changed} changed, {} failed (consistency {:.4}%){}",
                    self.tables.iter().filter(|t| t.error.is_some()).count(),
                    self.consistency,
                    if self.repair {
                        "; repaired: run verify again to confirm"
                    } else {
                        ""
                    }
                )
            }
        )
    }
}

/// One differing row: its key and kind, the columns that differ, and with
/// `--show-values` their values.
fn write_difference(f: &mut std::fmt::Formatter<'_>, d: &Difference) -> std::fmt::Result {
    let key: Vec<String> = d
        .key
        .iter()
        .map(|k| k.clone().unwrap_or_else(|| "NULL".into()))
        .collect();
    let kind = match d.kind {
        Kind::Missing => "missing in destination",
        Kind::Extra => "extra in destination",
        Kind::Changed => "changed",
    };
    let columns = if d.columns.is_empty() {
        String::new()
    } else {
        format!(": {}", d.columns.join(", "))
    };
    if key.is_empty() {
        // A table without a key (append_only): its rows have no name.
        writeln!(f, "  a row {kind}")?;
    } else {
        writeln!(f, "  key ({}) {kind}{columns}", key.join(", "))?;
    }
    for v in d.values.iter().flatten() {
        writeln!(
            f,
            "    {}: source {}, destination {}",
            v.column,
            shown(v.source.as_deref()),
            shown(v.destination.as_deref())
        )?;
    }
    Ok(())
}

/// A value for the terminal: quoted, or NULL.
fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| format!("{v:?}"))
}
