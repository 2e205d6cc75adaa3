//! `migrator sync` both ways, live: a forced conflict per rule, for each pair of sides
//! built. One stream is held (`--hold`) while the other runs, both sides change the same
//! keys in an order the test knows (the later write made before the earlier one can
//! reach its side), then the held stream is released. Each key ends on both sides as
//! the test computes from its own writes, and the two sides' conflict logs together list
//! exactly those keys.

use crate::support::{self, Db, Engine};
use crate::sync::{Running, assert_ok};
use crate::sync_both_pairs::{caught_up, leftovers, one_way, pair_of};
use std::collections::BTreeSet;
use std::time::Duration;

/// Runs `sync drop` when dropped, so that a PostgreSQL side's slot and origin (which
/// live in the cluster, not in a database) go also when a test fails.
struct Dropped(std::path::PathBuf);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = support::run_migrator(&self.0, &["sync", "drop"]);
    }
}

const TABLES: [&str; 5] = ["t_lww", "t_src", "t_dst", "t_keep", "t_cols"];

/// The tables, one per rule, with ten rows each.
fn schema(engine: Engine) -> String {
    TABLES
        .iter()
        .map(|t| {
            let create = match engine {
                Engine::Postgres => format!(
                    "CREATE TABLE {t} (id bigint PRIMARY KEY, owner text NOT NULL, email text, last_login text);\nALTER TABLE {t} REPLICA IDENTITY FULL;\n"
                ),
                Engine::Sqlite => format!(
                    "CREATE TABLE {t} (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, email TEXT, last_login TEXT);\n"
                ),
                Engine::Mysql => format!(
                    "CREATE TABLE {t} (id BIGINT PRIMARY KEY, owner VARCHAR(100) NOT NULL, email VARCHAR(100), last_login VARCHAR(100));\n"
                ),
            };
            let rows = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10)";
            match engine {
                Engine::Mysql => format!(
                    "{create}INSERT INTO {t} {rows} SELECT i, CONCAT('owner ', i), CONCAT('email ', i), CONCAT('login ', i) FROM s;\n"
                ),
                Engine::Postgres | Engine::Sqlite => format!(
                    "{create}{rows} INSERT INTO {t} SELECT i, 'owner ' || i, 'email ' || i, 'login ' || i FROM s;\n"
                ),
            }
        })
        .collect()
}

const RULES_CONFIG: &str = "  tables:
    t_src: { priority: source }
    t_dst: { priority: destination }
    t_keep: { delete_wins: false }
    t_cols: { columns: { email: source, last_login: destination, \"*\": last_write_wins } }
";

/// Lets the clocks move past a write before the other side's, so the later write has
/// the later version at every side's resolution (a SQLite side's clock has milliseconds;
/// two writes within one tick are a tie, which the source wins, as docs/config.md says).
/// Not a wait for anything to happen: the sync's progress is awaited by markers.
async fn next_tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

/// The keys a side's conflict log names, as `table ["key"]`.
async fn logged(db: &mut Db, engine: Engine) -> BTreeSet<String> {
    let sql = match engine {
        Engine::Postgres => {
            "SELECT COALESCE(string_agg(DISTINCT tbl || ' ' || key, ','), '') FROM seaway_sync_conflicts"
        }
        Engine::Sqlite => {
            "SELECT COALESCE(group_concat(DISTINCT tbl || ' ' || key), '') FROM seaway_sync_conflicts"
        }
        Engine::Mysql => {
            "SELECT COALESCE(GROUP_CONCAT(DISTINCT CONCAT(tbl, ' ', `key`)), '') FROM seaway_sync_conflicts"
        }
    };
    db.text(sql)
        .await
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// What one side did to a key while the other side could not see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Did {
    Update,
    Delete,
}

/// The four cases each table gets: (key, the source's write, the destination's write,
/// whether the source wrote first).
const CASES: [(i64, Did, Did, bool); 4] = [
    (1, Did::Update, Did::Update, true),
    (2, Did::Update, Did::Update, false),
    (3, Did::Delete, Did::Update, true),
    (4, Did::Update, Did::Delete, true),
];

/// The row a side's update leaves: (owner, email, last_login).
fn written(side: &str, key: i64) -> (String, String, String) {
    (
        format!("{side} owner {key}"),
        format!("{side} email {key}"),
        format!("{side} login {key}"),
    )
}

/// The row both sides must hold for `key` of `table` after the conflict, computed from
/// the test's own writes: `None` when deleted.
fn expected(
    table: &str,
    key: i64,
    source: Did,
    destination: Did,
    source_first: bool,
) -> Option<(String, String, String)> {
    let s = written("source", key);
    let d = written("destination", key);
    let later_is_source = !source_first;
    match (source, destination) {
        (Did::Update, Did::Update) => Some(match table {
            "t_src" => s,
            "t_dst" => d,
            // email from the source, last_login from the destination, owner from the
            // later write.
            "t_cols" => (if later_is_source { s.0 } else { d.0 }, s.1, d.2),
            _ => {
                if later_is_source {
                    s
                } else {
                    d
                }
            }
        }),
        (Did::Delete, Did::Update) => match table {
            "t_src" => None,
            "t_dst" | "t_keep" => Some(d),
            _ => None,
        },
        (Did::Update, Did::Delete) => match table {
            "t_src" | "t_keep" => Some(s),
            _ => None,
        },
        (Did::Delete, Did::Delete) => None,
    }
}

async fn write(db: &mut Db, side: &str, table: &str, key: i64, did: Did) {
    let (owner, email, login) = written(side, key);
    db.write(&match did {
        Did::Update => format!(
            "UPDATE {table} SET owner = '{owner}', email = '{email}', last_login = '{login}' WHERE id = {key}"
        ),
        Did::Delete => format!("DELETE FROM {table} WHERE id = {key}"),
    })
    .await;
}

async fn row(db: &mut Db, table: &str, key: i64) -> Option<(String, String, String)> {
    let found = db
        .text(&format!(
            "SELECT COALESCE((SELECT CONCAT(owner, '|', email, '|', last_login) FROM {table} WHERE id = {key}), '(deleted)')"
        ))
        .await
        .expect("a row or the word");
    if found == "(deleted)" {
        return None;
    }
    let mut parts = found.splitn(3, '|').map(str::to_string);
    Some((
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    ))
}

async fn forced_conflicts(ea: Engine, eb: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(pair) = pair_of(
        ea,
        eb,
        "rules",
        &schema(ea),
        &TABLES,
        RULES_CONFIG,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let dir = dir.path();
    let _dropped = Dropped(pair.config.clone());
    let mut a = Db::connect(ea, &pair.a).await;
    let mut b = Db::connect(eb, &pair.b).await;

    // A first run copies the tables and starts both streams.
    let mut running = Running::start(&pair.config, &[], dir, 1);
    running.wait_for_output("initial copy done");
    caught_up(&mut a, &mut b, &mut running, "t_lww", 1_000).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");

    // The source writing first, the way there is held: the destination's later write
    // reaches the source, which decides the conflict then.
    let mut running = Running::start(&pair.config, &["--hold", "there"], dir, 2);
    for table in TABLES {
        for (key, s, d, _) in CASES.iter().filter(|c| c.3) {
            write(&mut a, "source", table, *key, *s).await;
            next_tick().await;
            write(&mut b, "destination", table, *key, *d).await;
        }
    }
    one_way(&mut b, &mut a, &mut running, "t_lww", 1_100).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    // The destination writing first, the way back is held: the source's later write
    // reaches the destination, which leaves it to the source.
    let mut running = Running::start(&pair.config, &["--hold", "back"], dir, 3);
    for table in TABLES {
        for (key, s, d, _) in CASES.iter().filter(|c| !c.3) {
            write(&mut b, "destination", table, *key, *d).await;
            next_tick().await;
            write(&mut a, "source", table, *key, *s).await;
        }
    }
    one_way(&mut a, &mut b, &mut running, "t_lww", 1_200).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");

    // Released: both streams run.
    let mut running = Running::start(&pair.config, &[], dir, 4);
    caught_up(&mut a, &mut b, &mut running, "t_lww", 2_000).await;
    caught_up(&mut a, &mut b, &mut running, "t_lww", 2_010).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");

    let mut want_keys = BTreeSet::new();
    for table in TABLES {
        for (key, s, d, source_first) in CASES {
            let want = expected(table, key, s, d, source_first);
            for (db, side) in [(&mut a, "source"), (&mut b, "destination")] {
                assert_eq!(
                    row(db, table, key).await,
                    want,
                    "{table} key {key} at the {side} ({s:?} at the source, {d:?} at the destination, source first: {source_first})\n{output}"
                );
            }
            want_keys.insert(format!("{table} [\"{key}\"]"));
        }
    }
    let mut found = logged(&mut a, ea).await;
    found.extend(logged(&mut b, eb).await);
    assert_eq!(
        found, want_keys,
        "the conflict logs list exactly the keys both sides wrote"
    );
    pair.verify_both_ways();
    assert_ok(
        "sync drop",
        &support::run_migrator(&pair.config, &["sync", "drop"]),
    );
    for (db, engine, side) in [(&mut a, ea, "source"), (&mut b, eb, "destination")] {
        assert_eq!(
            leftovers(db, engine).await,
            None,
            "sync drop left a table or trigger of the sync in the {side}"
        );
    }
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_postgres_to_postgres() {
    forced_conflicts(Engine::Postgres, Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_postgres_to_sqlite() {
    forced_conflicts(Engine::Postgres, Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_sqlite_to_postgres() {
    forced_conflicts(Engine::Sqlite, Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_sqlite_to_sqlite() {
    forced_conflicts(Engine::Sqlite, Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_postgres_to_mariadb() {
    forced_conflicts(Engine::Postgres, Engine::Mysql).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_mariadb_to_postgres() {
    forced_conflicts(Engine::Mysql, Engine::Postgres).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_mariadb_to_sqlite() {
    forced_conflicts(Engine::Mysql, Engine::Sqlite).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_mariadb_to_mariadb() {
    forced_conflicts(Engine::Mysql, Engine::Mysql).await;
}

#[tokio::test]
async fn both_ways_forced_conflicts_end_as_each_rule_says_sqlite_to_mariadb() {
    forced_conflicts(Engine::Sqlite, Engine::Mysql).await;
}
