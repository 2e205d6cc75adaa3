//! Snapshots are byte-stable: two introspections of the same database give the same
//! bytes, a second CLI run touches nothing, and the committed demo snapshot is current.

use crate::support::{self, Project};
use seaway_codegen::{inspect, model};

async fn snapshot_twice(url: &str) -> (String, String) {
    let project = Project::new(&format!("connections:\n  db:\n    url: \"{url}\"\n"));
    let config = project.config();
    let first = inspect::introspect(config.source_connection())
        .await
        .expect("first");
    let second = inspect::introspect(config.source_connection())
        .await
        .expect("second");
    (
        model::to_yaml(&first.schema).expect("yaml"),
        model::to_yaml(&second.schema).expect("yaml"),
    )
}

#[tokio::test]
async fn live_zoos_snapshot_identically_twice_and_round_trip() {
    let mut urls = Vec::new();
    if let Some(pg) = support::postgres().await {
        let sql = std::fs::read_to_string(support::fixture("zoo/postgres.sql")).expect("fixture");
        urls.push(pg.fresh_db("seaway_test_t_pg_stable", Some(&sql)).await);
    }
    if let Some(my) = support::mysql().await {
        let sql = std::fs::read_to_string(support::fixture("zoo/mysql.sql")).expect("fixture");
        urls.push(my.fresh_db("seaway_test_t_my_stable", Some(&sql)).await);
    }
    urls.push(support::TestDb::file(format!(
        "sqlite://{}",
        support::fixture("chinook/chinook.sqlite").display()
    )));
    for url in urls {
        let (a, b) = snapshot_twice(&url).await;
        assert_eq!(a, b, "{url}: two introspections differ");
        // A snapshot reads back into the same model (later stages diff from files).
        let parsed = model::from_yaml(&a).expect("snapshot parses");
        assert_eq!(
            model::to_yaml(&parsed).expect("yaml"),
            a,
            "{url}: snapshot does not round-trip"
        );
    }
}

#[test]
fn second_cli_run_changes_nothing() {
    let chinook = support::fixture("chinook/chinook.sqlite");
    let project = Project::new(&format!(
        "connections:\n  chinook:\n    url: \"sqlite://{}\"\n",
        chinook.display()
    ));
    let (ok, stdout, stderr) = project.codegen(&["introspect"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("11 tables, 64 columns, 11 foreign keys") && stdout.contains("(created)"),
        "{stdout}"
    );
    let path = project.generated().join("schema/chinook.yaml");
    let first = std::fs::read(&path).expect("snapshot written");
    let (ok, stdout, stderr) = project.codegen(&["introspect"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("(unchanged)"), "{stdout}");
    assert_eq!(std::fs::read(&path).expect("snapshot"), first);
    let (ok, stdout, _) = project.codegen(&["introspect", "--check"]);
    assert!(ok && stdout.contains("up to date"), "{stdout}");
    // An edited snapshot is reported stale, and --check writes nothing.
    std::fs::write(&path, "# edited\n").expect("edit");
    let (ok, stdout, _) = project.codegen(&["introspect", "--check"]);
    assert!(!ok && stdout.contains("STALE"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("snapshot"),
        "# edited\n"
    );
}

#[tokio::test]
async fn committed_demo_snapshot_is_current() {
    let root = support::repo_root();
    let config =
        seaway_codegen::config::Config::load(&root.join("seaway.yaml")).expect("demo config");
    let snaps = seaway_codegen::commands::introspect::run(
        &config,
        &seaway_codegen::commands::introspect::Selection::Source,
    )
    .await
    .expect("introspect demo");
    for snap in snaps {
        let committed = std::fs::read_to_string(&snap.file.path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `just demo` and commit it",
                snap.file.path.display()
            )
        });
        assert!(
            committed == snap.file.contents,
            "{} is stale; run `just demo` and commit it",
            snap.file.path.display()
        );
    }
}
