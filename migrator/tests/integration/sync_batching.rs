//! Group commit under a backlog: while a destination is slower than the source, the
//! source transactions waiting in the stream are gathered into few destination
//! transactions, whatever else the stream carries between them. The walsender sends a
//! heartbeat each time it has sent all the log written so far, so under a steady load
//! one follows nearly every source transaction; a sync that committed its batch at each
//! heartbeat applied one source transaction per destination transaction exactly when it
//! was behind, and never caught up (issue #15's benchmark: seconds behind at 4,000
//! changes/s).

use crate::convergence::database;
use crate::support::{Db, Engine};
use crate::sync::{Running, project_with, wait_for_count};

/// Source transactions committed one by one while the destination is slow.
const WRITES: i64 = 200;

#[tokio::test]
async fn a_backlog_behind_a_slow_destination_is_applied_in_batches_of_many_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_sync_batching_src",
        Some("CREATE TABLE ticks (id bigint PRIMARY KEY, n integer NOT NULL);"),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_sync_batching_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = project_with(&src, &dst, dir.path(), "").await;
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    // Each destination statement takes at least 20 ms: the destination applies one
    // batch in the time the source commits several transactions.
    dest.execute(
        "CREATE FUNCTION slow_statement() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER slow_statement AFTER INSERT OR UPDATE ON ticks FOR EACH STATEMENT EXECUTE FUNCTION slow_statement();",
    )
    .await;

    let mut running = Running::start(&config, &["--no-copy"], dir.path(), 1);
    running.wait_for_output("streaming");
    for id in 1..=WRITES {
        source
            .execute(&format!("INSERT INTO ticks (id, n) VALUES ({id}, 0)"))
            .await;
    }
    let sql = "SELECT count(*) FROM ticks";
    wait_for_count(&mut dest, &mut running, sql, WRITES, "every source write").await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");

    // Rows written by one destination transaction share its id (`xmin`). Here 2-3
    // destination transactions take all 200 (200 when heartbeats ended batches); half
    // leaves room for a loaded machine, where the source writes slower and the batches
    // gather fewer transactions each.
    let batches = dest
        .count("SELECT count(DISTINCT xmin::text) FROM ticks")
        .await;
    assert!(
        batches * 2 <= WRITES,
        "{WRITES} source transactions took {batches} destination transactions: a backlog was not gathered into batches\n{output}"
    );
    let out = crate::support::run_migrator(&config, &["sync", "drop"]);
    assert!(out.ok, "sync drop: {}", out.stderr);
    dest.close().await;
    source.close().await;
}
