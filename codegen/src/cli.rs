//! Command-line interface of `codegen`. The `///` comments are the `--help` text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// seaway's schema side: introspect databases into a neutral model (and, in later
/// stages, diff them, plan migrations and generate services).
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
