//! `migrator route`: moves traffic between the monolith and a generated service through
//! HAProxy's admin socket, with no reload and no dropped connection. `codegen route`
//! wrote the config; this changes the backend's server weights and states at run time
//! and saves them to HAProxy's server-state file after every change, so a restarted
//! HAProxy comes back with the same split.
//!
//! - [`admin`]: the admin-socket client;
//! - [`stats`]: `show stat` parsed into per-server counters;
//! - [`control`]: set a percentage, roll back, read the current state;
//! - [`shift`]: step a service up under health and error-rate gates.

pub mod admin;
pub mod control;
pub mod shift;
pub mod stats;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "{path}: no `routing:` section; add one naming the monolith and each service (docs/config.md)"
    )]
    NoRouting { path: PathBuf },
    #[error("service `{name}` is not under `routing.services`{hint}; routed services: {known}")]
    UnknownService {
        name: String,
        hint: String,
        known: String,
    },
    #[error(
        "cannot reach HAProxy's admin socket {}: {source}; is HAProxy running with `codegen route`'s config (started from the folder holding seaway.yaml)?",
        path.display()
    )]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HAProxy's admin socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HAProxy refused `{command}`: {answer}")]
    Refused { command: String, answer: String },
    #[error(
        "HAProxy's stats have no row for {backend}/{server}; is the running config current (`just route`)?"
    )]
    NoServer { backend: String, server: String },
    #[error("unexpected `show stat` output from HAProxy: {0}")]
    Stats(String),
    #[error("`{service}` is blue_green: all or nothing, so 0 or 100, not {percent}")]
    AllOrNothing { service: String, percent: u8 },
    #[error("a percentage is 0..=100, not {0}")]
    Percent(u16),
    #[error("cannot save the server state to {}: {source}", path.display())]
    StateFile {
        path: PathBuf,
        source: std::io::Error,
    },
}
