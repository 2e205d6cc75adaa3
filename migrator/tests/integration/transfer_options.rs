//! Transfer options for awkward sources: `mappings.<table>.key` for a table without a
//! primary key, and `transfer.zero_dates` for MySQL's zero dates.
//!
//! Every database here is named `seaway_test_o_*`. Destination tables are made the way a user
//! makes them: `diff` (the library) writes the migration, `migrator apply` applies it.

use crate::convergence::database;
use crate::support::{self, Db, Engine};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::path::{Path, PathBuf};

/// A project folder copying `src` into `dst` with `extra` appended to its `seaway.yaml`;
/// the destination's tables are created by `diff` + `migrator apply`.
async fn project(src: &str, dst: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    project_with(src, dst, "", extra).await
}

/// [`project`] with more connections (`connections`: YAML lines under `connections:`).
async fn project_with(
    src: &str,
    dst: &str,
    connections: &str,
    extra: &str,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("project dir");
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\n{connections}source: src\ndestination: dst\n{extra}"
        ),
    )
    .expect("write config");
    let config = Config::load(&config_path).expect("config");
    let outcome = diff::run(&config).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&outcome.files).expect("write migration");
    let applied = support::run_migrator(&config_path, &["apply"]);
    assert!(
        applied.ok,
        "apply failed:\n{}\n{}",
        applied.stdout, applied.stderr
    );
    (dir, config_path)
}

fn transfer(config: &Path, args: &[&str]) -> support::Output {
    let mut all = vec!["transfer"];
    all.extend_from_slice(args);
    support::run_migrator(config, &all)
}

const PLAYS: &str = "CREATE TABLE plays (track_id INTEGER NOT NULL, played_at TEXT NOT NULL, seconds INTEGER, note TEXT);
INSERT INTO plays VALUES (1, '2024-01-01 10:00:00', 200, 'a'), (1, '2024-01-02 10:00:00', 180, NULL),
  (2, '2024-01-01 10:00:00', 90, 'b'), (3, '2024-01-03 09:00:00', NULL, 'c');";

const PLAYS_KEY: &str = "mappings:\n  plays:\n    key: [track_id, played_at]\n";

/// A table without a primary key is copied with `key:`, upserted on it: a second run adds
/// nothing, and a changed source row is updated in place.
#[tokio::test]
async fn a_table_without_primary_key_is_upserted_on_its_configured_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for dest in [Engine::Postgres, Engine::Mysql, Engine::Sqlite] {
        let tag = format!("{dest:?}").to_lowercase();
        let Some(src) = database(
            Engine::Sqlite,
            &format!("seaway_test_o_key_src_{tag}"),
            Some(PLAYS),
            dir.path(),
        )
        .await
        else {
            return;
        };
        let Some(dst) = database(
            dest,
            &format!("seaway_test_o_key_dst_{tag}"),
            None,
            dir.path(),
        )
        .await
        else {
            return;
        };
        let (_project, config) = project(&src, &dst, PLAYS_KEY).await;
        let mut source = Db::connect(Engine::Sqlite, &src).await;
        let mut target = Db::connect(dest, &dst).await;

        let again = diff::run(&Config::load(&config).expect("config"))
            .await
            .expect("diff again");
        assert!(
            again.files.is_empty(),
            "{tag}: the key's unique constraint converges (a second diff writes nothing): {:?}",
            again.files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
        let first = transfer(&config, &[]);
        assert!(
            first.ok,
            "{tag}: first transfer:\n{}\n{}",
            first.stdout, first.stderr
        );
        assert_eq!(target.count("SELECT count(*) FROM plays").await, 4, "{tag}");

        source
            .execute("UPDATE plays SET seconds = 999 WHERE track_id = 2")
            .await;
        let second = transfer(&config, &[]);
        assert!(
            second.ok,
            "{tag}: second transfer:\n{}\n{}",
            second.stdout, second.stderr
        );
        assert_eq!(
            target.count("SELECT count(*) FROM plays").await,
            4,
            "{tag}: the second run matched every row on the key instead of adding it again"
        );
        assert_eq!(
            target
                .count("SELECT count(*) FROM plays WHERE track_id = 2 AND seconds = 999")
                .await,
            1,
            "{tag}: the changed row was updated in place"
        );
    }
}

/// Without `key:` the table is reported as failed, and the message says what to write.
#[tokio::test]
async fn a_table_without_any_key_is_refused_with_the_fix_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_o_nokey_src",
        Some(PLAYS),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(Engine::Sqlite, "seaway_test_o_nokey_dst", None, dir.path()).await
    else {
        return;
    };
    let (_project, config) = project(&src, &dst, "").await;
    let run = transfer(&config, &[]);
    assert!(!run.ok, "a table that cannot be matched is a failure");
    assert!(
        run.stderr.contains("plays")
            && run.stderr.contains("mappings.plays.key")
            && run.stderr.contains("append_only"),
        "the failure names the table and both ways out:\n{}",
        run.stderr
    );
}

/// `key:` naming a nullable column, or on a table that has a primary key, is a config
/// error at the line, naming the column or the key.
#[tokio::test]
async fn a_key_that_cannot_match_rows_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = format!("{PLAYS}\nCREATE TABLE keyed (id INTEGER PRIMARY KEY, v TEXT);");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_o_badkey_src",
        Some(&fixture),
        dir.path(),
    )
    .await
    else {
        return;
    };
    for (mapping, expected) in [
        (
            "mappings:\n  plays:\n    key: [track_id, note]\n",
            "column `note` is nullable",
        ),
        (
            "mappings:\n  keyed:\n    key: [v]\n",
            "already has a primary key (id)",
        ),
    ] {
        let project = tempfile::tempdir().expect("project");
        let config = project.path().join("seaway.yaml");
        std::fs::write(
            &config,
            format!(
                "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"sqlite://dst.sqlite\" }}\nsource: src\ndestination: dst\n{mapping}"
            ),
        )
        .expect("config");
        let out = assert_cmd::Command::cargo_bin("codegen")
            .expect("codegen")
            .args(["--config"])
            .arg(&config)
            .arg("diff")
            .output()
            .expect("run codegen");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mapping}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains("seaway.yaml:"),
            "{mapping}: the error names the fault and its line:\n{stderr}"
        );
    }
}

const ZERO_DATES: &str = "SET SESSION sql_mode = '';
CREATE TABLE events (id INT PRIMARY KEY, day DATE, at DATETIME(6), note VARCHAR(20));
INSERT INTO events VALUES (1, '2024-02-29', '2024-02-29 12:00:00.5', 'fine'),
  (2, '0000-00-00', '2024-01-01 00:00:00', 'zero day'),
  (3, '2024-03-01', '0000-00-00 00:00:00', 'zero at'),
  (4, '2020-00-15', '2020-05-00 10:00:00', 'zero parts'),
  (5, NULL, NULL, 'nulls');";

/// MySQL zero dates become NULL and are counted (the default), or go to the reject file
/// with the column named (`transfer.zero_dates: reject`); the other rows load either way.
/// Into PostgreSQL a fresh chunk takes the row pipe, which stops at a zero date to be
/// rejected and leaves the chunk to the page path: each reject is still written once.
#[tokio::test]
async fn mysql_zero_dates_become_null_and_are_counted_or_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (mode, dest) in [
        ("null", Engine::Postgres),
        ("reject", Engine::Sqlite),
        ("reject", Engine::Postgres),
    ] {
        let tag = format!("{mode}_{dest:?}").to_lowercase();
        let Some(src) = database(
            Engine::Mysql,
            &format!("seaway_test_o_zero_src_{tag}"),
            Some(ZERO_DATES),
            dir.path(),
        )
        .await
        else {
            return;
        };
        let Some(dst) = database(
            dest,
            &format!("seaway_test_o_zero_dst_{tag}"),
            None,
            dir.path(),
        )
        .await
        else {
            return;
        };
        let (project_dir, config) =
            project(&src, &dst, &format!("transfer:\n  zero_dates: {mode}\n")).await;
        let report = project_dir.path().join("report.json");
        let run = transfer(&config, &["--report", report.to_str().expect("utf-8")]);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        let mut target = Db::connect(dest, &dst).await;
        let rejects =
            std::fs::read_to_string(project_dir.path().join(".seaway/rejects/events.jsonl"))
                .unwrap_or_default();
        if mode == "null" {
            assert!(run.ok, "{mode}: {}\n{}", run.stdout, run.stderr);
            assert_eq!(report["zero_dates"], 4, "{mode}: {report:#}");
            assert_eq!(report["rejected"], 0, "{mode}: {report:#}");
            assert!(
                run.stdout.contains("4 MySQL zero dates written as NULL"),
                "{mode}: the summary says so:\n{}",
                run.stdout
            );
            assert_eq!(target.count("SELECT count(*) FROM events").await, 5);
            assert_eq!(
                target
                    .count("SELECT count(*) FROM events WHERE day IS NULL")
                    .await,
                3,
                "ids 2, 4 (zero dates) and 5 (NULL)"
            );
            assert_eq!(
                target
                    .count("SELECT count(*) FROM events WHERE at IS NULL")
                    .await,
                3,
                "ids 3, 4 (zero dates) and 5 (NULL)"
            );
            assert!(rejects.is_empty(), "{rejects}");
        } else {
            assert_eq!(
                run.code,
                Some(1),
                "rejects make the exit 1:\n{}",
                run.stderr
            );
            assert_eq!(report["zero_dates"], 0, "{mode}: {report:#}");
            assert_eq!(report["rejected"], 3, "{mode}: {report:#}");
            let mut ids: Vec<i64> = rejects
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                    assert!(
                        v["reason"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("zero date"),
                        "{l}"
                    );
                    v["key"][0]
                        .as_str()
                        .unwrap_or_default()
                        .parse()
                        .expect("id")
                })
                .collect();
            ids.sort();
            assert_eq!(ids, [2, 3, 4], "{rejects}");
            assert_eq!(target.count("SELECT count(*) FROM events").await, 2);
        }
    }
}

const LOG: &str = "CREATE TABLE log (at TEXT NOT NULL, level VARCHAR(5), message TEXT);
INSERT INTO log VALUES ('2024-01-01 10:00:00', 'info', 'started'), ('2024-01-01 10:00:00', 'info', 'started'),
  ('2024-01-01 11:00:00', 'warn', 'slow'), ('2024-01-02 09:00:00', 'error', 'failed');";

/// An append-only table (no key at all) is copied whole in full mode, and a second run
/// replaces rather than doubles it; identical rows stay as many as the source has.
#[tokio::test]
async fn an_append_only_table_is_replaced_in_full_mode_not_doubled() {
    let dir = tempfile::tempdir().expect("tempdir");
    for dest in [Engine::Postgres, Engine::Mysql, Engine::Sqlite] {
        let tag = format!("{dest:?}").to_lowercase();
        let Some(src) = database(
            Engine::Sqlite,
            &format!("seaway_test_o_app_src_{tag}"),
            Some(LOG),
            dir.path(),
        )
        .await
        else {
            return;
        };
        let Some(dst) = database(
            dest,
            &format!("seaway_test_o_app_dst_{tag}"),
            None,
            dir.path(),
        )
        .await
        else {
            return;
        };
        let (_project, config) =
            project(&src, &dst, "mappings:\n  log:\n    append_only: true\n").await;
        let mut target = Db::connect(dest, &dst).await;
        for run in 1..=2 {
            let out = transfer(&config, &["--restart"]);
            assert!(out.ok, "{tag} run {run}:\n{}\n{}", out.stdout, out.stderr);
            assert_eq!(
                target.count("SELECT count(*) FROM log").await,
                4,
                "{tag} run {run}: exactly the source's rows, duplicates included"
            );
        }
    }
}

/// Incremental append-only: each run appends the rows past the last mark; rows that an
/// interrupted copy of the same window left behind are replaced, not doubled.
#[tokio::test]
async fn an_append_only_table_appends_past_its_watermark_without_doubling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_o_appinc_src",
        Some(LOG),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_o_appinc_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (_project, config) = project(
        &src,
        &dst,
        "mappings:\n  log:\n    append_only: true\n    watermark: at\ntransfer:\n  mode: incremental\n",
    )
    .await;
    let mut source = Db::connect(Engine::Sqlite, &src).await;
    let mut target = Db::connect(Engine::Postgres, &dst).await;
    let first = transfer(&config, &[]);
    assert!(first.ok, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(target.count("SELECT count(*) FROM log").await, 4);

    source
        .execute("INSERT INTO log VALUES ('2024-01-03 08:00:00', 'info', 'again'), ('2024-01-03 09:00:00', 'info', 'more')")
        .await;
    // What a copy of the next window killed before its mark was recorded could leave.
    target
        .execute("INSERT INTO log VALUES ('2024-01-03 08:00:00', 'info', 'again')")
        .await;
    let second = transfer(&config, &[]);
    assert!(second.ok, "{}\n{}", second.stdout, second.stderr);
    assert_eq!(
        target.count("SELECT count(*) FROM log").await,
        6,
        "the new rows once each, the old ones untouched"
    );
    assert_eq!(
        target
            .count("SELECT count(*) FROM log WHERE message = 'started'")
            .await,
        2,
        "rows before the mark were neither deleted nor copied again"
    );
}

/// A row the destination refuses fails an append-only table as a whole: nothing of the
/// run's window is written, and the failure says why.
#[tokio::test]
async fn a_refused_row_leaves_an_append_only_table_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_o_apprej_src",
        Some(LOG),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_o_apprej_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (_project, config) =
        project(&src, &dst, "mappings:\n  log:\n    append_only: true\n").await;
    let mut source = Db::connect(Engine::Sqlite, &src).await;
    let mut target = Db::connect(Engine::Postgres, &dst).await;
    let first = transfer(&config, &[]);
    assert!(first.ok, "{}\n{}", first.stdout, first.stderr);
    // SQLite keeps a too-long value in a VARCHAR(5); PostgreSQL refuses it.
    source
        .execute("INSERT INTO log VALUES ('2024-01-05 00:00:00', 'critical', 'too long a level')")
        .await;
    let second = transfer(&config, &["--restart"]);
    assert!(!second.ok, "a failed table fails the run");
    assert!(
        second.stderr.contains("log") && second.stderr.contains("all or nothing"),
        "{}",
        second.stderr
    );
    assert_eq!(
        target.count("SELECT count(*) FROM log").await,
        4,
        "the previous copy is still whole"
    );
}

/// `transfer.state` keeps the runs and chunks in PostgreSQL instead of the SQLite file: a
/// run left unfinished there is resumed by the next transfer, from any machine.
#[tokio::test]
async fn the_transfer_state_can_live_in_postgresql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
        INSERT INTO items SELECT i, 'item ' || i FROM n;";
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_o_state_src",
        Some(items),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(Engine::Sqlite, "seaway_test_o_state_dst", None, dir.path()).await
    else {
        return;
    };
    let Some(state) = database(Engine::Postgres, "seaway_test_o_state_pg", None, dir.path()).await
    else {
        return;
    };
    let (project_dir, config) = project_with(
        &src,
        &dst,
        &format!("  shared: {{ url: \"{state}\" }}\n"),
        "transfer:\n  state: shared\n",
    )
    .await;

    let first = transfer(&config, &["--page-size", "100"]);
    assert!(first.ok, "{}\n{}", first.stdout, first.stderr);
    assert!(
        !project_dir.path().join(".seaway/state.sqlite").exists(),
        "no SQLite state file when the state is in PostgreSQL"
    );
    let mut pg = Db::connect(Engine::Postgres, &state).await;
    assert_eq!(
        pg.count("SELECT count(*) FROM seaway_transfer_runs WHERE finished_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        pg.count("SELECT sum(rows)::bigint FROM seaway_transfer_chunks")
            .await,
        500
    );

    // Make it look as if that run died half way through its chunk.
    pg.execute(
        "UPDATE seaway_transfer_runs SET finished_at = NULL;
         UPDATE seaway_transfer_chunks SET done = 0, rows = 250, last_key = '[\"250\"]'",
    )
    .await;
    let mut target = Db::connect(Engine::Sqlite, &dst).await;
    target.execute("DELETE FROM items WHERE id > 250").await;
    let second = transfer(&config, &["--page-size", "100"]);
    assert!(second.ok, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stdout.contains("resumed an unfinished run"),
        "the run recorded in PostgreSQL was resumed:\n{}",
        second.stdout
    );
    assert_eq!(target.count("SELECT count(*) FROM items").await, 500);
    assert_eq!(
        pg.count("SELECT count(*) FROM seaway_transfer_runs").await,
        1,
        "resumed, not started anew"
    );
}

/// A composite key (text, integer) is split into chunks at sampled keys, copied in
/// parallel, and every row lands once: from SQLite and MariaDB sources (window functions
/// in both), into PostgreSQL.
#[tokio::test]
async fn a_composite_key_is_chunked_at_sampled_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = 2_500;
    for source in [Engine::Sqlite, Engine::Mysql] {
        let tag = format!("{source:?}").to_lowercase();
        let fixture = match source {
            Engine::Mysql => format!(
                "SET SESSION max_recursive_iterations = 100000;
                 CREATE TABLE pairs (region VARCHAR(8) NOT NULL, n INT NOT NULL, v VARCHAR(20), PRIMARY KEY (region, n));
                 INSERT INTO pairs WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
                 SELECT CONCAT('r', i % 7), i, CONCAT('v', i) FROM s;"
            ),
            _ => format!(
                "CREATE TABLE pairs (region TEXT NOT NULL, n INTEGER NOT NULL, v TEXT, PRIMARY KEY (region, n));
                 WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
                 INSERT INTO pairs SELECT 'r' || (i % 7), i, 'v' || i FROM s;"
            ),
        };
        let Some(src) = database(
            source,
            &format!("seaway_test_o_sample_src_{tag}"),
            Some(&fixture),
            dir.path(),
        )
        .await
        else {
            return;
        };
        let Some(dst) = database(
            Engine::Postgres,
            &format!("seaway_test_o_sample_dst_{tag}"),
            None,
            dir.path(),
        )
        .await
        else {
            return;
        };
        let (project_dir, config) = project(&src, &dst, "").await;
        let out = transfer(
            &config,
            &["--chunk-size", "300", "--page-size", "70", "--workers", "3"],
        );
        assert!(out.ok, "{tag}: {}\n{}", out.stdout, out.stderr);
        let mut target = Db::connect(Engine::Postgres, &dst).await;
        assert_eq!(target.count("SELECT count(*) FROM pairs").await, rows);
        assert_eq!(
            target
                .count("SELECT count(DISTINCT (region, n)) FROM pairs")
                .await,
            rows
        );
        assert_eq!(
            target.count("SELECT sum(n)::bigint FROM pairs").await,
            rows * (rows + 1) / 2,
            "{tag}: every key once"
        );
        let mut state = Db::connect(
            Engine::Sqlite,
            &format!(
                "sqlite://{}",
                project_dir.path().join(".seaway/state.sqlite").display()
            ),
        )
        .await;
        assert_eq!(
            state
                .count("SELECT count(*) FROM chunks WHERE tbl = 'pairs'")
                .await,
            rows / 300 + 1,
            "{tag}: one chunk per 300 keys, the last open-ended"
        );
        assert_eq!(
            state
                .count("SELECT count(*) FROM chunks WHERE tbl = 'pairs' AND done = 1 AND (lo_key IS NOT NULL OR hi_key IS NOT NULL)")
                .await,
            rows / 300 + 1,
            "{tag}: every chunk bounded by sampled keys, and done"
        );
    }
}
