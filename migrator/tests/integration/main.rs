//! Integration tests of the `migrator` binary.

// Tests report failure by panicking; `expect` carries the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn migrator(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = assert_cmd::Command::cargo_bin("migrator")
        .expect("migrator binary")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SEAWAY_CONFIG")
        .output()
        .expect("run migrator");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

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
    let (ok, stdout, stderr) = migrator(&config, &["ping", "--connection", "chinook"]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("chinook: SQLite 3."), "{stdout}");

    let (ok, stdout, stderr) = migrator(&config, &["ping"]);
    assert!(!ok, "a dead connection must fail the ping");
    assert!(stdout.contains("chinook: SQLite"), "{stdout}");
    assert!(
        stderr.contains("connection `dead`: cannot reach PostgreSQL at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Pw0rdXyz") && !stdout.contains("Pw0rdXyz"),
        "password leaked"
    );
}
