//! A statement that fails: MySQL keeps what committed and resumes; PostgreSQL rolls the
//! whole section back.

use crate::support::{Engine, Project};
use seaway_codegen::migrations::Section;

const JOIN_CUSTOMERS: &str = "CREATE VIEW order_customers AS SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id";

#[tokio::test]
async fn mariadb_failure_keeps_committed_statements_and_resumes_at_the_failed_one() {
    let Some(p) = Project::new(Engine::Mysql, "resume").await else {
        return;
    };
    // Statement 1 has no IF NOT EXISTS: re-running it would fail, so a successful re-run
    // proves it was skipped.
    p.migration(
        "0001_orders",
        &[
            (
                Section::PreData,
                "add table \"orders\"",
                "CREATE TABLE orders (id integer primary key, customer_id integer)",
            ),
            (
                Section::PreData,
                "add table \"order_lines\"",
                "CREATE TABLE order_lines (id integer primary key, order_id integer)",
            ),
            (
                Section::PreData,
                "add view \"order_customers\"",
                JOIN_CUSTOMERS,
            ),
            (
                Section::PreData,
                "add table \"invoices\"",
                "CREATE TABLE invoices (id integer primary key)",
            ),
        ],
    );

    let out = p.migrator(&["apply"]);
    assert!(!out.ok, "statement 3 must fail");
    for expected in [
        "migration 0001_orders (pre-data) failed on `dest` (MySQL/MariaDB at ",
        "at statement 3 of 4, `add view \"order_customers\"`",
        "customers' doesn't exist",
        "Statements 1-2 stayed applied",
        "fix the cause and re-run: apply resumes at this statement",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected:?} in {}",
            out.stderr
        );
    }
    let mut db = p.db().await;
    assert!(db.has_table("orders").await && db.has_table("order_lines").await);
    assert!(!db.has_table("invoices").await);
    let ledger = db.ledger().await;
    assert_eq!(ledger.len(), 1);
    assert!(!ledger[0].success);
    assert_eq!(ledger[0].statements_done, 2);
    assert!(
        ledger[0]
            .error
            .as_deref()
            .unwrap_or("")
            .starts_with("statement 3 of 4 (add view"),
        "{:?}",
        ledger[0].error
    );
    let out = p.migrator(&["status"]);
    assert!(
        out.stdout.contains("0001_orders  failed (2/4 done)"),
        "{}",
        out.stdout
    );

    // Fix the cause in the database, not the file.
    db.execute("CREATE TABLE customers (id integer primary key, name varchar(40))")
        .await;
    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("0001_orders pre-data: 2 statements (resuming at statement 3 of 4)"),
        "{}",
        out.stdout
    );
    assert!(db.has_table("order_customers").await && db.has_table("invoices").await);
    let ledger = db.ledger().await;
    assert!(
        ledger[0].success && ledger[0].statements_done == 4 && ledger[0].error.is_none(),
        "{ledger:?}"
    );
}

#[tokio::test]
async fn postgres_failure_rolls_back_the_section_and_the_fixed_file_applies() {
    let Some(p) = Project::new(Engine::Postgres, "rollback").await else {
        return;
    };
    let orders = (
        Section::PreData,
        "add table \"orders\"",
        "CREATE TABLE orders (id integer primary key, customer_id integer)",
    );
    let lines = (
        Section::PreData,
        "add table \"order_lines\"",
        "CREATE TABLE order_lines (id integer primary key)",
    );
    p.migration(
        "0001_orders",
        &[
            orders,
            lines,
            (
                Section::PreData,
                "add view \"order_customers\"",
                JOIN_CUSTOMERS,
            ),
        ],
    );

    let out = p.migrator(&["apply"]);
    assert!(!out.ok, "statement 3 must fail");
    for expected in [
        "migration 0001_orders (pre-data) failed on `dest` (PostgreSQL at ",
        "at statement 3 of 3, `add view \"order_customers\"`",
        "relation \"customers\" does not exist",
        "rolled back",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected:?} in {}",
            out.stderr
        );
    }
    let mut db = p.db().await;
    assert!(
        !db.has_table("orders").await && !db.has_table("order_lines").await,
        "earlier statements must roll back"
    );
    let ledger = db.ledger().await;
    assert_eq!(ledger.len(), 1);
    assert!(
        !ledger[0].success && ledger[0].statements_done == 0,
        "{ledger:?}"
    );
    assert!(
        ledger[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("does not exist"),
        "{ledger:?}"
    );
    let out = p.migrator(&["status"]);
    assert!(out.stdout.contains("0001_orders  failed"), "{}", out.stdout);

    // Fix the file (regenerated, so a new checksum): allowed, since nothing of it applied.
    let view = "CREATE VIEW order_customers AS SELECT o.id FROM orders o";
    p.migration(
        "0001_orders",
        &[
            orders,
            lines,
            (Section::PreData, "add view \"order_customers\"", view),
        ],
    );
    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("0001_orders pre-data: 3 statements in "),
        "{}",
        out.stdout
    );
    assert!(db.has_table("order_customers").await);
    let ledger = db.ledger().await;
    assert!(
        ledger[0].success && ledger[0].statements_done == 3 && ledger[0].error.is_none(),
        "{ledger:?}"
    );
}
