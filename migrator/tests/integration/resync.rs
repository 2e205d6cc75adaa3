//! Compare-first re-syncs: `migrator transfer` into a destination that already holds the
//! rows compares each chunk first and writes only what differs. After changed, missing
//! and extra rows are planted in several chunks of the destination, a re-sync leaves it
//! equal to the source (extras kept unless `--delete-extra`), counts what it did, and,
//! where the databases compute the checksums, reads only the rows near the changes;
//! `--copy-all` sends every row; a run killed mid-compare resumes exactly; masks,
//! renamed columns, `where:` filters, type conversions and append-only tables compare as
//! transferred.
//!
//! Every database here is named `seaway_test_r_*`.

use crate::convergence::{ENGINES, database, tag};
use crate::support::{Db, Engine};
use crate::transfer_faults::{migrator, project};
use std::path::Path;

/// 3,000 rows (keys 1..3000) in each engine's own types, so `--chunk-size 500` makes
/// six chunks.
fn wide_source(engine: Engine) -> String {
    match engine {
        Engine::Postgres => {
            "CREATE TABLE wide (id integer PRIMARY KEY, name varchar(40) NOT NULL, \
             amount numeric(10,2), seen timestamp(6));\n\
             INSERT INTO wide SELECT g, 'name ' || g, g * 1.25, \
             timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 3000) g;"
                .to_string()
        }
        Engine::Mysql => "CREATE TABLE wide (id int PRIMARY KEY, name varchar(40) NOT NULL, \
             amount decimal(10,2), seen datetime(6)) CHARACTER SET utf8mb4;\n\
             INSERT INTO wide WITH d(n) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 \
             UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 \
             UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9), \
             s(g) AS (SELECT a.n * 1000 + b.n * 100 + c.n * 10 + e.n + 1 FROM d a, d b, d c, d e) \
             SELECT g, CONCAT('name ', g), g * 1.25, \
             TIMESTAMP '2024-01-01 00:00:00' + INTERVAL g MINUTE FROM s WHERE g <= 3000;"
            .to_string(),
        Engine::Sqlite => "CREATE TABLE wide (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, \
             amount NUMERIC(10,2), seen DATETIME);\n\
             WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 3000) \
             INSERT INTO wide SELECT g, 'name ' || g, g * 1.25, \
             strftime('%Y-%m-%d %H:%M:%f', '2024-01-01', '+' || g || ' minutes') FROM s;"
            .to_string(),
    }
}

/// Planted in the destination, in SQL every engine runs alike: four rows changed (in
/// chunks 1, 3 and 6), two deleted (chunks 2 and 6), two extra rows (below the source's
/// smallest key and above its largest). Chunks 4 and 5 stay equal.
const PLANT: [&str; 5] = [
    "UPDATE wide SET name = 'changed' WHERE id IN (10, 1234)",
    "UPDATE wide SET amount = 0.5 WHERE id = 1235",
    "UPDATE wide SET seen = NULL WHERE id = 2900",
    "DELETE FROM wide WHERE id IN (700, 2600)",
    "INSERT INTO wide (id, name) VALUES (-5, 'extra below'), (5000, 'extra above')",
];

/// A transfer's `--report` as JSON, asserting the run succeeded.
fn transfer(config: &Path, pair: &str, args: &[&str]) -> serde_json::Value {
    let report = config.with_file_name("report.json");
    let mut all = vec!["transfer", "--report", report.to_str().expect("utf-8 path")];
    all.extend(args);
    let run = migrator(config, &all);
    assert_eq!(
        run.code,
        Some(0),
        "{pair}: transfer {args:?}:\n{}",
        run.all()
    );
    serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json")
}

/// What verify finds, as (kind, key) pairs in key order; exit 0 or 1 asserted.
fn differences(config: &Path, pair: &str) -> Vec<(String, String)> {
    let report = config.with_file_name("verify.json");
    let run = migrator(
        config,
        &["verify", "--report", report.to_str().expect("utf-8 path")],
    );
    assert!(
        matches!(run.code, Some(0 | 1)),
        "{pair}: verify:\n{}",
        run.all()
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    json["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .flat_map(|t| t["differences"].as_array().cloned().unwrap_or_default())
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["key"][0].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The counts of a report's first table: (rows, inserted, updated, unchanged, extra,
/// deleted, chunks, chunks_equal).
fn counts(report: &serde_json::Value) -> [u64; 8] {
    let t = &report["tables"][0];
    [
        "rows",
        "inserted",
        "updated",
        "unchanged",
        "extra",
        "deleted",
        "chunks",
        "chunks_equal",
    ]
    .map(|k| {
        t[k].as_u64()
            .unwrap_or_else(|| panic!("report has `{k}`: {t}"))
    })
}

fn pair_uses_sql(from: Engine, to: Engine) -> bool {
    from != Engine::Sqlite && to != Engine::Sqlite
}

/// In all nine pairs: a re-sync after planted changes writes exactly those (two rows
/// inserted, four updated, the rest unchanged, two untouched chunks skipped as equal),
/// keeps the two extra rows and reports them, deletes them only with `--delete-extra`,
/// and then finds every chunk equal; between servers only rows near the changes are read.
/// `--copy-all` then sends every row without comparing.
#[tokio::test]
async fn a_resync_writes_only_what_differs_and_reads_only_near_it_in_all_nine_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    for from in ENGINES {
        let Some(src) = database(
            from,
            &format!("seaway_test_r_src_{}", tag(from)),
            Some(&wide_source(from)),
            dir.path(),
        )
        .await
        else {
            return;
        };
        for to in ENGINES {
            let pair = format!("{} -> {}", tag(from), tag(to));
            let name = format!("seaway_test_r_{}_to_{}", tag(from), tag(to));
            let Some(dst) = database(to, &name, None, dir.path()).await else {
                return;
            };
            let (_project, config) = project(&src, &dst).await;
            let chunks = ["--chunk-size", "500"];
            let first = transfer(&config, &pair, &chunks);
            assert_eq!(
                counts(&first),
                [3000, 3000, 0, 0, 0, 0, 6, 0],
                "{pair}: first load"
            );
            assert_eq!(first["tables"][0]["comparison"], "none", "{pair}");

            let mut db = Db::connect(to, &dst).await;
            for sql in PLANT {
                db.execute(sql).await;
            }
            let narrow = [
                "--chunk-size",
                "500",
                "--bisection-factor",
                "4",
                "--bisection-threshold",
                "8",
            ];
            let report = transfer(&config, &pair, &narrow);
            assert_eq!(
                counts(&report),
                [3000, 2, 4, 2994, 2, 0, 6, 2],
                "{pair}: re-sync: {report:#}"
            );
            let t = &report["tables"][0];
            let read = t["rows_read"].as_u64().expect("rows_read");
            if pair_uses_sql(from, to) {
                assert_eq!(t["comparison"], "sql", "{pair}");
                // Eight differences, each read in a range of at most eight rows per side
                // (of the 6,000 rows on both sides).
                assert!(read > 0 && read <= 8 * 2 * 8, "{pair}: {read} rows read");
            } else {
                assert_eq!(t["comparison"], "client", "{pair}");
                assert!(read >= 6000, "{pair}: {read} rows read");
            }
            assert_eq!(
                differences(&config, &pair),
                vec![
                    ("extra".to_string(), "-5".to_string()),
                    ("extra".to_string(), "5000".to_string())
                ],
                "{pair}: after the re-sync only the extra rows differ"
            );

            // Nothing changed since: nothing written, the extra rows still counted.
            let again = transfer(&config, &pair, &chunks);
            assert_eq!(
                counts(&again),
                [3000, 0, 0, 3000, 2, 0, 6, 4],
                "{pair}: second re-sync"
            );
            let deleting = transfer(&config, &pair, &["--chunk-size", "500", "--delete-extra"]);
            assert_eq!(
                counts(&deleting),
                [3000, 0, 0, 3000, 2, 2, 6, 4],
                "{pair}: --delete-extra"
            );
            assert_eq!(db.count("SELECT count(*) FROM wide").await, 3000, "{pair}");
            assert!(differences(&config, &pair).is_empty(), "{pair}");
            let clean = transfer(&config, &pair, &chunks);
            assert_eq!(
                counts(&clean),
                [3000, 0, 0, 3000, 0, 0, 6, 6],
                "{pair}: every chunk equal"
            );

            // --copy-all: no comparison, every row sent (and left alone where equal).
            db.execute("UPDATE wide SET name = 'again' WHERE id = 42")
                .await;
            let all = transfer(&config, &pair, &["--chunk-size", "500", "--copy-all"]);
            assert_eq!(
                counts(&all),
                [3000, 0, 1, 2999, 0, 0, 6, 0],
                "{pair}: --copy-all"
            );
            assert_eq!(all["tables"][0]["comparison"], "none", "{pair}");
            assert_eq!(all["tables"][0]["rows_read"], 0, "{pair}");
            db.close().await;
            done.push(pair);
        }
    }
    eprintln!("re-synced: {done:?}");
}

/// A run killed again and again while it compares (changed, missing and extra rows in
/// every chunk) resumes each time where it was, and the last one leaves exactly the
/// source's rows and reports them; its extra rows are deleted once, after the copy.
#[cfg(unix)]
async fn killed_mid_compare(engine: Engine, tag: &str) {
    use crate::transfer_faults::{
        BIG_POSTGRES, BIG_ROWS, BIG_SQLITE, big_fingerprint, first_difference, kill_when,
        spawn_transfer,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = match engine {
        Engine::Postgres => BIG_POSTGRES,
        Engine::Mysql | Engine::Sqlite => BIG_SQLITE,
    };
    let Some(src) = database(
        engine,
        &format!("seaway_test_r_kill_src_{tag}"),
        Some(fixture),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        engine,
        &format!("seaway_test_r_kill_dst_{tag}"),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (project_dir, config) = project(&src, &dst).await;
    let load = migrator(&config, &["transfer", "--chunk-size", "4000"]);
    assert_eq!(load.code, Some(0), "{tag}: first load:\n{}", load.all());
    let mut dest = Db::connect(engine, &dst).await;
    // Keys are 2, 4, ... 400,000: 100 chunks of 2,000 rows. In every chunk, ten rows
    // changed and about two deleted; 300 extra rows at odd keys among the first ones.
    dest.execute("UPDATE big SET n = n + 1 WHERE id % 400 = 0")
        .await;
    dest.execute("DELETE FROM big WHERE id % 1998 = 2").await;
    let missing = 400_000 / 1998 + 1;
    for chunk in (1..600).step_by(2).collect::<Vec<i64>>().chunks(100) {
        let values: Vec<String> = chunk.iter().map(|k| format!("({k}, 0)")).collect();
        dest.execute(&format!(
            "INSERT INTO big (id, n) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
    assert_eq!(
        dest.count("SELECT count(*) FROM big").await,
        BIG_ROWS - missing + 300,
        "{tag}: planted"
    );

    let state = project_dir.path().join(".seaway/state.sqlite");
    let state_url = format!("sqlite://{}", state.display());
    let args = ["--chunk-size", "4000", "--delete-extra"];
    let mut killed_at = Vec::new();
    for at_least in [10, 40, 70] {
        let child = spawn_transfer(&config, &args);
        kill_when(
            child,
            &format!("{at_least} chunks were compared"),
            async || {
                let mut s = Db::connect(Engine::Sqlite, &state_url).await;
                let n = s
                    .maybe_count(
                        "SELECT count(*) FROM chunks WHERE done = 1 AND run = \
                         (SELECT max(id) FROM runs WHERE finished_at IS NULL)",
                    )
                    .await
                    .unwrap_or(0);
                s.close().await;
                n >= at_least
            },
        )
        .await;
        killed_at.push(dest.count("SELECT count(*) FROM big").await);
    }
    let report = project_dir.path().join("report.json");
    let last = migrator(
        &config,
        &[
            "transfer",
            "--chunk-size",
            "4000",
            "--delete-extra",
            "--report",
            report.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(last.code, Some(0), "{tag}: final run:\n{}", last.all());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(report["resumed"], true, "{tag}: {report:#}");
    assert_eq!(report["rows"], BIG_ROWS, "{tag}: rows held: {report:#}");
    assert_eq!(report["extra"], 300, "{tag}: extra rows found: {report:#}");
    assert_eq!(
        report["deleted"], 300,
        "{tag}: extra rows deleted: {report:#}"
    );
    assert_eq!(report["rejected"], 0, "{tag}: {report:#}");
    let mut source = Db::connect(engine, &src).await;
    let want = big_fingerprint(engine, &mut source).await;
    let have = big_fingerprint(engine, &mut dest).await;
    assert!(
        want == have,
        "{tag}: destination differs from the source after the resumed re-sync: {}",
        first_difference(&want, &have)
    );
    source.close().await;
    dest.close().await;
    eprintln!("{tag}: killed with {killed_at:?} destination rows, resumed exactly");
}

#[cfg(unix)]
#[tokio::test]
async fn a_resync_killed_mid_compare_resumes_exactly() {
    killed_mid_compare(Engine::Postgres, "pg").await;
    killed_mid_compare(Engine::Sqlite, "lite").await;
}

/// The source for the mapped-table test: `faults`-like rows, and a table without a key.
fn mapped_source(engine: Engine) -> String {
    let (ddl, log) = match engine {
        Engine::Postgres => (
            "CREATE TABLE item (id integer PRIMARY KEY, name varchar(40) NOT NULL, note text, \
             amount numeric(12,4), label varchar(40), qty integer);",
            "CREATE TABLE log (at timestamp(6) NOT NULL, what varchar(40));",
        ),
        Engine::Mysql => (
            "CREATE TABLE item (id int PRIMARY KEY, name varchar(40) NOT NULL, note text, \
             amount decimal(12,4), label varchar(40), qty int) CHARACTER SET utf8mb4;",
            "CREATE TABLE log (at datetime(6) NOT NULL, what varchar(40)) CHARACTER SET utf8mb4;",
        ),
        Engine::Sqlite => (
            "CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, note TEXT, \
             amount NUMERIC(12,4), label VARCHAR(40), qty INTEGER);",
            "CREATE TABLE log (at DATETIME NOT NULL, what VARCHAR(40));",
        ),
    };
    let items: Vec<String> = (1..=20)
        .map(|i| format!("({i}, 'row {i}', 'note {i}', {i}.5, 'Label {i}', {i})"))
        .collect();
    let logs: Vec<String> = (1..=5)
        .map(|i| format!("('2024-03-0{i} 10:00:00.123456', 'event {i}')"))
        .collect();
    format!(
        "{ddl}\n{log}\nINSERT INTO item VALUES {};\nINSERT INTO log VALUES {};",
        items.join(", "),
        logs.join(", ")
    )
}

/// Masks, a renamed column, a `where:` filter, a type override and an append-only table
/// (PostgreSQL into MariaDB and SQLite into PostgreSQL: values converted on the way):
/// a re-sync of unchanged rows writes nothing and finds every chunk equal; a source
/// change inside the filter is written as exactly that change, one outside it is not
/// copied, a destination row outside the filter is extra; a changed keyless table is
/// replaced.
#[tokio::test]
async fn masked_renamed_filtered_and_keyless_tables_compare_as_transferred() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = "mappings:\n  item:\n    target: audited\n    columns: { label: tag }\n    mask: { name: hash, note: redact }\n    where: \"id <= 15\"\n    types: { qty: int64 }\n  log:\n    append_only: true\n";
    for (from, to) in [
        (Engine::Postgres, Engine::Mysql),
        (Engine::Sqlite, Engine::Postgres),
    ] {
        let pair = format!("{} -> {}", tag(from), tag(to));
        let Some(src) = database(
            from,
            &format!("seaway_test_r_map_src_{}", tag(from)),
            Some(&mapped_source(from)),
            dir.path(),
        )
        .await
        else {
            return;
        };
        let Some(dst) = database(
            to,
            &format!("seaway_test_r_map_dst_{}", tag(to)),
            None,
            dir.path(),
        )
        .await
        else {
            return;
        };
        let project = tempfile::tempdir().expect("project");
        let config = project.path().join("seaway.yaml");
        std::fs::write(
            &config,
            format!(
                "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{}\" }}\nsource: src\ndestination: dst\n{mapping}",
                *src, *dst
            ),
        )
        .expect("config");
        let loaded = seaway_codegen::config::Config::load(&config).expect("config");
        let plan = seaway_codegen::commands::diff::run(&loaded)
            .await
            .unwrap_or_else(|e| panic!("{pair}: diff: {e}"));
        seaway_codegen::snapshot_io::write_all(&plan.files).expect("migration");
        let applied = migrator(&config, &["apply"]);
        assert_eq!(applied.code, Some(0), "{pair}: apply:\n{}", applied.all());
        let first = transfer(&config, &pair, &[]);
        assert_eq!(
            first["rows"], 20,
            "{pair}: 15 items and 5 log rows: {first:#}"
        );

        let again = transfer(&config, &pair, &[]);
        let table = |r: &serde_json::Value, name: &str| {
            r["tables"]
                .as_array()
                .expect("tables")
                .iter()
                .find(|t| t["table"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{pair}: no table {name} in {r:#}"))
        };
        for name in ["audited", "log"] {
            let t = table(&again, name);
            assert_eq!(
                (
                    &t["inserted"],
                    &t["updated"],
                    &t["chunks_equal"],
                    &t["chunks"]
                ),
                (&0.into(), &0.into(), &1.into(), &1.into()),
                "{pair}: {name} re-synced unchanged: {t:#}"
            );
        }
        assert_eq!(table(&again, "log")["comparison"], "multiset", "{pair}");

        let mut source = Db::connect(from, &src).await;
        source
            .execute("UPDATE item SET note = 'new note', qty = 99 WHERE id = 3")
            .await;
        source
            .execute("UPDATE item SET name = 'outside' WHERE id = 18")
            .await;
        source
            .execute("INSERT INTO log VALUES ('2024-04-01 00:00:00', 'event 6')")
            .await;
        let mut dest = Db::connect(to, &dst).await;
        dest.execute(
            "INSERT INTO audited (id, name, note, amount, tag, qty) VALUES (19, 'x', 'y', 1, 'z', 1)",
        )
        .await;
        let changed = transfer(&config, &pair, &[]);
        let t = table(&changed, "audited");
        assert_eq!(
            (&t["inserted"], &t["updated"], &t["unchanged"], &t["extra"]),
            (&0.into(), &1.into(), &14.into(), &1.into()),
            "{pair}: one masked row changed, one extra: {t:#}"
        );
        assert_eq!(
            dest.text("SELECT note FROM audited WHERE id = 3").await,
            dest.text("SELECT note FROM audited WHERE id = 4").await,
            "{pair}: the note is written redacted, as transfer writes it"
        );
        assert_eq!(
            dest.count("SELECT qty FROM audited WHERE id = 3").await,
            99,
            "{pair}"
        );
        let log = table(&changed, "log");
        assert_eq!(
            (&log["inserted"], &log["chunks_equal"]),
            (&6.into(), &0.into()),
            "{pair}: the changed keyless table is replaced: {log:#}"
        );
        assert_eq!(dest.count("SELECT count(*) FROM log").await, 6, "{pair}");
        source.close().await;
        dest.close().await;
    }
}
