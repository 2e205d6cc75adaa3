//! Placeholder while the sqlite reader is written.
use super::{InspectError, Introspection};
use crate::config::Connection;

pub(super) async fn introspect(conn: &Connection) -> Result<Introspection, InspectError> {
    Err(InspectError::catalog(conn, "sqlite", "not implemented"))
}
