//! The capture roles of each engine, behind one dispatch: the setup that is checked and
//! made on the source before streaming (`Setup`), and the open stream (`Capture`).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::change::{Event, Mark, Position, Selection};
use super::error::SyncError;
use super::read_view::ReadView;
pub use super::slot::SourceState;
use crate::engine::mysql::capture::{self as my, MyCapture};
use crate::engine::postgres::capture::{self as pg, PgCapture};
use crate::engine::sqlite::capture::{self as lite, LiteCapture};
use crate::rows::source::{Rows, Source};
use seaway_codegen::config::Connection;
use seaway_codegen::model::Dialect;
use std::time::Duration;

/// What a sync works with on its source.
#[derive(Debug, Clone)]
pub enum Setup {
    Postgres {
        conn: Connection,
        names: pg::Names,
    },
    /// A SQLite source, with a writable pool for its triggers and change table.
    Sqlite {
        conn: Connection,
        name: String,
        pool: sqlx::SqlitePool,
    },
    /// A MySQL/MariaDB source; `name` is its watermark table's.
    Mysql {
        conn: Connection,
        name: String,
    },
}

/// The MySQL pool of a MySQL/MariaDB source.
fn my_pool<'s>(source: &'s Source, conn: &Connection) -> Result<&'s sqlx::MySqlPool, SyncError> {
    source.mysql().ok_or_else(|| SyncError::Source {
        connection: conn.name.clone(),
        what: "opening the source".into(),
        reason: "not a MySQL/MariaDB connection".into(),
    })
}

/// The PostgreSQL pool of a PostgreSQL source.
fn pg_pool<'s>(source: &'s Source, conn: &Connection) -> Result<&'s sqlx::PgPool, SyncError> {
    source.postgres().ok_or_else(|| SyncError::Source {
        connection: conn.name.clone(),
        what: "opening the source".into(),
        reason: "not a PostgreSQL connection".into(),
    })
}

/// The name of the sync from `source_conn` into `dest_conn` (`Setup::name`), without
/// opening anything: its slot's, change table's or watermark table's.
pub fn stream_name(source_conn: &Connection, dest_conn: &Connection) -> String {
    let slot = pg::names(source_conn, dest_conn).slot;
    let prefixed = |prefix: &str| format!("{prefix}{}", slot.trim_start_matches("seaway_"));
    match source_conn.url.dialect() {
        Dialect::Postgres => slot,
        Dialect::Sqlite => prefixed(seaway_codegen::diff::CHANGE_TABLE_PREFIX),
        Dialect::Mysql => prefixed(seaway_codegen::diff::WATERMARK_TABLE_PREFIX),
    }
}

impl Setup {
    /// The setup for a sync from `source_conn` into `dest_conn`, without checking the
    /// source (`sync status`, `sync drop`).
    pub async fn of(source_conn: &Connection, dest_conn: &Connection) -> Result<Setup, SyncError> {
        let dialect = source_conn.url.dialect();
        let name = stream_name(source_conn, dest_conn);
        match dialect {
            Dialect::Postgres => Ok(Setup::Postgres {
                conn: source_conn.clone(),
                names: pg::names(source_conn, dest_conn),
            }),
            Dialect::Sqlite => Ok(Setup::Sqlite {
                conn: source_conn.clone(),
                pool: seaway_codegen::inspect::connect::sqlite_writable(source_conn, false).await?,
                name,
            }),
            Dialect::Mysql => Ok(Setup::Mysql {
                conn: source_conn.clone(),
                name,
            }),
        }
    }

    /// [`Setup::of`], after checking that the source's settings and privileges allow
    /// capturing `selection` (nothing is created yet).
    pub async fn check(
        source_conn: &Connection,
        dest_conn: &Connection,
        source: &Source,
        selection: &Selection,
    ) -> Result<Setup, SyncError> {
        let setup = Setup::of(source_conn, dest_conn).await?;
        match &setup {
            Setup::Postgres { conn, names } => {
                pg::check(pg_pool(source, conn)?, conn, names, selection).await?;
            }
            Setup::Sqlite { .. } => lite::check(selection)?,
            Setup::Mysql { conn, .. } => my::check(my_pool(source, conn)?, conn, selection).await?,
        }
        Ok(setup)
    }

    /// The sync's name: its slot's or change table's, and its row's in the destination.
    pub fn name(&self) -> &str {
        match self {
            Setup::Postgres { names, .. } => &names.slot,
            Setup::Sqlite { name, .. } | Setup::Mysql { name, .. } => name,
        }
    }

    /// What sync keeps on the source, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Setup::Postgres { .. } => "replication slot",
            Setup::Sqlite { .. } => "change table",
            Setup::Mysql { .. } => "watermark table",
        }
    }

    /// What the source keeps for the sync.
    pub async fn slot(&self, source: &Source) -> Result<SourceState, SyncError> {
        match self {
            Setup::Postgres { conn, names } => {
                pg::status(pg_pool(source, conn)?, conn, names).await
            }
            Setup::Sqlite { conn, name, pool } => lite::status(pool, conn, name).await,
            Setup::Mysql { conn, name } => my::status(my_pool(source, conn)?, conn, name).await,
        }
    }

    /// Removes what sync made on the source; returns what there was.
    pub async fn remove(&self, source: &Source) -> Result<Vec<String>, SyncError> {
        match self {
            Setup::Postgres { conn, names } => {
                pg::drop_all(pg_pool(source, conn)?, conn, names).await
            }
            Setup::Sqlite { conn, name, pool } => lite::drop_all(pool, conn, name).await,
            Setup::Mysql { conn, name } => my::drop_all(my_pool(source, conn)?, conn, name).await,
        }
    }

    /// Creates (or brings up to date) what capture needs on the source; whether the
    /// stream starts now (a new slot or change table).
    pub async fn prepare(&self, source: &Source, selection: &Selection) -> Result<bool, SyncError> {
        match self {
            Setup::Postgres { conn, names } => {
                Ok(pg::prepare(pg_pool(source, conn)?, conn, names, selection)
                    .await?
                    .created)
            }
            Setup::Sqlite { conn, name, pool } => lite::prepare(pool, conn, name, selection).await,
            Setup::Mysql { conn, name } => my::prepare(my_pool(source, conn)?, conn, name).await,
        }
    }

    /// Writes a copy watermark into the source's stream.
    pub async fn watermark(
        &self,
        source: &Source,
        mark: Mark,
        chunk: u64,
    ) -> Result<(), SyncError> {
        match self {
            Setup::Postgres { conn, names } => {
                pg::watermark(pg_pool(source, conn)?, conn, names, mark, chunk).await
            }
            Setup::Sqlite { conn, name, pool } => {
                lite::watermark(pool, conn, name, mark, chunk).await
            }
            Setup::Mysql { conn, name } => {
                my::watermark(my_pool(source, conn)?, conn, name, mark, chunk).await
            }
        }
    }

    /// Reads one chunk of the initial copy (`sql` with text `params`), with what the
    /// read saw of the source's transactions (`read_view.rs` says why PostgreSQL needs
    /// its snapshot and the others do not).
    pub async fn read_chunk(
        &self,
        source: &Source,
        sql: &str,
        params: &[String],
        what: &str,
    ) -> Result<(Rows, ReadView), SyncError> {
        let failed = |conn: &Connection, e: sqlx::Error| SyncError::Source {
            connection: conn.name.clone(),
            what: what.to_string(),
            reason: conn.url.scrub(&e.to_string()),
        };
        match self {
            Setup::Postgres { conn, .. } => pg::read_chunk(pg_pool(source, conn)?, sql, params)
                .await
                .map_err(|e| failed(conn, e)),
            Setup::Sqlite { conn, .. } | Setup::Mysql { conn, .. } => source
                .rows(sql, params)
                .await
                .map(|rows| (rows, ReadView::StreamOrder))
                .map_err(|e| failed(conn, e)),
        }
    }

    pub async fn close(self) {
        match self {
            Setup::Postgres { .. } | Setup::Mysql { .. } => {}
            Setup::Sqlite { pool, .. } => pool.close().await,
        }
    }
}

/// An open change stream.
#[derive(Debug)]
pub enum Capture {
    Postgres(Box<PgCapture>),
    Sqlite(Box<LiteCapture>),
    Mysql(Box<MyCapture>),
}

impl Capture {
    /// Opens the stream; `source` is the plain connection to the same source (its
    /// catalog is read when a relation changes under the stream). `skip_origin`: a sync
    /// both ways from PostgreSQL, the origin of the other stream's applying session,
    /// whose transactions are dropped (SQLite and MySQL sources tell them by a marker
    /// row the selection names: `Selection::incoming`).
    pub async fn open(
        setup: &Setup,
        source: &Source,
        selection: &Selection,
        known: Vec<Vec<String>>,
        resume: Option<&Position>,
        skip_origin: Option<&str>,
    ) -> Result<Capture, SyncError> {
        match setup {
            Setup::Postgres { conn, names } => Ok(Capture::Postgres(Box::new(
                PgCapture::open(
                    conn,
                    pg_pool(source, conn)?.clone(),
                    names,
                    selection,
                    known,
                    resume,
                    skip_origin,
                )
                .await?,
            ))),
            Setup::Sqlite { conn, name, pool } => Ok(Capture::Sqlite(Box::new(LiteCapture::open(
                pool.clone(),
                conn,
                name,
                selection,
                known,
                resume,
            )))),
            Setup::Mysql { conn, name } => Ok(Capture::Mysql(Box::new(
                MyCapture::open(
                    conn,
                    my_pool(source, conn)?.clone(),
                    name,
                    selection,
                    known,
                    resume,
                )
                .await?,
            ))),
        }
    }

    /// The next event, waiting at most `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Event>, SyncError> {
        match self {
            Capture::Postgres(c) => c.next(wait).await,
            Capture::Sqlite(c) => c.next(wait).await,
            Capture::Mysql(c) => c.next(wait).await,
        }
    }

    /// Everything up to `position` is applied in the destination.
    pub fn confirm(&mut self, position: &Position) {
        match self {
            Capture::Postgres(c) => c.confirm(position),
            Capture::Sqlite(c) => c.confirm(position),
            Capture::Mysql(c) => c.confirm(position),
        }
    }

    pub async fn close(self) {
        match self {
            Capture::Postgres(c) => c.close().await,
            Capture::Sqlite(c) => c.close().await,
            Capture::Mysql(c) => c.close().await,
        }
    }
}
