//! Row fidelity on schemas no one here wrote (fixtures/rows): a key of 0 in an
//! auto-numbered column arrives as 0 (MySQL without `NO_AUTO_VALUE_ON_ZERO` renumbered
//! it), a re-transfer of unchanged rows writes nothing (an UPDATE trigger in the
//! destination counts the writes; the summary's counts agree), repair restores key 0,
//! and a row too large for MySQL's `max_allowed_packet` is rejected with the setting
//! named while a large one that fits arrives whole.
//!
//! Every database here is named `seaway_test_x_*`.

use crate::convergence::{ENGINES, database, tag};
use crate::support::{Db, Engine};
use crate::transfer_faults::{migrator, project, rejects};
use std::path::Path;

fn fixture(engine: Engine) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/rows")
        .join(format!("{}.sql", tag(engine)));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a `--report` says the destination did: (rows, inserted, updated, unchanged).
fn counts(report: &Path) -> (u64, u64, u64, u64) {
    let text = std::fs::read_to_string(report).expect("report");
    let json: serde_json::Value = serde_json::from_str(&text).expect("report JSON");
    let n = |k: &str| {
        json[k]
            .as_u64()
            .unwrap_or_else(|| panic!("report has `{k}`: {text}"))
    };
    (n("rows"), n("inserted"), n("updated"), n("unchanged"))
}

/// Statements that make `item` count its UPDATEs (and INSERTs) into `seaway_writes`.
fn write_counter(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => {
            "CREATE TABLE seaway_writes (kind text NOT NULL);
             CREATE FUNCTION seaway_count_write() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO seaway_writes VALUES (TG_OP); RETURN NEW; END $$;
             CREATE TRIGGER item_updates AFTER UPDATE ON item FOR EACH ROW EXECUTE FUNCTION seaway_count_write();
             CREATE TRIGGER item_inserts AFTER INSERT ON item FOR EACH ROW EXECUTE FUNCTION seaway_count_write();"
        }
        Engine::Mysql => {
            "CREATE TABLE seaway_writes (kind varchar(10) NOT NULL);
             CREATE TRIGGER item_updates AFTER UPDATE ON item FOR EACH ROW INSERT INTO seaway_writes VALUES ('UPDATE');
             CREATE TRIGGER item_inserts AFTER INSERT ON item FOR EACH ROW INSERT INTO seaway_writes VALUES ('INSERT');"
        }
        Engine::Sqlite => {
            "CREATE TABLE seaway_writes (kind TEXT NOT NULL);
             CREATE TRIGGER item_updates AFTER UPDATE ON item BEGIN INSERT INTO seaway_writes VALUES ('UPDATE'); END;
             CREATE TRIGGER item_inserts AFTER INSERT ON item BEGIN INSERT INTO seaway_writes VALUES ('INSERT'); END;"
        }
    }
}

/// The (INSERT, UPDATE) trigger counts since the last call, which clears them.
async fn writes(db: &mut Db) -> (i64, i64) {
    let count = |kind: &str| format!("SELECT count(*) FROM seaway_writes WHERE kind = '{kind}'");
    let inserts = db.count(&count("INSERT")).await;
    let updates = db.count(&count("UPDATE")).await;
    db.execute("DELETE FROM seaway_writes").await;
    (inserts, updates)
}

/// Runs `migrator transfer --report` and returns its counts, asserting success.
fn transfer(config: &Path, pair: &str, step: &str) -> (u64, u64, u64, u64) {
    let report = config.with_file_name(format!("report-{step}.json"));
    let run = migrator(
        config,
        &["transfer", "--report", report.to_str().expect("utf-8 path")],
    );
    assert_eq!(run.code, Some(0), "{pair}: transfer {step}:\n{}", run.all());
    counts(&report)
}

/// In every pair: key 0 arrives as 0; a second transfer of unchanged rows writes none
/// (no UPDATE or INSERT trigger fires) and says so; a change in the source is written
/// as exactly that change; `verify --repair` restores a deleted key 0 and a changed
/// row, and the next verify is clean.
#[tokio::test]
async fn key_zero_and_unchanged_rows_transfer_exactly_in_all_nine_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for src in ENGINES {
        for dst in ENGINES {
            let pair = format!("{} -> {}", tag(src), tag(dst));
            let Some(src_url) = database(
                src,
                &format!("seaway_test_x_src_{}", tag(src)),
                Some(&fixture(src)),
                dir.path(),
            )
            .await
            else {
                return;
            };
            let name = format!("seaway_test_x_{}_to_{}", tag(src), tag(dst));
            let Some(dst_url) = database(dst, &name, None, dir.path()).await else {
                return;
            };
            let (project_dir, config) = project(&src_url, &dst_url).await;
            let mut db = Db::connect(dst, &dst_url).await;
            db.execute(write_counter(dst)).await;

            // 1. First load: 500 rows inserted, key 0 among them, as 0.
            let (rows, inserted, updated, unchanged) = transfer(&config, &pair, "first");
            assert_eq!(
                (rows, inserted, updated, unchanged),
                (500, 500, 0, 0),
                "{pair}: first load"
            );
            assert_eq!(db.count("SELECT count(*) FROM item").await, 500, "{pair}");
            assert_eq!(
                db.count("SELECT count(*) FROM item WHERE id = 0").await,
                1,
                "{pair}: key 0 is in the destination"
            );
            assert_eq!(
                db.text("SELECT name FROM item WHERE id = 0")
                    .await
                    .as_deref(),
                Some("item 0 Ünïcödé"),
                "{pair}: key 0 arrived as 0"
            );
            assert_eq!(
                db.count("SELECT count(*) FROM item WHERE id BETWEEN 0 AND 499")
                    .await,
                500,
                "{pair}: no key renumbered"
            );
            assert_eq!(writes(&mut db).await, (500, 0), "{pair}: trigger counts");

            // 2. Nothing changed: nothing written, and the summary says so.
            let second = transfer(&config, &pair, "second");
            assert_eq!(second, (500, 0, 0, 500), "{pair}: second transfer");
            assert_eq!(
                writes(&mut db).await,
                (0, 0),
                "{pair}: unchanged rows written (INSERT, UPDATE triggers fired)"
            );

            // 3. Three rows changed (one only in case), two added: exactly those written.
            let mut source = Db::connect(src, &src_url).await;
            source
                .execute(
                    "UPDATE item SET name = 'item 3 changed' WHERE id = 3;
                     UPDATE item SET note = 'CASE 4' WHERE id = 4;
                     UPDATE item SET price = 99.99 WHERE id = 0;
                     INSERT INTO item (id, name) VALUES (500, 'new 500'), (501, 'new 501');",
                )
                .await;
            let third = transfer(&config, &pair, "third");
            assert_eq!(third, (502, 2, 3, 497), "{pair}: re-sync of a few changes");
            assert_eq!(writes(&mut db).await, (2, 3), "{pair}: trigger counts");
            assert_eq!(
                db.text("SELECT note FROM item WHERE id = 4")
                    .await
                    .as_deref(),
                Some("CASE 4"),
                "{pair}: a case-only change is a change"
            );

            // 4. Key 0 deleted and a row changed in the destination: repair restores both.
            db.execute("DELETE FROM item WHERE id = 0; UPDATE item SET name = 'x' WHERE id = 1")
                .await;
            let repair = migrator(&config, &["verify", "--repair"]);
            assert_eq!(
                repair.code,
                Some(1),
                "{pair}: verify finds the two:\n{}",
                repair.all()
            );
            let again = migrator(&config, &["verify"]);
            assert_eq!(
                again.code,
                Some(0),
                "{pair}: verify after repair:\n{}",
                again.all()
            );
            assert_eq!(db.count("SELECT count(*) FROM item").await, 502, "{pair}");
            assert_eq!(
                db.count("SELECT count(*) FROM item WHERE id = 0").await,
                1,
                "{pair}: key 0 repaired as 0"
            );
            db.close().await;
            source.close().await;
            drop(project_dir);
        }
    }
}

/// Into MySQL, bytes travel as binary: a row of about 70% of `max_allowed_packet` (which
/// as hex text was past the limit, and the server dropped the connection) arrives whole;
/// a row above the limit is rejected with a reason naming the setting, its value and
/// the row's size, and the driver's pool warnings do not reach stderr.
#[tokio::test]
async fn rows_near_and_over_max_allowed_packet_into_mysql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(dst_url) = database(Engine::Mysql, "seaway_test_x_big_my", None, dir.path()).await
    else {
        return;
    };
    let mut probe = Db::connect(Engine::Mysql, &dst_url).await;
    let limit = probe
        .count("SELECT CAST(@@max_allowed_packet AS SIGNED)")
        .await;
    probe.close().await;
    assert!(
        limit <= 256 << 20,
        "max_allowed_packet is {limit}: too large for this test's rows"
    );
    let fits = limit * 7 / 10;
    let over = limit + (1 << 20);
    let sql = format!(
        "CREATE TABLE blob_row (id integer PRIMARY KEY, payload bytea NOT NULL);
         INSERT INTO blob_row VALUES (1, convert_to(repeat('a', {fits}), 'UTF8')),
                                     (2, convert_to(repeat('b', {over}), 'UTF8')),
                                     (3, '\\x00ff');"
    );
    let Some(src_url) = database(
        Engine::Postgres,
        "seaway_test_x_big_pg",
        Some(&sql),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (_project_dir, config) = project(&src_url, &dst_url).await;
    let run = migrator(&config, &["transfer"]);
    assert_eq!(run.code, Some(1), "one row rejected:\n{}", run.all());
    let (_, lines) = rejects(&config, "blob_row");
    assert_eq!(lines.len(), 1, "exactly the oversized row: {lines:?}");
    assert_eq!(lines[0]["key"][0], "2", "{lines:?}");
    let reason = lines[0]["reason"].as_str().unwrap_or_default();
    for needle in [
        "max_allowed_packet".to_string(),
        format!("max_allowed_packet = {limit} bytes"),
        // The row: its payload and its key's one digit.
        format!("the row is {} bytes", over + 1),
        "127.0.0.1:3306".to_string(),
    ] {
        assert!(reason.contains(&needle), "reason names {needle}: {reason}");
    }
    assert!(
        !run.stderr.contains('\u{1b}'),
        "colour codes on a non-terminal stderr:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("on-release") && !run.stderr.contains("WARN"),
        "driver warnings on stderr:\n{}",
        run.stderr
    );
    let mut db = Db::connect(Engine::Mysql, &dst_url).await;
    assert_eq!(
        db.count("SELECT CAST(length(payload) AS SIGNED) FROM blob_row WHERE id = 1")
            .await,
        fits,
        "the large row that fits arrived whole"
    );
    assert_eq!(
        db.text("SELECT hex(payload) FROM blob_row WHERE id = 3")
            .await
            .as_deref(),
        Some("00FF")
    );
    db.close().await;
}

/// Every MySQL session seaway opens has exactly seaway's `sql_mode`, not the server's
/// with additions: the server here runs `STRICT_TRANS_TABLES`, `ERROR_FOR_DIVISION_BY_ZERO`
/// and more, none of which may survive, and `NO_AUTO_VALUE_ON_ZERO` must be there.
#[tokio::test]
async fn mysql_sessions_replace_the_servers_sql_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(url) = database(Engine::Mysql, "seaway_test_x_mode_my", None, dir.path()).await else {
        return;
    };
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!("connections:\n  db: {{ url: \"{url}\" }}\nsource: db\n"),
    )
    .expect("config");
    let config = seaway_codegen::config::Config::load(&config_path).expect("config");
    let pool = seaway_codegen::inspect::connect::mysql(&config.connections["db"])
        .await
        .expect("connect");
    // More connections than one: each must get the mode, not only the first.
    let mut modes = Vec::new();
    let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| pool.acquire())).await;
    for conn in held {
        let mut conn = conn.expect("acquire");
        let mode: String = sqlx::query_scalar("SELECT @@SESSION.sql_mode")
            .fetch_one(&mut *conn)
            .await
            .expect("sql_mode");
        modes.push(mode);
    }
    let global: String = sqlx::query_scalar("SELECT @@GLOBAL.sql_mode")
        .fetch_one(&pool)
        .await
        .expect("global sql_mode");
    pool.close().await;
    for mode in modes {
        assert_eq!(
            mode,
            seaway_codegen::inspect::connect::MYSQL_SQL_MODE,
            "session sql_mode (server's global: {global})"
        );
    }
}

/// The schema fidelity fixture (fixtures/fidelity: per-table index names, foreign keys
/// MySQL refuses as written, auto-numbered keys) also carries its rows in every pair:
/// the adapted schema takes them, and verify finds them identical.
#[tokio::test]
async fn schema_fidelity_fixture_transfers_and_verifies_in_all_nine_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for src in ENGINES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/fidelity")
            .join(format!("{}.sql", tag(src)));
        let sql = std::fs::read_to_string(&path).expect("fixture");
        for dst in ENGINES {
            let pair = format!("{} -> {}", tag(src), tag(dst));
            let Some(src_url) = database(
                src,
                &format!("seaway_test_x_fsrc_{}", tag(src)),
                Some(&sql),
                dir.path(),
            )
            .await
            else {
                return;
            };
            let name = format!("seaway_test_x_f_{}_to_{}", tag(src), tag(dst));
            let Some(dst_url) = database(dst, &name, None, dir.path()).await else {
                return;
            };
            let (_project_dir, config) = project(&src_url, &dst_url).await;
            let run = migrator(&config, &["transfer"]);
            assert_eq!(run.code, Some(0), "{pair}: transfer:\n{}", run.all());
            let run = migrator(&config, &["verify"]);
            assert_eq!(run.code, Some(0), "{pair}: verify:\n{}", run.all());
        }
    }
}
