//! A real browser on the dashboard: Debian's Chromium, headless, driven over the W3C
//! WebDriver protocol by Debian's chromedriver. The test signs in with a token, starts a
//! transfer through the page, sees the per-table bars advance through the SSE stream
//! while the page makes no further request, sees a table fail (the destination drops
//! its rows: a trigger), retries it from the page once the trigger is gone, checks the
//! layout at 1280x800 and at 390 px wide (no horizontal scrolling), and saves
//! screenshots (`SEAWAY_SCREENSHOTS=1` also writes them to docs/images/ for the README).

use crate::serve_harness::{BOUND, OPERATOR, Server};
use crate::support::{self, Db, Engine};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key under which an element reference comes.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser session.
struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile; `None` (after
    /// saying why) when they are not installed.
    async fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).is_file() || !Path::new(CHROMEDRIVER).is_file() {
            let msg = format!(
                "{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
            );
            if std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1") {
                panic!("{msg}; SEAWAY_REQUIRE_LIVE=1 requires them");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(started.elapsed() < BOUND, "chromedriver never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,800",
                ]
            }
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Some(Browser {
            http,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            _profile: profile,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let out: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("JSON");
        if out["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", out["value"]);
        }
        out["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().expect("element id").to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_in(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls a script until it returns true (a bounded wait on what the page shows).
    async fn wait_for(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            assert!(started.elapsed() < BOUND, "the page never showed {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The viewport, as a device of this size would have it.
    async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setDeviceMetricsOverride",
                        "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}})),
        )
        .await;
    }

    async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// The page's requests to the API so far that were not event streams (Resource Timing:
/// a stream's entry appears only once it ends, a fetch's once it is answered).
const API_REQUESTS: &str = "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/') && !e.name.endsWith('/events')).map(e => e.name);";

/// How many event streams the page has opened and seen end (a stream that reconnected
/// again and again would be polling in disguise).
const STREAMS_ENDED: &str = "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/events')).length;";

/// True when nothing on the page is wider than the viewport.
const NO_SIDEWAYS_SCROLL: &str = "return document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth;";

#[tokio::test]
async fn the_dashboard_signs_in_follows_a_transfer_live_retries_a_failed_table_and_fits_a_phone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("dest.sqlite");
    let dest_url = format!("sqlite://{}", dest.display());
    let config = crate::serve::chinook_project(dir.path(), &dest_url, "").await;
    // The destination drops every Genre row it is sent: that table fails, the rest copy.
    let mut db = Db::connect(Engine::Sqlite, &dest_url).await;
    db.execute(
        "CREATE TRIGGER drop_genre BEFORE INSERT ON \"Genre\" BEGIN SELECT RAISE(IGNORE); END;",
    )
    .await;
    db.close().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Server::start(&config);
    let shots = screenshots_dir(dir.path());

    // Sign in with a token; the page then holds only the session cookie.
    browser.goto(&server.base).await;
    browser
        .wait_for(
            "the sign-in form",
            "return !document.getElementById('login').hidden;",
        )
        .await;
    browser.type_in("#token", OPERATOR).await;
    browser.click("#login-form button").await;
    browser
        .wait_for(
            "the job list",
            "return !document.getElementById('list').hidden;",
        )
        .await;
    assert_eq!(
        browser.js("return document.cookie;").await,
        json!(""),
        "the session cookie must be HttpOnly"
    );

    // Start a transfer with small pages, so there is progress to watch.
    browser.type_in("#start-batch", "10").await;
    browser.click("#start").await;
    browser
        .wait_for("the job page", "return location.pathname.startsWith('/jobs/') && !document.getElementById('job').hidden;")
        .await;
    let requests_at_start = browser.js(API_REQUESTS).await;
    // The bars advance: some table's bar value grows while the job runs.
    let mut seen = Vec::new();
    let started = Instant::now();
    while seen.len() < 3 {
        let done = browser
            .js("return [...document.querySelectorAll('#tables .bar')].reduce((a, b) => a + Number(b.getAttribute('aria-valuenow')), 0);")
            .await
            .as_f64()
            .unwrap_or(0.0);
        if seen.last().is_none_or(|last| done > *last) && done > 0.0 {
            seen.push(done);
        }
        let state = browser
            .js("const b = document.querySelector('#job-state .badge'); return b ? b.textContent : null;")
            .await;
        assert!(
            state != "succeeded" || seen.len() >= 3,
            "the job ended before its bars were seen moving: {seen:?}"
        );
        assert!(
            started.elapsed() < BOUND,
            "the bars did not advance: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.screenshot(&shots.join("serve-job-1280.png")).await;
    browser
        .wait_for("the job's end", "const b = document.querySelector('#job-state .badge'); return !!b && (b.textContent === 'failed' || b.textContent === 'succeeded');")
        .await;
    assert_eq!(
        browser.js(API_REQUESTS).await,
        requests_at_start,
        "the page made requests while following the job: it must only listen to its stream"
    );
    let streams = browser.js(STREAMS_ENDED).await.as_u64().unwrap_or(0);
    assert!(
        streams <= 1,
        "the page opened {streams} event streams for one job"
    );
    assert_eq!(
        browser
            .js("const b = document.querySelector('#job-state .badge'); return b ? b.textContent : null;")
            .await,
        json!("failed")
    );
    assert_eq!(
        browser
            .js("return document.getElementById('table-Genre').dataset.state;")
            .await,
        json!("failed")
    );
    assert_eq!(
        browser.js(NO_SIDEWAYS_SCROLL).await,
        json!(true),
        "1280x800 scrolls sideways"
    );

    // The chunk grid of a table, on a click.
    browser.click("#table-Track").await;
    browser
        .wait_for(
            "Track's chunk grid",
            "return document.querySelectorAll('#chunks .chunk.done').length > 0;",
        )
        .await;

    // Fix the cause, retry from the page: only the failed table runs again.
    let mut db = Db::connect(Engine::Sqlite, &dest_url).await;
    db.execute("DROP TRIGGER drop_genre;").await;
    browser.click("#retry").await;
    browser
        .wait_for("the retried job's success", "const b = document.querySelector('#job-state .badge'); return !!b && b.textContent === 'succeeded';")
        .await;
    assert_eq!(db.count("SELECT count(*) FROM \"Genre\"").await, 25);
    db.close().await;
    browser
        .screenshot(&shots.join("serve-job-retried-1280.png"))
        .await;

    // A phone: 390 px wide, nothing wider than the screen.
    browser.viewport(390, 844, true).await;
    browser.goto(&format!("{}/", server.base)).await;
    browser
        .wait_for(
            "the job list",
            "return document.querySelectorAll('#jobs li').length > 0;",
        )
        .await;
    assert_eq!(browser.js("return window.innerWidth;").await, json!(390));
    assert_eq!(
        browser.js(NO_SIDEWAYS_SCROLL).await,
        json!(true),
        "the list scrolls sideways at 390 px"
    );
    browser.screenshot(&shots.join("serve-list-390.png")).await;
    browser.click("#jobs li a").await;
    browser
        .wait_for(
            "the job page",
            "return document.querySelectorAll('#tables li').length > 0;",
        )
        .await;
    assert_eq!(
        browser.js(NO_SIDEWAYS_SCROLL).await,
        json!(true),
        "the job page scrolls sideways at 390 px"
    );
    browser.screenshot(&shots.join("serve-job-390.png")).await;
    browser.quit().await;
}

/// Where screenshots go: the test's folder, or docs/images/ with SEAWAY_SCREENSHOTS=1.
fn screenshots_dir(tmp: &Path) -> PathBuf {
    if std::env::var("SEAWAY_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let d = support::repo_root().join("docs/images");
        std::fs::create_dir_all(&d).expect("docs/images");
        d
    } else {
        tmp.to_path_buf()
    }
}
