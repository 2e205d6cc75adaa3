//! PostgreSQL change capture: logical replication with the built-in `pgoutput` plugin,
//! through a publication and a slot that seaway creates and names for the selected
//! tables.
//!
//! The replication protocol (startup, TLS, SCRAM, `START_REPLICATION` from an explicit
//! LSN, standby status updates) is `pgwire-replication`'s; the pgoutput messages inside
//! (relations, inserts, updates, deletes) are decoded by `pg_walstream`'s parser. Neither
//! is written here: this module turns their output into the change model
//! (`sync::change`), with values in canonical text.
//!
//! Values arrive as each type's text output, rendered by the walsender under the session
//! settings this module pins at startup (ISO dates, UTC, ISO 8601 intervals, hex bytea,
//! shortest exact floats): for most types that is already the canonical text that
//! `rows::read` selects; booleans, bytes and times are rewritten to it here
//! ([`canonical`]).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

// A sync both ways' decided conflicts come in the deciding stream's own transaction: the
// capture passes them on though it drops the rest of that transaction.
use super::both::RESOLVED_PREFIX;
use crate::rows::values::Family;
use crate::sync::change::{Change, Event, Mark, Op, Position, Selection, Values};
use crate::sync::error::SyncError;
use crate::sync::read_view::ReadView;
use crate::sync::slot::SourceState;
use crate::sync::source_url;
use pg_walstream::protocol::{LogicalReplicationMessage, LogicalReplicationParser, TupleData};
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent};
use seaway_codegen::config::Connection;
use seaway_codegen::model::{Column, NeutralType};
use std::collections::HashMap;
use std::time::Duration;

/// The prefix of the logical messages that carry seaway's watermarks.
const MESSAGE_PREFIX: &str = "seaway";

/// Session settings of the replication connection: the walsender renders every value
/// with them, so they must match what `rows::read` expects of a PostgreSQL session.
const SESSION_OPTIONS: &str = "-c datestyle=ISO,YMD -c intervalstyle=iso_8601 -c timezone=UTC -c extra_float_digits=1 -c bytea_output=hex";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The names of what seaway creates on the source for one sync: a replication slot
/// (cluster-wide) and a publication (per database), both `seaway_<hash>` of the source
/// database and the destination, so two syncs never share one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub slot: String,
}

impl Names {
    pub fn publication(&self) -> &str {
        &self.slot
    }
}

/// The names for a sync from `source` into `destination`.
pub fn names(source: &Connection, destination: &Connection) -> Names {
    use sha2::Digest;
    let identity = format!(
        "{}\u{0}{}\u{0}{}",
        source.url.redacted(),
        destination.url.redacted(),
        destination.schema.as_deref().unwrap_or("")
    );
    let digest = sha2::Sha256::digest(identity.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Names {
        slot: format!("seaway_{hex}"),
    }
}

/// The source's schema (the connection's `schema:`, default `public`).
fn schema_of(conn: &Connection) -> String {
    conn.schema.clone().unwrap_or_else(|| "public".to_string())
}

fn quote(name: &str) -> String {
    seaway_codegen::engine::postgres::quote_ident(name)
}

/// `"schema"."table"`.
fn qualified(conn: &Connection, table: &str) -> String {
    format!("{}.{}", quote(&schema_of(conn)), quote(table))
}

fn source_error(conn: &Connection, what: &str, e: sqlx::Error) -> SyncError {
    SyncError::Source {
        connection: conn.name.clone(),
        what: what.to_string(),
        reason: conn.url.scrub(&e.to_string()),
    }
}

/// Checks, before anything is created, that the source can feed a sync of `selection`:
/// `wal_level`, a free replication slot and WAL sender, the REPLICATION attribute, and a
/// replica identity on every table that lets updates and deletes name their row. Each
/// refusal names the setting, its value and the statement that fixes it.
pub async fn check(
    pool: &sqlx::PgPool,
    conn: &Connection,
    names: &Names,
    selection: &Selection,
) -> Result<(), SyncError> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err| source_error(conn, &what, err)
    };
    let endpoint = conn.url.endpoint().unwrap_or("?").to_string();
    let setting = |name: &'static str, current: String, fix: String| SyncError::Setting {
        origin: format!("`{}` (PostgreSQL at {endpoint})", conn.name),
        setting: name,
        current,
        fix,
    };
    let wal_level: String = sqlx::query_scalar("SELECT current_setting('wal_level')")
        .fetch_one(pool)
        .await
        .map_err(e("reading wal_level"))?;
    if wal_level != "logical" {
        return Err(setting(
            "wal_level",
            wal_level,
            "ALTER SYSTEM SET wal_level = logical; (or `wal_level = logical` in postgresql.conf), then restart the server".into(),
        ));
    }
    let (slots, used, exists): (String, i64, bool) = sqlx::query_as(
        "SELECT current_setting('max_replication_slots'), \
         (SELECT count(*) FROM pg_replication_slots), \
         EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
    )
    .bind(&names.slot)
    .fetch_one(pool)
    .await
    .map_err(e("reading max_replication_slots"))?;
    if !exists && slots.parse::<i64>().unwrap_or(0) <= used {
        return Err(setting(
            "max_replication_slots",
            format!("{slots} ({used} in use)"),
            format!(
                "ALTER SYSTEM SET max_replication_slots = {}; then restart the server (or drop an unused slot with SELECT pg_drop_replication_slot('<name>'))",
                used + 4
            ),
        ));
    }
    let senders: String = sqlx::query_scalar("SELECT current_setting('max_wal_senders')")
        .fetch_one(pool)
        .await
        .map_err(e("reading max_wal_senders"))?;
    if senders.parse::<i64>().unwrap_or(0) < 1 {
        return Err(setting(
            "max_wal_senders",
            senders,
            "ALTER SYSTEM SET max_wal_senders = 10; then restart the server".into(),
        ));
    }
    let (user, may): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .map_err(e("reading the role's attributes"))?;
    if !may {
        return Err(SyncError::Privilege {
            connection: conn.name.clone(),
            endpoint,
            what: format!("role `{user}` lacks the REPLICATION attribute"),
            fix: format!("ALTER ROLE {} REPLICATION;", quote(&user)),
        });
    }
    if selection.old_rows {
        let on: String = sqlx::query_scalar("SELECT current_setting('track_commit_timestamp')")
            .fetch_one(pool)
            .await
            .map_err(e("reading track_commit_timestamp"))?;
        if on != "on" {
            return Err(setting(
                "track_commit_timestamp",
                on,
                "a sync both ways orders two versions of a row by the commit time of the transaction that wrote each; ALTER SYSTEM SET track_commit_timestamp = on; (or `track_commit_timestamp = on` in postgresql.conf), then restart the server".into(),
            ));
        }
    }
    for table in &selection.tables {
        replica_identity(pool, conn, table, selection.old_rows).await?;
    }
    Ok(())
}

/// Refuses a table whose replica identity does not name the row sync matches on: an
/// UPDATE or DELETE would reach the stream without the key (or the source would refuse
/// the statement once the table is published), and a `where:` filter needs every column
/// (PostgreSQL evaluates it on the old row of updates and deletes).
async fn replica_identity(
    pool: &sqlx::PgPool,
    conn: &Connection,
    table: &crate::sync::change::SelectedTable,
    old_rows: bool,
) -> Result<(), SyncError> {
    let name = qualified(conn, &table.source_table);
    // The replica identity, and the columns of the index it uses (the primary key by
    // default, or the chosen index), in no particular order.
    let (ident, columns): (String, Vec<String>) = sqlx::query_as(
        "SELECT c.relreplident::text, COALESCE(( \
           SELECT array_agg(a.attname::text) FROM pg_index i \
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
           WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END \
         ), ARRAY[]::text[]) \
         FROM pg_class c WHERE c.oid = to_regclass($1)",
    )
    .bind(&name)
    .fetch_one(pool)
    .await
    .map_err(|e| source_error(conn, &format!("reading the replica identity of {name}"), e))?;
    let mut key: Vec<&str> = table
        .key
        .iter()
        .map(|&i| table.columns[i].name.as_str())
        .collect();
    key.sort_unstable();
    let mut ident_cols: Vec<&str> = columns.iter().map(String::as_str).collect();
    ident_cols.sort_unstable();
    let fix = format!("ALTER TABLE {name} REPLICA IDENTITY FULL;");
    let refuse = |why: String| SyncError::ReplicaIdentity {
        table: table.source_table.clone(),
        why,
        fix: fix.clone(),
    };
    match ident.as_str() {
        "f" => Ok(()),
        _ if old_rows => Err(refuse(
            "it is synced both ways, and a change must carry the whole row as it was before, so that the side receiving it can tell whether it changed the row meanwhile (a conflict)".into(),
        )),
        _ if table.filter.is_some() => Err(refuse(
            "it has a `where:` filter, which PostgreSQL evaluates on the old row of updates and deletes, so the old row must carry every column".into(),
        )),
        "d" | "i" if ident_cols == key => Ok(()),
        "d" | "i" if ident_cols.is_empty() => Err(refuse(
            "it has no primary key, so an UPDATE or DELETE would reach the change stream without the row's key (and PostgreSQL refuses them on a published table)".into(),
        )),
        "d" | "i" => Err(refuse(format!(
            "its replica identity is ({}) but sync matches rows on ({})",
            ident_cols.join(", "),
            key.join(", ")
        ))),
        _ => Err(refuse(
            "its replica identity is NOTHING, so updates and deletes carry no key".into(),
        )),
    }
}

/// What `prepare` found or made.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Whether the slot was created now (the stream then starts here).
    pub created: bool,
}

/// Creates the publication for the selected tables (with each `where:` filter as its
/// row filter) or brings an existing one to the selection, and creates the slot if it is
/// not there. The slot is created last: from that instant the source keeps its WAL.
pub async fn prepare(
    pool: &sqlx::PgPool,
    conn: &Connection,
    names: &Names,
    selection: &Selection,
) -> Result<Prepared, SyncError> {
    let tables: Vec<String> = selection
        .tables
        .iter()
        .map(|t| {
            let filter = t
                .filter
                .as_ref()
                .map(|f| format!(" WHERE ({f})"))
                .unwrap_or_default();
            format!("{}{filter}", qualified(conn, &t.source_table))
        })
        .collect();
    let publication = quote(names.publication());
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(names.publication())
            .fetch_one(pool)
            .await
            .map_err(|e| source_error(conn, "reading pg_publication", e))?;
    let sql = if exists {
        format!(
            "ALTER PUBLICATION {publication} SET TABLE {}",
            tables.join(", ")
        )
    } else {
        format!(
            "CREATE PUBLICATION {publication} FOR TABLE {}",
            tables.join(", ")
        )
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map_err(|e| source_error(conn, &format!("creating the publication {publication}"), e))?;
    let slot_exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
    )
    .bind(&names.slot)
    .fetch_one(pool)
    .await
    .map_err(|e| source_error(conn, "reading pg_replication_slots", e))?;
    if !slot_exists {
        sqlx::query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')")
            .bind(&names.slot)
            .execute(pool)
            .await
            .map_err(|e| {
                source_error(
                    conn,
                    &format!("creating the replication slot {}", names.slot),
                    e,
                )
            })?;
    }
    Ok(Prepared {
        created: !slot_exists,
    })
}

/// Writes a watermark into the source's change stream: a transactional logical message
/// (`pg_logical_emit_message`), which reaches the slot in commit order like a row change
/// but touches no table, so the source needs no signal table.
pub async fn watermark(
    pool: &sqlx::PgPool,
    conn: &Connection,
    names: &Names,
    mark: Mark,
    chunk: u64,
) -> Result<(), SyncError> {
    sqlx::query("SELECT pg_logical_emit_message(true, $1, $2)")
        .bind(MESSAGE_PREFIX)
        .bind(format!("{}:{}:{chunk}", names.slot, mark.as_str()))
        .execute(pool)
        .await
        .map_err(|e| source_error(conn, "writing a watermark", e))?;
    Ok(())
}

/// Reads one chunk of the initial copy with the snapshot it was read in: PostgreSQL
/// makes a transaction visible only after its commit record is in the WAL, so the
/// stream may carry before the low mark a transaction this read did not see
/// (`sync/read_view.rs`).
pub async fn read_chunk(
    pool: &sqlx::PgPool,
    sql: &str,
    params: &[String],
) -> Result<(crate::rows::source::Rows, ReadView), sqlx::Error> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    // The first statement takes the snapshot the page is read in.
    let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
        .fetch_one(&mut *tx)
        .await?;
    let rows = crate::rows::source::fetch(&mut *tx, sql, params).await?;
    tx.commit().await?;
    let view = ReadView::parse_pg_snapshot(&snapshot).ok_or_else(|| {
        sqlx::Error::Protocol(format!("unreadable pg_current_snapshot(): {snapshot}"))
    })?;
    Ok((rows, view))
}

/// The slot's state, for `sync status`: whether a session holds it, and the WAL the
/// source keeps for it (from its confirmed position to now).
pub async fn status(
    pool: &sqlx::PgPool,
    conn: &Connection,
    names: &Names,
) -> Result<SourceState, SyncError> {
    let row: Option<(bool, Option<i64>)> = sqlx::query_as(
        "SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
         FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(&names.slot)
    .fetch_optional(pool)
    .await
    .map_err(|e| source_error(conn, "reading the replication slot", e))?;
    let current: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(pool)
        .await
        .map_err(|e| source_error(conn, "reading the WAL position", e))?;
    Ok(SourceState {
        exists: row.is_some(),
        active: row.map(|r| r.0),
        behind: row.and_then(|r| r.1),
        behind_unit: "bytes of WAL",
        current,
        kind: "replication slot",
        note: None,
    })
}

/// Removes the slot (ending the session that holds it, if any) and the publication;
/// returns what was there to remove.
pub async fn drop_all(
    pool: &sqlx::PgPool,
    conn: &Connection,
    names: &Names,
) -> Result<Vec<String>, SyncError> {
    let mut dropped = Vec::new();
    let active: Option<Option<i32>> =
        sqlx::query_scalar("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1")
            .bind(&names.slot)
            .fetch_optional(pool)
            .await
            .map_err(|e| source_error(conn, "reading the replication slot", e))?;
    if let Some(pid) = active {
        if let Some(pid) = pid {
            // A running `migrator sync` holds it: end its replication session (waiting
            // up to 10 s for it to go), or the slot cannot be dropped.
            sqlx::query("SELECT pg_terminate_backend($1, 10000)")
                .bind(pid)
                .execute(pool)
                .await
                .map_err(|e| source_error(conn, "ending the slot's session", e))?;
        }
        sqlx::query("SELECT pg_drop_replication_slot($1)")
            .bind(&names.slot)
            .execute(pool)
            .await
            .map_err(|e| source_error(conn, "dropping the replication slot", e))?;
        dropped.push(format!("replication slot {}", names.slot));
    }
    let publication: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(names.publication())
            .fetch_one(pool)
            .await
            .map_err(|e| source_error(conn, "reading pg_publication", e))?;
    if publication {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP PUBLICATION {}",
            quote(names.publication())
        )))
        .execute(pool)
        .await
        .map_err(|e| source_error(conn, "dropping the publication", e))?;
        dropped.push(format!("publication {}", names.publication()));
    }
    Ok(dropped)
}

/// A relation as pgoutput last described it in this session, and (once a change that
/// sync applies used it) where the selected table's columns are in its tuples.
///
/// The mapping waits for the first applied change: a description sent inside a
/// transaction the destination already holds (skipped on resume) must still be kept,
/// since pgoutput sends each relation once per session, but must not stop the sync
/// when it describes the table as it was before a column sync has since added.
#[derive(Debug)]
struct Described {
    namespace: String,
    name: String,
    columns: Vec<String>,
    mapped: Option<Relation>,
}

/// Where a selected table's columns are in a relation's tuples.
#[derive(Debug, Clone)]
struct Relation {
    /// The selection's table; `None` for a relation sync does not carry.
    table: Option<usize>,
    /// For each of the selection table's columns, its position in the relation's tuples;
    /// `None` for a column the description predates (added at the source later, after
    /// this change was written): the change leaves it as the destination holds it.
    columns: Vec<Option<usize>>,
}

/// An open change stream.
pub struct PgCapture {
    client: ReplicationClient,
    parser: LogicalReplicationParser,
    relations: HashMap<u32, Described>,
    /// A plain connection to the source, for its catalog: whether a column a relation
    /// description lacks exists at the source now.
    catalog: sqlx::PgPool,
    selection: Selection,
    /// Every column each selected source table had when sync started: a relation with a
    /// column beyond these is a schema change.
    known: Vec<Vec<String>>,
    slot: String,
    schema: String,
    /// Transactions committed at or before this position were applied already.
    resume: Lsn,
    /// The current transaction is one of those: its events are dropped.
    skipping: bool,
    /// A sync both ways: the replication origin of the other stream's applying session.
    /// A transaction carrying it is what that stream applied here, and is dropped whole
    /// (loop prevention: a change makes one round).
    skip_origin: Option<String>,
    /// The current transaction carries `skip_origin`.
    echo: bool,
    /// Something of the current transaction was passed on (its `Commit` then is too).
    passed: bool,
    /// A `Begin` not yet passed on: pgoutput sends a transaction's `Origin` right after
    /// its `Begin`, so the `Begin` waits for the first event that is passed on.
    begin: Option<String>,
    /// The id of the transaction being read: the catalog is read only once it sees it.
    xid: Option<u32>,
    /// An event to return before reading the stream again (the one after a `Begin`).
    queued: Option<Event>,
}

impl std::fmt::Debug for PgCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCapture")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// The replication connection's settings from the connection's URL (host, port, user,
/// password, database, and TLS as libpq and sqlx read them).
///
/// TLS follows the URL's `sslmode` as sqlx's own connections to the same source do:
/// `disable` plain; `allow`, `prefer` (the default) encrypted when the server offers it;
/// `require` encrypted, the certificate unchecked (checked against `sslrootcert` when the
/// URL names one, as libpq does); `verify-ca` checked against `sslrootcert` (or the
/// Mozilla roots); `verify-full` the host name too. The replication client checks the
/// host name under `verify-ca` as well (pgwire-replication 0.5 lets a mismatch through
/// only under an error rustls no longer gives), so a checked certificate must name the
/// host in the URL. `sslcert` and `sslkey` present a client certificate. The password
/// goes as the server's `pg_hba.conf` asks (SCRAM, MD5, or in clear for `password`, as
/// with libpq): only a checked certificate keeps it from a server in the middle.
fn replication_config(
    conn: &Connection,
    names: &Names,
    start: Lsn,
) -> Result<ReplicationConfig, SyncError> {
    let bad = |reason: String| SyncError::Source {
        connection: conn.name.clone(),
        what: "reading the URL for the replication connection".into(),
        reason,
    };
    let url = source_url::parse(conn, "replication connection")?;
    let decode = source_url::decoded;
    let user = match url.username() {
        "" => std::env::var("USER").unwrap_or_else(|_| "postgres".into()),
        u => decode(u),
    };
    let password = url.password().map(decode).unwrap_or_default();
    let database = decode(url.path().trim_start_matches('/'));
    let host = url.host_str().unwrap_or("localhost").to_string();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let tls = tls_config(&query).map_err(bad)?;
    seaway_codegen::engine::connect::crypto_provider();
    Ok(ReplicationConfig::new(
        host,
        user,
        password,
        database,
        names.slot.clone(),
        names.publication(),
    )
    .with_port(url.port().unwrap_or(5432))
    .with_tls(tls)
    .with_start_lsn(start)
    .with_options(SESSION_OPTIONS)
    .with_application_name(format!("seaway sync {}", names.slot))
    // Applied positions reach the source within a second of their destination commit.
    .with_status_interval(Duration::from_secs(1))
    .with_wakeup_interval(Duration::from_secs(1)))
}

/// The replication connection's TLS from the URL's `sslmode`, `sslrootcert`, `sslcert`
/// and `sslkey` (see [`replication_config`]); the error names the parameter at fault.
fn tls_config(query: &HashMap<String, String>) -> Result<pgwire_replication::TlsConfig, String> {
    use pgwire_replication::{SslMode, TlsConfig};
    let root = query.get("sslrootcert").map(std::path::PathBuf::from);
    let mode = match query.get("sslmode").map(String::as_str) {
        Some("disable") => SslMode::Disable,
        Some("allow" | "prefer") | None => SslMode::Prefer,
        // libpq checks a `require` connection's certificate when it has a root to check
        // it against.
        Some("require") if root.is_some() => SslMode::VerifyCa,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(other) => {
            return Err(format!(
                "sslmode={other} is not a PostgreSQL sslmode (disable, allow, prefer, require, verify-ca, verify-full)"
            ));
        }
    };
    // The root is read only where a certificate is checked, as libpq reads it.
    let root = root.filter(|_| mode.verifies_certificate());
    if let Some(path) = &root
        && !path.is_file()
    {
        return Err(format!(
            "sslrootcert={} is not a readable file; give the path of the PEM file of the CA that signed the server's certificate",
            path.display()
        ));
    }
    let tls = TlsConfig {
        mode,
        ca_pem_path: root,
        ..TlsConfig::default()
    };
    match (query.get("sslcert"), query.get("sslkey")) {
        (Some(cert), Some(key)) => Ok(tls.with_client_cert(cert, key)),
        (None, None) => Ok(tls),
        (Some(_), None) => Err("sslcert is set without sslkey; give both (the client certificate and its private key) or neither".into()),
        (None, Some(_)) => Err("sslkey is set without sslcert; give both (the client certificate and its private key) or neither".into()),
    }
}

/// The replication client's error, with what fixes it where TLS is at fault (its
/// handshake runs as the stream starts, so the error comes from the stream).
fn stream_reason(e: &pgwire_replication::PgWireError) -> String {
    let text = e.to_string();
    let hint = if text.contains("not valid for name") {
        "the server's certificate does not name the host in the URL: connect by a name it carries (sync's replication client checks the name whenever it checks the certificate: sslmode=verify-ca, and require with sslrootcert), or set sslmode=require without sslrootcert to encrypt without checking the certificate"
    } else if text.contains("UnknownIssuer") {
        "the server's certificate is not signed by the CA in sslrootcert (or, without one, by a Mozilla root): set sslrootcert to the PEM file of the CA your server's certificate comes from"
    } else if text.contains("does not support TLS") {
        "the server offers no TLS: turn ssl on in its postgresql.conf, or set sslmode=prefer (or disable) in the URL"
    } else {
        return text;
    };
    format!("{text}; {hint}")
}

/// pgoutput's mark of an old tuple that is the whole row (`REPLICA IDENTITY FULL`), not
/// only the key (`K`).
const WHOLE_OLD_ROW: char = 'O';

/// Parses a stored position (an LSN like `0/16B3748`).
pub fn parse_position(position: &Position) -> Option<Lsn> {
    Lsn::parse(&position.0).ok()
}

impl PgCapture {
    /// Starts streaming from the slot, after `resume` (the position the destination
    /// holds; the slot's own confirmed position when `None`). `known` lists each selected
    /// table's source columns when sync started; `catalog` is a plain connection to the
    /// same source.
    pub async fn open(
        conn: &Connection,
        catalog: sqlx::PgPool,
        names: &Names,
        selection: &Selection,
        known: Vec<Vec<String>>,
        resume: Option<&Position>,
        skip_origin: Option<&str>,
    ) -> Result<PgCapture, SyncError> {
        let start = resume.and_then(parse_position).unwrap_or(Lsn::ZERO);
        let config = replication_config(conn, names, start)?;
        let client = ReplicationClient::connect(config)
            .await
            .map_err(|e| SyncError::Stream {
                connection: conn.name.clone(),
                reason: conn.url.scrub(&stream_reason(&e)),
            })?;
        Ok(PgCapture {
            client,
            parser: LogicalReplicationParser::with_protocol_version(1),
            relations: HashMap::new(),
            catalog,
            selection: selection.clone(),
            known,
            slot: names.slot.clone(),
            schema: schema_of(conn),
            resume: start,
            skipping: false,
            skip_origin: skip_origin.map(str::to_string),
            echo: false,
            passed: false,
            begin: None,
            xid: None,
            queued: None,
        })
    }

    /// Tells the source that everything up to `position` is applied (after the
    /// destination committed it): the slot may release the WAL before it.
    pub fn confirm(&self, position: &Position) {
        if let Some(lsn) = parse_position(position) {
            self.client.update_applied_lsn(lsn);
        }
    }

    /// The next event, waiting at most `wait` (`None`: nothing came in time).
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Event>, SyncError> {
        if let Some(event) = self.queued.take() {
            return Ok(Some(event));
        }
        loop {
            let received = match tokio::time::timeout(wait, self.client.recv()).await {
                Err(_) => return Ok(None),
                Ok(r) => r.map_err(|e| SyncError::Stream {
                    connection: self.slot.clone(),
                    reason: stream_reason(&e),
                })?,
            };
            let Some(event) = received else {
                return Err(SyncError::Stream {
                    connection: self.slot.clone(),
                    reason: "the source ended the replication stream".into(),
                });
            };
            if let Some(event) = self.translate(event).await? {
                return Ok(Some(self.passed_on(event)));
            }
        }
    }

    /// `event`, or the `Begin` held back for it (`event` then comes next).
    fn passed_on(&mut self, event: Event) -> Event {
        match (&event, self.begin.take()) {
            (
                Event::Change(_)
                | Event::Truncate { .. }
                | Event::Watermark { .. }
                | Event::Commit { .. }
                | Event::Told(_),
                Some(xid),
            ) => {
                self.passed = true;
                self.queued = Some(event);
                Event::Begin { xid }
            }
            (_, begin) => {
                self.begin = begin;
                event
            }
        }
    }

    /// One replication event as a change-model event, or `None` for what sync does not
    /// apply (relation descriptions, other syncs' watermarks, skipped transactions).
    async fn translate(&mut self, event: ReplicationEvent) -> Result<Option<Event>, SyncError> {
        Ok(match event {
            ReplicationEvent::Begin { final_lsn, xid, .. } => {
                // Commit records before the resume position belong to transactions the
                // destination already holds (its position is just past their commit).
                self.skipping = !self.resume.is_zero() && final_lsn < self.resume;
                self.echo = false;
                self.passed = false;
                self.begin = (!self.skipping).then(|| xid.to_string());
                self.xid = Some(xid);
                None
            }
            ReplicationEvent::Commit {
                end_lsn,
                commit_time_micros,
                ..
            } => {
                let skipped = std::mem::take(&mut self.skipping);
                let passed = std::mem::take(&mut self.passed);
                if std::mem::take(&mut self.echo) && !passed {
                    // What the other stream applied: nothing of it is passed on, and
                    // the keepalives that follow carry the stream past it.
                    self.begin = None;
                    return Ok(None);
                }
                (!skipped).then(|| Event::Commit {
                    position: Position(end_lsn.to_string()),
                    commit_micros: commit_time_micros + PG_EPOCH_MICROS,
                    clock_step_micros: 1,
                })
            }
            ReplicationEvent::XLogData { data, .. } => {
                let message = self
                    .parser
                    .parse_wal_message(&data)
                    .map_err(|e| SyncError::Stream {
                        connection: self.slot.clone(),
                        reason: format!("undecodable pgoutput message: {e}"),
                    })?
                    .message;
                self.message(message).await?
            }
            ReplicationEvent::Message {
                prefix, content, ..
            } if prefix == MESSAGE_PREFIX && !self.skipping && !self.echo => {
                let text = String::from_utf8_lossy(&content);
                let mut parts = text.rsplitn(3, ':');
                let (chunk, mark, slot) = (parts.next(), parts.next(), parts.next());
                match (slot, mark.and_then(Mark::parse), chunk.map(str::parse)) {
                    (Some(s), Some(mark), Some(Ok(chunk))) if s == self.slot => {
                        Some(Event::Watermark { mark, chunk })
                    }
                    _ => None,
                }
            }
            ReplicationEvent::Message {
                prefix, content, ..
            } if prefix == RESOLVED_PREFIX && !self.skipping => {
                let text = String::from_utf8_lossy(&content);
                crate::sync::change::Told::addressed(&text, &self.slot, &self.selection)
                    .map_err(|reason| SyncError::Stream {
                        connection: self.slot.clone(),
                        reason,
                    })?
                    .map(Event::Told)
            }
            ReplicationEvent::Message { .. } => None,
            ReplicationEvent::KeepAlive { wal_end, .. } => Some(Event::Idle {
                position: (!self.skipping).then(|| Position(wal_end.to_string())),
            }),
            ReplicationEvent::StoppedAt { .. } => None,
        })
    }

    /// A decoded pgoutput message.
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "pgoutput messages of later protocol versions (streaming, two-phase) are not requested"
    )]
    async fn message(
        &mut self,
        message: LogicalReplicationMessage,
    ) -> Result<Option<Event>, SyncError> {
        if let LogicalReplicationMessage::Relation {
            relation_id,
            namespace,
            relation_name,
            columns,
            ..
        } = message
        {
            // Kept even inside a skipped transaction: pgoutput describes a relation once
            // per session, before its first change, whichever transaction that is in.
            self.relations.insert(
                relation_id,
                Described {
                    namespace: namespace.to_string(),
                    name: relation_name.to_string(),
                    columns: columns.iter().map(|c| c.name.to_string()).collect(),
                    mapped: None,
                },
            );
            return Ok(None);
        }
        if let LogicalReplicationMessage::Origin { origin_name, .. } = &message {
            self.echo = self.skip_origin.as_deref() == Some(origin_name.as_str());
            return Ok(None);
        }
        if self.skipping || self.echo {
            return Ok(None);
        }
        Ok(match message {
            LogicalReplicationMessage::Insert { relation_id, tuple } => {
                self.change(relation_id, Op::Insert, Some(&tuple), None, false)
                    .await?
            }
            LogicalReplicationMessage::Update {
                relation_id,
                old_tuple,
                new_tuple,
                key_type,
            } => {
                self.change(
                    relation_id,
                    Op::Update,
                    Some(&new_tuple),
                    old_tuple.as_ref(),
                    key_type == Some(WHOLE_OLD_ROW),
                )
                .await?
            }
            LogicalReplicationMessage::Delete {
                relation_id,
                old_tuple,
                key_type,
            } => {
                self.change(
                    relation_id,
                    Op::Delete,
                    None,
                    Some(&old_tuple),
                    key_type == WHOLE_OLD_ROW,
                )
                .await?
            }
            LogicalReplicationMessage::Truncate { relation_ids, .. } => {
                // Every table one TRUNCATE empties comes in one message (those of its
                // CASCADE too), so the set is closed under the foreign keys between them.
                let mut tables = Vec::new();
                for id in &relation_ids {
                    // pgoutput describes each relation before its first use in a stream.
                    let Some(d) = self.relations.get(id) else {
                        return Err(SyncError::Stream {
                            connection: self.slot.clone(),
                            reason: format!(
                                "a TRUNCATE names relation {id}, which the stream did not describe first"
                            ),
                        });
                    };
                    if d.namespace == self.schema
                        && let Some(t) = self.selection.index(&d.name)
                    {
                        tables.push(t);
                    }
                }
                (!tables.is_empty()).then_some(Event::Truncate { tables })
            }
            _ => None,
        })
    }

    /// Maps a relation's columns onto the selection's table, refusing a table whose
    /// columns changed under the sync (`sync::described::positions`).
    async fn relation(&self, described: &Described) -> Result<Relation, SyncError> {
        let (namespace, name) = (&described.namespace, &described.name);
        let table = (*namespace == self.schema)
            .then(|| self.selection.index(name))
            .flatten();
        let Some(t) = table else {
            return Ok(Relation {
                table: None,
                columns: Vec::new(),
            });
        };
        // A description that differs from the columns sync started with is checked
        // against the catalog (dropped or added), once the catalog sees this transaction.
        if described.columns != self.known[t] {
            self.catalog_sees_transaction().await?;
        }
        let columns = crate::sync::described::positions(
            name,
            &self.selection.tables[t],
            &self.known[t],
            &described.columns,
            |column| async move { self.source_has(name, &column).await },
        )
        .await?;
        Ok(Relation {
            table: Some(t),
            columns,
        })
    }

    /// Whether the source's table `table` (in the sync's schema) has column `column` now.
    async fn source_has(&self, table: &str, column: &str) -> Result<bool, SyncError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped)",
        )
        .bind(&self.schema)
        .bind(table)
        .bind(column)
        .fetch_one(&self.catalog)
        .await
        .map_err(|e| SyncError::Stream {
            connection: self.slot.clone(),
            reason: format!("reading the source's catalog for `{table}`.`{column}`: {e}"),
        })
    }

    /// Waits until the source's catalog sees the transaction being read. The stream
    /// carries a transaction once its commit is in the WAL, a moment before it may be
    /// visible (`sync/read_view.rs`): a catalog read then would still show a column the
    /// transaction dropped (its rows taken for rows written before the column was added)
    /// or lack one it added (leaving `diff` nothing to plan).
    async fn catalog_sees_transaction(&self) -> Result<(), SyncError> {
        let Some(xid) = self.xid else {
            return Ok(());
        };
        let snapshot = || async {
            let text: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
                .fetch_one(&self.catalog)
                .await
                .map_err(|e| SyncError::Stream {
                    connection: self.slot.clone(),
                    reason: format!("reading the source's snapshot: {e}"),
                })?;
            let view = ReadView::parse_pg_snapshot(&text).unwrap_or(ReadView::StreamOrder);
            Ok::<_, SyncError>(((), view))
        };
        crate::sync::read_view::read_seeing(&[xid], snapshot)
            .await?
            .map_err(|xid| SyncError::Stream {
                connection: self.slot.clone(),
                reason: crate::sync::read_view::still_unseen(xid),
            })
    }

    /// A row change on relation `relation_id`, in the change model.
    async fn change(
        &mut self,
        relation_id: u32,
        op: Op,
        new: Option<&TupleData>,
        old: Option<&TupleData>,
        old_whole: bool,
    ) -> Result<Option<Event>, SyncError> {
        let Some(described) = self.relations.get(&relation_id) else {
            return Err(SyncError::Stream {
                connection: self.slot.clone(),
                reason: format!("a change of relation {relation_id} came before its description"),
            });
        };
        if described.mapped.is_none() {
            let mapped = self.relation(described).await?;
            if let Some(d) = self.relations.get_mut(&relation_id) {
                d.mapped = Some(mapped);
            }
        }
        let Some(relation) = self
            .relations
            .get(&relation_id)
            .and_then(|d| d.mapped.as_ref())
        else {
            return Ok(None);
        };
        let Some(t) = relation.table else {
            return Ok(None);
        };
        let table = &self.selection.tables[t];
        let values = |tuple: &TupleData| -> Result<(Values, Vec<usize>), SyncError> {
            let mut row = Vec::with_capacity(relation.columns.len());
            let mut unchanged = Vec::new();
            for (i, (&p, col)) in relation.columns.iter().zip(&table.columns).enumerate() {
                let Some(p) = p else {
                    // Added at the source after this change: the destination keeps it.
                    unchanged.push(i);
                    row.push(None);
                    continue;
                };
                let Some(data) = tuple.get_column(p) else {
                    row.push(None);
                    continue;
                };
                if data.is_unchanged() {
                    unchanged.push(i);
                    row.push(None);
                } else if data.is_null() {
                    row.push(None);
                } else {
                    let text = data.as_str().ok_or_else(|| SyncError::Stream {
                        connection: self.slot.clone(),
                        reason: format!(
                            "table `{}` column `{}`: a value that is not UTF-8 text",
                            table.source_table, col.name
                        ),
                    })?;
                    row.push(Some(canonical(col, &text).map_err(|why| {
                        SyncError::Unsupported {
                            table: table.source_table.clone(),
                            what: format!("column `{}`: {why}", col.name),
                        }
                    })?));
                }
            }
            Ok((row, unchanged))
        };
        let key_of =
            |row: &Values| -> Values { table.key.iter().map(|&k| row[k].clone()).collect() };
        let old_row = old.map(values).transpose()?.map(|(row, _)| row);
        let whole_old_row = old_row.clone().filter(|_| old_whole);
        let change = match op {
            Op::Insert | Op::Update => {
                let Some(new) = new else { return Ok(None) };
                let (mut row, mut unchanged) = values(new)?;
                // With REPLICA IDENTITY FULL the old row carries what the new one left out.
                if let Some(old) = &old_row {
                    unchanged.retain(|&i| {
                        row[i] = old[i].clone();
                        old[i].is_none()
                    });
                }
                let old_key = old_row.as_ref().map(key_of).filter(|k| *k != key_of(&row));
                Change {
                    table: t,
                    op,
                    row: Some(row),
                    unchanged,
                    old_key,
                    old_row: whole_old_row,
                }
            }
            Op::Delete => Change {
                table: t,
                op,
                row: None,
                unchanged: Vec::new(),
                old_key: old_row.as_ref().map(key_of),
                old_row: whole_old_row,
            },
        };
        Ok(Some(Event::Change(change)))
    }

    /// Ends the replication session; the slot stays for the next run.
    pub async fn close(mut self) {
        self.client.stop();
        let _ = self.client.shutdown().await;
    }
}

/// A column's text output, as the walsender renders it under [`SESSION_OPTIONS`], in
/// the canonical text `rows::read` selects for the same column (`postgres_expr`).
pub fn canonical(col: &Column, text: &str) -> Result<String, String> {
    Ok(match Family::of(&col.ty) {
        Family::Bool => match text {
            "t" => "1".into(),
            "f" => "0".into(),
            other => return Err(format!("`{other}` is not a boolean")),
        },
        Family::Bytes => text.strip_prefix("\\x").unwrap_or(text).to_string(),
        Family::Time | Family::Timestamp => micros(text),
        Family::TimestampTz => micros(text.strip_suffix("+00").unwrap_or(text)),
        Family::TimeTz => {
            let split = text.rfind(['+', '-']).unwrap_or(text.len());
            format!("{}{}", micros(&text[..split]), &text[split..])
        }
        Family::Array => array_to_json(col, text)?,
        Family::Number
        | Family::Date
        | Family::Json
        | Family::Set
        | Family::Bit
        | Family::Text
        | Family::Other => text.to_string(),
    })
}

/// A time of day or a date-time with exactly six fractional digits, as
/// `to_char(.., 'HH24:MI:SS.US')` prints it.
fn micros(text: &str) -> String {
    let clock = text.rfind(' ').map_or(0, |i| i + 1);
    match text[clock..].find('.') {
        Some(dot) => {
            let digits = text.len() - (clock + dot + 1);
            format!("{text}{}", "0".repeat(6usize.saturating_sub(digits)))
        }
        None => format!("{text}.000000"),
    }
}

/// A one- or many-dimensional array's text output (`{1,2}`, `{"a b",NULL}`) as the JSON
/// `array_to_json` gives, for arrays of numbers, booleans and text.
fn array_to_json(col: &Column, text: &str) -> Result<String, String> {
    let NeutralType::Array(inner) = &col.ty else {
        return Err("not an array".into());
    };
    let family = Family::of(inner);
    let element = |raw: Option<String>| -> Result<serde_json::Value, String> {
        let Some(raw) = raw else {
            return Ok(serde_json::Value::Null);
        };
        Ok(match family {
            Family::Number => serde_json::from_str(&raw)
                .map_err(|_| format!("array element `{raw}` is not a number"))?,
            Family::Bool => serde_json::Value::Bool(raw == "t"),
            Family::Text => serde_json::Value::String(raw),
            Family::Bytes
            | Family::Date
            | Family::Time
            | Family::TimeTz
            | Family::Timestamp
            | Family::TimestampTz
            | Family::Json
            | Family::Array
            | Family::Set
            | Family::Bit
            | Family::Other => {
                return Err(format!(
                    "arrays of {inner} are not carried by sync yet (arrays of numbers, booleans and text are)"
                ));
            }
        })
    };
    let mut chars = text.chars().peekable();
    let value = parse_array(&mut chars, &element)?;
    serde_json::to_string(&value).map_err(|e| e.to_string())
}

/// One `{...}` level of an array literal.
fn parse_array(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    element: &dyn Fn(Option<String>) -> Result<serde_json::Value, String>,
) -> Result<serde_json::Value, String> {
    if chars.next() != Some('{') {
        return Err("an array literal that does not start with `{`".into());
    }
    let mut items = Vec::new();
    loop {
        match chars.peek() {
            Some('}') => {
                chars.next();
                return Ok(serde_json::Value::Array(items));
            }
            Some('{') => items.push(parse_array(chars, element)?),
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => s.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("an unterminated array element".into()),
                    }
                }
                items.push(element(Some(s))?);
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' || c == '}' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                items.push(element((s != "NULL").then_some(s))?);
            }
            None => return Err("an unterminated array literal".into()),
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(pairs: &[(&str, &str)]) -> Result<pgwire_replication::TlsConfig, String> {
        tls_config(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_replication_connection_takes_tls_from_the_url_as_libpq_does() {
        use pgwire_replication::SslMode;
        assert_eq!(tls(&[]).map(|t| t.mode), Ok(SslMode::Prefer));
        assert_eq!(
            tls(&[("sslmode", "allow")]).map(|t| t.mode),
            Ok(SslMode::Prefer)
        );
        assert_eq!(
            tls(&[("sslmode", "disable")]).map(|t| t.mode),
            Ok(SslMode::Disable)
        );
        assert_eq!(
            tls(&[("sslmode", "require")]).map(|t| t.mode),
            Ok(SslMode::Require)
        );
        let root = tempfile::NamedTempFile::new().expect("root file");
        let root_path = root.path().display().to_string();
        // `require` with a root checks the chain, as libpq does.
        let t = tls(&[("sslmode", "require"), ("sslrootcert", &root_path)]).expect("tls");
        assert_eq!(t.mode, SslMode::VerifyCa);
        assert_eq!(t.ca_pem_path.as_deref(), Some(root.path()));
        let t = tls(&[("sslmode", "verify-full")]).expect("tls");
        assert_eq!((t.mode, t.ca_pem_path), (SslMode::VerifyFull, None));
        // A root that nothing checks against is not read.
        let t = tls(&[
            ("sslmode", "prefer"),
            ("sslrootcert", "/nonexistent/ca.pem"),
        ])
        .expect("tls");
        assert_eq!((t.mode, t.ca_pem_path), (SslMode::Prefer, None));
        let t = tls(&[
            ("sslmode", "verify-ca"),
            ("sslcert", "c.pem"),
            ("sslkey", "k.pem"),
        ])
        .expect("tls");
        assert!(t.is_mtls());
    }

    #[test]
    fn bad_tls_parameters_are_named() {
        let err = tls(&[("sslmode", "required")]).expect_err("not an sslmode");
        assert!(err.contains("sslmode=required"), "{err}");
        let err = tls(&[
            ("sslmode", "verify-ca"),
            ("sslrootcert", "/nonexistent/ca.pem"),
        ])
        .expect_err("missing root");
        assert!(err.contains("sslrootcert=/nonexistent/ca.pem"), "{err}");
        let err = tls(&[("sslcert", "c.pem")]).expect_err("cert without key");
        assert!(err.contains("sslkey"), "{err}");
    }

    fn col(ty: NeutralType) -> Column {
        Column {
            name: "c".into(),
            ty,
            native: String::new(),
            nullable: true,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: vec![],
        }
    }

    /// Each rewrite gives exactly what `rows::read::select_expr` reads for the type.
    #[test]
    fn walsender_text_becomes_canonical_text() {
        let ts = col(NeutralType::Timestamp { precision: Some(6) });
        assert_eq!(
            canonical(&ts, "2024-01-02 03:04:05").unwrap(),
            "2024-01-02 03:04:05.000000"
        );
        assert_eq!(
            canonical(&ts, "2024-01-02 03:04:05.5").unwrap(),
            "2024-01-02 03:04:05.500000"
        );
        let tz = col(NeutralType::TimestampTz { precision: Some(6) });
        assert_eq!(
            canonical(&tz, "2024-01-02 03:04:05.123456+00").unwrap(),
            "2024-01-02 03:04:05.123456"
        );
        let ttz = col(NeutralType::TimeTz { precision: Some(6) });
        assert_eq!(
            canonical(&ttz, "03:04:05.5+05:30").unwrap(),
            "03:04:05.500000+05:30"
        );
        assert_eq!(
            canonical(&ttz, "03:04:05-02").unwrap(),
            "03:04:05.000000-02"
        );
        assert_eq!(canonical(&col(NeutralType::Bool), "t").unwrap(), "1");
        let bytes = col(NeutralType::Binary {
            length: None,
            fixed: false,
        });
        assert_eq!(canonical(&bytes, "\\x00ff").unwrap(), "00ff");
        let ints = col(NeutralType::Array(Box::new(NeutralType::Int {
            bits: 32,
            unsigned: false,
        })));
        assert_eq!(
            canonical(&ints, "{{1,2},{3,NULL}}").unwrap(),
            "[[1,2],[3,null]]"
        );
        let texts = col(NeutralType::Array(Box::new(NeutralType::Text)));
        assert_eq!(
            canonical(&texts, r#"{"a b","q\"uote",NULL,plain}"#).unwrap(),
            r#"["a b","q\"uote",null,"plain"]"#
        );
    }
}
