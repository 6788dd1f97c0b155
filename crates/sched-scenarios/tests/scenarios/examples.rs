//! Every example runs to completion (on Tokio's paused clock) and does what the
//! tutorial says; the Axum and metrics examples answer their routes to a real HTTP
//! client.

#![allow(missing_docs)]

use chrono::{Datelike, Timelike, Weekday};

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/quickstart.rs"]
mod quickstart;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/interval.rs"]
mod interval;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/cron.rs"]
mod cron;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/date.rs"]
mod date;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/listeners.rs"]
mod listeners;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/axum_app.rs"]
mod axum_app;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/persistence.rs"]
mod persistence;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/metrics.rs"]
mod metrics_example;

#[tokio::test(start_paused = true)]
async fn quickstart_ticks_every_ten_seconds() {
    let ticks = quickstart::run(true).await.expect("example runs");
    assert_eq!(ticks.len(), 3, "{ticks:?}");
}

#[tokio::test(start_paused = true)]
async fn interval_polls_every_thirty_seconds_and_keeps_both_jobs() {
    let jobs = interval::run(true).await.expect("example runs");
    assert_eq!(jobs.len(), 2);
    let poll = jobs
        .iter()
        .find(|j| j.id == "api_poll")
        .expect("api_poll job");
    let cleanup = jobs
        .iter()
        .find(|j| j.id != "api_poll")
        .expect("cleanup job");
    let (poll_next, cleanup_next) = (poll.next_run_time.unwrap(), cleanup.next_run_time.unwrap());
    // Added at the same instant: cleanup is due 6 h after it, the 4th poll 120 s after it.
    assert_eq!((cleanup_next - poll_next).num_seconds(), 6 * 3600 - 120);
}

#[tokio::test(start_paused = true)]
async fn cron_jobs_fire_on_their_days_and_times() {
    let runs = cron::run(true).await.expect("example runs");
    let of = |id: &str| {
        runs.iter()
            .filter(|(j, _)| j == id)
            .map(|(_, t)| *t)
            .collect::<Vec<_>>()
    };
    let daily = of("daily_report");
    assert_eq!(daily.len(), 8, "8 days, one report each: {daily:?}");
    assert!(daily
        .iter()
        .all(|t| (t.hour(), t.minute(), t.second()) == (8, 0, 0)));
    let weekly = of("weekly_cleanup");
    assert!(!weekly.is_empty() && weekly.len() <= 2, "{weekly:?}");
    assert!(weekly
        .iter()
        .all(|t| t.weekday() == Weekday::Mon && (t.hour(), t.minute()) == (0, 0)));
    let digest = of("workday_digest");
    assert!((5..=6).contains(&digest.len()), "{digest:?}");
    assert!(digest
        .iter()
        .all(|t| t.weekday().num_days_from_monday() < 5 && (t.hour(), t.minute()) == (17, 30)));
}

#[tokio::test(start_paused = true)]
async fn date_reminders_fire_once_each_with_their_args() {
    let sent = date::run(true).await.expect("example runs");
    assert_eq!(
        sent,
        vec![
            "Reminder for alice: Team standup in 5 minutes".to_owned(),
            "Reminder for bob: Quarterly report due".to_owned()
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn listeners_see_successes_failures_and_skips() {
    let printed = listeners::run(true).await.expect("example runs");
    let count = |needle: &str| printed.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        count("Job flaky FAILED: Simulated job failure"),
        2,
        "{printed:#?}"
    );
    assert_eq!(count("Job flaky succeeded"), 4, "{printed:#?}");
    assert_eq!(count("Job slow_report was SKIPPED"), 3, "{printed:#?}");
}

#[tokio::test(start_paused = true)]
async fn axum_app_once_mode_runs_to_completion() {
    axum_app::run(true).await.expect("example runs");
}

#[tokio::test]
async fn axum_app_answers_its_routes() {
    let state = axum_app::setup(sched_tokio::Scheduler::builder())
        .await
        .expect("scheduler starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum_app::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    let jobs: serde_json::Value = http
        .get(format!("{base}/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    for id in ["cleanup", "digest", "health"] {
        assert!(ids.contains(&id), "{jobs}");
    }
    assert!(jobs[0]["next_run"].as_str().is_some());

    // Run now: the job runs at once and shows up in the recent runs on `/`.
    let mut events = state.scheduler.subscribe();
    let ran = http
        .post(format!("{base}/admin/api/jobs/health/run"))
        .send()
        .await
        .unwrap();
    assert_eq!(ran.status(), 200);
    loop {
        match events.recv().await.unwrap() {
            sched_tokio::Event::JobExecuted(run) if &*run.job_id == "health" => break,
            _ => {}
        }
    }
    let index: serde_json::Value = http.get(&base).send().await.unwrap().json().await.unwrap();
    assert_eq!(index["status"], "running");
    assert!(
        index["recent_jobs"][0]
            .as_str()
            .unwrap()
            .ends_with("Health check: all APIs responding"),
        "{index}"
    );

    let paused: serde_json::Value = http
        .post(format!("{base}/admin/api/jobs/digest/pause"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paused["job"]["paused"], true);
    let resumed: serde_json::Value = http
        .post(format!("{base}/admin/api/jobs/digest/resume"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["job"]["paused"], false);
    assert_eq!(
        http.delete(format!("{base}/admin/api/jobs/cleanup"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let missing = http
        .delete(format!("{base}/admin/api/jobs/cleanup"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["message"], "no job with id \"cleanup\"");
    let jobs: serde_json::Value = http
        .get(format!("{base}/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 2);

    // The dashboard's jobs page, behind a bearer token when one is set.
    let page = http.get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("health_check_external_apis"));
    let locked = axum_app::app_with_token(state.clone(), Some("s3cret".into()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let locked_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, locked).await });
    let refused = http
        .get(format!("{locked_base}/admin/api/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let allowed = http
        .get(format!("{locked_base}/admin/api/jobs"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let open = http.get(format!("{locked_base}/")).send().await.unwrap();
    assert_eq!(open.status(), 200, "only the dashboard is locked");
    state.scheduler.shutdown().await.unwrap();
}

// On the real clock (not paused): see the example's docs for why.
#[tokio::test]
async fn persistence_keeps_one_job_across_a_restart() {
    let starts = persistence::run(true).await.expect("example runs");
    assert_eq!(starts.len(), 2, "two starts on one file");
    for (n, started) in starts.iter().enumerate() {
        assert!(started.store_errors.is_empty(), "start {n}: {started:?}");
        assert_eq!(
            started.syncs, 0,
            "not due within the first hour: {started:?}"
        );
        let [(id, name, next)] = started.jobs.as_slice() else {
            panic!("start {n}: exactly one job, not a duplicate: {started:?}");
        };
        assert_eq!((id.as_str(), name.as_str()), ("db_sync", "hourly_sync"));
        let in_secs = (next.expect("scheduled") - chrono::Utc::now()).num_seconds();
        assert!(
            (3500..=3600).contains(&in_secs),
            "next sync in an hour: {in_secs} s"
        );
    }
}

/// A sample of a Prometheus text scrape, by series (`name{labels}`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
}

#[tokio::test(start_paused = true)]
async fn metrics_example_counts_its_runs() {
    let text = metrics_example::run(true).await.expect("example runs");
    let count = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}: {text}"));
    // 31 s, every 5 s: heartbeat 6 runs, flaky 6 (every other one fails), slow_report
    // 3 (at 5, 15 and 25; the runs at 10, 20 and 30 overlap it; shutdown waits for the
    // last).
    assert_eq!(count("sched_runs_started_total"), 15.0);
    assert_eq!(count("sched_runs_succeeded_total"), 12.0);
    assert_eq!(count("sched_runs_failed_total{reason=\"error\"}"), 3.0);
    assert_eq!(count("sched_runs_skipped_max_instances_total"), 3.0);
    assert_eq!(count("sched_run_duration_seconds_count"), 15.0);
    assert_eq!(
        count("sched_run_duration_seconds_sum"),
        21.0,
        "slow_report: 3 × 7 s"
    );
    assert_eq!(count("sched_runs_running"), 0.0);
    assert_eq!(count("sched_jobs"), 3.0);
}

#[tokio::test(start_paused = true)]
async fn metrics_example_serves_the_prometheus_text_on_http() {
    let builder = sched_tokio::Scheduler::builder()
        .clock(sched_tokio::TokioClock::starting_at(chrono::Utc::now()));
    let (scheduler, prometheus) = metrics_example::setup(builder)
        .await
        .expect("scheduler starts");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await; // the runs at 5 s
    scheduler.shutdown().await.expect("shuts down");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, metrics_example::app(prometheus)).await });

    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap();
    assert!(kind.starts_with("text/plain"), "{kind}");
    let text = response.text().await.unwrap();
    // heartbeat and flaky succeed at 5 s; slow_report, 7 s long, waited for.
    assert_eq!(
        sample(&text, "sched_runs_started_total"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "sched_runs_succeeded_total"),
        Some(3.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE sched_run_start_delay_seconds summary"),
        "{text}"
    );
    assert!(text.contains("# HELP sched_runs_failed_total"), "{text}");
}
