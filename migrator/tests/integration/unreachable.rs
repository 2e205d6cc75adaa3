//! A destination that does not answer: a prompt, password-free error naming host:port.

use crate::support::run_migrator;
use std::time::{Duration, Instant};

fn fails_fast_naming_the_endpoint(url: &str, engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!("connections:\n  dest:\n    url: \"{url}\"\nsource: dest\ndestination: dest\n"),
    )
    .unwrap();
    for args in [&["apply"][..], &["status"]] {
        let started = Instant::now();
        let out = run_migrator(&config, args);
        assert!(!out.ok, "{args:?} against a dead port must fail");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        let expected = format!("connection `dest`: cannot reach {engine} at 127.0.0.1:1");
        assert!(
            out.stderr.contains(&expected),
            "missing {expected:?} in {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("Sekr3tPw") && !out.stdout.contains("Sekr3tPw"),
            "password leaked"
        );
    }
}

#[test]
fn unreachable_postgres_destination() {
    fails_fast_naming_the_endpoint("postgres://app:Sekr3tPw@127.0.0.1:1/shop", "PostgreSQL");
}

#[test]
fn unreachable_mysql_destination() {
    fails_fast_naming_the_endpoint("mysql://app:Sekr3tPw@127.0.0.1:1/shop", "MySQL/MariaDB");
}
