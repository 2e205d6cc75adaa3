//! The destination as `apply` and `status` print it.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use seaway_codegen::config::Connection;
use seaway_codegen::model::Dialect;

/// The destination as printed: `` `replica` (PostgreSQL at 127.0.0.1:5432/shop) ``.
#[derive(Debug, Clone)]
pub struct Target {
    pub connection: String,
    pub engine: &'static str,
    /// `host:port/database`, or the SQLite file.
    pub location: String,
}

impl Target {
    pub(crate) fn of(conn: &Connection) -> Target {
        let (engine, location) = match conn.url.dialect() {
            Dialect::Postgres => ("PostgreSQL", server_location(conn)),
            Dialect::Mysql => ("MySQL/MariaDB", server_location(conn)),
            Dialect::Sqlite => (
                "SQLite",
                conn.url
                    .sqlite_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        };
        Target {
            connection: conn.name.clone(),
            engine,
            location,
        }
    }
}

fn server_location(conn: &Connection) -> String {
    let endpoint = conn.url.endpoint().unwrap_or_default();
    match conn.url.database() {
        Some(db) => format!("{endpoint}/{db}"),
        None => endpoint.to_string(),
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({} at {})",
            self.connection, self.engine, self.location
        )
    }
}
