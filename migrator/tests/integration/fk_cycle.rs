//! Two tables that reference each other (a store and its manager, who works at a store):
//! with both foreign keys already in the destination no load order satisfies them, so
//! transfer and sync refuse before writing anything, naming the tables, the constraints
//! and the fix; loading before the foreign keys (pre-data, transfer, post-data) works.
//! SQLite declares its foreign keys inside the tables and seaway's writer loads with
//! them unchecked (as SQLite's own dumps do), so a SQLite destination loads the circle
//! after a plain `apply`.

use crate::convergence::{database, tag};
use crate::support::{self, Db, Engine, TestDb};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::path::{Path, PathBuf};

/// The source: SQLite, foreign keys in the tables, rows written with them off (as an
/// application that fills both sides in one go would).
const SOURCE_SQL: &str = "
PRAGMA foreign_keys = OFF;
CREATE TABLE store (id INTEGER PRIMARY KEY, manager_id INTEGER NOT NULL REFERENCES staff (id), city TEXT NOT NULL);
CREATE TABLE staff (id INTEGER PRIMARY KEY, store_id INTEGER NOT NULL REFERENCES store (id), name TEXT NOT NULL);
CREATE TABLE customer (id INTEGER PRIMARY KEY, store_id INTEGER NOT NULL REFERENCES store (id), name TEXT NOT NULL);
INSERT INTO store VALUES (1, 1, 'Lethbridge'), (2, 2, 'Woodridge');
INSERT INTO staff VALUES (1, 1, 'Mike'), (2, 2, 'Jon');
INSERT INTO customer VALUES (1, 1, 'Mary'), (2, 2, 'Patricia');
";

/// Writes the config from the SQLite source into `dst` and its first migration.
async fn project(src: &str, dst: &str, dir: &Path) -> PathBuf {
    let config_path = dir.join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n"),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let plan = diff::run(&config).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&plan.files).expect("write migration");
    config_path
}

fn run(config: &Path, args: &[&str]) -> support::Output {
    support::run_migrator(config, args)
}

async fn rows(dst: &str, to: Engine) -> i64 {
    let mut db = Db::connect(to, dst).await;
    db.count("SELECT (SELECT count(*) FROM store) + (SELECT count(*) FROM staff) + (SELECT count(*) FROM customer)")
        .await
}

/// A project per destination engine in `to`: the engine, the destination, the config
/// and its folder, dropped (with the databases) when the test ends.
type Project = (Engine, TestDb, PathBuf, tempfile::TempDir);

/// The source, and one project per destination engine in `to`; no project where a
/// server is absent (the skip is printed).
async fn projects(case: &str, to: &[Engine], dir: &Path) -> (Option<TestDb>, Vec<Project>) {
    let mut out = Vec::new();
    let Some(src) = database(
        Engine::Sqlite,
        &format!("seaway_test_fkc_{case}_src"),
        Some(SOURCE_SQL),
        dir,
    )
    .await
    else {
        return (None, out);
    };
    for &engine in to {
        let Some(dst) = database(
            engine,
            &format!("seaway_test_fkc_{case}_{}", tag(engine)),
            None,
            dir,
        )
        .await
        else {
            continue;
        };
        let project_dir = tempfile::tempdir().expect("project");
        let config = project(&src, &dst, project_dir.path()).await;
        out.push((engine, dst, config, project_dir));
    }
    (Some(src), out)
}

#[tokio::test]
async fn a_circle_of_foreign_keys_already_in_the_destination_is_refused_before_any_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_src, made) = projects("all", &[Engine::Postgres, Engine::Mysql], dir.path()).await;
    for (to, dst, config, _project) in made {
        let applied = run(&config, &["apply"]);
        assert!(applied.ok, "{to:?}: apply: {}", applied.stderr);
        for command in [&["transfer"][..], &["sync"]] {
            let out = run(&config, command);
            assert!(!out.ok, "{to:?} {command:?} should refuse:\n{}", out.stdout);
            assert!(
                out.stderr.contains("tables `staff`, `store`")
                    && out.stderr.contains("staff(store_id) -> store")
                    && out.stderr.contains("store(manager_id) -> staff")
                    && out.stderr.contains("nothing was written")
                    && out.stderr.contains("migrator apply --section pre-data"),
                "{to:?} {command:?}: {}",
                out.stderr
            );
            assert_eq!(
                rows(&dst, to).await,
                0,
                "{to:?} {command:?}: rows were written"
            );
        }
    }
}

#[tokio::test]
async fn loading_before_the_foreign_keys_carries_a_circle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_src, made) = projects("steps", &[Engine::Postgres, Engine::Mysql], dir.path()).await;
    for (to, dst, config, _project) in made {
        for step in [
            &["apply", "--section", "pre-data"][..],
            &["transfer"],
            &["apply", "--section", "post-data"],
            &["verify"],
            // The foreign keys are in place now and every table holds rows: a second
            // run goes through.
            &["transfer"],
        ] {
            let out = run(&config, step);
            assert!(out.ok, "{to:?} {step:?}: {}\n{}", out.stdout, out.stderr);
        }
        assert_eq!(rows(&dst, to).await, 6, "{to:?}");
    }
}

#[tokio::test]
async fn a_sqlite_destination_loads_a_circle_after_a_plain_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_src, made) = projects("lite", &[Engine::Sqlite], dir.path()).await;
    for (to, dst, config, _project) in made {
        for step in [&["apply"][..], &["transfer"], &["verify"]] {
            let out = run(&config, step);
            assert!(out.ok, "{step:?}: {}\n{}", out.stdout, out.stderr);
        }
        assert_eq!(rows(&dst, to).await, 6);
    }
}
