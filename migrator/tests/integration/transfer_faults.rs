//! Transfer under faults: a run killed (SIGKILL) again and again resumes to exactly the
//! source's rows; rows the destination refuses go to the reject file while the rest load,
//! or stop the run under `--on-error stop` and resume once fixed; `--report` JSON.
//!
//! Every database here is named `seaway_test_f_*`. Destination tables are made the way a user
//! makes them: `diff` (the library) writes the migration, `migrator apply` applies it.

use crate::convergence::database;
use crate::support::{self, Db, Engine};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One `migrator` run: its exit code and what it printed.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("--- stdout:\n{}\n--- stderr:\n{}", self.stdout, self.stderr)
    }
}

pub fn migrator(config: &Path, args: &[&str]) -> Run {
    let out = assert_cmd::Command::cargo_bin("migrator")
        .expect("migrator binary")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SEAWAY_CONFIG")
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run migrator");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// A project folder whose `seaway.yaml` copies `src` into `dst`, with the destination's
/// tables created by `diff` + `migrator apply`. Returns the folder and the config path.
pub async fn project(src: &str, dst: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("project dir");
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n"
        ),
    )
    .expect("write config");
    let config = Config::load(&config_path).expect("config");
    let outcome = diff::run(&config).await.expect("diff");
    assert!(
        !outcome.files.is_empty(),
        "diff wrote no migration for an empty destination"
    );
    seaway_codegen::snapshot_io::write_all(&outcome.files).expect("write migration");
    let applied = support::run_migrator(&config_path, &["apply"]);
    assert!(
        applied.ok,
        "apply failed:\n{}\n{}",
        applied.stdout, applied.stderr
    );
    (dir, config_path)
}

/// `migrator transfer --page-size 100 --report ...`: the run and its report.
fn transfer_in_pages_of_100(config: &Path) -> (Run, serde_json::Value) {
    let path = config.with_file_name("report.json");
    let run = migrator(
        config,
        &[
            "transfer",
            "--page-size",
            "100",
            "--report",
            path.to_str().expect("utf-8 path"),
        ],
    );
    let report = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    (run, report)
}

/// Every value of a one-column query, as text.
async fn texts(db: &mut Db, sql: &str) -> Vec<String> {
    let sql = || sqlx::AssertSqlSafe(sql.to_string());
    match db {
        Db::Pg(c) => sqlx::query_scalar::<_, String>(sql()).fetch_all(c).await,
        Db::My(c) => sqlx::query_scalar::<_, String>(sql()).fetch_all(c).await,
        Db::Lite(c) => sqlx::query_scalar::<_, String>(sql()).fetch_all(c).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}", sql = sql().0))
}

/// The first place two row lists differ, for a readable failure.
pub fn first_difference(want: &[String], have: &[String]) -> String {
    for (i, (w, h)) in want.iter().zip(have).enumerate() {
        if w != h {
            return format!("row #{i}: source {w:?}, destination {h:?}");
        }
    }
    format!("source has {} rows, destination {}", want.len(), have.len())
}

/// The rows of `.seaway/rejects/<table>.jsonl` beside `config`, parsed; empty if absent.
pub fn rejects(config: &Path, table: &str) -> (String, Vec<serde_json::Value>) {
    let path = config
        .parent()
        .expect("config dir")
        .join(".seaway/rejects")
        .join(format!("{table}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let rows = text
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {l}", path.display()))
        })
        .collect();
    (text, rows)
}

/// Rejected keys (single integer key) and their reasons, checking each line's shape.
fn rejected_keys(lines: &[serde_json::Value], table: &str) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for line in lines {
        assert_eq!(line["table"], table, "reject line names its table: {line}");
        let key = line["key"]
            .as_array()
            .unwrap_or_else(|| panic!("reject line has a key array: {line}"));
        assert_eq!(key.len(), 1, "one key column: {line}");
        let id: i64 = key[0]
            .as_str()
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("key is the integer's text: {line}"));
        let reason = line["reason"].as_str().unwrap_or_default().to_string();
        assert!(
            !reason.trim().is_empty(),
            "reject line has a reason: {line}"
        );
        assert!(
            out.insert(id, reason).is_none(),
            "key {id} rejected twice in one run"
        );
    }
    out
}

/// No connection URL (hence no password) and, if given, not the password itself.
fn assert_no_secrets(what: &str, text: &str, password: Option<&str>) {
    for scheme in [
        "postgres://",
        "postgresql://",
        "mysql://",
        "mariadb://",
        "sqlite://",
    ] {
        assert!(!text.contains(scheme), "{what} contains a URL:\n{text}");
    }
    if let Some(p) = password {
        assert!(!text.contains(p), "{what} contains the password:\n{text}");
    }
}

const SECRET: &str = "Sw0rdf1sh-seaway-f-7731";

/// `url` with a password: its own, or (when it has none and the server does not ask for
/// one, e.g. `trust`) [`SECRET`], so the test can check the password is never printed.
pub async fn with_password(engine: Engine, url: &str) -> (String, Option<String>) {
    if let Some(p) = support::password_of(url) {
        return (url.to_string(), Some(p.to_string()));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let Some((user, host)) = rest.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let candidate = format!("{scheme}://{}:{SECRET}@{host}", user.trim_end_matches(':'));
    let accepted = match engine {
        Engine::Postgres => {
            use sqlx::Connection;
            sqlx::PgConnection::connect(&candidate).await.is_ok()
        }
        _ => false,
    };
    if accepted {
        (candidate, Some(SECRET.to_string()))
    } else {
        eprintln!("note: the server refuses a made-up password; checking for URLs only");
        (url.to_string(), None)
    }
}

// ---------------------------------------------------------------------------------------
// 1. SIGKILL mid-run, again and again, then finish: exactly the source rows.
// ---------------------------------------------------------------------------------------

pub const BIG_ROWS: i64 = 200_000;

/// 200,000 rows, ids 2, 4, ... 400,000 (so four 100,000-key chunks of 50,000 rows), with
/// NULLs, COPY-hostile text (tab, newline, backslash, quote) and non-ASCII.
pub const BIG_POSTGRES: &str = r#"
CREATE TABLE big (
    id bigint PRIMARY KEY,
    n integer NOT NULL,
    amount numeric(12,2),
    label varchar(60),
    at timestamptz,
    flag boolean
);
INSERT INTO big
SELECT g * 2,
       (g * 7919) % 1000003 - 500000,
       CASE WHEN g % 97 = 0 THEN NULL ELSE ((g * 137) % 10000000) / 100.0 END,
       CASE WHEN g % 101 = 0 THEN NULL
            WHEN g % 1000 = 0 THEN E'tab\there nl\nback\\slash "q" \u00fcn\u00ef \u2713 ' || g
            ELSE 'row ' || g END,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '37.123457 seconds',
       CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END
FROM generate_series(1::bigint, 200000::bigint) AS g;
"#;

pub const BIG_SQLITE: &str = r#"
CREATE TABLE big (
    id INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    amount NUMERIC(12,2),
    label VARCHAR(60),
    at DATETIME,
    flag BOOLEAN
);
WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 200000)
INSERT INTO big
SELECT g * 2,
       (g * 7919) % 1000003 - 500000,
       CASE WHEN g % 97 = 0 THEN NULL ELSE ((g * 137) % 10000000) / 100.0 END,
       CASE WHEN g % 101 = 0 THEN NULL
            WHEN g % 1000 = 0 THEN 'tab' || char(9) || 'here nl' || char(10) || 'back\slash "q" ünï ✓ ' || g
            ELSE 'row ' || g END,
       datetime(1577836800 + g * 37, 'unixepoch'),
       CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 END
FROM s;
"#;

/// The table's rows in one comparable form per engine, ordered by id: PostgreSQL hashes
/// each row's text server-side; SQLite lists `quote()`d values (exact storage class).
pub async fn big_fingerprint(engine: Engine, db: &mut Db) -> Vec<String> {
    match engine {
        Engine::Postgres => vec![
            db.text("SELECT md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM big AS t")
                .await
                .expect("non-empty table"),
        ],
        _ => texts(
            db,
            "SELECT quote(id) || '|' || quote(n) || '|' || quote(amount) || '|' || quote(label) \
                 || '|' || quote(at) || '|' || quote(flag) FROM big ORDER BY id",
        )
        .await,
    }
}

/// Starts `migrator transfer <args>` as a child process.
#[cfg(unix)]
pub fn spawn_transfer(config: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("migrator"))
        .arg("--config")
        .arg(config)
        .arg("transfer")
        .args(args)
        .env_remove("SEAWAY_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start migrator transfer")
}

/// Polls `ready` every 20 ms (for at most 60 s) while `child` runs, then SIGKILLs and
/// reaps it. Panics if the child ends by itself first: it must die mid-run.
#[cfg(unix)]
pub async fn kill_when(
    mut child: std::process::Child,
    what: &str,
    mut ready: impl AsyncFnMut() -> bool,
) {
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            let out = child.wait_with_output().expect("child output");
            panic!(
                "transfer ended ({status}) before {what}, so it could not be killed mid-run:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if ready().await {
            break;
        }
        if Instant::now() > deadline {
            child.kill().expect("kill");
            let _ = child.wait();
            panic!("60 s passed and still not {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL the transfer");
    let out = child.wait_with_output().expect("reap the child");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the transfer was to die by SIGKILL, not exit by itself ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The table's rows as `id|n|amount|label|at|flag` texts in UTC, NULLs left out, ordered
/// by id: one form PostgreSQL, MySQL/MariaDB and SQLite print alike (`at` is a UTC
/// `TIMESTAMP(6)` in MySQL, read in a UTC session; text with its offset in SQLite).
async fn big_rows_across(engine: Engine, db: &mut Db) -> Vec<String> {
    match engine {
        Engine::Sqlite => {
            texts(
                db,
                "SELECT concat_ws('|', id, n, CASE WHEN amount IS NOT NULL THEN printf('%.2f', amount) END, \
                 label, CASE WHEN at LIKE '%+00:00' THEN substr(at, 1, length(at) - 6) ELSE 'not UTC: ' || at END, \
                 flag) FROM big ORDER BY id",
            )
            .await
        }
        Engine::Postgres => {
            texts(
                db,
                "SELECT concat_ws('|', id, n, amount, label, \
                 to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), flag::int) FROM big ORDER BY id",
            )
            .await
        }
        _ => {
            db.execute("SET time_zone = '+00:00'").await;
            texts(
                db,
                "SELECT CONCAT_WS('|', id, n, amount, label, \
                 DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), flag) FROM big ORDER BY id",
            )
            .await
        }
    }
}

/// Kills `migrator transfer --page-size 2000 <args>` three times at growing row counts,
/// then lets it finish, and checks the destination holds exactly the source's rows.
#[cfg(unix)]
async fn kill_and_resume(from: Engine, to: Engine, tag: &str, args: &[&str]) {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = match from {
        Engine::Postgres => BIG_POSTGRES,
        _ => BIG_SQLITE,
    };
    let Some(src) = database(
        from,
        &format!("seaway_test_f_kill_src_{tag}"),
        Some(fixture),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        to,
        &format!("seaway_test_f_kill_dst_{tag}"),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (project_dir, config) = project(&src, &dst).await;
    let mut source = Db::connect(from, &src).await;
    let mut dest = Db::connect(to, &dst).await;
    assert_eq!(source.count("SELECT count(*) FROM big").await, BIG_ROWS);
    let prepared = started.elapsed();

    let mut killed_at = Vec::new();
    // Well short of the end: chunks land 10,000 rows at a time through the COPY pipes,
    // and a run with only a few chunks left could finish between the poll that saw the
    // threshold and the kill.
    for at_least in [20_000, 50_000, 80_000] {
        let child = spawn_transfer(&config, &[&["--page-size", "2000"], args].concat());
        kill_when(
            child,
            &format!("the destination held {at_least} rows"),
            async || dest.count("SELECT count(*) FROM big").await >= at_least,
        )
        .await;
        let rows = dest.count("SELECT count(*) FROM big").await;
        assert!(
            rows >= at_least && rows < BIG_ROWS,
            "{tag}: killed with {rows} rows in the destination (wanted {at_least}..{BIG_ROWS})"
        );
        killed_at.push(rows);
    }

    let report = project_dir.path().join("report.json");
    let last = migrator(
        &config,
        &[
            &[
                "transfer",
                "--page-size",
                "2000",
                "--report",
                report.to_str().expect("utf-8 path"),
            ],
            args,
        ]
        .concat(),
    );
    assert_eq!(last.code, Some(0), "{tag}: final transfer:\n{}", last.all());
    assert!(
        last.stdout.contains("resumed an unfinished run"),
        "{tag}: the final run did not resume the killed one:\n{}",
        last.all()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(report["resumed"], true, "{tag}: {report:#}");
    assert_eq!(report["rejected"], 0, "{tag}: {report:#}");
    assert_eq!(
        report["rows"], BIG_ROWS,
        "{tag}: rows reported over the resumed run (killed at {killed_at:?}): {report:#}"
    );
    // What the last run inserted went by the bulk path (a chunk an earlier run committed
    // but had not recorded is found held, and counted unchanged). From SQLite, whose
    // source has no row pipe, a chunk resumed part-way is upserted page by page instead.
    assert!(
        from == Engine::Sqlite
            || report["inserted"].as_u64().is_some_and(|n| n > 0)
                && report["bulk_loaded"] == report["inserted"],
        "{tag}: the last run's chunks went by the bulk path: {report:#}"
    );

    assert_eq!(
        dest.count("SELECT count(*) FROM big").await,
        BIG_ROWS,
        "{tag}: destination row count"
    );
    assert_eq!(
        dest.count("SELECT count(DISTINCT id) FROM big").await,
        BIG_ROWS,
        "{tag}: distinct ids"
    );
    let (want, have) = if from == to {
        (
            big_fingerprint(from, &mut source).await,
            big_fingerprint(to, &mut dest).await,
        )
    } else {
        (
            big_rows_across(from, &mut source).await,
            big_rows_across(to, &mut dest).await,
        )
    };
    assert!(
        want == have,
        "{tag}: destination content differs from the source: {}",
        first_difference(&want, &have)
    );

    // One run in the state store, resumed by every start after a kill, now finished.
    let state = project_dir.path().join(".seaway/state.sqlite");
    let mut state = Db::connect(Engine::Sqlite, &format!("sqlite://{}", state.display())).await;
    assert_eq!(
        state.count("SELECT count(*) FROM runs").await,
        1,
        "{tag}: a killed run was abandoned instead of resumed"
    );
    assert_eq!(
        state
            .count("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL")
            .await,
        1,
        "{tag}: the run is not marked finished"
    );
    state.close().await;
    source.close().await;
    dest.close().await;
    eprintln!(
        "{tag}: killed at {killed_at:?} rows, resumed to {BIG_ROWS}; {:.1} s ({:.1} s preparing)",
        started.elapsed().as_secs_f64(),
        prepared.as_secs_f64()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn killed_transfer_resumes_to_exactly_the_source_rows() {
    kill_and_resume(Engine::Postgres, Engine::Postgres, "pg", &[]).await;
    kill_and_resume(Engine::Sqlite, Engine::Sqlite, "lite", &[]).await;
    // Into MariaDB, chunks land by LOAD DATA LOCAL INFILE, one transaction each: a kill
    // mid-statement leaves nothing of the chunk. Chunks of 10,000 rows, so that every
    // kill falls mid-run with loads in flight (50,000-row chunks, committed two at a
    // time, passed all three marks at once).
    kill_and_resume(
        Engine::Postgres,
        Engine::Mysql,
        "pg_my",
        &["--chunk-size", "20000"],
    )
    .await;
}

/// Into SQLite, a chunk's first load is one transaction (`first_load.rs`): a kill
/// mid-chunk leaves a hot journal, which the next run's connection rolls back, and the
/// chunk is loaded anew. Chunks of 10,000 rows, so that every kill falls mid-run.
#[cfg(unix)]
#[tokio::test]
async fn killed_transfer_into_sqlite_resumes_to_exactly_the_source_rows() {
    kill_and_resume(
        Engine::Postgres,
        Engine::Sqlite,
        "pg_lite",
        &["--chunk-size", "20000"],
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// 2-4. Rows the destination refuses.
// ---------------------------------------------------------------------------------------

/// 1,000 SQLite rows, five of which PostgreSQL must refuse: ids 1 and 555 hold an integer
/// beyond int32, 402 a code longer than its declared VARCHAR(8) (SQLite does not enforce
/// lengths), 137 and 1000 a text with a NUL byte. With pages of 100 they fall in the
/// first, second, fifth, sixth and last pages.
const ITEMS_SQLITE: &str = r#"
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    qty INTEGER NOT NULL,
    code VARCHAR(8) NOT NULL,
    note TEXT
);
WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 1000)
INSERT INTO items SELECT g, g * 3, 'c' || g, 'note ' || g || ' ✓' FROM s;
UPDATE items SET qty = 10000000000 WHERE id IN (1, 555);
UPDATE items SET code = 'longer than eight' WHERE id = 402;
UPDATE items SET note = 'nul' || char(0) || 'byte' WHERE id IN (137, 1000);
"#;

/// The bad ids of [`ITEMS_SQLITE`] and a fragment PostgreSQL's refusal must mention.
const ITEMS_SQLITE_BAD: [(i64, &str); 5] = [
    (1, "out of range"),
    (137, "0x00"),
    (402, "too long"),
    (555, "out of range"),
    (1000, "0x00"),
];

/// Each row of `items` as one text, by id: the source side (SQLite) and either destination.
const ITEMS_ROWS_SQLITE: &str =
    "SELECT id || '|' || qty || '|' || code || '|' || coalesce(note, '~') FROM items ORDER BY id";
const ITEMS_ROWS_POSTGRES: &str =
    "SELECT concat_ws('|', id, qty, code, coalesce(note, '~')) FROM items ORDER BY id";

/// `rows` (`id|...` texts) without those whose id is in `bad`.
fn without(rows: Vec<String>, bad: &BTreeSet<i64>) -> Vec<String> {
    rows.into_iter()
        .filter(|r| {
            let id: i64 = r
                .split('|')
                .next()
                .and_then(|i| i.parse().ok())
                .expect("id");
            !bad.contains(&id)
        })
        .collect()
}

async fn sqlite_to_postgres_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_f_rej_src_lite",
        Some(ITEMS_SQLITE),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_f_rej_dst_pg",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (dst, password) = with_password(Engine::Postgres, &dst).await;
    let (_project, config) = project(&src, &dst).await;

    let (run, report) = transfer_in_pages_of_100(&config);
    assert_eq!(
        run.code,
        Some(1),
        "rejects present means exit 1:\n{}",
        run.all()
    );
    assert!(
        run.stdout.contains("5 rejected (see .seaway/rejects/)")
            && run.stdout.contains("transferred 995 rows"),
        "the summary names the 995 rows and 5 rejects:\n{}",
        run.all()
    );
    // The five pages without a bad row went in by a plain COPY each, the five with one
    // by the upsert.
    assert_eq!(
        report["bulk_loaded"], 500,
        "rows loaded by COPY: {report:#}"
    );
    let (text, lines) = rejects(&config, "items");
    let got = rejected_keys(&lines, "items");
    let want: BTreeSet<i64> = ITEMS_SQLITE_BAD.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        got.keys().copied().collect::<BTreeSet<_>>(),
        want,
        "rejected keys:\n{text}"
    );
    for (id, fragment) in ITEMS_SQLITE_BAD {
        assert!(
            got[&id].contains(fragment),
            "reject reason for id {id} should mention `{fragment}`: {}",
            got[&id]
        );
    }
    assert_no_secrets("the reject file", &text, password.as_deref());
    assert_no_secrets("the output", &run.all(), password.as_deref());

    let mut source = Db::connect(Engine::Sqlite, &src).await;
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    let want_rows = without(texts(&mut source, ITEMS_ROWS_SQLITE).await, &want);
    let have_rows = texts(&mut dest, ITEMS_ROWS_POSTGRES).await;
    assert_eq!(want_rows.len(), 995);
    assert!(
        want_rows == have_rows,
        "sqlite -> postgres: every good row, and only those, is in the destination: {}",
        first_difference(&want_rows, &have_rows)
    );
    source.close().await;
    dest.close().await;
}

/// 1,000 PostgreSQL rows; MariaDB (strict mode) must refuse five: a 4-byte emoji in a
/// column the test narrows to utf8mb3 (ids 1, 333, 1000), and a date past 9999 (250, 777).
const ITEMS_POSTGRES: &str = r#"
CREATE TABLE items (
    id integer PRIMARY KEY,
    qty integer NOT NULL,
    code varchar(8) NOT NULL,
    note text,
    day date
);
INSERT INTO items
SELECT g, g * 3, 'c' || g, 'note ' || g || E' \u2713', date '2024-01-01' + g
FROM generate_series(1, 1000) AS g;
UPDATE items SET note = E'emoji \U0001F600 ' || id WHERE id IN (1, 333, 1000);
UPDATE items SET day = make_date(10000, 1, 1) WHERE id IN (250, 777);
"#;

const ITEMS_POSTGRES_BAD: [(i64, &str); 5] = [
    (1, "Incorrect string value"),
    (250, "date"),
    (333, "Incorrect string value"),
    (777, "date"),
    (1000, "Incorrect string value"),
];

/// Emoji into a 3-byte UTF-8 `note` and years past 9999: five rows in five pages.
const ITEMS_INTO_MARIADB: MariadbRejects = MariadbRejects {
    tag: "rej",
    fixture: ITEMS_POSTGRES,
    // Narrow `note` to 3-byte UTF-8, keeping the type apply gave it.
    alter: |note| {
        format!(
            "ALTER TABLE items MODIFY note {note} CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci NULL"
        )
    },
    bad: &ITEMS_POSTGRES_BAD,
    rows: (
        "SELECT concat_ws('|', id, qty, code, coalesce(note, '~'), to_char(day, 'YYYY-MM-DD')) FROM items ORDER BY id",
        "SELECT CONCAT_WS('|', id, qty, code, COALESCE(note, '~'), DATE_FORMAT(day, '%Y-%m-%d')) FROM items ORDER BY id",
    ),
    bulk_loaded: 500,
};

/// A PostgreSQL -> MariaDB transfer in pages of 100 whose destination refuses some rows.
struct MariadbRejects {
    /// Database names: `seaway_test_f_<tag>_src_pg`, `seaway_test_f_<tag>_dst_my`.
    tag: &'static str,
    fixture: &'static str,
    /// What narrows the destination's `items` (given the type apply gave `note`).
    alter: fn(&str) -> String,
    /// The refused ids and a fragment of each refusal.
    bad: &'static [(i64, &'static str)],
    /// Each row as one text: in the source, in the destination.
    rows: (&'static str, &'static str),
    /// Rows that went in by LOAD DATA LOCAL INFILE: the pages without a bad row.
    bulk_loaded: u64,
}

/// Runs `case`: exactly the bad rows in the reject file with their reasons, every other
/// row in the destination, the clean pages by LOAD DATA; then a second run finds every
/// good row held and writes nothing.
async fn postgres_to_mariadb_rejects(case: &MariadbRejects) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(admin) = support::server(Engine::Mysql).await else {
        return;
    };
    let mut server = Db::connect(Engine::Mysql, &admin).await;
    let mode = server
        .text("SELECT @@GLOBAL.sql_mode")
        .await
        .unwrap_or_default();
    server.close().await;
    if !mode.contains("STRICT_") {
        let msg = format!(
            "MariaDB's sql_mode `{mode}` is not strict, so it would store a mangled value instead of refusing it"
        );
        if std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1") {
            panic!("{msg}; this test needs STRICT_TRANS_TABLES (MariaDB's default)");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let Some(src) = database(
        Engine::Postgres,
        &format!("seaway_test_f_{}_src_pg", case.tag),
        Some(case.fixture),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Mysql,
        &format!("seaway_test_f_{}_dst_my", case.tag),
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (_project, config) = project(&src, &dst).await;

    let mut dest = Db::connect(Engine::Mysql, &dst).await;
    let column_type = dest
        .text(
            "SELECT CAST(COLUMN_TYPE AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'items' AND column_name = 'note'",
        )
        .await
        .expect("items.note exists");
    dest.execute(&(case.alter)(&column_type)).await;

    let (run, report) = transfer_in_pages_of_100(&config);
    assert_eq!(
        run.code,
        Some(1),
        "rejects present means exit 1:\n{}",
        run.all()
    );
    let good = 1000 - case.bad.len();
    assert!(
        run.stdout.contains(&format!(
            "{} rejected (see .seaway/rejects/)",
            case.bad.len()
        )) && run.stdout.contains(&format!("transferred {good} rows")),
        "the summary names the {good} rows and {} rejects:\n{}",
        case.bad.len(),
        run.all()
    );
    // The chunk's LOAD DATA warned and was rolled back; the pages without a bad row went
    // in by LOAD DATA each, those with one by the upsert.
    assert_eq!(
        (report["inserted"].as_u64(), report["bulk_loaded"].as_u64()),
        (Some(good as u64), Some(case.bulk_loaded)),
        "rows inserted, and of those loaded by LOAD DATA LOCAL INFILE: {report:#}"
    );
    let (text, lines) = rejects(&config, "items");
    let got = rejected_keys(&lines, "items");
    let want: BTreeSet<i64> = case.bad.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        got.keys().copied().collect::<BTreeSet<_>>(),
        want,
        "rejected keys:\n{text}"
    );
    for (id, fragment) in case.bad {
        assert!(
            got[id].contains(fragment),
            "reject reason for id {id} should mention `{fragment}`: {}",
            got[id]
        );
    }
    assert_no_secrets("the reject file", &text, None);
    assert_no_secrets("the output", &run.all(), None);

    // Every good row, and only those: nothing coerced, skipped or written twice.
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let want_rows = without(texts(&mut source, case.rows.0).await, &want);
    let have_rows = texts(&mut dest, case.rows.1).await;
    assert_eq!(want_rows.len(), good);
    assert!(
        want_rows == have_rows,
        "postgres -> mariadb: every good row, and only those, is in the destination: {}",
        first_difference(&want_rows, &have_rows)
    );

    let again = migrator(&config, &["transfer", "--page-size", "100"]);
    assert!(
        again.stdout.contains(&format!("transferred {good} rows"))
            && again.stdout.contains(&format!("{good} unchanged")),
        "the second run writes nothing:\n{}",
        again.all()
    );
    source.close().await;
    dest.close().await;
}

/// What `LOAD DATA LOCAL` would keep with only a warning (it behaves as `IGNORE`): a NULL
/// coerced into a NOT NULL column, a number clamped to the column's range, a row skipped
/// for a duplicate in a unique index. Each warning rolls its statement back, and the page
/// goes by the upsert, which refuses exactly the bad row into the reject file.
const LOAD_ITEMS_POSTGRES: &str = r#"
CREATE TABLE items (
    id integer PRIMARY KEY,
    qty bigint NOT NULL,
    code varchar(8) NOT NULL,
    note text
);
INSERT INTO items SELECT g, g * 3, 'c' || g, 'note ' || g FROM generate_series(1, 1000) AS g;
UPDATE items SET note = NULL WHERE id = 150;
UPDATE items SET qty = 10000000000 WHERE id = 420;
UPDATE items SET code = 'c1' WHERE id = 640;
"#;

const LOAD_ITEMS_BAD: [(i64, &str); 3] = [
    (150, "cannot be null"),
    (420, "Out of range"),
    (640, "Duplicate entry"),
];

/// The three coercions of [`LOAD_ITEMS_POSTGRES`], in three of ten pages.
const LOAD_INTO_MARIADB: MariadbRejects = MariadbRejects {
    tag: "ld",
    fixture: LOAD_ITEMS_POSTGRES,
    alter: |_| {
        "ALTER TABLE items MODIFY note text NOT NULL, MODIFY qty int NOT NULL, ADD UNIQUE KEY items_code (code)".into()
    },
    bad: &LOAD_ITEMS_BAD,
    rows: (
        "SELECT concat_ws('|', id, qty, code, coalesce(note, '~')) FROM items ORDER BY id",
        "SELECT CONCAT_WS('|', id, qty, code, COALESCE(note, '~')) FROM items ORDER BY id",
    ),
    bulk_loaded: 700,
};

/// PostgreSQL -> SQLite, whose `items` is rebuilt with `note NOT NULL` and a unique
/// `code`: the chunk's first-load transaction fails at row 150 (NULL note) and is rolled
/// back whole; the pages without a bad row then go in as plain inserts, the two with one
/// by the upsert, which refuses exactly rows 150 and 640 (a duplicate code) into the
/// reject file. A second run writes nothing.
#[tokio::test]
async fn a_refused_row_in_an_sqlite_first_load_is_rejected_and_the_rest_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_f_lite_rej_src_pg",
        Some(LOAD_ITEMS_POSTGRES),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Sqlite,
        "seaway_test_f_lite_rej_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (_project, config) = project(&src, &dst).await;
    let mut dest = Db::connect(Engine::Sqlite, &dst).await;
    // SQLite cannot add NOT NULL or UNIQUE to a column: the table is rebuilt narrower.
    dest.execute(
        "CREATE TABLE items_narrow (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, \
         code TEXT NOT NULL UNIQUE, note TEXT NOT NULL); \
         DROP TABLE items; ALTER TABLE items_narrow RENAME TO items;",
    )
    .await;

    let (run, report) = transfer_in_pages_of_100(&config);
    assert_eq!(run.code, Some(1), "rejects mean exit 1:\n{}", run.all());
    assert_eq!(
        (report["inserted"].as_u64(), report["bulk_loaded"].as_u64()),
        (Some(998), Some(800)),
        "rows inserted, and of those by plain inserts (the eight clean pages): {report:#}"
    );
    let (text, lines) = rejects(&config, "items");
    let got = rejected_keys(&lines, "items");
    assert_eq!(
        got.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([150, 640]),
        "rejected keys:\n{text}"
    );
    assert!(
        got[&150].contains("NOT NULL") && got[&640].contains("UNIQUE"),
        "each reject names its constraint: {got:?}"
    );
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let want = without(
        texts(&mut source, ITEMS_ROWS_POSTGRES).await,
        &BTreeSet::from([150, 640]),
    );
    let have = texts(&mut dest, ITEMS_ROWS_SQLITE).await;
    assert!(
        want == have,
        "every good row, and only those: {}",
        first_difference(&want, &have)
    );
    let again = migrator(&config, &["transfer", "--page-size", "100"]);
    assert!(
        again.stdout.contains("998 unchanged"),
        "the second run writes nothing:\n{}",
        again.all()
    );
    source.close().await;
    dest.close().await;
}

#[tokio::test]
async fn load_data_warnings_roll_back_and_the_refused_rows_are_rejected() {
    postgres_to_mariadb_rejects(&LOAD_INTO_MARIADB).await;
}

#[tokio::test]
async fn refused_rows_go_to_the_reject_file_and_the_rest_load() {
    sqlite_to_postgres_rejects().await;
    postgres_to_mariadb_rejects(&ITEMS_INTO_MARIADB).await;
}

#[tokio::test]
async fn on_error_stop_stops_at_the_first_refused_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One refused row at id 555 (page 501..600) and another later, at 800.
    let fixture = format!(
        "{}\nUPDATE items SET qty = 3 WHERE id = 1;\n\
         UPDATE items SET code = 'c402' WHERE id = 402;\n\
         UPDATE items SET note = 'note ok' WHERE id IN (137, 1000);\n\
         UPDATE items SET code = 'longer than eight' WHERE id = 800;\n",
        ITEMS_SQLITE
    );
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_f_stop_src_lite",
        Some(&fixture),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_f_stop_dst_pg",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (_project, config) = project(&src, &dst).await;
    let mut source = Db::connect(Engine::Sqlite, &src).await;
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    assert_eq!(
        source
            .count("SELECT count(*) FROM items WHERE qty > 2147483647 OR length(code) > 8")
            .await,
        2,
        "fixture: exactly ids 555 and 800 are bad"
    );

    let run = migrator(
        &config,
        &["transfer", "--page-size", "100", "--on-error", "stop"],
    );
    assert_eq!(
        run.code,
        Some(2),
        "a stopped transfer is an error:\n{}",
        run.all()
    );
    assert!(
        run.stderr.contains("table `items`")
            && run.stderr.contains("--on-error stop")
            && run.stderr.contains("out of range"),
        "the error names the table, the refusal and why it stopped:\n{}",
        run.all()
    );
    assert!(
        !run.stdout.contains("transferred"),
        "no success summary after a stop:\n{}",
        run.all()
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM items WHERE id >= 555")
            .await,
        0,
        "nothing at or after the refused row was written"
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM items WHERE id <= 500")
            .await,
        500,
        "the pages before the refused one were written"
    );
    let (text, _) = rejects(&config, "items");
    assert!(
        text.is_empty(),
        "--on-error stop writes no reject file:\n{text}"
    );

    // Fix the data; the next run resumes the stopped one and finishes.
    source
        .execute("UPDATE items SET qty = 1665 WHERE id = 555; UPDATE items SET code = 'c800' WHERE id = 800;")
        .await;
    let run = migrator(
        &config,
        &["transfer", "--page-size", "100", "--on-error", "stop"],
    );
    assert_eq!(run.code, Some(0), "after the fix:\n{}", run.all());
    assert!(
        run.stdout.contains("resumed an unfinished run")
            && run.stdout.contains("transferred 1000 rows"),
        "the second run resumes the stopped one and counts all 1000 rows:\n{}",
        run.all()
    );
    let want_rows = texts(&mut source, ITEMS_ROWS_SQLITE).await;
    let have_rows = texts(&mut dest, ITEMS_ROWS_POSTGRES).await;
    assert_eq!(want_rows.len(), 1000);
    assert!(
        want_rows == have_rows,
        "after resuming, the destination equals the source: {}",
        first_difference(&want_rows, &have_rows)
    );
    let (text, _) = rejects(&config, "items");
    assert!(text.is_empty(), "no rejects:\n{text}");
    source.close().await;
    dest.close().await;
}

/// Two related tables (two children PostgreSQL refuses) and one without a primary key.
const REPORT_SQLITE: &str = r#"
CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES parent (id),
    qty INTEGER NOT NULL
);
CREATE TABLE keyless (msg TEXT);
WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 300)
INSERT INTO parent SELECT g, 'parent ' || g FROM s;
WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 700)
INSERT INTO child SELECT g, 1 + g % 300, g FROM s;
UPDATE child SET qty = 10000000000 WHERE id IN (150, 650);
INSERT INTO keyless VALUES ('a'), ('b');
"#;

#[tokio::test]
async fn report_json_lists_tables_rows_and_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_f_report_src_lite",
        Some(REPORT_SQLITE),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_f_report_dst_pg",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (project_dir, config) = project(&src, &dst).await;
    let report_path = project_dir.path().join("out/report.json");
    std::fs::create_dir_all(report_path.parent().expect("dir")).expect("mkdir");
    let run = migrator(
        &config,
        &[
            "transfer",
            "--page-size",
            "25",
            "--report",
            report_path.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(
        run.code,
        Some(1),
        "rejects and a failed table mean exit 1:\n{}",
        run.all()
    );
    let text = std::fs::read_to_string(&report_path).expect("the report file");
    assert_no_secrets("the report", &text, None);
    let report: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");

    assert_eq!(report["source"], "src", "{report:#}");
    assert_eq!(report["destination"], "dst", "{report:#}");
    assert_eq!(report["resumed"], false, "{report:#}");
    let tables = report["tables"].as_array().expect("tables array");
    let by_name: BTreeMap<&str, &serde_json::Value> = tables
        .iter()
        .map(|t| (t["table"].as_str().expect("table name"), t))
        .collect();
    assert_eq!(
        by_name.keys().copied().collect::<Vec<_>>(),
        ["child", "keyless", "parent"],
        "{report:#}"
    );
    let position = |name: &str| tables.iter().position(|t| t["table"] == name);
    assert!(
        position("parent") < position("child"),
        "referenced tables load first: {report:#}"
    );
    for (name, rows, rejected) in [("parent", 300, 0), ("child", 698, 2)] {
        let t = by_name[name];
        assert_eq!(t["source_table"], name, "{report:#}");
        assert_eq!(t["rows"], rows, "{name}: {report:#}");
        assert_eq!(t["rejected"], rejected, "{name}: {report:#}");
        assert!(t.get("error").is_none(), "{name}: {report:#}");
        let seconds = t["seconds"].as_f64().expect("seconds");
        assert!(seconds.is_finite() && seconds >= 0.0, "{name}: {report:#}");
    }
    let keyless = by_name["keyless"];
    assert_eq!(keyless["rows"], 0, "{report:#}");
    assert!(
        keyless["error"]
            .as_str()
            .is_some_and(|e| e.contains("primary key")),
        "a table without a primary key is reported, not silently skipped: {report:#}"
    );
    assert_eq!(report["rows"], 998, "{report:#}");
    assert_eq!(report["rejected"], 2, "{report:#}");
    let seconds = report["seconds"].as_f64().expect("seconds");
    let per_second = report["rows_per_second"].as_f64().expect("rows_per_second");
    assert!(seconds > 0.0 && seconds.is_finite(), "{report:#}");
    let table_seconds: f64 = tables.iter().filter_map(|t| t["seconds"].as_f64()).sum();
    assert!(
        table_seconds <= seconds,
        "tables' seconds fit in the total: {report:#}"
    );
    assert!(
        (per_second - 998.0 / seconds).abs() <= 0.01 * per_second,
        "rows_per_second = rows / seconds: {report:#}"
    );
    assert!(
        run.stdout.contains("2 rejected (see .seaway/rejects/)"),
        "{}",
        run.all()
    );
    let (_, lines) = rejects(&config, "child");
    assert_eq!(
        rejected_keys(&lines, "child")
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [150, 650]
    );
}

/// A run that rejects rows and is then killed: the run that resumes and finishes it must
/// still count those rejects (they are rows missing from the destination), in its summary,
/// its report and its exit code.
#[cfg(unix)]
#[tokio::test]
async fn rows_rejected_before_a_kill_still_count_after_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 20,000 rows (200 pages of 100), two of them out of int32 range, both in the first
    // two pages; the rest load fast, so the run is killed with most of it still to do.
    let fixture = "CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, code VARCHAR(8) NOT NULL, note TEXT);
        WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 20000)
        INSERT INTO items SELECT g, g * 3, 'c' || g, 'note ' || g FROM s;
        UPDATE items SET qty = 10000000000 WHERE id IN (1, 137);";
    let Some(src) = database(
        Engine::Sqlite,
        "seaway_test_f_killrej_src_lite",
        Some(fixture),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_f_killrej_dst_pg",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let (project_dir, config) = project(&src, &dst).await;
    let mut dest = Db::connect(Engine::Postgres, &dst).await;

    // Kill once both rejects are on file and a later page is in.
    let child = spawn_transfer(&config, &["--page-size", "100"]);
    kill_when(
        child,
        "both rows were rejected and 300 rows loaded",
        async || {
            // Count complete lines only: a line being appended may be half-written.
            let file = config.with_file_name(".seaway/rejects/items.jsonl");
            std::fs::read_to_string(file).is_ok_and(|t| t.matches('\n').count() >= 2)
                && dest.count("SELECT count(*) FROM items").await >= 300
        },
    )
    .await;
    let killed_at = dest.count("SELECT count(*) FROM items").await;
    assert!(killed_at < 19_998, "killed too late ({killed_at} rows)");

    let report = project_dir.path().join("report.json");
    let run = migrator(
        &config,
        &[
            "transfer",
            "--page-size",
            "100",
            "--report",
            report.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        run.stdout.contains("resumed an unfinished run"),
        "{}",
        run.all()
    );
    assert_eq!(
        dest.count("SELECT count(*) FROM items").await,
        19_998,
        "every good row loaded"
    );
    let (text, lines) = rejects(&config, "items");
    assert_eq!(
        rejected_keys(&lines, "items")
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [1, 137],
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(
        (report["rows"].clone(), report["rejected"].clone()),
        (serde_json::json!(19_998), serde_json::json!(2)),
        "the resumed run's report counts rows from before the kill, so it must count rejects too: {report:#}"
    );
    assert!(
        run.stdout.contains("2 rejected (see .seaway/rejects/)"),
        "the summary names the run's rejects:\n{}",
        run.all()
    );
    assert_eq!(
        run.code,
        Some(1),
        "rows of this run are missing from the destination, so the exit code is 1:\n{}",
        run.all()
    );
    dest.close().await;
}
