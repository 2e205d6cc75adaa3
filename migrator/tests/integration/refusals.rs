//! What `apply` refuses to do: run files nobody reviewed, or pretend a changed applied
//! migration is still what the destination has.

use crate::support::{Engine, Project, initial};
use seaway_codegen::migrations::{Section, checksum};

#[tokio::test]
async fn edited_file_is_refused_by_the_sum_and_nothing_is_applied() {
    let Some(p) = Project::new(Engine::Sqlite, "edited").await else {
        return;
    };
    let file = initial(&p);
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("varchar(40)", "varchar(80)");
    std::fs::write(&file, edited).unwrap();

    let out = p.migrator(&["apply"]);
    assert!(!out.ok, "an edited file must be refused");
    assert!(
        out.stderr
            .contains("migrations.sum: 0001_initial.sql was edited after it was generated"),
        "{}",
        out.stderr
    );
    assert!(
        !p.sqlite_file().exists(),
        "nothing may be applied (the destination was created)"
    );
}

/// Applies, then changes the applied file *and* regenerates the sum (as a careless
/// regeneration would): the ledger's checksum catches it.
async fn changed_applied_migration_is_refused(engine: Engine) {
    let Some(p) = Project::new(engine, "changed").await else {
        return;
    };
    let file = initial(&p);
    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    let recorded = checksum(&std::fs::read_to_string(&file).unwrap());

    p.migration(
        "0001_initial",
        &[
            (
                Section::PreData,
                "add table \"t_a\"",
                "CREATE TABLE t_a (id integer primary key, name varchar(40))",
            ),
            (
                Section::PreData,
                "add table \"t_c\"",
                "CREATE TABLE t_c (id integer primary key)",
            ),
        ],
    );
    p.migration(
        "0002_more",
        &[(
            Section::PreData,
            "add table \"t_d\"",
            "CREATE TABLE t_d (id integer primary key)",
        )],
    );
    let current = checksum(&std::fs::read_to_string(&file).unwrap());

    let out = p.migrator(&["apply"]);
    assert!(!out.ok, "a changed applied migration must be refused");
    for expected in [
        "0001_initial.sql",
        &recorded,
        &current,
        "an applied migration must not change",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected:?} in {}",
            out.stderr
        );
    }
    let mut db = p.db().await;
    assert!(
        !db.has_table("t_c").await && !db.has_table("t_d").await,
        "nothing may be applied"
    );

    let out = p.migrator(&["status"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("CHANGED (ledger {recorded}, file {current})")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("0002_more     pending"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn changed_applied_migration_is_refused_postgres() {
    changed_applied_migration_is_refused(Engine::Postgres).await;
}

#[tokio::test]
async fn changed_applied_migration_is_refused_sqlite() {
    changed_applied_migration_is_refused(Engine::Sqlite).await;
}
