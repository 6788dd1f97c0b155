//! The JSON API: what it lists, what the actions do, and the status of each error.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use sched_tokio::prelude::*;
use sched_tokio::Event;
use sched_web::Admin;

use crate::common::{get, post, send, sqlite_scheduler};

/// Waits for `job`'s run to end (executed or error), by the scheduler's events.
async fn ran(events: &mut tokio::sync::broadcast::Receiver<Event>, job: &str) -> Event {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await.unwrap() {
                event @ (Event::JobExecuted(_) | Event::JobError(_))
                    if event.job_id() == Some(job) =>
                {
                    return event
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the run ended")
}

#[tokio::test]
async fn jobs_are_listed_with_schedule_fire_times_and_dst_notes() {
    // A scheduler not started, its clock on 30 October 2026: New York's clocks go back
    // on 1 November, so 01:30 occurs twice that night.
    let scheduler = Scheduler::builder()
        .clock(ManualClock::new("2026-10-30T12:00:00Z".parse().unwrap()))
        .build()
        .unwrap();
    scheduler
        .add_job(
            JobSpec::cron("30 1 * * *")
                .unwrap()
                .id("nightly")
                .name("Nightly report")
                .timezone(sched_tokio::chrono_tz::America::New_York),
            || async {},
        )
        .await
        .unwrap();
    for i in 0..30 {
        scheduler
            .add_job(
                JobSpec::interval(Duration::from_secs(3600 + i)).id(format!("sync-{i:02}")),
                || async {},
            )
            .await
            .unwrap();
    }
    let router = sched_web::router(scheduler.clone());
    let list = get(&router, "/api/jobs?q=NIGHTLY").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let list = list.json();
    assert_eq!(list["total"], 1);
    let job = &list["jobs"][0];
    assert_eq!(job["id"], "nightly");
    assert_eq!(job["name"], "Nightly report");
    assert_eq!(job["schedule"], "cron \"30 1 * * *\" in America/New_York");
    assert_eq!(job["zone"], "America/New_York");
    assert_eq!(job["trigger"]["type"], "cron");
    assert_eq!(job["paused"], false);
    assert_eq!(job["last_run"], serde_json::Value::Null);
    let fires = job["next_fire_times"].as_array().unwrap();
    assert_eq!(fires.len(), 10);
    assert_eq!(fires[0]["at"], "2026-10-31T01:30:00-04:00");
    assert_eq!(fires[1]["at"], "2026-11-01T01:30:00-04:00");
    let note = fires[1]["dst"].as_str().unwrap();
    assert!(note.contains("occurs twice"), "{note}");
    assert_eq!(fires[2]["at"], "2026-11-02T01:30:00-05:00");
    assert_eq!(fires[2]["dst"], serde_json::Value::Null);

    // Paged: 31 jobs, 10 a page.
    let page = get(&router, "/api/jobs?offset=30&limit=10").await.json();
    assert_eq!(
        (
            page["total"].as_u64(),
            page["jobs"].as_array().unwrap().len()
        ),
        (Some(31), 1)
    );
    assert_eq!(
        get(&router, "/api/jobs?limit=0").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&router, "/api/jobs?limit=5000").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&router, "/api/jobs?offset=-1").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_job_shows_its_history_and_runs_filter_by_job_status_and_node() {
    let scheduler = sqlite_scheduler("history", "2026-01-01T00:00:00Z").await;
    let hourly = || JobSpec::interval(Duration::from_secs(3600));
    scheduler
        .add_named_job(hourly().id("good"), "ok")
        .await
        .unwrap();
    scheduler
        .add_named_job(hourly().id("bad"), "fail")
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let router = sched_web::router(scheduler.clone());
    let mut events = scheduler.subscribe();
    for job in ["good", "bad", "good"] {
        let ran_now = post(&router, &format!("/api/jobs/{job}/run")).await;
        assert_eq!(ran_now.status, StatusCode::OK, "{}", ran_now.body);
        assert_eq!(ran_now.json()["action"], "run");
        ran(&mut events, job).await;
    }
    // Completions are recorded in batches: wait until the history has all three.
    let detail = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let detail = get(&router, "/api/jobs/good").await.json();
            let done = detail["runs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"] == "success")
                .count();
            if done == 2 {
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("two runs of good in its history");
    assert_eq!(detail["job"]["last_run"]["status"], "success");
    assert_eq!(detail["runs"][0]["node"], scheduler.node_id());
    assert!(detail["runs"][0]["duration_seconds"].as_f64().unwrap() >= 0.0);

    let errors = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let errors = get(&router, "/api/runs?status=error").await.json();
            if !errors["runs"].as_array().unwrap().is_empty() {
                return errors;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(errors["runs"][0]["job_id"], "bad");
    assert_eq!(errors["runs"][0]["error"], "it broke <b>badly</b>");
    let node = scheduler.node_id().to_owned();
    let mine = get(&router, &format!("/api/runs?node={node}&limit=2"))
        .await
        .json();
    assert_eq!(mine["runs"].as_array().unwrap().len(), 2);
    let before = mine["next_before"].as_i64().expect("a next page");
    let older = get(&router, &format!("/api/runs?before={before}"))
        .await
        .json();
    assert_eq!(older["runs"].as_array().unwrap().len(), 1, "{older}");
    assert_eq!(older["next_before"], serde_json::Value::Null);
    assert!(
        get(&router, "/api/runs?node=elsewhere").await.json()["runs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let unknown = get(&router, "/api/runs?status=exploded").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["message"]
        .as_str()
        .unwrap()
        .contains("timed_out"));

    let nodes = get(&router, "/api/nodes").await.json();
    assert_eq!(nodes["this_node"], node);
    scheduler.shutdown().await.unwrap();
}

#[tokio::test]
async fn actions_change_jobs_and_errors_have_their_status() {
    let scheduler = Scheduler::builder()
        .clock(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
        .build()
        .unwrap();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(60)).id("tick"),
            || async {},
        )
        .await
        .unwrap();
    let router = sched_web::router(scheduler.clone());

    let paused = post(&router, "/api/jobs/tick/pause").await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_eq!(paused.json()["job"]["paused"], true);
    assert!(scheduler.get_job("tick").await.unwrap().paused);
    // A paused job of a scheduler not started cannot run now: a conflict.
    let conflict = post(&router, "/api/jobs/tick/run").await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert_eq!(conflict.json()["error"], "conflict");
    let resumed = post(&router, "/api/jobs/tick/resume").await.json();
    assert_eq!(resumed["job"]["paused"], false);

    let cron = r#"{"type":"cron","expression":"0 9 * * *"}"#;
    let rescheduled = send(&router, Method::PUT, "/api/jobs/tick/trigger", &[], cron).await;
    assert_eq!(rescheduled.status, StatusCode::OK, "{}", rescheduled.body);
    assert_eq!(rescheduled.json()["job"]["schedule"], "cron \"0 9 * * *\"");
    assert_eq!(
        scheduler
            .get_job("tick")
            .await
            .unwrap()
            .next_run_time
            .unwrap()
            .to_rfc3339(),
        "2026-01-01T09:00:00+00:00"
    );
    for bad in [
        r#"{"type":"cron","expression":"61 * * * *"}"#,
        "not json",
        r#"{"type":"interval","every":{"secs":0,"nanos":0}}"#,
    ] {
        let refused = send(&router, Method::PUT, "/api/jobs/tick/trigger", &[], bad).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
        assert_eq!(refused.json()["error"], "bad_request");
    }

    for (method, uri) in [
        (Method::GET, "/api/jobs/nope"),
        (Method::POST, "/api/jobs/nope/pause"),
        (Method::POST, "/api/jobs/nope/resume"),
        (Method::POST, "/api/jobs/nope/run"),
        (Method::DELETE, "/api/jobs/nope"),
    ] {
        let missing = send(&router, method.clone(), uri, &[], "").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{method} {uri}");
        let body = missing.json();
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
    }
    let missing = send(
        &router,
        Method::PUT,
        "/api/jobs/nope/trigger",
        &[],
        r#"{"type":"cron","expression":"0 9 * * *"}"#,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let removed = send(&router, Method::DELETE, "/api/jobs/tick", &[], "").await;
    assert_eq!(removed.json()["action"], "removed");
    assert!(scheduler.get_jobs().await.unwrap().is_empty());
    assert_eq!(
        get(&router, "/api/nowhere").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_running_run_is_cancelled_from_the_api_and_from_its_button() {
    let scheduler = Scheduler::builder().build().unwrap();
    let mut events = scheduler.subscribe();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(3600))
                .id("export")
                .start(scheduler.now() + chrono::Duration::milliseconds(100)),
            |ctx: sched_tokio::JobContext| async move { ctx.cancelled().await },
        )
        .await
        .unwrap();
    let router = sched_web::router(scheduler.clone());
    scheduler.start().await.unwrap();
    let run = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Event::JobSubmitted(run) = events.recv().await.unwrap() {
                return run.run_id.0;
            }
        }
    })
    .await
    .expect("the run started");

    // The runs page offers a Cancel button on the running run.
    let page = get(&router, "/runs").await;
    assert!(
        page.body
            .contains(&format!("action=\"/runs/{run}/cancel\"")),
        "{}",
        page.body
    );
    let cancelled = post(&router, &format!("/api/runs/{run}/cancel")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.json()["action"], "cancelling");
    assert_eq!(cancelled.json()["run_id"], run);
    match ran(&mut events, "export").await {
        Event::JobError(ended) => assert_eq!(ended.error.as_deref(), Some("cancelled")),
        other => panic!("the run should end cancelled: {other:?}"),
    }
    // Ended now: nothing to cancel, a conflict; an id never issued, not found.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = post(&router, &format!("/api/runs/{run}/cancel")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let unknown = post(&router, "/api/runs/999999999999/cancel").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(unknown.json()["error"], "not_found");
    let bad = post(&router, "/api/runs/latest/cancel").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let read_only = Admin::new(scheduler.clone()).read_only(true).router();
    assert_eq!(
        post(&read_only, &format!("/api/runs/{run}/cancel"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    scheduler.shutdown().await.unwrap();
}

#[tokio::test]
async fn read_only_and_cross_origin_requests_change_nothing() {
    let scheduler = Scheduler::builder().build().unwrap();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(60)).id("tick"),
            || async {},
        )
        .await
        .unwrap();
    let read_only = Admin::new(scheduler.clone()).read_only(true).router();
    let refused = post(&read_only, "/api/jobs/tick/pause").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "read_only");
    let form = send(
        &read_only,
        Method::POST,
        "/jobs/tick/remove",
        &[("content-type", "application/x-www-form-urlencoded")],
        "back=/",
    )
    .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&read_only, "/api/jobs").await.status, StatusCode::OK);

    let router = sched_web::router(scheduler.clone());
    let evil = [
        ("host", "127.0.0.1:8080"),
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    let forged = send(&router, Method::POST, "/api/jobs/tick/pause", &evil, "").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.json()["error"], "forbidden");
    let same = [
        ("host", "127.0.0.1:8080"),
        ("origin", "http://127.0.0.1:8080"),
        ("sec-fetch-site", "same-origin"),
    ];
    assert_eq!(
        send(&router, Method::POST, "/api/jobs/tick/pause", &same, "")
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        scheduler.get_job("tick").await.unwrap().paused,
        "only the same-origin request paused it"
    );
    assert_eq!(
        scheduler.get_jobs().await.unwrap().len(),
        1,
        "nothing removed"
    );
}

#[tokio::test]
async fn a_store_alone_is_served_and_changed_without_a_scheduler() {
    let url = crate::common::sqlite_url("store-only");
    let store = Arc::new(sched_store_sqlx::SqliteStore::connect(&url).await.unwrap());
    let job = Job::new("report", "send_report", Trigger::cron("0 9 * * *").unwrap())
        .schedule(sched_tokio::chrono::Utc::now())
        .unwrap();
    store.add_job(job, false).await.unwrap();
    let router = Admin::for_store(store.clone()).router();
    let list = get(&router, "/api/jobs").await.json();
    assert_eq!(list["jobs"][0]["id"], "report");
    assert_eq!(
        list["jobs"][0]["task"], "send_report",
        "a task nobody registered here"
    );
    let nodes = get(&router, "/api/nodes").await.json();
    assert_eq!(nodes["this_node"], serde_json::Value::Null);

    let before = sched_tokio::chrono::Utc::now();
    let ran = post(&router, "/api/jobs/report/run").await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    let next = store
        .get_job("report")
        .await
        .unwrap()
        .next_run_time
        .unwrap();
    assert!(
        next >= before && next <= sched_tokio::chrono::Utc::now(),
        "run now = due now: {next}"
    );
    post(&router, "/api/jobs/report/pause").await;
    assert!(store.get_job("report").await.unwrap().paused);
    let conflict = post(&router, "/api/jobs/report/run").await;
    assert_eq!(
        conflict.status,
        StatusCode::CONFLICT,
        "a paused job's run-now would be lost"
    );
    assert_eq!(
        send(&router, Method::DELETE, "/api/jobs/report", &[], "")
            .await
            .status,
        StatusCode::OK
    );
    assert!(store.list_jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_openapi_document_names_every_route() {
    let scheduler = Scheduler::builder().build().unwrap();
    let router = sched_web::router(scheduler);
    let reply = get(&router, "/api/openapi.json").await;
    assert_eq!(reply.headers["content-type"], "application/json");
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/runs",
        "/api/nodes",
        "/api/jobs/{id}/pause",
        "/api/jobs/{id}/resume",
        "/api/jobs/{id}/run",
        "/api/jobs/{id}/trigger",
        "/api/runs/{run_id}/cancel",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/api/jobs/{id}"]["delete"].is_object());
    assert!(doc["components"]["schemas"]["JobSummary"].is_object());
}

#[tokio::test]
async fn the_live_feed_streams_runs_as_they_happen() {
    use futures::StreamExt;
    let scheduler = Scheduler::builder().build().unwrap();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(3600)).id("tick"),
            || async {},
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let router = sched_web::router(scheduler.clone());
    let response = tower::ServiceExt::oneshot(
        router.clone(),
        axum::http::Request::get("/api/events")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    assert_eq!(
        post(&router, "/api/jobs/tick/run").await.status,
        StatusCode::OK
    );
    let text = tokio::time::timeout(Duration::from_secs(20), async {
        let mut text = String::new();
        while !text.contains("event: executed") {
            let chunk = body.next().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("an executed event");
    assert!(text.contains("event: submitted"), "{text}");
    let data = text
        .lines()
        .skip_while(|l| *l != "event: executed")
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        (event["job_id"].as_str(), event["status"].as_str()),
        (Some("tick"), Some("success"))
    );
    assert_eq!(event["node"], scheduler.node_id());
    // The memory store keeps no history: the router's journal has the run.
    let runs = get(&router, "/api/runs?job=tick").await.json();
    assert_eq!(runs["runs"][0]["status"], "success", "{runs}");
    scheduler.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_retried_run_shows_each_attempt_in_the_history_and_on_the_page() {
    let scheduler = sqlite_scheduler("retried", "2026-01-01T00:00:00Z").await;
    scheduler.register_task("flaky", |ctx: sched_tokio::JobContext| async move {
        if ctx.attempt() == 1 {
            return Err("first try fails".to_owned());
        }
        Ok(vec!["<a>", "b"])
    });
    let retry = RetryPolicy::new(3).fixed(Duration::from_millis(200));
    scheduler
        .add_named_job(
            JobSpec::interval(Duration::from_secs(3600))
                .id("flaky")
                .options(JobOptions::default().retry(retry)),
            "flaky",
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let router = sched_web::router(scheduler.clone());
    assert_eq!(
        post(&router, "/api/jobs/flaky/run").await.status,
        StatusCode::OK
    );
    let runs = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let runs = get(&router, "/api/runs?job=flaky").await.json();
            let done = runs["runs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["attempt"] == 2 && r["status"] == "success");
            if done {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("attempt 2 succeeded");
    let attempts: Vec<(u64, &str)> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["attempt"].as_u64().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(attempts, [(2, "success"), (1, "error")]);
    assert_eq!(runs["runs"][0]["scheduled"], runs["runs"][1]["scheduled"]);
    assert_eq!(runs["runs"][0]["result"], serde_json::json!(["<a>", "b"]));
    assert_eq!(runs["runs"][1]["result"], serde_json::Value::Null);
    let page = get(&router, "/jobs/flaky").await;
    assert!(page.body.contains("<th>Attempt</th>"), "{}", page.body);
    assert!(
        page.body.contains("<td class=\"attempt\">2</td>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<th>Result</th>")
            && page.body.contains("[&quot;&lt;a&gt;&quot;,&quot;b&quot;]"),
        "the result, escaped: {}",
        page.body
    );
    scheduler.shutdown().await.unwrap();
}
