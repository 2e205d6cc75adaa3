//! MySQL/MariaDB change capture: the binary log, read as a replica reads it, in ROW
//! format with full row images and column metadata (`binlog_row_image=FULL`,
//! `binlog_row_metadata=FULL`).
//!
//! The replication protocol (registering as a replica, `COM_BINLOG_DUMP` from a file and
//! offset, checksums, MySQL's compressed transaction payloads) is mysql_async's binlog
//! stream, and the events in it (table maps with column names, row images, queries,
//! commits, rotations) are decoded by mysql_common. Neither is written here: this module
//! turns their output into the change model (`sync::change`), with values in canonical
//! text (`values.rs`), and reads the head of DDL statements (`ddl.rs`).
//!
//! - **Transactions.** A GTID event (MariaDB's, or MySQL's before its `BEGIN` query)
//!   opens a transaction; its rows follow, each batch behind a table map; an `Xid` event
//!   (or a `COMMIT` query, for non-transactional tables) ends it. The GTID is the
//!   transaction's id in the change model.
//! - **Position.** The binlog file and the offset just past the transaction's commit
//!   event (`mariadb-bin.000003:1234`, followed by the GTID for people reading it). The
//!   stream is requested from exactly there, so a resumed run begins with the first
//!   transaction the destination does not hold. A new sync starts where the binary log
//!   stood when sync created its watermark table (recorded in that table), so a run
//!   killed before its first commit loses nothing either.
//! - **Watermarks.** MySQL has no logical messages: the copy's watermarks are updates of
//!   the one row of a small table sync creates in the source database
//!   (`seaway_watermarks_<hash>`), which reach the binary log in commit order like any
//!   row change. `sync drop` removes it.
//! - **Retention.** The server keeps binary logs by age (`binlog_expire_logs_seconds`),
//!   not for the sync: a sync whose position lies in a purged file is refused by name.
//! - **Schema changes.** Every row change's table map names the table's columns: a
//!   column the table did not have when sync started is `SyncError::ColumnAdded` (applied
//!   to the destination, then the stream restarts), one the selection has and the map
//!   lacks was either dropped (the sync stops, naming it) or added after the change was
//!   written (a resumed stream replaying older changes; the destination keeps its value).
//!   `DROP`/`RENAME TABLE` and non-additive `ALTER TABLE`s of a selected table stop sync
//!   with an error naming the table and the statement; a `TRUNCATE` of selected tables
//!   is a transaction of its own in the stream (`Event::Truncate`).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

mod ddl;
mod values;

use super::both::inbox_table;
use crate::sync::change::{
    Change, Event, Mark, Op, Position, Selection, Told, Values, clear_zero_dates,
};
use crate::sync::error::SyncError;
use crate::sync::side_types::{applying_table, edits_table};
use crate::sync::slot::SourceState;
use crate::sync::source_url;
use ddl::Statement;
use futures_util::StreamExt;
use mysql_async::binlog::events::{
    Event as BinlogEvent, EventData, OptionalMetadataField, QueryEvent, RowsEventData,
    TableMapEvent,
};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest};
use seaway_codegen::config::Connection;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use values::Labels;

/// MariaDB's GTID event (the replica asks for them with `@mariadb_slave_capability`);
/// mysql_common knows MySQL's only.
const MARIADB_GTID_EVENT: u8 = 162;
/// MariaDB's compressed query and row events (`log_bin_compress=ON`), which mysql_common
/// does not decode.
const MARIADB_COMPRESSED_EVENTS: std::ops::RangeInclusive<u8> = 165..=171;
/// MariaDB GTID flags: the event group is one statement without `BEGIN`/`COMMIT` (DDL),
/// and an XA transaction's prepared half.
const FL_STANDALONE: u8 = 1;
const FL_PREPARED_XA: u8 = 64;
/// The replica capability that makes MariaDB send its GTID events (instead of turning
/// them into `BEGIN` queries).
const MARIA_SLAVE_CAPABILITY_GTID: u8 = 4;
/// The shortest wait for the binary log's next event (`MyCapture::next`).
const READY_GRACE: Duration = Duration::from_millis(1);

/// How often an idle source sends a heartbeat, in nanoseconds.
const HEARTBEAT_NANOS: u64 = 1_000_000_000;

fn quote(name: &str) -> String {
    seaway_codegen::engine::mysql::quote_ident(name)
}

fn source_error(conn: &Connection, what: &str, e: sqlx::Error) -> SyncError {
    SyncError::Source {
        connection: conn.name.clone(),
        what: what.to_string(),
        reason: conn.url.scrub(&e.to_string()),
    }
}

/// `` `src` (MySQL/MariaDB at host:port) ``, as setting errors name the source.
fn origin(conn: &Connection) -> String {
    format!(
        "`{}` (MySQL/MariaDB at {})",
        conn.name,
        conn.url.endpoint().unwrap_or("?")
    )
}

/// The replica server id of the sync named `name`: derived from the name, so a second
/// run of the same sync takes the first one's place (the server ends the older
/// connection) and two syncs never share one; never the source's own id.
pub fn server_id(name: &str, source_id: u32) -> u32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let id = 0x4000_0000
        | (u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x3fff_ffff);
    if id == source_id { id ^ 1 } else { id }
}

/// The source's global variables among `names` (absent ones are left out).
async fn variables(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    names: &[&str],
) -> Result<HashMap<String, String>, SyncError> {
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})",
        list.join(", ")
    )))
    .fetch_all(pool)
    .await
    .map_err(|e| source_error(conn, "reading the server's settings", e))?;
    Ok(rows
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect())
}

/// Checks, before anything is created, that the source can feed a sync of `selection`:
/// the binary log on, in ROW format with full images and column metadata, uncompressed
/// events, a server id, and the replication privileges; and that no table has a
/// `where:` filter. Each refusal names the setting, its value and what fixes it.
pub async fn check(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    selection: &Selection,
) -> Result<(), SyncError> {
    refuse_misread_types(selection)?;
    if let Some(t) = selection.tables.iter().find(|t| t.filter.is_some()) {
        return Err(SyncError::Unsupported {
            table: t.source_table.clone(),
            what: format!(
                "it has a `where:` filter, which sync cannot evaluate on a MySQL/MariaDB source's binary log (a row leaving the filter would have to become a delete); remove `mappings.{}.where` or leave the table out of `tables:`",
                t.source_table
            ),
        });
    }
    let vars = variables(
        pool,
        conn,
        &[
            "log_bin",
            "binlog_format",
            "binlog_row_image",
            "binlog_row_metadata",
            "log_bin_compress",
            "binlog_row_value_options",
            "server_id",
        ],
    )
    .await?;
    let get = |n: &str| vars.get(n).cloned().unwrap_or_default();
    let setting = |name: &'static str, current: String, fix: String| SyncError::Setting {
        origin: origin(conn),
        setting: name,
        current,
        fix,
    };
    let runtime = |name: &str, value: &str| {
        format!(
            "SET GLOBAL {name} = '{value}'; and `{name} = {value}` under [mysqld] in the server's config file, so it outlives a restart (sessions already open keep the old value until they reconnect)"
        )
    };
    let log_bin = get("log_bin");
    if !matches!(log_bin.to_ascii_uppercase().as_str(), "ON" | "1") {
        return Err(setting(
            "log_bin",
            if log_bin.is_empty() { "OFF".into() } else { log_bin },
            "add `log_bin = mysql-bin` (and a `server_id = 1`) under [mysqld] in the server's config file, then restart the server: the binary log cannot be switched on while it runs".into(),
        ));
    }
    let format = get("binlog_format");
    if !format.eq_ignore_ascii_case("ROW") {
        return Err(setting(
            "binlog_format",
            format,
            runtime("binlog_format", "ROW"),
        ));
    }
    let image = get("binlog_row_image");
    if !image.eq_ignore_ascii_case("FULL") {
        return Err(setting(
            "binlog_row_image",
            image,
            runtime("binlog_row_image", "FULL"),
        ));
    }
    match vars.get("binlog_row_metadata") {
        None => {
            return Err(setting(
                "binlog_row_metadata",
                "absent (the server predates it)".into(),
                "sync reads column names from the binary log, which needs binlog_row_metadata = FULL: MariaDB 10.5 or MySQL 8.0.1 and later".into(),
            ));
        }
        Some(m) if !m.eq_ignore_ascii_case("FULL") => {
            return Err(setting(
                "binlog_row_metadata",
                m.clone(),
                runtime("binlog_row_metadata", "FULL"),
            ));
        }
        Some(_) => {}
    }
    if let Some(c) = vars.get("log_bin_compress")
        && !matches!(c.to_ascii_uppercase().as_str(), "OFF" | "0")
    {
        return Err(setting(
            "log_bin_compress",
            c.clone(),
            runtime("log_bin_compress", "OFF"),
        ));
    }
    if let Some(o) = vars.get("binlog_row_value_options")
        && !o.is_empty()
    {
        return Err(setting(
            "binlog_row_value_options",
            o.clone(),
            "SET GLOBAL binlog_row_value_options = ''; and the same under [mysqld] in the server's config file (sync needs whole JSON documents, not partial updates)".into(),
        ));
    }
    if get("server_id") == "0" {
        return Err(setting(
            "server_id",
            "0".into(),
            "SET GLOBAL server_id = 1; and `server_id = 1` under [mysqld] in the server's config file (a server with id 0 refuses replicas)".into(),
        ));
    }
    privileges(pool, conn).await
}

/// Refuses a column type the binlog decoder reads wrongly: mysql_common 0.37 decodes a
/// negative `TIME(1)` or `TIME(2)` with a fraction by subtracting from an unsigned
/// number (a panic in a debug build, a wrong time in a release build); the same values
/// at three or more digits (or none) are read exactly.
fn refuse_misread_types(selection: &Selection) -> Result<(), SyncError> {
    use seaway_codegen::model::NeutralType;
    for t in &selection.tables {
        if let Some(c) = t.columns.iter().find(|c| {
            matches!(
                c.ty,
                NeutralType::Time {
                    precision: Some(1 | 2)
                }
            )
        }) {
            return Err(SyncError::Unsupported {
                table: t.source_table.clone(),
                what: format!(
                    "column `{}` is {}, whose negative values with a fraction the binary log decoder (mysql_common 0.37) misreads; widen it at the source (ALTER TABLE {} MODIFY {} TIME(3)) or leave the table out of `tables:`",
                    c.name,
                    c.native,
                    quote(&t.source_table),
                    quote(&c.name)
                ),
            });
        }
    }
    Ok(())
}

/// Refuses a user without the right to read the binary log as a replica (`REPLICATION
/// SLAVE`) or to list it (`REPLICATION CLIENT`, called `BINLOG MONITOR` since MariaDB
/// 10.5). Granted to the user directly or through a role enabled by default.
async fn privileges(pool: &sqlx::MySqlPool, conn: &Connection) -> Result<(), SyncError> {
    let (user,): (String,) = sqlx::query_as("SELECT CAST(CURRENT_USER() AS CHAR)")
        .fetch_one(pool)
        .await
        .map_err(|e| source_error(conn, "reading the current user", e))?;
    let (name, host) = user.rsplit_once('@').unwrap_or((&user, "%"));
    let grantee = format!("'{name}'@'{host}'");
    let held: Vec<(String,)> = sqlx::query_as(
        "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? \
         OR GRANTEE IN (SELECT CONCAT('''', ROLE_NAME, '''') FROM information_schema.ENABLED_ROLES)",
    )
    .bind(&grantee)
    .fetch_all(pool)
    .await
    .map_err(|e| source_error(conn, "reading the user's privileges", e))?;
    let has = |p: &str| held.iter().any(|(h,)| h.eq_ignore_ascii_case(p));
    let mut missing = Vec::new();
    if !has("REPLICATION SLAVE") {
        missing.push("REPLICATION SLAVE");
    }
    if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
        missing.push("REPLICATION CLIENT");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(SyncError::Privilege {
        connection: conn.name.clone(),
        endpoint: conn.url.endpoint().unwrap_or("?").to_string(),
        what: format!(
            "user {grantee} lacks the {} privilege{} (reading the binary log as a replica, and listing it)",
            missing.join(" and "),
            if missing.len() > 1 { "s" } else { "" }
        ),
        fix: format!(
            "GRANT {} ON *.* TO {grantee}; (REPLICATION CLIENT is BINLOG MONITOR on MariaDB 10.5 and later)",
            missing.join(", ")
        ),
    })
}

/// The binary log's current file and offset (`SHOW MASTER STATUS`, called `SHOW BINARY
/// LOG STATUS` since MySQL 8.4).
async fn current_position(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
) -> Result<(String, u64), SyncError> {
    let mut last = None;
    for sql in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
        match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .fetch_optional(pool)
            .await
        {
            Ok(Some(row)) => {
                use sqlx::Row;
                let file: String = row
                    .try_get(0)
                    .map_err(|e| source_error(conn, "reading the binary log position", e))?;
                let pos: u64 = row
                    .try_get(1)
                    .map_err(|e| source_error(conn, "reading the binary log position", e))?;
                return Ok((file, pos));
            }
            Ok(None) => {
                return Err(SyncError::Setting {
                    origin: origin(conn),
                    setting: "log_bin",
                    current: "OFF".into(),
                    fix: "add `log_bin = mysql-bin` under [mysqld] in the server's config file, then restart the server".into(),
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(source_error(
        conn,
        "reading the binary log position",
        last.unwrap_or(sqlx::Error::RowNotFound),
    ))
}

/// What a purged position lost, in words.
fn lost(file: &str, logs: &[String], retention: &str) -> String {
    format!(
        "no longer has binary log `{file}` (its oldest is `{}`; binary logs are purged after {retention})",
        logs.first().map_or("none", String::as_str)
    )
}

/// The binary log files the source still has, oldest first.
async fn binary_logs(pool: &sqlx::MySqlPool, conn: &Connection) -> Result<Vec<String>, SyncError> {
    use sqlx::Row;
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe("SHOW BINARY LOGS"))
        .fetch_all(pool)
        .await
        .map_err(|e| source_error(conn, "listing the binary logs", e))?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()
        .map_err(|e| source_error(conn, "listing the binary logs", e))
}

/// How long the source keeps binary logs, in words.
async fn retention(pool: &sqlx::MySqlPool, conn: &Connection) -> Result<String, SyncError> {
    let vars = variables(
        pool,
        conn,
        &["binlog_expire_logs_seconds", "expire_logs_days"],
    )
    .await?;
    let seconds = vars
        .get("binlog_expire_logs_seconds")
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0);
    let days = vars
        .get("expire_logs_days")
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|d| *d > 0.0);
    Ok(match (seconds, days) {
        (Some(s), _) => format!("{s} s (binlog_expire_logs_seconds)"),
        (None, Some(d)) => format!("{d} days (expire_logs_days)"),
        (None, None) => {
            "no set time (binlog_expire_logs_seconds is 0): only when purged by hand".into()
        }
    })
}

/// Creates the watermark table if missing, recording where the binary log stands now:
/// a new sync's stream starts there. Whether the table is new.
pub async fn prepare(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    name: &str,
) -> Result<bool, SyncError> {
    if status_exists(pool, conn, name).await? {
        return Ok(false);
    }
    let (file, pos) = current_position(pool, conn).await?;
    let table = quote(name);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {table} (id TINYINT NOT NULL PRIMARY KEY, mark VARCHAR(8) NOT NULL, \
         chunk BIGINT UNSIGNED NOT NULL, started VARCHAR(255) NOT NULL) ENGINE = InnoDB"
    )))
    .execute(pool)
    .await
    .map_err(|e| source_error(conn, &format!("creating the watermark table {name}"), e))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT IGNORE INTO {table} (id, mark, chunk, started) VALUES (1, 'start', 0, ?)"
    )))
    .bind(format!("{file}:{pos}"))
    .execute(pool)
    .await
    .map_err(|e| source_error(conn, &format!("writing the watermark table {name}"), e))?;
    Ok(true)
}

/// Writes a watermark into the binary log: the watermark table's row, updated.
pub async fn watermark(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    name: &str,
    mark: Mark,
    chunk: u64,
) -> Result<(), SyncError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (id, mark, chunk, started) VALUES (1, ?, ?, '') \
         ON DUPLICATE KEY UPDATE mark = VALUES(mark), chunk = VALUES(chunk)",
        quote(name)
    )))
    .bind(mark.as_str())
    .bind(chunk)
    .execute(pool)
    .await
    .map_err(|e| source_error(conn, "writing a watermark", e))?;
    Ok(())
}

async fn status_exists(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    name: &str,
) -> Result<bool, SyncError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .map_err(|e| source_error(conn, "reading information_schema.TABLES", e))?;
    Ok(n > 0)
}

/// The watermark table's state, for `sync status`: whether it exists, whether a replica
/// connection with the sync's server id is attached (where the user may list replicas),
/// and how long the source keeps its binary log.
pub async fn status(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    name: &str,
) -> Result<SourceState, SyncError> {
    let exists = status_exists(pool, conn, name).await?;
    let current = match current_position(pool, conn).await {
        Ok((file, pos)) => format!("{file}:{pos}"),
        Err(_) => String::new(),
    };
    let source_id = variables(pool, conn, &["server_id"])
        .await?
        .get("server_id")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ours = server_id(name, source_id);
    let mut active = None;
    for sql in ["SHOW SLAVE HOSTS", "SHOW REPLICAS"] {
        if let Ok(rows) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
        {
            use sqlx::Row;
            active = Some(
                rows.iter()
                    .any(|r| r.try_get::<u64, _>(0).is_ok_and(|id| id == u64::from(ours))),
            );
            break;
        }
    }
    let keeps = retention(pool, conn).await?;
    let attached = match active {
        Some(true) => "a sync is streaming from it",
        Some(false) => "no sync is streaming from it",
        None => {
            "whether a sync streams from it is not known (listing replicas needs REPLICATION MASTER ADMIN)"
        }
    };
    Ok(SourceState {
        exists,
        active,
        behind: None,
        behind_unit: "bytes of binary log",
        current,
        kind: "watermark table",
        note: Some(format!(
            "{attached}; the source keeps its binary log for {keeps}, not for the sync: a sync stopped for longer must start over (`sync drop`)"
        )),
    })
}

/// Removes the watermark table; returns what was there.
pub async fn drop_all(
    pool: &sqlx::MySqlPool,
    conn: &Connection,
    name: &str,
) -> Result<Vec<String>, SyncError> {
    if !status_exists(pool, conn, name).await? {
        return Ok(Vec::new());
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS {}",
        quote(name)
    )))
    .execute(pool)
    .await
    .map_err(|e| source_error(conn, "dropping the watermark table", e))?;
    Ok(vec![format!("watermark table {name}")])
}

/// `file:offset` of a stored position (the GTID after it is for reading only).
fn parse_position(position: &str) -> Option<(String, u64)> {
    let head = position.split_whitespace().next()?;
    let (file, pos) = head.rsplit_once(':')?;
    Some((file.to_string(), pos.parse().ok()?))
}

/// The replica connection's settings from the connection's URL: host, port, user,
/// password, and TLS as sqlx reads `ssl-mode` (`required`: encrypted without checking the
/// certificate; `verify_ca`/`verify_identity`: checked, against `ssl-ca` when given).
fn replica_opts(conn: &Connection) -> Result<mysql_async::Opts, SyncError> {
    let bad = |reason: String| SyncError::Source {
        connection: conn.name.clone(),
        what: "reading the URL for the binary log connection".into(),
        reason,
    };
    seaway_codegen::engine::connect::crypto_provider();
    let url = source_url::parse(conn, "binary log connection")?;
    let decode = source_url::decoded;
    let query: HashMap<String, String> = url
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase().replace('_', "-"), v.into_owned()))
        .collect();
    let mut opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(url.host_str().unwrap_or("localhost"))
        .tcp_port(url.port().unwrap_or(3306))
        .user((!url.username().is_empty()).then(|| decode(url.username())))
        .pass(url.password().map(decode))
        .prefer_socket(false)
        .tcp_nodelay(true);
    if let Some(socket) = query.get("socket") {
        opts = opts.socket(Some(socket.clone()));
    }
    let mode = query
        .get("ssl-mode")
        .or_else(|| query.get("sslmode"))
        .map(|m| m.to_ascii_lowercase().replace('-', "_"));
    let roots = |ssl: mysql_async::SslOpts| match query.get("ssl-ca") {
        Some(ca) => ssl.with_root_certs(vec![std::path::PathBuf::from(ca).into()]),
        None => ssl,
    };
    let ssl = match mode.as_deref() {
        None | Some("disabled" | "preferred") => None,
        Some("required") => Some(
            mysql_async::SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Some("verify_ca") => {
            Some(roots(mysql_async::SslOpts::default()).with_danger_skip_domain_validation(true))
        }
        Some("verify_identity") => Some(roots(mysql_async::SslOpts::default())),
        Some(other) => return Err(bad(format!("ssl-mode={other} is not a MySQL ssl-mode"))),
    };
    Ok(opts.ssl_opts(ssl).into())
}

/// How the capture treats a table the binlog maps.
#[derive(Debug)]
enum Mapped {
    /// Not carried (another table or database).
    Other,
    /// Sync's own watermark table: the row's `mark` and `chunk` columns (positions in
    /// the table map).
    Watermarks {
        mark: usize,
        chunk: usize,
    },
    /// A sync both ways: the marker table of the other stream, which writes into this
    /// source; a transaction that writes it is that stream's, and its changes are not
    /// carried back (`both.rs`).
    Marker,
    /// A sync both ways: this stream's inbox, the other stream's messages to it (the
    /// `body` column's position).
    Inbox {
        body: usize,
    },
    /// A sync both ways into a MySQL destination: the other stream's edits table in this
    /// source, whose rows (its triggers') place this side's local edits in its commit
    /// order (`sync/edit_order.rs`): the `tbl`, `key` and `token` columns' positions.
    Edits {
        tbl: usize,
        key: usize,
        token: usize,
    },
    Selected(Box<Selected>),
}

/// Where a selected table's columns are in the table map's rows.
#[derive(Debug)]
struct Selected {
    table: usize,
    /// For each of the selection table's columns, its position in the table map; `None`
    /// for a column the map predates (added at the source after this change was
    /// written): the change leaves it as the destination holds it.
    columns: Vec<Option<usize>>,
    /// Per table-map column, its ENUM or SET labels.
    labels: Vec<Labels>,
}

/// An open change stream: the binary log from a file and offset.
pub struct MyCapture {
    stream: BinlogStream,
    /// A plain connection to the source: its catalog (whether a column a table map lacks
    /// exists now) and its collations.
    catalog: sqlx::MySqlPool,
    conn: Connection,
    name: String,
    database: String,
    selection: Selection,
    /// Every column each selected source table had when sync started: a table map with
    /// a column beyond these is a schema change.
    known: Vec<Vec<String>>,
    /// The binlog file being read (from the rotate events).
    file: String,
    tables: HashMap<u64, Mapped>,
    /// The table map each entry of `tables` was made from: the server logs a table map
    /// before every transaction's rows, and one equal to the last (the same table id,
    /// names, types and metadata) maps the same way, so it is not mapped again.
    maps: HashMap<u64, TableMapEvent<'static>>,
    /// Character set names by collation id.
    charsets: HashMap<u16, String>,
    /// Whether the source has a column now, per (table, column), once asked.
    has_column: std::sync::Mutex<HashMap<(String, String), bool>>,
    pending: VecDeque<Event>,
    /// A source transaction is open, and whether its `Begin` was sent: a transaction
    /// with no change to a selected table is not sent at all (no empty destination
    /// transaction).
    in_transaction: bool,
    begun: bool,
    /// A format description event was read: until then rotate events cannot be read
    /// exactly (their checksum is taken for part of the file name).
    described: bool,
    /// The current transaction's GTID, and (MySQL) its commit time in microseconds.
    gtid: Option<String>,
    commit_micros: Option<i64>,
    /// The current transaction is the other stream's of a sync both ways (it wrote its
    /// marker): its changes are dropped, its messages are not.
    echo: bool,
}

impl std::fmt::Debug for MyCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyCapture")
            .field("name", &self.name)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl MyCapture {
    /// Starts reading the binary log after `resume` (the position the destination holds;
    /// where the watermark table recorded the sync's start when `None`), as a replica
    /// with the sync's own server id. `known` lists each selected table's source columns
    /// when sync started; `catalog` is a plain connection to the same source. A position
    /// in a purged binlog file is refused.
    pub async fn open(
        conn: &Connection,
        catalog: sqlx::MySqlPool,
        name: &str,
        selection: &Selection,
        known: Vec<Vec<String>>,
        resume: Option<&Position>,
    ) -> Result<MyCapture, SyncError> {
        let start = match resume {
            Some(p) => p.0.clone(),
            None => {
                let row: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT started FROM {} WHERE id = 1",
                    quote(name)
                )))
                .fetch_optional(&catalog)
                .await
                .map_err(|e| {
                    source_error(conn, &format!("reading the watermark table {name}"), e)
                })?;
                row.map(|r| r.0).ok_or_else(|| SyncError::Source {
                    connection: conn.name.clone(),
                    what: format!("reading the watermark table {name}"),
                    reason: "its row is gone; run `migrator sync drop` and start again".into(),
                })?
            }
        };
        let Some((file, pos)) = parse_position(&start) else {
            return Err(SyncError::Stream {
                connection: conn.name.clone(),
                reason: format!("`{start}` is not a binary log position (file:offset)"),
            });
        };
        let logs = binary_logs(&catalog, conn).await?;
        if !logs.contains(&file) {
            return Err(SyncError::BinlogPurged {
                name: name.to_string(),
                position: start.clone(),
                origin: origin(conn),
                lost: lost(&file, &logs, &retention(&catalog, conn).await?),
            });
        }
        let charsets: Vec<(u64, String)> = sqlx::query_as(
            "SELECT CAST(ID AS UNSIGNED), CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL",
        )
        .fetch_all(&catalog)
        .await
        .map_err(|e| source_error(conn, "reading information_schema.COLLATIONS", e))?;
        let (database, source_id): (String, u64) =
            sqlx::query_as("SELECT CAST(DATABASE() AS CHAR), CAST(@@server_id AS UNSIGNED)")
                .fetch_one(&catalog)
                .await
                .map_err(|e| source_error(conn, "reading the source database", e))?;
        let stream_err = |e: mysql_async::Error| SyncError::Stream {
            connection: conn.name.clone(),
            reason: conn.url.scrub(&e.to_string()),
        };
        let mut replica = mysql_async::Conn::new(replica_opts(conn)?)
            .await
            .map_err(stream_err)?;
        replica
            .query_drop(format!(
                "SET @mariadb_slave_capability = {MARIA_SLAVE_CAPABILITY_GTID}, @master_heartbeat_period = {HEARTBEAT_NANOS}"
            ))
            .await
            .map_err(stream_err)?;
        let source_id = u32::try_from(source_id).unwrap_or(0);
        let request = BinlogStreamRequest::new(server_id(name, source_id))
            .with_filename(file.as_bytes())
            .with_pos(pos);
        let stream = replica
            .get_binlog_stream(request)
            .await
            .map_err(stream_err)?;
        Ok(MyCapture {
            stream,
            catalog,
            conn: conn.clone(),
            name: name.to_string(),
            database,
            selection: selection.clone(),
            known,
            file,
            tables: HashMap::new(),
            maps: HashMap::new(),
            charsets: charsets
                .into_iter()
                .filter_map(|(id, cs)| Some((u16::try_from(id).ok()?, cs)))
                .collect(),
            has_column: std::sync::Mutex::new(HashMap::new()),
            pending: VecDeque::new(),
            in_transaction: false,
            begun: false,
            echo: false,
            described: false,
            gtid: None,
            commit_micros: None,
        })
    }

    /// The source keeps its binary log by age, not by what a replica confirmed: nothing
    /// to tell it.
    pub fn confirm(&mut self, _position: &Position) {}

    fn stream_error(&self, reason: String) -> SyncError {
        SyncError::Stream {
            connection: self.conn.name.clone(),
            reason: self.conn.url.scrub(&reason),
        }
    }

    /// The next event, waiting at most `wait` (`None`: nothing came in time).
    ///
    /// Events of other tables are read without output, so the wait bounds them too: at
    /// least one event is read, then `None` once `wait` has passed, and sync commits the
    /// batch in hand while the source writes only other tables.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Event>, SyncError> {
        // "Is more ready now?" (no wait) is asked of the socket only after the runtime's
        // I/O driver had a turn: it marks the socket readable only when it polls, and
        // a read asked before then finds nothing though the server has sent the next
        // events. Answering "nothing" then made sync commit a batch for each
        // transaction while the binary log had more waiting.
        let wait = wait.max(READY_GRACE);
        let deadline = tokio::time::Instant::now() + wait;
        let mut first = true;
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !first && left.is_zero() {
                return Ok(None);
            }
            first = false;
            let received = match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => {
                    return Err(self.stream_error("the source ended the binary log stream".into()));
                }
                Ok(Some(Err(e))) => return Err(self.dump_error(e).await),
                Ok(Some(Ok(event))) => event,
            };
            self.event(received).await?;
        }
    }

    /// A failed binlog read: a position the server no longer has is named as such.
    async fn dump_error(&self, e: mysql_async::Error) -> SyncError {
        let text = e.to_string();
        if (text.contains("1236")
            || text
                .to_ascii_lowercase()
                .contains("could not find first log file"))
            && let Ok(logs) = binary_logs(&self.catalog, &self.conn).await
            && !logs.contains(&self.file)
        {
            let keeps = retention(&self.catalog, &self.conn)
                .await
                .unwrap_or_default();
            return SyncError::BinlogPurged {
                name: self.name.clone(),
                position: self.file.clone(),
                origin: origin(&self.conn),
                lost: lost(&self.file, &logs, &keeps),
            };
        }
        self.stream_error(text)
    }

    /// One binlog event: its changes, if any, go to `pending`.
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "binlog events sync has no use for (intvar, rand, user variables, annotations, previous GTIDs, ...) are skipped"
    )]
    async fn event(&mut self, event: BinlogEvent) -> Result<(), SyncError> {
        let header = event.header();
        let raw = header.event_type_raw();
        if raw == MARIADB_GTID_EVENT {
            return self.mariadb_gtid(event.data(), header.server_id());
        }
        if MARIADB_COMPRESSED_EVENTS.contains(&raw) {
            return Err(SyncError::Setting {
                origin: origin(&self.conn),
                setting: "log_bin_compress",
                current: "ON".into(),
                fix: "SET GLOBAL log_bin_compress = OFF; and the same under [mysqld] in the server's config file (sync cannot read compressed binlog events), then `migrator sync drop` and start again".into(),
            });
        }
        let data = event
            .read_data()
            .map_err(|e| self.stream_error(format!("an undecodable binlog event: {e}")))?;
        let Some(data) = data else {
            return Ok(());
        };
        match data {
            EventData::FormatDescriptionEvent(_) => self.described = true,
            // The first, made-up rotate names the file requested.
            EventData::RotateEvent(r) if self.described => self.file = r.name().into_owned(),
            EventData::GtidEvent(g) => {
                let sid = values::uuid_text(&g.sid()).unwrap_or_default();
                self.gtid = Some(format!("{sid}:{}", g.gno()));
                let at = g.immediate_commit_timestamp();
                self.commit_micros = (at > 0).then(|| i64::try_from(at).unwrap_or(i64::MAX));
            }
            EventData::QueryEvent(q) => self.query(&q, header.log_pos(), header.timestamp())?,
            EventData::TableMapEvent(tme) => self.table_map(&tme).await?,
            EventData::RowsEvent(rows) => self.rows(&rows)?,
            EventData::XidEvent(_) => self.commit(header.log_pos(), header.timestamp()),
            EventData::HeartbeatEvent if !self.in_transaction => {
                self.pending.push_back(Event::Idle { position: None });
            }
            _ => {}
        }
        Ok(())
    }

    /// MariaDB's GTID event: sequence number (8 bytes), domain (4), flags (1). It opens a
    /// transaction, unless it heads a lone statement (DDL).
    fn mariadb_gtid(&mut self, data: &[u8], server: u32) -> Result<(), SyncError> {
        let (Some(seq), Some(domain), Some(&flags)) = (
            data.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            data.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()),
            data.get(12),
        ) else {
            return Err(self.stream_error("a MariaDB GTID event too short to read".into()));
        };
        let gtid = format!(
            "{}-{server}-{}",
            u32::from_le_bytes(domain),
            u64::from_le_bytes(seq)
        );
        if flags & FL_PREPARED_XA != 0 {
            return Err(SyncError::Stream {
                connection: self.conn.name.clone(),
                reason: format!(
                    "XA transaction {gtid} at the source: sync does not carry XA transactions"
                ),
            });
        }
        self.gtid = Some(gtid.clone());
        self.commit_micros = None;
        if flags & FL_STANDALONE == 0 {
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Sends the open transaction's `Begin`, before its first change.
    fn begin(&mut self) {
        self.in_transaction = true;
        if !self.begun {
            self.begun = true;
            self.pending.push_back(Event::Begin {
                xid: self.gtid.clone().unwrap_or_else(|| self.file.clone()),
            });
        }
    }

    /// The transaction ends at `log_pos` (the offset just past its commit event).
    fn commit(&mut self, log_pos: u32, timestamp: u32) {
        let begun = self.begun;
        self.in_transaction = false;
        self.begun = false;
        self.echo = false;
        if !begun {
            self.gtid = None;
            return;
        }
        let gtid = self.gtid.take();
        // MySQL's GTID event carries the commit time in microseconds; MariaDB's binary
        // log has only the event header's, in whole seconds.
        let (micros, clock_step_micros) = match self.commit_micros.take() {
            Some(micros) => (micros, 1),
            None => (i64::from(timestamp) * 1_000_000, 1_000_000),
        };
        self.pending.push_back(Event::Commit {
            position: Position(match gtid {
                Some(g) => format!("{}:{log_pos} {g}", self.file),
                None => format!("{}:{log_pos}", self.file),
            }),
            commit_micros: micros,
            clock_step_micros,
        });
    }

    /// A statement: a transaction's `BEGIN` or `COMMIT`, or DDL, which stops sync when it
    /// empties, drops, renames or alters a selected table other than by adding.
    fn query(&mut self, q: &QueryEvent<'_>, log_pos: u32, timestamp: u32) -> Result<(), SyncError> {
        let sql = q.query();
        let head = sql.trim();
        if head.eq_ignore_ascii_case("BEGIN") {
            self.in_transaction = true;
            return Ok(());
        }
        if head.eq_ignore_ascii_case("COMMIT") || head.eq_ignore_ascii_case("ROLLBACK") {
            // A non-transactional table's changes end this way (they happened).
            self.commit(log_pos, timestamp);
            return Ok(());
        }
        if head.len() >= 3 && head[..3].eq_ignore_ascii_case("XA ") {
            return Err(SyncError::Stream {
                connection: self.conn.name.clone(),
                reason: format!("`{head}` at the source: sync does not carry XA transactions"),
            });
        }
        let schema = q.schema();
        let selected = |t: &ddl::TableRef| -> Option<String> {
            let database = t.database.as_deref().unwrap_or(&schema);
            (database == self.database && self.selection.index(&t.table).is_some())
                .then(|| t.table.clone())
        };
        let statement: String = head.chars().take(200).collect();
        match ddl::classify(head) {
            Statement::Truncate(tables) => {
                let hit: Vec<usize> = tables
                    .iter()
                    .filter_map(selected)
                    .filter_map(|t| self.selection.index(&t))
                    .collect();
                if !hit.is_empty() {
                    // DDL commits on its own: a transaction of its own in the stream,
                    // which resumes past the statement.
                    self.begin();
                    self.pending.push_back(Event::Truncate { tables: hit });
                    self.commit(log_pos, timestamp);
                    return Ok(());
                }
            }
            Statement::Gone(tables) => {
                if let Some(t) = tables.iter().find_map(selected) {
                    return Err(SyncError::SchemaChange {
                        table: t,
                        change: format!(
                            "`{statement}` dropped or renamed it; sync carries added columns only. Change the config's `tables:` and the destination to match, then `migrator sync drop` and start again"
                        ),
                    });
                }
            }
            Statement::Altered { table, action } => {
                if let Some(t) = selected(&table) {
                    return Err(SyncError::SchemaChange {
                        table: t,
                        change: format!(
                            "`{action}` (in `{statement}`); sync carries added columns only. Make the same change in the destination, then `migrator sync drop` and start again"
                        ),
                    });
                }
            }
            Statement::DropDatabase(d) => {
                if d == self.database {
                    return Err(SyncError::SchemaChange {
                        table: self
                            .selection
                            .tables
                            .iter()
                            .map(|t| t.source_table.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                        change: format!("the source database `{d}` was dropped"),
                    });
                }
            }
            Statement::Other => {}
        }
        if !self.in_transaction {
            self.gtid = None;
        }
        Ok(())
    }

    /// A table map: which table the next rows belong to, and where its columns are.
    async fn table_map(&mut self, tme: &TableMapEvent<'_>) -> Result<(), SyncError> {
        if self.maps.get(&tme.table_id()).is_some_and(|m| m == tme)
            && self.tables.contains_key(&tme.table_id())
        {
            return Ok(());
        }
        let database = tme.database_name();
        let table = tme.table_name();
        let mapped = if database != self.database {
            Mapped::Other
        } else if table == self.name {
            let names = self.column_names(tme, &table)?;
            let at = |n: &str| names.iter().position(|c| c == n);
            match (at("mark"), at("chunk")) {
                (Some(mark), Some(chunk)) => Mapped::Watermarks { mark, chunk },
                _ => Mapped::Other,
            }
        } else if self
            .selection
            .incoming
            .as_deref()
            .is_some_and(|incoming| table == applying_table(incoming))
        {
            Mapped::Marker
        } else if self.selection.edit_order.is_some()
            && self
                .selection
                .incoming
                .as_deref()
                .is_some_and(|incoming| table == edits_table(incoming))
        {
            let names = self.column_names(tme, &table)?;
            let at = |n: &str| names.iter().position(|c| c == n);
            match (at("tbl"), at("key"), at("token")) {
                (Some(tbl), Some(key), Some(token)) => Mapped::Edits { tbl, key, token },
                _ => Mapped::Other,
            }
        } else if self.selection.incoming.is_some() && table == inbox_table(&self.name) {
            let names = self.column_names(tme, &table)?;
            match names.iter().position(|c| c == "body") {
                Some(body) => Mapped::Inbox { body },
                None => Mapped::Other,
            }
        } else if let Some(t) = self.selection.index(&table) {
            Mapped::Selected(Box::new(self.selected(t, tme, &table).await?))
        } else {
            Mapped::Other
        };
        self.tables.insert(tme.table_id(), mapped);
        self.maps.insert(tme.table_id(), tme.clone().into_owned());
        Ok(())
    }

    /// The column names a table map carries (`binlog_row_metadata=FULL`).
    fn column_names(&self, tme: &TableMapEvent<'_>, table: &str) -> Result<Vec<String>, SyncError> {
        for field in tme.iter_optional_meta() {
            let field =
                field.map_err(|e| self.stream_error(format!("table map of `{table}`: {e}")))?;
            if let OptionalMetadataField::ColumnName(names) = field {
                return names
                    .iter_names()
                    .map(|n| n.map(|n| n.name().into_owned()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.stream_error(format!("table map of `{table}`: {e}")));
            }
        }
        Err(SyncError::Setting {
            origin: origin(&self.conn),
            setting: "binlog_row_metadata",
            current: "not FULL when this change was logged".into(),
            fix: format!(
                "the binary log's change of `{table}` carries no column names; SET GLOBAL binlog_row_metadata = 'FULL'; then `migrator sync drop` and start again (changes logged before that cannot be read by name)"
            ),
        })
    }

    /// Maps a selected table's map onto the selection, refusing a table whose columns
    /// changed under the sync (`sync::described::positions`).
    async fn selected(
        &self,
        t: usize,
        tme: &TableMapEvent<'_>,
        table: &str,
    ) -> Result<Selected, SyncError> {
        let names = self.column_names(tme, table)?;
        let labels = labels(tme, names.len())
            .map_err(|e| self.stream_error(format!("table map of `{table}`: {e}")))?;
        let columns = crate::sync::described::positions(
            table,
            &self.selection.tables[t],
            &self.known[t],
            &names,
            |column| async move { self.source_has(table, &column).await },
        )
        .await?;
        Ok(Selected {
            table: t,
            columns,
            labels,
        })
    }

    /// Whether the source's table `table` has column `column` now (asked once per column:
    /// a replay meets the same table map in every transaction).
    async fn source_has(&self, table: &str, column: &str) -> Result<bool, SyncError> {
        let key = (table.to_string(), column.to_string());
        let cached = self
            .has_column
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied());
        if let Some(has) = cached {
            return Ok(has);
        }
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        )
        .bind(table)
        .bind(column)
        .fetch_one(&self.catalog)
        .await
        .map_err(|e| SyncError::Stream {
            connection: self.conn.name.clone(),
            reason: format!("reading the source's catalog for `{table}`.`{column}`: {e}"),
        })?;
        if let Ok(mut m) = self.has_column.lock() {
            m.insert(key, n > 0);
        }
        Ok(n > 0)
    }

    /// A rows event: each row as a change (or a watermark).
    fn rows(&mut self, rows: &RowsEventData<'_>) -> Result<(), SyncError> {
        let id = rows.table_id();
        let Some(mapped) = self.tables.get(&id) else {
            return Err(
                self.stream_error(format!("rows of table id {id} came before its table map"))
            );
        };
        match mapped {
            Mapped::Other => return Ok(()),
            Mapped::Marker => {
                self.echo = true;
                return Ok(());
            }
            Mapped::Selected(_) | Mapped::Edits { .. } if self.echo => return Ok(()),
            Mapped::Watermarks { .. }
            | Mapped::Inbox { .. }
            | Mapped::Edits { .. }
            | Mapped::Selected(_) => {}
        }
        let Some(tme) = self.stream.get_tme(id) else {
            return Err(
                self.stream_error(format!("rows of table id {id} came before its table map"))
            );
        };
        let op = match rows {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Insert,
            RowsEventData::UpdateRowsEventV1(_)
            | RowsEventData::UpdateRowsEvent(_)
            | RowsEventData::PartialUpdateRowsEvent(_) => Op::Update,
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Op::Delete,
        };
        let width = usize::try_from(rows.num_columns()).unwrap_or(0);
        let bits = |b: &mysql_async::binlog::events::RowsEventData<'_>,
                    after: bool|
         -> Option<Vec<bool>> {
            let slice = if after {
                b.columns_after_image()
            } else {
                b.columns_before_image()
            };
            slice.map(|s| s.iter().by_vals().collect())
        };
        let before = image(bits(rows, false).as_deref(), width);
        let after = image(bits(rows, true).as_deref(), width);
        let mut out = Vec::new();
        for pair in rows.rows(tme) {
            let (old, new) = pair.map_err(|e| {
                self.stream_error(format!("an undecodable row of `{}`: {e}", tme.table_name()))
            })?;
            match mapped {
                Mapped::Other | Mapped::Marker => {}
                Mapped::Edits { tbl, key, token } => {
                    if op != Op::Delete
                        && let (Some(order), Some(seq)) = (
                            &self.selection.edit_order,
                            self.gtid.as_deref().and_then(super::both::gtid_seq),
                        )
                        && let (Some(t), Some(k), Some(n)) = (
                            text_of(new.as_ref(), &after, *tbl),
                            text_of(new.as_ref(), &after, *key),
                            uint_of(new.as_ref(), &after, *token),
                        )
                    {
                        order.record(&t, &k, n, seq);
                    }
                }
                Mapped::Inbox { body } => {
                    // The insert carries the message; the delete that follows it, nothing.
                    if op == Op::Insert
                        && let Some(text) = text_of(new.as_ref(), &after, *body)
                        && let Some(told) = Told::addressed(&text, &self.name, &self.selection)
                            .map_err(|reason| self.stream_error(reason))?
                    {
                        out.push(Event::Told(told));
                    }
                }
                Mapped::Watermarks { mark, chunk } => {
                    if let Some(event) = watermark_of(new.as_ref(), &after, *mark, *chunk) {
                        out.push(event);
                    }
                }
                Mapped::Selected(s) => {
                    let change = Decoder {
                        selection: &self.selection,
                        charsets: &self.charsets,
                        selected: s,
                    }
                    .change(op, old.as_ref(), &before, new.as_ref(), &after)?;
                    out.push(Event::Change(change));
                }
            }
        }
        if !out.is_empty() {
            self.begin();
            self.pending.extend(out);
        }
        Ok(())
    }

    /// Ends the replica connection.
    pub async fn close(self) {
        let _ = self.stream.close().await;
    }
}

/// Where each table-map column is among a row image's values (`None`: not in the image).
fn image(bits: Option<&[bool]>, width: usize) -> Vec<Option<usize>> {
    let mut at = 0;
    (0..width)
        .map(|i| {
            let present = bits.is_some_and(|b| b.get(i).copied().unwrap_or(false));
            present.then(|| {
                at += 1;
                at - 1
            })
        })
        .collect()
}

/// An unsigned integer value of a row (`p`: its table-map position), if it has one.
fn uint_of(row: Option<&BinlogRow>, after: &[Option<usize>], p: usize) -> Option<u64> {
    use mysql_async::Value;
    use mysql_async::binlog::value::BinlogValue;
    let k = after.get(p).copied().flatten()?;
    match row?.as_ref(k)? {
        BinlogValue::Value(Value::UInt(u)) => Some(*u),
        // An unsigned 64-bit column's value may come as the signed one of its bits.
        BinlogValue::Value(Value::Int(i)) => Some(u64::from_ne_bytes(i.to_ne_bytes())),
        BinlogValue::Value(_) | BinlogValue::Jsonb(_) | BinlogValue::JsonDiff(_) => None,
    }
}

/// A text value of a row (`p`: its table-map position), if it has one.
fn text_of(row: Option<&BinlogRow>, after: &[Option<usize>], p: usize) -> Option<String> {
    use mysql_async::Value;
    use mysql_async::binlog::value::BinlogValue;
    let k = after.get(p).copied().flatten()?;
    match row?.as_ref(k)? {
        BinlogValue::Value(Value::Bytes(b)) => String::from_utf8(b.clone()).ok(),
        BinlogValue::Value(_) | BinlogValue::Jsonb(_) | BinlogValue::JsonDiff(_) => None,
    }
}

/// A watermark row's mark and chunk, if it is one.
fn watermark_of(
    row: Option<&BinlogRow>,
    after: &[Option<usize>],
    mark: usize,
    chunk: usize,
) -> Option<Event> {
    use mysql_async::Value;
    use mysql_async::binlog::value::BinlogValue;
    let row = row?;
    let value = |p: usize| after.get(p).copied().flatten().and_then(|k| row.as_ref(k));
    let BinlogValue::Value(Value::Bytes(mark)) = value(mark)? else {
        return None;
    };
    let mark = Mark::parse(std::str::from_utf8(mark).ok()?)?;
    let chunk = match value(chunk)? {
        BinlogValue::Value(Value::UInt(u)) => *u,
        BinlogValue::Value(Value::Int(i)) => u64::try_from(*i).ok()?,
        BinlogValue::Value(_) | BinlogValue::Jsonb(_) | BinlogValue::JsonDiff(_) => return None,
    };
    Some(Event::Watermark { mark, chunk })
}

/// Each table-map column's ENUM or SET labels (empty for other columns), from the map's
/// metadata, which lists them for the ENUM and for the SET columns in column order.
fn labels(tme: &TableMapEvent<'_>, width: usize) -> Result<Vec<Labels>, std::io::Error> {
    let mut enums = Vec::new();
    let mut sets = Vec::new();
    for field in tme.iter_optional_meta() {
        match field? {
            OptionalMetadataField::EnumStrValue(v) => {
                for labels in v.iter_values() {
                    enums.push(Labels(
                        labels?
                            .values()
                            .iter()
                            .map(|l| l.value().into_owned())
                            .collect(),
                    ));
                }
            }
            OptionalMetadataField::SetStrValue(v) => {
                for labels in v.iter_values() {
                    sets.push(Labels(
                        labels?
                            .values()
                            .iter()
                            .map(|l| l.value().into_owned())
                            .collect(),
                    ));
                }
            }
            OptionalMetadataField::Signedness(_)
            | OptionalMetadataField::DefaultCharset(_)
            | OptionalMetadataField::ColumnCharset(_)
            | OptionalMetadataField::ColumnName(_)
            | OptionalMetadataField::GeometryType(_)
            | OptionalMetadataField::SimplePrimaryKey(_)
            | OptionalMetadataField::PrimaryKeyWithPrefix(_)
            | OptionalMetadataField::EnumAndSetDefaultCharset(_)
            | OptionalMetadataField::EnumAndSetColumnCharset(_)
            | OptionalMetadataField::ColumnVisibility(_)
            | OptionalMetadataField::Dimensionality(_) => {}
        }
    }
    let mut enums = enums.into_iter();
    let mut sets = sets.into_iter();
    Ok((0..width)
        .map(|i| match tme.get_column_type(i) {
            Ok(Some(ColumnType::MYSQL_TYPE_ENUM)) => enums.next().unwrap_or_default(),
            Ok(Some(ColumnType::MYSQL_TYPE_SET)) => sets.next().unwrap_or_default(),
            _ => Labels::default(),
        })
        .collect())
}

/// Turns row images of one selected table into changes.
struct Decoder<'a> {
    selection: &'a Selection,
    charsets: &'a HashMap<u16, String>,
    selected: &'a Selected,
}

impl Decoder<'_> {
    /// The change a row event made: the after image (a column missing from it, as with
    /// a session's `binlog_row_image=MINIMAL`, is taken from the before image, or left as
    /// the destination holds it), and the key before it when that changed.
    fn change(
        &self,
        op: Op,
        old: Option<&BinlogRow>,
        before: &[Option<usize>],
        new: Option<&BinlogRow>,
        after: &[Option<usize>],
    ) -> Result<Change, SyncError> {
        let t = self.selected.table;
        let table = &self.selection.tables[t];
        let old_values = old.map(|r| self.values(r, before)).transpose()?;
        // The whole row before the change, where the before image holds every column
        // (`binlog_row_image = FULL`): what a sync both ways detects conflicts by.
        let old_row: Option<Values> = old_values
            .as_ref()
            .and_then(|o| o.iter().cloned().collect::<Option<Values>>())
            .and_then(|mut row| {
                clear_zero_dates(self.selection.zero_dates, &table.columns, &mut row)
                    .ok()
                    .map(|()| row)
            });
        let key_of = |row: &[Option<Option<String>>]| -> Result<Values, SyncError> {
            table
                .key
                .iter()
                .map(|&k| {
                    row[k].clone().ok_or_else(|| SyncError::Unsupported {
                        table: table.source_table.clone(),
                        what: format!(
                            "a change at the source whose row image lacks key column `{}` (binlog_row_image must be FULL for every session: SET GLOBAL binlog_row_image = 'FULL')",
                            table.columns[k].name
                        ),
                    })
                })
                .collect()
        };
        let old_key = old_values.as_deref().map(key_of).transpose()?;
        let change = match (op, new) {
            (Op::Insert | Op::Update, Some(new)) => {
                let image = self.values(new, after)?;
                let mut row = Vec::with_capacity(image.len());
                let mut unchanged = Vec::new();
                for (i, value) in image.into_iter().enumerate() {
                    match value.or_else(|| old_values.as_ref().and_then(|o| o[i].clone())) {
                        Some(v) => row.push(v),
                        None => {
                            unchanged.push(i);
                            row.push(None);
                        }
                    }
                }
                clear_zero_dates(self.selection.zero_dates, &table.columns, &mut row).map_err(
                    |what| SyncError::Unsupported {
                        table: table.source_table.clone(),
                        what,
                    },
                )?;
                let new_key: Values = table.key.iter().map(|&k| row[k].clone()).collect();
                Change {
                    table: t,
                    op,
                    row: Some(row),
                    unchanged,
                    old_key: old_key.filter(|k| *k != new_key),
                    old_row,
                }
            }
            (Op::Delete, _) | (Op::Insert | Op::Update, None) => Change {
                table: t,
                op: Op::Delete,
                row: None,
                unchanged: Vec::new(),
                old_key,
                old_row,
            },
        };
        Ok(change)
    }

    /// A row image as the selection table's values: `Some(value)` per column the image
    /// holds, `None` where it holds nothing for the column.
    fn values(
        &self,
        row: &BinlogRow,
        image: &[Option<usize>],
    ) -> Result<Vec<Option<Option<String>>>, SyncError> {
        let table = &self.selection.tables[self.selected.table];
        let mut out = Vec::with_capacity(table.columns.len());
        for (col, &position) in table.columns.iter().zip(&self.selected.columns) {
            let Some(p) = position else {
                out.push(None);
                continue;
            };
            let Some(k) = image.get(p).copied().flatten() else {
                out.push(None);
                continue;
            };
            let (Some(value), Some(meta)) = (row.as_ref(k), row.columns_ref().get(k)) else {
                out.push(None);
                continue;
            };
            let charset = self.charsets.get(&meta.character_set()).map(String::as_str);
            let text = values::canonical(col, &self.selected.labels[p], charset, value).map_err(
                |why| SyncError::Unsupported {
                    table: table.source_table.clone(),
                    what: format!("column `{}`: {why}", col.name),
                },
            )?;
            out.push(Some(text));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_server_ids() {
        assert_eq!(
            parse_position("mariadb-bin.000003:1234 0-1-57"),
            Some(("mariadb-bin.000003".into(), 1234))
        );
        assert_eq!(
            parse_position("mysql-bin.000001:4"),
            Some(("mysql-bin.000001".into(), 4))
        );
        assert_eq!(parse_position("0/16B3748x"), None);
        let id = server_id("seaway_watermarks_0011", 1);
        assert!(id >= 0x4000_0000, "{id}");
        assert_eq!(id, server_id("seaway_watermarks_0011", 1), "stable");
        assert_ne!(
            server_id("seaway_watermarks_0011", id),
            id,
            "never the source's"
        );
        assert_ne!(id, server_id("seaway_watermarks_0012", 1));
    }

    #[test]
    fn row_images_place_present_columns() {
        assert_eq!(
            image(Some(&[true, false, true]), 3),
            vec![Some(0), None, Some(1)]
        );
        assert_eq!(image(None, 2), vec![None, None]);
    }
}
