//! The dashboard of `sched-web` in a real browser, and its JSON API against its own
//! OpenAPI document: the Axum example served on a real port (a real clock, a
//! multi-thread runtime), driven by headless Chromium through chromedriver
//! (fantoccini), and fuzzed by the `schemathesis` CLI.
//!
//! Without chromedriver and Chromium, or without `schemathesis`, a test says loudly
//! that it was skipped and passes; `SCHED_REQUIRE_BROWSER=1` and
//! `SCHED_REQUIRE_SCHEMATHESIS=1` make that a failure (CI sets both).
//!
//! The screenshot of the jobs page goes to `docs/images/dashboard.png` when that file
//! is missing or `SCHED_UPDATE_SCREENSHOT=1`, else beside the build's other test files:
//! the times on the page differ on every run, and a test run should not change a
//! committed file.

#![allow(missing_docs)]

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use sched_tokio::prelude::*;
use serde_json::{json, Value};

// Compiled a second time (examples.rs has it too, as a private module): each file of
// this binary stands alone.
#[allow(dead_code, unreachable_pub, clippy::duplicate_mod)]
#[path = "../../../../examples/axum_app.rs"]
mod axum_app;

/// How long a wait for the page (or the scheduler) may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// One browser at a time: the tests share two cores with the rest of the suite.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SCRIPT_ID: &str = "<script>window.__xss=1</script>";
const IMG_NAME: &str = "<img src=x onerror=window.__xss=2>";
const ATTR_ID: &str = "\"><svg onload=window.__xss=3>'";

// ---------------------------------------------------------------------------------
// What the tests need, or a loud skip.

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The tools' paths; `None` (after saying so) when they are missing and `variable`
/// does not require them.
fn tools(names: &[&str], install: &str, variable: &str, test: &str) -> Option<Vec<PathBuf>> {
    let found: Vec<Option<PathBuf>> = names.iter().map(|name| on_path(name)).collect();
    let missing: Vec<&str> = names
        .iter()
        .zip(&found)
        .filter(|(_, path)| path.is_none())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Some(found.into_iter().flatten().collect());
    }
    let why = format!("{test}: {} not found on PATH", missing.join(", "));
    assert!(
        std::env::var(variable).as_deref() != Ok("1"),
        "{why}, and {variable}=1 says this test must run"
    );
    // Straight to stderr: the test harness captures `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {why} ({install}; {variable}=1 makes this a failure) ***\n"
    );
    None
}

fn browser_tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    let mut found = tools(
        &["chromedriver", "chromium"],
        "apt-get install chromium chromium-driver",
        "SCHED_REQUIRE_BROWSER",
        test,
    )?;
    let chromium = found.pop().expect("two tools");
    let driver = found.pop().expect("two tools");
    Some((driver, chromium))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("a scratch directory under target/");
    dir
}

// ---------------------------------------------------------------------------------
// The app.

/// The Axum example on 127.0.0.1, on a free port.
struct App {
    state: axum_app::AppState,
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn start() -> Self {
        let state = axum_app::setup(Scheduler::builder())
            .await
            .expect("the example's scheduler starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        // No bearer token whatever ADMIN_TOKEN says: the browser sends none.
        let app = axum_app::app_with_token(state.clone(), None);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            state,
            base,
            http: reqwest::Client::new(),
        }
    }

    fn admin(&self, path: &str) -> String {
        format!("{}/admin{path}", self.base)
    }

    fn scheduler(&self) -> &Scheduler {
        &self.state.scheduler
    }

    /// `POST` to the JSON API, as a script would (no `Origin`: not a browser).
    async fn post(&self, path: &str) -> Value {
        let response = self
            .http
            .post(self.admin(path))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status(), 200, "POST {path}");
        response.json().await.expect("JSON")
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(self.admin(path))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// Waits until every job in `ids` has a finished run (its last outcome).
    async fn until_ran(&self, ids: &[&str]) {
        let start = Instant::now();
        loop {
            let jobs = self.get("/api/jobs").await;
            let done = jobs["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .filter(|job| ids.contains(&job["id"].as_str().unwrap_or("")))
                .filter(|job| !job["last_run"].is_null())
                .count();
            if done == ids.len() {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{ids:?} did not all run within {DEADLINE:?}: {jobs}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn shutdown(self) {
        self.state.scheduler.shutdown().await.expect("shuts down");
    }
}

// ---------------------------------------------------------------------------------
// The browser.

/// chromedriver, in a process group of its own with the Chromium it starts: killed,
/// all of it, when dropped (a failed test leaves no browser behind).
#[derive(Debug)]
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(path: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = scratch("chromedriver").join(format!("{port}.log"));
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            let status = http.get(format!("{}/status", driver.url)).send().await;
            if let Ok(status) = status {
                let body: Value = status.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    return driver;
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "chromedriver not ready within {DEADLINE:?} (log: {})",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session.
struct Browser {
    client: Client,
    _driver: Driver,
}

impl Browser {
    async fn open(driver: &Path, chromium: &Path) -> Self {
        let driver = Driver::start(driver).await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,900",
                ],
            }),
        );
        // chromedriver on localhost speaks plain HTTP: no TLS stack needed.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        Self {
            client,
            _driver: driver,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("the script runs")
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .expect("clicked");
    }

    /// Polls `script` (a function body) until it returns something other than `null`
    /// or `false`, and returns that; fails after [`DEADLINE`], showing the page.
    async fn until(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            // An error (the page is loading) is only "not yet".
            match self.client.execute(script, Vec::new()).await {
                Ok(Value::Null | Value::Bool(false)) | Err(_) => {}
                Ok(value) => return value,
            }
            if start.elapsed() > DEADLINE {
                let page = self.client.source().await.unwrap_or_default();
                let page: String = page.chars().take(6000).collect();
                panic!("{what}: not within {DEADLINE:?}; the page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `window.__xss` is still undefined: no injected script or handler ran.
    async fn assert_no_script_ran(&self, page: &str) {
        let xss = self
            .js("return window.__xss === undefined ? null : window.__xss")
            .await;
        assert_eq!(xss, Value::Null, "injected script ran on {page}");
        let injected = self
            .js("return document.querySelectorAll('main script:not([src]), main img, main svg:not(.timeline)').length")
            .await;
        assert_eq!(injected, json!(0), "injected elements on {page}");
    }

    async fn close(self) {
        self.client.close().await.expect("the session closes");
    }
}

/// The text of each job row's first cell (id and name), by the row's `data-job`.
const JOB_ROWS: &str = "return Array.from(document.querySelectorAll('tr[data-job]'), \
                        r => [r.dataset.job, r.querySelector('td').innerText]);";

// ---------------------------------------------------------------------------------
// The scenarios.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_lists_the_examples_jobs_and_pauses_one() {
    let Some((driver, chromium)) =
        browser_tools("dashboard_lists_the_examples_jobs_and_pauses_one")
    else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = App::start().await;
    let browser = Browser::open(&driver, &chromium).await;

    // From another page through the menu: the jobs page is where the menu says.
    browser.goto(&app.admin("/nodes")).await;
    browser
        .client
        .find(Locator::LinkText("Jobs"))
        .await
        .expect("the menu's Jobs link")
        .click()
        .await
        .expect("clicked");
    browser
        .until(
            "the jobs page, from the menu",
            "return document.querySelectorAll('tr[data-job]').length === 3;",
        )
        .await;
    let rows = browser.js(JOB_ROWS).await;
    let mut ids: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row[0].as_str().expect("an id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["cleanup", "digest", "health"], "{rows}");
    let table = browser
        .client
        .find(Locator::Css("table.jobs"))
        .await
        .expect("the jobs table")
        .text()
        .await
        .expect("text");
    for name in [
        "cleanup_old_sessions",
        "send_digest_emails",
        "health_check_external_apis",
    ] {
        assert!(table.contains(name), "{name} in {table}");
    }

    // Pause: the form posts, the dashboard redirects back, the row says paused.
    browser
        .click(r#"tr[data-job="digest"] button[data-action="pause"]"#)
        .await;
    browser
        .until(
            "digest shows paused, with a Resume button",
            r#"const row = document.querySelector('tr[data-job="digest"]');
               return !!row && row.querySelector('td.state span.state').textContent === 'paused'
                 && !!row.querySelector('button[data-action="resume"]')
                 && !row.querySelector('button[data-action="pause"]');"#,
        )
        .await;
    let url = browser.client.current_url().await.expect("a URL");
    assert_eq!(url.path(), "/admin", "back on the jobs page");
    assert!(
        app.scheduler()
            .get_job("digest")
            .await
            .expect("digest")
            .paused
    );
    let others = browser
        .js(r#"return Array.from(document.querySelectorAll('tr[data-job]:not([data-job="digest"]) td.state'), c => c.innerText);"#)
        .await;
    assert_eq!(
        others,
        json!(["scheduled", "scheduled"]),
        "only digest paused"
    );

    // Resume, from the same page.
    browser
        .click(r#"tr[data-job="digest"] button[data-action="resume"]"#)
        .await;
    browser
        .until(
            "digest shows scheduled again",
            r#"const row = document.querySelector('tr[data-job="digest"]');
               return !!row && row.querySelector('td.state span.state').textContent === 'scheduled'
                 && !!row.querySelector('button[data-action="pause"]');"#,
        )
        .await;
    assert!(
        !app.scheduler()
            .get_job("digest")
            .await
            .expect("digest")
            .paused
    );

    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_a_run_live_then_in_the_jobs_history() {
    let Some((driver, chromium)) =
        browser_tools("dashboard_shows_a_run_live_then_in_the_jobs_history")
    else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = App::start().await;
    let browser = Browser::open(&driver, &chromium).await;

    browser.goto(&app.admin("/runs")).await;
    browser
        .until(
            "the live view connects",
            "return document.getElementById('live-state').textContent === 'live';",
        )
        .await;
    // Marks this page: a reload would lose it.
    browser.js("window.__same_page = true; return true;").await;

    let ran = app.post("/api/jobs/health/run").await;
    assert_eq!(ran["action"], "run", "{ran}");
    let run_id = browser
        .until(
            "the run of health appears in the live view, ended in success",
            r#"const row = Array.from(document.querySelectorAll('#runs tr[data-run]')).find(r =>
                 r.children[1].textContent === 'health' && !!r.querySelector('.status.success'));
               return row ? row.dataset.run : null;"#,
        )
        .await;
    let run_id = run_id.as_str().expect("a run id").to_owned();
    assert_eq!(
        browser.js("return window.__same_page === true;").await,
        json!(true),
        "the row arrived without a reload"
    );

    // The job's page: the same run in its history, and on its timeline.
    browser.goto(&app.admin("/jobs/health")).await;
    let row = browser
        .client
        .find(Locator::Css(&format!("#history tr[data-run=\"{run_id}\"]")))
        .await
        .unwrap_or_else(|e| panic!("run {run_id} in #history: {e}"))
        .text()
        .await
        .expect("text");
    assert!(
        row.contains("health") && row.contains("success"),
        "history row: {row}"
    );
    let bars = browser
        .js("return document.querySelectorAll('svg.timeline rect.success').length;")
        .await;
    assert_eq!(bars, json!(1), "one run on the timeline");

    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_cancels_a_running_run_with_its_button() {
    let Some((driver, chromium)) = browser_tools("dashboard_cancels_a_running_run_with_its_button")
    else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = App::start().await;
    // A long export, beside the example's jobs: it runs until it is asked to stop.
    app.scheduler()
        .add_job(
            JobSpec::interval(Duration::from_secs(3600))
                .id("export")
                .paused(true),
            |ctx: JobContext| async move { ctx.cancelled().await },
        )
        .await
        .expect("export added");
    let browser = Browser::open(&driver, &chromium).await;
    browser.goto(&app.admin("/runs?job=export")).await;
    browser
        .until(
            "the live view connects",
            "return document.getElementById('live-state').textContent === 'live';",
        )
        .await;
    let ran = app.post("/api/jobs/export/run").await;
    assert_eq!(ran["action"], "run", "{ran}");
    let run_id = browser
        .until(
            "the running export appears live, with a Cancel button",
            r#"const row = Array.from(document.querySelectorAll('#runs tr[data-run]')).find(r =>
                 r.children[1].textContent === 'export' && !!r.querySelector('.status.running')
                 && !!r.querySelector('button[data-action="cancel"]'));
               return row ? row.dataset.run : null;"#,
        )
        .await;
    let run_id = run_id.as_str().expect("a run id").to_owned();
    browser
        .click(&format!(
            r#"#runs tr[data-run="{run_id}"] button[data-action="cancel"]"#
        ))
        .await;
    // Back on the runs page (the form redirects there); the run ends cancelled.
    let start = Instant::now();
    loop {
        browser.goto(&app.admin("/runs?job=export")).await;
        let status = browser
            .js(&format!(
                r#"const row = document.querySelector('#runs tr[data-run="{run_id}"] .status');
                   return row ? row.textContent : null;"#
            ))
            .await;
        if status == json!("cancelled") {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "run {run_id} not shown cancelled: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancel_buttons = browser
        .js(r#"return document.querySelectorAll('button[data-action="cancel"]').length;"#)
        .await;
    assert_eq!(
        cancel_buttons,
        json!(0),
        "an ended run has no Cancel button"
    );
    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_hostile_job_ids_as_text() {
    let Some((driver, chromium)) = browser_tools("dashboard_shows_hostile_job_ids_as_text") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = App::start().await;
    let scheduler = app.scheduler();
    let hour = Duration::from_secs(3600);
    scheduler
        .add_job(
            JobSpec::interval(hour).id(SCRIPT_ID).name(IMG_NAME),
            || async {},
        )
        .await
        .expect("added");
    scheduler
        .add_job(
            JobSpec::interval(hour).id(ATTR_ID).name(SCRIPT_ID),
            || async {},
        )
        .await
        .expect("added");
    let browser = Browser::open(&driver, &chromium).await;

    // The jobs page: the ids survive as attribute values and show as text.
    browser.goto(&app.admin("")).await;
    browser.assert_no_script_ran("the jobs page").await;
    let rows = browser.js(JOB_ROWS).await;
    let cell = |id: &str| {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|row| row[0] == id)
            .and_then(|row| row[1].as_str())
            .unwrap_or_else(|| panic!("a row with data-job {id:?}: {rows}"))
            .to_owned()
    };
    let first = cell(SCRIPT_ID);
    assert!(
        first.contains(SCRIPT_ID) && first.contains(IMG_NAME),
        "{first:?}"
    );
    let second = cell(ATTR_ID);
    assert!(
        second.contains(ATTR_ID) && second.contains(SCRIPT_ID),
        "{second:?}"
    );

    // A search for the script: reflected in the search box, as its value.
    browser
        .goto(&app.admin("?q=%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E"))
        .await;
    browser.assert_no_script_ran("the searched jobs page").await;
    assert_eq!(
        browser
            .js("return document.querySelector('input[name=q]').value;")
            .await,
        json!(SCRIPT_ID)
    );
    let found = browser.js(JOB_ROWS).await;
    assert_eq!(found.as_array().map(Vec::len), Some(2), "{found}");

    // The job's own page, through its link (the id percent-encoded in the path).
    browser
        .js(&format!(
            "const row = Array.from(document.querySelectorAll('tr[data-job]')).find(r => r.dataset.job === {});
             row.querySelector('a').click(); return true;",
            json!(SCRIPT_ID)
        ))
        .await;
    let heading = browser
        .until(
            "the hostile job's page",
            "const h = document.querySelector('main h1'); \
             return location.pathname.includes('/jobs/') && h ? h.innerText : null;",
        )
        .await;
    assert!(
        heading.as_str().is_some_and(|h| h.contains(SCRIPT_ID)),
        "{heading}"
    );
    browser.assert_no_script_ran("the job's page").await;

    // A run of it, live (the script sets text, never HTML), then in the history.
    browser.goto(&app.admin("/runs")).await;
    browser
        .until(
            "the live view connects",
            "return document.getElementById('live-state').textContent === 'live';",
        )
        .await;
    scheduler.run_job_now(SCRIPT_ID).await.expect("runs");
    browser
        .until(
            "the hostile job's run appears live",
            &format!(
                "return Array.from(document.querySelectorAll('#runs tr[data-run]'))
                   .some(r => r.children[1].textContent === {});",
                json!(SCRIPT_ID)
            ),
        )
        .await;
    browser.assert_no_script_ran("the live runs page").await;
    browser.client.refresh().await.expect("reloads");
    browser
        .until(
            "the hostile job's run, server-rendered",
            &format!(
                "return Array.from(document.querySelectorAll('#runs tr[data-run]'))
                   .some(r => r.children[1].textContent === {});",
                json!(SCRIPT_ID)
            ),
        )
        .await;
    browser.assert_no_script_ran("the runs page").await;

    browser.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_screenshot_of_the_axum_example() {
    let Some((driver, chromium)) = browser_tools("dashboard_screenshot_of_the_axum_example") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = App::start().await;
    // One run each, so that "Last outcome" shows something.
    let ids = ["cleanup", "digest", "health"];
    for id in ids {
        app.post(&format!("/api/jobs/{id}/run")).await;
    }
    app.until_ran(&ids).await;
    let browser = Browser::open(&driver, &chromium).await;
    browser.goto(&app.admin("")).await;
    browser
        .until(
            "every job shows its last outcome",
            "const rows = document.querySelectorAll('tr[data-job]');
             return rows.length === 3 && Array.from(rows).every(r => !!r.querySelector('.status.success'));",
        )
        .await;
    // The viewport at 1400x900: the window's size includes the browser's own frame.
    let frame = browser
        .js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];")
        .await;
    let frame = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
    browser
        .client
        .set_window_size(1400 + frame(0), 900 + frame(1))
        .await
        .expect("resized");
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let dimension =
        |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("four bytes of IHDR"));
    let (width, height) = (dimension(16), dimension(20));
    assert!(
        (1000..=1400).contains(&width) && (600..=900).contains(&height),
        "{width}x{height}"
    );

    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images/dashboard.png");
    let update = std::env::var("SCHED_UPDATE_SCREENSHOT").as_deref() == Ok("1");
    let target = if update || !committed.exists() {
        std::fs::create_dir_all(committed.parent().expect("docs/images"))
            .expect("docs/images is writable");
        committed
    } else {
        scratch("screenshots").join("dashboard.png")
    };
    std::fs::write(&target, &png).expect("the screenshot is written");
    eprintln!(
        "the jobs page ({width}x{height}, {} KiB): {}",
        png.len() / 1024,
        target.display()
    );

    browser.close().await;
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------
// The API against its document.

/// Jobs that stress the API's output: ids to escape and to percent-encode, a paused
/// one, a zone with daylight saving, a date in the future, failed runs.
async fn add_odd_jobs(scheduler: &Scheduler) {
    let hour = Duration::from_secs(3600);
    let add = |spec: JobSpec| async move {
        scheduler
            .add_job(spec, || async { Err::<(), _>("it failed, as it should") })
            .await
            .expect("added")
    };
    add(JobSpec::interval(hour).id(SCRIPT_ID).name(IMG_NAME)).await;
    add(JobSpec::interval(hour).id(ATTR_ID)).await;
    add(JobSpec::interval(hour).id("ünïcødé ☃ with spaces/and slash")).await;
    add(JobSpec::interval(hour).id("paused").paused(true)).await;
    add(JobSpec::cron("30 1 * * *")
        .expect("cron")
        .id("london-1:30")
        .timezone(chrono_tz::Europe::London))
    .await;
    add(JobSpec::date(chrono::Utc::now() + chrono::Duration::days(400)).id("once")).await;
    add(JobSpec::interval(hour)
        .id("with-args")
        .args(&json!({"to": ["a@example.com"], "n": 1.5, "deep": {"x": null}}))
        .expect("args"))
    .await;
}

/// Every check (schemathesis's default), but one where a schema cannot say enough.
const SCHEMATHESIS_CONFIG: &str = r#"
[checks]
enabled = true

# A trigger's rules (a cron expression that parses, a zone that exists, a period
# above zero, bounds in order) are beyond what a JSON schema says: a body the
# document allows may still be refused, with 400 and the reason.
[[operations]]
include-name = "PUT /api/jobs/{id}/trigger"
checks.positive_data_acceptance.enabled = false
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_as_its_openapi_document_says_under_schemathesis() {
    let Some(found) = tools(
        &["schemathesis"],
        "pip install schemathesis",
        "SCHED_REQUIRE_SCHEMATHESIS",
        "api_answers_as_its_openapi_document_says_under_schemathesis",
    ) else {
        return;
    };
    let app = App::start().await;
    add_odd_jobs(app.scheduler()).await;
    for id in ["health", SCRIPT_ID, "with-args"] {
        app.scheduler().run_job_now(id).await.expect("runs");
    }
    app.until_ran(&["health", SCRIPT_ID, "with-args"]).await;

    let started = Instant::now();
    // In a scratch directory, with a config file of ours (schemathesis would read one
    // in the directory or above it), where Hypothesis may write `.hypothesis/`.
    let dir = scratch("schemathesis");
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_CONFIG).expect("the config is written");
    let output = tokio::process::Command::new(&found[0])
        .current_dir(&dir)
        .arg("--no-color")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(app.admin("/api/openapi.json"))
        .args(["--url", &app.admin("")])
        .args(["--max-examples", "30"])
        .arg("--generation-deterministic")
        .args(["--suppress-health-check", "all"])
        .args(["--request-timeout", "10"])
        .args(["--workers", "1"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), output)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!(
        "schemathesis passed in {:.1} s:\n{}",
        started.elapsed().as_secs_f64(),
        stdout
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The fixed jobs are still answered as the document says (schemathesis may have
    // removed some with ids it made up, most likely none).
    let jobs = app.get("/api/jobs?limit=1000").await;
    assert!(jobs["jobs"].is_array(), "{jobs}");
    app.shutdown().await;
}
