//! `migrator sync` from PostgreSQL into each engine: started on a loaded table, the
//! initial copy runs while the source takes inserts, updates (some changing the key,
//! some leaving a TOASTed value untouched) and deletes; once the source stops writing
//! and the last transaction arrived, `verify` finds the destination identical. Then
//! `sync status` reports the position, a SIGKILLed sync resumes and applies each source
//! transaction exactly once (a trigger on the destination logs every row it receives),
//! and `sync drop` removes the slot and publication. Missing server settings are
//! refused before anything is created.

use crate::convergence::{database, tag};
use crate::support::{self, Db, Engine, Output};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the destination may take to catch up with the source.
pub(crate) const CATCH_UP: Duration = Duration::from_secs(90);
pub(crate) const STEP: Duration = Duration::from_millis(100);

/// Rows the source holds when sync starts.
pub(crate) const LOADED: i64 = 3_000;

const SOURCE_SQL: &str = "
CREATE TABLE items (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  qty integer,
  price numeric(10,2),
  active boolean,
  updated timestamp(6),
  payload bytea,
  big text
);
CREATE TABLE tags (
  item_id bigint NOT NULL,
  tag varchar(20) NOT NULL,
  note text,
  PRIMARY KEY (item_id, tag)
);
INSERT INTO items
SELECT i, 'item ' || i, i % 97, (i * 1.25)::numeric(10,2), i % 2 = 0,
       timestamp '2024-01-01 00:00:00' + i * interval '1 second 250 microseconds',
       decode(md5(i::text), 'hex'), NULL
FROM generate_series(1, 3000) AS i;
INSERT INTO tags SELECT i, 't' || (i % 5), 'note ' || i FROM generate_series(1, 3000) AS i;
-- Values large enough to be TOASTed out of line (incompressible hex, ~20 kB).
UPDATE items SET big = (SELECT string_agg(md5(random()::text || s::text), '') FROM generate_series(1, 600) AS s WHERE items.id > 0)
WHERE id % 500 = 0;
";

/// A `migrator sync` running in the background, its output in files; killed and reaped
/// if the test ends while it runs.
pub(crate) struct Running {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    pub(crate) fn start(config: &Path, args: &[&str], dir: &Path, n: usize) -> Running {
        let out = dir.join(format!("sync-{n}.out"));
        let err = dir.join(format!("sync-{n}.err"));
        let child = Command::new(assert_cmd::cargo::cargo_bin("migrator"))
            .arg("--config")
            .arg(config)
            .arg("sync")
            .args(args)
            .env_remove("SEAWAY_CONFIG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("start migrator sync");
        Running {
            child: Some(child),
            out,
            err,
        }
    }

    pub(crate) fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// Fails the test with the output when the process has ended.
    pub(crate) fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("poll migrator")
        {
            panic!("migrator sync ended early ({status}):\n{}", self.output());
        }
    }

    /// Waits (bounded) until the process has printed `text`.
    pub(crate) fn wait_for_output(&mut self, text: &str) {
        let started = Instant::now();
        while !self.output().contains(text) {
            self.assert_running();
            assert!(
                started.elapsed() < CATCH_UP,
                "migrator sync did not print `{text}` within {CATCH_UP:?}:\n{}",
                self.output()
            );
            std::thread::sleep(STEP);
        }
    }

    /// Waits (bounded) for the process to end by itself; returns its code and output.
    pub(crate) fn wait_exit(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll migrator") {
                return (status.code(), self.output());
            }
            if started.elapsed() > CATCH_UP {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "migrator sync did not stop within {CATCH_UP:?}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(STEP);
        }
    }

    /// Sends `signal` and waits (bounded) for the exit; returns its code and output.
    pub(crate) fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll migrator") {
                return (status.code(), self.output());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "migrator sync did not stop within 30 s of SIG{signal}"
            );
            std::thread::sleep(STEP);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One round of source writes, in a few transactions: inserts, updates, a key change,
/// an update that leaves the TOASTed column alone, deletes, and changes to the composite
/// key table. `round` makes every round touch different rows.
async fn write_round(src: &mut Db, round: i64) {
    let base = 100_000 + round * 100;
    src.execute(&format!(
        "BEGIN;
         INSERT INTO items SELECT i, 'new ' || i, 1, 9.99, true, timestamp '2025-06-01 12:00:00.5', '\\x00ff'::bytea, NULL
           FROM generate_series({base}, {base} + 9) AS i;
         UPDATE items SET qty = qty + 1, name = name || '+' WHERE id % 50 = {r} AND id < 3000;
         COMMIT;",
        r = round % 50
    ))
    .await;
    src.execute(&format!(
        "UPDATE items SET id = id + 500000 WHERE id = {};",
        round * 7 + 1
    ))
    .await;
    src.execute(&format!(
        "UPDATE items SET qty = qty + 100 WHERE id = {};",
        (round % 6 + 1) * 500
    ))
    .await;
    src.execute(&format!(
        "BEGIN;
         DELETE FROM items WHERE id = {d};
         DELETE FROM tags WHERE item_id = {d};
         INSERT INTO tags VALUES ({base}, 'fresh', NULL) ON CONFLICT DO NOTHING;
         UPDATE tags SET note = 'changed ' || {round} WHERE item_id = {u};
         COMMIT;",
        d = round * 7 + 3,
        u = round * 7 + 5
    ))
    .await;
}
/// Waits until the initial copy's progress row says it is done (later chunks may still
/// be in flight after the marker row arrived), failing if sync exits or takes too long.
pub(crate) async fn wait_for_copy(dest: &mut Db, running: &mut Running) {
    let started = Instant::now();
    while !(dest.has_table("seaway_sync").await
        && dest
            .count("SELECT count(*) FROM seaway_sync WHERE copy_done = 1")
            .await
            > 0)
    {
        running.assert_running();
        assert!(
            started.elapsed() < CATCH_UP,
            "copy not done:\n{}",
            running.output()
        );
        tokio::time::sleep(STEP).await;
    }
}

/// After sync stopped: `verify` is clean, and every loaded row and every change
/// arrived (the counts agree with the source, which grew while sync ran).
pub(crate) async fn verify_caught_up(config: &Path, source: &mut Db, dest: &mut Db) {
    let out = support::run_migrator(config, &["verify"]);
    assert_ok("verify after sync", &out);
    let want = source.count("SELECT count(*) FROM items").await;
    assert!(want > LOADED, "the source grew");
    assert_eq!(dest.count("SELECT count(*) FROM items").await, want);
}

/// Writes the last row (key 9000001), waits (bounded) until the destination holds it
/// and the initial copy is done, and stops sync with SIGTERM; returns its output.
pub(crate) async fn last_write_then_stop(
    source: &mut Db,
    dest: &mut Db,
    mut running: Running,
) -> String {
    source
        .execute("INSERT INTO items (id, name) VALUES (9000001, 'end of writes')")
        .await;
    wait_for_row(dest, &mut running, 9_000_001).await;
    wait_for_copy(dest, &mut running).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "sync after SIGTERM:\n{output}");
    output
}

/// `sync drop` says it dropped `what`, and `left` (a count at the source) finds nothing
/// of sync's there any more.
pub(crate) async fn drop_leaves_nothing(config: &Path, source: &mut Db, what: &str, left: &str) {
    let dropped = support::run_migrator(config, &["sync", "drop"]);
    assert_ok("sync drop", &dropped);
    assert!(dropped.stdout.contains(what), "{}", dropped.stdout);
    assert_eq!(
        source.count(left).await,
        0,
        "sync drop left something: {left}"
    );
}

/// Polls (bounded) until the destination holds the row with key `id` in `items`.
pub(crate) async fn wait_for_row(dst: &mut Db, running: &mut Running, id: i64) {
    let sql = format!("SELECT count(*) FROM items WHERE id = {id}");
    wait_for_count(dst, running, &sql, 1, &format!("item {id}")).await;
}

/// Polls (bounded) until the count `sql` reads in the destination reaches `want`,
/// failing with `what` and sync's output if it does not within [`CATCH_UP`] or sync
/// ends.
pub(crate) async fn wait_for_count(
    dst: &mut Db,
    running: &mut Running,
    sql: &str,
    want: i64,
    what: &str,
) {
    let started = Instant::now();
    while dst.count(sql).await < want {
        running.assert_running();
        assert!(
            started.elapsed() < CATCH_UP,
            "the destination did not receive {what} within {CATCH_UP:?}:\n{}",
            running.output()
        );
        tokio::time::sleep(STEP).await;
    }
}

/// The config of a sync from `src` into `dst`, with the destination's tables applied.
async fn project(src: &str, dst: &str, dir: &Path) -> PathBuf {
    project_with(src, dst, dir, "").await
}

/// [`project`], with `extra` lines in the config.
pub(crate) async fn project_with(src: &str, dst: &str, dir: &Path, extra: &str) -> PathBuf {
    let config_path = dir.join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n{extra}"
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let plan = diff::run(&config).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&plan.files).expect("write migration");
    let out = support::run_migrator(&config_path, &["apply"]);
    assert!(out.ok, "apply: {}", out.stderr);
    config_path
}

pub(crate) fn assert_ok(what: &str, out: &Output) {
    assert!(out.ok, "{what}: {}\n{}", out.stdout, out.stderr);
}

/// The replication slots on database `name` of the source server.
async fn slots(admin: &mut Db, name: &str) -> i64 {
    admin
        .count(&format!(
            "SELECT count(*) FROM pg_replication_slots WHERE database = '{name}'"
        ))
        .await
}

async fn live_sync_into(to: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src_name = format!("seaway_test_sync_src_{}", tag(to));
    let Some(src) = database(Engine::Postgres, &src_name, Some(SOURCE_SQL), dir.path()).await
    else {
        return;
    };
    let Some(dst) = database(
        to,
        &format!("seaway_test_sync_dst_{}", tag(to)),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = project(&src, &dst, dir.path()).await;
    let mut source = Db::connect(Engine::Postgres, &src).await;

    // Small chunks: the copy runs while the source is written to.
    let running = Running::start(&config, &["--chunk-size", "250"], dir.path(), 1);
    for round in 0..30 {
        write_round(&mut source, round).await;
    }
    let mut dest = Db::connect(to, &dst).await;
    let output = last_write_then_stop(&mut source, &mut dest, running).await;
    assert!(output.contains("stopped:"), "{output}");

    verify_caught_up(&config, &mut source, &mut dest).await;

    let status = support::run_migrator(&config, &["sync", "status"]);
    assert_ok("sync status", &status);
    assert!(
        status.stdout.contains("applied through") && status.stdout.contains("slot seaway_"),
        "{}",
        status.stdout
    );

    // Exactly once across a kill: a trigger logs every row the destination takes, with
    // the source transaction id the row carries; SIGKILLs at several moments under load
    // leave no (transaction, key) logged twice, and the data verifies.
    if to == Engine::Postgres {
        exactly_once_across_kills(&PG_PROBE, &config, &mut source, &mut dest, dir.path()).await;
    }

    let dropped = support::run_migrator(&config, &["sync", "drop"]);
    assert_ok("sync drop", &dropped);
    assert!(
        dropped.stdout.contains("dropped replication slot")
            && dropped.stdout.contains("dropped publication"),
        "{}",
        dropped.stdout
    );
    let mut admin = Db::connect(Engine::Postgres, &src).await;
    assert_eq!(
        slots(&mut admin, &src_name).await,
        0,
        "sync drop left a slot"
    );
    assert_eq!(
        admin.count("SELECT count(*) FROM pg_publication").await,
        0,
        "sync drop left the publication"
    );
    admin.close().await;
    dest.close().await;
    source.close().await;
}

/// How a source engine carries its transaction id into the probe table of
/// [`exactly_once_across_kills`].
pub(crate) struct Probe {
    /// Creates `applied_probe (id, n, xid)` at the source.
    pub create: &'static str,
    /// The source statement of write `n` (its own transaction), setting `xid` to the
    /// source transaction's id.
    pub write: fn(i64) -> String,
    /// A count that is non-zero once the source streams the new table (PostgreSQL: the
    /// publication took it in, which a first run does); `None` when it needs no run.
    pub ready: Option<&'static str>,
}

/// PostgreSQL: the transaction id is `txid_current()`.
const PG_PROBE: Probe = Probe {
    create: "CREATE TABLE applied_probe (id bigint PRIMARY KEY, n integer NOT NULL, xid bigint NOT NULL DEFAULT txid_current())",
    write: |n| {
        format!(
            "INSERT INTO applied_probe (id, n) VALUES ({}, 0) ON CONFLICT (id) DO UPDATE SET n = applied_probe.n + 1, xid = txid_current();",
            n % 7
        )
    },
    ready: Some("SELECT count(*) FROM pg_publication_tables WHERE tablename = 'applied_probe'"),
};

/// Adds a column the source fills with its transaction id and a trigger on the
/// destination (PostgreSQL) that logs each row it receives; kills a running sync
/// (SIGKILL) at several moments while the source is written, restarts it, and checks
/// that no source transaction's row was applied twice and the data verifies.
pub(crate) async fn exactly_once_across_kills(
    probe: &Probe,
    config: &Path,
    source: &mut Db,
    dest: &mut Db,
    dir: &Path,
) {
    source.execute(probe.create).await;
    dest.execute(
        "CREATE TABLE applied_probe (id bigint PRIMARY KEY, n integer NOT NULL, xid bigint NOT NULL);
         CREATE TABLE applied_log (xid bigint NOT NULL, id bigint NOT NULL, n integer NOT NULL);
         CREATE FUNCTION log_applied() RETURNS trigger AS $$
         BEGIN INSERT INTO applied_log VALUES (NEW.xid, NEW.id, NEW.n); RETURN NEW; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER log_applied AFTER INSERT OR UPDATE ON applied_probe FOR EACH ROW EXECUTE FUNCTION log_applied();",
    )
    .await;
    if let Some(ready) = probe.ready {
        // A first run adds the new table to the publication; writes before that would
        // not be published (the source decides per change, as of its commit).
        let mut running = Running::start(config, &["--no-copy"], dir, 9);
        let started = Instant::now();
        while source.count(ready).await == 0 {
            running.assert_running();
            assert!(started.elapsed() < CATCH_UP, "{}", running.output());
            tokio::time::sleep(STEP).await;
        }
        let (code, output) = running.stop("TERM");
        assert_eq!(code, Some(0), "{output}");
    }
    let mut n = 0;
    for kill in 0..4 {
        let running = Running::start(config, &["--no-copy"], dir, 10 + kill);
        for _ in 0..25 {
            n += 1;
            source.execute(&(probe.write)(n)).await;
        }
        // Kill at a different moment each time: right away, then after some progress.
        tokio::time::sleep(Duration::from_millis(50 * kill as u64)).await;
        let (code, output) = running.stop("KILL");
        assert_eq!(code, None, "killed by a signal:\n{output}");
    }
    let marker = 9_100_000;
    source
        .execute(&format!(
            "INSERT INTO applied_probe (id, n) VALUES ({marker}, 0)"
        ))
        .await;
    let mut running = Running::start(config, &["--no-copy"], dir, 20);
    let sql = format!("SELECT count(*) FROM applied_probe WHERE id = {marker}");
    wait_for_count(
        dest,
        &mut running,
        &sql,
        1,
        "the marker row after the kills",
    )
    .await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    let doubles = dest
        .count("SELECT count(*) FROM (SELECT xid, id FROM applied_log GROUP BY xid, id HAVING count(*) > 1) AS d")
        .await;
    assert_eq!(doubles, 0, "a source transaction's row was applied twice");
    // Batches keep a key's last image only, so not every transaction's row is logged;
    // the last one of each key is, and the data verifies.
    assert!(
        dest.count("SELECT count(*) FROM applied_log").await >= 8,
        "too few rows applied ({n} source writes)"
    );
    let out = support::run_migrator(config, &["verify"]);
    assert_ok("verify after the kills", &out);
}

#[tokio::test]
async fn sync_postgres_into_postgres_carries_every_change_exactly_once() {
    live_sync_into(Engine::Postgres).await;
}

#[tokio::test]
async fn sync_postgres_into_mariadb_carries_every_change() {
    live_sync_into(Engine::Mysql).await;
}

#[tokio::test]
async fn sync_postgres_into_sqlite_carries_every_change() {
    live_sync_into(Engine::Sqlite).await;
}

/// Without `wal_level = logical` nothing is created and the error names the setting, its
/// value and the fix. The local server is configured for capture (.ci/capture-settings),
/// so the refusal is shown on a source whose role lacks the REPLICATION attribute.
#[tokio::test]
async fn sync_refuses_a_source_that_cannot_stream_before_creating_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "seaway_test_sync_refuse";
    let Some(src) = database(
        Engine::Postgres,
        name,
        Some("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE nokey (v text NOT NULL);"),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Sqlite,
        "seaway_test_sync_refuse_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let mut admin = Db::connect(Engine::Postgres, &src).await;
    let level = admin
        .text("SELECT current_setting('wal_level')")
        .await
        .unwrap_or_default();
    let config = dir.path().join("seaway.yaml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n{extra}"
            ),
        )
        .expect("config");
    };
    write("tables:\n  include: [t]\n");
    let cfg = Config::load(&config).expect("config");
    let plan = diff::run(&cfg).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&plan.files).expect("write migration");
    assert_ok("apply", &support::run_migrator(&config, &["apply"]));

    if level == "logical" {
        // A role without REPLICATION: refused by name, with the statement that fixes it.
        admin
            .execute(&format!(
                "DROP ROLE IF EXISTS {name}_user; CREATE ROLE {name}_user LOGIN; GRANT ALL ON SCHEMA public TO {name}_user; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}_user;"
            ))
            .await;
        let guard = RoleGuard(format!("{name}_user"), src.to_string());
        let limited = src.replacen(
            "postgres://postgres@",
            &format!("postgres://{}@", guard.0),
            1,
        );
        std::fs::write(
            &config,
            format!(
                "connections:\n  src: {{ url: \"{limited}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\ntables:\n  include: [t]\n"
            ),
        )
        .expect("config");
        let out = support::run_migrator(&config, &["sync", "--no-copy"]);
        assert!(!out.ok, "{}", out.stdout);
        assert!(
            out.stderr.contains("REPLICATION") && out.stderr.contains("ALTER ROLE"),
            "{}",
            out.stderr
        );
        drop(guard);
        write("tables:\n  include: [t]\n");
        // Running it for real, the setting is in effect: the sync starts (stopped at once).
        let mut running = Running::start(&config, &["--no-copy"], dir.path(), 1);
        let started = Instant::now();
        while slots(&mut admin, name).await == 0 {
            running.assert_running();
            assert!(started.elapsed() < CATCH_UP, "{}", running.output());
            tokio::time::sleep(STEP).await;
        }
        let (code, output) = running.stop("INT");
        assert_eq!(code, Some(0), "{output}");
        assert_ok(
            "sync drop",
            &support::run_migrator(&config, &["sync", "drop"]),
        );
    } else {
        let out = support::run_migrator(&config, &["sync", "--no-copy"]);
        assert!(!out.ok, "{}", out.stdout);
        assert!(
            out.stderr.contains("wal_level")
                && out.stderr.contains(&format!("`{level}`"))
                && out.stderr.contains("ALTER SYSTEM SET wal_level = logical"),
            "{}",
            out.stderr
        );
        assert_eq!(
            slots(&mut admin, name).await,
            0,
            "a refused sync created a slot"
        );
    }

    // A table whose rows sync could not name on update or delete is refused too.
    write("tables:\n  include: [t, nokey]\nmappings:\n  nokey:\n    key: [v]\n");
    let cfg = Config::load(&config).expect("config");
    let plan = diff::run(&cfg).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&plan.files).expect("write migration");
    assert_ok("apply", &support::run_migrator(&config, &["apply"]));
    if level == "logical" {
        let out = support::run_migrator(&config, &["sync", "--no-copy"]);
        assert!(!out.ok, "{}", out.stdout);
        assert!(
            out.stderr.contains("nokey") && out.stderr.contains("REPLICA IDENTITY FULL"),
            "{}",
            out.stderr
        );
        assert_eq!(
            slots(&mut admin, name).await,
            0,
            "a refused sync created a slot"
        );
    }
    admin.close().await;
}

/// Drops a test role (and what it was granted in the database at the URL) when the
/// test ends, pass or fail.
struct RoleGuard(String, String);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        let role = &self.0;
        let _ = crate::test_db::run_detached(
            crate::test_db::Kind::Postgres,
            &self.1,
            vec![
                format!("DROP OWNED BY {role}"),
                format!("DROP ROLE IF EXISTS {role}"),
            ],
        );
    }
}

const SQLITE_SOURCE_SQL: &str = "
CREATE TABLE items (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  qty INTEGER,
  price NUMERIC(10,2),
  active BOOLEAN,
  updated DATETIME,
  payload BLOB
);
CREATE TABLE tags (
  item_id INTEGER NOT NULL,
  tag VARCHAR(20) NOT NULL,
  note TEXT,
  PRIMARY KEY (item_id, tag)
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO items SELECT i, 'item ' || i, i % 97, round(i * 1.25, 2), i % 2 = 0,
  datetime('2024-01-01 00:00:00', '+' || i || ' seconds'), randomblob(8) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO tags SELECT i, 't' || (i % 5), 'note ' || i FROM n;
";

/// A round of writes to the SQLite source, as `write_round` does to PostgreSQL's.
async fn write_sqlite_round(src: &mut Db, round: i64) {
    let base = 100_000 + round * 100;
    src.execute(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT {base} UNION ALL SELECT i + 1 FROM n WHERE i < {base} + 9)
         INSERT INTO items SELECT i, 'new ' || i, 1, 9.99, 1, '2025-06-01 12:00:00.5', x'00ff' FROM n;
         UPDATE items SET qty = qty + 1, name = name || '+' WHERE id % 50 = {r} AND id < 3000;
         COMMIT;",
        r = round % 50
    ))
    .await;
    src.execute(&format!(
        "UPDATE items SET id = id + 500000 WHERE id = {};",
        round * 7 + 1
    ))
    .await;
    src.execute(&format!(
        "BEGIN;
         DELETE FROM items WHERE id = {d};
         DELETE FROM tags WHERE item_id = {d};
         INSERT OR IGNORE INTO tags VALUES ({base}, 'fresh', NULL);
         UPDATE tags SET note = 'changed ' || {round} WHERE item_id = {u};
         COMMIT;",
        d = round * 7 + 3,
        u = round * 7 + 5
    ))
    .await;
}

/// `migrator sync` from SQLite (triggers into a change table) into `to`: the copy runs
/// while the source is written, verify is clean afterwards, and `sync drop` removes the
/// triggers and the change table.
async fn live_sync_from_sqlite_into(to: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src_path = dir.path().join("source.sqlite");
    let src = format!("sqlite://{}", src_path.display());
    let mut source = Db::connect(Engine::Sqlite, &src).await;
    source.execute(SQLITE_SOURCE_SQL).await;
    let Some(dst) = database(
        to,
        &format!("seaway_test_sync_lite_dst_{}", tag(to)),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = project(&src, &dst, dir.path()).await;

    let running = Running::start(&config, &["--chunk-size", "250"], dir.path(), 1);
    for round in 0..30 {
        write_sqlite_round(&mut source, round).await;
    }
    let mut dest = Db::connect(to, &dst).await;
    last_write_then_stop(&mut source, &mut dest, running).await;

    verify_caught_up(&config, &mut source, &mut dest).await;

    drop_leaves_nothing(
        &config,
        &mut source,
        "dropped change table",
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'seaway%'",
    )
    .await;
    dest.close().await;
    source.close().await;
}

#[tokio::test]
async fn sync_sqlite_into_postgres_carries_every_change() {
    live_sync_from_sqlite_into(Engine::Postgres).await;
}

#[tokio::test]
async fn sync_sqlite_into_mariadb_carries_every_change() {
    live_sync_from_sqlite_into(Engine::Mysql).await;
}

#[tokio::test]
async fn sync_sqlite_into_sqlite_carries_every_change() {
    live_sync_from_sqlite_into(Engine::Sqlite).await;
}

/// When the source's column is added, relative to the sync.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// While the stream runs.
    Streaming,
    /// While sync is stopped, after changes the destination does not hold yet: the next
    /// run applies the column first, then replays those changes, whose descriptions of
    /// the table predate the column.
    Stopped,
}

/// A column added to a source table is planned and applied to the destination as
/// `codegen diff` and `migrator apply` would, and its values arrive (rows written before
/// and after the change); verify is clean. A column then dropped at the source stops
/// the sync with an error naming it. `from` is the source engine (PostgreSQL, MariaDB,
/// or SQLite, whose changes the triggers wrote between the `ALTER` and their re-creation
/// lack the column until sync refreshes those rows).
pub(crate) async fn added_column_arrives(from: Engine, to: Engine, when: Added) {
    let dir = tempfile::tempdir().expect("tempdir");
    // The source's table, and how a dropped column is named when sync stops.
    let (owner, create, dropped) = match from {
        Engine::Mysql => (
            "_my",
            "CREATE TABLE items (id bigint PRIMARY KEY, name varchar(100) NOT NULL); INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_100;",
            "DROP COLUMN color",
        ),
        Engine::Postgres => (
            "",
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL); INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) AS i;",
            "column `color` is gone from the source",
        ),
        // SQLite itself refuses to drop a column its triggers name.
        Engine::Sqlite => (
            "_lite",
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100) INSERT INTO items SELECT i, 'item ' || i FROM s;",
            "",
        ),
    };
    let Some(src) = database(
        from,
        &format!(
            "seaway_test_sync_evolve{owner}_src_{}{}",
            tag(to),
            when.tag()
        ),
        Some(create),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        to,
        &format!(
            "seaway_test_sync_evolve{owner}_dst_{}{}",
            tag(to),
            when.tag()
        ),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = project(&src, &dst, dir.path()).await;
    let mut source = Db::connect(from, &src).await;
    let mut running = Running::start(&config, &[], dir.path(), 1);
    // The change comes while the stream runs: once the copy is done.
    let mut dest = Db::connect(to, &dst).await;
    wait_for_copy(&mut dest, &mut running).await;
    let change = async |source: &mut Db| {
        source
            .execute("INSERT INTO items VALUES (1001, 'before the change'); UPDATE items SET name = 'renamed' WHERE id = 5;")
            .await;
        source
            .execute("ALTER TABLE items ADD COLUMN color varchar(20) DEFAULT 'red'")
            .await;
    };
    let mut running = match when {
        Added::Streaming => {
            change(&mut source).await;
            running
        }
        Added::Stopped => {
            let (code, output) = running.stop("TERM");
            assert_eq!(code, Some(0), "{output}");
            change(&mut source).await;
            Running::start(&config, &[], dir.path(), 2)
        }
    };
    source
        .execute("INSERT INTO items VALUES (1002, 'after the change', 'blue'); UPDATE items SET color = 'green' WHERE id = 7; DELETE FROM items WHERE id = 9;")
        .await;
    source
        .execute("INSERT INTO items (id, name, color) VALUES (9000001, 'end of writes', 'last')")
        .await;
    wait_for_row(&mut dest, &mut running, 9_000_001).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("column `color` added to `items`"),
        "{output}"
    );
    assert_eq!(
        dest.text("SELECT color FROM items WHERE id = 7")
            .await
            .as_deref(),
        Some("green"),
        "{output}"
    );
    assert_eq!(
        dest.text("SELECT color FROM items WHERE id = 1002")
            .await
            .as_deref(),
        Some("blue")
    );
    assert_eq!(
        dest.text("SELECT name FROM items WHERE id = 5")
            .await
            .as_deref(),
        Some("renamed")
    );
    let out = support::run_migrator(&config, &["verify"]);
    assert_ok("verify after the added column", &out);
    if from == Engine::Sqlite {
        assert_ok(
            "sync drop",
            &support::run_migrator(&config, &["sync", "drop"]),
        );
        dest.close().await;
        source.close().await;
        return;
    }
    // A dropped column is a change sync does not carry: it stops and names it.
    let mut running = Running::start(&config, &[], dir.path(), 3);
    running.wait_for_output("streaming");
    source
        .execute("ALTER TABLE items DROP COLUMN color; INSERT INTO items VALUES (1003, 'after the drop');")
        .await;
    let (code, output) = running.wait_exit();
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains(dropped), "{output}");
    assert_ok(
        "sync drop",
        &support::run_migrator(&config, &["sync", "drop"]),
    );
    dest.close().await;
    source.close().await;
}

impl Added {
    fn tag(self) -> &'static str {
        match self {
            Added::Streaming => "",
            Added::Stopped => "_stopped",
        }
    }
}

#[tokio::test]
async fn sync_applies_a_column_added_at_a_postgres_source_into_postgres() {
    added_column_arrives(Engine::Postgres, Engine::Postgres, Added::Streaming).await;
}

#[tokio::test]
async fn sync_applies_a_column_added_at_a_postgres_source_into_sqlite() {
    added_column_arrives(Engine::Postgres, Engine::Sqlite, Added::Streaming).await;
}

#[tokio::test]
async fn sync_applies_a_column_added_at_a_sqlite_source() {
    added_column_arrives(Engine::Sqlite, Engine::Postgres, Added::Streaming).await;
}

#[tokio::test]
async fn sync_applies_a_column_added_at_a_stopped_sqlite_source_then_replays_older_changes() {
    added_column_arrives(Engine::Sqlite, Engine::Sqlite, Added::Stopped).await;
}

#[tokio::test]
async fn sync_applies_a_column_added_while_it_was_stopped_then_replays_older_changes() {
    added_column_arrives(Engine::Postgres, Engine::Postgres, Added::Stopped).await;
}

/// Whether the tests run as root (CI does): PostgreSQL's server refuses to run as root,
/// so its programs then run as `postgres`.
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` run as the user PostgreSQL's server runs as.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A PostgreSQL server of the test's own (initdb into a temp folder, started on a free
/// port with the given settings), stopped when dropped, pass or fail: the shared server
/// is configured for capture, so a missing `wal_level` is shown on this one. `None`
/// (after printing why) without PostgreSQL's server programs.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn start(settings: &[&str]) -> Option<OwnPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .find(|b| b.join("initdb").is_file());
        let Some(bin) = bin else {
            let msg =
                "PostgreSQL's server programs (initdb, pg_ctl) are not under /usr/lib/postgresql";
            if std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1") {
                panic!("{msg}; SEAWAY_REQUIRE_LIVE=1 requires them");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = OwnPostgres { dir, bin, port };
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(server.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the test server's folder to postgres");
        }
        let data = server.dir.path().join("data");
        let run = |program: &str, args: &[String]| {
            let out = as_server_user(&server.bin.join(program))
                .args(args)
                .output()
                .expect(program);
            assert!(
                out.status.success(),
                "{program}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let data_arg = data.display().to_string();
        run(
            "initdb",
            &[
                "-D".into(),
                data_arg.clone(),
                "-A".into(),
                "trust".into(),
                "-U".into(),
                "postgres".into(),
                "--no-sync".into(),
            ],
        );
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            server.port,
            server.dir.path().display()
        );
        for s in settings {
            options.push_str(&format!(" -c {s}"));
        }
        run(
            "pg_ctl",
            &[
                "-D".into(),
                data_arg,
                "-o".into(),
                options,
                "-l".into(),
                server.dir.path().join("log").display().to_string(),
                "-w".into(),
                "start".into(),
            ],
        );
        Some(server)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Without `wal_level = logical` sync refuses before creating anything, naming the
/// setting, its value and the statement that fixes it.
#[tokio::test]
async fn sync_refuses_a_postgres_source_without_logical_wal_level() {
    let Some(server) = OwnPostgres::start(&["wal_level=replica"]) else {
        return;
    };
    let src = server.url();
    let mut admin = Db::connect(Engine::Postgres, &src).await;
    admin
        .execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dst = format!("sqlite://{}", dir.path().join("dest.sqlite").display());
    let config = project(&src, &dst, dir.path()).await;
    let out = support::run_migrator(&config, &["sync", "--no-copy"]);
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("wal_level is `replica`")
            && out.stderr.contains("ALTER SYSTEM SET wal_level = logical")
            && out.stderr.contains(&format!("127.0.0.1:{}", server.port)),
        "{}",
        out.stderr
    );
    assert_eq!(
        admin
            .count("SELECT count(*) FROM pg_replication_slots")
            .await
            + admin.count("SELECT count(*) FROM pg_publication").await,
        0,
        "a refused sync created a slot or a publication"
    );
    admin.close().await;
}
