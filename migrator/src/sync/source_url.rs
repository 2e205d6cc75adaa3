//! The source's URL, read for a capture's own connection (PostgreSQL's replication
//! connection, MySQL's replica connection), which the capture's client library opens
//! from parts rather than from sqlx's URL (a leaf the captures import).

use super::error::SyncError;
use seaway_codegen::config::Connection;

/// The URL of `conn`, parsed; `what` names the connection it is read for.
pub fn parse(conn: &Connection, what: &str) -> Result<url::Url, SyncError> {
    url::Url::parse(conn.url.expose()).map_err(|e| SyncError::Source {
        connection: conn.name.clone(),
        what: format!("reading the URL for the {what}"),
        reason: conn.url.scrub(&e.to_string()),
    })
}

/// A percent-encoded URL part (user, password, database), decoded.
pub fn decoded(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}
