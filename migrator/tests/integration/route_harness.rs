//! Real parts for the routing tests: Chinook in PostgreSQL, the generated catalog
//! service's binary, a stand-in monolith serving the same paths, and HAProxy (Debian's
//! package) on free loopback ports with `codegen route`'s config. Everything started
//! here is stopped and removed on drop, pass or fail.

use crate::support;
use sqlx::Connection;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub fn require_live() -> bool {
    std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1")
}

/// Skips (or fails when live tests are required) for a missing binary.
pub fn missing(what: &str) -> Option<()> {
    let msg = format!("{what} is not available");
    assert!(!require_live(), "{msg}; SEAWAY_REQUIRE_LIVE=1 requires it");
    eprintln!("SKIPPED: {msg}");
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `cond` every 20 ms until it holds; fails naming `what` after `secs`.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which side answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Monolith,
    Service,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn side(&self) -> Side {
        if self.header("x-served-by") == Some("monolith") {
            Side::Monolith
        } else {
            Side::Service
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 client with a cookie jar: one client is one browser.
#[derive(Debug)]
pub struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
    pub cookies: HashMap<String, String>,
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client {
            port,
            conn: None,
            cookies: HashMap::new(),
        }
    }

    /// GET `path` with `headers`; a keep-alive connection the server closed meanwhile is
    /// reopened once (GETs are idempotent).
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        match self.try_get(path, headers) {
            Ok(r) => Ok(r),
            Err(_) if self.conn.is_some() => {
                self.conn = None;
                self.try_get(path, headers)
            }
            Err(e) => Err(e),
        }
    }

    fn try_get(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        let fresh = self.conn.is_none();
        if fresh {
            let s = TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connection");
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.cookies.is_empty() {
            let mut jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            jar.sort();
            req.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        req.push_str("\r\n");
        let result = (|| {
            conn.get_mut().write_all(req.as_bytes())?;
            read_response(conn)
        })();
        match result {
            Ok(r) => {
                for (n, v) in &r.headers {
                    if n.eq_ignore_ascii_case("set-cookie")
                        && let Some((kv, _)) = v.split_once(';').or(Some((v.as_str(), "")))
                        && let Some((k, val)) = kv.split_once('=')
                    {
                        self.cookies
                            .insert(k.trim().to_string(), val.trim().to_string());
                    }
                }
                if r.header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                {
                    self.conn = None;
                }
                Ok(r)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<Response> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    conn.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The stand-in monolith: answers every path 200 with `X-Served-By: monolith`, keeps
/// connections alive, and stops on drop.
pub struct Monolith {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Monolith {
    pub fn start() -> Monolith {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind monolith");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let flag = flag.clone();
                        std::thread::spawn(move || serve_monolith(s, &flag));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Monolith { port, stop }
    }
}

fn serve_monolith(s: TcpStream, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        if line.trim().is_empty() {
            continue;
        }
        // Headers up to the blank line (GETs only: no body).
        loop {
            let mut h = String::new();
            match r.read_line(&mut h) {
                Ok(0) => return,
                Ok(_) if h.trim().is_empty() => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
        let body = "{\"served_by\":\"monolith\"}";
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Served-By: monolith\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if r.get_mut().write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

impl Drop for Monolith {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Chinook in its own PostgreSQL database (`seaway_test_*`), dropped on drop.
pub struct Database {
    pub url: String,
    _db: support::TestDb,
}

impl Database {
    pub fn create(name: &str) -> Option<Database> {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        // The edition, with its keys as seaway writes the SQLite edition's (bigint), which
        // is what the services are generated from.
        let sql = ["postgres.sql", "postgres-rowid-keys.sql"]
            .map(|f| {
                std::fs::read_to_string(support::repo_root().join("fixtures/chinook").join(f))
                    .expect("fixture")
            })
            .join("\n");
        let db = rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = support::fresh_database(support::Engine::Postgres, name, dir.path()).await?;
            let mut c = sqlx::PgConnection::connect(&db).await.expect("db");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .expect("chinook");
            let _ = c.close().await;
            Some(db)
        })?;
        Some(Database {
            url: db.url.clone(),
            _db: db,
        })
    }

    /// Runs `sql` in the database.
    #[allow(dead_code)]
    pub fn execute(&self, sql: &str) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.url).await.expect("db");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .expect("sql");
            let _ = c.close().await;
        });
    }
}

/// The target folder the test binary runs from (`target/debug`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .expect("target dir")
}

/// Starts the generated catalog service on a free port, healthy; `None` (skip) when it
/// is not built.
pub fn catalog_service(db: &Database) -> Option<(Proc, u16)> {
    let bin = bin_dir().join("catalog-service");
    if !bin.is_file() {
        missing(&format!("{} (cargo build --workspace)", bin.display()))?;
    }
    let port = free_port();
    let child = Command::new(&bin)
        .env("DATABASE_URL", &db.url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start catalog-service");
    let proc = Proc(child);
    wait_for(30, "catalog-service /health", || {
        Client::new(port)
            .get("/health", &[])
            .is_ok_and(|r| r.status == 200)
    });
    Some((proc, port))
}

/// A project folder with seaway.yaml (routing as given) and the Chinook snapshot, and
/// the HAProxy running its `codegen route` config.
pub struct Proxy {
    pub dir: tempfile::TempDir,
    pub port: u16,
    proc: Option<Proc>,
}

impl Proxy {
    /// Writes the project for `route` (the YAML body of `routing.services.catalog`).
    pub fn project(monolith: u16, service: u16, route: &str) -> Option<Proxy> {
        if Command::new("haproxy").arg("-v").output().is_err() {
            missing("haproxy (apt-get install haproxy)")?;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let schema = dir.path().join("generated/schema");
        std::fs::create_dir_all(&schema).expect("mkdir");
        std::fs::copy(
            support::repo_root().join("generated/schema/chinook.yaml"),
            schema.join("chinook.yaml"),
        )
        .expect("snapshot");
        let config = format!(
            "connections:\n  chinook:\n    url: \"sqlite://unused.sqlite\"\nsource: chinook\noutput: generated\n\
             services:\n  names:\n    Track: catalog\n    Invoice: sales\n  database_naming: snake_case\n\
             routing:\n  listen: \"127.0.0.1:{port}\"\n  monolith: \"127.0.0.1:{monolith}\"\n  check_interval_ms: 200\n\
             \x20 services:\n    catalog:\n      address: \"127.0.0.1:{service}\"\n{route}"
        );
        std::fs::write(dir.path().join("seaway.yaml"), config).expect("config");
        let p = Proxy {
            dir,
            port,
            proc: None,
        };
        let cfg = seaway_codegen::config::Config::load(&p.config()).expect("config loads");
        let file = seaway_codegen::commands::route::run(&cfg)
            .expect("codegen route")
            .expect("routing section");
        std::fs::create_dir_all(file.path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file.path, &file.contents).expect("write cfg");
        std::fs::create_dir_all(p.dir.path().join(".seaway/route")).expect("mkdir");
        Some(p)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("seaway.yaml")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join(".seaway/route/haproxy.sock")
    }

    /// Starts HAProxy (foreground, `-db`) and waits until it listens and the service's
    /// health check has passed.
    pub fn start(&mut self) {
        let child = Command::new("haproxy")
            .args(["-db", "-f", "generated/route/haproxy.cfg"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        self.proc = Some(Proc(child));
        let port = self.port;
        wait_for(20, "haproxy to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stat = self.admin("show stat");
            if stat.lines().any(|l| {
                // A blue-green service starts in maintenance, where nothing is checked.
                l.starts_with("catalog,service,") && (l.contains("L7OK") || l.contains(",MAINT,"))
            }) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the service's health check never passed:\n{stat}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// A command on the admin socket (for looking, not changing: changes go through
    /// `migrator route`).
    pub fn admin(&self, command: &str) -> String {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.socket()) else {
            return String::new();
        };
        let _ = writeln!(s, "{command}");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// `migrator route <args>` against this project; (success, stdout, stderr).
    pub fn migrator(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_migrator"))
            .arg("--config")
            .arg(self.config())
            .arg("route")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run migrator");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `migrator route <args>`, which must succeed.
    pub fn route(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.migrator(args);
        assert!(ok, "migrator route {args:?} failed:\n{out}\n{err}");
        out
    }

    #[allow(dead_code)]
    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join(".seaway/route/haproxy.state")
    }
}

/// `n` GETs of `path` from `clients` keep-alive clients at once; the sides that answered.
pub fn spray(port: u16, path: &str, n: usize, clients: usize) -> Vec<Side> {
    let per = n / clients;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let path = path.to_string();
            std::thread::spawn(move || {
                let mut c = Client::new(port);
                (0..per)
                    .map(|_| {
                        let r = c.get(&path, &[]).expect("request");
                        assert_eq!(r.status, 200, "{}", r.body);
                        r.side()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect()
}

pub fn share(sides: &[Side]) -> f64 {
    sides.iter().filter(|s| **s == Side::Service).count() as f64 / sides.len().max(1) as f64
}
