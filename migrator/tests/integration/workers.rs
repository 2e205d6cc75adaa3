//! `migrator worker` processes sharing one `transfer --distributed` job through the
//! PostgreSQL store: four workers, each in its own folder with its own config (no disk
//! in common), two of them SIGKILLed mid-chunk, and the job still completes with the
//! destination equal to the source and every chunk's rows counted once; and fencing: a
//! worker stopped (SIGSTOP) with a page in flight past its lease finds, when it wakes,
//! that a newer holder wrote newer values there, and its page is refused. Run as root,
//! the four workers are also four hosts: each in a network namespace of its own, reaching
//! the servers only across its own veth link (`netns.rs`).

use crate::convergence::database;
use crate::netns::Hosts;
use crate::support::{self, Db, Engine};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(300);
const STEP: Duration = Duration::from_millis(100);

/// A `migrator` process in its own folder, output to files; killed if the test ends
/// while it runs.
pub(crate) struct Proc {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Proc {
    pub(crate) fn start(dir: &Path, args: &[&str]) -> Proc {
        Proc::start_on(None, dir, args)
    }

    /// Starts the process inside network namespace `netns` when given (`ip netns exec`
    /// execs, so the process id is migrator's own).
    fn start_on(netns: Option<&str>, dir: &Path, args: &[&str]) -> Proc {
        let out = dir.join("out.log");
        let err = dir.join("err.log");
        let bin = assert_cmd::cargo::cargo_bin("migrator");
        let mut command = match netns {
            Some(name) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", name]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = command
            .current_dir(dir)
            .arg("--config")
            .arg(dir.join("seaway.yaml"))
            .args(args)
            .env_remove("SEAWAY_CONFIG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("start migrator");
        Proc {
            child: Some(child),
            out,
            err,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Polls (bounded) until the process ended; its exit code and output.
    pub(crate) async fn wait(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll") {
                return (status.code(), self.output());
            }
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "migrator did not end within {PATIENCE:?}:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(STEP).await;
        }
    }

    /// Fails the test with the output if the process has ended.
    fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("poll")
        {
            panic!("migrator ended early ({status}):\n{}", self.output());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes `dir/seaway.yaml` for a transfer from `src` into `dst` with its state (and the
/// work queue) in `store`.
pub(crate) fn write_config(dir: &Path, src: &str, dst: &str, store: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("folder");
    let path = dir.join("seaway.yaml");
    std::fs::write(
        &path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\n  store: {{ url: \"{store}\" }}\nsource: src\ndestination: dst\ntransfer:\n  state: store\n"
        ),
    )
    .expect("config");
    path
}

/// Plans and applies the destination's tables from the planner's folder.
pub(crate) async fn apply(config_path: &Path) {
    let config = Config::load(config_path).expect("config");
    let plan = diff::run(&config).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&plan.files).expect("write migration");
    let out = support::run_migrator(config_path, &["apply"]);
    assert!(out.ok, "apply: {}", out.stderr);
}

/// The digest of every row of `items`, in key order.
async fn digest(db: &mut Db) -> Option<String> {
    db.text("SELECT md5(string_agg(id::text || '|' || name || '|' || qty::text, ',' ORDER BY id)) FROM items")
        .await
}

/// Rows of the store's query as text.
async fn store_rows(store: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    use sqlx::{Connection, Row};
    let mut c = sqlx::PgConnection::connect(store).await.expect("store");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut c)
        .await
        .unwrap_or_default();
    c.close().await.ok();
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get::<Option<String>, _>(i).ok().flatten())
                .collect()
        })
        .collect()
}

/// `host:port` of a server URL, for a relay to forward to.
fn server_address(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("server URL");
    format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    )
}

/// Whether a PostgreSQL server answers at `url` within 2 s.
async fn answers(url: &str) -> bool {
    use sqlx::Connection;
    let attempt = async { sqlx::PgConnection::connect(url).await?.close().await };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(()))
    )
}

/// `url` reached through `address` (`host:port`) instead.
fn through(url: &str, address: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("server URL");
    let (host, port) = address.rsplit_once(':').expect("host:port");
    parsed.set_host(Some(host)).expect("host");
    parsed.set_port(port.parse().ok()).expect("port");
    parsed.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_share_a_million_rows_and_two_killed_mid_chunk_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_workers_src",
        Some("CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL);
              INSERT INTO items SELECT i, 'item ' || i, i % 997 FROM generate_series(1, 1000000) AS i;"),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_workers_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(store) = database(
        Engine::Postgres,
        "seaway_test_workers_store",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let planner_dir = dir.path().join("planner");
    let planner_config = write_config(&planner_dir, &src, &dst, &store);
    apply(&planner_config).await;
    // Run as root, each worker is a host of its own: a network namespace whose only way
    // to the servers is its veth link, through a relay on the link's far end.
    let hosts = if Hosts::root() {
        match Hosts::make("workers", 4) {
            Ok(made) => Some(made),
            Err(why) if support::require_live() => {
                panic!("running as root, the workers must run as separate hosts: {why}")
            }
            Err(why) => {
                eprintln!("NOTE: workers share this host's network: {why}");
                None
            }
        }
    } else {
        eprintln!("NOTE: not root, so the workers share this host's network namespace");
        None
    };
    let upstream = server_address(&src);
    let port = upstream
        .rsplit_once(':')
        .map_or("5432", |(_, p)| p)
        .to_string();
    let mut relays = Vec::new();
    // Hosts that reach the server itself on their link (no relay): their addresses.
    let mut direct = Vec::new();
    // Four workers, each in a folder of its own: nothing on disk in common.
    let mut workers: Vec<Proc> = Vec::new();
    for n in 0..4 {
        let d = dir.path().join(format!("worker-{n}"));
        let host = hosts.as_ref().map(|(_, h)| &h[n]);
        match host {
            Some(host) => {
                let on_link = format!("{}:{port}", host.gateway);
                let address = if answers(&through(&store, &on_link)).await {
                    eprintln!(
                        "worker {n}: host {} reaches the server at {on_link}",
                        host.address
                    );
                    direct.push(host.address.clone());
                    on_link
                } else {
                    eprintln!(
                        "worker {n}: host {}: the server does not answer at {on_link} (see .ci/worker-hosts); through a relay there",
                        host.address
                    );
                    let relay =
                        Relay::start(&format!("{}:0", host.gateway), upstream.clone()).await;
                    let address = format!("{}:{}", host.gateway, relay.port);
                    relays.push(relay);
                    address
                };
                write_config(
                    &d,
                    &through(&src, &address),
                    &through(&dst, &address),
                    &through(&store, &address),
                );
            }
            None => {
                write_config(&d, &src, &dst, &store);
            }
        }
        let netns = host.map(|h| h.netns.as_str());
        workers.push(Proc::start_on(
            netns,
            &d,
            &["worker", "--slots", "1", "--lease", "3"],
        ));
    }
    let report = planner_dir.join("report.json");
    let planner = Proc::start(
        &planner_dir,
        &[
            "transfer",
            "--distributed",
            "--chunk-size",
            "50000",
            "--report",
            report.to_str().expect("utf-8 path"),
        ],
    );
    // Two workers are killed while each holds a chunk it has written part of: a chunk
    // running under its lease whose fence row in the destination holds some rows.
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    let started = Instant::now();
    let killed: Vec<usize> = loop {
        for w in &mut workers {
            w.assert_running();
        }
        let running = store_rows(
            &store,
            "SELECT owner, tbl, idx::text FROM seaway_work_chunks WHERE status = 'running'",
        )
        .await;
        let mut mid = Vec::new();
        for row in running {
            let (Some(owner), Some(idx)) = (&row[0], &row[2]) else {
                continue;
            };
            let held = dest
                .count(&format!(
                    "SELECT coalesce(max(rows_held), 0) FROM seaway_fence WHERE tbl = 'items' AND idx = {idx}"
                ))
                .await;
            if held > 0 && held < 50_000 {
                let pid: u32 = owner
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                if let Some(i) = workers.iter().position(|w| w.pid() == pid)
                    && !mid.contains(&i)
                {
                    mid.push(i);
                }
            }
        }
        if mid.len() >= 2 {
            break mid[..2].to_vec();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no two workers were ever mid-chunk at once:\n{}",
            planner.output()
        );
        tokio::time::sleep(STEP).await;
    };
    for &i in &killed {
        workers[i].signal("KILL");
    }
    let (code, output) = planner.wait().await;
    assert_eq!(code, Some(0), "the job completes:\n{output}");
    // Every chunk's rows counted once: the job's total is the source's row count.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(summary["rows"], 1_000_000, "{summary}");
    let mut source = Db::connect(Engine::Postgres, &src).await;
    let want = digest(&mut source).await;
    assert!(want.is_some());
    assert_eq!(
        digest(&mut dest).await,
        want,
        "the destination equals the source"
    );
    let out = support::run_migrator(&planner_config, &["verify"]);
    assert!(out.ok, "verify: {}\n{}", out.stdout, out.stderr);
    // As separate hosts, every worker reached the servers across its own link: through
    // its relay, or connected from its own address (the surviving workers still hold
    // their store connections).
    for (n, relay) in relays.iter().enumerate() {
        assert!(
            relay.forwarded.load(Ordering::SeqCst) > 0,
            "worker {n} sent nothing across its link"
        );
    }
    if hosts.is_some() {
        assert_eq!(relays.len() + direct.len(), 4, "one link per worker host");
        let clients: Vec<String> = store_rows(
            &store,
            "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE client_addr IS NOT NULL",
        )
        .await
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
        for (i, address) in direct.iter().enumerate() {
            let survived = hosts
                .as_ref()
                .and_then(|(_, h)| h.iter().position(|h| &h.address == address))
                .is_some_and(|w| !killed.contains(&w));
            assert!(
                !survived || clients.contains(address),
                "worker host {i} ({address}) is not among the store's clients {clients:?}"
            );
        }
    }
    for (i, w) in workers.into_iter().enumerate() {
        if killed.contains(&i) {
            continue;
        }
        w.signal("TERM");
        let (code, output) = w.wait().await;
        assert_eq!(code, Some(0), "a worker stops on SIGTERM:\n{output}");
    }
    source.close().await;
    dest.close().await;
}

/// A TCP relay in front of PostgreSQL that can hold what a client sends: a worker's
/// writes then wait "in flight", sent but not arrived, for as long as the test wants.
struct Relay {
    port: u16,
    paused: Arc<AtomicBool>,
    /// Bytes from clients that arrived while paused.
    held: Arc<AtomicU64>,
    /// Bytes from clients passed on to the server.
    forwarded: Arc<AtomicU64>,
    resume: Arc<tokio::sync::Notify>,
}

impl Relay {
    /// A relay listening on `bind` (`address:port`, port 0 for any) that forwards to
    /// `upstream`.
    async fn start(bind: &str, upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let relay = Relay {
            port,
            paused: Arc::new(AtomicBool::new(false)),
            held: Arc::new(AtomicU64::new(0)),
            forwarded: Arc::new(AtomicU64::new(0)),
            resume: Arc::new(tokio::sync::Notify::new()),
        };
        let (paused, held, forwarded, resume) = (
            Arc::clone(&relay.paused),
            Arc::clone(&relay.held),
            Arc::clone(&relay.forwarded),
            Arc::clone(&relay.resume),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let (paused, held, forwarded, resume) = (
                    Arc::clone(&paused),
                    Arc::clone(&held),
                    Arc::clone(&forwarded),
                    Arc::clone(&resume),
                );
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        while paused.load(Ordering::SeqCst) {
                            held.fetch_add(n as u64, Ordering::SeqCst);
                            let notified = resume.notified();
                            if paused.load(Ordering::SeqCst) {
                                notified.await;
                            }
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        forwarded.fetch_add(n as u64, Ordering::SeqCst);
                    }
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
            }
        });
        relay
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    fn unpause(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.resume.notify_waiters();
    }
}

/// Polls (bounded) until `check` holds.
pub(crate) async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: not within {PATIENCE:?}"
        );
        tokio::time::sleep(STEP).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_worker_page_is_refused_after_a_newer_holder_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        Engine::Postgres,
        "seaway_test_fencing_src",
        Some(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL);
              INSERT INTO items SELECT i, 'old', i FROM generate_series(1, 20000) AS i;",
        ),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(dst) = database(
        Engine::Postgres,
        "seaway_test_fencing_dst",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let Some(store) = database(
        Engine::Postgres,
        "seaway_test_fencing_store",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let planner_dir = dir.path().join("planner");
    let planner_config = write_config(&planner_dir, &src, &dst, &store);
    apply(&planner_config).await;
    let planner = Proc::start(
        &planner_dir,
        &["transfer", "--distributed", "--page-size", "5000"],
    );
    until("the job is planned", async || {
        !store_rows(&store, "SELECT 1::text FROM seaway_work_chunks")
            .await
            .is_empty()
    })
    .await;
    // Worker A reaches the destination through the relay. Its first page read waits on
    // a lock the test holds on the source table, so its connections are all open (and
    // its setup done) before the relay starts holding what it sends.
    let relay = Relay::start("127.0.0.1:0", server_address(&dst)).await;
    let relayed = dst.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port));
    assert_ne!(relayed, *dst, "the destination URL names 127.0.0.1:5432");
    let mut lock = Db::connect(Engine::Postgres, &src).await;
    lock.execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .await;
    let a_dir = dir.path().join("worker-a");
    write_config(&a_dir, &src, &relayed, &store);
    let mut a = Proc::start(&a_dir, &["worker", "--slots", "1", "--lease", "2"]);
    let mut watch = Db::connect(Engine::Postgres, &src).await;
    until("worker A waits to read its first page", async || {
        a.assert_running();
        watch
            .count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM \"items\"%LIMIT%'")
            .await
            > 0
    })
    .await;
    relay.pause();
    lock.execute("COMMIT").await;
    // A read its page (the old values) and sent the start of its write, which the relay
    // holds: the page is in flight. A is stopped there, past its lease.
    until("worker A sends its page", async || {
        relay.held.load(Ordering::SeqCst) > 0
    })
    .await;
    a.signal("STOP");
    lock.execute("UPDATE items SET name = 'new'").await;
    // Worker B takes the chunk once A's lease has run out, and copies the new values;
    // the job completes.
    let b_dir = dir.path().join("worker-b");
    write_config(&b_dir, &src, &dst, &store);
    let b = Proc::start(&b_dir, &["worker", "--slots", "1", "--lease", "2"]);
    let (code, output) = planner.wait().await;
    assert_eq!(code, Some(0), "the job completes without A:\n{output}");
    // A wakes up and its page goes on to the destination, where the fence refuses it.
    relay.unpause();
    a.signal("CONT");
    until("worker A says it lost the chunk", async || {
        a.output()
            .contains("lost `items` chunk 0: the destination's fence refused its page")
    })
    .await;
    let mut dest = Db::connect(Engine::Postgres, &dst).await;
    assert_eq!(
        dest.count("SELECT count(*) FROM items WHERE name = 'new'")
            .await,
        20_000,
        "the destination holds the newer values:\n{}",
        a.output()
    );
    let out = support::run_migrator(&planner_config, &["verify"]);
    assert!(out.ok, "verify: {}\n{}", out.stdout, out.stderr);
    for w in [a, b] {
        w.signal("TERM");
        let (code, output) = w.wait().await;
        assert_eq!(code, Some(0), "{output}");
    }
    lock.close().await;
    watch.close().await;
    dest.close().await;
}

#[tokio::test]
async fn the_api_shows_workers_and_queue_depth_and_retries_a_failed_chunk() {
    use crate::serve_harness::{Client, OPERATOR, Server, VIEWER};
    use seaway_migrator::lease::{Planned, Queue};
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(store) = database(
        Engine::Postgres,
        "seaway_test_workers_api",
        None,
        dir.path(),
    )
    .await
    else {
        return;
    };
    let config = write_config(dir.path(), &store, &store, &store);
    let pool = sqlx::PgPool::connect(&store).await.expect("store");
    let q = Queue::open(pool.clone()).await.expect("queue");
    let chunks: Vec<Planned> = (0..2)
        .map(|index| Planned {
            table: "items".into(),
            index,
            stage: 0,
        })
        .collect();
    q.plan("transfer-99", "{}", &chunks).await.expect("plan");
    q.register("host-z:1", "host-z", 1, 1)
        .await
        .expect("register");
    for _ in 0..3 {
        let lease = q
            .claim("host-z:1", None, 1, Duration::from_secs(60))
            .await
            .expect("claim")
            .pop()
            .expect("chunk 0");
        assert_eq!(lease.index, 0);
        q.fail(&lease, "the destination refused it")
            .await
            .expect("fail");
    }
    let server = Server::start(&config);
    let client = Client::new(&server);
    let r = client.get("/api/workers", VIEWER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["shared"], true);
    assert_eq!(body["workers"][0]["id"], "host-z:1", "{body}");
    assert_eq!(body["jobs"][0]["job"], "transfer-99");
    assert_eq!(body["jobs"][0]["depth"]["pending"], 1, "{body}");
    assert_eq!(body["jobs"][0]["depth"]["failed"], 1, "{body}");
    assert_eq!(
        body["jobs"][0]["failed"][0]["error"],
        "the destination refused it"
    );
    let path = "/api/workers/jobs/transfer-99/chunks/items/0/retry";
    client
        .send("POST", path, Some(VIEWER), &[], None)
        .await
        .problem(403);
    let r = client.send("POST", path, Some(OPERATOR), &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(q.depth("transfer-99").await.expect("depth").pending, 2);
    client
        .send("POST", path, Some(OPERATOR), &[], None)
        .await
        .problem(404);
    q.forget("transfer-99").await.expect("forget");
    pool.close().await;
}
