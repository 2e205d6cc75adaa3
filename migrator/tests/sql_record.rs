//! The SQL each stage sends, recorded for Chinook in all nine engine pairs and compared
//! with `tests/golden/sql/<source>-to-<destination>.sql`: introspection of both sides,
//! diff, apply, a first transfer (fast paths), a second one (`--copy-all`: the upsert
//! path), a third (compare-first: checksums, nothing written), and verify.
//!
//! Why: moving code between modules (one home per engine, one row layer) must not change
//! a statement by accident, and no other test would notice a query that still returns
//! the same rows by another route (a lost `ORDER BY` qualifier, an extra round trip, a
//! different cast). A deliberate change is re-recorded with `SEAWAY_BLESS=1` and shows in
//! the golden file's diff.
//!
//! sqlx logs every statement it prepares or runs as a `tracing` event (target
//! `sqlx::query`); a global subscriber collects them, so this is a test binary of its own
//! with one test (other tests' statements would mix in). `COPY` data and bound values are
//! not statements and are not recorded; each stage's distinct statements are kept sorted,
//! so the order in which concurrent chunks ran does not matter. Databases are named
//! `seaway_test_s_*` and held by the shared `TestDb` guard, which drops them also when
//! the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use seaway_codegen::config::Config;
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_db::{Kind, TestDb};
use tracing_subscriber::layer::SubscriberExt;

#[path = "../../codegen/tests/integration/test_db.rs"]
mod test_db;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Postgres,
    Mysql,
    Sqlite,
}

const ENGINES: [Engine; 3] = [Engine::Postgres, Engine::Mysql, Engine::Sqlite];

impl Engine {
    fn tag(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }
}

/// Statements seen, per stage.
#[derive(Default)]
struct Recorded {
    stage: String,
    statements: BTreeMap<String, BTreeSet<String>>,
}

struct Recorder(Arc<Mutex<Recorded>>);

/// Pulls the statement out of sqlx's event: `db.statement` holds the whole text when
/// `summary` is only its start.
#[derive(Default)]
struct Statement {
    summary: String,
    full: String,
}

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.full = value.to_string(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut st = Statement::default();
        event.record(&mut st);
        let text = if st.full.trim().is_empty() {
            st.summary
        } else {
            st.full
        };
        let mut rec = self.0.lock().expect("recorder");
        let stage = rec.stage.clone();
        rec.statements
            .entry(stage)
            .or_default()
            .insert(normalize(&text));
    }
}

/// One line per statement, whitespace folded; test database names and SQLite file paths
/// replaced, so a recording does not depend on where it ran.
fn normalize(sql: &str) -> String {
    let folded = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(folded.len());
    let mut rest = folded.as_str();
    while let Some(i) = rest.find("seaway_test_s_") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push_str("<db>");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn require_live() -> bool {
    std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1")
}

fn admin(engine: Engine) -> String {
    match engine {
        Engine::Postgres => std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        Engine::Mysql => std::env::var("TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
        Engine::Sqlite => String::new(),
    }
}

/// `admin` with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

/// Runs statements on a server database (or SQLite file) outside the recording.
async fn run_sql(engine: Engine, url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()));
    match engine {
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await?;
            sql.execute(&mut c).await?;
            c.close().await
        }
        Engine::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url).await?;
            sql.execute(&mut c).await?;
            c.close().await
        }
        Engine::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
            sql.execute(&mut c).await?;
            c.close().await
        }
    }
}

/// Whether the engine's server answers; `false` after printing why (a failure under
/// `SEAWAY_REQUIRE_LIVE=1`).
async fn available(engine: Engine) -> bool {
    let url = admin(engine);
    let ok = match engine {
        Engine::Sqlite => return true,
        Engine::Postgres => tokio::time::timeout(Duration::from_secs(5), async {
            sqlx::PgConnection::connect(&url).await?.close().await
        })
        .await
        .is_ok_and(|r| r.is_ok()),
        Engine::Mysql => tokio::time::timeout(Duration::from_secs(5), async {
            sqlx::MySqlConnection::connect(&url).await?.close().await
        })
        .await
        .is_ok_and(|r| r.is_ok()),
    };
    if !ok {
        let msg = format!("{} server not reachable", engine.tag());
        assert!(!require_live(), "{msg}; SEAWAY_REQUIRE_LIVE=1 requires it");
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// A fresh database `name` (created on the server, or an SQLite file in `dir`), loaded
/// with `sql`; dropped when the returned guard goes, also on a failure.
async fn database(engine: Engine, name: &str, sql: Option<&str>, dir: &Path) -> TestDb {
    let db = match engine {
        Engine::Sqlite => {
            let path = dir.join(format!("{name}.sqlite"));
            if path.exists() {
                std::fs::remove_file(&path).expect("remove the previous SQLite file");
            }
            TestDb::file(format!("sqlite://{}", path.display()))
        }
        Engine::Postgres => server_db(Kind::Postgres, engine, name).await,
        Engine::Mysql => server_db(Kind::Mysql, engine, name).await,
    };
    if let Some(sql) = sql {
        run_sql(engine, &db, sql).await.expect("load fixture");
    }
    db
}

async fn server_db(kind: Kind, engine: Engine, name: &str) -> TestDb {
    let admin = admin(engine);
    TestDb::create(kind, &admin, name, with_database(&admin, name)).await
}

/// Chinook in `engine`'s own edition.
fn chinook(engine: Engine) -> Option<String> {
    match engine {
        Engine::Sqlite => None,
        Engine::Postgres | Engine::Mysql => Some(
            std::fs::read_to_string(repo().join(format!("fixtures/chinook/{}.sql", engine.tag())))
                .expect("fixture"),
        ),
    }
}

/// Records one pair's stages; returns the recording as the golden file's text.
async fn record_pair(rec: &Arc<Mutex<Recorded>>, src: Engine, dst: Engine, dir: &Path) -> String {
    let pair = format!("{}-to-{}", src.tag(), dst.tag());
    let src_url = match src {
        Engine::Sqlite => {
            let path = dir.join(format!("seaway_test_s_src_{pair}.sqlite"));
            std::fs::copy(repo().join("fixtures/chinook/chinook.sqlite"), &path)
                .expect("copy chinook.sqlite");
            TestDb::file(format!("sqlite://{}", path.display()))
        }
        Engine::Postgres | Engine::Mysql => {
            database(src, "seaway_test_s_src", chinook(src).as_deref(), dir).await
        }
    };
    let dst_url = database(dst, "seaway_test_s_dst", None, dir).await;
    let project = dir.join(&pair);
    std::fs::create_dir_all(&project).expect("project dir");
    let config_path = project.join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{}\" }}\nsource: src\ndestination: dst\n",
            src_url.url, dst_url.url
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let stage = |name: &str| rec.lock().expect("recorder").stage = name.to_string();

    stage("introspect");
    seaway_codegen::commands::introspect::read_source(&config)
        .await
        .expect("introspect");
    stage("diff");
    let outcome = seaway_codegen::commands::diff::run(&config)
        .await
        .expect("diff");
    seaway_codegen::snapshot_io::write_all(&outcome.files).expect("write migration");
    stage("apply");
    let options = seaway_migrator::apply::ApplyOptions {
        sections: seaway_migrator::apply::SectionChoice::All,
        dry_run: false,
        lock_timeout: None,
    };
    seaway_migrator::apply::apply(&config, &options, &mut |_| {})
        .await
        .expect("apply");
    stage("transfer (first)");
    let opts = seaway_migrator::transfer::Options::default();
    seaway_migrator::transfer::transfer(&config, &opts, &mut |_| {})
        .await
        .expect("transfer");
    stage("transfer (again)");
    let copy_all = seaway_migrator::transfer::Options {
        copy_all: true,
        ..seaway_migrator::transfer::Options::default()
    };
    seaway_migrator::transfer::transfer(&config, &copy_all, &mut |_| {})
        .await
        .expect("second transfer");
    stage("transfer (compare-first)");
    seaway_migrator::transfer::transfer(&config, &opts, &mut |_| {})
        .await
        .expect("third transfer");
    stage("verify");
    let report = seaway_migrator::verify::verify(
        &config,
        &seaway_migrator::verify::Options::default(),
        &mut |_| {},
    )
    .await
    .expect("verify");
    stage("");

    let mut recorded = std::mem::take(&mut rec.lock().expect("recorder").statements);
    recorded.remove("");
    let mut text = format!(
        "-- SQL sent for Chinook, {} -> {}; distinct statements per stage, sorted.\n-- Re-record on purpose with SEAWAY_BLESS=1 (tests/sql_record.rs).\n",
        src.tag(),
        dst.tag()
    );
    for (stage, statements) in &recorded {
        text.push_str(&format!("\n-- stage: {stage}\n"));
        for s in statements {
            text.push_str(s);
            text.push('\n');
        }
    }
    assert!(
        report.tables.iter().all(|t| t.error.is_none()),
        "{pair}: verify failed"
    );
    // Dropped (by their guards, outside the recording) when this returns.
    drop((src_url, dst_url));
    text
}

#[tokio::test]
async fn each_stage_sends_the_recorded_sql_in_all_nine_pairs() {
    let rec = Arc::new(Mutex::new(Recorded::default()));
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        )
        .with(Recorder(Arc::clone(&rec)));
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    for e in ENGINES {
        if !available(e).await {
            return;
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sql");
    let bless = std::env::var("SEAWAY_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for src in ENGINES {
        for dst in ENGINES {
            let text = record_pair(&rec, src, dst, dir.path()).await;
            let path = golden_dir.join(format!("{}-to-{}.sql", src.tag(), dst.tag()));
            if bless {
                std::fs::create_dir_all(&golden_dir).expect("golden dir");
                std::fs::write(&path, &text).expect("write golden");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != text {
                let want: BTreeSet<&str> = want.lines().collect();
                let have: BTreeSet<&str> = text.lines().collect();
                let gone: Vec<&&str> = want.difference(&have).take(10).collect();
                let new: Vec<&&str> = have.difference(&want).take(10).collect();
                failures.push(format!(
                    "{}: the SQL sent changed (SEAWAY_BLESS=1 re-records it on purpose)\n  no longer sent: {gone:#?}\n  newly sent: {new:#?}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
