//! One integration-test binary for the codegen crate (ripgrep's `autotests = false`):
//! faster to link, and the modules share `support`.

// Tests report failure by panicking; `expect` carries the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The zoo round trips write a JSON object of ~45 columns with `json!`.
#![recursion_limit = "256"]

mod bad_input;
mod chinook;
mod cleanup;
mod contract;
mod determinism;
mod diff_cli;
mod objects;
mod observe;
mod service_round_trip;
mod service_zoo;
mod services;
mod support;
mod test_db;
mod zoo;
