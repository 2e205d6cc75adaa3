//! Command-line interface of `codegen`. The `///` comments are the `--help` text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// seaway's schema side: introspect databases into a neutral model, diff them into
/// additive migrations, generate services per domain, and write HAProxy routing configs.
#[derive(Debug, Parser)]
#[command(name = "codegen", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The declarative config file.
    #[arg(
        long,
        global = true,
        default_value = "seaway.yaml",
        env = "SEAWAY_CONFIG"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a database's schema and write <output>/schema/<connection>.yaml.
    Introspect(IntrospectArgs),
    /// Compare the source (after mappings) with the destination and write the additive
    /// changes as the next migration in <output>/migrations/<destination>/.
    Diff(DiffArgs),
    /// Check that snapshots, migration files and the destination are all in step (CI).
    Check,
    /// Detect service boundaries in the source snapshot and write <output>/boundaries.yaml,
    /// and per service <output>/services/<name>/ (openapi.yaml and an axum + sea-orm crate).
    Generate(GenerateArgs),
    /// Write <output>/route/haproxy.cfg from the service boundaries and `routing:`: HAProxy
    /// in front of the monolith and the services, weights changed by `migrator route`.
    Route(GenerateArgs),
    /// Time boundary detection and rendering on a synthetic schema (`just bench-generate`).
    BenchGenerate(BenchGenerateArgs),
}

#[derive(Debug, Args)]
pub struct BenchGenerateArgs {
    /// Tables in the synthetic schema.
    #[arg(long, default_value_t = 500)]
    pub tables: usize,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write nothing; exit 1 if any generated file differs from what is on disk.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Write nothing; exit 1 if a migration would be written.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct IntrospectArgs {
    /// The connection to read (default: the config's `source`).
    #[arg(long, conflicts_with = "all")]
    pub connection: Option<String>,
    /// Read every configured connection.
    #[arg(long)]
    pub all: bool,
    /// Write nothing; exit 1 if a snapshot on disk differs from the live database.
    #[arg(long)]
    pub check: bool,
}

/// What is logged when `SEAWAY_LOG` is unset.
pub const DEFAULT_LOG: &str = "warn,sqlx_core::pool=error";

/// The shared body of every seaway binary's `main`: logging from `SEAWAY_LOG` (default
/// `warn`, to stderr), a two-thread runtime, and errors printed as one paragraph with
/// their context chain. Exit code 2 on error; otherwise what `run` returned.
pub fn execute<F>(run: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = anyhow::Result<std::process::ExitCode>>,
{
    use std::io::IsTerminal;
    crate::engine::connect::crypto_provider();
    // The pool's own warnings (a connection that failed its on-release ping after the
    // server dropped it) repeat an error the statement already returned, worded for
    // sqlx's developers: they stay out of the user's output unless SEAWAY_LOG asks.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEAWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: in a log file or CI they are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
