//! Shared chunks (`migrator::lease`) on the live servers: workers claiming at once never
//! get the same chunk; a lease that runs out goes to the next claimant with a larger
//! token, and the old holder's progress, completion and destination writes are refused;
//! failures stop a chunk at the third; heartbeats keep a lease and report one lost.

use crate::convergence::database;
use crate::support::Engine;
use seaway_codegen::config::Config;
use seaway_migrator::lease::{Fence, FenceError, Lease, Planned, Queue, QueueError};
use seaway_migrator::rows::write::Writer;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

/// A queue in a fresh PostgreSQL database `name`; `None` when the server is absent.
async fn queue(name: &str, dir: &Path) -> Option<(crate::test_db::TestDb, Queue)> {
    let db = database(Engine::Postgres, name, None, dir).await?;
    let pool = sqlx::PgPool::connect(&db).await.expect("connect store");
    let queue = Queue::open(pool).await.expect("open queue");
    Some((db, queue))
}

/// `per_table` chunks of each table, all of one stage.
fn chunks(tables: &[&str], per_table: i64) -> Vec<Planned> {
    tables
        .iter()
        .flat_map(|t| {
            (0..per_table).map(move |index| Planned {
                table: t.to_string(),
                index,
                stage: 0,
            })
        })
        .collect()
}

#[tokio::test]
async fn concurrent_claims_never_share_a_chunk_and_cover_the_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_db, q)) = queue("seaway_test_lease_claims", dir.path()).await else {
        return;
    };
    let planned = chunks(&["a", "b"], 50);
    assert!(q.plan("job1", "{}", &planned).await.expect("plan"));
    // Planned again (a second planner): joins, changes nothing.
    assert!(!q.plan("job1", "{}", &planned).await.expect("plan again"));
    // Four workers claim three at a time, at once, until nothing is left.
    let claimers = (0..4).map(|w| {
        let q = q.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let leases = q
                    .claim(&format!("w{w}"), Some("job1"), 3, LONG)
                    .await
                    .expect("claim");
                if leases.is_empty() {
                    return got;
                }
                got.extend(leases);
            }
        })
    });
    let mut all: Vec<Lease> = Vec::new();
    for c in claimers {
        all.extend(c.await.expect("claimer"));
    }
    let keys: BTreeSet<(String, i64)> = all.iter().map(|l| (l.table.clone(), l.index)).collect();
    assert_eq!(all.len(), planned.len(), "every chunk claimed exactly once");
    assert_eq!(
        keys,
        planned.into_iter().map(|c| (c.table, c.index)).collect()
    );
    let tokens: BTreeSet<i64> = all.iter().map(|l| l.token).collect();
    assert_eq!(tokens.len(), all.len(), "tokens are unique");
    let depth = q.depth("job1").await.expect("depth");
    assert_eq!((depth.pending, depth.running), (0, 100));
    q.forget("job1").await.expect("forget");
}

#[tokio::test]
async fn an_expired_lease_moves_to_a_new_holder_and_the_old_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_db, q)) = queue("seaway_test_lease_expiry", dir.path()).await else {
        return;
    };
    q.plan("job2", "{}", &chunks(&["t"], 1))
        .await
        .expect("plan");
    q.register("old", "host-a", 1, 1).await.expect("register");
    q.register("new", "host-b", 2, 1).await.expect("register");
    // A lease of zero has run out as soon as it is taken.
    let old = q
        .claim("old", None, 1, Duration::ZERO)
        .await
        .expect("claim")
        .pop()
        .expect("a chunk");
    q.progress(&old, "[\"100\"]", 100).await.expect("progress");
    let new = q
        .claim("new", None, 1, LONG)
        .await
        .expect("claim")
        .pop()
        .expect("the expired chunk");
    assert_eq!((new.table.as_str(), new.index), ("t", 0));
    assert!(new.token > old.token, "the token grows");
    assert_eq!(new.claims, 2);
    assert_eq!(
        (new.last_key.as_deref(), new.rows),
        (Some("[\"100\"]"), 100),
        "the new holder continues where the old one got to"
    );
    // The old holder finds out at its next heartbeat, progress or completion.
    let lost = q
        .heartbeat("old", std::slice::from_ref(&old), LONG)
        .await
        .expect("hb");
    assert_eq!(lost, vec![old.clone()]);
    assert!(matches!(
        q.progress(&old, "[\"200\"]", 200).await,
        Err(QueueError::Lost { .. })
    ));
    assert!(matches!(
        q.complete("old", &old, 200).await,
        Err(QueueError::Lost { .. })
    ));
    assert!(
        q.heartbeat("new", std::slice::from_ref(&new), LONG)
            .await
            .expect("hb")
            .is_empty()
    );
    q.complete("new", &new, 150).await.expect("complete");
    let depth = q.depth("job2").await.expect("depth");
    assert_eq!((depth.done, depth.rows), (1, 150), "the chunk's rows once");
    let workers = q.workers().await.expect("workers");
    let rows: Vec<(&str, i64, i64)> = workers
        .iter()
        .map(|w| (w.id.as_str(), w.chunks_done, w.rows))
        .collect();
    assert_eq!(rows, vec![("old", 0, 0), ("new", 1, 50)]);
    q.deregister("old").await.expect("deregister");
    assert_eq!(q.workers().await.expect("workers").len(), 1);
    q.forget("job2").await.expect("forget");
}

#[tokio::test]
async fn a_stage_is_claimed_only_once_the_stages_before_it_are_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_db, q)) = queue("seaway_test_lease_stages", dir.path()).await else {
        return;
    };
    let planned = vec![
        Planned {
            table: "parent".into(),
            index: 0,
            stage: 0,
        },
        Planned {
            table: "parent".into(),
            index: 1,
            stage: 0,
        },
        Planned {
            table: "child".into(),
            index: 0,
            stage: 1,
        },
    ];
    q.plan("job4", "{}", &planned).await.expect("plan");
    let first = q.claim("w", None, 5, LONG).await.expect("claim");
    let tables: Vec<&str> = first.iter().map(|l| l.table.as_str()).collect();
    assert_eq!(tables, vec!["parent", "parent"], "the child waits");
    q.complete("w", &first[0], 1).await.expect("complete");
    assert!(
        q.claim("w", None, 5, LONG).await.expect("claim").is_empty(),
        "one parent chunk still runs"
    );
    q.complete("w", &first[1], 1).await.expect("complete");
    let child = q.claim("w", None, 5, LONG).await.expect("claim");
    assert_eq!(child.len(), 1);
    assert_eq!(child[0].table, "child");
    q.forget("job4").await.expect("forget");
}

#[tokio::test]
async fn a_chunk_fails_at_its_third_failure_and_can_be_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_db, q)) = queue("seaway_test_lease_failures", dir.path()).await else {
        return;
    };
    q.plan("job3", "{\"kind\":\"transfer\"}", &chunks(&["t"], 1))
        .await
        .expect("plan");
    assert_eq!(
        q.spec("job3").await.expect("spec").as_deref(),
        Some("{\"kind\":\"transfer\"}")
    );
    for attempt in 1..=3 {
        let lease = q
            .claim("w", None, 1, LONG)
            .await
            .expect("claim")
            .pop()
            .unwrap_or_else(|| panic!("attempt {attempt}: the chunk is claimable"));
        let failed = q
            .fail(&lease, &format!("boom {attempt}"))
            .await
            .expect("fail");
        assert_eq!(failed, attempt == 3, "attempt {attempt}");
    }
    assert!(q.claim("w", None, 1, LONG).await.expect("claim").is_empty());
    assert_eq!(
        q.failures("job3").await.expect("failures"),
        vec![("t".to_string(), 0, "boom 3".to_string())]
    );
    assert!(q.retry("job3", "t", 0).await.expect("retry"));
    assert!(!q.retry("job3", "t", 0).await.expect("retry twice"));
    let again = q.claim("w", None, 1, LONG).await.expect("claim");
    assert_eq!(again.len(), 1);
    // A graceful stop gives the chunk back without counting a failure.
    q.release(&again[0]).await.expect("release");
    assert_eq!(q.depth("job3").await.expect("depth").pending, 1);
    q.forget("job3").await.expect("forget");
}

/// The destination's fence on `engine`: a page under an old token is refused once a
/// newer one wrote, in the same transaction as its rows, which are rolled back.
async fn fence_refuses_a_superseded_page(engine: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(dst) = database(
        engine,
        &format!(
            "seaway_test_lease_fence_{}",
            crate::convergence::tag(engine)
        ),
        Some("CREATE TABLE rows_written (id INTEGER PRIMARY KEY, v VARCHAR(20))"),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{}\" }}\n  dst: {{ url: \"{}\" }}\nsource: src\ndestination: dst\n",
            *dst, *dst
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let conn = config.destination_connection("fence").expect("destination");
    let writer = Writer::open(conn).await.expect("writer");
    let fence = Fence::ensure(&writer).await.expect("fence");
    Fence::ensure(&writer).await.expect("fence twice");
    let lease = |token: i64| Lease {
        job: "job".into(),
        table: "rows_written".into(),
        index: 7,
        token,
        last_key: None,
        rows: 0,
        claims: 1,
    };
    let page = async |token: i64, v: &str| -> Result<(), FenceError> {
        fence
            .open_chunk(&writer, &lease(token))
            .await
            .expect("open chunk");
        let mut tx = writer.begin().await.expect("begin");
        if let Err(e) = fence.admit(&mut tx, &lease(token)).await {
            tx.rollback().await.expect("rollback");
            return Err(e);
        }
        tx.execute(&format!("DELETE FROM rows_written WHERE id = {token}"), &[])
            .await
            .expect("delete");
        tx.execute(
            &format!("INSERT INTO rows_written (id, v) VALUES ({token}, '{v}')"),
            &[],
        )
        .await
        .expect("insert");
        tx.commit().await.expect("commit");
        Ok(())
    };
    page(5, "first").await.expect("token 5 writes");
    page(5, "again")
        .await
        .expect("the same holder writes again");
    page(9, "newer").await.expect("a newer token writes");
    let refused = page(6, "stale").await;
    assert!(
        matches!(refused, Err(FenceError::Superseded { token: 6, .. })),
        "{refused:?}"
    );
    let mut db = crate::support::Db::connect(engine, &dst).await;
    assert_eq!(
        db.count("SELECT count(*) FROM rows_written WHERE id = 6")
            .await,
        0,
        "the stale page wrote nothing"
    );
    assert_eq!(db.count("SELECT count(*) FROM rows_written").await, 2);
    assert_eq!(
        db.count("SELECT token FROM seaway_fence WHERE idx = 7")
            .await,
        9
    );
    fence.close(&writer, "job").await.expect("close");
    assert!(
        matches!(page(10, "late").await, Err(FenceError::Superseded { .. })),
        "a closed job refuses every holder"
    );
    db.close().await;
    writer.close().await;
}

#[tokio::test]
async fn fence_refuses_a_superseded_page_in_postgres() {
    fence_refuses_a_superseded_page(Engine::Postgres).await;
}

#[tokio::test]
async fn fence_refuses_a_superseded_page_in_mariadb() {
    fence_refuses_a_superseded_page(Engine::Mysql).await;
}

#[tokio::test]
async fn fence_refuses_a_superseded_page_in_sqlite() {
    fence_refuses_a_superseded_page(Engine::Sqlite).await;
}
