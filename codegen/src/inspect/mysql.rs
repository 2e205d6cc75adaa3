//! Placeholder while the mysql reader is written.
use super::{InspectError, Introspection};
use crate::config::Connection;

pub(super) async fn introspect(conn: &Connection) -> Result<Introspection, InspectError> {
    Err(InspectError::catalog(conn, "mysql", "not implemented"))
}
