//! Shared test plumbing: live servers (skipped with a reason when absent, required when
//! `SEAWAY_REQUIRE_LIVE=1`), throwaway databases, fixture loading, and running the CLI.

use crate::test_db::Kind;
pub use crate::test_db::TestDb;
use sqlx::Connection;
use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("fixtures").join(rel)
}

fn require_live() -> bool {
    std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1")
}

/// Reports a missing server: a skip with its reason, or a failure when live tests are required.
fn unavailable(
    what: &str,
    env_var: &str,
    url: &str,
    err: &dyn std::fmt::Display,
) -> Option<Server> {
    let msg = format!("{what} at {url} is not reachable ({err})");
    if require_live() {
        panic!("{msg}; SEAWAY_REQUIRE_LIVE=1 requires it (see .ci/run for how CI starts it)");
    }
    eprintln!(
        "SKIPPED: {msg}; set {env_var} or start the server (SEAWAY_REQUIRE_LIVE=1 makes this a failure)"
    );
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

/// A live server on which tests create their own databases.
#[derive(Debug, Clone)]
pub struct Server {
    pub engine: Engine,
    /// Admin URL without a database path, e.g. `postgres://postgres@127.0.0.1:5432`.
    base: String,
}

pub async fn postgres() -> Option<Server> {
    probe(
        Engine::Postgres,
        "TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
    .await
}

pub async fn mysql() -> Option<Server> {
    probe(
        Engine::Mysql,
        "TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/mysql",
    )
    .await
}

/// Connects once to the server named by `env_var` (or `default`), within 5 s.
async fn probe(engine: Engine, env_var: &str, default: &str) -> Option<Server> {
    let url = std::env::var(env_var).unwrap_or_else(|_| default.to_string());
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(url.clone());
    let attempt = async {
        match engine {
            Engine::Postgres => sqlx::PgConnection::connect(&url).await?.close().await,
            Engine::Mysql => sqlx::MySqlConnection::connect(&url).await?.close().await,
        }
    };
    let what = match engine {
        Engine::Postgres => "PostgreSQL",
        Engine::Mysql => "MariaDB",
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), attempt).await {
        Ok(Ok(())) => Some(Server { engine, base }),
        Ok(Err(e)) => unavailable(what, env_var, &url, &e),
        Err(e) => unavailable(what, env_var, &url, &e),
    }
}

impl Server {
    fn admin_url(&self) -> String {
        match self.engine {
            Engine::Postgres => format!("{}/postgres", self.base),
            Engine::Mysql => format!("{}/mysql", self.base),
        }
    }

    /// URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Drops and recreates database `name` (`seaway_test_*`), then runs `sql` in it; the
    /// database is dropped again when the returned [`TestDb`] is. Names are per test, so
    /// tests running in parallel never share a database.
    pub async fn fresh_db(&self, name: &str, sql: Option<&str>) -> TestDb {
        let kind = match self.engine {
            Engine::Postgres => Kind::Postgres,
            Engine::Mysql => Kind::Mysql,
        };
        let db = TestDb::create(kind, &self.admin_url(), name, self.url(name)).await;
        if let Some(sql) = sql {
            let sql = sqlx::AssertSqlSafe(sql.to_string());
            match self.engine {
                Engine::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&db)
                        .await
                        .expect("connect test db");
                    sqlx::raw_sql(sql)
                        .execute(&mut c)
                        .await
                        .expect("load fixture");
                    let _ = c.close().await;
                }
                Engine::Mysql => {
                    let mut c = sqlx::MySqlConnection::connect(&db)
                        .await
                        .expect("connect test db");
                    sqlx::raw_sql(sql)
                        .execute(&mut c)
                        .await
                        .expect("load fixture");
                    let _ = c.close().await;
                }
            }
        }
        db
    }
}

/// A temp folder holding a `seaway.yaml`, for running the CLI or loading a Config.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("seaway.yaml"), config).expect("write config");
        Project { dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("seaway.yaml")
    }

    pub fn config(&self) -> seaway_codegen::config::Config {
        seaway_codegen::config::Config::load(&self.config_path()).expect("valid config")
    }

    pub fn generated(&self) -> PathBuf {
        self.dir.path().join("generated")
    }

    /// Runs `codegen --config <this> <args>`; returns (success, stdout, stderr).
    pub fn codegen(&self, args: &[&str]) -> (bool, String, String) {
        let out = assert_cmd::Command::cargo_bin("codegen")
            .expect("codegen binary")
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env_remove("SEAWAY_CONFIG")
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run codegen");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

/// Reads `-- neutral: X` annotations from the `CREATE TABLE <table>` block of a fixture:
/// `(column, expected neutral type)` in order.
pub fn annotations(sql: &str, table: &str) -> Vec<(String, String)> {
    let start = format!("CREATE TABLE {table} (");
    let mut inside = false;
    let mut out = Vec::new();
    for line in sql.lines() {
        if line.trim_start().starts_with(&start) {
            inside = true;
            continue;
        }
        if inside && line.trim_start().starts_with(')') {
            break;
        }
        if let (true, Some((def, ty))) = (inside, line.split_once("-- neutral:")) {
            let name = def
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches(',')
                .trim_matches(|c| c == '"' || c == '`');
            out.push((name.to_string(), ty.trim().to_string()));
        }
    }
    out
}

/// Creates the SQLite type zoo in a new database file at `path`.
pub async fn sqlite_zoo(path: &Path) {
    sqlite_fixture(path, "zoo/sqlite.sql").await;
}

/// Creates a new SQLite database file at `path` from the fixture `rel` (under
/// `fixtures/`).
pub async fn sqlite_fixture(path: &Path, rel: &str) {
    let sql = std::fs::read_to_string(fixture(rel)).expect("fixture");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut c = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("create sqlite");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("load {rel}: {e}"));
    let _ = c.close().await;
}
