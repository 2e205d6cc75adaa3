//! The property that proves diff and apply right: for every source engine and every
//! destination engine, diff + apply, then a second diff is empty (nothing to write,
//! nothing skipped). Run on Chinook, on the type zoos and on awkward identifiers.
//!
//! The first migration of each pair is also a golden file
//! (`tests/golden/<case>/<source>-to-<destination>.sql`), compared byte for byte;
//! `just bless` (SEAWAY_BLESS=1) rewrites them on purpose.

use crate::support::{self, Engine, TestDb};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use sqlx::Connection;
use std::path::{Path, PathBuf};

pub const ENGINES: [Engine; 3] = [Engine::Postgres, Engine::Mysql, Engine::Sqlite];

pub fn tag(e: Engine) -> &'static str {
    match e {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Sqlite => "sqlite",
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

/// A fresh database `name` (`seaway_test_*`) on `engine`, loaded with `sql` when given,
/// and dropped when the returned [`TestDb`] is; `None` when the server is absent (the skip
/// is printed by `support::server`).
pub async fn database(engine: Engine, name: &str, sql: Option<&str>, dir: &Path) -> Option<TestDb> {
    let db = support::fresh_database(engine, name, dir).await?;
    if let Some(sql) = sql {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match engine {
            Engine::Sqlite => {
                let path = db.strip_prefix("sqlite://").expect("a sqlite:// URL");
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true);
                let mut c = sqlx::SqliteConnection::connect_with(&opts)
                    .await
                    .expect("create sqlite");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .expect("load sqlite fixture");
                c.close().await.expect("close");
            }
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db).await.expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .expect("load fixture");
                c.close().await.expect("close");
            }
            Engine::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(&db).await.expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .expect("load fixture");
                c.close().await.expect("close");
            }
        }
    }
    Some(db)
}

/// The source of `case` on `engine`: Chinook's own SQLite file, else its SQL fixture.
/// `owner` prefixes the source database's name, so tests loading the same case in
/// parallel never drop each other's database.
pub async fn source(owner: &str, case: &str, engine: Engine, dir: &Path) -> Option<TestDb> {
    if case == "chinook" && engine == Engine::Sqlite {
        return Some(TestDb::file(format!(
            "sqlite://{}",
            fixture("chinook/chinook.sqlite").display()
        )));
    }
    let sql =
        std::fs::read_to_string(fixture(&format!("{case}/{}.sql", tag(engine)))).expect("fixture");
    database(engine, &format!("{owner}_src_{case}"), Some(&sql), dir).await
}

fn golden(case: &str, from: Engine, to: Engine, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/golden/{case}/{}-to-{}.sql",
        tag(from),
        tag(to)
    ));
    if std::env::var("SEAWAY_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `just bless` to create it", path.display()));
    assert!(
        expected == actual,
        "{} differs from the generated migration; if the change is intended, run `just bless`\n--- generated:\n{actual}",
        path.display()
    );
}

async fn converge(case: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    for from in ENGINES {
        let Some(src) = source("seaway_test_c", case, from, dir.path()).await else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) = database(
                to,
                &format!("seaway_test_c_dst_{case}_{}", tag(to)),
                None,
                dir.path(),
            )
            .await
            else {
                continue;
            };
            let project = tempfile::tempdir().expect("project");
            let exclude = if from == to {
                ""
            } else {
                "tables: { exclude: [zoo_carried] }\n"
            };
            let config_path = project.path().join("seaway.yaml");
            std::fs::write(
                &config_path,
                format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n{exclude}allow_lossy: [\"*.*\"]\n"),
            )
            .expect("config");
            let config = Config::load(&config_path).expect("config");
            let pair = format!("{case}: {} -> {}", tag(from), tag(to));

            let first = diff::run(&config)
                .await
                .unwrap_or_else(|e| panic!("{pair}: first diff: {e}"));
            assert!(
                first.skipped.is_empty(),
                "{pair}: first diff skipped {:?}",
                first.skipped
            );
            let migration = first
                .files
                .first()
                .unwrap_or_else(|| panic!("{pair}: first diff wrote nothing"));
            golden(case, from, to, &migration.contents);
            seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");

            let applied = support::run_migrator(&config_path, &["apply"]);
            assert!(applied.ok, "{pair}: apply failed:\n{}", applied.stderr);

            second_diff_is_empty(&pair, &config).await;
            if case == "fidelity" {
                fidelity(&pair, from, to, &first.notes, &dst).await;
            }
            done.push(pair);
        }
    }
    eprintln!("converged: {done:?}");
}

/// Diffs again after apply: nothing to write and nothing skipped. Returns the outcome.
pub async fn second_diff_is_empty(pair: &str, config: &Config) -> diff::DiffOutcome {
    let second = diff::run(config)
        .await
        .unwrap_or_else(|e| panic!("{pair}: second diff: {e}"));
    assert!(
        second.migration_name.is_none(),
        "{pair}: second diff is not empty: {:#?}",
        second.statements
    );
    assert!(
        second.skipped.is_empty(),
        "{pair}: second diff skipped {:?}",
        second.skipped
    );
    second
}

/// The adaptations the fidelity fixture must cause in each pair (codes of `diff`'s notes),
/// and, into SQLite, that auto-numbered keys number themselves and never hand out the
/// key of a deleted last row again (AUTOINCREMENT), as the source's keys do.
async fn fidelity(
    pair: &str,
    from: Engine,
    to: Engine,
    notes: &[seaway_codegen::target::Diagnostic],
    dst: &str,
) {
    use seaway_codegen::target::codes;
    let expected: &[&str] = match (from, to) {
        (Engine::Postgres, Engine::Mysql) => &[
            codes::FK_ACTION_ADAPTED,
            codes::FK_COLUMN_WIDENED,
            codes::INDEX_PREFIXED,
        ],
        (Engine::Sqlite, Engine::Mysql) => &[
            codes::FK_ACTION_ADAPTED,
            codes::FK_COLUMN_WIDENED,
            codes::INDEX_PREFIXED,
            codes::NAME_SHORTENED,
        ],
        (Engine::Mysql | Engine::Sqlite, Engine::Postgres) => &[codes::NAME_SHORTENED],
        _ => &[],
    };
    for code in expected {
        assert!(
            notes.iter().any(|n| n.code == *code),
            "{pair}: expected a {code} note, got {notes:#?}"
        );
    }
    if to != Engine::Sqlite {
        return;
    }
    let mut c = sqlx::SqliteConnection::connect(dst)
        .await
        .expect("open sqlite destination");
    for sql in [
        "INSERT INTO supplier (name, code) VALUES ('a', 'A'), ('b', 'B')",
        "DELETE FROM supplier WHERE code = 'B'",
        "INSERT INTO supplier (name, code) VALUES ('c', 'C')",
        "INSERT INTO item (title) VALUES ('no key given')",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{pair}: {sql}: {e}"));
    }
    let keys: Vec<i64> = sqlx::query_scalar("SELECT supplier_id FROM supplier ORDER BY 1")
        .fetch_all(&mut c)
        .await
        .expect("keys");
    assert_eq!(
        keys,
        [1, 3],
        "{pair}: the deleted last key 2 was handed out again"
    );
    let item: i64 = sqlx::query_scalar("SELECT item_id FROM item")
        .fetch_one(&mut c)
        .await
        .expect("item key");
    assert_eq!(item, 1, "{pair}");
    c.close().await.expect("close");
}

#[tokio::test]
async fn chinook_converges_across_all_engine_pairs() {
    converge("chinook").await;
}

#[tokio::test]
async fn type_zoos_converge_across_all_engine_pairs() {
    converge("zoo").await;
}

#[tokio::test]
async fn awkward_identifiers_converge_across_all_engine_pairs() {
    converge("weird").await;
}

#[tokio::test]
async fn schema_fidelity_cases_converge_across_all_engine_pairs() {
    converge("fidelity").await;
}
