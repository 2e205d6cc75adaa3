//! `migrator ping`: connect to each configured connection and report the server version,
//! so a user finds a wrong URL or a down server before a long transfer does.

use seaway_codegen::config::Connection;
use seaway_codegen::inspect::{self, ConnectError};
use std::time::{Duration, Instant};

/// One connection's answer.
#[derive(Debug, Clone)]
pub struct Pong {
    pub connection: String,
    /// The URL with its password redacted.
    pub url: String,
    pub server_version: String,
    pub round_trip: Duration,
}

/// Connects once and asks the server its version.
pub async fn ping(conn: &Connection) -> Result<Pong, ConnectError> {
    let started = Instant::now();
    let server_version = inspect::server_version(conn).await?;
    Ok(Pong {
        connection: conn.name.clone(),
        url: conn.url.redacted().to_string(),
        server_version,
        round_trip: started.elapsed(),
    })
}
