//! The dashboard's server time at 10,000 jobs: each page and API call rendered by the
//! router in process (no network), on MemoryStore and on SQLite, median and p99.
//!
//! ```text
//! cargo bench -p sched-bench --bench web                 # 10,000 jobs, 50 requests per page
//! cargo bench -p sched-bench --bench web -- 100000 20    # jobs, requests per page
//! ```

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use sched_core::store::JobStore;
use sched_store_sqlx::SqliteStore;
use sched_tokio::prelude::*;
use tower::ServiceExt;

async fn time(router: &Router, uri: &str, requests: usize) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for _ in 0..requests {
        let started = Instant::now();
        let response = router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{uri}: {}",
            response.status()
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        times.push(started.elapsed());
        bytes = body.len();
    }
    times.sort();
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    (times[times.len() / 2], p99, bytes)
}

async fn fill(scheduler: &Scheduler, jobs: usize) {
    scheduler.register_task("sync", || async {});
    for i in 0..jobs {
        let spec = if i % 3 == 0 {
            JobSpec::cron("30 1 * * *")
                .unwrap()
                .timezone(chrono_tz::America::New_York)
        } else {
            JobSpec::interval(Duration::from_secs(60 + i as u64))
        };
        scheduler
            .add_named_job(
                spec.id(format!("job-{i:06}")).name(format!("sync {i}")),
                "sync",
            )
            .await
            .unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let jobs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let requests: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let dir = std::env::temp_dir().join(format!("sched-bench-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
    let stores: Vec<(&str, Arc<dyn JobStore>)> = vec![
        (
            "memory",
            Arc::new(sched_core::store::MemoryStore::default()),
        ),
        (
            "sqlite",
            Arc::new(SqliteStore::connect(&sqlite_url).await.unwrap()),
        ),
    ];
    println!("| store | request ({jobs} jobs) | median | p99 | bytes |");
    println!("|---|---|---|---|---|");
    for (name, store) in stores {
        let scheduler = Scheduler::builder().store(store).build().unwrap();
        fill(&scheduler, jobs).await;
        let router = sched_web::router(scheduler.clone());
        let last_page = format!("/?offset={}&limit=50", jobs.saturating_sub(50));
        let job = format!("/jobs/job-{:06}", jobs / 2);
        for uri in [
            "/",
            "/?q=job-0042",
            last_page.as_str(),
            job.as_str(),
            "/runs",
            "/api/jobs",
            "/api/jobs?q=sync%209999",
        ] {
            let (median, p99, bytes) = time(&router, uri, requests).await;
            println!(
                "| {name} | `GET {uri}` | {:.2} ms | {:.2} ms | {bytes} |",
                median.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
