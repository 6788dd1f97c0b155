//! Metrics: the scheduler's counters, histograms and gauges (sched-tokio's `metrics`
//! feature) served on `/metrics` for Prometheus, next to three jobs that succeed, fail
//! and overlap themselves.
//!
//! ```text
//! cargo run --example metrics --features metrics             # serves on 127.0.0.1:9000 (PORT to change)
//! curl http://127.0.0.1:9000/metrics
//! cargo run --example metrics --features metrics -- --once   # 31 simulated seconds, prints the scrape
//! ```

use std::error::Error;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sched_tokio::prelude::*;

fn main() {
    sched_examples::main(run);
}

/// Runs the example; with `once`, 31 simulated seconds, then returns (and prints) what a
/// scrape of `/metrics` shows.
pub async fn run(once: bool) -> Result<String, Box<dyn Error>> {
    let (scheduler, prometheus) = setup(sched_examples::builder(once)).await?;
    if once {
        tokio::time::sleep(Duration::from_secs(31)).await;
        scheduler.shutdown().await?;
        let text = prometheus.render();
        println!("{text}");
        return Ok(text);
    }
    // The recorder keeps histogram samples until they are rendered: drain them even
    // when nobody scrapes for a while.
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let port = std::env::var("PORT").unwrap_or_else(|_| "9000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("metrics on http://{}/metrics", listener.local_addr()?);
    axum::serve(listener, app(prometheus))
        .with_graceful_shutdown(sched_tokio::shutdown_signal())
        .await?;
    scheduler.shutdown().await?;
    Ok(String::new())
}

/// A Prometheus recorder, a scheduler recording to it, its jobs, started.
///
/// A service with one scheduler installs the recorder for the whole process, first
/// thing in `main` (`PrometheusBuilder::new().install_recorder()?`), and every
/// scheduler built after records there. Here the recorder is the scheduler's own (the
/// thread's local recorder while it is built, which is when a scheduler registers its
/// metrics), so that the tests can run this example several times in one process.
pub async fn setup(
    builder: SchedulerBuilder,
) -> Result<(Scheduler, PrometheusHandle), Box<dyn Error>> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    let scheduler = metrics::with_local_recorder(&recorder, || builder.build())?;

    // Succeeds every 5 s.
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(5)).id("heartbeat"),
            || async {},
        )
        .await?;
    // Fails every other run: `sched_runs_failed_total{reason="error"}`.
    let runs = Arc::new(AtomicU32::new(0));
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(5)).id("flaky"),
            move || {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n.is_multiple_of(2) {
                        return Err("upstream timed out");
                    }
                    Ok(())
                }
            },
        )
        .await?;
    // Takes 7 s every 5 s: every other run is skipped at max_instances = 1
    // (`sched_runs_skipped_max_instances_total`).
    scheduler
        .add_job(
            JobSpec::interval(Duration::from_secs(5)).id("slow_report"),
            || tokio::time::sleep(Duration::from_secs(7)),
        )
        .await?;
    scheduler.start().await?;
    Ok((scheduler, prometheus))
}

/// `GET /metrics`: the Prometheus text format.
pub fn app(prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(prometheus)
}

async fn scrape(State(prometheus): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus.render(),
    )
}
