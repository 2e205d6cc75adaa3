//! Why a sync could not start or had to stop: one error type for the stages of `sync`
//! and each engine's capture (a leaf: it imports neither).

use super::apply::ApplyError;
use crate::rows::plan::PlanError;

/// Why a sync could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Prepare(#[from] seaway_codegen::stage::StageError),
    #[error(transparent)]
    Connect(#[from] seaway_codegen::inspect::ConnectError),
    #[error(
        "destination `{destination}` lacks table(s) {tables}; run `just apply` (at least `--section pre-data`) first"
    )]
    MissingTables { destination: String, tables: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(
        "table `{0}` is append-only (no key): sync applies updates and deletes by key, so it needs one; name the columns that identify a row with `mappings.{0}.key: [...]`, or leave the table out of `tables:`"
    )]
    NoKey(String),
    /// For an engine whose home has no capture (every engine has one today; a new engine
    /// is refused here until it does).
    #[error(
        "change capture from {engine} is not built; the source `{connection}` cannot be synced"
    )]
    NotSupported {
        engine: &'static str,
        connection: String,
    },
    /// `origin` names the source connection, its engine and `host:port`.
    #[error(
        "the source {origin} is not set up for change capture: {setting} is `{current}`. Fix: {fix}"
    )]
    Setting {
        origin: String,
        setting: &'static str,
        current: String,
        fix: String,
    },
    #[error("the source `{connection}` at {endpoint} cannot stream changes: {what}. Fix: {fix}")]
    Privilege {
        connection: String,
        endpoint: String,
        what: String,
        fix: String,
    },
    /// A side of a sync both ways whose role lacks a right the sync needs there.
    #[error(
        "`{connection}` at {endpoint} cannot take part in a sync both ways: {what}. Fix: {fix}"
    )]
    BothWaysPrivilege {
        connection: String,
        endpoint: String,
        what: String,
        fix: String,
    },
    #[error("table `{table}` cannot be synced: {why}. Fix: {fix}")]
    ReplicaIdentity {
        table: String,
        why: String,
        fix: String,
    },
    #[error("the source `{connection}`: {what}: {reason}")]
    Source {
        connection: String,
        what: String,
        reason: String,
    },
    #[error("the change stream ({connection}): {reason}")]
    Stream { connection: String, reason: String },
    #[error("table `{table}`: {what}")]
    Unsupported { table: String, what: String },
    /// A circle of foreign keys the destination enforces blocks the initial copy.
    #[error("{0}")]
    ForeignKeyCycle(String),
    #[error(transparent)]
    Blocked(#[from] crate::rows::order::BlockedError),
    #[error("table `{table}` changed at the source during sync: {change}")]
    SchemaChange { table: String, change: String },
    /// A column was added to a selected table at the source: `run` applies it to the
    /// destination and restarts the stream (never returned by `run` itself).
    #[error("table `{table}`: column `{column}` was added at the source")]
    ColumnAdded { table: String, column: String },
    #[error(
        "the destination records that sync {slot} applied through {position}, but the source has no {kind} {slot} any more (dropped, or a failover to a server without it): changes since then are lost to the stream. Run `migrator sync drop` and start again with the initial copy"
    )]
    SlotLost {
        kind: &'static str,
        slot: String,
        position: String,
    },
    /// The binary log file holding a MySQL/MariaDB sync's position was purged; `lost`
    /// names the file, the oldest one left and how long the server keeps them.
    #[error(
        "sync {name} resumes at {position}, but the source {origin} {lost}: the changes since are lost to the stream. Run `migrator sync drop` and start again with the initial copy, and keep binary logs for longer than a sync may stay stopped: SET GLOBAL binlog_expire_logs_seconds = 604800; (or `expire_logs_days` on servers older than MariaDB 10.6 / MySQL 8.0), and the same under [mysqld] in the server's config"
    )]
    BinlogPurged {
        name: String,
        position: String,
        origin: String,
        lost: String,
    },
    #[error("the destination `{destination}`: {what}: {reason}")]
    Destination {
        destination: String,
        what: String,
        reason: String,
    },
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A config that cannot be synced both ways (a masked or filtered table), or one
    /// without a destination.
    #[error(transparent)]
    BothWaysConfig(seaway_codegen::config::ConfigError),
    /// A pair of engines whose sync both ways is not built; `missing` says what it needs.
    #[error(
        "sync both ways between {from} and {to} is not built yet (it needs {missing}); sync one way (`sync.direction: one_way`, the default, without `--both`); docs/architecture.md, \"Both ways\", says what is built and what each pair lacks"
    )]
    PairNotBuilt {
        from: String,
        to: String,
        missing: &'static str,
    },
    /// A table's conflict settings (`sync.tables.<table>`) that cannot apply to it.
    #[error("table `{table}`: {what}")]
    ConflictRule { table: String, what: String },
}
