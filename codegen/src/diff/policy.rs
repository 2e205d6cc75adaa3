//! What seaway emits and what it only reports: additive changes pass; drops, narrowings,
//! type changes and tightenings become diagnostics with stable codes. Dialect limits are
//! applied here too (SQLite cannot alter a column or add a foreign key to an existing
//! table), so the emitted list is exactly what the destination can run.

use super::Change;
use crate::model::Dialect;
use crate::target::Diagnostic;
use std::collections::BTreeSet;

/// Stable codes of reported (never emitted) changes. Documented in docs/diff.md.
pub mod codes {
    pub const EXTRA_TABLE: &str = "D101";
    pub const EXTRA_COLUMN: &str = "D102";
    pub const EXTRA_INDEX: &str = "D103";
    pub const EXTRA_FOREIGN_KEY: &str = "D104";
    pub const NARROWING: &str = "D201";
    pub const INCOMPATIBLE: &str = "D202";
    pub const TIGHTEN_NOT_NULL: &str = "D203";
    pub const ADDED_NULLABLE: &str = "D204";
    pub const PRIMARY_KEY: &str = "D205";
    pub const SQLITE_ALTER: &str = "D206";
    pub const SQLITE_FOREIGN_KEY: &str = "D207";
    pub const PARTITIONING: &str = "D208";
}

/// The changes to emit, and what was left out and why.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub emit: Vec<Change>,
    pub reported: Vec<Diagnostic>,
}

/// Splits `changes` for a destination of `dialect`. `populated` names destination tables
/// that hold rows (a NOT NULL column without a default cannot be added to those).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "every change not reported above is additive and emitted"
)]
pub fn decide(changes: Vec<Change>, dialect: Dialect, populated: &BTreeSet<String>) -> Decision {
    let mut d = Decision::default();
    let (traits, engine) = (crate::engine::traits(dialect), crate::engine::name(dialect));
    let mut report = |code: &'static str, subject: String, message: String| {
        d.reported.push(Diagnostic {
            code,
            subject,
            message,
        })
    };
    let mut emit = Vec::new();
    for change in changes {
        match change {
            Change::DropTable { name } => report(
                codes::EXTRA_TABLE,
                name,
                "table exists only in the destination; left untouched".into(),
            ),
            Change::DropColumn { table, column } => report(
                codes::EXTRA_COLUMN,
                format!("{table}.{column}"),
                "column exists only in the destination; left untouched".into(),
            ),
            Change::DropIndex { table, name } => report(
                codes::EXTRA_INDEX,
                format!("{table}.{name}"),
                "index exists only in the destination; left untouched".into(),
            ),
            Change::DropForeignKey { table, name } => report(
                codes::EXTRA_FOREIGN_KEY,
                format!("{table}.{name}"),
                "foreign key exists only in the destination; left untouched".into(),
            ),
            Change::NarrowColumn {
                table,
                column,
                from,
                to,
            } => report(
                codes::NARROWING,
                format!("{table}.{column}"),
                format!("would narrow {from} to {to}; skipped"),
            ),
            Change::ChangeType {
                table,
                column,
                from,
                to,
            } => report(
                codes::INCOMPATIBLE,
                format!("{table}.{column}"),
                format!("type change {from} -> {to} is not a widening; refused"),
            ),
            Change::TightenNotNull { table, column } => report(
                codes::TIGHTEN_NOT_NULL,
                format!("{table}.{column}"),
                "source is NOT NULL, destination accepts NULL; left as is".into(),
            ),
            Change::ChangePartitioning { table } => report(
                codes::PARTITIONING,
                table,
                "the source's table is partitioned and the destination's is not (a table cannot become partitioned in place); left as is".into(),
            ),
            Change::ChangePrimaryKey { table, from, to } => report(
                codes::PRIMARY_KEY,
                table,
                format!(
                    "primary key ({}) differs from the source's ({}); left as is",
                    from.join(", "),
                    to.join(", ")
                ),
            ),
            Change::WidenColumn {
                table,
                column,
                from,
            } if !traits.alters_columns => report(
                codes::SQLITE_ALTER,
                format!("{table}.{}", column.name),
                format!(
                    "{engine} cannot change a column's type ({from} -> {}); skipped ({engine} does not enforce lengths)",
                    column.ty
                ),
            ),
            Change::RelaxNotNull { table, column } if !traits.alters_columns => report(
                codes::SQLITE_ALTER,
                format!("{table}.{}", column.name),
                format!("{engine} cannot drop NOT NULL from an existing column; skipped"),
            ),
            Change::AddForeignKey { table, foreign_key } if !traits.adds_foreign_keys => report(
                codes::SQLITE_FOREIGN_KEY,
                format!("{table}.{}", foreign_key.name),
                format!(
                    "{engine} cannot add a foreign key to an existing table (it needs a rebuild); skipped"
                ),
            ),
            Change::AddColumn { table, mut column }
                if !column.nullable
                    && column.default.is_none()
                    && column.generated.is_none()
                    && (populated.contains(&table) || !traits.alters_columns) =>
            {
                let why = if traits.alters_columns {
                    "the table has rows".to_string()
                } else {
                    format!("{engine} cannot add one to an existing table")
                };
                report(
                    codes::ADDED_NULLABLE,
                    format!("{table}.{}", column.name),
                    format!("NOT NULL without a default, and {why}: added as NULL-able"),
                );
                column.nullable = true;
                emit.push(Change::AddColumn { table, column });
            }
            other => emit.push(other),
        }
    }
    d.emit = emit;
    d.reported.sort();
    d
}
