//! A `TRUNCATE` at a PostgreSQL source during sync is carried once the initial copy is
//! done: `TRUNCATE parent, staff CASCADE` empties the child too, and the destination
//! empties them in the stream's order, after the rows written before it in the same
//! transaction and before those written after, whatever foreign keys join them (the
//! child's, enforced there, and `staff`'s reference to itself, which InnoDB checks row
//! by row: deleting its rows in key order fails there). verify is clean after.

use crate::convergence::{database, tag};
use crate::support::{self, Db, Engine};
use crate::sync::{Running, assert_ok, project_with, wait_for_copy, wait_for_count};

async fn truncate_is_carried_into(to: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        &format!("seaway_test_sync_truncate_src_{}", tag(to)),
        Some(
            "CREATE TABLE parent (id bigint PRIMARY KEY, name text NOT NULL);
             CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent (id));
             INSERT INTO parent SELECT i, 'p' || i FROM generate_series(1, 50) AS i;
             INSERT INTO child SELECT i, 1 + i % 50 FROM generate_series(1, 200) AS i;
             CREATE TABLE staff (id bigint PRIMARY KEY, manager_id bigint REFERENCES staff (id));
             INSERT INTO staff VALUES (1, NULL), (2, 1), (3, 2);",
        ),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        to,
        &format!("seaway_test_sync_truncate_dst_{}", tag(to)),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = project_with(&src, &dst, dir.path(), "").await;
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let mut dest = Db::connect(to, &dst).await;
    let mut running = Running::start(&config, &[], dir.path(), 1);
    wait_for_copy(&mut dest, &mut running).await;
    let copied = "SELECT count(*) FROM child";
    wait_for_count(&mut dest, &mut running, copied, 200, "the copied children").await;

    source
        .execute(
            "BEGIN; INSERT INTO parent VALUES (51, 'p51'); TRUNCATE parent, staff CASCADE;
             INSERT INTO parent VALUES (1000, 'after'); INSERT INTO child VALUES (1000, 1000); COMMIT;",
        )
        .await;
    let after = "SELECT count(*) FROM child WHERE id = 1000";
    wait_for_count(&mut dest, &mut running, after, 1, "the child written after").await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(
        dest.count("SELECT count(*) FROM child").await,
        1,
        "{output}"
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM parent").await,
        1,
        "{output}"
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM staff").await,
        0,
        "{output}"
    );
    assert!(
        output.contains("staff: 3 inserted, 0 updated, 0 unchanged, 3 deleted"),
        "{output}"
    );
    assert_ok("verify", &support::run_migrator(&config, &["verify"]));
    assert_ok(
        "sync drop",
        &support::run_migrator(&config, &["sync", "drop"]),
    );
    dest.close().await;
    source.close().await;
}

#[tokio::test]
async fn a_truncate_at_a_postgres_source_is_carried_into_postgres() {
    truncate_is_carried_into(Engine::Postgres).await;
}

#[tokio::test]
async fn a_truncate_at_a_postgres_source_is_carried_into_mariadb() {
    truncate_is_carried_into(Engine::Mysql).await;
}
