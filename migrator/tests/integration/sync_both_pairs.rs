//! `migrator sync` both ways, live, for every pair of engines, in both orders:
//! - one change on each side makes exactly one round: applied once on the other side,
//!   never echoed back (a trigger on each side logs every write the table takes);
//! - two writers, one per side, change overlapping keys at random at once; once both
//!   stop and each side's last write has reached the other, `verify` is clean in both
//!   directions;
//! - `sync status` shows both streams, and `sync drop` leaves nothing of the sync in
//!   either side (nor a PostgreSQL side's replication origin) but the conflict log.

use crate::convergence::database;
use crate::support::{self, Db, Engine};
use crate::sync::{CATCH_UP, Running, STEP, assert_ok, project_with};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs `sync drop` when dropped, so that a PostgreSQL side's slot and origin (which
/// live in the cluster, not in a database) go also when a test fails.
struct Dropped(PathBuf);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = support::run_migrator(&self.0, &["sync", "drop"]);
    }
}

fn schema(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => {
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance bigint, note text);
             ALTER TABLE accounts REPLICA IDENTITY FULL;"
        }
        Engine::Sqlite => {
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER, note TEXT);"
        }
        Engine::Mysql => {
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(100) NOT NULL, balance BIGINT, note VARCHAR(200));"
        }
    }
}

/// 200 rows.
fn load(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres | Engine::Sqlite => {
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)
             INSERT INTO accounts (id, owner, balance) SELECT i, 'owner ' || i, i * 3 FROM s;"
        }
        Engine::Mysql => {
            "INSERT INTO accounts (id, owner, balance)
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)
             SELECT i, CONCAT('owner ', i), i * 3 FROM s;"
        }
    }
}

/// A trigger that logs every write `accounts` takes, in a table sync does not carry:
/// the key, the operation, and which write it was (the note or owner the row took, or
/// had for a delete), for a failure's text.
fn audit(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => {
            "CREATE TABLE audit_writes (id bigint NOT NULL, op text NOT NULL, what text, seq bigserial);
             CREATE FUNCTION audit_log() RETURNS trigger AS $$
             BEGIN
               INSERT INTO audit_writes (id, op, what) VALUES (COALESCE(NEW.id, OLD.id), TG_OP,
                 COALESCE(NEW.note, NEW.owner, 'was ' || COALESCE(OLD.note, OLD.owner)));
               RETURN NULL;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER audit_log AFTER INSERT OR UPDATE OR DELETE ON accounts
               FOR EACH ROW EXECUTE FUNCTION audit_log();"
        }
        Engine::Sqlite => {
            "CREATE TABLE audit_writes (id INTEGER NOT NULL, op TEXT NOT NULL, what TEXT);
             CREATE TRIGGER audit_i AFTER INSERT ON accounts BEGIN INSERT INTO audit_writes VALUES (NEW.id, 'INSERT', COALESCE(NEW.note, NEW.owner)); END;
             CREATE TRIGGER audit_u AFTER UPDATE ON accounts BEGIN INSERT INTO audit_writes VALUES (NEW.id, 'UPDATE', COALESCE(NEW.note, NEW.owner)); END;
             CREATE TRIGGER audit_d AFTER DELETE ON accounts BEGIN INSERT INTO audit_writes VALUES (OLD.id, 'DELETE', 'was ' || COALESCE(OLD.note, OLD.owner)); END;"
        }
        Engine::Mysql => {
            "CREATE TABLE audit_writes (id BIGINT NOT NULL, op VARCHAR(10) NOT NULL, what VARCHAR(100), seq BIGINT AUTO_INCREMENT PRIMARY KEY);
             CREATE TRIGGER audit_i AFTER INSERT ON accounts FOR EACH ROW INSERT INTO audit_writes (id, op, what) VALUES (NEW.id, 'INSERT', COALESCE(NEW.note, NEW.owner));
             CREATE TRIGGER audit_u AFTER UPDATE ON accounts FOR EACH ROW INSERT INTO audit_writes (id, op, what) VALUES (NEW.id, 'UPDATE', COALESCE(NEW.note, NEW.owner));
             CREATE TRIGGER audit_d AFTER DELETE ON accounts FOR EACH ROW INSERT INTO audit_writes (id, op, what) VALUES (OLD.id, 'DELETE', CONCAT('was ', COALESCE(OLD.note, OLD.owner)));"
        }
    }
}

pub(crate) fn tag(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "pg",
        Engine::Sqlite => "lite",
        Engine::Mysql => "my",
    }
}

/// Two databases synced both ways.
pub(crate) struct Pair {
    pub(crate) a: crate::support::TestDb,
    pub(crate) b: crate::support::TestDb,
    pub(crate) config: PathBuf,
    /// The same two databases the other way round, for `verify` of the way back.
    pub(crate) reversed: PathBuf,
}

impl Pair {
    /// `verify` clean in both directions.
    pub(crate) fn verify_both_ways(&self) {
        if let Err(failed) = self.verified_both_ways() {
            panic!("{failed}");
        }
    }

    /// `verify` in both directions: the first that is not clean, as the failure text.
    fn verified_both_ways(&self) -> Result<(), String> {
        for (what, config) in [
            ("source to destination", &self.config),
            ("destination to source", &self.reversed),
        ] {
            let out = support::run_migrator(config, &["verify"]);
            if !out.ok {
                return Err(format!("verify, {what}: {}\n{}", out.stdout, out.stderr));
            }
        }
        Ok(())
    }
}

/// Each side's conflict log, one line per conflict, for a failure's text.
async fn conflict_logs(a: &mut Db, ea: Engine, b: &mut Db, eb: Engine) -> String {
    let mut out = String::new();
    for (db, engine, side) in [(a, ea, "source"), (b, eb, "destination")] {
        let line = match engine {
            Engine::Postgres => {
                "concat_ws(' ', stream, key, rule, winner, source_version, destination_version)"
            }
            Engine::Mysql => {
                "CONCAT_WS(' ', stream, `key`, rule, winner, source_version, destination_version)"
            }
            Engine::Sqlite => {
                "stream || ' ' || key || ' ' || rule || ' ' || winner || ' ' || coalesce(source_version, '-') || ' ' || coalesce(destination_version, '-')"
            }
        };
        let all = match engine {
            Engine::Postgres => {
                format!("SELECT string_agg({line}, E'\\n') FROM seaway_sync_conflicts")
            }
            Engine::Mysql => {
                format!("SELECT GROUP_CONCAT({line} SEPARATOR '\\n') FROM seaway_sync_conflicts")
            }
            Engine::Sqlite => {
                format!("SELECT group_concat({line}, char(10)) FROM seaway_sync_conflicts")
            }
        };
        out.push_str(&format!(
            "conflicts at the {side}:\n{}\n",
            db.text(&all).await.unwrap_or_default()
        ));
    }
    out
}

/// Each side's writes of the keys a failed verify names (`key (N)`), in the order its
/// audit trigger logged them, for a failure's text.
async fn audit_of_keys(failed: &str, a: &mut Db, ea: Engine, b: &mut Db, eb: Engine) -> String {
    let keys: Vec<i64> = failed
        .split("key (")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect();
    let mut out = String::new();
    for key in keys {
        for (db, engine, side) in [(&mut *a, ea, "source"), (&mut *b, eb, "destination")] {
            let sql = match engine {
                Engine::Postgres => format!(
                    "SELECT string_agg(op || ':' || COALESCE(what, ''), ', ' ORDER BY seq) FROM audit_writes WHERE id = {key}"
                ),
                Engine::Mysql => format!(
                    "SELECT GROUP_CONCAT(CONCAT(op, ':', COALESCE(what, '')) ORDER BY seq SEPARATOR ', ') FROM audit_writes WHERE id = {key}"
                ),
                Engine::Sqlite => format!(
                    "SELECT group_concat(op || ':' || COALESCE(what, ''), ', ') FROM (SELECT op, what FROM audit_writes WHERE id = {key} ORDER BY rowid)"
                ),
            };
            out.push_str(&format!(
                "key {key} at the {side}: {}\n",
                db.text(&sql).await.unwrap_or_default()
            ));
        }
    }
    out
}

/// Side `a` (engine `ea`) made by `sql`, side `b` given the same `tables` by `codegen
/// diff` and `migrator apply` (`REPLICA IDENTITY FULL` where it is PostgreSQL); synced
/// both ways, `tables` only, with `sync_extra` under `sync:`.
pub(crate) async fn pair_of(
    ea: Engine,
    eb: Engine,
    case: &str,
    sql: &str,
    tables: &[&str],
    sync_extra: &str,
    dir: &Path,
) -> Option<Pair> {
    let case = format!("{case}_{}_{}", tag(ea), tag(eb));
    let a = database(ea, &format!("seaway_test_{case}_a"), Some(sql), dir).await?;
    let b = database(eb, &format!("seaway_test_{case}_b"), None, dir).await?;
    let include = format!("tables:\n  include: [{}]\n", tables.join(", "));
    let config = project_with(
        &a,
        &b,
        dir,
        &format!("{include}sync:\n  direction: both\n{sync_extra}"),
    )
    .await;
    if eb == Engine::Postgres {
        let mut dest = Db::connect(eb, &b).await;
        for table in tables {
            dest.execute(&format!("ALTER TABLE {table} REPLICA IDENTITY FULL"))
                .await;
        }
        dest.close().await;
    }
    let reversed = dir.join("reversed.yaml");
    std::fs::write(
        &reversed,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{}\" }}\nsource: dst\ndestination: src\n{include}",
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

/// `accounts` loaded on side `a`, with an audit trigger on each side.
/// `case` names the test's databases (tests run at once).
async fn pair(ea: Engine, eb: Engine, case: &str, dir: &Path) -> Option<Pair> {
    let pair = pair_of(
        ea,
        eb,
        case,
        &format!("{}{}{}", schema(ea), load(ea), audit(ea)),
        &["accounts"],
        "",
        dir,
    )
    .await?;
    let mut dest = Db::connect(eb, &pair.b).await;
    dest.execute(audit(eb)).await;
    dest.close().await;
    Some(pair)
}

/// Polls (bounded) until `db` answers `sql` with a count of at least one.
pub(crate) async fn wait_until(db: &mut Db, running: &mut Running, sql: &str) {
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

/// Writes marker row `id` of `table` on `from` and waits for it on `to`.
pub(crate) async fn one_way(
    from: &mut Db,
    to: &mut Db,
    running: &mut Running,
    table: &str,
    id: i64,
) {
    from.write(&format!(
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

/// A marker each way: after both, each stream has applied (or dropped as an echo)
/// everything written before.
pub(crate) async fn caught_up(
    a: &mut Db,
    b: &mut Db,
    running: &mut Running,
    table: &str,
    marker: i64,
) {
    one_way(a, b, running, table, marker).await;
    one_way(b, a, running, table, marker + 1).await;
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

/// `writes` random inserts, updates and deletes on keys 1..=40.
async fn writer(db: &mut Db, engine: Engine, side: &str, seed: u64, writes: usize) {
    let mut dice = Dice(seed);
    for n in 0..writes {
        let id = 1 + dice.roll(40);
        let sql = match dice.roll(10) {
            0..=1 => match engine {
                Engine::Mysql => format!(
                    "INSERT IGNORE INTO accounts (id, owner, balance) VALUES ({id}, '{side} {n}', {n})"
                ),
                Engine::Postgres | Engine::Sqlite => format!(
                    "INSERT INTO accounts (id, owner, balance) VALUES ({id}, '{side} {n}', {n}) ON CONFLICT (id) DO NOTHING"
                ),
            },
            2..=7 => format!(
                "UPDATE accounts SET balance = balance + {}, note = '{side} {n}' WHERE id = {id}",
                dice.roll(100)
            ),
            _ => format!("DELETE FROM accounts WHERE id = {id}"),
        };
        db.write(&sql).await;
    }
}

/// What of seaway's is left in a side after `sync drop`: its tables and triggers but
/// the position table, the conflict log and the migration ledger.
pub(crate) async fn leftovers(db: &mut Db, engine: Engine) -> Option<String> {
    match engine {
        Engine::Sqlite => {
            db.text(
                "SELECT group_concat(name, ', ') FROM sqlite_master WHERE name LIKE 'seaway%' AND name NOT IN ('seaway_sync', 'seaway_sync_conflicts', 'seaway_migrations')",
            )
            .await
        }
        Engine::Postgres => {
            db.text(
                "SELECT string_agg(n, ', ') FROM (
                   SELECT tablename::text AS n FROM pg_tables WHERE tablename LIKE 'seaway%' AND tablename NOT IN ('seaway_sync', 'seaway_sync_conflicts', 'seaway_migrations')
                   UNION ALL SELECT tgname::text FROM pg_trigger WHERE tgname LIKE 'seaway%') AS left_over",
            )
            .await
        }
        Engine::Mysql => {
            db.text(
                "SELECT GROUP_CONCAT(n SEPARATOR ', ') FROM (
                   SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'seaway%' AND TABLE_NAME NOT IN ('seaway_sync', 'seaway_sync_conflicts', 'seaway_migrations')
                   UNION ALL SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'seaway%') AS left_over",
            )
            .await
        }
    }
}

/// A pair synced both ways and running, the copy done: its sync, and a connection to
/// each side.
struct Synced {
    pair: Pair,
    _dropped: Dropped,
    a: Db,
    b: Db,
    running: Running,
}

/// [`pair`], with the sync started and its initial copy arrived.
async fn synced(ea: Engine, eb: Engine, case: &str, dir: &Path) -> Option<Synced> {
    let pair = pair(ea, eb, case, dir).await?;
    let dropped = Dropped(pair.config.clone());
    let a = Db::connect(ea, &pair.a).await;
    let mut b = Db::connect(eb, &pair.b).await;
    let mut running = Running::start(&pair.config, &[], dir, 1);
    running.wait_for_output("initial copy done");
    wait_until(
        &mut b,
        &mut running,
        "SELECT count(*) FROM accounts WHERE id = 200",
    )
    .await;
    Some(Synced {
        pair,
        _dropped: dropped,
        a,
        b,
        running,
    })
}

async fn one_round_and_two_writers(ea: Engine, eb: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(Synced {
        pair,
        _dropped,
        mut a,
        mut b,
        mut running,
    }) = synced(ea, eb, "pair", dir.path()).await
    else {
        return;
    };

    // One round: a change on each side, each applied once on the other and not echoed.
    a.write("DELETE FROM audit_writes").await;
    b.write("DELETE FROM audit_writes").await;
    a.write("INSERT INTO accounts (id, owner) VALUES (100001, 'made on the source')")
        .await;
    b.write("UPDATE accounts SET note = 'made on the destination' WHERE id = 7")
        .await;
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_010).await;
    // Once more: each side's stream has passed what the other applied for the markers.
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_020).await;
    for (db, side) in [(&mut a, "source"), (&mut b, "destination")] {
        for id in [100_001, 7, 100_010, 100_011] {
            let mut took = Vec::new();
            for op in ["INSERT", "UPDATE", "DELETE"] {
                let n = db
                    .count(&format!(
                        "SELECT count(*) FROM audit_writes WHERE id = {id} AND op = '{op}'"
                    ))
                    .await;
                took.extend(std::iter::repeat_n(op, usize::try_from(n).unwrap_or(0)));
            }
            assert_eq!(
                took.len(),
                1,
                "the {side} took key {id} once (made there or applied), not an echo: {took:?}\n{}",
                running.output()
            );
        }
        assert_eq!(
            db.text("SELECT note FROM accounts WHERE id = 7")
                .await
                .as_deref(),
            Some("made on the destination"),
            "{side}"
        );
        assert_eq!(
            db.count("SELECT count(*) FROM seaway_sync_conflicts").await,
            0,
            "no conflict at the {side} from changes made on one side only"
        );
    }

    // Rounds of two writers at once on overlapping keys, each ending with both sides
    // caught up and equal.
    let (mut wa, mut wb) = (
        Db::connect(ea, &pair.a).await,
        Db::connect(eb, &pair.b).await,
    );
    for (round, seeds) in [
        (0, (0x9e37_79b9_7f4a_7c15, 0xd1b5_4a32_d192_ed03)),
        (1, (0x94d0_49bb_1331_11eb, 0xbf58_476d_1ce4_e5b9)),
        (2, (0x2545_f491_4f6c_dd1d, 0x9fb2_1c65_1e98_df25)),
        (3, (0xc2b2_ae3d_27d4_eb4f, 0x1656_67b1_9e37_79f9)),
    ] {
        tokio::join!(
            writer(&mut wa, ea, "source", seeds.0, 300),
            writer(&mut wb, eb, "destination", seeds.1, 300)
        );
        let marker = 100_100 + round * 20;
        caught_up(&mut a, &mut b, &mut running, "accounts", marker).await;
        caught_up(&mut a, &mut b, &mut running, "accounts", marker + 10).await;
        if let Err(failed) = pair.verified_both_ways() {
            let logs = conflict_logs(&mut a, ea, &mut b, eb).await;
            let audit = audit_of_keys(&failed, &mut a, ea, &mut b, eb).await;
            panic!(
                "round {round}: {failed}\n{logs}\n{audit}\nsync:\n{}",
                running.output()
            );
        }
    }
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    let conflicts = a.count("SELECT count(*) FROM seaway_sync_conflicts").await
        + b.count("SELECT count(*) FROM seaway_sync_conflicts").await;
    eprintln!("{conflicts} conflicts decided");
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
    let dropped = support::run_migrator(&pair.config, &["sync", "drop"]);
    assert_ok("sync drop", &dropped);
    for (db, engine, side) in [(&mut a, ea, "source"), (&mut b, eb, "destination")] {
        assert_eq!(
            leftovers(db, engine).await,
            None,
            "sync drop left a table or trigger of the sync in the {side}"
        );
    }
    // A PostgreSQL side's replication origin lives in the cluster, not the database.
    let origins: Vec<&str> = dropped
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("dropped replication origin "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let pg_sides = [ea, eb].iter().filter(|e| **e == Engine::Postgres).count();
    assert_eq!(origins.len(), pg_sides, "{}", dropped.stdout);
    for origin in origins {
        let db = if ea == Engine::Postgres {
            &mut a
        } else {
            &mut b
        };
        assert_eq!(
            db.count(&format!(
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

#[tokio::test]
async fn both_ways_postgres_to_postgres_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Postgres, Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_postgres_to_sqlite_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Postgres, Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_sqlite_to_postgres_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Sqlite, Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_sqlite_to_sqlite_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Sqlite, Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_postgres_to_mariadb_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Postgres, Engine::Mysql).await;
}

#[tokio::test]
async fn both_ways_mariadb_to_postgres_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Mysql, Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_sqlite_to_mariadb_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Sqlite, Engine::Mysql).await;
}

#[tokio::test]
async fn both_ways_mariadb_to_sqlite_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Mysql, Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_mariadb_to_mariadb_makes_one_round_and_converges() {
    one_round_and_two_writers(Engine::Mysql, Engine::Mysql).await;
}

/// A column added at the source during a sync both ways reaches the destination (its
/// migration planned and applied as one way), and both ways carry its values after.
async fn column_added_at_the_source(eb: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(Synced {
        pair,
        _dropped,
        mut a,
        mut b,
        mut running,
    }) = synced(Engine::Postgres, eb, "column", dir.path()).await
    else {
        return;
    };

    a.write("ALTER TABLE accounts ADD COLUMN color varchar(20) DEFAULT 'red'")
        .await;
    a.write("INSERT INTO accounts (id, owner, color) VALUES (100500, 'colored', 'blue')")
        .await;
    // The row comes after the column: the stream stops for it, and the destination
    // has the column before the row is applied.
    wait_until(
        &mut b,
        &mut running,
        "SELECT count(*) FROM accounts WHERE id = 100500",
    )
    .await;
    assert_eq!(
        b.text("SELECT color FROM accounts WHERE id = 100500")
            .await
            .as_deref(),
        Some("blue"),
        "{}",
        running.output()
    );
    b.write("UPDATE accounts SET color = 'green' WHERE id = 7")
        .await;
    wait_until(
        &mut a,
        &mut running,
        "SELECT count(*) FROM accounts WHERE id = 7 AND color = 'green'",
    )
    .await;
    let output = stop_and_compare(running, &pair, a, b).await;
    assert!(
        output.contains("column `color` added to `accounts`"),
        "{output}"
    );
}

/// Stops the sync (it exits cleanly), checks that both sides hold the same rows and
/// closes the connections; the sync's output.
async fn stop_and_compare(running: Running, pair: &Pair, a: Db, b: Db) -> String {
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    pair.verify_both_ways();
    a.close().await;
    b.close().await;
    output
}

#[tokio::test]
async fn both_ways_a_column_added_at_the_source_reaches_postgres_and_comes_back() {
    column_added_at_the_source(Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_a_column_added_at_the_source_reaches_sqlite_and_comes_back() {
    column_added_at_the_source(Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_a_column_added_at_the_source_reaches_mariadb_and_comes_back() {
    column_added_at_the_source(Engine::Mysql).await;
}

/// A column added at the destination only stops a sync both ways with an error naming
/// it and where to add it instead (the source, where the schema is planned).
#[tokio::test]
async fn both_ways_a_column_added_at_the_destination_only_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(Synced {
        pair: _pair,
        _dropped,
        mut a,
        mut b,
        mut running,
    }) = synced(
        Engine::Postgres,
        Engine::Postgres,
        "local_column",
        dir.path(),
    )
    .await
    else {
        return;
    };
    // Streaming both ways: a marker has crossed each way.
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_010).await;
    b.write("ALTER TABLE accounts ADD COLUMN flag text").await;
    b.write("UPDATE accounts SET flag = 'local' WHERE id = 3")
        .await;
    stops_naming(
        running,
        &[
            "column `flag` was added at the destination only",
            "add it at the source",
        ],
    );
    a.close().await;
    b.close().await;
}

/// A column added at a SQLite source of a sync both ways, with a change written in the
/// same transaction (`Db::write` wraps the two in one), so before sync can see the
/// column: that change lacks it, which the receiving end cannot judge, so sync stops
/// naming the column and the way out rather than writing NULL into it at the other side.
#[tokio::test]
async fn both_ways_a_column_added_at_a_sqlite_source_with_changes_before_sync_saw_it_stops_naming_it()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(Synced {
        pair: _pair,
        _dropped,
        mut a,
        mut b,
        mut running,
    }) = synced(Engine::Sqlite, Engine::Postgres, "lite_column", dir.path()).await
    else {
        return;
    };
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_010).await;
    a.write(
        "ALTER TABLE accounts ADD COLUMN flag text DEFAULT 'none'; UPDATE accounts SET flag = 'set' WHERE id = 3",
    )
    .await;
    stops_naming(
        running,
        &[
            "column `flag` was added at this SQLite source",
            "just sync drop",
        ],
    );
    a.close().await;
    b.close().await;
}

/// Waits for sync to stop on an error (exit code 2) whose text holds each of `needles`.
fn stops_naming(running: Running, needles: &[&str]) {
    let (code, output) = running.wait_exit();
    assert_eq!(code, Some(2), "{output}");
    assert!(needles.iter().all(|n| output.contains(n)), "{output}");
}

/// The local-edit triggers of a MariaDB side, each with when it was created.
async fn edit_triggers(db: &mut Db) -> Option<String> {
    db.text(
        "SELECT GROUP_CONCAT(CONCAT(TRIGGER_NAME, ' ', CREATED) ORDER BY TRIGGER_NAME SEPARATOR ', ')
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'seaway\\_edit\\_%'",
    )
    .await
}

/// A restart of sync (a stop, or a stream started again after a deadlock) leaves a
/// MariaDB side's local-edit triggers as they are: dropped and created again, they
/// would miss the application's writes in between, each of which would then read as the
/// stream's own write and be overwritten by an older decision of the source.
#[tokio::test]
async fn both_ways_a_restart_leaves_the_mariadb_sides_edit_triggers_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(Synced {
        pair,
        _dropped,
        mut a,
        mut b,
        running,
    }) = synced(Engine::Postgres, Engine::Mysql, "triggers", dir.path()).await
    else {
        return;
    };
    let before = edit_triggers(&mut b).await.unwrap_or_default();
    assert_eq!(
        before.matches("seaway_edit_").count(),
        3,
        "one trigger per event: {before}"
    );
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    let mut running = Running::start(&pair.config, &[], dir.path(), 2);
    caught_up(&mut a, &mut b, &mut running, "accounts", 100_010).await;
    assert_eq!(
        edit_triggers(&mut b).await.unwrap_or_default(),
        before,
        "the restart replaced the triggers:\n{}",
        running.output()
    );
    // They still record the side's own edits, and a change made there reaches the
    // source.
    b.write("UPDATE accounts SET note = 'after the restart' WHERE id = 7")
        .await;
    let edits = b
        .text(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'seaway\\_versions\\_%\\_edits'",
        )
        .await
        .expect("the stream's edits table");
    assert_eq!(
        b.count(&format!(
            "SELECT count(*) FROM `{edits}` WHERE tbl = 'accounts' AND `key` = '[\"7\"]'"
        ))
        .await,
        1,
        "the edit of key 7 is recorded in {edits}"
    );
    wait_until(
        &mut a,
        &mut running,
        "SELECT count(*) FROM accounts WHERE id = 7 AND note = 'after the restart'",
    )
    .await;
    stop_and_compare(running, &pair, a, b).await;
}
