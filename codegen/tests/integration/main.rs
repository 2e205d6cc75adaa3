//! One integration-test binary for the codegen crate (ripgrep's `autotests = false`):
//! faster to link, and the modules share `support`.

mod support;
mod bad_input;
mod zoo;
