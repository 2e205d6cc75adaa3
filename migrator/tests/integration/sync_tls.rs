//! Sync from a PostgreSQL source reached over TLS: the replication connection follows
//! the URL's `sslmode` and `sslrootcert` as the source's other connections do (managed
//! PostgreSQL services refuse connections without TLS). The test server's own
//! certificate is the root a `verify-full` connection checks it against.

use crate::convergence::database;
use crate::support::{Db, Engine, require_live};
use crate::sync::{Running, project_with, wait_for_count};
use std::path::PathBuf;

/// The test server's certificate file, when it serves TLS and the file is readable here;
/// `None` (skipped, or a failure under `SEAWAY_REQUIRE_LIVE=1`) otherwise.
async fn server_certificate(admin: &mut Db) -> Option<PathBuf> {
    let why = if admin.text("SHOW ssl").await.as_deref() != Some("on") {
        "the PostgreSQL server has ssl off (postgresql.conf: ssl = on, with ssl_cert_file and ssl_key_file)".to_string()
    } else {
        let file = PathBuf::from(admin.text("SHOW ssl_cert_file").await.unwrap_or_default());
        let file = if file.is_relative() {
            PathBuf::from(admin.text("SHOW data_directory").await.unwrap_or_default()).join(file)
        } else {
            file
        };
        if std::fs::read(&file).is_ok() {
            return Some(file);
        }
        format!(
            "the server's certificate {} is not readable by the tests",
            file.display()
        )
    };
    assert!(!require_live(), "{why}; SEAWAY_REQUIRE_LIVE=1 requires it");
    eprintln!("SKIPPED: {why}");
    None
}

/// Whether the certificate in `file` is valid for `localhost` (asked of `openssl`).
fn names_localhost(file: &std::path::Path) -> bool {
    std::process::Command::new("openssl")
        .args(["x509", "-noout", "-checkhost", "localhost", "-in"])
        .arg(file)
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("does match"))
}

#[tokio::test]
async fn sync_streams_over_a_verified_tls_replication_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_sync_tls_src",
        Some(
            "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);
             INSERT INTO notes SELECT i, 'copied ' || i FROM generate_series(1, 3) AS i;",
        ),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_sync_tls_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let Some(root) = server_certificate(&mut source).await else {
        return;
    };
    // The connection checks the certificate against the server's own (self-signed)
    // one, and the host name when the certificate names `localhost` (Debian's
    // snakeoil does); a certificate made for another name is only encrypted to.
    let mut url = url::Url::parse(&src).expect("source URL");
    if names_localhost(&root) {
        url.set_host(Some("localhost")).expect("host");
        url.query_pairs_mut()
            .append_pair("sslmode", "verify-full")
            .append_pair("sslrootcert", &root.display().to_string());
    } else {
        eprintln!(
            "note: {} does not name localhost: the test's connection is encrypted but its certificate unchecked",
            root.display()
        );
        url.query_pairs_mut().append_pair("sslmode", "require");
    }
    let config = project_with(url.as_str(), &dst, dir.path(), "").await;
    let mut dest = Db::connect(Engine::Postgres, &dst).await;

    let mut running = Running::start(&config, &[], dir.path(), 1);
    running.wait_for_output("streaming");
    source
        .execute("INSERT INTO notes SELECT i, 'streamed ' || i FROM generate_series(4, 10) AS i")
        .await;
    let sql = "SELECT count(*) FROM notes";
    wait_for_count(
        &mut dest,
        &mut running,
        sql,
        10,
        "the copied and streamed rows",
    )
    .await;

    // The slot's walsender is the replication connection: it must be encrypted.
    let name = src.rsplit('/').next().unwrap_or_default().to_string();
    let encrypted = source
        .count(&format!(
            "SELECT count(*) FROM pg_replication_slots r JOIN pg_stat_ssl s ON s.pid = r.active_pid
             WHERE r.database = '{name}' AND s.ssl"
        ))
        .await;
    let (code, output) = running.stop("TERM");
    assert_eq!(
        encrypted, 1,
        "the replication connection of sync's slot is not encrypted\n{output}"
    );
    assert_eq!(code, Some(0), "{output}");
    let out = crate::support::run_migrator(&config, &["sync", "drop"]);
    assert!(out.ok, "sync drop: {}", out.stderr);
    dest.close().await;
    source.close().await;
}
