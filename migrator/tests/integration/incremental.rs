//! Incremental transfer: with a watermark column, each run copies only rows past the
//! mark the previous run reached; `--since` starts from a given value.

use crate::support;
use sqlx::Connection;
use std::path::Path;

async fn sqlite(path: &Path, sql: &str) {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut c = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("open");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await
        .expect("sql");
    c.close().await.expect("close");
}

async fn rows(path: &Path) -> Vec<(i64, String, String)> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut c = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("open");
    let out = sqlx::query_as("SELECT id, updated_at, v FROM events ORDER BY id")
        .fetch_all(&mut c)
        .await
        .expect("read");
    c.close().await.expect("close");
    out
}

fn transferred(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("transferred ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no summary in {stdout}"))
}

#[tokio::test]
async fn each_incremental_run_copies_only_rows_past_the_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.sqlite");
    let dst = dir.path().join("dst.sqlite");
    let mut seed = String::from(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, updated_at DATETIME NOT NULL, v TEXT);",
    );
    for i in 1..=100 {
        seed.push_str(&format!(
            "INSERT INTO events VALUES ({i}, '2024-01-01 00:{:02}:{:02}', 'v{i}');",
            i / 60,
            i % 60
        ));
    }
    sqlite(&src, &seed).await;
    sqlite(
        &dst,
        "CREATE TABLE events (id INTEGER PRIMARY KEY, updated_at DATETIME NOT NULL, v TEXT);",
    )
    .await;
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  src: {{ url: \"sqlite://{}\" }}\n  dst: {{ url: \"sqlite://{}\" }}\nsource: src\ndestination: dst\n\
             mappings:\n  events:\n    watermark: updated_at\ntransfer:\n  mode: incremental\n",
            src.display(),
            dst.display()
        ),
    )
    .expect("config");

    let out = support::run_migrator(&config, &["transfer"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        transferred(&out.stdout),
        100,
        "the first run copies everything"
    );

    // Change three rows, add two; only those five move next time.
    sqlite(&src, "UPDATE events SET updated_at = '2024-02-01 00:00:00', v = 'changed' WHERE id IN (3, 50, 99);
                  INSERT INTO events VALUES (101, '2024-02-01 00:00:01', 'new'), (102, '2024-02-01 00:00:02', 'new');").await;
    let out = support::run_migrator(&config, &["transfer"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        transferred(&out.stdout),
        5,
        "only rows past the watermark: {}",
        out.stdout
    );
    assert_eq!(
        rows(&dst).await,
        rows(&src).await,
        "the destination caught up with the source"
    );

    let out = support::run_migrator(&config, &["transfer"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(transferred(&out.stdout), 0, "nothing new, nothing copied");
}

#[tokio::test]
async fn since_starts_from_the_given_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.sqlite");
    let dst = dir.path().join("dst.sqlite");
    sqlite(&src, "CREATE TABLE events (id INTEGER PRIMARY KEY, updated_at DATETIME NOT NULL, v TEXT);
                  INSERT INTO events VALUES (1, '2023-12-31 23:59:59', 'old'), (2, '2024-01-01 00:00:00', 'edge'), (3, '2024-01-02 00:00:00', 'new');").await;
    sqlite(
        &dst,
        "CREATE TABLE events (id INTEGER PRIMARY KEY, updated_at DATETIME NOT NULL, v TEXT);",
    )
    .await;
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  src: {{ url: \"sqlite://{}\" }}\n  dst: {{ url: \"sqlite://{}\" }}\nsource: src\ndestination: dst\nmappings:\n  events:\n    watermark: updated_at\n",
            src.display(),
            dst.display()
        ),
    )
    .expect("config");
    let out = support::run_migrator(&config, &["transfer", "--since", "2024-01-01 00:00:00"]);
    assert!(out.ok, "{}", out.stderr);
    let ids: Vec<i64> = rows(&dst).await.into_iter().map(|r| r.0).collect();
    assert_eq!(ids, [3], "only rows strictly after --since");
}
