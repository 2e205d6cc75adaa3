//! seaway's schema side: the declarative config, the neutral schema model, introspection
//! of PostgreSQL, MySQL/MariaDB and SQLite (one home per engine under `engine/`), the
//! desired destination, diff, migration plans, the start every data stage shares
//! (`stage`), service boundaries and generated services, and HAProxy routing configs.
//! The `codegen` binary is a thin shell over this library.

pub mod boundary;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dburl;
pub mod diff;
pub mod engine;
pub mod inspect;
pub mod migrations;
pub mod model;
pub mod plan;
pub mod render;
pub mod route;
pub mod snapshot_io;
pub mod stage;
pub mod synthetic;
pub mod target;
