//! `codegen diff` from the command line: refusals, naming, and the config it needs.

use crate::support::{self, Project};
use seaway_codegen::commands::introspect::read_source;
use seaway_codegen::model::Dialect;
use seaway_codegen::target;

const SECRET: &str = "Sup3rS3cretPw";

/// An SQLite file made from `sql` in the project's folder; returns its URL.
async fn sqlite_source(project: &Project, sql: &str) -> String {
    use sqlx::Connection;
    let path = project.dir.path().join("source.sqlite");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut c = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("create sqlite");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await
        .expect("load");
    c.close().await.expect("close");
    format!("sqlite://{}", path.display())
}

#[tokio::test]
async fn lossy_cast_not_opted_in_is_refused_naming_the_column_and_the_fix() {
    let project = Project::new("connections: {}\n");
    let src = sqlite_source(
        &project,
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount NUMERIC, note TEXT);",
    )
    .await;
    let config = format!(
        "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"mysql://app:{SECRET}@127.0.0.1:1/shop\" }}\nsource: src\ndestination: dst\n"
    );
    std::fs::write(project.config_path(), &config).expect("config");
    let (ok, stdout, stderr) = project.codegen(&["diff"]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("T302 ledger.amount: decimal -> decimal(65,30) is lossy"),
        "{stderr}"
    );
    assert!(
        stderr.contains("add `ledger.amount` to allow_lossy"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SECRET) && !stdout.contains(SECRET),
        "password leaked"
    );
    assert!(
        !project.generated().exists(),
        "nothing may be written on a refusal"
    );

    // Opting the column in moves past the refusal (to the unreachable destination).
    std::fs::write(
        project.config_path(),
        format!("{config}allow_lossy: [\"ledger.amount\"]\n"),
    )
    .expect("config");
    let (ok, _, stderr) = project.codegen(&["diff"]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot reach MySQL/MariaDB at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("T302"), "{stderr}");
}

#[tokio::test]
async fn snake_case_naming_turns_sqlite_chinook_into_the_postgres_edition_names() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("chinook/postgres.sql")).expect("fixture");
    let pg_url = pg.fresh_db("seaway_test_t_pg_naming", Some(&sql)).await;
    let project = Project::new(&format!(
        "connections:\n  src: {{ url: \"sqlite://{}\" }}\n  pg: {{ url: \"{pg_url}\" }}\nsource: src\ndestination: pg\nnaming: snake_case\n",
        support::fixture("chinook/chinook.sqlite").display()
    ));
    let config = project.config();
    let desired = target::desired(
        &read_source(&config).await.expect("source"),
        &config,
        Dialect::Postgres,
    )
    .expect("desired");
    let native = seaway_codegen::inspect::introspect(&config.connections["pg"])
        .await
        .expect("pg")
        .schema;
    let names = |s: &seaway_codegen::model::Schema| -> Vec<(String, Vec<String>)> {
        s.tables
            .iter()
            .map(|(t, tb)| {
                (
                    t.clone(),
                    tb.columns.iter().map(|c| c.name.clone()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(names(&desired.schema), names(&native));
}

#[tokio::test]
async fn names_colliding_after_snake_case_are_an_error_naming_both() {
    let project = Project::new("connections: {}\n");
    let src = sqlite_source(&project, "CREATE TABLE \"Orders\" (id INTEGER PRIMARY KEY, \"CustomerId\" INTEGER, customer_id INTEGER);").await;
    std::fs::write(
        project.config_path(),
        format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"sqlite://dst.sqlite\" }}\nsource: src\ndestination: dst\nnaming: snake_case\n"),
    )
    .expect("config");
    let (ok, _, stderr) = project.codegen(&["diff"]);
    assert!(!ok);
    assert!(stderr.contains("naming: columns `Orders.CustomerId` and `Orders.customer_id` both become `orders.customer_id`"), "{stderr}");
    assert!(
        !project.dir.path().join("dst.sqlite").exists(),
        "the destination must not be created by diff"
    );
}

#[tokio::test]
async fn diff_needs_a_destination() {
    let project = Project::new(&format!(
        "connections:\n  src: {{ url: \"sqlite://{}\" }}\n",
        support::fixture("chinook/chinook.sqlite").display()
    ));
    let (ok, _, stderr) = project.codegen(&["diff"]);
    assert!(!ok);
    assert!(stderr.contains("diff needs a `destination:`"), "{stderr}");
}

#[tokio::test]
async fn diff_writes_once_then_has_nothing_to_do_after_apply_is_simulated() {
    // Without the migrator: a second diff before applying must refuse to stack a new
    // migration on the pending one, and `--check` reports without writing.
    let project = Project::new(&format!(
        "connections:\n  src: {{ url: \"sqlite://{}\" }}\n  dst: {{ url: \"sqlite://dst.sqlite\" }}\nsource: src\ndestination: dst\n",
        support::fixture("chinook/chinook.sqlite").display()
    ));
    let (ok, stdout, _) = project.codegen(&["diff", "--check"]);
    assert!(
        !ok && stdout.contains("0001_initial would be written"),
        "{stdout}"
    );
    assert!(!project.generated().exists());
    let (ok, stdout, stderr) = project.codegen(&["diff"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("wrote") && stdout.contains("0001_initial.sql"),
        "{stdout}"
    );
    let first =
        std::fs::read_to_string(project.generated().join("migrations/dst/0001_initial.sql"))
            .expect("migration");
    let (ok, _, stderr) = project.codegen(&["diff"]);
    assert!(
        !ok && stderr.contains("has migrations not yet applied (0001_initial)"),
        "{stderr}"
    );
    let again =
        std::fs::read_to_string(project.generated().join("migrations/dst/0001_initial.sql"))
            .expect("migration");
    assert_eq!(first, again, "a refused diff leaves the files as they were");
}

#[tokio::test]
async fn names_and_keys_the_destination_would_refuse_stop_diff_naming_the_fix() {
    let project = Project::new("connections: {}\n");
    let long = "warehouse_stock_movement_reconciliation_entries_awaiting_audit_review";
    let src = sqlite_source(
        &project,
        &format!(
            "CREATE TABLE {long} (id INTEGER PRIMARY KEY);\
             CREATE TABLE tag (name TEXT PRIMARY KEY);"
        ),
    )
    .await;
    // Refused before the (unreachable) destination is read.
    std::fs::write(
        project.config_path(),
        format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"mysql://root@127.0.0.1:1/x\" }}\nsource: src\ndestination: dst\n"),
    )
    .expect("config");
    let (ok, stdout, stderr) = project.codegen(&["diff"]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&format!(
            "T310 {long}: table name is 69 characters (69 bytes); mysql allows 64 characters: give it a shorter name in `mappings.{long}.target`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("T312 tag: primary key (name)") && stderr.contains("`mappings.tag.types`"),
        "{stderr}"
    );
    assert!(!project.generated().exists(), "nothing may be written");
}

/// What the plan leaves out is printed by `codegen diff` on every run, with its code,
/// apart from what it skips; what the same engine carries (the views) is not.
#[tokio::test]
async fn diff_prints_what_it_leaves_out_with_its_code() {
    let project = Project::new("connections: {}\n");
    let src = project.dir.path().join("objects.sqlite");
    support::sqlite_fixture(&src, "objects/sqlite.sql").await;
    let dst = project.dir.path().join("replica.sqlite");
    std::fs::write(
        project.config_path(),
        format!(
            "connections:\n  src: {{ url: \"sqlite://{}\" }}\n  dst: {{ url: \"sqlite://{}\" }}\nsource: src\ndestination: dst\n",
            src.display(),
            dst.display()
        ),
    )
    .expect("config");
    let (ok, stdout, stderr) = project.codegen(&["diff"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("left out: D304 rental.rental_stamp: trigger `rental_stamp`"),
        "{stderr}"
    );
    assert!(!stderr.contains("D301"), "views are carried: {stderr}");
    assert!(!stderr.contains("skipped:"), "{stderr}");
}
