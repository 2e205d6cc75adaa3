//! Destination side: bulk upserts, one module per dialect, matched on the primary key,
//! so a page written twice (a resumed or repeated run) leaves one row.

mod mysql;
pub(crate) mod postgres;
mod sqlite;

use super::values::Family;
use seaway_codegen::model::{Dialect, NeutralType};

/// A destination column being written, with the family of the source value feeding it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub ty: NeutralType,
    /// The destination's DDL type (for PostgreSQL staging tables).
    pub native: String,
    pub source: Family,
    pub is_key: bool,
}

/// An open destination writer.
pub enum Writer {
    Postgres(postgres::PgWriter),
    Mysql(mysql::MyWriter),
    Sqlite(sqlite::LiteWriter),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    pub async fn open(
        conn: &seaway_codegen::config::Connection,
    ) -> Result<Writer, seaway_codegen::inspect::ConnectError> {
        use seaway_codegen::inspect::connect;
        Ok(match conn.url.dialect() {
            Dialect::Postgres => {
                let schema = conn.schema.clone().unwrap_or_else(|| "public".into());
                Writer::Postgres(postgres::PgWriter(
                    connect::postgres(conn, &format!("\"{}\"", schema.replace('"', "\"\"")))
                        .await?,
                ))
            }
            Dialect::Mysql => Writer::Mysql(mysql::MyWriter(connect::mysql(conn).await?)),
            Dialect::Sqlite => Writer::Sqlite(sqlite::LiteWriter(
                connect::sqlite_writable(conn, false).await?,
            )),
        })
    }

    /// Upserts `rows` (canonical text, in `targets` order) into `table`; returns rows written.
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.upsert(table, targets, rows).await,
            Writer::Mysql(w) => w.upsert(table, targets, rows).await,
            Writer::Sqlite(w) => w.upsert(table, targets, rows).await,
        }
    }

    /// Whether a plain load can go into the key range `(lo, hi]` of `table` (see
    /// `PgWriter::range_is_empty`). Only PostgreSQL has a faster path for it (a plain
    /// `COPY` against staging + `ON CONFLICT`); the others answer `false` without asking.
    pub async fn range_is_empty(
        &self,
        table: &str,
        key: Option<&str>,
        range: (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.range_is_empty(table, key, range).await,
            _ => Ok(false),
        }
    }

    /// Inserts rows whose keys the destination does not hold (checked by
    /// `range_is_empty`); where no faster path exists, this is `upsert`.
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.insert_fresh(table, targets, rows).await,
            _ => self.upsert(table, targets, rows).await,
        }
    }

    /// The pool, when the destination is PostgreSQL (for `COPY ... FROM STDIN`).
    pub fn postgres(&self) -> Option<&sqlx::PgPool> {
        match self {
            Writer::Postgres(w) => Some(&w.0),
            _ => None,
        }
    }

    /// After a table is loaded: move identity sequences past the loaded keys.
    pub async fn finish_table(&self, table: &str, targets: &[Target]) -> Result<(), sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.finish_table(table, targets).await,
            _ => Ok(()),
        }
    }

    pub async fn close(self) {
        match self {
            Writer::Postgres(w) => w.0.close().await,
            Writer::Mysql(w) => w.0.close().await,
            Writer::Sqlite(w) => w.0.close().await,
        }
    }
}

/// Converts a canonical value for a destination whose input syntax differs; `None` in,
/// `None` out. Each dialect's module owns its own conversions (`input`); what is left
/// is common to all.
pub fn for_destination(dialect: Dialect, target: &Target, value: Option<&str>) -> Option<String> {
    let v = value?;
    let own = match dialect {
        Dialect::Postgres => postgres::input(target, v),
        Dialect::Mysql => mysql::input(target, v),
        Dialect::Sqlite => sqlite::input(target, v),
    };
    Some(
        own.unwrap_or_else(|| match (target.source, Family::of(&target.ty)) {
            (Family::Set, Family::Json) => super::values::set_to_json_array(v),
            _ => v.to_string(),
        }),
    )
}

/// Columns to update on conflict: every target that is not part of the key.
fn non_keys(targets: &[Target]) -> impl Iterator<Item = &Target> {
    targets.iter().filter(|t| !t.is_key)
}
