//! The generated services are deployable: `/metrics` counts requests by route and
//! status and shows the pool, `/openapi.yaml` is the crate's own document, each request
//! is one log line, the pool size and timeout come from the environment, and SIGTERM
//! stops the service only after the request in flight has been answered.

use crate::contract::{bin_dir, free_port, http_get, require_live};
use crate::support;
use sqlx::Connection;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `cond` every 50 ms until it holds, failing with `what` after `secs`.
fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_openapi_logs_and_a_graceful_sigterm() {
    const DB: &str = "seaway_test_r_observe";
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(server) = rt.block_on(support::postgres()) else {
        return;
    };
    // The edition, with its keys as seaway writes the SQLite edition's (bigint), which is
    // what the services are generated from.
    let sql = ["chinook/postgres.sql", "chinook/postgres-rowid-keys.sql"]
        .map(|f| std::fs::read_to_string(support::fixture(f)).expect("fixture"))
        .join("\n");
    // Dropped on the way out, pass or fail.
    let url = rt.block_on(server.fresh_db(DB, Some(&sql)));
    let bin = bin_dir().join("catalog-service");
    if !bin.is_file() {
        let msg = format!("{} is not built (cargo build --workspace)", bin.display());
        assert!(!require_live(), "{msg}; SEAWAY_REQUIRE_LIVE=1 requires it");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let log = tempfile::NamedTempFile::new().expect("log file");
    let port = free_port();
    let mut child = Command::new(&bin)
        .env("DATABASE_URL", url.as_str())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DB_POOL_MAX", "3")
        .env("REQUEST_TIMEOUT_MS", "20000")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("log handle"))
        .spawn()
        .expect("start catalog-service");
    // Killed on the way out if an assertion fails before the SIGTERM below.
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut child);
    wait_for(30, "/health", || {
        matches!(http_get(port, "/health"), Ok((200, _)))
    });

    for _ in 0..3 {
        assert_eq!(http_get(port, "/genre?limit=2").expect("get").0, 200);
    }
    assert_eq!(http_get(port, "/genre/1").expect("get").0, 200);
    assert_eq!(http_get(port, "/no/such/path").expect("get").0, 404);

    let (status, metrics) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for line in [
        "http_requests_total{route=\"/genre\",method=\"GET\",status=\"200\"} 3",
        "http_requests_total{route=\"/genre/{genre_id}\",method=\"GET\",status=\"200\"} 1",
        "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "http_request_duration_seconds_count{route=\"/genre\",method=\"GET\",status=\"200\"} 3",
        "http_request_duration_seconds_bucket{route=\"/genre\",method=\"GET\",status=\"200\",le=\"+Inf\"} 3",
        "db_pool_max_connections 3",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("db_pool_connections{state=\"idle\"}"),
        "{metrics}"
    );

    let (status, doc) = http_get(port, "/openapi.yaml").expect("openapi");
    assert_eq!(status, 200);
    let file = std::fs::read_to_string(
        support::repo_root().join("generated/services/catalog/openapi.yaml"),
    )
    .expect("openapi.yaml");
    assert_eq!(doc, file);

    // A request held in flight by a table lock, then SIGTERM: the service must answer
    // it before exiting, and exit 0.
    let mut locker = rt
        .block_on(sqlx::PgConnection::connect(&url))
        .expect("lock connection");
    rt.block_on(
        sqlx::raw_sql("BEGIN; LOCK TABLE artist IN ACCESS EXCLUSIVE MODE").execute(&mut locker),
    )
    .expect("lock");
    let in_flight = std::thread::spawn(move || http_get(port, "/artist/1"));
    let mut watcher = rt
        .block_on(sqlx::PgConnection::connect(&url))
        .expect("watch connection");
    wait_for(20, "the request to wait on the lock", || {
        let n: i64 = rt
            .block_on(
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                )
                .bind(DB)
                .fetch_one(&mut watcher),
            )
            .expect("pg_stat_activity");
        n > 0
    });
    let pid = guard.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for(10, "the shutdown to be logged", || {
        std::fs::read_to_string(log.path()).is_ok_and(|t| t.contains("shutting down"))
    });
    assert!(
        guard.0.try_wait().expect("try_wait").is_none(),
        "the service exited with a request in flight"
    );
    rt.block_on(sqlx::raw_sql("ROLLBACK").execute(&mut locker))
        .expect("unlock");
    let (status, body) = in_flight
        .join()
        .expect("thread")
        .expect("in-flight request");
    assert_eq!(status, 200, "{body}");
    let mut exit = None;
    wait_for(15, "the service to exit", || {
        exit = guard.0.try_wait().expect("try_wait");
        exit.is_some()
    });
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "exit status {exit:?}");
    drop(guard);
    rt.block_on(locker.close()).ok();
    rt.block_on(watcher.close()).ok();

    // One line per request, with method, path, status and duration, and no query string.
    let text = std::fs::read_to_string(log.path()).expect("log");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(" request ")).collect();
    let genre = lines
        .iter()
        .filter(|l| l.contains("method=GET path=/genre status=200 duration_ms="))
        .count();
    assert_eq!(genre, 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("path=/artist/1 status=200")),
        "{text}"
    );
    assert!(
        !text.contains("limit=2"),
        "a query string was logged:\n{text}"
    );
    assert!(!text.contains(url.as_str()), "the database URL was logged");
}
