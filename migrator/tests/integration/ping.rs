//! `migrator ping`.

use crate::support::run_migrator;
use std::path::Path;

#[test]
fn ping_reports_sqlite_version_and_names_a_dead_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chinook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/chinook/chinook.sqlite");
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  chinook:\n    url: \"sqlite://{}\"\n  dead:\n    url: \"postgres://u:Pw0rdXyz@127.0.0.1:1/db\"\nsource: chinook\n",
            chinook.display()
        ),
    )
    .expect("write config");
    let out = run_migrator(&config, &["ping", "--connection", "chinook"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("chinook: SQLite 3."),
        "{}",
        out.stdout
    );

    let out = run_migrator(&config, &["ping"]);
    assert!(!out.ok, "a dead connection must fail the ping");
    assert!(out.stdout.contains("chinook: SQLite"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("connection `dead`: cannot reach PostgreSQL at 127.0.0.1:1"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("Pw0rdXyz") && !out.stdout.contains("Pw0rdXyz"),
        "password leaked"
    );
}
