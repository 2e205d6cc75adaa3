//! `diff` asks which destination tables hold rows with one query for all of them (it
//! used to open a connection and send a query per table: 3-4 s for 30 tables). Counted,
//! not timed: sqlx logs every statement as a `tracing` event, and a subscriber set as
//! this thread's default (the test runtime is single-threaded) sees this test's only.

use crate::convergence::{database, tag};
use crate::support::{self, Db, Engine};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// Collects the text of every statement sqlx runs.
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
        self.record_str(field, &format!("{value:?}"));
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

async fn one_query_for_every_table(engine: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("seaway_test_empty_{}", tag(engine));
    let Some(src) = database(engine, &format!("{name}_src"), None, dir.path()).await else {
        return;
    };
    let Some(dst) = database(engine, &format!("{name}_dst"), None, dir.path()).await else {
        return;
    };
    let mut s = Db::connect(engine, &src).await;
    for i in 0..TABLES {
        s.execute(&format!(
            "CREATE TABLE t{i:02} (id int PRIMARY KEY, v int NOT NULL)"
        ))
        .await;
    }
    s.close().await;
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n"),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let first = diff::run(&config).await.expect("first diff");
    seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
    let applied = support::run_migrator(&config_path, &["apply"]);
    assert!(applied.ok, "apply failed:\n{}", applied.stderr);

    // Every third destination table gets a row; the source gains a NOT NULL column
    // without a default on every table, which only the empty ones can take as it is.
    let mut d = Db::connect(engine, &dst).await;
    for i in (0..TABLES).step_by(3) {
        d.execute(&format!("INSERT INTO t{i:02} VALUES (1, 1)"))
            .await;
    }
    d.close().await;
    let mut s = Db::connect(engine, &src).await;
    for i in 0..TABLES {
        s.execute(&format!("ALTER TABLE t{i:02} ADD COLUMN w int NOT NULL"))
            .await;
    }
    s.close().await;

    let statements = Statements::default();
    let subscriber = tracing_subscriber::registry().with(statements.clone());
    let second = {
        let _guard = tracing::subscriber::set_default(subscriber);
        diff::run(&config).await.expect("second diff")
    };
    let checks = statements.emptiness_checks();
    assert_eq!(
        checks.len(),
        1,
        "{}: one query for the {TABLES} tables, got {}: {checks:#?}",
        tag(engine),
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
        relaxed,
        populated,
        "{}: exactly the tables holding rows take the column NULL-able",
        tag(engine)
    );
}

#[tokio::test]
async fn postgres_emptiness_is_one_query() {
    one_query_for_every_table(Engine::Postgres).await;
}

#[tokio::test]
async fn mysql_emptiness_is_one_query() {
    one_query_for_every_table(Engine::Mysql).await;
}
