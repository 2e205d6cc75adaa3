//! Plain `migrator transfer` runs on a PostgreSQL state store: each run is a job of the
//! work queue, worked in process. Two runs of one transfer started at once make one job,
//! the second joins it as a worker and says so, and the destination ends equal to the
//! source with every chunk's rows counted once and every page written once (the
//! destination's fence rows). Into MariaDB, leased pages go by `LOAD DATA` in the fenced
//! transaction while the chunk's rest is empty, by the upsert where the destination
//! already holds rows, and a row the destination refuses is still halved down to and
//! rejected alone.

use crate::convergence::database;
use crate::support::{self, Db, Engine};
use crate::workers::{Proc, apply, until, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plain_runs_at_once_share_one_job_and_write_each_page_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = 60_000;
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_shared_src",
        Some(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL);
             INSERT INTO items SELECT i, 'item ' || i, i % 97 FROM generate_series(1, {rows}) AS i;"
        )),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(Engine::Postgres, "seaway_test_shared_dst", None, dir.path()).await
    else {
        return;
    };
    let Some(store) = database(
        Engine::Postgres,
        "seaway_test_shared_store",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let a_config = write_config(&a_dir, &src, &dst, &store);
    write_config(&b_dir, &src, &dst, &store);
    apply(&a_config).await;
    // Both runs plan while the test holds the source table: one waits on it (reading
    // the key range), the other on the pair's planning lock in the store. So they
    // start planning at once, and the one that plans second finds the first's job.
    let mut lock = Db::connect(Engine::Postgres, &src).await;
    lock.execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .await;
    let args = ["transfer", "--page-size", "2000", "--chunk-size", "5000"];
    let a = Proc::start(&a_dir, &args);
    let b = Proc::start(&b_dir, &args);
    let mut watch_src = Db::connect(Engine::Postgres, &src).await;
    let mut watch_store = Db::connect(Engine::Postgres, &store).await;
    until("one run reads the key range, the other waits to plan", async || {
        watch_src
            .count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%\"items\"%'")
            .await
            >= 1
            && watch_store
                .count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'")
                .await
                == 1
    })
    .await;
    lock.execute("COMMIT").await;
    let (a_code, a_said) = a.wait().await;
    let (b_code, b_said) = b.wait().await;
    assert_eq!(a_code, Some(0), "{a_said}");
    assert_eq!(b_code, Some(0), "{b_said}");
    let joined = [&a_said, &b_said]
        .iter()
        .filter(|s| s.contains("joined job `transfer-"))
        .count();
    assert_eq!(
        joined, 1,
        "exactly one run joins the other's job:\n--- a:\n{a_said}\n--- b:\n{b_said}"
    );
    for said in [&a_said, &b_said] {
        assert!(
            said.contains(&format!("transferred {rows} rows")),
            "each run reports the job's totals:\n{said}"
        );
    }
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let digest = "SELECT md5(string_agg(id::text || '|' || name || '|' || qty::text, ',' ORDER BY id)) FROM items";
    assert_eq!(dest.text(digest).await, source.text(digest).await);
    assert_eq!(
        dest.count("SELECT sum(rows_held)::bigint FROM seaway_fence")
            .await,
        rows,
        "the chunks hold every row once"
    );
    // Every page of every chunk was committed once: a chunk of n rows took ceil(n /
    // 2000) pages, whichever run wrote them.
    assert_eq!(
        dest.count("SELECT count(*) FROM seaway_fence WHERE pages <> (rows_held + 1999) / 2000")
            .await,
        0,
        "a page was written twice"
    );
    assert_eq!(
        dest.count("SELECT count(DISTINCT job) FROM seaway_fence")
            .await,
        1,
        "one job"
    );
    let mut st = Db::connect(Engine::Postgres, &store).await;
    assert_eq!(
        st.count("SELECT count(*) FROM seaway_transfer_runs").await,
        1,
        "one run"
    );
    for db in [lock, watch_src, watch_store, dest, source, st] {
        db.close().await;
    }
}

#[tokio::test]
async fn leased_pages_load_data_into_mariadb_upsert_where_rows_are_and_reject_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = 20_000;
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_shared_my_src",
        Some(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL);
             INSERT INTO items SELECT i, 'item ' || i, i FROM generate_series(1, {rows}) AS i;"
        )),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(Engine::Mysql, "seaway_test_shared_my_dst", None, dir.path()).await
    else {
        return;
    };
    let Some(store) = database(
        Engine::Postgres,
        "seaway_test_shared_my_store",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = write_config(dir.path(), &src, &dst, &store);
    apply(&config).await;
    let mut dest = Db::connect(Engine::Mysql, &dst).await;
    // Row 777 is refused by the destination (LOAD DATA would skip it with a warning);
    // keys 15001..16000 are there already, with other values.
    dest.execute("ALTER TABLE items ADD CONSTRAINT not_777 CHECK (qty <> 777)")
        .await;
    dest.execute(
        "INSERT INTO items (id, name, qty) SELECT seq, 'stale', 0 FROM seq_15001_to_16000",
    )
    .await;
    let out = support::run_migrator(
        &config,
        &["transfer", "--page-size", "1000", "--chunk-size", "5000"],
    );
    assert!(!out.ok, "a rejected row fails the run's exit code");
    assert!(
        out.stdout
            .contains(&format!("transferred {} rows", rows - 1))
            && out.stdout.contains("1 rejected"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM items WHERE name = CONCAT('item ', id) AND qty = id")
            .await,
        rows - 1,
        "every row but the refused one, with the source's values"
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM items WHERE id = 777")
            .await,
        0
    );
    assert_eq!(
        dest.count("SELECT CAST(SUM(rows_held) AS SIGNED) FROM seaway_fence")
            .await,
        rows - 1
    );
    assert_eq!(
        dest.count("SELECT CAST(SUM(rejected) AS SIGNED) FROM seaway_fence")
            .await,
        1
    );
    let rejects = std::fs::read_to_string(dir.path().join(".seaway/rejects/items.jsonl"))
        .expect("the reject file");
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    assert!(rejects.contains("777"), "{rejects}");
    dest.close().await;
}

/// `transfer --distributed` refuses an append-only table in one paragraph naming the
/// table, why, and the fix; the same config run plainly on the PostgreSQL store is not
/// shared and copies it as a single process always has.
#[tokio::test]
async fn an_append_only_table_is_refused_by_distributed_and_copied_by_a_plain_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_shared_log_src",
        Some(
            "CREATE TABLE events (at integer NOT NULL, what text);
             INSERT INTO events SELECT i, 'event ' || i FROM generate_series(1, 300) AS i;",
        ),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_shared_log_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(store) = database(
        Engine::Postgres,
        "seaway_test_shared_log_store",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = write_config(dir.path(), &src, &dst, &store);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!("{text}mappings:\n  events:\n    append_only: true\n"),
    )
    .expect("config");
    apply(&config).await;
    let refused = support::run_migrator(&config, &["transfer", "--distributed"]);
    assert!(!refused.ok, "{}", refused.stdout);
    let message = refused.stderr.trim();
    assert!(
        message.contains("table `events` is copied append-only")
            && message.contains("run this config without --distributed")
            && message.lines().count() == 1,
        "one paragraph naming the table and the fix:\n{message}"
    );
    let plain = support::run_migrator(&config, &["transfer"]);
    assert!(plain.ok, "{}\n{}", plain.stdout, plain.stderr);
    assert!(
        !plain.stdout.contains("job `"),
        "not run as a job:\n{}",
        plain.stdout
    );
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    assert_eq!(dest.count("SELECT count(*) FROM events").await, 300);
    dest.close().await;
}
