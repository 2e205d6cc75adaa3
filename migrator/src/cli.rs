//! migrator's command line: the clap types, whose `///` comments are the `--help`.

use clap::{Parser, Subcommand};
use seaway_migrator::apply::SectionChoice;
use std::path::PathBuf;
use std::time::Duration;

/// seaway's data side: check connections, apply migrations, transfer rows, verify them
/// against the source, keep them in step with its changes, and route traffic to generated
/// services.
#[derive(Debug, Parser)]
#[command(name = "migrator", version)]
pub struct Cli {
    /// The declarative config file.
    #[arg(
        long,
        global = true,
        default_value = "seaway.yaml",
        env = "SEAWAY_CONFIG"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to every configured connection (or --connection NAME) and print its server version.
    Ping {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
    /// Apply the destination's pending migrations (<output>/migrations/<destination>/),
    /// recording each section in its `seaway_migrations` table.
    Apply {
        /// pre-data (tables, columns) before a data load, post-data (indexes, foreign
        /// keys) after it, or all.
        #[arg(long, value_enum, default_value_t = SectionChoice::All)]
        section: SectionChoice,
        /// Print the SQL that would run and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds to wait while another `migrator apply` holds the lock
        /// [default: 30, or the destination's connect_timeout if longer].
        #[arg(long, value_name = "SECONDS")]
        lock_timeout: Option<u64>,
    },
    /// List the destination's migrations: each section applied, pending or failed, and
    /// whether the files still match what was applied.
    Status,
    /// Copy the selected tables' rows into the destination: upserts on the primary key,
    /// keyset pages, resumable after a crash (state in .seaway/state.sqlite). Into a
    /// table that already holds rows, each chunk is compared first (by checksums, as
    /// verify does) and only the rows that differ are written.
    Transfer {
        /// Start over instead of resuming an unfinished run.
        #[arg(long)]
        restart: bool,
        /// Rows per page (one read and one bulk upsert).
        #[arg(long, default_value_t = 5000)]
        page_size: usize,
        /// Chunks of a table copied at the same time.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Keys per chunk: integer keys split by range, other keys at sampled keys. A chunk
        /// is the unit of parallel work and of the fast first-load path.
        #[arg(long, default_value_t = 100_000, value_name = "KEYS")]
        chunk_size: i64,
        /// Only rows whose watermark column (`mappings.<table>.watermark`) is past this
        /// value, e.g. a timestamp; implies incremental mode.
        #[arg(long, value_name = "VALUE")]
        since: Option<String>,
        /// What to do with a row the destination refuses.
        #[arg(long, value_enum, default_value_t = seaway_migrator::transfer::OnError::Reject)]
        on_error: seaway_migrator::transfer::OnError,
        /// Copy every chunk without comparing it first, even into a destination that
        /// already holds its rows (rows held exactly are still not rewritten).
        #[arg(long, conflicts_with = "delete_extra")]
        copy_all: bool,
        /// Delete destination rows the source does not hold (found while comparing), after
        /// every table is copied; otherwise they are only counted.
        #[arg(long)]
        delete_extra: bool,
        /// When comparing with checksums computed by the databases (PostgreSQL and
        /// MySQL/MariaDB, single integer keys): key ranges a differing range is split into.
        #[arg(long, default_value_t = 8, value_name = "N")]
        bisection_factor: usize,
        /// A differing range of at most this many rows is compared row by row (each side
        /// sends a key and a row hash per row; only differing rows are then read).
        #[arg(long, default_value_t = 2048, value_name = "ROWS")]
        bisection_threshold: usize,
        /// Also write the summary as JSON to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Plan the run's chunks in the shared state store (`transfer.state`, a
        /// PostgreSQL connection) and wait while `migrator worker` processes, on this
        /// machine or others, copy them; a second run of the same job joins it.
        #[arg(long, conflicts_with_all = ["workers", "since"])]
        distributed: bool,
    },
    /// Take chunks of distributed transfers (`transfer --distributed`) from the shared
    /// state store (`transfer.state`) and copy them, each under a lease renewed by
    /// heartbeat, until stopped. SIGTERM finishes the page in hand, records it and gives
    /// the chunk back. Connection URLs come from this worker's own config and
    /// environment; the store only names connections.
    Worker {
        /// Chunks copied at the same time.
        #[arg(long, default_value_t = 2)]
        slots: u32,
        /// Seconds a chunk stays this worker's without a heartbeat (another worker
        /// continues it after that).
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        lease: u64,
    },
    /// Write the files that run `migrator serve` and a pool of workers (deploy/: a
    /// Dockerfile, docker-compose.yml, Kubernetes manifests; deploy/seaway.yaml only when
    /// missing, as it is yours to edit). --check: exit 1 when they are stale.
    Deploy {
        /// The folder the files go in.
        #[arg(long, default_value = "deploy")]
        out: PathBuf,
        /// The image the files run.
        #[arg(long, default_value = "seaway-migrator:latest")]
        image: String,
        /// Workers started.
        #[arg(long, default_value_t = 2)]
        workers: u32,
        /// The Kubernetes autoscaler's ceiling.
        #[arg(long, default_value_t = 8)]
        max_workers: u32,
        /// Compare instead of writing.
        #[arg(long)]
        check: bool,
    },
    /// Compare the destination's rows with the source's (after mappings): per table, row
    /// counts and a checksum per key-range chunk; differing chunks are diffed to the row.
    /// Exit 0 when identical, 1 when anything differs, 2 on error.
    Verify {
        /// Chunks of a table checked at the same time.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Keys per chunk: a single integer key split by range, other keys at sampled keys.
        #[arg(long, default_value_t = 10_000, value_name = "KEYS")]
        chunk_size: i64,
        /// Rows per read [default: 20000, or one more than --chunk-size if larger].
        #[arg(long, value_name = "ROWS")]
        page_size: Option<usize>,
        /// Show the differing values (they may be sensitive); otherwise only keys and
        /// column names.
        #[arg(long)]
        show_values: bool,
        /// At most this many differing rows listed per table (counts stay exact).
        #[arg(long, default_value_t = 1000, value_name = "ROWS")]
        max_listed: usize,
        /// Also write the report as JSON to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Re-send missing and changed rows through the transfer writer (extra rows are
        /// only reported, unless --delete-extra).
        #[arg(long)]
        repair: bool,
        /// With --repair: delete the destination's extra rows.
        #[arg(long, requires = "repair")]
        delete_extra: bool,
        /// Key ranges a differing range is split into when the databases compute the
        /// checksums (PostgreSQL and MySQL/MariaDB, single integer keys).
        #[arg(long, default_value_t = 8, value_name = "N")]
        bisection_factor: usize,
        /// A differing range of at most this many rows is read and diffed row by row.
        #[arg(long, default_value_t = 256, value_name = "ROWS")]
        bisection_threshold: usize,
        /// Check again every --interval seconds, until stopped (or --checks runs).
        #[arg(long)]
        continuous: bool,
        /// Seconds between two checks with --continuous.
        #[arg(
            long,
            default_value_t = 300,
            value_name = "SECONDS",
            requires = "continuous"
        )]
        interval: u64,
        /// With --continuous: alert (and exit 1, unless --keep-going) when the consistency
        /// of a check falls below this percentage.
        #[arg(long, value_name = "PERCENT", requires = "continuous")]
        alert_below: Option<f64>,
        /// With --continuous: log alerts and errors and go on checking.
        #[arg(long, requires = "continuous")]
        keep_going: bool,
        /// With --continuous: stop after this many checks.
        #[arg(long, value_name = "N", requires = "continuous")]
        checks: Option<u64>,
    },
    /// Serve the jobs API (transfer, verify, apply; /test-connection, /migrate), its live
    /// progress as Server-Sent Events, and a dashboard. Tokens: SEAWAY_SERVE_TOKENS=
    /// name:role:token,... (role viewer, operator or admin) or `server.tokens` in the
    /// config. SIGTERM stops jobs at a checkpoint; the next start resumes them.
    Serve {
        /// Address to listen on (port 0: any free port, printed at start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Print the API's OpenAPI document and exit (it is checked in as
        /// migrator/openapi.json).
        #[arg(long)]
        openapi: bool,
    },
    /// Keep the destination in step with the source's changes until stopped (SIGINT or
    /// SIGTERM): an initial copy handed over to the change stream with no gap and no
    /// double, then every source transaction applied in commit order, each with its
    /// position in the same destination transaction (a restart resumes exactly).
    /// Changes come from PostgreSQL's logical replication (a slot and a publication
    /// sync creates), MySQL/MariaDB's binary log (read as a replica; sync creates a
    /// `seaway_watermarks_*` table in the source database) or SQLite triggers (into a
    /// `seaway_changes_*` table). The source's settings and privileges are checked
    /// first; a refusal names the setting, its value and the fix (README, "Continuous
    /// sync"). `sync status` shows where it stands and its lag; `sync drop` removes what
    /// it made.
    #[command(args_conflicts_with_subcommands = true)]
    Sync {
        #[command(subcommand)]
        action: Option<SyncAction>,
        /// Skip the initial copy: the destination already holds the rows; changes from
        /// now on are applied.
        #[arg(long)]
        no_copy: bool,
        /// Keys per chunk of the initial copy (one read between two watermarks).
        #[arg(long, default_value_t = 5_000, value_name = "KEYS")]
        chunk_size: usize,
        /// On stop, also write the run's summary as JSON to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Both ways, as `sync.direction: both`: one stream each way, conflicts decided
        /// by `sync.tables` (docs/config.md). Refused for a table with a mask or a
        /// `where:` filter, and for the pairs of engines not built yet.
        #[arg(long)]
        both: bool,
        /// Both ways: run one stream and hold the other, `there` (source to destination)
        /// or `back`. The held stream's changes, and the decisions the running one sends
        /// it, wait in its source's log until a run without `--hold` releases it.
        #[arg(long, value_enum, value_name = "WAY")]
        hold: Option<HoldWay>,
    },
    /// Move traffic between the monolith and a generated service through HAProxy's admin
    /// socket (`codegen route` writes the config; `routing:` in seaway.yaml).
    Route {
        #[command(subcommand)]
        action: RouteAction,
    },
}

/// One stream of a sync both ways (`--hold`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HoldWay {
    /// Source to destination.
    There,
    /// Destination to source.
    Back,
}

#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// Where the sync stands: the source position applied, lag, changes, the initial
    /// copy, and what the source keeps for it (warns when an unused PostgreSQL slot
    /// keeps WAL; says how long a MySQL/MariaDB source keeps its binary log).
    Status,
    /// Remove the sync: its replication slot and publication (PostgreSQL), watermark
    /// table (MySQL/MariaDB) or triggers and change table (SQLite) on the source, and its
    /// position row in the destination.
    Drop,
}

#[derive(Debug, Subcommand)]
pub enum RouteAction {
    /// Send PERCENT of the service's paths to it (0 drains it: clients pinned by a sticky
    /// cookie stay until `rollback`). blue_green services take 0 or 100 only.
    Set {
        service: String,
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
    },
    /// Step the service up to --to percent, --step points every --every; each step is
    /// watched, and the service is rolled back to 0% (exit 1) when its health check
    /// fails, its error rate passes --max-error-rate or its average response time
    /// passes --max-response-ms.
    Shift {
        service: String,
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        to: u8,
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=100))]
        step: u8,
        /// How long each step is held and watched: 500ms, 30s, 5m, 1h.
        #[arg(long, default_value = "5m", value_parser = seaway_migrator::route::shift::parse_duration)]
        every: Duration,
        /// Percent of the service's requests in a step that may fail (5xx, refused or
        /// broken connections).
        #[arg(long, default_value_t = 1.0, value_name = "PERCENT")]
        max_error_rate: f64,
        /// Largest acceptable average response time of the service.
        #[arg(long, value_name = "MS")]
        max_response_ms: Option<u64>,
        /// Requests a step must see before its error rate is judged.
        #[arg(long, default_value_t = 20, value_name = "N")]
        min_requests: u64,
    },
    /// Take the service out at once: every request, sticky ones included, goes to the
    /// monolith; requests in flight at the service finish.
    Rollback { service: String },
    /// Show each routed service's share, its servers' states, checks, requests and errors.
    Status,
}
