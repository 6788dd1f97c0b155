//! The pages: what they show, escaped, nested under any path, without buttons when
//! read-only; the buttons' forms act and come back.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::Router;
use sched_tokio::prelude::*;
use sched_web::Admin;

use crate::common::{get, send};

async fn scheduler_with_odd_jobs() -> Scheduler {
    let scheduler = Scheduler::builder()
        .clock(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
        .build()
        .unwrap();
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(60))
                .id("<script>alert(1)</script>")
                .name("<img src=x onerror=alert(2)>")
                .args(&serde_json::json!({"html": "</code><script>alert(3)</script>"}))
                .unwrap(),
            || async {},
        )
        .await
        .unwrap();
    scheduler
        .add_job(
            JobSpec::cron("0 9 * * mon-fri")
                .unwrap()
                .id("digest")
                .name("send digest"),
            || async {},
        )
        .await
        .unwrap();
    scheduler
}

#[tokio::test]
async fn everything_from_the_store_is_escaped() {
    let scheduler = scheduler_with_odd_jobs().await;
    let router = sched_web::router(scheduler);
    let page = get(&router, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    // Its link is percent-encoded.
    assert!(
        page.body
            .contains("/jobs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        "{}",
        page.body
    );
    let job = get(&router, "/jobs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E").await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.body);
    assert!(!job.body.contains("<script>alert"), "{}", job.body);
    assert!(
        job.body.contains("&lt;/code&gt;&lt;script&gt;alert(3)"),
        "args escaped"
    );
}

#[tokio::test]
async fn pages_link_under_the_path_they_are_nested_at() {
    let scheduler = scheduler_with_odd_jobs().await;
    let app = Router::new().nest("/ops/admin", sched_web::router(scheduler));
    for path in ["/ops/admin", "/ops/admin?q=dig"] {
        let page = get(&app, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path} {}", page.body);
        assert!(
            page.body.contains("href=\"/ops/admin/jobs/digest\""),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains("href=\"/ops/admin/assets/style.css\""));
        assert!(page
            .body
            .contains("action=\"/ops/admin/jobs/digest/pause\""));
    }
    let job = get(&app, "/ops/admin/jobs/digest").await;
    assert!(
        job.body.contains("href=\"/ops/admin/runs\""),
        "{}",
        job.body
    );
    assert!(job.body.contains("every") || job.body.contains("cron &quot;0 9 * * mon-fri&quot;"));
    assert_eq!(
        get(&app, "/ops/admin/assets/style.css").await.headers["content-type"],
        "text/css; charset=utf-8"
    );
    let runs = get(&app, "/ops/admin/runs").await;
    assert!(runs.body.contains("src=\"/ops/admin/assets/live.js\""));
    let nodes = get(&app, "/ops/admin/nodes").await;
    assert!(
        nodes.body.contains("This dashboard runs in node"),
        "{}",
        nodes.body
    );
}

#[tokio::test]
async fn buttons_act_and_come_back_and_read_only_pages_have_none() {
    let scheduler = scheduler_with_odd_jobs().await;
    let app = Router::new().nest("/admin", sched_web::router(scheduler.clone()));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let paused = send(
        &app,
        Method::POST,
        "/admin/jobs/digest/pause",
        &form,
        "back=%2Fadmin%3Fq%3Ddig",
    )
    .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER, "{}", paused.body);
    assert_eq!(paused.headers["location"], "/admin?q=dig");
    assert!(scheduler.get_job("digest").await.unwrap().paused);
    let page = get(&app, "/admin?q=dig").await;
    assert!(
        page.body.contains("data-action=\"resume\""),
        "the Resume button: {}",
        page.body
    );
    assert!(page
        .body
        .contains("<span class=\"state paused\">paused</span>"));
    // Never back to another site.
    let away = send(
        &app,
        Method::POST,
        "/admin/jobs/digest/resume",
        &form,
        "back=https%3A%2F%2Fevil.example%2F",
    )
    .await;
    assert_eq!(away.headers["location"], "/admin");
    let gone = send(
        &app,
        Method::POST,
        "/admin/jobs/nope/pause",
        &form,
        "back=%2Fadmin%2F",
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.body.contains("no job with id"), "{}", gone.body);

    let read_only = Admin::new(scheduler).read_only(true).router();
    let page = get(&read_only, "/").await;
    assert!(
        !page
            .body
            .contains("<button type=\"submit\" class=\"\" data-action"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-action"));
    assert!(page.body.contains("read-only"));
}

#[tokio::test]
async fn ten_thousand_jobs_are_paged_and_searchable() {
    let scheduler = Scheduler::builder()
        .clock(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
        .build()
        .unwrap();
    for i in 0..10_000u64 {
        scheduler
            .add_job(
                JobSpec::interval(Duration::from_secs(60 + i)).id(format!("job-{i:05}")),
                || async {},
            )
            .await
            .unwrap();
    }
    let router = sched_web::router(scheduler);
    let page = get(&router, "/").await;
    assert_eq!(page.body.matches("<tr data-job=").count(), 50);
    assert!(page.body.contains("1–50 of 10000"), "a pager");
    assert!(page.body.contains("?offset=50&amp;limit=50"));
    let last = get(&router, "/?offset=9990&limit=50").await;
    assert_eq!(last.body.matches("<tr data-job=").count(), 10);
    let found = get(&router, "/?q=job-0999").await;
    assert_eq!(
        found.body.matches("<tr data-job=").count(),
        10,
        "job-09990 to job-09999"
    );
}
