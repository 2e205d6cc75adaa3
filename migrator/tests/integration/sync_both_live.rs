//! `migrator sync` both ways between two PostgreSQL databases, live: the refusals a
//! PostgreSQL side adds (a table without `REPLICA IDENTITY FULL`, a role that may not
//! use replication origins), before anything is created. The echo test and two writers
//! for every pair are `sync_both_pairs.rs`; the forced conflicts per rule,
//! `sync_both_rules.rs`.

use crate::support::{self, Db, Engine};
use crate::sync_both_pairs::pair_of;
use std::path::PathBuf;

/// Runs `sync drop` when dropped, so that the slots, publications and replication
/// origins (which live in the cluster, not in a database) go also when a test fails.
struct Dropped(PathBuf);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = support::run_migrator(&self.0, &["sync", "drop"]);
    }
}

/// Both ways, a table whose replica identity is its key alone is refused before anything
/// is created, naming the table and the statement that fixes it: a change must carry the
/// whole row as it was, for the receiving side to tell whether it changed the row too.
#[tokio::test]
async fn both_ways_refuses_a_table_without_full_replica_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(pair) = pair_of(
        Engine::Postgres,
        Engine::Postgres,
        "identity",
        "CREATE TABLE plain (id bigint PRIMARY KEY, v text); INSERT INTO plain VALUES (1, 'one');",
        &["plain"],
        "",
        dir.path(),
    )
    .await
    else {
        return;
    };
    let _dropped = Dropped(pair.config.clone());
    let out = support::run_migrator(&pair.config, &["sync"]);
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("table `plain`")
            && out.stderr.contains("synced both ways")
            && out.stderr.contains("REPLICA IDENTITY FULL"),
        "{}",
        out.stderr
    );
    let mut a = Db::connect(Engine::Postgres, &pair.a).await;
    assert_eq!(
        a.count(&format!(
            "SELECT count(*) FROM pg_replication_slots WHERE database = '{}'",
            pair.a.rsplit('/').next().unwrap_or_default()
        ))
        .await,
        0,
        "a refused sync created a slot"
    );
    a.close().await;
}

/// Drops a role when dropped (also when the test fails).
struct RoleDropped(String, String);

impl Drop for RoleDropped {
    fn drop(&mut self) {
        let _ = crate::test_db::run_detached(
            crate::test_db::Kind::Postgres,
            &self.1,
            vec![format!(
                "DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}",
                self.0
            )],
        );
    }
}

/// A role that may stream changes but not use replication origins (only superusers may,
/// unless granted) is refused before either stream starts, naming the connection and the
/// GRANT that fixes it, without the password, and nothing is created.
#[tokio::test]
async fn both_ways_refuses_a_role_that_may_not_use_replication_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(pair) = pair_of(
        Engine::Postgres,
        Engine::Postgres,
        "origins",
        "CREATE TABLE t (id bigint PRIMARY KEY, v text);\nALTER TABLE t REPLICA IDENTITY FULL;\nINSERT INTO t VALUES (1, 'one');",
        &["t"],
        "",
        dir.path(),
    )
    .await
    else {
        return;
    };
    let role = "seaway_test_both_origins_user";
    let mut a = Db::connect(Engine::Postgres, &pair.a).await;
    a.execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'S3cret-pw'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
    ))
    .await;
    let _role = RoleDropped(role.to_string(), pair.a.to_string());
    let limited = pair.a.replacen(
        "postgres://postgres@",
        &format!("postgres://{role}:S3cret-pw@"),
        1,
    );
    let config = dir.path().join("limited.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  src: {{ url: \"{limited}\" }}\n  dst: {{ url: \"{}\" }}\nsource: src\ndestination: dst\nsync:\n  direction: both\n",
            &*pair.b
        ),
    )
    .expect("config");
    let out = support::run_migrator(&config, &["sync"]);
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr.contains("`src`")
            && out.stderr.contains("replication origins")
            && out
                .stderr
                .contains("GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text)")
            && !out.stderr.contains("S3cret-pw"),
        "{}",
        out.stderr
    );
    for (db, url) in [(&mut a, &pair.a)] {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM pg_replication_slots WHERE database IN ('{}', '{}')",
                url.rsplit('/').next().unwrap_or_default(),
                pair.b.rsplit('/').next().unwrap_or_default()
            ))
            .await,
            0,
            "a refused sync created a slot"
        );
    }
    a.close().await;
}
