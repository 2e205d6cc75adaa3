//! One integration-test binary for the migrator crate (`autotests = false`): the modules
//! share `support`, and each test makes its own databases so they run in parallel.

// Tests report failure by panicking; `expect` carries the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apply;
mod browser;
mod check;
mod configured_schema;
mod convergence;
mod deploy;
mod extras;
mod failures;
mod fidelity;
mod fk_cycle;
mod incremental;
mod interrupted;
mod lease;
mod left_out;
mod lock;
mod netns;
mod ping;
mod refusals;
mod resync;
mod route;
mod route_harness;
mod serve;
mod serve_harness;
mod shared_runs;
mod support;
mod sync;
mod sync_batching;
mod sync_both;
mod sync_both_live;
mod sync_both_pairs;
mod sync_both_rules;
mod sync_held;
mod sync_mysql;
mod sync_tls;
mod sync_truncate;
#[path = "../../../codegen/tests/integration/test_db.rs"]
mod test_db;
mod transfer;
mod transfer_faults;
mod transfer_options;
mod unreachable;
mod verify;
mod workers;
