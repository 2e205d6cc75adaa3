//! `diff` asks which destination tables hold rows with one query for all of them (it
//! used to open a connection and send a query per table: 3-4 s for 30 tables). Counted,
//! not timed: sqlx logs every statement as a `tracing` event, and a global subscriber
//! collects them, so this is a test binary of its own with one test, as `sql_record` is
//! (a subscriber scoped to one thread of the shared binary missed events under load:
//! tracing caches per call site whether anyone listens). Databases are named
//! `seaway_test_e_*` and held by the shared `TestDb` guard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use sqlx::Connection;
use std::sync::{Arc, Mutex};
use test_db::{Kind, TestDb};
use tracing_subscriber::layer::SubscriberExt;

#[path = "../../codegen/tests/integration/test_db.rs"]
#[expect(
    dead_code,
    reason = "TestDb::file is for SQLite files, which this test does not use"
)]
mod test_db;

/// The text of every statement sqlx ran.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<Vec<String>>>);

#[derive(Default)]
struct Text(String);

impl tracing::field::Visit for Text {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "db.statement" || (field.name() == "summary" && self.0.is_empty()) {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut text = Text::default();
            event.record(&mut text);
            self.0.lock().expect("statements").push(text.0);
        }
    }
}

impl Statements {
    fn clear(&self) {
        self.0.lock().expect("statements").clear();
    }

    /// Statements that look into a table for a row.
    fn emptiness_checks(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("statements")
            .iter()
            .filter(|s| s.contains("WHERE EXISTS (SELECT 1 FROM"))
            .cloned()
            .collect()
    }
}

const TABLES: usize = 30;

#[derive(Debug, Clone, Copy)]
enum Engine {
    Postgres,
    Mysql,
}

impl Engine {
    fn admin(self) -> (Kind, String) {
        match self {
            Engine::Postgres => (
                Kind::Postgres,
                std::env::var("TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            ),
            Engine::Mysql => (
                Kind::Mysql,
                std::env::var("TEST_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
            ),
        }
    }

    async fn available(self) -> bool {
        let (_, url) = self.admin();
        let ok = match self {
            Engine::Postgres => sqlx::PgConnection::connect(&url).await.is_ok(),
            Engine::Mysql => sqlx::MySqlConnection::connect(&url).await.is_ok(),
        };
        if !ok {
            let msg = format!("{self:?} server not reachable at {url}");
            let required = std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1");
            assert!(!required, "{msg}; SEAWAY_REQUIRE_LIVE=1 requires it");
            eprintln!("SKIPPED: {msg}");
        }
        ok
    }

    async fn database(self, name: &str) -> TestDb {
        let (kind, admin) = self.admin();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        TestDb::create(kind, &admin, name, url).await
    }

    async fn run(self, url: &str, statements: &[String]) {
        let sql = sqlx::AssertSqlSafe(statements.join(";\n"));
        match self {
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .expect("statements");
                c.close().await.expect("close");
            }
            Engine::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(url).await.expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .expect("statements");
                c.close().await.expect("close");
            }
        }
    }
}

async fn one_query_for_every_table(engine: Engine, statements: &Statements) {
    let tag = format!("{engine:?}").to_lowercase();
    let src = engine.database(&format!("seaway_test_e_src_{tag}")).await;
    let dst = engine.database(&format!("seaway_test_e_dst_{tag}")).await;
    let create: Vec<String> = (0..TABLES)
        .map(|i| format!("CREATE TABLE t{i:02} (id int PRIMARY KEY, v int NOT NULL)"))
        .collect();
    engine.run(&src.url, &create).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{}\" }}\nsource: src\ndestination: dst\n",
            src.url, dst.url
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let first = diff::run(&config).await.expect("first diff");
    seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
    let all = seaway_migrator::apply::ApplyOptions::default();
    seaway_migrator::apply::apply(&config, &all, &mut |_| {})
        .await
        .expect("apply");

    // Every third destination table gets a row; the source gains a NOT NULL column
    // without a default on every table, which only the empty ones can take as it is.
    let rows: Vec<String> = (0..TABLES)
        .step_by(3)
        .map(|i| format!("INSERT INTO t{i:02} VALUES (1, 1)"))
        .collect();
    engine.run(&dst.url, &rows).await;
    let alter: Vec<String> = (0..TABLES)
        .map(|i| format!("ALTER TABLE t{i:02} ADD COLUMN w int NOT NULL"))
        .collect();
    engine.run(&src.url, &alter).await;

    statements.clear();
    let second = diff::run(&config).await.expect("second diff");
    let checks = statements.emptiness_checks();
    assert_eq!(
        checks.len(),
        1,
        "{tag}: one query for the {TABLES} tables, got {}: {checks:#?}",
        checks.len()
    );
    let mut relaxed: Vec<String> = second
        .skipped
        .iter()
        .filter(|d| d.code == "D204")
        .map(|d| d.subject.clone())
        .collect();
    relaxed.sort();
    let populated: Vec<String> = (0..TABLES)
        .step_by(3)
        .map(|i| format!("t{i:02}.w"))
        .collect();
    assert_eq!(
        relaxed, populated,
        "{tag}: exactly the tables holding rows take the column NULL-able"
    );
}

#[tokio::test]
async fn a_populated_destination_is_checked_with_one_query() {
    let statements = Statements::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        )
        .with(statements.clone());
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    for engine in [Engine::Postgres, Engine::Mysql] {
        if engine.available().await {
            one_query_for_every_table(engine, &statements).await;
        }
    }
}
