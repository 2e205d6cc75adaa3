//! A PostgreSQL destination in a schema of its own (`connections.<name>.schema`): the
//! ledger `diff` reads and the emptiness check both look in that schema, not in `public`.
//! Before, the second `diff` read no ledger (it looked in `public`), and the emptiness
//! check failed on a table it could not see.

use crate::convergence::database;
use crate::support::{Db, Engine};
use crate::transfer_faults::migrator;
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;

#[tokio::test]
async fn ledger_and_emptiness_check_use_the_configured_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_y_schema_src",
        Some(
            "CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item VALUES (1, 'a');",
        ),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_y_schema_dst",
        Some("CREATE SCHEMA \"Shop Floor\";"),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\", schema: \"Shop Floor\" }}\nsource: src\ndestination: dst\n"
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let first = diff::run(&config).await.expect("first diff");
    assert!(!first.files.is_empty(), "a first migration");
    seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
    let applied = migrator(&config_path, &["apply"]);
    assert_eq!(applied.code, Some(0), "apply:\n{}", applied.all());

    let mut db = Db::connect(Engine::Postgres, &dst).await;
    assert!(
        db.count("SELECT count(*) FROM \"Shop Floor\".seaway_migrations WHERE success")
            .await
            > 0,
        "the ledger is in the configured schema"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .await,
        0,
        "nothing was created in public"
    );

    // The second diff reads that ledger: nothing pending, nothing to write.
    let second = diff::run(&config).await.expect("second diff");
    assert!(
        second.files.is_empty(),
        "the second diff wrote a migration: {:?}",
        second.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );

    // The emptiness check sees the populated table where it is.
    let transferred = migrator(&config_path, &["transfer"]);
    assert_eq!(
        transferred.code,
        Some(0),
        "transfer:\n{}",
        transferred.all()
    );
    let held = seaway_codegen::inspect::populated_tables(
        &config.connections["dst"],
        &["item".to_string()],
    )
    .await
    .expect("emptiness check");
    assert!(held.contains("item"), "populated tables: {held:?}");
    db.close().await;
}
