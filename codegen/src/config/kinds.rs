//! The closed sets of values a config key takes (`mask`, `transfer.mode`,
//! `transfer.zero_dates`, `server.tokens[].role`), shared by the file as written
//! (`raw.rs`) and as validated.

use serde::Deserialize;

/// How a column's values are disguised on the way to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mask {
    /// A stable keyed hash: equal inputs stay equal, so joins still work.
    Hash,
    /// A fixed placeholder.
    Redact,
    /// NULL.
    Null,
}

/// `transfer.mode`: copy everything (upserting) or only rows past each table's watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    #[default]
    Full,
    Incremental,
}

/// `transfer.zero_dates`: what becomes of MySQL's zero dates (`0000-00-00`, or a zero
/// month or day), which no other engine can store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDates {
    /// NULL in the destination, counted in the summary and the report.
    #[default]
    Null,
    /// The row goes to the reject file with the column named.
    Reject,
}

/// What a `migrator serve` token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads jobs, their progress and the audit log.
    Viewer,
    /// Also starts, retries and cancels jobs and uses `/migrate` and `/test-connection`.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}
