//! `migrator serve`, end to end against the built binary: access (401, 403, CSRF), what
//! the API refuses (hosts off the allow list, `${VAR}`, SQL text), a transfer job
//! followed over SSE through a SIGTERM and a SIGKILL to exact rows, no password in any
//! response, log line or store file, the `/migrate` compatibility body between
//! PostgreSQL and MariaDB both ways, webhooks, and the checked-in OpenAPI document.

use crate::serve_harness::{ADMIN, BOUND, Client, OPERATOR, Server, VIEWER, assert_hidden};
use crate::support::{self, Db, Engine};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A project reading the bundled Chinook (SQLite) into `destination`, whose tables are
/// created first (`diff`, then `migrator apply`); `extra` is appended to the config.
pub async fn chinook_project(dir: &Path, destination: &str, extra: &str) -> PathBuf {
    let path = dir.join("seaway.yaml");
    std::fs::write(
        &path,
        format!(
            "connections:\n  chinook:\n    url: \"{}\"\n  dest:\n    url: \"{destination}\"\nsource: chinook\ndestination: dest\n{extra}",
            support::chinook_sqlite_url()
        ),
    )
    .expect("config");
    let config = Config::load(&path).expect("config loads");
    let outcome = diff::run(&config).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&outcome.files).expect("write migration");
    let applied = support::run_migrator(&path, &["apply"]);
    assert!(applied.ok, "apply failed:\n{}", applied.stderr);
    path
}

fn sqlite_destination(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("dest.sqlite").display())
}

/// The table's chunk grid: some chunks, all done.
async fn assert_chunks_done(c: &Client, id: i64, table: &str) {
    let detail = c
        .get(&format!("/api/jobs/{id}/tables/{table}"), VIEWER)
        .await
        .json();
    let chunks = detail["chunks"].as_array().expect("chunks");
    assert!(
        !chunks.is_empty() && chunks.iter().all(|ch| ch["state"] == "done"),
        "{detail}"
    );
}

fn is_final(job: &Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

#[test]
fn the_checked_in_openapi_document_is_the_one_the_handlers_make() {
    let path = support::repo_root().join("migrator/openapi.json");
    let current = seaway_migrator::serve::document();
    if std::env::var("SEAWAY_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &current).expect("write openapi.json");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "migrator/openapi.json is stale: regenerate it with `just serve-openapi`"
    );
    let doc: Value = serde_json::from_str(&current).expect("JSON");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/health",
        "/test-connection",
        "/migrate",
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/jobs/{id}/tables/{table}",
        "/api/jobs/{id}/retry",
        "/api/jobs/{id}/cancel",
        "/api/jobs/{id}/events",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} is not in the document"
        );
    }
}

#[tokio::test]
async fn access_needs_a_token_with_the_role_and_a_session_needs_its_csrf_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = chinook_project(dir.path(), &sqlite_destination(dir.path()), "").await;
    let server = Server::start(&config);
    let c = Client::new(&server);

    let health = c.send("GET", "/health", None, &[], None).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json()["store_reachable"], true);

    for (method, path) in [
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/1"),
        ("GET", "/api/events"),
        ("GET", "/openapi.json"),
        ("POST", "/migrate"),
        ("POST", "/test-connection"),
    ] {
        let r = c.send(method, path, None, &[], Some(&json!({}))).await;
        let detail = r.problem(401);
        assert!(detail.contains("Bearer"), "{method} {path}: {detail}");
        let r = c
            .send(
                method,
                path,
                Some("not-a-token-of-this-server"),
                &[],
                Some(&json!({})),
            )
            .await;
        r.problem(401);
    }

    // A viewer reads but starts, retries and cancels nothing.
    assert_eq!(c.get("/api/jobs", VIEWER).await.status, 200);
    let start = json!({"kind": "transfer"});
    let detail = c.post("/api/jobs", VIEWER, &start).await.problem(403);
    assert!(
        detail.contains("`vera` has role viewer") && detail.contains("operator"),
        "{detail}"
    );
    c.post("/api/jobs/1/retry", VIEWER, &json!({}))
        .await
        .problem(403);
    c.post("/api/jobs/1/cancel", VIEWER, &json!({}))
        .await
        .problem(403);
    c.post("/migrate", VIEWER, &json!({})).await.problem(403);
    c.get("/api/audit", OPERATOR).await.problem(403);
    assert_eq!(
        c.get("/api/jobs", VIEWER).await.json(),
        json!([]),
        "nothing started"
    );

    // The dashboard's session: an HttpOnly, SameSite=Strict cookie and a CSRF token.
    let login = c
        .send(
            "POST",
            "/login",
            None,
            &[],
            Some(&json!({"token": OPERATOR})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let set_cookie = login.set_cookie.clone().expect("a session cookie");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let csrf = login.json()["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_string();
    c.send(
        "POST",
        "/login",
        None,
        &[],
        Some(&json!({"token": "wrong-token-123456789"})),
    )
    .await
    .problem(401);

    // Reading with the cookie needs no CSRF token; the session tells the page its token.
    let me = c
        .send("GET", "/api/session", None, &[("cookie", &cookie)], None)
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["csrf_token"], csrf.as_str());

    // A cross-site form post carries the cookie but cannot know the CSRF token.
    let cross_site = [
        ("cookie", cookie.as_str()),
        ("origin", "https://elsewhere.example"),
    ];
    let detail = c
        .send("POST", "/api/jobs", None, &cross_site, Some(&start))
        .await
        .problem(403);
    assert!(detail.contains("X-CSRF-Token"), "{detail}");
    let wrong = [("cookie", cookie.as_str()), ("x-csrf-token", "0000")];
    c.send("POST", "/api/jobs", None, &wrong, Some(&start))
        .await
        .problem(403);
    assert_eq!(
        c.get("/api/jobs", VIEWER).await.json(),
        json!([]),
        "nothing started"
    );

    // With it, the operator's session starts a job, which the audit log records.
    let with_csrf = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let started = c
        .send("POST", "/api/jobs", None, &with_csrf, Some(&start))
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json()["id"].as_i64().expect("id");
    let job = c.wait_job(id, is_final).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let audit = c.get("/api/audit", ADMIN).await.json();
    assert_eq!(audit[0]["who"], "otto", "{audit}");
    assert_eq!(audit[0]["action"], "started", "{audit}");
    assert_eq!(audit[0]["job"], id, "{audit}");

    // Signing out ends the session.
    let out = c.send("POST", "/logout", None, &with_csrf, None).await;
    assert_eq!(out.status, 204, "{}", out.text);
    c.send("GET", "/api/session", None, &[("cookie", &cookie)], None)
        .await
        .problem(401);
}

#[tokio::test]
async fn refuses_hosts_off_the_allow_list_variables_and_sql_text_before_doing_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = chinook_project(
        dir.path(),
        &sqlite_destination(dir.path()),
        "server:\n  allow_hosts: [\"127.0.0.1\"]\n",
    )
    .await;
    let server = Server::start(&config);
    let c = Client::new(&server);

    // A listener on another loopback address stands for a host off the list: it must
    // never see a connection.
    let trap = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    trap.set_nonblocking(true).expect("nonblocking");
    let port = trap.local_addr().expect("addr").port();
    let endpoint = json!({"host": "127.0.0.2", "port": port, "database": "shop", "username": "u", "password": "pw-never-used"});
    let detail = c
        .post(
            "/test-connection",
            OPERATOR,
            &json!({"type": "postgresql", "host": "127.0.0.2", "port": port, "database": "shop"}),
        )
        .await
        .problem(400);
    assert!(
        detail.contains("`127.0.0.2` is not allowed") && detail.contains("server.allow_hosts"),
        "{detail}"
    );
    let detail = c
        .post(
            "/migrate",
            OPERATOR,
            &json!({"source_type": "postgresql", "dest_type": "mariadb",
                    "source": {"host": "127.0.0.1", "database": "a"}, "destination": endpoint}),
        )
        .await
        .problem(400);
    assert!(detail.starts_with("destination.host"), "{detail}");
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the server connected to a host off the allow list: {other:?}"),
    }

    // No variable is ever expanded, and no SQL text is taken, wherever it is put.
    for (body, wanted) in [
        (
            json!({"kind": "transfer", "tables": ["${HOME}"]}),
            "tables[0]: `${...}` is not accepted",
        ),
        (
            json!({"kind": "transfer", "destination": "${SEAWAY_CONFIG}"}),
            "destination: `${...}`",
        ),
        (
            json!({"kind": "transfer", "where": "1=1"}),
            "where: SQL text is not accepted",
        ),
        (
            json!({"kind": "transfer", "masks": {"Album": {"filter": "x"}}}),
            "masks.Album.filter: SQL text",
        ),
        (
            json!({"kind": "transfer", "tables": ["Album; DROP TABLE Album"]}),
            "is not a table or column name",
        ),
        (
            json!({"kind": "transfer", "renames": {"Album": "a' OR '1'='1"}}),
            "is not a table or column name",
        ),
        (
            json!({"kind": "transfer", "destination": "nope"}),
            "`nope` is not a connection",
        ),
        (
            json!({"kind": "transfer", "chunk_size": 0}),
            "chunk_size must be at least 1",
        ),
        (json!({"kind": "migrate"}), "POST /migrate"),
    ] {
        let detail = c.post("/api/jobs", OPERATOR, &body).await.problem(400);
        assert!(detail.contains(wanted), "{body}: {detail}");
    }
    assert_eq!(
        c.get("/api/jobs", VIEWER).await.json(),
        json!([]),
        "nothing started"
    );
}

/// The source's row count of each Chinook table.
async fn chinook_counts(tables: &[String]) -> Vec<i64> {
    let mut db = Db::connect(Engine::Sqlite, &support::chinook_sqlite_url()).await;
    let mut out = Vec::new();
    for t in tables {
        out.push(db.count(&format!("SELECT count(*) FROM \"{t}\"")).await);
    }
    db.close().await;
    out
}

#[tokio::test]
async fn a_transfer_job_streams_progress_resumes_after_sigterm_and_sigkill_and_never_shows_the_password()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(db) =
        support::fresh_database(Engine::Postgres, "seaway_test_m_serve_kill", dir.path()).await
    else {
        return;
    };
    let (url, password) = crate::transfer_faults::with_password(Engine::Postgres, &db).await;
    let config = chinook_project(dir.path(), &url, "").await;
    let mut server = Server::start(&config);
    let c = Client::new(&server);

    // Small pages: the run lasts long enough to be stopped twice in the middle.
    let body = json!({"kind": "transfer", "batch_size": 40, "workers": 1, "chunk_size": 2000});
    let id = c.start_job(&body).await;

    // Progress arrives as events: the rows done grow while the job runs.
    let mut seen = Vec::new();
    let events = format!("/api/jobs/{id}/events");
    let advancing = c
        .follow(&events, VIEWER, |job| {
            assert!(
                !is_final(job),
                "the job ended before it could be stopped: {job}"
            );
            let rows = job["rows_done"].as_i64().unwrap_or(0);
            if seen.last().is_none_or(|last| rows > *last) {
                seen.push(rows);
            }
            seen.len() >= 3 && rows > 0
        })
        .await;
    assert!(advancing, "the stream ended early: {seen:?}");

    // SIGTERM: the job stops at a checkpoint and stays `running`, to resume.
    assert!(
        server.terminate(),
        "SIGTERM must end the server cleanly:\n{}",
        server.log_text()
    );
    let mut server = Server::start(&config);
    let c = c.to(&server);
    assert!(
        server.log_text().contains(&format!("resumed job(s) {id}")),
        "not resumed after SIGTERM:\n{}",
        server.log_text()
    );
    let before = c
        .wait_job(id, |j| j["rows_done"].as_i64() > seen.last().copied())
        .await;
    assert_eq!(before["state"], "running", "{before}");

    // SIGKILL: no checkpoint at all; the transfer state alone resumes it.
    server.kill();
    let server = Server::start(&config);
    let c = c.to(&server);
    let job = c.wait_job(id, is_final).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // Exact rows: each destination table holds what the source holds.
    let tables: Vec<String> = job["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t["table"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(tables.len(), 11, "{job}");
    let source = chinook_counts(&tables).await;
    let mut dest = Db::connect(Engine::Postgres, &url).await;
    for ((t, want), row) in tables
        .iter()
        .zip(&source)
        .zip(job["tables"].as_array().expect("tables"))
    {
        let got = dest.count(&format!("SELECT count(*) FROM \"{t}\"")).await;
        assert_eq!(got, *want, "{t}: destination rows");
        assert_eq!(
            row["rows_done"].as_i64(),
            Some(*want),
            "{t}: the job's count"
        );
    }
    dest.close().await;

    // The chunk grid's data: every chunk of a table is done.
    assert_chunks_done(&c, id, "Track").await;

    // The password is in no response, log line or store file.
    let _ = c.get("/api/jobs", VIEWER).await;
    if let Some(pw) = password {
        assert_hidden(&pw, &c, &server, Some(&dir.path().join(".seaway")));
    }
}

/// `(host, port, user)` of a server URL.
fn endpoint_of(url: &str) -> (String, u16, String) {
    let u = url::Url::parse(url).expect("server URL");
    (
        u.host_str().expect("host").to_string(),
        u.port().expect("port"),
        u.username().to_string(),
    )
}

/// Both servers' admin URLs, or `None` (the test is skipped) when either is absent.
async fn both_servers() -> Option<(String, String)> {
    Some((
        support::server(Engine::Postgres).await?,
        support::server(Engine::Mysql).await?,
    ))
}

#[tokio::test]
async fn migrate_compatibility_body_moves_postgres_to_mariadb_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((pg_admin, my_admin)) = both_servers().await else {
        return;
    };
    let src = support::fresh_database(Engine::Postgres, "seaway_test_m_serve_mig_src", dir.path())
        .await
        .expect("postgres");
    let mid = support::fresh_database(Engine::Mysql, "seaway_test_m_serve_mig_my", dir.path())
        .await
        .expect("mariadb");
    let back =
        support::fresh_database(Engine::Postgres, "seaway_test_m_serve_mig_back", dir.path())
            .await
            .expect("postgres");
    let fixture =
        std::fs::read_to_string(support::repo_root().join("fixtures/chinook/postgres.sql"))
            .expect("fixture");
    let mut db = Db::connect(Engine::Postgres, &src).await;
    db.execute(&fixture).await;
    db.close().await;

    // The server's own config names none of these databases; inline connections are
    // allowed to 127.0.0.1 only.
    let (pg_host, pg_port, pg_user) = endpoint_of(&pg_admin);
    let (my_host, my_port, my_user) = endpoint_of(&my_admin);
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  local:\n    url: \"{}\"\nserver:\n  allow_hosts: [\"{pg_host}\", \"{my_host}\"]\n",
            sqlite_destination(dir.path())
        ),
    )
    .expect("config");
    let server = Server::start(&config);
    let c = Client::new(&server);
    let secret = "Inline-Pw-never-kept-42";
    let pg = |database: &str| json!({"host": pg_host, "port": pg_port, "database": database, "username": pg_user, "password": secret});
    let my = |database: &str| json!({"host": my_host, "port": my_port, "database": database, "username": my_user});
    let name = |url: &str| url.rsplit('/').next().expect("database").to_string();

    let mut src_db = Db::connect(Engine::Postgres, &src).await;
    for (body, what) in [
        (
            json!({"source_type": "postgresql", "dest_type": "mariadb", "source": pg(&name(&src)), "destination": my(&name(&mid)), "operation_type": "full"}),
            "PostgreSQL -> MariaDB",
        ),
        (
            json!({"source_type": "mariadb", "dest_type": "postgresql", "source": my(&name(&mid)), "destination": pg(&name(&back))}),
            "MariaDB -> PostgreSQL",
        ),
    ] {
        let r = c.post("/migrate", OPERATOR, &body).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        let out = r.json();
        assert_eq!(out["success"], true, "{what}: {out}");
        assert_eq!(out["tables_failed"], json!([]), "{what}: {out}");
        assert_eq!(out["errors"], json!([]), "{what}: {out}");
        let migrated = out["tables_migrated"].as_array().expect("tables_migrated");
        assert_eq!(out["total_tables"].as_u64(), Some(migrated.len() as u64));
        assert_eq!(migrated.len(), 11, "{what}: {out}");
        for t in migrated {
            let table = t["table"].as_str().expect("table");
            let want = src_db
                .count(&format!("SELECT count(*) FROM \"{table}\""))
                .await;
            assert_eq!(t["records"].as_i64(), Some(want), "{what}: {table}");
        }
    }
    src_db.close().await;
    // Back in PostgreSQL, every table holds the source's rows.
    let mut back_db = Db::connect(Engine::Postgres, &back).await;
    let n = back_db
        .count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaway_migrations'")
        .await;
    assert_eq!(n, 11);
    back_db.close().await;

    // The inline password is nowhere: not in a response, the log or the store.
    let jobs = c.get("/api/jobs", VIEWER).await.json();
    assert_eq!(jobs.as_array().map(Vec::len), Some(2), "{jobs}");
    assert_hidden(secret, &c, &server, Some(&dir.path().join(".seaway")));
}

/// A webhook receiver: answers 503 to the very first post, 200 to the rest, and keeps
/// each post's idempotency key, status and body.
async fn receiver() -> (
    u16,
    std::sync::Arc<std::sync::Mutex<Vec<(String, u16, Value)>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let posts: std::sync::Arc<std::sync::Mutex<Vec<(String, u16, Value)>>> = Default::default();
    let seen = posts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = s.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            let key = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("idempotency-key:")
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_default();
            let status = {
                let mut p = seen.lock().expect("posts");
                let status = if p.is_empty() { 503 } else { 200 };
                p.push((
                    key,
                    status,
                    serde_json::from_str(&body).unwrap_or(Value::Null),
                ));
                status
            };
            let reply =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    (port, posts)
}

#[tokio::test]
async fn a_webhook_receiver_gets_one_summary_per_finished_job() {
    let (port, posts) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "hook-secret-in-path-5521";
    let config = chinook_project(
        dir.path(),
        &sqlite_destination(dir.path()),
        &format!("notify:\n  webhook: \"http://127.0.0.1:{port}/hooks/{token}\"\n"),
    )
    .await;
    let server = Server::start(&config);
    let c = Client::new(&server);
    let mut ids = Vec::new();
    for kind in ["transfer", "verify"] {
        let id = c.start_job(&json!({"kind": kind})).await;
        let job = c.wait_job(id, is_final).await;
        ids.push((id, job["state"].as_str().expect("state").to_string()));
    }
    let wanted: Vec<String> = ids.iter().map(|(id, s)| format!("job-{id}-{s}")).collect();
    let started = Instant::now();
    let accepted = loop {
        let accepted: Vec<(String, Value)> = posts
            .lock()
            .expect("posts")
            .iter()
            .filter(|(_, status, _)| *status == 200)
            .map(|(k, _, b)| (k.clone(), b.clone()))
            .collect();
        if accepted.len() >= wanted.len() {
            break accepted;
        }
        assert!(
            started.elapsed() < BOUND,
            "summaries not delivered: {:?}",
            posts.lock().expect("posts")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // One summary taken per job, the refused first post retried with the same key.
    let mut keys: Vec<String> = accepted.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    let mut sorted = wanted.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let all = posts.lock().expect("posts").clone();
    assert_eq!(all[0].1, 503);
    assert!(wanted.contains(&all[0].0), "{all:?}");
    for (key, body) in &accepted {
        assert_eq!(body["idempotency_key"].as_str(), Some(key.as_str()));
        let text = body["text"].as_str().expect("Slack-style text");
        assert!(
            text.starts_with(&format!("seaway job #{}", body["job"])),
            "{text}"
        );
    }
    // The webhook's token never reaches the log.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log_text();
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}/***")),
        "{log}"
    );
    assert!(
        !log.contains(token),
        "the log holds the webhook's token:\n{log}"
    );
}

/// schemathesis from `.ci/python-tools`' venv (or `SEAWAY_SCHEMATHESIS`); `None` after
/// saying why when it is not installed (a failure with `SEAWAY_REQUIRE_LIVE=1`).
fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("SEAWAY_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join(".venv-anchors/bin/st"));
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "schemathesis not found at {} (run `bash .ci/python-tools`, or set SEAWAY_SCHEMATHESIS)",
        path.display()
    );
    if std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1") {
        panic!("{msg}; SEAWAY_REQUIRE_LIVE=1 requires it");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_or_response_outside_the_document() {
    let Some(st) = schemathesis() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = chinook_project(dir.path(), &sqlite_destination(dir.path()), "").await;
    let server = Server::start(&config);
    let c = Client::new(&server);
    // A finished job, so the job routes have one to answer about.
    let id = c.start_job(&json!({"kind": "transfer"})).await;
    c.wait_job(id, is_final).await;
    let doc = support::repo_root().join("migrator/openapi.json");
    // Blocking is fine: the server is another process.
    let out = std::process::Command::new(&st)
        .arg("run")
        .arg(&doc)
        .args(["--url", &server.base])
        .args(["--header", &format!("Authorization: Bearer {OPERATOR}")])
        .args(["--checks", "all"])
        // Valid-by-schema bodies still name connections the config lacks: a 400.
        .args(["--exclude-checks", "positive_data_acceptance"])
        // The stream of every job never ends by design.
        .args(["--exclude-path", "/api/events"])
        .args(["--max-examples", "10", "--seed", "1", "--workers", "1"])
        .args([
            "--generation-deterministic",
            "--no-color",
            "--request-timeout",
            "20",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    assert!(
        out.status.success(),
        "schemathesis failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    let health = c.send("GET", "/health", None, &[], None).await;
    assert_eq!(health.status, 200, "the server survived: {}", health.text);
}

#[tokio::test]
async fn a_retry_copies_only_the_tables_that_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = sqlite_destination(dir.path());
    let config = chinook_project(dir.path(), &dest, "").await;
    // The destination drops every Genre row it is sent: that table fails, the rest copy.
    let mut db = Db::connect(Engine::Sqlite, &dest).await;
    db.execute(
        "CREATE TRIGGER drop_genre BEFORE INSERT ON \"Genre\" BEGIN SELECT RAISE(IGNORE); END;",
    )
    .await;
    db.close().await;
    let server = Server::start(&config);
    let c = Client::new(&server);

    let id = c.start_job(&json!({"kind": "transfer"})).await;
    let job = c.wait_job(id, is_final).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("1 table(s) failed")),
        "{job}"
    );
    for t in job["tables"].as_array().expect("tables") {
        let failed = t["table"] == "Genre";
        assert_eq!(t["state"], if failed { "failed" } else { "done" }, "{t}");
        assert_eq!(t["error"].is_string(), failed, "{t}");
    }
    c.post(&format!("/api/jobs/{id}/cancel"), OPERATOR, &json!({}))
        .await
        .problem(409);

    // Fix the cause; change a row of a finished table behind the job's back: a retry
    // that copied that table again would put it back.
    let mut db = Db::connect(Engine::Sqlite, &dest).await;
    db.execute("DROP TRIGGER drop_genre; UPDATE \"Artist\" SET \"Name\" = 'changed behind the job' WHERE \"ArtistId\" = 1;")
        .await;
    let r = c
        .post(&format!("/api/jobs/{id}/retry"), OPERATOR, &json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job = c.wait_job(id, is_final).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(db.count("SELECT count(*) FROM \"Genre\"").await, 25);
    assert_eq!(
        db.text("SELECT \"Name\" FROM \"Artist\" WHERE \"ArtistId\" = 1")
            .await
            .as_deref(),
        Some("changed behind the job"),
        "the retry copied a table that had not failed"
    );
    db.close().await;
    let audit = c.get("/api/audit", ADMIN).await.json();
    assert_eq!(audit[0]["action"], "retried", "{audit}");
    assert_eq!(audit[0]["detail"], "tables: Genre", "{audit}");
    c.post(&format!("/api/jobs/{id}/retry"), OPERATOR, &json!({}))
        .await
        .problem(409);
}

#[tokio::test]
async fn jobs_live_in_postgres_when_the_transfer_state_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(state) =
        support::fresh_database(Engine::Postgres, "seaway_test_m_serve_state", dir.path()).await
    else {
        return;
    };
    let config = chinook_project(dir.path(), &sqlite_destination(dir.path()), "").await;
    // The state's connection joins the others, and `transfer.state` names it.
    let text = std::fs::read_to_string(&config).expect("config").replacen(
        "source: chinook\n",
        &format!("  state:\n    url: \"{}\"\nsource: chinook\n", *state),
        1,
    ) + "transfer:\n  state: state\n";
    std::fs::write(&config, text).expect("config");
    let mut server = Server::start(&config);
    let c = Client::new(&server);
    let id = c
        .start_job(&json!({"kind": "transfer", "tables": ["Genre"]}))
        .await;
    assert_eq!(c.wait_job(id, is_final).await["state"], "succeeded");
    server.kill();

    // Another server on the same config sees the job, its table and its chunks.
    let server = Server::start(&config);
    let c = c.to(&server);
    let job = c.get(&format!("/api/jobs/{id}"), VIEWER).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["tables"][0]["table"], "Genre", "{job}");
    assert_eq!(job["tables"][0]["rows_done"], 25, "{job}");
    assert_chunks_done(&c, id, "Genre").await;
    let mut db = Db::connect(Engine::Postgres, &state).await;
    assert_eq!(db.count("SELECT count(*) FROM seaway_serve_jobs").await, 1);
    db.close().await;
    assert!(
        !dir.path().join(".seaway/state.sqlite").exists(),
        "the jobs went to the SQLite file instead"
    );
}

#[tokio::test]
async fn test_connection_names_the_step_that_fails_and_never_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((pg_admin, my_admin)) = both_servers().await else {
        return;
    };
    let (pg_host, pg_port, pg_user) = endpoint_of(&pg_admin);
    let (my_host, my_port, my_user) = endpoint_of(&my_admin);
    // A port nothing listens on, on an allowed host.
    let closed = std::net::TcpListener::bind((pg_host.as_str(), 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  chinook:\n    url: \"{}\"\nserver:\n  allow_hosts: [\"{pg_host}\", \"{my_host}\", \"no-such-host.invalid\"]\n",
            support::chinook_sqlite_url()
        ),
    )
    .expect("config");
    let server = Server::start(&config);
    let c = Client::new(&server);
    let secret = "Wrong-Pw-for-the-test-771";
    let postgres = |host: &str, port: u16, database: &str| json!({"type": "postgresql", "host": host, "port": port, "database": database, "username": pg_user});
    let mut wrong_password = json!({"type": "mariadb", "host": my_host, "port": my_port, "database": "mysql", "username": my_user});
    wrong_password["password"] = json!(secret);
    for (body, step) in [
        (json!({"connection": "chinook"}), Value::Null),
        (postgres(&pg_host, pg_port, "postgres"), Value::Null),
        (
            postgres("no-such-host.invalid", pg_port, "postgres"),
            json!("dns"),
        ),
        (postgres(&pg_host, closed, "postgres"), json!("tcp")),
        (
            postgres(&pg_host, pg_port, "seaway_test_no_such_db"),
            json!("database"),
        ),
        (wrong_password, json!("credentials")),
    ] {
        let r = c.post("/test-connection", OPERATOR, &body).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text);
        let out = r.json();
        assert_eq!(out["failed_step"], step, "{body}: {out}");
        assert_eq!(out["success"], step.is_null(), "{body}: {out}");
    }
    assert_hidden(secret, &c, &server, None);
}

#[tokio::test]
async fn a_schema_job_writes_the_migration_and_applies_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("seaway.yaml");
    let dest = sqlite_destination(dir.path());
    std::fs::write(
        &config,
        format!(
            "connections:\n  chinook:\n    url: \"{}\"\n  dest:\n    url: \"{dest}\"\nsource: chinook\ndestination: dest\n",
            support::chinook_sqlite_url()
        ),
    )
    .expect("config");
    let server = Server::start(&config);
    let c = Client::new(&server);
    let id = c.start_job(&json!({"kind": "schema"})).await;
    let job = c.wait_job(id, is_final).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        dir.path()
            .join("generated/migrations/dest/0001_initial.sql")
            .is_file(),
        "the migration was not written beside the config"
    );
    let mut db = Db::connect(Engine::Sqlite, &dest).await;
    assert!(db.has_table("Track").await && db.has_table("InvoiceLine").await);
    db.close().await;
    // Applied: nothing is pending, so a second schema job changes nothing.
    let again = c.start_job(&json!({"kind": "schema"})).await;
    assert_eq!(c.wait_job(again, is_final).await["state"], "succeeded");
    assert!(
        !dir.path()
            .join("generated/migrations/dest/0002_initial.sql")
            .exists()
    );
}
