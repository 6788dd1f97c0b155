//! A process asked to stop with SIGTERM (what `docker stop` and Kubernetes send) shuts
//! its scheduler down: the running job finishes, then the process exits cleanly.

#![allow(missing_docs)]
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_lets_the_running_job_finish_then_exits() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigterm_probe"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("the probe starts");
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = |what: &str| loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == what => return,
            Ok(_) => {}
            Err(_) => panic!("the probe never printed {what:?}"),
        }
    };
    next("job started");
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success());
    // The scheduler waits for the job (1.5 s), then run_forever returns.
    next("job finished");
    next("shut down cleanly");
    let status = child.wait().expect("the probe exits");
    assert!(status.success(), "exited cleanly on SIGTERM: {status}");
}
