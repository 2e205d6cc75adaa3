//! What differs between engines when rendering changes: each engine home's
//! `plan.rs` implements these.

use crate::model::{Column, DefaultValue, Dialect, Domain, NeutralType, Partition};
use sea_query::Expr;

/// What differs between dialects when rendering; one implementation per engine, in
/// `engine/<name>/plan.rs`.
pub(crate) trait DialectPlan {
    fn dialect(&self) -> Dialect;
    /// Renders any sea-query schema statement in this dialect.
    fn build(&self, stmt: &dyn Buildable) -> String;
    /// `CREATE TYPE` for an enum (PostgreSQL only).
    fn create_enum(&self, _name: &str, _labels: &[String]) -> Option<String> {
        None
    }
    fn add_enum_labels(&self, _name: &str, _labels: &[String]) -> Vec<String> {
        Vec::new()
    }
    /// `CREATE DOMAIN` (PostgreSQL only; `target` carries domains only there).
    fn create_domain(&self, _name: &str, _domain: &Domain) -> Option<String> {
        None
    }
    /// The clause making `CREATE TABLE` partitioned, and the statement creating one
    /// partition (PostgreSQL only; `target` carries partitioning only there).
    fn partition_by(&self, _key: &str) -> Option<String> {
        None
    }
    fn create_partition(&self, _table: &str, _partition: &Partition) -> Option<String> {
        None
    }
    /// SQL changing a column to `column`'s type (its nullability and default unchanged).
    fn widen(&self, table: &str, column: &Column) -> String;
    fn relax_not_null(&self, table: &str, column: &Column) -> String;
    /// Foreign keys go inside `CREATE TABLE` (SQLite cannot add them later).
    fn inline_foreign_keys(&self) -> bool {
        false
    }
    /// Extra clause for an identity column, if the dialect can express it here.
    fn identity(&self, column: &Column, sole_primary_key: bool) -> Option<&'static str>;
    /// The identity clause declares the primary key itself (SQLite's `PRIMARY KEY
    /// AUTOINCREMENT` must be a column constraint), so `CREATE TABLE` must not repeat it.
    fn identity_declares_primary_key(&self) -> bool {
        false
    }
    /// Table options (engine, charset).
    fn table_options(&self, _create: &mut sea_query::TableCreateStatement) {}
    /// `CURRENT_DATE`-like defaults in this dialect's spelling.
    fn now_default(&self, value: &DefaultValue, ty: &NeutralType) -> Expr;
    /// Quotes an identifier for hand-written SQL.
    fn quote(&self, name: &str) -> String;
}

/// The sea-query statements we render, behind one object-safe interface.
pub(crate) trait Buildable {
    fn postgres(&self) -> String;
    fn mysql(&self) -> String;
    fn sqlite(&self) -> String;
}

macro_rules! buildable {
    ($($t:ty),*) => {$(
        impl Buildable for $t {
            fn postgres(&self) -> String { self.to_string(sea_query::PostgresQueryBuilder) }
            fn mysql(&self) -> String { self.to_string(sea_query::MysqlQueryBuilder) }
            fn sqlite(&self) -> String { self.to_string(sea_query::SqliteQueryBuilder) }
        }
    )*};
}
buildable!(
    sea_query::TableCreateStatement,
    sea_query::TableAlterStatement
);
