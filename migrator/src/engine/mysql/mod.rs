//! MySQL/MariaDB's home in migrator: the same files as every engine's (`engine/mod.rs`).

pub mod apply;
pub mod both;
pub mod capture;
pub mod hash;
pub mod read;
pub mod write;

use seaway_codegen::config::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use std::str::FromStr;

/// MySQL/MariaDB, as the stages ask it (`engine::of`): `read.rs` and `hash.rs` implement its
/// roles.
#[derive(Debug, Clone, Copy)]
pub struct Mysql;

/// How to reach a connection's server with `mysql_async`, the driver seaway uses beside
/// sqlx for what sqlx cannot do (`LOAD DATA LOCAL INFILE` in `write/load_data.rs`; see
/// docs/architecture.md). Read from the same URL as the sqlx pool, with the same meaning:
/// host, port or `socket`, user, password, database, and `ssl-mode`/`ssl-ca`/`ssl-cert`/
/// `ssl-key`. `prefer_socket` is off, as in sqlx: the connection goes where the URL says.
///
/// TLS as sqlx's modes: `disabled` none; `preferred` (the default) and `required`
/// encrypted without checking the certificate (sqlx checks none either); `verify_ca`
/// against `ssl-ca` without the host name; `verify_identity` with it. `preferred` falls
/// back to plain only when the server offers no TLS at all ([`Tls::Preferred`]: the
/// caller retries with [`without_tls`]).
pub fn native_opts(conn: &Connection) -> Result<(mysql_async::OptsBuilder, Tls), String> {
    seaway_codegen::engine::connect::crypto_provider();
    let raw = conn.url.expose();
    let sqlx_opts =
        MySqlConnectOptions::from_str(raw).map_err(|e| conn.url.scrub(&e.to_string()))?;
    let url = url::Url::parse(raw).map_err(|e| conn.url.scrub(&e.to_string()))?;
    let decoded = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let param = |names: &[&str]| {
        url.query_pairs()
            .find(|(k, _)| names.contains(&k.as_ref()))
            .map(|(_, v)| v.into_owned())
    };
    let mut opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(sqlx_opts.get_host().to_string())
        .tcp_port(sqlx_opts.get_port())
        .user(Some(sqlx_opts.get_username().to_string()))
        .pass(url.password().map(decoded))
        .db_name(sqlx_opts.get_database().map(str::to_string))
        .socket(sqlx_opts.get_socket().map(|p| p.display().to_string()))
        .prefer_socket(false);
    let ssl = mysql_async::SslOpts::default();
    let ssl = match param(&["sslca", "ssl-ca"]) {
        Some(ca) => ssl.with_root_certs(vec![std::path::PathBuf::from(ca).into()]),
        None => ssl,
    };
    let ssl = match (
        param(&["sslcert", "ssl-cert"]),
        param(&["sslkey", "ssl-key"]),
    ) {
        (Some(cert), Some(key)) => {
            ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
                std::path::PathBuf::from(cert).into(),
                std::path::PathBuf::from(key).into(),
            )))
        }
        _ => ssl,
    };
    let tls = match sqlx_opts.get_ssl_mode() {
        MySqlSslMode::Disabled => Tls::Off,
        MySqlSslMode::Preferred => Tls::Preferred,
        MySqlSslMode::Required => Tls::On,
        MySqlSslMode::VerifyCa | MySqlSslMode::VerifyIdentity => Tls::On,
    };
    let ssl = match sqlx_opts.get_ssl_mode() {
        MySqlSslMode::Disabled => None,
        MySqlSslMode::Preferred | MySqlSslMode::Required => Some(
            ssl.with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        MySqlSslMode::VerifyCa => Some(ssl.with_danger_skip_domain_validation(true)),
        MySqlSslMode::VerifyIdentity => Some(ssl),
    };
    opts = opts.ssl_opts(ssl);
    Ok((opts, tls))
}

/// Whether a connection made from [`native_opts`] encrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Off,
    /// Encrypted if the server offers it: retry with [`without_tls`] when the server
    /// answers that it has no TLS.
    Preferred,
    On,
}

/// The same options without TLS, for [`Tls::Preferred`] against a server without it.
pub fn without_tls(opts: mysql_async::OptsBuilder) -> mysql_async::OptsBuilder {
    opts.ssl_opts(None)
}

/// Whether a `mysql_async` connection failed because the server offers no TLS.
pub fn server_lacks_tls(e: &mysql_async::Error) -> bool {
    matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    )
}
