//! The full difference between a desired schema and an actual one, in both directions.
//!
//! [`diff`] reports everything, drops and narrowings included; [`policy`] then keeps the
//! additive changes and turns the rest into coded diagnostics (atlas's
//! `DiffSkipChanges`). Keeping the two apart means the rule "seaway never destroys data"
//! lives in one small module, and the full diff stays available for reports.
//!
//! Objects are matched by what they are, not by name, wherever names are not portable:
//! indexes by (columns, uniqueness), foreign keys by (columns, referenced table,
//! referenced columns). SQLite foreign keys have no names and each engine names implicit
//! objects its own way.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub mod left_out;
pub mod policy;
mod widen;

pub use widen::is_widening;

use crate::model::{
    Column, Dialect, Domain, ForeignKey, Index, IndexPart, NeutralType, Partition, Schema, Table,
    UniqueConstraint, View,
};
use std::collections::{BTreeMap, BTreeSet};

/// Name of the ledger table `migrator apply` keeps in a destination; never part of a diff.
pub const LEDGER_TABLE: &str = "seaway_migrations";
/// `migrator sync`'s position table in the destination: seaway's own, like the ledger.
pub const SYNC_TABLE: &str = "seaway_sync";
/// The fencing table `migrator worker` keeps in a destination (the largest lease token
/// that has written each chunk): seaway's own, like the ledger.
pub const FENCE_TABLE: &str = "seaway_fence";
/// The prefix of `migrator sync`'s change tables in a SQLite source (filled by its
/// triggers).
pub const CHANGE_TABLE_PREFIX: &str = "seaway_changes_";
/// The prefix of `migrator sync`'s watermark tables in a MySQL/MariaDB source (its row
/// changes carry the initial copy's watermarks through the binary log).
pub const WATERMARK_TABLE_PREFIX: &str = "seaway_watermarks_";
/// A sync both ways' conflict log, in each side (one row per conflict a stream decided).
pub const CONFLICT_TABLE: &str = "seaway_sync_conflicts";
/// The prefix of a sync both ways' version tables, one per stream in the side it writes
/// (the version of rows whose version is not their writer's commit time).
pub const VERSION_TABLE_PREFIX: &str = "seaway_versions_";

/// Whether a table is seaway's own bookkeeping (the ledger, the sync position, the
/// workers' fence, a sync's change or watermark table, a sync both ways' conflict log
/// and version tables), never part of a schema it reads,
/// compares or copies.
pub fn is_own_table(name: &str) -> bool {
    name == LEDGER_TABLE
        || name == SYNC_TABLE
        || name == FENCE_TABLE
        || name == CONFLICT_TABLE
        || name.starts_with(CHANGE_TABLE_PREFIX)
        || name.starts_with(WATERMARK_TABLE_PREFIX)
        || name.starts_with(VERSION_TABLE_PREFIX)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// PostgreSQL enum type to create before the tables that use it.
    CreateEnum {
        name: String,
        labels: Vec<String>,
    },
    /// PostgreSQL enum type missing some labels.
    AddEnumLabels {
        name: String,
        labels: Vec<String>,
    },
    /// PostgreSQL domain to create before the tables that use it.
    CreateDomain {
        name: String,
        domain: Domain,
    },
    /// A table, with its partitions when it is partitioned.
    AddTable {
        name: String,
        table: Table,
    },
    /// A partition the destination's partitioned table lacks.
    AddPartition {
        table: String,
        partition: Partition,
    },
    /// A view (or materialized view), after the tables and views it reads.
    CreateView {
        name: String,
        view: View,
    },
    AddColumn {
        table: String,
        column: Column,
    },
    /// The column's type must become wider (`from` is the actual type).
    WidenColumn {
        table: String,
        column: Column,
        from: NeutralType,
    },
    /// The desired column accepts NULL and the actual does not.
    RelaxNotNull {
        table: String,
        column: Column,
    },
    AddUnique {
        table: String,
        unique: UniqueConstraint,
    },
    AddIndex {
        table: String,
        index: Index,
    },
    AddForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },

    // Never emitted; reported by `policy`.
    DropTable {
        name: String,
    },
    DropColumn {
        table: String,
        column: String,
    },
    DropIndex {
        table: String,
        name: String,
    },
    DropForeignKey {
        table: String,
        name: String,
    },
    /// The desired type is narrower than the actual.
    NarrowColumn {
        table: String,
        column: String,
        from: NeutralType,
        to: NeutralType,
    },
    /// Neither type contains the other.
    ChangeType {
        table: String,
        column: String,
        from: NeutralType,
        to: NeutralType,
    },
    /// The desired column is NOT NULL and the actual accepts NULL.
    TightenNotNull {
        table: String,
        column: String,
    },
    /// The primary keys differ.
    ChangePrimaryKey {
        table: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// The source's table is partitioned and the destination's is not.
    ChangePartitioning {
        table: String,
    },
}

/// Computes every difference that turns `actual` into `desired`.
///
/// `actual_dialect` lets the diff ignore objects the engine creates by itself (MySQL
/// adds an index for every foreign key that has none).
pub fn diff(desired: &Schema, actual: &Schema) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, labels) in &desired.enums {
        if crate::engine::traits(desired.dialect).enums != crate::engine::EnumStyle::Named {
            break; // inline enums change with their column
        }
        match actual.enums.get(name) {
            None => out.push(Change::CreateEnum {
                name: name.clone(),
                labels: labels.clone(),
            }),
            Some(have) => {
                let missing: Vec<String> = labels
                    .iter()
                    .filter(|l| !have.contains(l))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    out.push(Change::AddEnumLabels {
                        name: name.clone(),
                        labels: missing,
                    });
                }
            }
        }
    }
    for (name, domain) in &desired.domains {
        if !actual.domains.contains_key(name) {
            out.push(Change::CreateDomain {
                name: name.clone(),
                domain: domain.clone(),
            });
        }
    }
    for (name, want) in &desired.tables {
        match actual.tables.get(name) {
            None => out.push(Change::AddTable {
                name: name.clone(),
                table: want.clone(),
            }),
            Some(have) => table(name, want, have, actual.dialect, &mut out),
        }
    }
    for name in actual.tables.keys() {
        if !desired.tables.contains_key(name) && !is_own_table(name) {
            out.push(Change::DropTable { name: name.clone() });
        }
    }
    for name in view_order(&desired.views) {
        if !actual.views.contains_key(name) && !actual.tables.contains_key(name) {
            out.push(Change::CreateView {
                name: name.to_string(),
                view: desired.views[name].clone(),
            });
        }
    }
    out
}

/// View names so that each comes after the views it reads (ties in name order).
fn view_order(views: &BTreeMap<String, View>) -> Vec<&str> {
    let mut done: Vec<&str> = Vec::with_capacity(views.len());
    while done.len() < views.len() {
        let before = done.len();
        for (name, view) in views {
            let ready = view
                .depends_on
                .iter()
                .all(|d| !views.contains_key(d) || done.contains(&d.as_str()));
            if ready && !done.contains(&name.as_str()) {
                done.push(name);
            }
        }
        if done.len() == before {
            // A cycle cannot come from a catalog; never loop on a hand-edited model.
            done.extend(
                views
                    .keys()
                    .map(String::as_str)
                    .filter(|n| !done.contains(n))
                    .collect::<Vec<_>>(),
            );
        }
    }
    done
}

fn table(name: &str, want: &Table, have: &Table, dialect: Dialect, out: &mut Vec<Change>) {
    let t = || name.to_string();
    if want.partitioned_by.is_some() {
        if have.partitioned_by.is_none() {
            out.push(Change::ChangePartitioning { table: t() });
        } else {
            for p in &want.partitions {
                if !have.partitions.iter().any(|h| h.name == p.name) {
                    out.push(Change::AddPartition {
                        table: t(),
                        partition: p.clone(),
                    });
                }
            }
        }
    }
    for col in &want.columns {
        let Some(actual) = have.column(&col.name) else {
            out.push(Change::AddColumn {
                table: t(),
                column: col.clone(),
            });
            continue;
        };
        if col.ty != actual.ty {
            if is_widening(&actual.ty, &col.ty) {
                out.push(Change::WidenColumn {
                    table: t(),
                    column: col.clone(),
                    from: actual.ty.clone(),
                });
            } else if is_widening(&col.ty, &actual.ty) {
                out.push(Change::NarrowColumn {
                    table: t(),
                    column: col.name.clone(),
                    from: actual.ty.clone(),
                    to: col.ty.clone(),
                });
            } else {
                out.push(Change::ChangeType {
                    table: t(),
                    column: col.name.clone(),
                    from: actual.ty.clone(),
                    to: col.ty.clone(),
                });
            }
        }
        match (col.nullable, actual.nullable) {
            (true, false) => out.push(Change::RelaxNotNull {
                table: t(),
                column: col.clone(),
            }),
            (false, true) => out.push(Change::TightenNotNull {
                table: t(),
                column: col.name.clone(),
            }),
            _ => {}
        }
    }
    for col in &have.columns {
        if want.column(&col.name).is_none() {
            out.push(Change::DropColumn {
                table: t(),
                column: col.name.clone(),
            });
        }
    }
    let pk = |tb: &Table| {
        tb.primary_key
            .as_ref()
            .map(|p| p.columns.clone())
            .unwrap_or_default()
    };
    if pk(want) != pk(have) {
        out.push(Change::ChangePrimaryKey {
            table: t(),
            from: pk(have),
            to: pk(want),
        });
    }

    // Unique constraints and indexes, by shape. A unique index in one engine may be a
    // unique constraint in another; both count as "unique on these columns".
    let unique_shapes: BTreeSet<Vec<IndexPart>> = have
        .unique
        .iter()
        .map(|u| columns_of(&u.columns))
        .chain(
            have.indexes
                .iter()
                .filter(|i| i.unique && i.predicate.is_none())
                .map(|i| i.columns.clone()),
        )
        .collect();
    for u in &want.unique {
        if !unique_shapes.contains(&columns_of(&u.columns)) {
            out.push(Change::AddUnique {
                table: t(),
                unique: u.clone(),
            });
        }
    }
    for ix in &want.indexes {
        let covered = have.indexes.iter().any(|h| same_index(h, ix))
            || (ix.unique && ix.predicate.is_none() && unique_shapes.contains(&ix.columns));
        if !covered {
            out.push(Change::AddIndex {
                table: t(),
                index: ix.clone(),
            });
        }
    }
    let want_unique: BTreeSet<Vec<IndexPart>> = want
        .unique
        .iter()
        .map(|u| columns_of(&u.columns))
        .chain(
            want.indexes
                .iter()
                .filter(|i| i.unique)
                .map(|i| i.columns.clone()),
        )
        .collect();
    for u in &have.unique {
        if !want_unique.contains(&columns_of(&u.columns)) {
            out.push(Change::DropIndex {
                table: t(),
                name: u.name.clone(),
            });
        }
    }
    for ix in &have.indexes {
        let wanted = want.indexes.iter().any(|w| same_index(ix, w))
            || (ix.unique && want_unique.contains(&ix.columns));
        if !wanted && !engine_made(ix, have, dialect) {
            out.push(Change::DropIndex {
                table: t(),
                name: ix.name.clone(),
            });
        }
    }

    for fk in &want.foreign_keys {
        if !have.foreign_keys.iter().any(|h| same_fk(h, fk)) {
            out.push(Change::AddForeignKey {
                table: t(),
                foreign_key: fk.clone(),
            });
        }
    }
    for fk in &have.foreign_keys {
        if !want.foreign_keys.iter().any(|w| same_fk(fk, w)) {
            out.push(Change::DropForeignKey {
                table: t(),
                name: fk.name.clone(),
            });
        }
    }
}

fn columns_of(names: &[String]) -> Vec<IndexPart> {
    names.iter().map(|c| IndexPart::Column(c.clone())).collect()
}

fn same_index(a: &Index, b: &Index) -> bool {
    a.columns == b.columns && a.unique == b.unique && a.predicate == b.predicate
}

fn same_fk(a: &ForeignKey, b: &ForeignKey) -> bool {
    a.columns == b.columns
        && a.references == b.references
        && a.referenced_columns == b.referenced_columns
}

/// An index the engine created by itself: MySQL indexes every foreign key's columns
/// when no index starts with them, naming the index after the constraint.
fn engine_made(ix: &Index, table: &Table, dialect: Dialect) -> bool {
    crate::engine::traits(dialect).indexes_foreign_keys
        && !ix.unique
        && table
            .foreign_keys
            .iter()
            .any(|fk| fk.name == ix.name && columns_of(&fk.columns) == ix.columns)
}

#[cfg(test)]
mod tests;
