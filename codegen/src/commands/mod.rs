//! What each `codegen` subcommand does, as library functions the binary and the tests
//! share. Nothing here prints: results come back as values for the caller to report.

pub mod check;
pub mod diff;
pub mod generate;
pub mod introspect;
pub mod route;
