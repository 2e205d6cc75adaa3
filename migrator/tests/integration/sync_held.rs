//! A new initial copy into tables that already hold rows (an earlier `transfer`, say)
//! writes the source's rows over theirs but leaves a row the source no longer has, as
//! DBLog's and Debezium's snapshots do: sync says so as the copy begins, naming the
//! tables and the repair that removes such rows, and not again once the copy is done.

use crate::convergence::database;
use crate::support::{Db, Engine};
use crate::sync::{Running, project_with, wait_for_copy};

#[tokio::test]
async fn a_copy_into_tables_that_hold_rows_says_so_and_how_to_remove_extra_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_sync_held_src",
        Some(
            "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
             INSERT INTO items VALUES (1, 'one'), (2, 'two');",
        ),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Sqlite,
        "seaway_test_sync_held_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = project_with(&src, &dst, dir.path(), "").await;
    let mut dest = Db::connect(Engine::Sqlite, &dst).await;
    // A row the source deleted after an earlier copy.
    dest.write("INSERT INTO items VALUES (99, 'deleted at the source')")
        .await;

    let mut running = Running::start(&config, &[], dir.path(), 1);
    wait_for_copy(&mut dest, &mut running).await;
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("note: items already held rows")
            && output.contains("verify --repair --delete-extra"),
        "{output}"
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM items").await,
        3,
        "{output}"
    );

    // Resumed with the copy done: nothing to say.
    let mut running = Running::start(&config, &[], dir.path(), 2);
    running.wait_for_output("streaming");
    let (code, output) = running.stop("TERM");
    assert_eq!(code, Some(0), "{output}");
    assert!(!output.contains("already held rows"), "{output}");
    let out = crate::support::run_migrator(&config, &["sync", "drop"]);
    assert!(out.ok, "sync drop: {}", out.stderr);
    dest.close().await;
}
