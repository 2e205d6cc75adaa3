//! Tables, columns, keys, indexes and the rest of a schema, engine-neutral.
//!
//! Collections that have no meaningful order (tables, indexes, foreign keys) are kept in
//! `BTreeMap`s or sorted by [`Schema::normalize`], so two introspections of the same
//! database serialize to the same bytes. Columns keep their ordinal order, which is
//! meaningful (it is the order of `CREATE TABLE` and of `SELECT *`).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::types::NeutralType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The database engine a schema was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// Whether migrator's shared state store (runs and the workers' chunk queue, read
    /// by several processes on several machines: `FOR UPDATE SKIP LOCKED`) can live in
    /// this engine; only PostgreSQL's is written. Here rather than in the engine's
    /// `TRAITS` because config validation asks it, and the engine homes import config.
    pub fn holds_shared_state(self) -> bool {
        match self {
            Dialect::Postgres => true,
            Dialect::Mysql | Dialect::Sqlite => false,
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One database schema (a PostgreSQL schema, a MySQL database, an SQLite file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub dialect: Dialect,
    /// The PostgreSQL schema or MySQL database name; `main` for SQLite.
    pub name: String,
    pub tables: BTreeMap<String, Table>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub views: BTreeMap<String, View>,
    /// Labels of every enum and set type, by the name the column types refer to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enums: BTreeMap<String, Vec<String>>,
    /// PostgreSQL domains defined in the schema, by name (columns name theirs in
    /// [`ColumnExtra::Domain`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub domains: BTreeMap<String, Domain>,
    /// What else the schema holds that seaway reports but never carries (functions,
    /// triggers, free sequences, extensions...): their bodies are code in one engine's
    /// language, so `diff` names each one it leaves out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<SchemaObject>,
}

/// A PostgreSQL domain: a base type with constraints every value must meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The base type as PostgreSQL writes it (`integer`, `character varying(20)`).
    pub base: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Named checks; the expression is `pg_get_constraintdef` (`CHECK ((VALUE > 0))`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

/// A schema object seaway sees and reports but does not carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaObject {
    pub kind: ObjectKind,
    /// The object's name (a function's with its argument types).
    pub name: String,
    /// The table it belongs to (a trigger's, a rule's, a policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

/// Kinds of [`SchemaObject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Function,
    Procedure,
    Trigger,
    /// A sequence no column owns (an owned one is the column's identity).
    Sequence,
    Extension,
    /// MySQL's scheduled event.
    Event,
    /// PostgreSQL's rewrite rule.
    Rule,
    /// PostgreSQL's row-level security policy.
    Policy,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Extension => "extension",
            ObjectKind::Event => "event",
            ObjectKind::Rule => "rule",
            ObjectKind::Policy => "policy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<PrimaryKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<UniqueConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Set for a PostgreSQL partitioned table (its partitions are not listed as tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioned_by: Option<String>,
    /// The partitions of a partitioned table, by name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    /// PostgreSQL table inheritance: the parents this table inherits from, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherits: Vec<String>,
    /// PostgreSQL exclusion constraints; the expression is `pg_get_constraintdef`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<Check>,
}

/// One partition of a partitioned table. Its rows and columns are the parent's; what is
/// declared on it alone is kept here, since only what every partition has can be lifted
/// to the parent (see `inspect::lift`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub name: String,
    /// `FOR VALUES ...` / `DEFAULT`, as `pg_get_expr(relpartbound)` writes it.
    pub bound: String,
    /// Foreign keys declared on this partition only (not on every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// Indexes declared on this partition only (not on every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: NeutralType,
    /// The type exactly as the engine names it, e.g. `character varying(160)`, `tinyint(1)`.
    pub native: String,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The expression of a generated (computed) column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<ColumnExtra>,
}

/// A column default, classified so that it can be re-rendered in another dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultValue {
    Null,
    Bool(bool),
    /// A numeric literal, kept as written so no precision is lost.
    Number(String),
    /// A string literal, unquoted.
    String(String),
    CurrentTimestamp,
    CurrentDate,
    CurrentTime,
    /// Anything else, in the source dialect's syntax.
    Expression(String),
}

/// How a column gets its values without being given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// PostgreSQL `GENERATED ALWAYS AS IDENTITY`.
    Always,
    /// PostgreSQL `GENERATED BY DEFAULT AS IDENTITY`.
    ByDefault,
    /// PostgreSQL `serial` (a `nextval(...)` default on an owned sequence).
    Sequence,
    /// MySQL `AUTO_INCREMENT`, SQLite `AUTOINCREMENT`.
    AutoIncrement,
    /// SQLite `INTEGER PRIMARY KEY`: an alias of the rowid.
    Rowid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generated {
    pub expression: String,
    pub stored: bool,
}

/// Dialect-specific facts about a column that have no neutral meaning but must survive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnExtra {
    /// MySQL `ON UPDATE CURRENT_TIMESTAMP`.
    OnUpdateCurrentTimestamp,
    /// PostgreSQL: the column is declared with this domain; its type is the domain's base.
    Domain { name: String, checks: Vec<String> },
    /// A collation other than the table's default.
    Collation(String),
    /// MySQL: the character set of a text column when it differs from utf8mb4.
    Charset(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub name: String,
    /// Column names, or for an expression index the expression text of that part.
    pub columns: Vec<IndexPart>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    /// The `WHERE` clause of a partial index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// Access method when not the engine's default B-tree (`gin`, `hash`, `fulltext`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IndexPart {
    Column(String),
    Expression { expression: String },
}

impl IndexPart {
    /// The column names, when every part is a plain column (what a unique constraint
    /// can be made of); `None` when any part is an expression.
    pub fn plain_columns(parts: &[IndexPart]) -> Option<Vec<String>> {
        parts
            .iter()
            .map(|p| match p {
                IndexPart::Column(c) => Some(c.clone()),
                IndexPart::Expression { .. } => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced_columns: Vec<String>,
    #[serde(default, skip_serializing_if = "ReferentialAction::is_default")]
    pub on_delete: ReferentialAction,
    #[serde(default, skip_serializing_if = "ReferentialAction::is_default")]
    pub on_update: ReferentialAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferentialAction {
    #[default]
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl ReferentialAction {
    fn is_default(&self) -> bool {
        *self == ReferentialAction::NoAction
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    pub expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// A PostgreSQL materialized view (its rows are stored; `REFRESH` recomputes them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub materialized: bool,
    /// Tables and views of the same schema its definition reads, by name order: views
    /// are created after what they read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

impl Schema {
    pub fn new(dialect: Dialect, name: impl Into<String>) -> Schema {
        Schema {
            dialect,
            name: name.into(),
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            enums: BTreeMap::new(),
            domains: BTreeMap::new(),
            objects: Vec::new(),
        }
    }

    /// Puts every order-free collection in a canonical order, so output is byte-stable
    /// whatever order the catalog answered in.
    pub fn normalize(&mut self) {
        for table in self.tables.values_mut() {
            table.unique.sort();
            table.unique.dedup();
            table.indexes.sort();
            table.indexes.dedup();
            table.foreign_keys.sort();
            table.checks.sort();
            table.checks.dedup();
            table.exclusions.sort();
            table.partitions.sort();
            for p in &mut table.partitions {
                p.foreign_keys.sort();
                p.indexes.sort();
            }
        }
        for view in self.views.values_mut() {
            view.depends_on.sort();
            view.depends_on.dedup();
        }
        self.objects.sort();
        self.objects.dedup();
    }

    /// Every column whose type seaway carries but cannot convert: `(table, column, native)`.
    pub fn other_types(&self) -> Vec<(&str, &str, &str)> {
        let mut out = Vec::new();
        for (tname, table) in &self.tables {
            for col in &table.columns {
                if let Some(native) = innermost_other(&col.ty) {
                    out.push((tname.as_str(), col.name.as_str(), native));
                }
            }
        }
        out
    }

    pub fn summary(&self) -> Summary {
        let tables = &self.tables;
        Summary {
            tables: tables.len(),
            views: self.views.len(),
            columns: tables.values().map(|t| t.columns.len()).sum(),
            foreign_keys: tables.values().map(|t| t.foreign_keys.len()).sum(),
            indexes: tables
                .values()
                .map(|t| t.indexes.len() + t.unique.len())
                .sum(),
            enums: self.enums.len(),
            other_types: self.other_types().len(),
        }
    }
}

fn innermost_other(ty: &NeutralType) -> Option<&str> {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "only `other` (and arrays of it) carry a native name; every other type has none"
    )]
    match ty {
        NeutralType::Other { native } => Some(native),
        NeutralType::Array(inner) => innermost_other(inner),
        _ => None,
    }
}

/// Counts printed after introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub tables: usize,
    pub views: usize,
    pub columns: usize,
    pub foreign_keys: usize,
    pub indexes: usize,
    pub enums: usize,
    pub other_types: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tables, {} columns, {} foreign keys, {} indexes, {} views, {} enums, {} other types",
            self.tables,
            self.columns,
            self.foreign_keys,
            self.indexes,
            self.views,
            self.enums,
            self.other_types
        )
    }
}
