//! The databases tests create on the live servers: every one is named `seaway_test_*`, and
//! each is dropped by its [`TestDb`] when that goes out of scope, also when the test panics
//! (unwinding runs it), so a run leaves the servers as it found them.
//!
//! Shared by the codegen and migrator test binaries (the migrator's includes this file by
//! path). A test closes its own connections before its `TestDb` drops: locals drop in reverse
//! order, so a `TestDb` made first is dropped last. PostgreSQL's `WITH (FORCE)` ends any
//! session still connected; MariaDB's DROP waits only for open transactions' locks.

use sqlx::Connection;
use std::time::Duration;

/// The prefix of every test database's name, and of nothing else.
pub const PREFIX: &str = "seaway_test_";

/// How long a drop may take before the test fails with the database's name.
const DROP_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mysql,
}

/// A test database's URL (what it derefs to), and for a server database the duty to drop it.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    /// `None` for a SQLite file: it lives in the test's temp folder.
    server: Option<(Kind, String, String)>,
}

impl TestDb {
    /// Drops `name` if a previous run left it, creates it empty on the server at
    /// `admin_url` (a URL to an existing admin database), and returns it at `url`.
    /// Panics unless `name` has [`PREFIX`] and fits both engines' identifier limits.
    pub async fn create(kind: Kind, admin_url: &str, name: &str, url: String) -> TestDb {
        assert!(
            name.starts_with(PREFIX)
                && name.len() <= 63
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "test database `{name}`: names are `{PREFIX}` + [A-Za-z0-9_], at most 63 bytes"
        );
        // From here on, a panic (a failed CREATE) still drops whatever exists.
        let db = TestDb {
            url,
            server: Some((kind, admin_url.to_string(), name.to_string())),
        };
        let create = match kind {
            Kind::Postgres => format!("CREATE DATABASE \"{name}\""),
            Kind::Mysql => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
        };
        let mut statements = drop_sql(kind, name);
        statements.push(create);
        if let Err(e) = execute(kind, admin_url, &statements).await {
            panic!("recreate test database `{name}`: {e}");
        }
        db
    }

    /// A SQLite database at `url`: nothing to drop on a server.
    pub fn file(url: String) -> TestDb {
        TestDb { url, server: None }
    }
}

impl std::ops::Deref for TestDb {
    type Target = String;
    fn deref(&self) -> &String {
        &self.url
    }
}

impl std::fmt::Display for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((kind, admin, name)) = self.server.clone() else {
            return;
        };
        let mut statements = drop_sql(kind, &name);
        if kind == Kind::Mysql {
            // Give up on the server as well when a lock is never released.
            let secs = DROP_WITHIN.as_secs();
            statements.insert(0, format!("SET SESSION lock_wait_timeout = {secs}"));
        }
        if let Err(e) = run_detached(kind, &admin, statements) {
            let msg = format!("test database `{name}` was not dropped: {e}");
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// Runs `statements` on a new connection to `admin_url` from a `Drop`: a Drop cannot
/// await, and it may run on a thread of the test's own runtime, which cannot be blocked
/// on, so this runs them from a new thread with a runtime of its own, within
/// [`DROP_WITHIN`]. For every guard that undoes what a test made on a server.
pub fn run_detached(kind: Kind, admin_url: &str, statements: Vec<String>) -> Result<(), String> {
    let admin = admin_url.to_string();
    std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            match tokio::time::timeout(DROP_WITHIN, execute(kind, &admin, &statements)).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "no answer within {}s (a connection of the test still open in a transaction?)",
                    DROP_WITHIN.as_secs()
                )),
            }
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the dropping thread panicked".to_string()))
}

fn drop_sql(kind: Kind, name: &str) -> Vec<String> {
    match kind {
        // A logical replication slot on the database (a sync test's) blocks DROP
        // DATABASE, even WITH (FORCE): its session is ended (waiting up to 10 s) and the
        // slot dropped first (one that went meanwhile is no error).
        Kind::Postgres => vec![
            format!(
                "DO $$ DECLARE s record; BEGIN \
                 FOR s IN SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = '{name}' LOOP \
                 IF s.active_pid IS NOT NULL THEN PERFORM pg_terminate_backend(s.active_pid, 10000); END IF; \
                 BEGIN PERFORM pg_drop_replication_slot(s.slot_name); \
                 EXCEPTION WHEN undefined_object THEN NULL; END; \
                 END LOOP; END $$"
            ),
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        ],
        Kind::Mysql => vec![format!("DROP DATABASE IF EXISTS `{name}`")],
    }
}

/// Runs `statements` in order on one new connection to `admin_url`, then closes it.
async fn execute(kind: Kind, admin_url: &str, statements: &[String]) -> Result<(), String> {
    let run = async {
        match kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(admin_url).await?;
                for sql in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                        .execute(&mut c)
                        .await?;
                }
                c.close().await
            }
            Kind::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(admin_url).await?;
                for sql in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                        .execute(&mut c)
                        .await?;
                }
                c.close().await
            }
        }
    };
    run.await.map_err(|e: sqlx::Error| e.to_string())
}
