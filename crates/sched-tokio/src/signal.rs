//! The signals that ask a service to stop: what `run_forever` and a web server's
//! graceful shutdown wait for.

/// Completes when the process is asked to stop: Ctrl-C (`SIGINT`) or `SIGTERM` on Unix —
/// what `docker stop`, Kubernetes and systemd send — and Ctrl-C elsewhere.
///
/// A signal whose handler cannot be installed is waited for no more (with a warning):
/// the future then completes on the others only.
///
/// ```no_run
/// # async fn demo(scheduler: sched_tokio::Scheduler) -> Result<(), sched_tokio::Error> {
/// // A script whose only purpose is scheduling:
/// scheduler.run_until(sched_tokio::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
///
/// With axum, stop the server and then the scheduler on the same signal:
///
/// ```no_run
/// # async fn demo(scheduler: sched_tokio::Scheduler, app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(sched_tokio::shutdown_signal())
///     .await?;
/// scheduler.shutdown().await?; // waits for the running jobs
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = async {
            match signal(SignalKind::terminate()) {
                Ok(mut terminate) => {
                    terminate.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}
