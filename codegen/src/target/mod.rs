//! The desired destination: the source model after the config's table selection,
//! renames, type overrides and `naming:`, with every type cast into the destination
//! dialect and classified (safe / lossy / unsafe).
//!
//! The result is a [`Schema`] in the destination's own terms: the neutral types it will
//! report when introspected after the migration ran. Diff compares it with the live
//! destination, so a converged destination diffs empty.

pub mod cast;
mod mysql;
mod naming;
mod postgres;
mod sqlite;

pub use cast::{Cast, Safety};
pub use naming::Naming;

use crate::config::Config;
use crate::model::{
    Check, Column, ColumnExtra, DefaultValue, Dialect, ForeignKey, Index, IndexPart, NeutralType,
    PrimaryKey, Schema, Table, UniqueConstraint,
};
use cast::EnumInfo;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A finding about the desired schema that the user should see: a stable code, what it
/// is about, and one line of explanation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub code: &'static str,
    /// `table` or `table.column`, in destination names.
    pub subject: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.subject, self.message)
    }
}

/// Where a destination table's rows come from (the transfer stage reads this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source_table: String,
    /// (destination column, source column), in destination column order.
    pub columns: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub schema: Schema,
    pub origins: BTreeMap<String, Origin>,
    /// Lossy casts that were opted in, and source features dropped on the way.
    pub notes: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{} column(s) cannot be cast into {dialect}:\n{}", refusals.len(), list(refusals))]
    Refused {
        dialect: Dialect,
        refusals: Vec<Diagnostic>,
    },
    #[error(
        "naming: {what} `{first}` and `{second}` both become `{target}` in the destination; rename one in `mappings:`"
    )]
    Collision {
        what: &'static str,
        first: String,
        second: String,
        target: String,
    },
}

fn list(items: &[Diagnostic]) -> String {
    items
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Codes of the notes and refusals this stage produces.
pub mod codes {
    /// A lossy cast that the config opted in.
    pub const LOSSY_ALLOWED: &str = "T301";
    /// A lossy cast not opted in: refused.
    pub const LOSSY_REFUSED: &str = "T302";
    /// No representation in the destination: refused.
    pub const UNSAFE: &str = "T303";
    /// A default, check, generated expression or index in the source's SQL dialect that
    /// another dialect cannot run; left out.
    pub const NOT_PORTABLE: &str = "T304";
    /// A foreign key to a table that is not selected; left out.
    pub const FK_OUTSIDE: &str = "T305";
}

/// Builds the desired destination schema for `source` (already filtered by `tables:`).
pub fn desired(source: &Schema, config: &Config, dest: Dialect) -> Result<Desired, TargetError> {
    Builder {
        source,
        config,
        dest,
        naming: config.naming,
        notes: RefCell::default(),
        refusals: RefCell::default(),
    }
    .build()
}

struct Builder<'a> {
    source: &'a Schema,
    config: &'a Config,
    dest: Dialect,
    naming: Naming,
    /// Findings collected while building; interior mutability keeps every step `&self`.
    notes: RefCell<Vec<Diagnostic>>,
    refusals: RefCell<Vec<Diagnostic>>,
}

impl Builder<'_> {
    fn same_dialect(&self) -> bool {
        self.source.dialect == self.dest
    }

    fn table_name(&self, source: &str) -> String {
        match self
            .config
            .mappings
            .get(source)
            .and_then(|m| m.target.clone())
        {
            Some(explicit) => explicit,
            None => self.naming.apply(source),
        }
    }

    fn column_name(&self, table: &str, column: &str) -> String {
        match self
            .config
            .mappings
            .get(table)
            .and_then(|m| m.columns.get(column))
        {
            Some(explicit) => explicit.clone(),
            None => self.naming.apply(column),
        }
    }

    fn note(&self, code: &'static str, subject: String, message: impl Into<String>) {
        self.notes.borrow_mut().push(Diagnostic {
            code,
            subject,
            message: message.into(),
        });
    }

    fn build(self) -> Result<Desired, TargetError> {
        let mut schema = Schema::new(self.dest, "");
        let mut origins = BTreeMap::new();
        let mut table_sources: BTreeMap<String, String> = BTreeMap::new();
        for (src_name, src) in &self.source.tables {
            let name = self.table_name(src_name);
            if let Some(first) = table_sources.insert(name.clone(), src_name.clone()) {
                return Err(TargetError::Collision {
                    what: "tables",
                    first,
                    second: src_name.clone(),
                    target: name,
                });
            }
            let (table, origin) = self.table(src_name, src, &name, &mut schema.enums)?;
            origins.insert(name.clone(), origin);
            schema.tables.insert(name, table);
        }
        self.check_index_names(&schema)?;
        let mut refusals = self.refusals.into_inner();
        if !refusals.is_empty() {
            refusals.sort();
            return Err(TargetError::Refused {
                dialect: self.dest,
                refusals,
            });
        }
        schema.normalize();
        let mut notes = self.notes.into_inner();
        notes.sort();
        Ok(Desired {
            schema,
            origins,
            notes,
        })
    }

    fn table(
        &self,
        src_name: &str,
        src: &Table,
        name: &str,
        enums: &mut BTreeMap<String, Vec<String>>,
    ) -> Result<(Table, Origin), TargetError> {
        let mut table = Table {
            comment: src.comment.clone(),
            ..Table::default()
        };
        let mut origin = Origin {
            source_table: src_name.to_string(),
            columns: Vec::new(),
        };
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for col in &src.columns {
            let col_name = self.column_name(src_name, &col.name);
            if let Some(first) = seen.insert(col_name.clone(), col.name.clone()) {
                return Err(TargetError::Collision {
                    what: "columns",
                    first: format!("{src_name}.{first}"),
                    second: format!("{src_name}.{}", col.name),
                    target: format!("{name}.{col_name}"),
                });
            }
            if let Some(column) =
                self.column(src_name, name, col, &col_name, enums, &mut table.checks)
            {
                origin.columns.push((col_name.clone(), col.name.clone()));
                table.columns.push(column);
            }
        }
        let cols = |names: &[String]| {
            names
                .iter()
                .map(|c| self.column_name(src_name, c))
                .collect::<Vec<_>>()
        };
        table.primary_key = src.primary_key.as_ref().map(|pk| PrimaryKey {
            name: None,
            columns: cols(&pk.columns),
        });
        for u in &src.unique {
            table.unique.push(UniqueConstraint {
                name: self.naming.apply(&u.name),
                columns: cols(&u.columns),
            });
        }
        // `key:` for a table without a primary key: the destination needs a unique
        // constraint on it for the upsert to match rows (ON CONFLICT / ON DUPLICATE KEY).
        let key = self
            .config
            .mappings
            .get(src_name)
            .map(|m| cols(&m.key))
            .unwrap_or_default();
        if table.primary_key.is_none()
            && !key.is_empty()
            && !table.unique.iter().any(|u| u.columns == key)
        {
            table.unique.push(UniqueConstraint {
                name: format!("{name}_seaway_key"),
                columns: key,
            });
        }
        for ix in &src.indexes {
            if let Some(index) = self.index(src_name, name, ix) {
                table.indexes.push(index);
            }
        }
        for fk in &src.foreign_keys {
            if !self.source.tables.contains_key(&fk.references) {
                self.note(
                    codes::FK_OUTSIDE,
                    name.to_string(),
                    format!(
                        "foreign key `{}` references `{}`, which is not selected; left out",
                        fk.name, fk.references
                    ),
                );
                continue;
            }
            table.foreign_keys.push(ForeignKey {
                name: self.naming.apply(&fk.name),
                columns: cols(&fk.columns),
                references: self.table_name(&fk.references),
                referenced_columns: fk
                    .referenced_columns
                    .iter()
                    .map(|c| self.column_name(&fk.references, c))
                    .collect(),
                on_delete: fk.on_delete,
                on_update: fk.on_update,
            });
        }
        if self.dest == Dialect::Mysql && !self.same_dialect() {
            self.mysql_prefix_indexes(name, &mut table);
        }
        if self.same_dialect() {
            table.checks.extend(src.checks.iter().cloned());
        } else if !src.checks.is_empty() {
            let names: Vec<&str> = src.checks.iter().map(|c| c.name.as_str()).collect();
            self.note(
                codes::NOT_PORTABLE,
                name.to_string(),
                format!(
                    "check constraint(s) {} are {} SQL; left out",
                    names.join(", "),
                    self.source.dialect
                ),
            );
        }
        Ok((table, origin))
    }

    /// Casts one column; `None` when it is refused (recorded in `self.refusals`).
    fn column(
        &self,
        src_table: &str,
        table: &str,
        col: &Column,
        name: &str,
        enums: &mut BTreeMap<String, Vec<String>>,
        checks: &mut Vec<Check>,
    ) -> Option<Column> {
        let subject = format!("{table}.{name}");
        let override_ty = self
            .config
            .mappings
            .get(src_table)
            .and_then(|m| m.types.get(&col.name));
        let source_ty = override_ty.unwrap_or(&col.ty);
        let enum_info = self.enum_info(source_ty, table, name);
        let domain = col.extras.iter().find_map(|e| match e {
            ColumnExtra::Domain { name, .. } => Some(name.clone()),
            _ => None,
        });
        let cast = if self.same_dialect() && override_ty.is_none() && domain.is_none() {
            self.native_cast(col, enum_info.as_ref())
        } else {
            match self.dest {
                Dialect::Postgres => postgres::cast(source_ty, enum_info.as_ref()),
                Dialect::Mysql => mysql::cast(source_ty, enum_info.as_ref()),
                Dialect::Sqlite => sqlite::cast(source_ty),
            }
        };
        if let Some(domain) = &domain {
            self.note(
                codes::NOT_PORTABLE,
                subject.clone(),
                format!(
                    "domain `{domain}` is not recreated; the column uses its base type {}",
                    cast.ddl
                ),
            );
        }
        // MySQL's TIME is a duration (-838:59:59 to 838:59:59), not a time of day: values
        // beyond a day have no `time` elsewhere (override the type to `interval` to keep them).
        let mut cast = cast;
        if self.source.dialect == Dialect::Mysql
            && self.dest != Dialect::Mysql
            && matches!(source_ty, NeutralType::Time { .. })
            && cast.safety == Safety::Safe
        {
            cast.safety = Safety::Lossy(
                "MySQL TIME values beyond 24 hours are refused by a time of day; map the column to `interval` to keep them".into(),
            );
        }
        let what = format!(
            "{source_ty} -> {}",
            if cast.ddl.is_empty() { "?" } else { &cast.ddl }
        );
        match &cast.safety {
            Safety::Safe => {}
            Safety::Lossy(why) if self.config.allows_lossy(src_table, &col.name) => {
                self.note(
                    codes::LOSSY_ALLOWED,
                    subject.clone(),
                    format!("{what}: {why} (allowed by allow_lossy)"),
                );
            }
            Safety::Lossy(why) => {
                self.refusals.borrow_mut().push(Diagnostic {
                    code: codes::LOSSY_REFUSED,
                    subject,
                    message: format!(
                        "{what} is lossy: {why}; to accept, add `{src_table}.{}` to allow_lossy",
                        col.name
                    ),
                });
                return None;
            }
            Safety::Unsafe(why) => {
                self.refusals.borrow_mut().push(Diagnostic { code: codes::UNSAFE, subject, message: format!("{what}: {why}; exclude the table or map the column's type in `mappings.{src_table}.types`") });
                return None;
            }
        }
        if let Some(info) = enum_info.as_ref().filter(|_| names_enum(&cast.ty)) {
            enums.insert(info.name.clone(), info.labels.to_vec());
        }
        let sqlite_enum = self.dest == Dialect::Sqlite
            && matches!(source_ty, NeutralType::Enum { .. })
            && !self.same_dialect();
        if let Some(info) = enum_info.as_ref().filter(|_| sqlite_enum) {
            let labels: Vec<String> = info.labels.iter().map(|l| cast::quote_literal(l)).collect();
            checks.push(Check {
                name: format!("{table}_{name}_check"),
                expression: format!("({} IN ({}))", quote_sqlite_ident(name), labels.join(", ")),
            });
        }
        let default = self.default(col, &subject);
        let generated = if self.same_dialect() {
            col.generated.clone()
        } else {
            if col.generated.is_some() {
                self.note(
                    codes::NOT_PORTABLE,
                    subject.clone(),
                    "generated column becomes a plain column filled by transfer",
                );
            }
            None
        };
        Some(Column {
            name: name.to_string(),
            ty: cast.ty,
            native: cast.ddl,
            nullable: col.nullable,
            default,
            identity: col.identity,
            generated,
            comment: col.comment.clone(),
            extras: if self.same_dialect() {
                col.extras
                    .iter()
                    .filter(|e| !matches!(e, ColumnExtra::Domain { .. }))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Same engine: the native type as written, which the destination reports back as
    /// the same neutral type.
    fn native_cast(&self, col: &Column, enum_info: Option<&EnumInfo<'_>>) -> Cast {
        match (&col.ty, self.dest, enum_info) {
            // PostgreSQL enum types are created by name; renamed by naming like tables.
            (NeutralType::Enum { .. }, Dialect::Postgres, Some(info)) => Cast::safe(
                quote_pg_ident(&info.name),
                NeutralType::Enum {
                    name: info.name.clone(),
                },
            ),
            (NeutralType::Array(inner), Dialect::Postgres, Some(info))
                if matches!(**inner, NeutralType::Enum { .. }) =>
            {
                Cast::safe(
                    format!("{}[]", quote_pg_ident(&info.name)),
                    NeutralType::Array(Box::new(NeutralType::Enum {
                        name: info.name.clone(),
                    })),
                )
            }
            // MySQL inline enums are named after the destination table and column.
            (NeutralType::Enum { .. }, Dialect::Mysql, Some(info)) => Cast::safe(
                col.native.clone(),
                NeutralType::Enum {
                    name: info.name.clone(),
                },
            ),
            (NeutralType::Set { .. }, Dialect::Mysql, Some(info)) => Cast::safe(
                col.native.clone(),
                NeutralType::Set {
                    name: info.name.clone(),
                },
            ),
            _ => Cast::safe(col.native.clone(), col.ty.clone()),
        }
    }

    /// Labels and destination name of the enum or set a type refers to, if any.
    fn enum_info<'s>(
        &'s self,
        ty: &NeutralType,
        table: &str,
        column: &str,
    ) -> Option<EnumInfo<'s>> {
        let source_name = match ty {
            NeutralType::Enum { name } | NeutralType::Set { name } => name,
            NeutralType::Array(inner) => return self.enum_info(inner, table, column),
            _ => return None,
        };
        let labels = self.source.enums.get(source_name)?;
        let name = match self.dest {
            Dialect::Postgres if self.source.dialect == Dialect::Postgres => {
                self.naming.apply(source_name)
            }
            _ => format!("{table}_{column}"),
        };
        Some(EnumInfo { name, labels })
    }

    fn default(&self, col: &Column, subject: &str) -> Option<DefaultValue> {
        match &col.default {
            Some(DefaultValue::Expression(e)) if !self.same_dialect() => {
                self.note(
                    codes::NOT_PORTABLE,
                    subject.to_string(),
                    format!("default `{e}` is {} SQL; left out", self.source.dialect),
                );
                None
            }
            other => other.clone(),
        }
    }

    fn index(&self, src_table: &str, table: &str, ix: &Index) -> Option<Index> {
        let portable = self.same_dialect()
            || (ix.predicate.is_none()
                && ix.method.is_none()
                && ix.columns.iter().all(|p| matches!(p, IndexPart::Column(_))));
        if !portable {
            self.note(
                codes::NOT_PORTABLE,
                table.to_string(),
                format!(
                    "index `{}` uses {} expressions, a predicate or a method; left out",
                    ix.name, self.source.dialect
                ),
            );
            return None;
        }
        Some(Index {
            name: self.naming.apply(&ix.name),
            columns: ix
                .columns
                .iter()
                .map(|p| match p {
                    IndexPart::Column(c) => IndexPart::Column(self.column_name(src_table, c)),
                    other => other.clone(),
                })
                .collect(),
            unique: ix.unique,
            predicate: ix.predicate.clone(),
            method: ix.method.clone(),
        })
    }

    /// MySQL indexes only a prefix of a `longtext`/`longblob` column (MariaDB silently
    /// makes it 768 characters, InnoDB's 3072-byte limit in utf8mb4), so the desired index
    /// says so; a unique one then only guarantees uniqueness of that prefix.
    fn mysql_prefix_indexes(&self, name: &str, table: &mut Table) {
        const PREFIX: u32 = 768;
        let unbounded = |col: &str| {
            table.column(col).is_some_and(|c| {
                matches!(
                    c.ty,
                    NeutralType::Text | NeutralType::Binary { length: None, .. }
                )
            })
        };
        let prefixed = |parts: &[IndexPart]| -> Vec<IndexPart> {
            parts
                .iter()
                .map(|p| match p {
                    IndexPart::Column(c) if unbounded(c) => IndexPart::Expression {
                        expression: format!("`{}`({PREFIX})", c.replace('`', "``")),
                    },
                    other => other.clone(),
                })
                .collect()
        };
        let mut indexes: Vec<Index> = table
            .indexes
            .iter()
            .map(|ix| Index {
                columns: prefixed(&ix.columns),
                ..ix.clone()
            })
            .collect();
        let mut unique = Vec::new();
        for u in &table.unique {
            if u.columns.iter().any(|c| unbounded(c)) {
                self.note(codes::NOT_PORTABLE, name.to_string(), format!(
                    "unique `{}` covers text columns; MySQL can only enforce it on their first {PREFIX} characters", u.name
                ));
                let parts: Vec<IndexPart> = u
                    .columns
                    .iter()
                    .map(|c| IndexPart::Column(c.clone()))
                    .collect();
                indexes.push(Index {
                    name: u.name.clone(),
                    columns: prefixed(&parts),
                    unique: true,
                    predicate: None,
                    method: None,
                });
            } else {
                unique.push(u.clone());
            }
        }
        table.indexes = indexes;
        table.unique = unique;
    }

    /// PostgreSQL and SQLite index names share one namespace per schema.
    fn check_index_names(&self, schema: &Schema) -> Result<(), TargetError> {
        if self.dest == Dialect::Mysql {
            return Ok(());
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (tname, t) in &schema.tables {
            let names = t
                .indexes
                .iter()
                .map(|i| i.name.as_str())
                .chain(t.unique.iter().map(|u| u.name.as_str()));
            for n in names {
                if let Some(first) = seen.insert(n, tname) {
                    return Err(TargetError::Collision {
                        what: "indexes",
                        first: format!("{n} on {first}"),
                        second: format!("{n} on {tname}"),
                        target: n.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// True when `ty` is, or is an array of, an enum or set (whose labels must exist).
fn names_enum(ty: &NeutralType) -> bool {
    match ty {
        NeutralType::Enum { .. } | NeutralType::Set { .. } => true,
        NeutralType::Array(inner) => names_enum(inner),
        _ => false,
    }
}

/// `"name"` with `"` doubled.
pub fn quote_pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_sqlite_ident(name: &str) -> String {
    quote_pg_ident(name)
}
