//! Running `migrator serve` in a test: the binary on a free port (`--bind 127.0.0.1:0`,
//! the port read from its first line), its log kept in a file the test can grep, tokens
//! of each role, an HTTP client that keeps every response body (to grep for passwords),
//! and a reader of Server-Sent Events. The server is killed when the test ends, passed
//! or failed.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "admin-token-7f3a9c1e5b2d4680";
pub const OPERATOR: &str = "operator-token-4b8e2a6c0d9f1357";
pub const VIEWER: &str = "viewer-token-9d1f3b5a7c2e4608";

/// How long the server may take to start, and a job to get somewhere.
pub const BOUND: Duration = Duration::from_secs(120);

/// A running `migrator serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its stderr (the log), appended to across restarts.
    pub log: PathBuf,
}

impl Server {
    /// Starts the server on `config`, its log appended to `<config dir>/serve.log`.
    pub fn start(config: &Path) -> Server {
        let log = config.with_file_name("serve.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("migrator"))
            .arg("--config")
            .arg(config)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("SEAWAY_CONFIG")
            .env(
                "SEAWAY_SERVE_TOKENS",
                format!("ada:admin:{ADMIN},otto:operator:{OPERATOR},vera:viewer:{VIEWER}"),
            )
            .env("SEAWAY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start migrator serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            base: String::new(),
            log,
        };
        let started = Instant::now();
        loop {
            if let Ok(base) = rx.recv_timeout(Duration::from_millis(100)) {
                server.base = base;
                return server;
            }
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "migrator serve exited with {status} before listening:\n{}",
                    server.log_text()
                );
            }
            assert!(
                started.elapsed() < BOUND,
                "migrator serve did not start:\n{}",
                server.log_text()
            );
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to checkpoint or clean up.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (at most [`BOUND`]); returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status.success();
            }
            if started.elapsed() > BOUND {
                let _ = c.kill();
                panic!("migrator serve did not stop within {BOUND:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub set_cookie: Option<String>,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts a problem document with this status, and returns its detail.
    pub fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{}", self.text);
        body["detail"].as_str().expect("detail").to_string()
    }
}

/// An HTTP client for one server, keeping every body it received.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    pub transcript: Arc<Mutex<String>>,
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("client"),
            base: server.base.clone(),
            transcript: Arc::default(),
        }
    }

    /// The same client (and transcript) for a restarted server.
    pub fn to(&self, server: &Server) -> Client {
        Client {
            base: server.base.clone(),
            ..self.clone()
        }
    }

    /// A request with a bearer token (or none), extra headers and a JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let set_cookie = header(reqwest::header::SET_COOKIE);
        let text = resp.text().await.expect("body");
        if let Ok(mut t) = self.transcript.lock() {
            t.push_str(&text);
            t.push('\n');
        }
        Reply {
            status,
            content_type,
            set_cookie,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), &[], None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(token), &[], Some(body)).await
    }

    /// Starts a job as the operator (201) and returns its id.
    pub async fn start_job(&self, body: &Value) -> i64 {
        let r = self.post("/api/jobs", OPERATOR, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_i64().expect("id")
    }

    /// Follows `path`'s event stream, calling `seen` with each `job` event's data until it
    /// returns true (then true) or the stream ends (then false); fails after [`BOUND`].
    pub async fn follow(
        &self,
        path: &str,
        token: &str,
        mut seen: impl FnMut(&Value) -> bool,
    ) -> bool {
        let mut resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .timeout(BOUND)
            .send()
            .await
            .expect("event stream");
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream")),
            "not an event stream"
        );
        let mut buffer = String::new();
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < BOUND, "no final event within {BOUND:?}");
            let chunk = match resp.chunk().await.expect("stream chunk") {
                Some(c) => c,
                None => return false,
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            if let Ok(mut t) = self.transcript.lock() {
                t.push_str(&String::from_utf8_lossy(&chunk));
            }
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                if event.lines().any(|l| l == "event: job") {
                    let value: Value = serde_json::from_str(&data).expect("event data is JSON");
                    if seen(&value) {
                        return true;
                    }
                }
            }
        }
    }

    /// Polls `GET /api/jobs/{id}` until `done` holds (a bounded wait on a real condition).
    pub async fn wait_job(&self, id: i64, mut done: impl FnMut(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.get(&format!("/api/jobs/{id}"), VIEWER).await.json();
            if done(&job) {
                return job;
            }
            assert!(started.elapsed() < BOUND, "job {id} never got there: {job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `secret` is in no response `c` received and no line of `server`'s log, nor (when
/// given) in any file of the store folder `store`, which must hold the jobs.
pub fn assert_hidden(secret: &str, c: &Client, server: &Server, store: Option<&Path>) {
    let transcript = c.transcript.lock().expect("transcript").clone();
    assert!(
        !transcript.contains(secret),
        "a response holds the password"
    );
    assert!(
        !server.log_text().contains(secret),
        "the log holds the password"
    );
    if let Some(dir) = store {
        let text = all_files_text(dir);
        assert!(
            text.contains("seaway_serve_jobs"),
            "the store is not in {}",
            dir.display()
        );
        assert!(!text.contains(secret), "the store holds the password");
    }
}

/// Every file under `dir` (the state store, its WAL, logs, rejects) as lossy text.
pub fn all_files_text(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}
