//! Verify: a small table transferred in all nine engine pairs, then faults planted in the
//! destination with plain SQL; `migrator verify` must find exactly those (and call the
//! JSON document with its keys in another order equal), `--repair` must fix all but the
//! extra row, `--delete-extra` that one too, and a last verify must be clean. Chinook,
//! transferred, must verify clean in every pair (no false differences).

use crate::convergence::{ENGINES, database, source, tag};
use crate::support::{self, Db, Engine, TestDb};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::path::Path;
use std::time::Duration;

/// One run of `migrator verify`: its exit code and output.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn migrator(config: &Path, args: &[&str]) -> Run {
    let out = assert_cmd::Command::cargo_bin("migrator")
        .expect("migrator binary")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SEAWAY_CONFIG")
        .timeout(Duration::from_secs(180))
        .output()
        .expect("run migrator");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The source table, in each engine's own types: a key, text, nullable text, an exact
/// decimal, a timestamp with microseconds, a JSON document and a case-sensitive label.
fn faults_source(engine: Engine) -> String {
    let (ddl, doc) = match engine {
        Engine::Postgres => (
            "CREATE TABLE faults (id integer PRIMARY KEY, name varchar(40) NOT NULL, note text, \
             amount numeric(12,4), seen_at timestamp(6), doc json, label varchar(40));",
            "",
        ),
        Engine::Mysql => (
            "CREATE TABLE faults (id int PRIMARY KEY, name varchar(40) NOT NULL, note text, \
             amount decimal(12,4), seen_at datetime(6), doc json, label varchar(40)) \
             CHARACTER SET utf8mb4;",
            "",
        ),
        Engine::Sqlite => (
            "CREATE TABLE faults (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, note TEXT, \
             amount NUMERIC(12,4), seen_at DATETIME, doc JSON, label VARCHAR(40));",
            "",
        ),
    };
    let rows: Vec<String> = (1..=20)
        .map(|i| {
            let note = if i == 4 {
                "NULL".to_string()
            } else {
                format!("'note {i}'")
            };
            let amount = if i == 5 {
                "12.3456".to_string()
            } else {
                format!("{i}.5000")
            };
            let seen = if i == 6 {
                "2024-01-01 10:00:00".to_string()
            } else {
                format!("2024-02-{:02} 08:30:15.123456", i)
            };
            let json = if i == 7 {
                r#"{"a": 1, "b": [1, 2], "c": {"x": "y", "w": 2.5}}"#.to_string()
            } else {
                format!(r#"{{"n": {i}}}"#)
            };
            let label = if i == 8 {
                "hello".to_string()
            } else {
                format!("Label {i}")
            };
            format!(
                "({i}, 'row {i}', {note}, {amount}, '{seen}', '{json}{doc}', '{label}')",
                doc = doc
            )
        })
        .collect();
    format!(
        "{ddl}\nINSERT INTO faults (id, name, note, amount, seen_at, doc, label) VALUES {};",
        rows.join(", ")
    )
}

/// The faults, as SQL every engine runs alike.
const PLANT: [&str; 8] = [
    "UPDATE faults SET name = 'changed' WHERE id = 1",
    "DELETE FROM faults WHERE id = 2",
    "INSERT INTO faults (id, name, note, amount, seen_at, doc, label) \
     VALUES (100, 'extra', NULL, 1, '2024-01-01 00:00:00', '{}', 'x')",
    "UPDATE faults SET note = '' WHERE id = 4",
    "UPDATE faults SET amount = 12.3457 WHERE id = 5",
    "UPDATE faults SET seen_at = '2024-01-01 11:00:00' WHERE id = 6",
    r#"UPDATE faults SET doc = '{"c": {"w": 2.5, "x": "y"}, "b": [1, 2], "a": 1}' WHERE id = 7"#,
    "UPDATE faults SET label = 'HELLO' WHERE id = 8",
];

/// (kind, key, changed columns) of every planted fault, in key order.
fn expected() -> Vec<(String, String, Vec<String>)> {
    let e = |kind: &str, key: u32, cols: &[&str]| {
        (
            kind.to_string(),
            key.to_string(),
            cols.iter().map(|c| c.to_string()).collect(),
        )
    };
    vec![
        e("changed", 1, &["name"]),
        e("missing", 2, &[]),
        e("changed", 4, &["note"]),
        e("changed", 5, &["amount"]),
        e("changed", 6, &["seen_at"]),
        e("changed", 8, &["label"]),
        e("extra", 100, &[]),
    ]
}

/// The report's differences for `faults` as (kind, key, columns).
fn found(report: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    found_in(report, "faults")
}

/// The report's differences for `table` as (kind, key, columns).
fn found_in(report: &serde_json::Value, table: &str) -> Vec<(String, String, Vec<String>)> {
    let table = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == table)
        .expect("the table in the report");
    table["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["key"][0].as_str().unwrap_or_default().to_string(),
                d["columns"]
                    .as_array()
                    .map(|cs| {
                        cs.iter()
                            .map(|c| c.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn read_report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report file")).expect("json")
}

/// Writes the project's config, diffs, applies and transfers; the config path.
async fn transferred(project: &Path, src: &str, dst: &str, extra: &str, pair: &str) -> Config {
    let config_path = project.join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n{extra}"
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let first = diff::run(&config)
        .await
        .unwrap_or_else(|e| panic!("{pair}: diff: {e}"));
    seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
    let out = support::run_migrator(&config_path, &["apply"]);
    assert!(out.ok, "{pair}: apply: {}", out.stderr);
    let out = support::run_migrator(&config_path, &["transfer"]);
    assert!(out.ok, "{pair}: transfer: {}\n{}", out.stdout, out.stderr);
    config
}

#[tokio::test]
async fn verify_finds_exactly_the_planted_faults_in_all_nine_pairs_and_repair_fixes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    for from in ENGINES {
        let Some(src) = database(
            from,
            &format!("seaway_test_v_src_{}", tag(from)),
            Some(&faults_source(from)),
            dir.path(),
        )
        .await
        else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) = database(
                to,
                &format!("seaway_test_v_dst_{}", tag(to)),
                None,
                dir.path(),
            )
            .await
            else {
                continue;
            };
            let pair = format!("{} -> {}", tag(from), tag(to));
            let project = tempfile::tempdir().expect("project");
            let config = transferred(project.path(), &src, &dst, "", &pair).await;
            let report = project.path().join("report.json");
            let report_arg = report.to_str().expect("utf-8 path");

            let run = migrator(&config.path, &["verify", "--report", report_arg]);
            assert_eq!(
                run.code,
                Some(0),
                "{pair}: verify after transfer: {}\n{}",
                run.stdout,
                run.stderr
            );
            assert!(run.stdout.contains("identical"), "{pair}: {}", run.stdout);
            // Two servers of one engine print the JSON column alike, so the databases'
            // sums over the text as read settle it: no row is read.
            if from == to && from != Engine::Sqlite {
                let t = &read_report(&report)["tables"][0];
                assert_eq!(
                    (&t["checksums"], &t["rows_read"]),
                    (&"sql".into(), &0.into()),
                    "{pair}: {t}"
                );
            }

            let mut db = Db::connect(to, &dst).await;
            for sql in PLANT {
                db.execute(sql).await;
            }

            let run = migrator(&config.path, &["verify", "--report", report_arg]);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let json = read_report(&report);
            assert_eq!(found(&json), expected(), "{pair}: {}", run.stdout);
            let faults = &json["tables"][0];
            assert_eq!(faults["table"], "faults");
            assert_eq!(
                (&faults["missing"], &faults["extra"], &faults["changed"]),
                (&1.into(), &1.into(), &5.into()),
                "{pair}"
            );
            assert_eq!(faults["source_rows"], 20, "{pair}");
            assert_eq!(faults["identical_rows"], 14, "{pair}");
            // Values stay out of the report unless asked for.
            let text = std::fs::read_to_string(&report).expect("report");
            assert!(
                !run.stdout.contains("row 1") && !text.contains("\"values\""),
                "{pair}: values shown without --show-values:\n{}\n{text}",
                run.stdout
            );

            let run = migrator(
                &config.path,
                &["verify", "--show-values", "--report", report_arg],
            );
            assert_eq!(run.code, Some(1), "{pair}: {}", run.stderr);
            let json = read_report(&report);
            let first = &json["tables"][0]["differences"][0];
            assert_eq!(
                first["values"],
                serde_json::json!([{ "column": "name", "source": "row 1", "destination": "changed" }]),
                "{pair}"
            );

            // Repair: everything but the extra row.
            let run = migrator(&config.path, &["verify", "--repair"]);
            assert_eq!(
                run.code,
                Some(1),
                "{pair}: repair: {}\n{}",
                run.stdout,
                run.stderr
            );
            let run = migrator(&config.path, &["verify", "--report", report_arg]);
            assert_eq!(run.code, Some(1), "{pair}: after repair: {}", run.stdout);
            assert_eq!(
                found(&read_report(&report)),
                vec![("extra".to_string(), "100".to_string(), vec![])],
                "{pair}: after repair"
            );
            let run = migrator(&config.path, &["verify", "--repair", "--delete-extra"]);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let run = migrator(&config.path, &["verify"]);
            assert_eq!(
                run.code,
                Some(0),
                "{pair}: after --delete-extra: {}\n{}",
                run.stdout,
                run.stderr
            );
            assert_eq!(db.count("SELECT count(*) FROM faults").await, 20, "{pair}");
            db.close().await;
            done.push(pair);
        }
    }
    eprintln!("verified: {done:?}");
}

/// A masked, renamed column is compared as transfer writes it: masked on the source
/// side first; changing the destination's masked value is found.
#[tokio::test]
async fn masked_and_renamed_columns_compare_as_transferred() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_v_mask_src",
        Some(&faults_source(Engine::Sqlite)),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let dst = format!(
        "sqlite://{}",
        dir.path().join("seaway_test_v_mask_dst.sqlite").display()
    );
    let project = tempfile::tempdir().expect("project");
    let config = transferred(
        project.path(),
        &src,
        &dst,
        "mappings:\n  faults:\n    target: audited\n    columns: { label: tag }\n    mask: { name: hash, note: redact }\n    where: \"id <= 10\"\n",
        "masked",
    )
    .await;
    let run = migrator(&config.path, &["verify"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("10 rows"), "{}", run.stdout);

    let mut db = Db::connect(Engine::Sqlite, &dst).await;
    db.execute("UPDATE audited SET note = 'plain' WHERE id = 3")
        .await;
    db.execute("UPDATE audited SET tag = 'Other' WHERE id = 9")
        .await;
    let report = project.path().join("r.json");
    let run = migrator(
        &config.path,
        &["verify", "--report", report.to_str().expect("path")],
    );
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let json = read_report(&report);
    let diffs: Vec<(String, Vec<String>)> = json["tables"][0]["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            (
                d["key"][0].as_str().unwrap_or_default().to_string(),
                serde_json::from_value(d["columns"].clone()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("3".to_string(), vec!["note".to_string()]),
            ("9".to_string(), vec!["tag".to_string()])
        ]
    );
    db.close().await;
}

/// Chinook, transferred into every pair, verifies clean: no false differences from
/// engine representations (decimals, timestamps, text in other collations).
#[tokio::test]
async fn chinook_verifies_identical_after_transfer_in_all_nine_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    for from in ENGINES {
        let Some(src) = source("seaway_test_v_chinook", "chinook", from, dir.path()).await else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) = database(
                to,
                &format!("seaway_test_v_chinook_{}", tag(to)),
                None,
                dir.path(),
            )
            .await
            else {
                continue;
            };
            let pair = format!("{} -> {}", tag(from), tag(to));
            let project = tempfile::tempdir().expect("project");
            let config = transferred(project.path(), &src, &dst, "", &pair).await;
            // Small chunks, so every table's keys span several, and small pages, so
            // composite keys (PlaylistTrack) are read in many keyset pages.
            let report = project.path().join("report.json");
            let run = migrator(
                &config.path,
                &[
                    "verify",
                    "--chunk-size",
                    "500",
                    "--page-size",
                    "300",
                    "--report",
                    report.to_str().expect("path"),
                ],
            );
            assert_eq!(run.code, Some(0), "{pair}: {}\n{}", run.stdout, run.stderr);
            assert!(run.stdout.contains("15607 rows"), "{pair}: {}", run.stdout);
            for t in read_report(&report)["tables"].as_array().expect("tables") {
                assert_eq!(t["chunks_differing"], 0, "{pair}: {t}");
                // Between two servers the databases compute the checksums (Chinook's
                // integer-keyed tables), and nothing needs reading to compare.
                let composite = t["table"]
                    .as_str()
                    .is_some_and(|n| n.replace('_', "").eq_ignore_ascii_case("playlisttrack"));
                if from != Engine::Sqlite && to != Engine::Sqlite && !composite {
                    assert_eq!(t["checksums"], "sql", "{pair}: {t}");
                    assert_eq!(t["rows_read"], 0, "{pair}: {t}");
                }
            }
            done.push(pair);
        }
    }
    eprintln!("verified: {done:?}");
}

/// `--continuous`: checks until `--checks` runs while consistency holds, and exits 1 with
/// an alert as soon as it falls below `--alert-below`.
#[tokio::test]
async fn continuous_checks_alert_when_consistency_drops_below_the_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_v_cont_src",
        Some(&faults_source(Engine::Sqlite)),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let dst = format!(
        "sqlite://{}",
        dir.path().join("seaway_test_v_cont_dst.sqlite").display()
    );
    let project = tempfile::tempdir().expect("project");
    let config = transferred(project.path(), &src, &dst, "", "continuous").await;
    let args = [
        "verify",
        "--continuous",
        "--interval",
        "0",
        "--checks",
        "3",
        "--alert-below",
        "99",
    ];
    let run = migrator(&config.path, &args);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.matches("verified 20 rows").count(),
        3,
        "three checks: {}",
        run.stdout
    );
    assert!(!run.stderr.contains("ALERT"), "{}", run.stderr);

    // One row in 20 differs: 95% < 99%, so the first check alerts and stops.
    let mut db = Db::connect(Engine::Sqlite, &dst).await;
    db.execute("UPDATE faults SET label = 'drift' WHERE id = 3")
        .await;
    db.close().await;
    let run = migrator(&config.path, &args);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("ALERT: consistency 95.0000% is below 99% (check 1)"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout.matches("verified 20 rows").count(), 1);

    // Above the threshold it keeps checking, and only reports.
    let lenient = [
        "verify",
        "--continuous",
        "--interval",
        "0",
        "--checks",
        "2",
        "--alert-below",
        "90",
    ];
    let run = migrator(&config.path, &lenient);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout
            .matches("verified 20 rows")
            .zip(
                run.stdout
                    .matches("0 missing, 0 extra, 1 changed, 0 failed")
            )
            .count(),
        2,
        "{}",
        run.stdout
    );
}

/// Errors exit 2, name the connection at fault, and never print its password.
#[test]
fn unreachable_destination_exits_2_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"postgres://app:Sekr3tPw@127.0.0.1:1/shop\" }}\nsource: src\ndestination: dst\n",
            support::chinook_sqlite_url()
        ),
    )
    .expect("config");
    let run = migrator(&config, &["verify"]);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("connection `dst`: cannot reach PostgreSQL at 127.0.0.1:1"),
        "{}",
        run.stderr
    );
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("Sekr3tPw"));
}

/// The type zoos, transferred into every pair (lossy casts allowed), verify clean: every
/// lossy cast compares by what it does (docs/types.md). MySQL -> PostgreSQL without the
/// `interval` override loses exactly the rows transfer rejects (TIME outside a day, and
/// their children): verify must report those, as missing, and nothing else.
#[tokio::test]
async fn type_zoos_verify_clean_after_transfer_in_all_nine_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for from in ENGINES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../fixtures/zoo/{}.sql", tag(from)));
        let sql = std::fs::read_to_string(path).expect("zoo fixture");
        let Some(src) = database(from, "seaway_test_v_zoo_src", Some(&sql), dir.path()).await
        else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) = database(
                to,
                &format!("seaway_test_v_zoo_{}", tag(to)),
                None,
                dir.path(),
            )
            .await
            else {
                continue;
            };
            let pair = format!("{} -> {}", tag(from), tag(to));
            let exclude = if from == to {
                ""
            } else {
                "tables: { exclude: [zoo_carried] }\n"
            };
            let project = tempfile::tempdir().expect("project");
            let config_path = project.path().join("seaway.yaml");
            std::fs::write(
                &config_path,
                format!(
                    "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n{exclude}allow_lossy: [\"*.*\"]\n"
                ),
            )
            .expect("config");
            let config = Config::load(&config_path).expect("config");
            let first = diff::run(&config)
                .await
                .unwrap_or_else(|e| panic!("{pair}: diff: {e}"));
            seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
            assert!(
                support::run_migrator(&config_path, &["apply"]).ok,
                "{pair}: apply"
            );
            support::run_migrator(&config_path, &["transfer"]);

            let report = project.path().join("report.json");
            let run = migrator(
                &config_path,
                &[
                    "verify",
                    "--show-values",
                    "--report",
                    report.to_str().expect("path"),
                ],
            );
            let json = read_report(&report);
            let mut found: Vec<String> = Vec::new();
            for t in json["tables"].as_array().expect("tables") {
                // Equal data must checksum alike (in SQL or here): a chunk that differs
                // without a differing row means two engines printed equal values apart.
                if t["differences"].as_array().is_some_and(Vec::is_empty) {
                    assert_eq!(
                        t["chunks_differing"], 0,
                        "{pair}: {} checksums differ on equal rows ({})",
                        t["table"], t["checksums"]
                    );
                }
                for d in t["differences"].as_array().expect("differences") {
                    found.push(format!(
                        "{} {} {} {}",
                        t["table"].as_str().unwrap_or_default(),
                        d["kind"].as_str().unwrap_or_default(),
                        d["key"][0].as_str().unwrap_or_default(),
                        d["values"]
                    ));
                }
            }
            let expected: Vec<String> = if from == Engine::Mysql && to == Engine::Postgres {
                ["type_zoo missing 1", "type_zoo missing 2"]
                    .into_iter()
                    .chain([
                        "zoo_child missing 1",
                        "zoo_child missing 2",
                        "zoo_child missing 3",
                    ])
                    .map(|s| format!("{s} null"))
                    .collect()
            } else {
                Vec::new()
            };
            let want_code = if expected.is_empty() { 0 } else { 1 };
            if found != expected || run.code != Some(want_code) {
                failures.push(format!(
                    "{pair}: exit {:?}, found {found:#?}\n{}",
                    run.code, run.stderr
                ));
            }
            done.push(pair);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("verified: {done:?}");
}

/// 3,000 rows of columns every server engine prints alike (so the databases compute the
/// checksums), generated in SQL.
fn wide_source(engine: Engine) -> String {
    match engine {
        Engine::Postgres => {
            "CREATE TABLE wide (id integer PRIMARY KEY, name varchar(40) NOT NULL, \
             amount numeric(10,2), seen timestamp(6));\n\
             INSERT INTO wide SELECT g, 'name ' || g, g * 1.25, \
             timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 3000) g;"
                .to_string()
        }
        _ => "CREATE TABLE wide (id int PRIMARY KEY, name varchar(40) NOT NULL, \
             amount decimal(10,2), seen datetime(6)) CHARACTER SET utf8mb4;\n\
             INSERT INTO wide WITH d(n) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 \
             UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 \
             UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9), \
             s(g) AS (SELECT a.n * 1000 + b.n * 100 + c.n * 10 + e.n + 1 FROM d a, d b, d c, d e) \
             SELECT g, CONCAT('name ', g), g * 1.25, \
             TIMESTAMP '2024-01-01 00:00:00' + INTERVAL g MINUTE FROM s WHERE g <= 3000;"
            .to_string(),
    }
}

/// Between two servers a differing chunk is bisected by checksums the databases compute
/// (data-diff's algorithm): one 3,000-row chunk with four planted faults is narrowed to
/// ranges of a few rows, only those are read, and exactly the faults are found.
#[tokio::test]
async fn bisection_narrows_a_differing_chunk_to_the_differing_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    for from in [Engine::Postgres, Engine::Mysql] {
        let Some(src) = database(
            from,
            &format!("seaway_test_v_bsrc_{}", tag(from)),
            Some(&wide_source(from)),
            dir.path(),
        )
        .await
        else {
            continue;
        };
        for to in [Engine::Postgres, Engine::Mysql] {
            let name = format!("seaway_test_v_bdst_{}", tag(to));
            let Some(dst) = database(to, &name, None, dir.path()).await else {
                continue;
            };
            let pair = format!("{} -> {}", tag(from), tag(to));
            let project = tempfile::tempdir().expect("project");
            let config = transferred(project.path(), &src, &dst, "", &pair).await;
            let mut db = Db::connect(to, &dst).await;
            for sql in [
                "UPDATE wide SET amount = 971.26 WHERE id = 777",
                "UPDATE wide SET name = 'changed' WHERE id = 1234",
                "DELETE FROM wide WHERE id = 2500",
                "INSERT INTO wide (id, name) VALUES (5000, 'extra')",
            ] {
                db.execute(sql).await;
            }
            let report = project.path().join("report.json");
            let args = [
                "verify",
                "--chunk-size",
                "100000",
                "--bisection-factor",
                "4",
                "--bisection-threshold",
                "8",
                "--report",
                report.to_str().expect("path"),
            ];
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let json = read_report(&report);
            let e = |kind: &str, key: &str, cols: &[&str]| {
                (
                    kind.to_string(),
                    key.to_string(),
                    cols.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                )
            };
            assert_eq!(
                found_in(&json, "wide"),
                vec![
                    e("changed", "777", &["amount"]),
                    e("changed", "1234", &["name"]),
                    e("missing", "2500", &[]),
                    e("extra", "5000", &[]),
                ],
                "{pair}"
            );
            let t = &json["tables"][0];
            assert_eq!(t["checksums"], "sql", "{pair}: {t}");
            assert_eq!(
                (&t["chunks"], &t["chunks_differing"]),
                (&1.into(), &1.into()),
                "{pair}"
            );
            // Four levels of four-way splits, so more than one checksum per side, and
            // only the few rows around each fault were read (of 6,000 on both sides).
            let segments = t["segments"].as_u64().expect("segments");
            let read = t["rows_read"].as_u64().expect("rows_read");
            assert!(segments > 8, "{pair}: {segments} segments");
            assert!(read > 0 && read <= 4 * 2 * 8, "{pair}: {read} rows read");

            let run = migrator(&config.path, &["verify", "--repair", "--delete-extra"]);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(0), "{pair}: after repair: {}", run.stdout);
            db.close().await;
            done.push(pair);
        }
    }
    eprintln!("bisected: {done:?}");
}

/// Transfers `coded` (a text key, `codes` in order, `n` = position) between two server
/// engines (databases named `{prefix}src_*`, `{prefix}dst_*`); returns the project, its
/// config, and the source and destination databases.
async fn coded_pair(
    dir: &Path,
    prefix: &str,
    from: Engine,
    to: Engine,
    codes: &[String],
) -> Option<(tempfile::TempDir, Config, TestDb, TestDb)> {
    let rows: Vec<String> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("('{c}', {i})"))
        .collect();
    let sql = format!(
        "CREATE TABLE coded (code varchar(8) PRIMARY KEY, n integer NOT NULL);\nINSERT INTO coded (code, n) VALUES {};",
        rows.join(", ")
    );
    let src = database(from, &format!("{prefix}src_{}", tag(from)), Some(&sql), dir).await?;
    let name = format!("{prefix}dst_{}", tag(to));
    let dst = database(to, &name, None, dir).await?;
    let pair = format!("{} -> {}", tag(from), tag(to));
    let project = tempfile::tempdir().expect("project");
    let config = transferred(project.path(), &src, &dst, "", &pair).await;
    Some((project, config, src, dst))
}

fn coded_differences(report: &Path) -> Vec<(String, String, Vec<String>)> {
    let mut found = found_in(&read_report(report), "coded");
    found.sort();
    found
}

/// A text key is verified in chunks between sampled keys, and the engines may order it
/// apart: PostgreSQL's C collation puts `00B` before `00a`, MySQL's case-insensitive one
/// after. Each prefix's pair of codes then falls in different chunks on the two sides;
/// such rows are matched by key across the table, never reported missing and extra.
/// Planted faults are found exactly, and repair makes the table verify clean.
#[tokio::test]
async fn text_keys_are_verified_in_sampled_chunks_whatever_each_engine_orders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    let codes: Vec<String> = (0..20)
        .flat_map(|d| [format!("{d:02}B"), format!("{d:02}a")])
        .collect();
    for from in [Engine::Postgres, Engine::Mysql] {
        for to in [Engine::Postgres, Engine::Mysql] {
            let pair = format!("{} -> {}", tag(from), tag(to));
            let Some((project, config, _src, dst)) =
                coded_pair(dir.path(), "seaway_test_v_k", from, to, &codes).await
            else {
                continue;
            };
            let report = project.path().join("report.json");
            let args = [
                "verify",
                "--chunk-size",
                "3",
                "--page-size",
                "2",
                "--report",
                report.to_str().expect("path"),
            ];
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(0), "{pair}: {}\n{}", run.stdout, run.stderr);
            let t = &read_report(&report)["tables"][0];
            assert_eq!(t["source_rows"], 40, "{pair}: {t}");
            assert!(t["chunks"].as_u64() >= Some(13), "{pair}: {t}");

            let mut db = Db::connect(to, &dst).await;
            for sql in [
                "UPDATE coded SET n = 99 WHERE code = '03a'",
                "DELETE FROM coded WHERE code = '05B'",
                "INSERT INTO coded (code, n) VALUES ('zz', 1)",
            ] {
                db.execute(sql).await;
            }
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let e = |kind: &str, key: &str, cols: &[&str]| {
                (
                    kind.to_string(),
                    key.to_string(),
                    cols.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                )
            };
            assert_eq!(
                coded_differences(&report),
                vec![
                    e("changed", "03a", &["n"]),
                    e("extra", "zz", &[]),
                    e("missing", "05B", &[]),
                ],
                "{pair}"
            );
            let run = migrator(&config.path, &["verify", "--repair", "--delete-extra"]);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(0), "{pair}: after repair: {}", run.stdout);
            db.close().await;
            done.push(pair);
        }
    }
    eprintln!("text keys: {done:?}");
}

/// When the engines order even the sampled boundaries apart, a destination row can fall
/// in two chunks; verify sees its count disagree and compares the table whole, still
/// exactly.
#[tokio::test]
async fn text_keys_whose_boundaries_the_engines_order_apart_are_compared_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    // Upper case, then lower case in PostgreSQL's C order; interleaved in MySQL's.
    let codes: Vec<String> = (0..40u8)
        .map(|i| {
            let c = char::from(b'a' + i % 26);
            let c = if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            };
            format!("{c}{i:02}")
        })
        .collect();
    for (from, to) in [
        (Engine::Postgres, Engine::Mysql),
        (Engine::Mysql, Engine::Postgres),
    ] {
        let pair = format!("{} -> {}", tag(from), tag(to));
        let Some((project, config, _src, dst)) =
            coded_pair(dir.path(), "seaway_test_v_w", from, to, &codes).await
        else {
            continue;
        };
        let report = project.path().join("report.json");
        let args = [
            "verify",
            "--chunk-size",
            "6",
            "--report",
            report.to_str().expect("path"),
        ];
        let run = migrator(&config.path, &args);
        assert_eq!(run.code, Some(0), "{pair}: {}\n{}", run.stdout, run.stderr);
        let mut db = Db::connect(to, &dst).await;
        db.execute("UPDATE coded SET n = 99 WHERE code = 'b01'")
            .await;
        let run = migrator(&config.path, &args);
        assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
        let found: Vec<(String, String)> = coded_differences(&report)
            .into_iter()
            .map(|(k, key, _)| (k, key))
            .collect();
        assert_eq!(
            found,
            vec![("changed".to_string(), "b01".to_string())],
            "{pair}"
        );
        // Repair in that mode reports what it re-sent, and leaves the table clean.
        let mut repair = args.to_vec();
        repair.push("--repair");
        let run = migrator(&config.path, &repair);
        assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
        let t = &read_report(&report)["tables"][0];
        assert_eq!(
            (&t["changed"], &t["repaired"]),
            (&1.into(), &1.into()),
            "{pair}: {t}"
        );
        let run = migrator(&config.path, &args);
        assert_eq!(run.code, Some(0), "{pair}: after repair: {}", run.stdout);
        db.close().await;
        done.push(pair);
    }
    eprintln!("text keys compared whole: {done:?}");
}

/// A table without a key (`append_only`) is compared as a multiset of rows, duplicates
/// included, in all nine pairs: equal tables verify clean; a changed row is one missing
/// and one extra, an added duplicate one extra; `--repair` inserts the missing row, and
/// the extra rows (no key to delete them by) stay reported.
#[tokio::test]
async fn keyless_tables_are_compared_as_multisets_of_rows_in_all_nine_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    let rows: Vec<String> = (1..=30)
        .map(|i| format!("({}, 'event {}')", i % 10, i % 10))
        .collect();
    let sql = format!(
        "CREATE TABLE log (at integer NOT NULL, msg varchar(40));\nINSERT INTO log (at, msg) VALUES {};",
        rows.join(", ")
    );
    for from in ENGINES {
        let src_name = format!("seaway_test_v_lsrc_{}", tag(from));
        let Some(src) = database(from, &src_name, Some(&sql), dir.path()).await else {
            continue;
        };
        for to in ENGINES {
            let name = format!("seaway_test_v_ldst_{}", tag(to));
            let Some(dst) = database(to, &name, None, dir.path()).await else {
                continue;
            };
            let pair = format!("{} -> {}", tag(from), tag(to));
            let project = tempfile::tempdir().expect("project");
            let config = transferred(
                project.path(),
                &src,
                &dst,
                "mappings:\n  log:\n    append_only: true\n",
                &pair,
            )
            .await;
            let report = project.path().join("report.json");
            let args = ["verify", "--report", report.to_str().expect("path")];
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(0), "{pair}: {}\n{}", run.stdout, run.stderr);
            let t = &read_report(&report)["tables"][0];
            assert_eq!(
                (&t["source_rows"], &t["destination_rows"]),
                (&30.into(), &30.into()),
                "{pair}: {t}"
            );

            let mut db = Db::connect(to, &dst).await;
            // Three copies of (3, 'event 3'); (7, 'event 7') exists three times too.
            db.execute("INSERT INTO log (at, msg) VALUES (3, 'event 3')")
                .await;
            db.execute("UPDATE log SET msg = 'EVENT 5' WHERE at = 5")
                .await;
            let run = migrator(&config.path, &args);
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            let t = &read_report(&report)["tables"][0];
            // The three rows of at = 5 changed: three missing, three extra; plus the
            // added duplicate.
            assert_eq!(
                (&t["missing"], &t["extra"], &t["changed"]),
                (&3.into(), &4.into(), &0.into()),
                "{pair}: {t}"
            );
            assert!(
                run.stdout.contains("a row missing in destination"),
                "{pair}: {}",
                run.stdout
            );

            let run = migrator(
                &config.path,
                &[
                    "verify",
                    "--repair",
                    "--report",
                    report.to_str().expect("path"),
                ],
            );
            assert_eq!(run.code, Some(1), "{pair}: {}\n{}", run.stdout, run.stderr);
            assert_eq!(read_report(&report)["tables"][0]["repaired"], 3, "{pair}");
            let run = migrator(&config.path, &args);
            let t = &read_report(&report)["tables"][0];
            assert_eq!(
                (&t["missing"], &t["extra"]),
                (&0.into(), &4.into()),
                "{pair}: after repair: {}",
                run.stdout
            );
            db.close().await;
            done.push(pair);
        }
    }
    eprintln!("keyless: {done:?}");
}

/// Wide rows get smaller chunks: a few rows of the source say how many bytes a row
/// takes, and a chunk holds about 32 MiB (a range digest is one value, and a diffed chunk is
/// held in memory), not `--chunk-size` keys.
#[tokio::test]
async fn wide_rows_are_checked_in_chunks_of_bounded_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2,000 rows of 40 kB of incompressible text: 80 MB, so at least three chunks.
    let sql = "CREATE TABLE wide_rows (id integer PRIMARY KEY, body text NOT NULL);
        INSERT INTO wide_rows SELECT g, (SELECT string_agg(md5(random()::text || g || i), '')
          FROM generate_series(1, 1250) AS i) FROM generate_series(1, 2000) AS g;";
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_v_wide_src",
        Some(sql),
        dir.path(),
    )
    .await
    else {
        return;
    };
    for to in [Engine::Postgres, Engine::Mysql] {
        let name = format!("seaway_test_v_wide_{}", tag(to));
        let Some(dst) = database(to, &name, None, dir.path()).await else {
            continue;
        };
        let pair = format!("postgres -> {}", tag(to));
        let project = tempfile::tempdir().expect("project");
        let config = transferred(project.path(), &src, &dst, "", &pair).await;
        let report = project.path().join("report.json");
        let run = migrator(
            &config.path,
            &["verify", "--report", report.to_str().expect("path")],
        );
        assert_eq!(run.code, Some(0), "{pair}: {}\n{}", run.stdout, run.stderr);
        let t = &read_report(&report)["tables"][0];
        assert!(t["chunks"].as_u64() >= Some(3), "{pair}: {t}");
        assert_eq!(t["source_rows"], 2000, "{pair}: {t}");
    }
}
