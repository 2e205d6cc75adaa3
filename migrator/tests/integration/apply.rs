//! `migrator apply` and `status` on the happy paths: everything, by section, dry run.

use crate::support::{Engine, Project, initial};

/// Applies one migration, checks tables, ledger and status, and that a second run has
/// nothing to do.
async fn applies_records_and_then_has_nothing_to_apply(engine: Engine) {
    let Some(p) = Project::new(engine, "apply").await else {
        return;
    };
    let file = initial(&p);

    let out = p.migrator(&["status"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("0001     0001_initial  pending   pending    -"),
        "{}",
        out.stdout
    );

    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("0001_initial pre-data: 2 statements in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("0001_initial post-data: 1 statement in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("applied 2 sections to `dest`"),
        "{}",
        out.stdout
    );

    let mut db = p.db().await;
    assert!(db.has_table("t_a").await && db.has_table("t_b").await);
    assert!(db.has_index("t_a_name").await);
    let ledger = db.ledger().await;
    let checksum = seaway_codegen::migrations::checksum(&std::fs::read_to_string(&file).unwrap());
    let rows: Vec<_> = ledger
        .iter()
        .map(|r| {
            (
                r.version,
                r.name.as_str(),
                r.section.as_str(),
                r.success,
                r.statements_done,
                r.error.is_none(),
                r.checksum == checksum,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, "0001_initial", "post-data", true, 1, true, true),
            (1, "0001_initial", "pre-data", true, 2, true, true)
        ]
    );

    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("nothing to apply to `dest`"),
        "{}",
        out.stdout
    );

    let out = p.migrator(&["status"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("0001     0001_initial  applied   applied    ok"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn apply_then_nothing_to_apply_postgres() {
    applies_records_and_then_has_nothing_to_apply(Engine::Postgres).await;
}

#[tokio::test]
async fn apply_then_nothing_to_apply_mariadb() {
    applies_records_and_then_has_nothing_to_apply(Engine::Mysql).await;
}

#[tokio::test]
async fn apply_then_nothing_to_apply_sqlite() {
    applies_records_and_then_has_nothing_to_apply(Engine::Sqlite).await;
}

/// pre-data first (tables, no index), then post-data; post-data alone first is refused.
async fn sections_apply_separately(engine: Engine) {
    let Some(p) = Project::new(engine, "sections").await else {
        return;
    };
    initial(&p);

    let out = p.migrator(&["apply", "--section", "post-data"]);
    assert!(!out.ok, "post-data before pre-data must be refused");
    assert!(
        out.stderr
            .contains("0001_initial: its pre-data section is not applied yet"),
        "{}",
        out.stderr
    );

    let out = p.migrator(&["apply", "--section", "pre-data"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("0001_initial pre-data: 2 statements"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("post-data:"), "{}", out.stdout);
    let mut db = p.db().await;
    assert!(db.has_table("t_a").await && !db.has_index("t_a_name").await);
    let out = p.migrator(&["status"]);
    assert!(
        out.stdout.contains("0001_initial  applied   pending"),
        "{}",
        out.stdout
    );
    let out = p.migrator(&["apply", "--section", "pre-data"]);
    assert!(
        out.stdout.starts_with("nothing to apply to `dest`"),
        "{}",
        out.stdout
    );

    let out = p.migrator(&["apply", "--section", "post-data"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("0001_initial post-data: 1 statement"),
        "{}",
        out.stdout
    );
    assert!(db.has_index("t_a_name").await);
    let out = p.migrator(&["apply"]);
    assert!(out.stdout.starts_with("nothing to apply"), "{}", out.stdout);
}

#[tokio::test]
async fn sections_pre_then_post_postgres() {
    sections_apply_separately(Engine::Postgres).await;
}

#[tokio::test]
async fn sections_pre_then_post_sqlite() {
    sections_apply_separately(Engine::Sqlite).await;
}

fn assert_prints_the_sql(stdout: &str) {
    for expected in [
        "-- 0001_initial pre-data: 2 statements\n-- add table \"t_a\"\nCREATE TABLE t_a (id integer primary key, name varchar(40));\n",
        "-- add index \"t_a_name\" on \"t_a\"\nCREATE INDEX t_a_name ON t_a (name);",
        "dry run: 2 sections would be applied to `dest`",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}

#[tokio::test]
async fn dry_run_changes_nothing_postgres() {
    let Some(p) = Project::new(Engine::Postgres, "dry_run").await else {
        return;
    };
    initial(&p);
    let out = p.migrator(&["apply", "--dry-run"]);
    assert!(out.ok, "{}", out.stderr);
    assert_prints_the_sql(&out.stdout);
    let mut db = p.db().await;
    assert!(
        !db.has_table("seaway_migrations").await,
        "dry run created the ledger"
    );
    assert!(!db.has_table("t_a").await);
}

#[tokio::test]
async fn dry_run_changes_nothing_sqlite() {
    let Some(p) = Project::new(Engine::Sqlite, "dry_run").await else {
        return;
    };
    initial(&p);
    let out = p.migrator(&["apply", "--dry-run"]);
    assert!(out.ok, "{}", out.stderr);
    assert_prints_the_sql(&out.stdout);
    assert!(!p.sqlite_file().exists(), "dry run created the SQLite file");
}
