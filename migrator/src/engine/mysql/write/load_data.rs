//! The first load of an empty key range into MySQL/MariaDB: rows streamed from memory
//! through `LOAD DATA LOCAL INFILE`, one statement and one transaction per chunk (or
//! page), instead of a staging table and a merge per page.
//!
//! Why `mysql_async` and not sqlx: sqlx (0.9) has no local-infile handler, so a
//! `LOAD DATA LOCAL` sent through it fails. `mysql_async` lets a connection serve one
//! `LOAD DATA LOCAL` with a stream set for it alone (`Conn::set_infile_handler`): the
//! server's request names a file, and the name is ignored; no global handler is
//! installed, so a server can never make seaway read a file of its choosing, and the
//! statement is only ever answered with the rows seaway opened it for.
//!
//! `LOAD DATA LOCAL` behaves as `IGNORE`: a value the column cannot hold is coerced
//! (NULL to 0, a long text cut) and a duplicate key skipped, each with only a warning,
//! whatever the `sql_mode`. So every statement runs in its own transaction and is kept
//! only when the server reports no warning at all and took exactly the rows sent (the OK
//! packet's warning count is the whole count, not the `max_error_count`-capped list);
//! otherwise it is rolled back and the caller writes the rows by the upsert path, which
//! refuses the bad rows one by one into the reject file. Only InnoDB tables qualify: a
//! MyISAM or Aria table cannot roll back.
//!
//! The session is the sqlx writer's: `sql_mode` [`MYSQL_SQL_MODE`] (`NO_AUTO_VALUE_ON_ZERO`
//! keeps key 0), `time_zone` `+00:00` (TIMESTAMP columns take UTC), `utf8mb4` for the
//! connection and the data.

use super::convert::{binary, input, placeholder};
use crate::rows::plan::Target;
use crate::rows::values::copy_escape;
use crate::rows::write::sql::common_input;
use crate::rows::write::statements::Statements;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use mysql_async::prelude::Queryable;
use seaway_codegen::config::Connection;
use seaway_codegen::engine::quote_ident as quote;
use seaway_codegen::inspect::connect::MYSQL_SQL_MODE;
use seaway_codegen::model::Dialect;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The server's error codes for "LOAD DATA LOCAL is not allowed": 1148 (MariaDB and
/// older MySQL, `local_infile` off) and 3948 (MySQL 8).
const NOT_ALLOWED: [u16; 2] = [1148, 3948];

/// A destination's `LOAD DATA LOCAL INFILE` path: a small `mysql_async` pool whose
/// sessions are set up as the sqlx writer's.
#[derive(Debug)]
pub struct LoadData {
    pool: mysql_async::Pool,
    /// The pool's size: sessions that may load at once.
    sessions: usize,
    /// Per table: whether it can take a load (InnoDB), asked once.
    tables: Mutex<HashMap<String, bool>>,
    /// Set when the server refused a `LOAD DATA LOCAL` after all: later chunks go by
    /// the upsert at once.
    refused: AtomicBool,
}

/// Why a load was not kept; the range is as empty as before either way, and the caller
/// writes the rows by the upsert path.
#[derive(Debug, thiserror::Error)]
pub enum Declined {
    #[error(
        "the server reported {warnings} warning(s) and took {affected} of {sent} rows (first: {first}); rolled back"
    )]
    Warned {
        warnings: u64,
        affected: u64,
        sent: u64,
        first: String,
    },
    #[error("a value cannot travel as LOAD DATA text (column `{0}` is not hex bytes)")]
    Unencodable(String),
    #[error("the table is not InnoDB, so a load with warnings could not be rolled back")]
    NotTransactional,
    #[error("LOAD DATA LOCAL INFILE failed: {0}")]
    Failed(String),
}

/// Whether a server's `@@local_infile` lets seaway load with `LOAD DATA LOCAL INFILE`;
/// if not, the note to print once, naming the setting and the fix.
pub fn availability(local_infile: Option<i64>, endpoint: &str) -> Result<(), String> {
    match local_infile {
        Some(1) => Ok(()),
        _ => Err(format!(
            "MySQL/MariaDB at {endpoint} has local_infile=OFF, so transfer writes first loads by the slower staging-table upsert instead of LOAD DATA LOCAL INFILE; \
             `SET GLOBAL local_infile = 1` (or local_infile=1 under [mysqld] in its configuration) lets it stream them"
        )),
    }
}

impl LoadData {
    /// Opens the path for `conn`'s server, with at most `connections` sessions; `Err(note)`
    /// when it cannot be used (the server's `local_infile` is off, or `mysql_async` cannot
    /// connect where sqlx could), with the note to print once.
    pub async fn open(conn: &Connection, connections: usize) -> Result<LoadData, String> {
        let endpoint = conn.url.endpoint().unwrap_or("?").to_string();
        let unreachable = |e: &dyn std::fmt::Display| {
            format!(
                "MySQL/MariaDB at {endpoint}: transfer writes first loads by the staging-table upsert, because its LOAD DATA LOCAL INFILE connection failed: {}",
                conn.url.scrub(&e.to_string())
            )
        };
        let (opts, tls) = super::super::native_opts(conn).map_err(|e| unreachable(&e))?;
        let setup = format!(
            "SET SESSION sql_mode = '{MYSQL_SQL_MODE}', time_zone = '+00:00', \
             character_set_client = utf8mb4, character_set_connection = utf8mb4, character_set_results = utf8mb4"
        );
        let pool_opts = mysql_async::PoolOpts::default().with_constraints(
            mysql_async::PoolConstraints::new(0, connections.max(1)).unwrap_or_default(),
        );
        let build = |o: mysql_async::OptsBuilder| {
            mysql_async::Pool::new(o.setup(vec![setup.clone()]).pool_opts(pool_opts.clone()))
        };
        let mut pool = build(opts.clone());
        let mut probe = tokio::time::timeout(conn.connect_timeout, pool.get_conn()).await;
        if tls == super::super::Tls::Preferred
            && matches!(&probe, Ok(Err(e)) if super::super::server_lacks_tls(e))
        {
            pool.disconnect().await.ok();
            pool = build(super::super::without_tls(opts));
            probe = tokio::time::timeout(conn.connect_timeout, pool.get_conn()).await;
        }
        let mut c = match probe {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(unreachable(&e)),
            Err(_) => return Err(unreachable(&"no answer within the connect timeout")),
        };
        let on: Option<i64> = c
            .query_first("SELECT @@local_infile")
            .await
            .map_err(|e| unreachable(&e))?;
        drop(c);
        availability(on, &endpoint)?;
        Ok(LoadData {
            pool,
            sessions: connections.max(1),
            tables: Mutex::new(HashMap::new()),
            refused: AtomicBool::new(false),
        })
    }

    /// Sessions that may load at once (each holds one for its whole statement).
    pub fn sessions(&self) -> usize {
        self.sessions
    }

    /// Whether `table` can take a load: InnoDB (the only engine that rolls a load with
    /// warnings back), and the server has not refused `LOAD DATA LOCAL`. Asked once per
    /// table; an error answers `false` (the upsert path).
    pub async fn takes(&self, table: &str) -> bool {
        if self.refused.load(Ordering::Relaxed) {
            return false;
        }
        if let Some(known) = self.tables.lock().ok().and_then(|t| t.get(table).copied()) {
            return known;
        }
        let engine: Option<String> = match self.pool.get_conn().await {
            Ok(mut c) => c
                .exec_first(
                    "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                    (table,),
                )
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let takes = engine.is_some_and(|e| e.eq_ignore_ascii_case("InnoDB"));
        if let Ok(mut t) = self.tables.lock() {
            t.insert(table.to_string(), takes);
        }
        takes
    }

    /// Loads the rows `data` streams (LOAD DATA text: [`value`] per column, tabs between,
    /// a newline after each row) into `table`'s `targets`, in one transaction, kept only
    /// if the server warned about nothing and took exactly `sent()` rows (`sent` is asked
    /// once the stream has ended). Returns the rows the table took.
    pub async fn load(
        &self,
        table: &str,
        targets: &[Target],
        data: BoxStream<'static, std::io::Result<Bytes>>,
        sent: &dyn Fn() -> u64,
    ) -> Result<u64, Declined> {
        let mut tx = self.begin().await?;
        match tx.load(table, targets, data, sent).await {
            Ok(n) => {
                tx.end("COMMIT").await.map_err(|e| self.failed(e))?;
                Ok(n)
            }
            Err(e) => {
                // Should the rollback fail too, the connection's reset on its way back
                // to the pool rolls back.
                let _ = tx.end("ROLLBACK").await;
                Err(e)
            }
        }
    }

    /// Opens a transaction on one of the path's sessions, in which [`LoadTx::load`]
    /// loads and other statements run (a leased page passes the destination's fence and
    /// records its chunk's position in it: `transfer/leased.rs`).
    pub async fn begin(&self) -> Result<LoadTx<'_>, Declined> {
        let mut conn = self.pool.get_conn().await.map_err(|e| self.failed(e))?;
        conn.query_drop("START TRANSACTION")
            .await
            .map_err(|e| self.failed(e))?;
        Ok(LoadTx { path: self, conn })
    }

    /// A driver error as a declined load; a server that refuses `LOAD DATA LOCAL` is
    /// remembered, so later chunks go by the upsert at once.
    fn failed(&self, e: mysql_async::Error) -> Declined {
        if let mysql_async::Error::Server(s) = &e
            && NOT_ALLOWED.contains(&s.code)
        {
            self.refused.store(true, Ordering::Relaxed);
        }
        Declined::Failed(e.to_string())
    }

    /// Loads `rows` (canonical text, in `targets` order) as one statement; see [`load`].
    pub async fn load_rows(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<u64, Declined> {
        if !self.takes(table).await {
            return Err(Declined::NotTransactional);
        }
        let text = encode_rows(targets, rows)?;
        let data = futures_util::stream::once(async move { Ok(Bytes::from(text.into_bytes())) });
        let n = rows.len() as u64;
        self.load(table, targets, data.boxed(), &|| n).await
    }

    pub async fn close(self) {
        self.pool.disconnect().await.ok();
    }
}

/// A transaction on one `LOAD DATA` session ([`LoadData::begin`]): loads, and any other
/// statement (`rows::write::Statements`), commit or roll back together. Dropped without
/// either, the session's reset on its way back to the pool rolls it back.
pub struct LoadTx<'a> {
    path: &'a LoadData,
    conn: mysql_async::Conn,
}

impl std::fmt::Debug for LoadTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoadTx")
    }
}

impl LoadTx<'_> {
    /// Loads the rows `data` streams (see [`LoadData::load`]) inside this transaction;
    /// `Err` when the server warned or took other than `sent()` rows: the caller must
    /// roll back, or the coerced rows would stay.
    pub async fn load(
        &mut self,
        table: &str,
        targets: &[Target],
        data: BoxStream<'static, std::io::Result<Bytes>>,
        sent: &dyn Fn() -> u64,
    ) -> Result<u64, Declined> {
        // The handler must be `Sync`, the stream is only `Send`: a mutex makes it so.
        let data = Mutex::new(data);
        self.conn.set_infile_handler(async move {
            data.into_inner()
                .map_err(|_| std::io::Error::other("the LOAD DATA stream was poisoned").into())
        });
        // A stream that ended with an error still ends the file, and the server loads
        // what it got: the caller rolls it back.
        self.conn
            .query_drop(statement(table, targets))
            .await
            .map_err(|e| self.path.failed(e))?;
        let affected = self.conn.affected_rows();
        let warnings = u64::from(self.conn.get_warnings()).max(warnings_in(&self.conn.info()));
        let sent = sent();
        if warnings == 0 && affected == sent {
            return Ok(affected);
        }
        let first: Option<(String, u32, String)> = self
            .conn
            .query_first("SHOW WARNINGS LIMIT 1")
            .await
            .ok()
            .flatten();
        Err(Declined::Warned {
            warnings,
            affected,
            sent,
            first: first
                .map(|(level, code, message)| format!("{level} {code}: {message}"))
                .unwrap_or_else(|| "not listed".into()),
        })
    }

    /// Loads `rows` (canonical text, in `targets` order) as one statement inside this
    /// transaction; see [`LoadTx::load`].
    pub async fn load_rows(
        &mut self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<u64, Declined> {
        if !self.path.takes(table).await {
            return Err(Declined::NotTransactional);
        }
        let text = encode_rows(targets, rows)?;
        let data = futures_util::stream::once(async move { Ok(Bytes::from(text.into_bytes())) });
        let n = rows.len() as u64;
        self.load(table, targets, data.boxed(), &|| n).await
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    async fn end(mut self, how: &str) -> Result<(), mysql_async::Error> {
        self.conn.query_drop(how).await
    }
}

/// A `mysql_async` error as sqlx's, for callers that speak [`Statements`].
fn as_sqlx(e: mysql_async::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the LOAD DATA session: {e}"))
}

impl Statements for LoadTx<'_> {
    fn engine(&self) -> Dialect {
        Dialect::Mysql
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        self.end("COMMIT").await.map_err(as_sqlx)
    }

    async fn rollback(self) -> Result<(), sqlx::Error> {
        self.end("ROLLBACK").await.map_err(as_sqlx)
    }

    async fn execute(&mut self, sql: &str, params: &[Option<String>]) -> Result<u64, sqlx::Error> {
        let params: Vec<mysql_async::Value> = params
            .iter()
            .map(|p| match p {
                Some(v) => mysql_async::Value::Bytes(v.clone().into_bytes()),
                None => mysql_async::Value::NULL,
            })
            .collect();
        self.conn
            .exec_drop(sql, mysql_async::Params::Positional(params))
            .await
            .map_err(as_sqlx)?;
        Ok(self.conn.affected_rows())
    }

    async fn texts(
        &mut self,
        sql: &str,
        params: &[String],
    ) -> Result<crate::rows::source::Rows, sqlx::Error> {
        let params: Vec<mysql_async::Value> = params
            .iter()
            .map(|v| mysql_async::Value::Bytes(v.clone().into_bytes()))
            .collect();
        let rows: Vec<mysql_async::Row> = self
            .conn
            .exec(sql, mysql_async::Params::Positional(params))
            .await
            .map_err(as_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => None,
                        mysql_async::Value::Bytes(b) => {
                            Some(String::from_utf8_lossy(&b).into_owned())
                        }
                        // The fence's queries cast every column to text; a server
                        // that still sends a number or a date is read as its literal.
                        other @ (mysql_async::Value::Int(_)
                        | mysql_async::Value::UInt(_)
                        | mysql_async::Value::Float(_)
                        | mysql_async::Value::Double(_)
                        | mysql_async::Value::Date(..)
                        | mysql_async::Value::Time(..)) => {
                            Some(other.as_sql(true).trim_matches('\'').to_string())
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

/// The `Warnings: n` of a `LOAD DATA` info string (`Records: 3  Deleted: 0  Skipped: 0
/// Warnings: 0`), 0 when absent: the OK packet's count is 16 bits, this one is not.
fn warnings_in(info: &str) -> u64 {
    info.split("Warnings:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `LOAD DATA LOCAL INFILE` for the targets' columns. Values arrive as [`value`] wrote
/// them; bytes as hex into a variable that `UNHEX` turns back into the bytes, bit strings
/// through `CONV` (as the upsert's placeholders do).
pub fn statement(table: &str, targets: &[Target]) -> String {
    let q = |n: &str| quote(Dialect::Mysql, n);
    let mut columns = Vec::with_capacity(targets.len());
    let mut sets = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let convert = if binary(t) {
            "UNHEX(?)"
        } else {
            placeholder(t)
        };
        if convert == "?" {
            columns.push(q(&t.name));
        } else {
            let var = format!("@seaway_{i}");
            sets.push(format!("{} = {}", q(&t.name), convert.replace('?', &var)));
            columns.push(var);
        }
    }
    // MariaDB (10.11, seen) drops `NO_AUTO_VALUE_ON_ZERO` for the columns read directly
    // when the statement has a SET clause: a key of 0 in an AUTO_INCREMENT column is then
    // numbered anew, with no warning and the same row count. Through a variable, it is
    // kept. So with any SET clause, integer columns (the only ones AUTO_INCREMENT can be)
    // go through variables too.
    if !sets.is_empty() {
        for (i, t) in targets.iter().enumerate() {
            if matches!(t.ty, seaway_codegen::model::NeutralType::Int { .. })
                && columns[i] == q(&t.name)
            {
                let var = format!("@seaway_{i}");
                sets.push(format!("{} = {var}", q(&t.name)));
                columns[i] = var;
            }
        }
    }
    let set = if sets.is_empty() {
        String::new()
    } else {
        format!(" SET {}", sets.join(", "))
    };
    format!(
        "LOAD DATA LOCAL INFILE 'seaway' INTO TABLE {} CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' STARTING BY '' ({}){set}",
        q(table),
        columns.join(", ")
    )
}

/// Appends one canonical value as LOAD DATA text (the escapes are PostgreSQL `COPY`'s:
/// `\N` for NULL, `\\`, `\t`, `\n`, `\r`), converted for MySQL as the upsert converts
/// it; bytes stay hex for `UNHEX`. `false` (nothing usable appended) for a bytes value
/// that is not hex, which `UNHEX` would turn into NULL without a warning: the row must
/// take the upsert, where the server judges the text.
pub fn value(t: &Target, v: Option<&str>, out: &mut String) -> bool {
    let Some(v) = v else {
        out.push_str("\\N");
        return true;
    };
    if binary(t) {
        let hex = v.len() % 2 == 0 && v.bytes().all(|b| b.is_ascii_hexdigit());
        out.push_str(v);
        return hex;
    }
    match input(t, v).or_else(|| common_input(t, v)) {
        Some(c) => copy_escape(Some(&c), out),
        None => copy_escape(Some(v), out),
    }
    true
}

/// Rows as LOAD DATA text; refused when a value cannot travel that way.
fn encode_rows(targets: &[Target], rows: &[Vec<Option<String>>]) -> Result<String, Declined> {
    let mut text = String::with_capacity(rows.len() * 64);
    for row in rows {
        encode_row(targets, row, &mut text).map_err(Declined::Unencodable)?;
    }
    Ok(text)
}

/// Appends one row as a LOAD DATA line; `Err(column)` names a value [`value`] refused.
fn encode_row(targets: &[Target], row: &[Option<String>], out: &mut String) -> Result<(), String> {
    for (i, (t, v)) in targets.iter().zip(row).enumerate() {
        if i > 0 {
            out.push('\t');
        }
        if !value(t, v.as_deref(), out) {
            return Err(t.name.clone());
        }
    }
    out.push('\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::values::Family;
    use seaway_codegen::model::NeutralType;

    fn target(name: &str, ty: NeutralType, source: Family) -> Target {
        Target {
            name: name.into(),
            native: String::new(),
            ty,
            source,
            is_key: false,
        }
    }

    #[test]
    fn local_infile_off_is_named_with_its_fix() {
        assert_eq!(availability(Some(1), "db:3306"), Ok(()));
        for off in [Some(0), None] {
            let note = availability(off, "db:3306").expect_err("off");
            assert!(
                note.contains("db:3306")
                    && note.contains("local_infile=OFF")
                    && note.contains("SET GLOBAL local_infile = 1"),
                "{note}"
            );
        }
    }

    #[test]
    fn values_escape_as_load_data_reads_them() {
        let text = target("t", NeutralType::Text, Family::Text);
        let mut out = String::new();
        for v in [Some("a\tb\nc\\d\re"), None, Some("\\N"), Some("")] {
            assert!(value(&text, v, &mut out));
            out.push('|');
        }
        assert_eq!(out, "a\\tb\\nc\\\\d\\re|\\N|\\\\N||");
    }

    #[test]
    fn bytes_travel_as_hex_and_only_hex() {
        let bytes = target(
            "b",
            NeutralType::Binary {
                length: None,
                fixed: false,
            },
            Family::Bytes,
        );
        let mut out = String::new();
        assert!(value(&bytes, Some("00ff5c09"), &mut out));
        assert_eq!(out, "00ff5c09");
        assert!(!value(&bytes, Some("0g"), &mut String::new()));
        assert!(!value(&bytes, Some("abc"), &mut String::new()));
        let sql = statement(
            "t",
            &[
                bytes,
                target(
                    "k",
                    NeutralType::Bit {
                        length: Some(3),
                        varying: false,
                    },
                    Family::Bit,
                ),
            ],
        );
        assert!(
            sql.ends_with("(@seaway_0, @seaway_1) SET `b` = UNHEX(@seaway_0), `k` = CAST(CONV(@seaway_1, 2, 10) AS UNSIGNED)"),
            "{sql}"
        );
    }

    #[test]
    fn the_info_string_counts_warnings_beyond_16_bits() {
        assert_eq!(
            warnings_in("Records: 70000  Deleted: 0  Skipped: 0  Warnings: 70000"),
            70000
        );
        assert_eq!(warnings_in(""), 0);
    }
}
