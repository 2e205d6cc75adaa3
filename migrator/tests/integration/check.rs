//! `codegen check` (the library function CI's `just check` calls) through a project's
//! life: silent exactly when snapshots, migration files and the destination are in step,
//! and otherwise naming what is out of step: migrations not applied, a destination that
//! drifted, a stale snapshot, a migration file edited by hand.
//!
//! Source: the bundled Chinook SQLite file; destination: a fresh database per engine.

use crate::support::{self, Db, Engine};
use seaway_codegen::commands::introspect::Selection;
use seaway_codegen::commands::{check, diff, introspect};
use seaway_codegen::config::Config;
use seaway_codegen::migrations;

async fn findings(config: &Config, step: &str) -> Vec<String> {
    check::run(config)
        .await
        .unwrap_or_else(|e| panic!("{step}: check failed to run: {e}"))
}

fn assert_finding(findings: &[String], step: &str, wanted: &[&str]) {
    assert!(
        findings
            .iter()
            .any(|f| wanted.iter().all(|w| f.contains(w))),
        "{step}: no finding contains all of {wanted:?}; findings: {findings:#?}"
    );
}

/// Runs `sql` on the destination on a connection of its own, closed afterwards (so that
/// nothing holds a SQLite lock while seaway reads).
async fn on_destination(engine: Engine, url: &str, sql: &str) {
    let mut db = Db::connect(engine, url).await;
    db.execute(sql).await;
    db.close().await;
}

async fn check_through_a_project_life(engine: Engine, database: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(dst) = support::fresh_database(engine, database, dir.path()).await else {
        return;
    };
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n",
            support::chinook_sqlite_url()
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let migrations_dir = dir.path().join("generated/migrations/dst");

    // Nothing generated yet: the destination lacks the whole source.
    let f = findings(&config, "before any diff").await;
    assert_finding(
        &f,
        "before any diff",
        &["`dst` lacks", "change(s) the source needs", "just diff"],
    );

    // (a) A migration written but not applied.
    let outcome = diff::run(&config).await.expect("diff");
    let name = outcome.migration_name.clone().expect("a first migration");
    seaway_codegen::snapshot_io::write_all(&outcome.files).expect("write migration");
    let f = findings(&config, "(a) before apply").await;
    assert_finding(
        &f,
        "(a) before apply",
        &[
            "`dst` has migrations not applied",
            &format!("{name} (pre-data)"),
            "just apply",
        ],
    );

    // (b) Applied: in step, nothing to say.
    let applied = support::run_migrator(&config_path, &["apply"]);
    assert!(applied.ok, "apply failed:\n{}", applied.stderr);
    let f = findings(&config, "(b) after apply").await;
    assert!(f.is_empty(), "(b) after apply: {f:#?}");

    // (c) A table created behind seaway's back is drift; removing it ends the finding.
    on_destination(
        engine,
        &dst,
        "CREATE TABLE extra_notes (id integer PRIMARY KEY, note varchar(20))",
    )
    .await;
    let f = findings(&config, "(c) extra table").await;
    assert_finding(
        &f,
        "(c) extra table",
        &["`dst` drifted", "D101 extra_notes", "left untouched"],
    );
    assert_eq!(f.len(), 1, "(c) only the extra table differs: {f:#?}");
    on_destination(engine, &dst, "DROP TABLE extra_notes").await;
    let f = findings(&config, "(c) extra table dropped").await;
    assert!(f.is_empty(), "(c) extra table dropped: {f:#?}");

    // (d) A snapshot of the destination goes stale when the destination changes.
    let snapshots = introspect::run(&config, &Selection::Named("dst".into()))
        .await
        .expect("introspect dst");
    let files: Vec<_> = snapshots.into_iter().map(|s| s.file).collect();
    let snapshot_path = dir.path().join("generated/schema/dst.yaml");
    assert_eq!(
        files.iter().map(|f| f.path.as_path()).collect::<Vec<_>>(),
        [snapshot_path.as_path()]
    );
    seaway_codegen::snapshot_io::write_all(&files).expect("write snapshot");
    let f = findings(&config, "(d) fresh snapshot").await;
    assert!(f.is_empty(), "(d) fresh snapshot: {f:#?}");
    on_destination(
        engine,
        &dst,
        "CREATE TABLE extra_later (id integer PRIMARY KEY)",
    )
    .await;
    let f = findings(&config, "(d) destination changed").await;
    assert_finding(
        &f,
        "(d) destination changed",
        &[
            &format!("{} is stale", snapshot_path.display()),
            "the database `dst` changed",
        ],
    );
    // The change is drift as well.
    assert_finding(&f, "(d) destination changed", &["D101 extra_later"]);
    on_destination(engine, &dst, "DROP TABLE extra_later").await;
    let f = findings(&config, "(d) change undone").await;
    assert!(f.is_empty(), "(d) change undone: {f:#?}");

    // (e) A migration file edited by hand: the sum names it ...
    let file = migrations_dir.join(format!("{name}.sql"));
    let original = std::fs::read_to_string(&file).expect("read migration");
    let edited = original.replacen(" -> dst (", " -> dst (edited by hand, ", 1);
    assert_ne!(edited, original, "the edit must change the file");
    std::fs::write(&file, &edited).expect("edit migration");
    let f = findings(&config, "(e) edited file").await;
    assert_finding(
        &f,
        "(e) edited file",
        &[
            "migrations.sum",
            &format!("{name}.sql was edited after it was generated"),
        ],
    );
    // ... and when the sum is regenerated too (carelessly), the ledger's checksum does.
    support::write_sum(&migrations_dir);
    let f = findings(&config, "(e) edited file, sum regenerated").await;
    assert_finding(
        &f,
        "(e) edited file, sum regenerated",
        &[
            &format!("{}: applied to `dst` with checksum", file.display()),
            &format!("the file now has {}", migrations::checksum(&edited)),
        ],
    );
    // Restoring the file as generated restores the pass.
    std::fs::write(&file, &original).expect("restore migration");
    support::write_sum(&migrations_dir);
    let f = findings(&config, "(e) file restored").await;
    assert!(f.is_empty(), "(e) file restored: {f:#?}");
}

#[tokio::test]
async fn check_passes_when_in_step_and_names_what_differs_sqlite() {
    check_through_a_project_life(Engine::Sqlite, "seaway_test_x_check_lite").await;
}

#[tokio::test]
async fn check_passes_when_in_step_and_names_what_differs_postgres() {
    check_through_a_project_life(Engine::Postgres, "seaway_test_x_check_pg").await;
}

#[tokio::test]
async fn check_passes_when_in_step_and_names_what_differs_mariadb() {
    check_through_a_project_life(Engine::Mysql, "seaway_test_x_check_my").await;
}
