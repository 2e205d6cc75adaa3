//! The desired destination: the source model after the config's table selection,
//! renames, type overrides and `naming:`, with every type cast into the destination
//! dialect and classified (safe / lossy / unsafe).
//!
//! The result is a [`Schema`] in the destination's own terms: the neutral types it will
//! report when introspected after the migration ran. Diff compares it with the live
//! destination, so a converged destination diffs empty.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub mod cast;
mod findings;
mod keys;
mod names;

/// `Naming` is a config value and lives in `config`; re-exported here for old paths.
pub use crate::config::Naming;
pub use cast::{Cast, Safety};
pub use findings::{Diagnostic, Origin, codes};

use crate::config::Config;
use crate::engine::{mysql, postgres, sqlite};
use crate::model::{
    Check, Column, ColumnExtra, DefaultValue, Dialect, ForeignKey, Identity, Index, IndexPart,
    NeutralType, Partition, PrimaryKey, Schema, Table, UniqueConstraint,
};
use cast::EnumInfo;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Desired {
    pub schema: Schema,
    pub origins: BTreeMap<String, Origin>,
    /// Lossy casts that were opted in, and source features dropped on the way.
    pub notes: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "the {dialect} destination cannot be built as the source and config ask ({} problem(s); each line names what to change):\n{}",
        refusals.len(),
        list(refusals)
    )]
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
    /// Two objects of one PostgreSQL/SQLite schema namespace (indexes, unique
    /// constraints, tables) would get the same name. `fix` says which rename helps.
    #[error(
        "{dialect} names indexes, unique constraints and tables in one namespace per schema: {first} and {second} would both be named `{target}`; {fix}"
    )]
    NameClash {
        dialect: Dialect,
        first: String,
        second: String,
        target: String,
        fix: String,
    },
}

fn list(items: &[Diagnostic]) -> String {
    items
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
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
        self.domains(&mut schema);
        self.views(&mut schema, &origins);
        let found = keys::apply(&mut schema, self.dest, !self.same_dialect(), &origins);
        self.notes.borrow_mut().extend(found.notes);
        self.refusals.borrow_mut().extend(found.refusals);
        self.check_name_lengths(&schema, &origins);
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
        notes.dedup();
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
        if self.carries_partitions(src_name, src) {
            table.partitioned_by = src.partitioned_by.clone();
            table.partitions = src
                .partitions
                .iter()
                .map(|p| Partition {
                    name: self.naming.apply(&p.name),
                    bound: p.bound.clone(),
                    foreign_keys: Vec::new(),
                    indexes: Vec::new(),
                })
                .collect();
        }
        let mut origin = Origin {
            source_table: src_name.to_string(),
            columns: Vec::new(),
        };
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let sole_pk = src
            .primary_key
            .as_ref()
            .and_then(|pk| match pk.columns.as_slice() {
                [only] => Some(only.as_str()),
                _ => None,
            });
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
            let key = sole_pk == Some(col.name.as_str());
            if let Some(column) = self.column(
                src_name,
                name,
                col,
                &col_name,
                key,
                enums,
                &mut table.checks,
            ) {
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
        self.sqlite_rowid_key(&mut table);
        for u in &src.unique {
            table.unique.push(UniqueConstraint {
                name: self.index_name(name, &u.name),
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
                name: self.fit_name(name, "unique constraint", format!("{name}_seaway_key")),
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
                name: self.fit_name(name, "foreign key", self.naming.apply(&fk.name)),
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
    /// `sole_key`: the column is the table's whole primary key.
    #[allow(clippy::too_many_arguments)]
    fn column(
        &self,
        src_table: &str,
        table: &str,
        col: &Column,
        name: &str,
        sole_key: bool,
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
            ColumnExtra::OnUpdateCurrentTimestamp
            | ColumnExtra::Collation(_)
            | ColumnExtra::Charset(_) => None,
        });
        let auto_numbered_key =
            sole_key && col.identity.is_some() && matches!(source_ty, NeutralType::Int { .. });
        let carried_domain = domain
            .as_ref()
            .is_some_and(|d| override_ty.is_none() && self.carries_domain(d));
        let domain = domain.filter(|_| !carried_domain);
        let cast = if self.same_dialect() && override_ty.is_none() && domain.is_none() {
            self.native_cast(col, enum_info.as_ref())
        } else {
            match self.dest {
                Dialect::Postgres => postgres::cast::cast(source_ty, enum_info.as_ref()),
                Dialect::Mysql => mysql::cast::cast(source_ty, enum_info.as_ref()),
                Dialect::Sqlite if auto_numbered_key => sqlite::cast::rowid_key(source_ty),
                Dialect::Sqlite => sqlite::cast::cast(source_ty),
            }
        };
        // MySQL's TIME is a duration (-838:59:59 to 838:59:59), not a time of day: values
        // beyond a day have no `time` elsewhere (override the type to `interval` to keep them).
        let mut cast = cast;
        if !crate::engine::traits(self.source.dialect).time_of_day
            && crate::engine::traits(self.dest).time_of_day
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
        let sqlite_enum = crate::engine::traits(self.dest).enums == crate::engine::EnumStyle::Check
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
            identity: self.identity(col),
            generated,
            comment: col.comment.clone(),
            extras: if self.same_dialect() {
                col.extras
                    .iter()
                    .filter(|e| carried_domain || !matches!(e, ColumnExtra::Domain { .. }))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Whether a source table's partitioning is carried: between PostgreSQL databases,
    /// when no column is renamed (the partition key names columns).
    fn carries_partitions(&self, src_name: &str, src: &Table) -> bool {
        // Only PostgreSQL has partitions; the source's SQL (the key) runs in its own engine.
        let partitions_here = match self.dest {
            Dialect::Postgres => true,
            Dialect::Mysql | Dialect::Sqlite => false,
        };
        partitions_here
            && self.same_dialect()
            && src.partitioned_by.is_some()
            && src
                .columns
                .iter()
                .all(|c| self.column_name(src_name, &c.name) == c.name)
    }

    /// Whether a column's domain is recreated in the destination (between PostgreSQL
    /// databases, for a domain of the schema read); else the column takes its base type.
    fn carries_domain(&self, name: &str) -> bool {
        let domains_here = match self.dest {
            Dialect::Postgres => true,
            Dialect::Mysql | Dialect::Sqlite => false,
        };
        domains_here && self.same_dialect() && self.source.domains.contains_key(name)
    }

    /// The domains the desired columns use, as the source defines them.
    fn domains(&self, schema: &mut Schema) {
        for table in schema.tables.values() {
            for col in &table.columns {
                for extra in &col.extras {
                    if let ColumnExtra::Domain { name, .. } = extra
                        && let Some(domain) = self.source.domains.get(name)
                    {
                        schema.domains.insert(name.clone(), domain.clone());
                    }
                }
            }
        }
    }

    /// Views are carried between databases of one engine when everything they read is
    /// carried under its own name, columns included (the definition is the source's
    /// SQL, naming what it reads); a view is carried only after what it reads is.
    fn views(&self, schema: &mut Schema, origins: &BTreeMap<String, Origin>) {
        if !self.same_dialect() {
            return;
        }
        let unchanged_table = |name: &str| {
            origins.get(name).is_some_and(|o| {
                o.source_table == name
                    && o.columns.iter().all(|(d, s)| d == s)
                    && self
                        .source
                        .tables
                        .get(name)
                        .is_some_and(|t| t.columns.len() == o.columns.len())
            })
        };
        // Fixed point: each pass adds the views whose dependencies are all carried.
        loop {
            let before = schema.views.len();
            for (name, view) in &self.source.views {
                if schema.views.contains_key(name) || schema.tables.contains_key(name) {
                    continue;
                }
                let ready = view
                    .depends_on
                    .iter()
                    .all(|d| unchanged_table(d) || schema.views.contains_key(d));
                if ready && view.definition.is_some() {
                    schema.views.insert(name.clone(), view.clone());
                }
            }
            if schema.views.len() == before {
                break;
            }
        }
    }

    /// How the destination numbers the column. SQLite auto-numbers only its rowid: an
    /// identity or `AUTO_INCREMENT` key becomes `INTEGER PRIMARY KEY AUTOINCREMENT`
    /// (`AutoIncrement`), because only AUTOINCREMENT never reuses the number of a deleted
    /// last row, as sequences and AUTO_INCREMENT never do; a plain rowid stays a rowid.
    fn identity(&self, col: &Column) -> Option<Identity> {
        match self.dest {
            Dialect::Sqlite if self.same_dialect() => col.identity,
            Dialect::Sqlite => col.identity.map(|i| match i {
                Identity::Rowid => Identity::Rowid,
                Identity::Always
                | Identity::ByDefault
                | Identity::Sequence
                | Identity::AutoIncrement => Identity::AutoIncrement,
            }),
            Dialect::Postgres | Dialect::Mysql => col.identity,
        }
    }

    /// In SQLite a sole primary-key column declared exactly `INTEGER` is the rowid, a
    /// 64-bit integer whatever the declaration says, and introspection reads it so;
    /// the desired column says the same, or a second diff would see int32 -> int64.
    fn sqlite_rowid_key(&self, table: &mut Table) {
        let key = match self.dest {
            Dialect::Sqlite => {
                table
                    .primary_key
                    .as_ref()
                    .and_then(|pk| match pk.columns.as_slice() {
                        [only] => Some(only.clone()),
                        _ => None,
                    })
            }
            Dialect::Postgres | Dialect::Mysql => None,
        };
        if let Some(col) = key.and_then(|k| table.columns.iter_mut().find(|c| c.name == k))
            && col.native.eq_ignore_ascii_case("INTEGER")
            && matches!(col.ty, NeutralType::Int { .. })
        {
            col.ty = cast::int(64);
        }
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
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "only enum, set and array types carry labels; the rest have none"
    )]
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
            // A PostgreSQL type name: at most 63 bytes.
            Dialect::Postgres => {
                let name = match self.source.dialect {
                    Dialect::Postgres => self.naming.apply(source_name),
                    Dialect::Mysql | Dialect::Sqlite => format!("{table}_{column}"),
                };
                self.fit_name(table, "enum type", name)
            }
            // Inline in the column: introspection names it `<table>_<column>`.
            Dialect::Mysql | Dialect::Sqlite => format!("{table}_{column}"),
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
            name: self.index_name(table, &ix.name),
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

    /// Name of an index or unique constraint in the destination. MySQL names indexes
    /// per table, PostgreSQL and SQLite per schema; from the first into the others the
    /// name is always `<table>_<index>` (destination names). Always, not only on a
    /// clash: a rule that renamed on a clash would rename an index already applied when
    /// a table with the same index name is added later. Destinations built before the
    /// rule are not disturbed: diff matches indexes by shape, not by name.
    fn index_name(&self, table: &str, source: &str) -> String {
        let base = self.naming.apply(source);
        let name = if names::indexes_per_table(self.source.dialect)
            && !names::indexes_per_table(self.dest)
        {
            format!("{table}_{base}")
        } else {
            base
        };
        self.fit_name(table, "index", name)
    }

    /// `name` shortened to the destination's identifier limit (with a hash suffix, see
    /// `names::shorten`), noted when it had to be.
    fn fit_name(&self, table: &str, what: &str, name: String) -> String {
        let short = names::shorten(self.dest, &name);
        if short != name {
            self.note(
                codes::NAME_SHORTENED,
                table.to_string(),
                format!(
                    "{what} name `{name}` is longer than {} allows ({}): named `{short}`",
                    self.dest,
                    names::limit(self.dest)
                ),
            );
        }
        short
    }

    /// Table and column names are the user's to choose, so one too long for the
    /// destination is refused with the `mappings:` entry that renames it (PostgreSQL
    /// would silently truncate it, MySQL refuses it when the migration runs).
    fn check_name_lengths(&self, schema: &Schema, origins: &BTreeMap<String, Origin>) {
        let limit = names::limit(self.dest);
        for (tname, t) in &schema.tables {
            let src_table = origins
                .get(tname)
                .map_or(tname.as_str(), |o| o.source_table.as_str());
            let mut refusals = self.refusals.borrow_mut();
            if !names::fits(self.dest, tname) {
                refusals.push(Diagnostic {
                    code: codes::NAME_TOO_LONG,
                    subject: tname.clone(),
                    message: format!(
                        "table name is {} characters ({} bytes); {} allows {limit}: give it a shorter name in `mappings.{src_table}.target`",
                        tname.chars().count(),
                        tname.len(),
                        self.dest
                    ),
                });
            }
            for col in t
                .columns
                .iter()
                .filter(|c| !names::fits(self.dest, &c.name))
            {
                let src_col = origins
                    .get(tname)
                    .and_then(|o| o.columns.iter().find(|(d, _)| *d == col.name))
                    .map_or(col.name.as_str(), |(_, s)| s.as_str());
                refusals.push(Diagnostic {
                    code: codes::NAME_TOO_LONG,
                    subject: format!("{tname}.{}", col.name),
                    message: format!(
                        "column name is {} characters ({} bytes); {} allows {limit}: give it a shorter name in `mappings.{src_table}.columns` (`{src_col}: <shorter name>`)",
                        col.name.chars().count(),
                        col.name.len(),
                        self.dest
                    ),
                });
            }
        }
    }

    /// PostgreSQL and SQLite index names share one namespace per schema, with tables.
    /// With [`Self::index_name`] a clash is left only where two names built from table
    /// and index meet (`a` + `b_c`, `a_b` + `c`) or where `naming:` made two names one.
    fn check_index_names(&self, schema: &Schema) -> Result<(), TargetError> {
        match self.dest {
            Dialect::Mysql => return Ok(()),
            Dialect::Postgres | Dialect::Sqlite => {}
        }
        let mut seen: BTreeMap<&str, String> = schema
            .tables
            .keys()
            .map(|t| (t.as_str(), format!("table `{t}`")))
            .collect();
        for (tname, t) in &schema.tables {
            let names = t
                .indexes
                .iter()
                .map(|i| i.name.as_str())
                .chain(t.unique.iter().map(|u| u.name.as_str()));
            for n in names {
                let this = format!("index `{n}` on `{tname}`");
                if let Some(first) = seen.insert(n, this.clone()) {
                    let fix = if names::indexes_per_table(self.source.dialect) {
                        "index names from MySQL are `<table>_<index>`, so renaming one of the tables in `mappings:` (`target:`) renames its indexes too"
                    } else {
                        "no `mappings:` key renames an index: rename it in the source, rename the table in `mappings:` (`target:`) if the clash is with a table, or drop `naming:`"
                    };
                    return Err(TargetError::NameClash {
                        dialect: self.dest,
                        first,
                        second: this,
                        target: n.to_string(),
                        fix: fix.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// True when `ty` is, or is an array of, an enum or set (whose labels must exist).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "every other neutral type names no enum"
)]
fn names_enum(ty: &NeutralType) -> bool {
    match ty {
        NeutralType::Enum { .. } | NeutralType::Set { .. } => true,
        NeutralType::Array(inner) => names_enum(inner),
        _ => false,
    }
}

/// `"name"` with `"` doubled. Kept for old paths; [`crate::engine::quote_ident`] is the
/// one quoting function per engine.
pub use crate::engine::postgres::quote_ident as quote_pg_ident;
use crate::engine::sqlite::quote_ident as quote_sqlite_ident;

#[cfg(test)]
mod tests;
