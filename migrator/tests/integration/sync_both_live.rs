//! `migrator sync` both ways between two PostgreSQL databases, live:
//! - one change makes exactly one round: applied once on the other side, never echoed
//!   back (a trigger on each side logs every write the table takes);
//! - two writers, one per side, update overlapping keys at random at once; once both
//!   stop and each side's last write has reached the other, `verify` is clean in both
//!   directions;
//! - the refusals a PostgreSQL side adds (replica identity, replication origins).
//!
//! The forced conflicts per rule, for every pair, are `sync_both_rules.rs`.

use crate::convergence::database;
use crate::support::{self, Db, Engine};
use crate::sync::{CATCH_UP, Running, STEP, assert_ok, project_with};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs `sync drop` when dropped, so that the slots, publications and replication
/// origins (which live in the cluster, not in a database) go also when a test fails.
struct Dropped(PathBuf);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = support::run_migrator(&self.0, &["sync", "drop"]);
    }
}

const TABLES: &str = "
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  owner text NOT NULL,
  balance numeric(12,2),
  note text,
  updated timestamp(6)
);
ALTER TABLE accounts REPLICA IDENTITY FULL;
";

const LOADED: &str = "
INSERT INTO accounts SELECT i, 'owner ' || i, i * 1.5, NULL, timestamp '2024-01-01' + i * interval '1 minute'
FROM generate_series(1, 200) AS i;
";

/// A trigger that logs every write `accounts` takes, in a schema sync does not read.
const AUDIT: &str = "
CREATE SCHEMA audit;
CREATE TABLE audit.writes (id bigint NOT NULL, op text NOT NULL);
CREATE FUNCTION audit.log() RETURNS trigger AS $$
BEGIN
  INSERT INTO audit.writes VALUES (COALESCE(NEW.id, OLD.id), TG_OP);
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION audit.log();
";

/// Two PostgreSQL databases synced both ways: the source loaded, the destination given
/// the same tables by `codegen diff` and `migrator apply`, then `extra_sql` on both.
struct Pair {
    a: crate::support::TestDb,
    b: crate::support::TestDb,
    config: PathBuf,
    /// The same two databases the other way round, for `verify` of the way back.
    reversed: PathBuf,
}

async fn pair(case: &str, schema: &str, load: &str, extra: &str, dir: &Path) -> Option<Pair> {
    let a = database(
        Engine::Postgres,
        &format!("seaway_test_both_{case}_a"),
        Some(&format!("{schema}{load}")),
        dir,
    )
    .await?;
    let b = database(
        Engine::Postgres,
        &format!("seaway_test_both_{case}_b"),
        None,
        dir,
    )
    .await?;
    let config = project_with(&a, &b, dir, &format!("sync:\n  direction: both\n{extra}")).await;
    let mut dest = Db::connect(Engine::Postgres, &b).await;
    // The destination's tables as the source's: REPLICA IDENTITY FULL, for the way back.
    for line in schema.lines().filter(|l| l.contains("REPLICA IDENTITY")) {
        dest.execute(line).await;
    }
    dest.close().await;
    let reversed = dir.join("reversed.yaml");
    std::fs::write(
        &reversed,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{}\" }}\nsource: dst\ndestination: src\n",
            &*a, &*b
        ),
    )
    .expect("reversed config");
    Some(Pair {
        a,
        b,
        config,
        reversed,
    })
}

/// Polls (bounded) until `db` answers `sql` with a count of at least one.
async fn wait_until(db: &mut Db, running: &mut Running, sql: &str) {
    let started = Instant::now();
    while db.count(sql).await == 0 {
        running.assert_running();
        assert!(
            started.elapsed() < CATCH_UP,
            "not within {CATCH_UP:?}: {sql}\n{}",
            running.output()
        );
        tokio::time::sleep(STEP).await;
    }
}

/// Writes a marker row on each side in turn and waits for it on the other: after both,
/// each stream has applied (or dropped as an echo) everything written before.
async fn caught_up(a: &mut Db, b: &mut Db, running: &mut Running, table: &str, marker: i64) {
    one_way(a, b, running, table, marker).await;
    one_way(b, a, running, table, marker + 1).await;
}

/// Writes marker row `id` on `from` and waits for it on `to`.
async fn one_way(from: &mut Db, to: &mut Db, running: &mut Running, table: &str, id: i64) {
    from.execute(&format!(
        "INSERT INTO {table} (id, owner) VALUES ({id}, 'marker')"
    ))
    .await;
    wait_until(
        to,
        running,
        &format!("SELECT count(*) FROM {table} WHERE id = {id}"),
    )
    .await;
}

fn verify_both_ways(pair: &Pair) {
    assert_ok(
        "verify, source to destination",
        &support::run_migrator(&pair.config, &["verify"]),
    );
    assert_ok(
        "verify, destination to source",
        &support::run_migrator(&pair.reversed, &["verify"]),
    );
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `writes` random inserts, updates and deletes on keys 1..=40 of `accounts`.
async fn writer(db: &mut Db, side: &str, seed: u64, writes: usize) {
    let mut dice = Dice(seed);
    for n in 0..writes {
        let id = 1 + dice.roll(40);
        let sql = match dice.roll(10) {
            0..=1 => format!(
                "INSERT INTO accounts (id, owner, balance) VALUES ({id}, '{side} {n}', {n}) ON CONFLICT (id) DO NOTHING"
            ),
            2..=7 => format!(
                "UPDATE accounts SET balance = balance + {}, note = '{side} {n}', updated = clock_timestamp() WHERE id = {id}",
                dice.roll(100)
            ),
            _ => format!("DELETE FROM accounts WHERE id = {id}"),
        };
        db.execute(&sql).await;
    }
}

#[tokio::test]
async fn both_ways_one_change_makes_one_round_and_two_writers_converge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(pair) = pair("rounds", TABLES, LOADED, "", dir.path()).await else {
        return;
    };
    let _dropped = Dropped(pair.config.clone());
    let mut a = Db::connect(Engine::Postgres, &pair.a).await;
    let mut b = Db::connect(Engine::Postgres, &pair.b).await;
    a.execute(AUDIT).await;
    b.execute(AUDIT).await;

    let mut running = Running::start(&pair.config, &[], dir.path(), 1);
    running.wait_for_output("initial copy done");
    wait_until(
        &mut b,
        &mut running,
        "SELECT count(*) FROM accounts WHERE id = 200",
    )
    .await;

    // One round: a change on each side, each applied once on the other and not echoed.
    a.execute("DELETE FROM audit.writes").await;
    b.execute("DELETE FROM audit.writes").await;
    a.execute("INSERT INTO accounts (id, owner) VALUES (100001, 'made on the source')")
        .await;
    b.execute("UPDATE accounts SET note = 'made on the destination' WHERE id = 7")
        .await;
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_010).await;
    // Once more: each side's stream has passed what the other applied for the markers.
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_020).await;
    for (db, side) in [(&mut a, "source"), (&mut b, "destination")] {
        for id in [100_001, 7] {
            assert_eq!(
                db.count(&format!(
                    "SELECT count(*) FROM audit.writes WHERE id = {id}"
                ))
                .await,
                1,
                "the {side} took key {id} once (made there or applied), not an echo"
            );
        }
    }
    assert_eq!(
        b.text("SELECT note FROM accounts WHERE id = 7")
            .await
            .as_deref(),
        Some("made on the destination")
    );
    assert_eq!(
        a.text("SELECT note FROM accounts WHERE id = 7")
            .await
            .as_deref(),
        Some("made on the destination")
    );
    for (db, side) in [(&mut a, "source"), (&mut b, "destination")] {
        assert_eq!(
            db.count("SELECT count(*) FROM seaway_sync_conflicts").await,
            0,
            "no conflict at the {side} from changes made on one side only"
        );
    }

    // Two writers at once on overlapping keys.
    let (mut wa, mut wb) = (
        Db::connect(Engine::Postgres, &pair.a).await,
        Db::connect(Engine::Postgres, &pair.b).await,
    );
    // Rounds of both writing at once, each ending with both sides caught up and equal.
    for (round, seeds) in [
        (0, (0x9e37_79b9_7f4a_7c15, 0xd1b5_4a32_d192_ed03)),
        (1, (0x94d0_49bb_1331_11eb, 0xbf58_476d_1ce4_e5b9)),
        (2, (0x2545_f491_4f6c_dd1d, 0x5851_f42d_4c95_7f2d)),
    ] {
        tokio::join!(
            writer(&mut wa, "source", seeds.0, 300),
            writer(&mut wb, "destination", seeds.1, 300)
        );
        let marker = 100_100 + round * 20;
        caught_up(&mut a, &mut b, &mut running, "accounts", marker).await;
        caught_up(&mut a, &mut b, &mut running, "accounts", marker + 10).await;
        verify_both_ways(&pair);
    }
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("conflicts decided"), "{output}");
    let conflicts = a.count("SELECT count(*) FROM seaway_sync_conflicts").await
        + b.count("SELECT count(*) FROM seaway_sync_conflicts").await;
    assert!(
        conflicts > 0,
        "the writers' overlapping keys made conflicts:\n{output}"
    );

    let status = support::run_migrator(&pair.config, &["sync", "status"]);
    assert_ok("sync status", &status);
    assert!(
        status.stdout.matches("applied through").count() == 2
            && status.stdout.contains("conflicts:")
            && status.stdout.contains("clock offset"),
        "{}",
        status.stdout
    );
    // `sync drop` removes both streams, their replication origins (which live in the
    // cluster, not in a database) included.
    let dropped = support::run_migrator(&pair.config, &["sync", "drop"]);
    assert_ok("sync drop", &dropped);
    let origins: Vec<&str> = dropped
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("dropped replication origin "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(origins.len(), 2, "{}", dropped.stdout);
    for origin in origins {
        assert_eq!(
            a.count(&format!(
                "SELECT count(*) FROM pg_replication_origin WHERE roname = '{origin}'"
            ))
            .await,
            0,
            "sync drop left origin {origin}"
        );
    }
    for db in [wa, wb, a, b] {
        db.close().await;
    }
}

/// Both ways, a table whose replica identity is its key alone is refused before anything
/// is created, naming the table and the statement that fixes it: a change must carry the
/// whole row as it was, for the receiving side to tell whether it changed the row too.
#[tokio::test]
async fn both_ways_refuses_a_table_without_full_replica_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = "CREATE TABLE plain (id bigint PRIMARY KEY, v text);";
    let Some(pair) = pair(
        "identity",
        schema,
        "INSERT INTO plain VALUES (1, 'one');",
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
    let Some(pair) = pair(
        "origins",
        "CREATE TABLE t (id bigint PRIMARY KEY, v text);\nALTER TABLE t REPLICA IDENTITY FULL;\n",
        "INSERT INTO t VALUES (1, 'one');",
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
