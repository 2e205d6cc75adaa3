//! The destination ends `migrator apply`'s session in the middle of a migration (an
//! operator's `pg_terminate_backend` / `KILL`, a failover): the run fails promptly,
//! naming the destination without its password, and leaves a ledger that tells the
//! truth, so the next run does the right thing.
//!
//! The migration's statement 2 blocks until the test ends its session; the test finds
//! that session in the server's process list (a bounded poll on the real condition)
//! and terminates it.
//!
//! - PostgreSQL: statement 2 is `SELECT pg_sleep(60)`. The section's transaction rolls
//!   back: statement 1's table is gone and no ledger row claims success. The file may
//!   then be fixed (nothing of it is in effect) and applies in full.
//! - MariaDB: statement 1 committed on its own, so the ledger records 1 statement done
//!   and the run as unfinished. Statement 2 waits for a named lock the test holds (a
//!   `SLEEP(60)` could only end by waiting it out: `KILL QUERY` makes MariaDB's SLEEP
//!   fail, not return). Editing the file is refused while statement 1 is in effect; once
//!   the test lets go of the lock, the unchanged file resumes at statement 2.

use crate::support::{self, Db, Engine, Output, Project};
use seaway_codegen::migrations::Section;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MIGRATION: &str = "0001_interrupted";
/// The password the destination URL carries; it must never be printed.
const SECRET: &str = "Kill-Test-Pw-7q";
/// How long the test waits for the blocking statement to show up, and for the killed
/// run to exit.
const BOUND: Duration = Duration::from_secs(30);
const STEP: Duration = Duration::from_millis(50);

/// A `migrator apply` started in the background; killed and reaped if the test fails
/// while it runs.
struct Running(Option<Child>);

impl Running {
    fn start(p: &Project) -> Running {
        let child = Command::new(assert_cmd::cargo::cargo_bin("migrator"))
            .arg("--config")
            .arg(p.config_path())
            .arg("apply")
            .env_remove("SEAWAY_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start migrator apply");
        Running(Some(child))
    }

    /// Its output and exit code, if it has ended.
    fn ended(&mut self) -> Option<(Option<i32>, Output)> {
        let child = self.0.as_mut()?;
        child.try_wait().expect("poll migrator").as_ref()?;
        let out = self
            .0
            .take()
            .expect("child")
            .wait_with_output()
            .expect("migrator output");
        Some((
            out.status.code(),
            Output {
                ok: out.status.success(),
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into(),
                stderr: String::from_utf8_lossy(&out.stderr).into(),
            },
        ))
    }

    /// Waits (at most [`BOUND`]) for it to end.
    async fn finish(mut self) -> (Option<i32>, Output) {
        let started = Instant::now();
        loop {
            if let Some(done) = self.ended() {
                return done;
            }
            assert!(
                started.elapsed() < BOUND,
                "migrator apply still running {BOUND:?} after its session was ended"
            );
            tokio::time::sleep(STEP).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `find` (a query returning the session id of the blocking statement, or no
/// row) until it answers, failing if the run ends first or after [`BOUND`].
async fn session_of_blocking_statement(admin: &mut Db, run: &mut Running, find: &str) -> i64 {
    let started = Instant::now();
    loop {
        if let Some(id) = admin.maybe_count(find).await {
            return id;
        }
        if let Some((code, out)) = run.ended() {
            panic!(
                "migrator apply ended (exit {code:?}) before reaching the blocking statement:\n{}\n{}",
                out.stdout, out.stderr
            );
        }
        assert!(
            started.elapsed() < BOUND,
            "the blocking statement did not start within {BOUND:?}"
        );
        tokio::time::sleep(STEP).await;
    }
}

/// `host:port` of a server URL.
fn endpoint(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split_once('/').map_or(rest, |(e, _)| e)
}

/// `scheme://user:password@host...` from `scheme://user@host...`.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a server URL");
    let (user, host) = rest.split_once('@').expect("a server URL with a user");
    format!("{scheme}://{user}:{password}@{host}")
}

/// What every killed run must print: a failure at statement 2 naming where, and no
/// password.
fn assert_reported(p: &Project, code: Option<i32>, out: &Output, secret: &str) {
    assert!(!out.ok, "the killed run must fail:\n{}", out.stdout);
    assert_eq!(code, Some(2), "an error exits 2:\n{}", out.stderr);
    let expected = [
        format!("migration {MIGRATION} (pre-data) failed on `dest`"),
        format!("at {}/{}", endpoint(&p.url), p.database),
        "at statement 2 of 3".to_string(),
    ];
    for wanted in &expected {
        assert!(
            out.stderr.contains(wanted.as_str()),
            "missing {wanted:?} in:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains(secret) && !out.stdout.contains(secret),
        "the password leaked:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

fn statements(blocking: &str) -> [(Section, &str, &str); 3] {
    [
        (
            Section::PreData,
            "add table \"kill_first\"",
            "CREATE TABLE kill_first (id integer primary key)",
        ),
        (Section::PreData, "wait", blocking),
        (
            Section::PreData,
            "add table \"kill_second\"",
            "CREATE TABLE kill_second (id integer primary key)",
        ),
    ]
}

#[tokio::test]
async fn destination_killed_mid_apply_leaves_a_consistent_ledger_postgres() {
    let Some(p) = Project::named(Engine::Postgres, "seaway_test_x_kill_pg").await else {
        return;
    };
    // The test server trusts local connections, so a made-up password is accepted and
    // ignored; a URL that already carries one keeps it.
    let (url, secret) = match support::password_of(&p.url) {
        Some(pw) => (p.url.clone(), pw.to_string()),
        None => (with_password(&p.url, SECRET), SECRET.to_string()),
    };
    p.write_config(&url);
    let sleep = "SELECT pg_sleep(60)";
    p.migration(MIGRATION, &statements(sleep));

    let mut admin = p.db().await;
    let mut run = Running::start(&p);
    let pid = session_of_blocking_statement(
        &mut admin,
        &mut run,
        &format!(
            "SELECT pid::bigint FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' \
             AND query LIKE '{sleep}%' AND pid <> pg_backend_pid()",
            p.database
        ),
    )
    .await;
    admin
        .execute(&format!("SELECT pg_terminate_backend({pid})"))
        .await;
    let killed_at = Instant::now();
    let (code, out) = run.finish().await;
    let exit_after = killed_at.elapsed();

    assert_reported(&p, code, &out, &secret);
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(
        !admin.has_table("kill_first").await && !admin.has_table("kill_second").await,
        "the section's transaction must roll back"
    );
    let ledger = admin.ledger().await;
    assert!(
        ledger.iter().all(|r| !r.success && r.statements_done == 0),
        "no ledger row may claim anything is applied: {ledger:?}"
    );
    let status = p.migrator(&["status"]);
    assert!(status.ok, "{}", status.stderr);
    assert!(
        !status.stdout.contains(" applied"),
        "status must not call anything applied:\n{}",
        status.stdout
    );

    // Nothing of the file is in effect, so it may be fixed; it then applies in full.
    p.migration(MIGRATION, &statements("SELECT 1"));
    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("{MIGRATION} pre-data: 3 statements in ")),
        "{}",
        out.stdout
    );
    assert!(admin.has_table("kill_first").await && admin.has_table("kill_second").await);
    let ledger = admin.ledger().await;
    assert!(
        ledger.len() == 1 && ledger[0].success && ledger[0].statements_done == 3,
        "{ledger:?}"
    );
    eprintln!("postgres: the killed run exited {exit_after:?} after its session ended");
}

#[tokio::test]
async fn destination_killed_mid_apply_leaves_a_consistent_ledger_mariadb() {
    let Some(p) = Project::named(Engine::Mysql, "seaway_test_x_kill_my").await else {
        return;
    };
    let mut admin = p.db().await;
    // apply connects as a user of its own, with a password, so that the test can check
    // the password is never printed.
    let user = "seaway_x_kill";
    // Dropped with the guard, also when an assertion below fails.
    let _users = MysqlUsers {
        admin: p.url.clone(),
        user,
    };
    for host in ["%", "localhost", "127.0.0.1"] {
        for sql in [
            format!("DROP USER IF EXISTS '{user}'@'{host}'"),
            format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{SECRET}'"),
            format!(
                "GRANT ALL PRIVILEGES ON `{}`.* TO '{user}'@'{host}'",
                p.database
            ),
        ] {
            admin.execute(&sql).await;
        }
    }
    p.write_config(&format!(
        "mysql://{user}:{SECRET}@{}/{}",
        endpoint(&p.url),
        p.database
    ));
    let gate = format!("{}_gate", p.database);
    let blocking = format!("SELECT GET_LOCK('{gate}', 60)");
    let file = p.migration(MIGRATION, &statements(&blocking));
    let original = std::fs::read_to_string(&file).expect("read migration");

    let mut holder = p.db().await;
    assert_eq!(
        holder.count(&format!("SELECT GET_LOCK('{gate}', 0)")).await,
        1,
        "the test must hold the gate"
    );
    let mut run = Running::start(&p);
    let id = session_of_blocking_statement(
        &mut admin,
        &mut run,
        &format!(
            "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE DB = '{}' \
             AND INFO LIKE 'SELECT GET_LOCK(''{gate}''%' AND ID <> CONNECTION_ID()",
            p.database
        ),
    )
    .await;
    admin.execute(&format!("KILL {id}")).await;
    let killed_at = Instant::now();
    let (code, out) = run.finish().await;
    let exit_after = killed_at.elapsed();

    assert_reported(&p, code, &out, SECRET);
    assert!(
        out.stderr.contains("Statement 1 stayed applied"),
        "{}",
        out.stderr
    );
    assert!(admin.has_table("kill_first").await, "statement 1 committed");
    assert!(!admin.has_table("kill_second").await);
    let ledger = admin.ledger().await;
    assert!(
        ledger.len() == 1 && !ledger[0].success && ledger[0].statements_done == 1,
        "the ledger must say statement 1 of the unfinished section is in effect: {ledger:?}"
    );
    let status = p.migrator(&["status"]);
    assert!(status.ok, "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains(&format!("{MIGRATION}  incomplete (1/3 done)")),
        "{}",
        status.stdout
    );

    // Statement 1 is in effect, so the file must not change under it.
    p.migration(MIGRATION, &statements("SELECT 1"));
    let out = p.migrator(&["apply"]);
    assert!(
        !out.ok,
        "a changed, partly applied migration must be refused"
    );
    assert!(
        out.stderr
            .contains(&format!("{MIGRATION}.sql: migration applied to `dest`"))
            && out.stderr.contains("an applied migration must not change"),
        "{}",
        out.stderr
    );
    assert!(!admin.has_table("kill_second").await);

    // The unchanged file, once the lock is free, resumes at statement 2: statement 1
    // (no IF NOT EXISTS) would fail if it ran again.
    std::fs::write(&file, &original).expect("restore migration");
    p.write_sum();
    holder
        .execute(&format!("SELECT RELEASE_LOCK('{gate}')"))
        .await;
    let out = p.migrator(&["apply"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "{MIGRATION} pre-data: 2 statements (resuming at statement 2 of 3)"
        )),
        "{}",
        out.stdout
    );
    assert!(admin.has_table("kill_second").await);
    let ledger = admin.ledger().await;
    assert!(
        ledger.len() == 1
            && ledger[0].success
            && ledger[0].statements_done == 3
            && ledger[0].error.is_none(),
        "{ledger:?}"
    );
    eprintln!("mariadb: the killed run exited {exit_after:?} after its session ended");
}

/// The MariaDB accounts `user`@{`%`, `localhost`, `127.0.0.1`} a test created, dropped when
/// this goes out of scope (also on a panic), as `TestDb` drops databases.
struct MysqlUsers {
    /// A URL with the rights to drop users (the test project's root URL).
    admin: String,
    user: &'static str,
}

impl Drop for MysqlUsers {
    fn drop(&mut self) {
        let statements = ["%", "localhost", "127.0.0.1"]
            .map(|host| format!("DROP USER IF EXISTS '{}'@'{host}'", self.user))
            .to_vec();
        if let Err(e) =
            crate::test_db::run_detached(crate::test_db::Kind::Mysql, &self.admin, statements)
        {
            eprintln!("warning: test users `{}` were not dropped: {e}", self.user);
        }
    }
}
