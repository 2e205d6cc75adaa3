//! Shared test plumbing: live servers (skipped with a reason when absent, required when
//! `SEAWAY_REQUIRE_LIVE=1`), a throwaway project per test with its own destination
//! database (`seaway_test_m_<name>`, dropped with the project: see `test_db`), migration
//! files written like `codegen` writes them, running the binary, and looking at the
//! destination directly.

use crate::test_db::Kind;
pub use crate::test_db::TestDb;
use seaway_codegen::migrations::{self, Migration, Section, Statement};
use seaway_migrator::apply::LedgerRow;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
    Sqlite,
}

impl Engine {
    /// Short suffix for database names, so each engine's run of a test has its own.
    fn suffix(self) -> &'static str {
        match self {
            Engine::Postgres => "pg",
            Engine::Mysql => "my",
            Engine::Sqlite => "lite",
        }
    }

    /// The server kind of a test database on this engine (not SQLite: a file).
    fn kind(self) -> Kind {
        match self {
            Engine::Postgres => Kind::Postgres,
            Engine::Mysql => Kind::Mysql,
            Engine::Sqlite => unreachable!("SQLite databases are files in the test's temp folder"),
        }
    }
}

pub fn require_live() -> bool {
    std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1")
}

/// The admin URL of the engine's test server, or `None` (after printing why) when it
/// does not answer within 5 s.
pub async fn server(engine: Engine) -> Option<String> {
    let (env_var, default, what) = match engine {
        Engine::Postgres => (
            "TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "PostgreSQL",
        ),
        Engine::Mysql => (
            "TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/mysql",
            "MariaDB",
        ),
        Engine::Sqlite => return Some(String::new()),
    };
    let url = std::env::var(env_var).unwrap_or_else(|_| default.to_string());
    let attempt = async {
        match engine {
            Engine::Postgres => sqlx::PgConnection::connect(&url).await?.close().await,
            _ => sqlx::MySqlConnection::connect(&url).await?.close().await,
        }
    };
    let err = match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(())) => return Some(url),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    let msg = format!("{what} at {url} is not reachable ({err})");
    if require_live() {
        panic!("{msg}; SEAWAY_REQUIRE_LIVE=1 requires it (see .ci/run for how CI starts it)");
    }
    eprintln!(
        "SKIPPED: {msg}; set {env_var} or start the server (SEAWAY_REQUIRE_LIVE=1 makes this a failure)"
    );
    None
}

/// `base/name` for a server URL `base/admin_db`.
pub fn with_database(admin_url: &str, name: &str) -> String {
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    format!("{base}/{name}")
}

/// What one run of the binary printed.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A temp folder with a `seaway.yaml` whose destination `dest` is a fresh database.
pub struct Project {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    /// The destination's URL, as in the config.
    pub url: String,
    /// The destination database's name (`seaway_test_m_<name>_<engine>`), or the SQLite file.
    pub database: String,
    /// Drops the server database with the project (after `dir`: fields drop in order).
    _db: TestDb,
}

impl Project {
    /// A project whose destination is a new, empty database; `None` when the engine's
    /// server is absent (the test then returns: skipped).
    pub async fn new(engine: Engine, name: &str) -> Option<Project> {
        Project::named(engine, &format!("seaway_test_m_{name}_{}", engine.suffix())).await
    }

    /// As [`Project::new`], with the server database's full name chosen by the caller.
    pub async fn named(engine: Engine, database: &str) -> Option<Project> {
        let admin = server(engine).await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let database = database.to_string();
        let (db, database) = match engine {
            Engine::Sqlite => (
                TestDb::file("sqlite://dest.db".to_string()),
                dir.path().join("dest.db").display().to_string(),
            ),
            Engine::Postgres | Engine::Mysql => {
                let url = with_database(&admin, &database);
                let db = TestDb::create(engine.kind(), &admin, &database, url).await;
                (db, database)
            }
        };
        let project = Project {
            engine,
            dir,
            url: db.url.clone(),
            database,
            _db: db,
        };
        project.write_config(&project.url.clone());
        std::fs::create_dir_all(project.migrations_dir()).expect("migrations dir");
        Some(project)
    }

    /// (Re)writes `seaway.yaml` with `url` as the destination.
    pub fn write_config(&self, url: &str) {
        let config =
            format!("connections:\n  dest:\n    url: \"{url}\"\nsource: dest\ndestination: dest\n");
        std::fs::write(self.config_path(), config).expect("write config");
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("seaway.yaml")
    }

    pub fn migrations_dir(&self) -> PathBuf {
        self.dir.path().join("generated/migrations/dest")
    }

    pub fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("dest.db")
    }

    /// Writes `<name>.sql` as `codegen` renders it and regenerates `migrations.sum`.
    pub fn migration(&self, name: &str, statements: &[(Section, &str, &str)]) -> PathBuf {
        let statements: Vec<Statement> = statements
            .iter()
            .map(|&(section, description, sql)| Statement {
                section,
                description: description.into(),
                sql: sql.into(),
            })
            .collect();
        let path = self.migrations_dir().join(format!("{name}.sql"));
        std::fs::write(&path, migrations::render(name, "test", &statements))
            .expect("write migration");
        self.write_sum();
        path
    }

    /// Writes `migrations.sum` for the files now in the folder, as `codegen` would.
    pub fn write_sum(&self) {
        write_sum(&self.migrations_dir());
    }

    /// Runs `migrator --config <this> <args>`.
    pub fn migrator(&self, args: &[&str]) -> Output {
        run_migrator(&self.config_path(), args)
    }

    /// A new connection to the destination, for looking at it behind the binary's back.
    pub async fn db(&self) -> Db {
        match self.engine {
            Engine::Postgres => Db::Pg(
                sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect"),
            ),
            Engine::Mysql => Db::My(
                sqlx::MySqlConnection::connect(&self.url)
                    .await
                    .expect("connect"),
            ),
            Engine::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(self.sqlite_file())
                    .create_if_missing(true);
                Db::Lite(
                    sqlx::SqliteConnection::connect_with(&opts)
                        .await
                        .expect("connect"),
                )
            }
        }
    }
}

/// Writes `migrations.sum` for the migration files now in `dir`, as `codegen` would.
pub fn write_sum(dir: &Path) {
    let mut files: Vec<Migration> = std::fs::read_dir(dir)
        .expect("read migrations dir")
        .filter_map(|e| {
            let path = e.expect("dir entry").path();
            let (version, name) = migrations::version_of(&path.file_name()?.to_string_lossy())?;
            let contents = std::fs::read_to_string(&path).expect("read migration");
            Some(Migration {
                version,
                name,
                checksum: migrations::checksum(&contents),
                path,
                contents,
            })
        })
        .collect();
    files.sort_by_key(|m| m.version);
    std::fs::write(dir.join(migrations::SUM_FILE), migrations::sum_file(&files))
        .expect("write sum");
}

pub fn run_migrator(config: &Path, args: &[&str]) -> Output {
    let out = assert_cmd::Command::cargo_bin("migrator")
        .expect("migrator binary")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SEAWAY_CONFIG")
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run migrator");
    Output {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// A test's own connection to a destination.
pub enum Db {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
    Lite(sqlx::SqliteConnection),
}

impl Db {
    /// `execute` for a writer racing another connection: on SQLite in one `BEGIN
    /// IMMEDIATE` transaction, which waits for the write lock, where an autocommit
    /// statement that read first can fail at once ("database is locked") when another
    /// connection wrote since its read began.
    /// On MySQL/MariaDB, a statement the server picks as a deadlock's victim (it
    /// rolled it back whole) is sent again, as an application must.
    pub async fn write(&mut self, sql: &str) {
        match self {
            Db::Lite(_) => {
                self.execute(&format!("BEGIN IMMEDIATE; {sql}; COMMIT"))
                    .await
            }
            Db::Pg(_) => self.execute(sql).await,
            Db::My(c) => {
                let mut attempts = 0;
                loop {
                    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                        .execute(&mut *c)
                        .await;
                    match result {
                        Err(sqlx::Error::Database(e))
                            if e.code().as_deref() == Some("40001") && attempts < 20 =>
                        {
                            attempts += 1;
                        }
                        other => {
                            other.expect("test statement");
                            return;
                        }
                    }
                }
            }
        }
    }

    pub async fn execute(&mut self, sql: &str) {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()));
        match self {
            Db::Pg(c) => sql.execute(c).await.map(drop),
            Db::My(c) => sql.execute(c).await.map(drop),
            Db::Lite(c) => sql.execute(c).await.map(drop),
        }
        .expect("test statement");
    }

    /// A query returning one integer.
    pub async fn count(&mut self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Db::Pg(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Db::My(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Db::Lite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .expect("count query")
    }

    pub async fn has_table(&mut self, name: &str) -> bool {
        let sql = match self {
            Db::Pg(_) => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = '{name}'"
            ),
            Db::My(_) => format!(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{name}'"
            ),
            Db::Lite(_) => format!("SELECT count(*) FROM sqlite_master WHERE name = '{name}'"),
        };
        self.count(&sql).await > 0
    }

    pub async fn has_index(&mut self, name: &str) -> bool {
        let sql = match self {
            Db::Pg(_) => format!("SELECT count(*) FROM pg_indexes WHERE indexname = '{name}'"),
            Db::My(_) => format!(
                "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = '{name}'"
            ),
            Db::Lite(_) => format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '{name}'"
            ),
        };
        self.count(&sql).await > 0
    }

    pub async fn ledger(&mut self) -> Vec<LedgerRow> {
        let sql = "SELECT version, name, section, checksum, success, statements_done, error FROM seaway_migrations ORDER BY version, section";
        match self {
            Db::Pg(c) => sqlx::query_as(sql).fetch_all(c).await,
            Db::My(c) => sqlx::query_as(sql).fetch_all(c).await,
            Db::Lite(c) => sqlx::query_as(sql).fetch_all(c).await,
        }
        .expect("read ledger")
    }
}

/// A table, a second table and an index: the same SQL on every engine.
pub fn initial(project: &Project) -> PathBuf {
    project.migration(
        "0001_initial",
        &[
            (
                Section::PreData,
                "add table \"t_a\"",
                "CREATE TABLE t_a (id integer primary key, name varchar(40))",
            ),
            (
                Section::PreData,
                "add table \"t_b\"",
                "CREATE TABLE t_b (id integer primary key, a_id integer)",
            ),
            (
                Section::PostData,
                "add index \"t_a_name\" on \"t_a\"",
                "CREATE INDEX t_a_name ON t_a (name)",
            ),
        ],
    )
}

/// The bundled Chinook SQLite database, as an absolute `sqlite://` URL.
pub fn chinook_sqlite_url() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/chinook/chinook.sqlite");
    let path = path
        .canonicalize()
        .expect("fixtures/chinook/chinook.sqlite");
    format!("sqlite://{}", path.display())
}

/// A new, empty database `name` (`seaway_test_*`) on `engine`, dropped first if a previous
/// run left it and again when the returned [`TestDb`] is; `None` when the server is absent.
/// SQLite: `<dir>/<name>.sqlite`, removed if present and not created (seaway creates it on
/// first apply).
pub async fn fresh_database(engine: Engine, name: &str, dir: &Path) -> Option<TestDb> {
    let admin = server(engine).await?;
    if engine == Engine::Sqlite {
        let path = dir.join(format!("{name}.sqlite"));
        if path.exists() {
            std::fs::remove_file(&path).expect("remove the previous database file");
        }
        return Some(TestDb::file(format!("sqlite://{}", path.display())));
    }
    let url = with_database(&admin, name);
    Some(TestDb::create(engine.kind(), &admin, name, url).await)
}

/// The password in a server URL (`scheme://user:password@host...`), if it has one.
pub fn password_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let (userinfo, _) = rest.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password).filter(|p| !p.is_empty())
}

impl Db {
    /// A connection to `url` (a SQLite file is created if missing).
    pub async fn connect(engine: Engine, url: &str) -> Db {
        match engine {
            Engine::Postgres => Db::Pg(sqlx::PgConnection::connect(url).await.expect("connect")),
            Engine::Mysql => Db::My(sqlx::MySqlConnection::connect(url).await.expect("connect")),
            Engine::Sqlite => {
                let path = url.strip_prefix("sqlite://").expect("a sqlite:// URL");
                // A writer waits for the lock as long as sync may take to catch up on a
                // loaded machine (sqlx's default is 5 s), as an application would be
                // configured to.
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(30));
                Db::Lite(
                    sqlx::SqliteConnection::connect_with(&opts)
                        .await
                        .expect("connect"),
                )
            }
        }
    }

    pub async fn close(self) {
        match self {
            Db::Pg(c) => c.close().await,
            Db::My(c) => c.close().await,
            Db::Lite(c) => c.close().await,
        }
        .expect("close");
    }

    /// A query returning one text value (or NULL).
    pub async fn text(&mut self, sql: &str) -> Option<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Db::Pg(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Db::My(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Db::Lite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .expect("text query")
    }

    /// A query returning one integer, or `None` when it returns no row.
    pub async fn maybe_count(&mut self, sql: &str) -> Option<i64> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Db::Pg(c) => sqlx::query_scalar(sql).fetch_optional(c).await,
            Db::My(c) => sqlx::query_scalar(sql).fetch_optional(c).await,
            Db::Lite(c) => sqlx::query_scalar(sql).fetch_optional(c).await,
        }
        .expect("count query")
    }
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
