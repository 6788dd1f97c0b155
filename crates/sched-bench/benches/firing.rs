//! Firing benchmark: sched's in-memory scheduler next to tokio-cron-scheduler.
//!
//! ```sh
//! cargo bench -p sched-bench --features benches --bench firing                      # the full matrix
//! cargo bench -p sched-bench --features benches --bench firing -- --jobs 1000 --mode spread --seconds 3 --only sched
//! cargo bench -p sched-bench --features benches --bench firing -- --help
//! cargo bench -p sched-bench --features benches,metrics --bench firing -- --recorder prometheus
//! ```
//!
//! Every case runs in a child process of its own (this binary re-executed with
//! `--child`), so CPU time (`getrusage`) and memory (`VmRSS`) belong to one scheduler
//! only, and a peer that hangs can be killed at `--cap` seconds. Each case: add N jobs
//! firing every second, start, warm up, then measure a window of whole seconds:
//!
//! - fired %: distinct (job, scheduled second) runs inside the window / N × seconds;
//! - delay: job start minus scheduled time, into a preallocated histogram of atomic
//!   0.1 ms buckets (sched: `JobContext::scheduled`; the peer gives its job no
//!   scheduled time, so a run is attributed to the last whole second at or before its
//!   start: a lower bound that flatters the peer when it is more than 1 s late);
//! - firings per CPU-second and CPU % of one core, over the window;
//! - memory per job: RSS growth while adding the jobs, and after the run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sched_bench::{cpu_time, machine, rss_bytes, Histogram};

const HELP: &str = "\
firing: sched (in-memory) vs tokio-cron-scheduler, jobs every second

options:
  --jobs N[,N..]          job counts (default 1,1000,10000,100000)
  --mode spread|same|all  start times spread over the second, or all at one instant
  --only sched|peer       run one scheduler only (default both)
  --seconds S             measurement window (default 10)
  --warmup S              warm-up before the window (default 2)
  --drain S               wait after the window for late runs (default 3)
  --cap S                 kill a case after S seconds (default warmup+seconds+drain+90)
  --sched-trigger interval|cron   sched's trigger in --mode same (default interval)
  --what firing|idle|all  firing matrix, idle wake-ups test, or both (default all)
  --recorder none|prometheus  a metrics recorder in each case's process (default none;
                          prometheus: built with --features benches,metrics, which
                          turns on sched-tokio's `metrics`; rendered every 5 s, as a
                          scrape would)
  --trace                 print the longest delay of each 100 ms of the window
  --claim-ahead MS        sched's `claim_ahead` (default: the store's)
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Spread,
    Same,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Sched,
    Peer,
}

#[derive(Clone, Debug)]
struct Args {
    jobs: Vec<usize>,
    modes: Vec<Mode>,
    only: Vec<Which>,
    seconds: u64,
    warmup: u64,
    drain: u64,
    cap: Option<u64>,
    sched_cron: bool,
    firing: bool,
    idle: bool,
    child: bool,
    prometheus: bool,
    /// Print the longest delay of each 100 ms of the window (`--trace`).
    trace: bool,
    /// sched's `claim_ahead`, in ms (`--claim-ahead`; default: the store's).
    claim_ahead: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        jobs: vec![1, 1_000, 10_000, 100_000],
        modes: vec![Mode::Spread, Mode::Same],
        only: vec![Which::Sched, Which::Peer],
        seconds: 10,
        warmup: 2,
        drain: 3,
        cap: None,
        sched_cron: false,
        firing: true,
        idle: true,
        child: false,
        prometheus: false,
        trace: false,
        claim_ahead: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match flag.as_str() {
            "--bench" => {} // cargo bench passes it to harness = false targets
            "--help" | "-h" => return Err(String::new()),
            "--child" => args.child = true,
            "--jobs" => {
                args.jobs = value()?
                    .split(',')
                    .map(|n| n.replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--jobs: {e}"))?;
            }
            "--mode" => {
                args.modes = match value()?.as_str() {
                    "spread" => vec![Mode::Spread],
                    "same" => vec![Mode::Same],
                    "all" => vec![Mode::Spread, Mode::Same],
                    other => return Err(format!("unknown mode {other:?}")),
                }
            }
            "--only" => {
                args.only = match value()?.as_str() {
                    "sched" => vec![Which::Sched],
                    "peer" => vec![Which::Peer],
                    other => return Err(format!("unknown scheduler {other:?}")),
                }
            }
            "--what" => {
                (args.firing, args.idle) = match value()?.as_str() {
                    "firing" => (true, false),
                    "idle" => (false, true),
                    "all" => (true, true),
                    other => return Err(format!("unknown --what {other:?}")),
                }
            }
            "--sched-trigger" => {
                args.sched_cron = match value()?.as_str() {
                    "interval" => false,
                    "cron" => true,
                    other => return Err(format!("unknown trigger {other:?}")),
                }
            }
            "--recorder" => {
                args.prometheus = match value()?.as_str() {
                    "none" => false,
                    "prometheus" if cfg!(feature = "metrics") => true,
                    "prometheus" => {
                        return Err("--recorder prometheus needs --features benches,metrics".into())
                    }
                    other => return Err(format!("unknown recorder {other:?}")),
                }
            }
            "--seconds" => args.seconds = number(value()?)?.max(1),
            "--warmup" => args.warmup = number(value()?)?,
            "--drain" => args.drain = number(value()?)?,
            "--cap" => args.cap = Some(number(value()?)?),
            "--trace" => args.trace = true,
            "--claim-ahead" => args.claim_ahead = Some(number(value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprint!(
                "{error}{}{HELP}",
                if error.is_empty() { "" } else { "\n\n" }
            );
            std::process::exit(if error.is_empty() { 0 } else { 2 });
        }
    };
    if args.child {
        child::run(&args);
    } else {
        parent(&args);
    }
}

// ---------------------------------------------------------------------------------
// The parent: runs each case in a child process, prints the tables.

type Row = BTreeMap<String, String>;

fn parent(args: &Args) {
    let started = Utc::now();
    let mut firing: Vec<(Which, Mode, usize, Result<Row, String>)> = Vec::new();
    if args.firing {
        for &mode in &args.modes {
            for &jobs in &args.jobs {
                for &which in &args.only {
                    let result = run_case(args, which, Some(mode), jobs, false);
                    firing.push((which, mode, jobs, result));
                }
            }
        }
    }
    let mut idle = Vec::new();
    if args.idle {
        for &which in &args.only {
            idle.push((which, run_case(args, which, None, 1_000, true)));
        }
    }

    println!();
    println!(
        "Machine: {}; tokio multi-thread runtime, 2 workers; {}",
        machine(),
        started.format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "Window: warm-up {} s, measure {} s, drain {} s.",
        args.warmup, args.seconds, args.drain
    );
    println!(
        "sched-tokio feature metrics: {}; recorder: {}.",
        if cfg!(feature = "metrics") {
            "on"
        } else {
            "off"
        },
        if args.prometheus {
            "prometheus, rendered every 5 s"
        } else {
            "none"
        }
    );
    if !firing.is_empty() {
        print_firing(&firing);
        print_ratios(&firing);
    }
    if !idle.is_empty() {
        print_idle(args, &idle);
    }
}

fn run_case(
    args: &Args,
    which: Which,
    mode: Option<Mode>,
    jobs: usize,
    idle: bool,
) -> Result<Row, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["--child", "--jobs", &jobs.to_string()])
        .args([
            "--only",
            if which == Which::Sched {
                "sched"
            } else {
                "peer"
            },
        ])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--drain", &args.drain.to_string()])
        .args(["--what", if idle { "idle" } else { "firing" }])
        .args(args.trace.then_some("--trace"))
        .args(
            args.claim_ahead
                .map(|ms| ["--claim-ahead".to_owned(), ms.to_string()])
                .into_iter()
                .flatten(),
        )
        .args([
            "--recorder",
            if args.prometheus {
                "prometheus"
            } else {
                "none"
            },
        ])
        .args([
            "--sched-trigger",
            if args.sched_cron { "cron" } else { "interval" },
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(mode) = mode {
        cmd.args([
            "--mode",
            if mode == Mode::Spread {
                "spread"
            } else {
                "same"
            },
        ]);
    }
    let label = format!(
        "{:?} {} jobs {}",
        which,
        jobs,
        mode.map_or("idle".to_owned(), |m| format!("{m:?}"))
    );
    eprintln!("== {label}");
    let cap = Duration::from_secs(
        args.cap
            .unwrap_or(args.warmup + args.seconds + args.drain + 90),
    );
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + cap;
    let mut phase = "starting".to_owned();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(p) = line.strip_prefix("PHASE ") {
                    eprintln!("   {p}");
                    phase = p.to_owned();
                } else if let Some(result) = line.strip_prefix("RESULT ") {
                    let _ = child.wait();
                    let row: Row = result
                        .split('\t')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    eprintln!("   {result}");
                    return Ok(row);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "killed at the {} s cap; last phase: {phase}",
                    cap.as_secs()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map_err(|e| e.to_string())?;
                return Err(format!(
                    "exited ({status}) without a result; last phase: {phase}"
                ));
            }
        }
    }
}

fn get<'a>(row: &'a Row, key: &str) -> &'a str {
    row.get(key).map_or("?", String::as_str)
}

fn num(row: &Row, key: &str) -> f64 {
    row.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn ms(row: &Row, key: &str) -> String {
    let v = num(row, key);
    if v.is_nan() {
        "?".to_owned()
    } else {
        format!("{v:.1}")
    }
}

fn name(which: Which) -> &'static str {
    match which {
        Which::Sched => "sched",
        Which::Peer => "tokio-cron-scheduler",
    }
}

fn print_firing(rows: &[(Which, Mode, usize, Result<Row, String>)]) {
    println!();
    println!("| workload | jobs | scheduler | job type | add time | fired | extra runs | delay p50 | p99 | max | firings / CPU-s | CPU (% of 1 core) | RSS / job after add | RSS / job after run |");
    println!("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (which, mode, jobs, result) in rows {
        let workload = match mode {
            Mode::Spread => "spread",
            Mode::Same => "same instant",
        };
        match result {
            Ok(r) => println!(
                "| {workload} | {jobs} | {} | {} | {:.2} s | {:.2} % | {} | {} ms | {} ms | {} ms | {:.0} | {:.1} % | {:.0} B | {:.0} B |",
                name(*which),
                get(r, "job_type"),
                num(r, "add_s"),
                num(r, "fired_pct"),
                get(r, "extra"),
                ms(r, "p50_ms"),
                ms(r, "p99_ms"),
                ms(r, "max_ms"),
                num(r, "firings_per_cpu_s"),
                num(r, "cpu_pct"),
                num(r, "rss_add_per_job"),
                num(r, "rss_run_per_job"),
            ),
            Err(e) => println!(
                "| {workload} | {jobs} | {} | | | **failed**: {e} | | | | | | | | |",
                name(*which)
            ),
        }
    }
}

fn print_ratios(rows: &[(Which, Mode, usize, Result<Row, String>)]) {
    let find = |which: Which, mode: Mode, jobs: usize| {
        rows.iter()
            .find(|(w, m, j, _)| *w == which && *m == mode && *j == jobs)
            .and_then(|(_, _, _, r)| r.as_ref().ok())
    };
    let mut lines = Vec::new();
    for (which, mode, jobs, _) in rows {
        if *which != Which::Sched {
            continue;
        }
        let (Some(s), Some(p)) = (
            find(Which::Sched, *mode, *jobs),
            find(Which::Peer, *mode, *jobs),
        ) else {
            continue;
        };
        let ratio = |key: &str, inverse: bool| {
            let (a, b) = (num(s, key), num(p, key));
            let r = if inverse { b / a } else { a / b };
            if r.is_finite() {
                format!("{r:.1}×")
            } else {
                "n/a".to_owned()
            }
        };
        lines.push(format!(
            "| {} | {jobs} | {} | {} | {} |",
            if *mode == Mode::Spread {
                "spread"
            } else {
                "same instant"
            },
            ratio("firings_per_cpu_s", false),
            ratio("p99_ms", true),
            ratio("rss_add_per_job", true),
        ));
    }
    if !lines.is_empty() {
        println!();
        println!("| workload | jobs | firings / CPU-s, sched ÷ peer | p99 delay, peer ÷ sched | RSS / job, peer ÷ sched |");
        println!("|---|---:|---:|---:|---:|");
        for line in lines {
            println!("{line}");
        }
    }
}

fn print_idle(args: &Args, rows: &[(Which, Result<Row, String>)]) {
    println!();
    println!(
        "| idle: 1000 jobs due in 1 h, {} s | runtime wake-ups | CPU (% of 1 core) | CPU time |",
        args.seconds
    );
    println!("|---|---:|---:|---:|");
    for (which, result) in rows {
        match result {
            Ok(r) => println!(
                "| {} | {} | {:.3} % | {:.1} ms |",
                name(*which),
                get(r, "wakeups"),
                num(r, "cpu_pct"),
                num(r, "cpu_ms"),
            ),
            Err(e) => println!("| {} | **failed**: {e} | | |", name(*which)),
        }
    }
}

// ---------------------------------------------------------------------------------
// The child: one scheduler, one case.

mod child {
    use super::*;

    /// 100-ms slices of the window traced (`--trace`): up to 10 minutes.
    const SLICES: usize = 6000;

    /// What job bodies write into: preallocated before the baseline RSS is read.
    pub(super) struct Recorder {
        delays: Histogram,
        /// Runs per job whose scheduled time is inside the window.
        runs: Vec<AtomicU32>,
        /// Peer only: the last whole second (µs) a run of each job was attributed to.
        last: Vec<AtomicI64>,
        /// The window in µs since the epoch, by scheduled time ([w0, w1)).
        w0: AtomicI64,
        w1: AtomicI64,
        /// Runs that started (by wall time) inside the window: firings per CPU-second.
        started_in_window: AtomicU64,
        /// Peer only: runs that started in a second already attributed to their job.
        repeats: AtomicU64,
        /// The longest delay (µs) of the runs scheduled in each 100 ms of the window
        /// (`--trace`: printed, to see when runs were late).
        slices: Vec<AtomicI64>,
    }

    impl Recorder {
        fn new(jobs: usize, peer: bool) -> Self {
            Self {
                delays: Histogram::new(),
                runs: (0..jobs).map(|_| AtomicU32::new(0)).collect(),
                last: (0..if peer { jobs } else { 0 })
                    .map(|_| AtomicI64::new(i64::MIN))
                    .collect(),
                w0: AtomicI64::new(i64::MAX),
                w1: AtomicI64::new(i64::MAX),
                started_in_window: AtomicU64::new(0),
                repeats: AtomicU64::new(0),
                slices: (0..SLICES).map(|_| AtomicI64::new(0)).collect(),
            }
        }

        fn in_window(&self, micros: i64) -> bool {
            micros >= self.w0.load(Ordering::Relaxed) && micros < self.w1.load(Ordering::Relaxed)
        }

        /// A run of job `i` scheduled at `scheduled` starts now.
        fn run(&self, i: usize, scheduled: i64, now: i64) {
            if self.in_window(now) {
                self.started_in_window.fetch_add(1, Ordering::Relaxed);
            }
            if self.in_window(scheduled) {
                self.runs[i].fetch_add(1, Ordering::Relaxed);
                self.delays.record_micros(now - scheduled);
                let slice = (scheduled - self.w0.load(Ordering::Relaxed)) / 100_000;
                if let Some(max) = usize::try_from(slice).ok().and_then(|s| self.slices.get(s)) {
                    max.fetch_max(now - scheduled, Ordering::Relaxed);
                }
            }
        }

        /// sched: the run's scheduled time is known.
        pub(super) fn sched_run(&self, i: usize, scheduled: DateTime<Utc>) {
            self.run(
                i,
                scheduled.timestamp_micros(),
                Utc::now().timestamp_micros(),
            );
        }

        /// The peer: attributed to the last whole second at or before the start.
        pub(super) fn peer_run(&self, i: usize) {
            let now = Utc::now().timestamp_micros();
            let second = now - now.rem_euclid(1_000_000);
            if self.last[i].fetch_max(second, Ordering::Relaxed) >= second {
                self.repeats.fetch_add(1, Ordering::Relaxed);
                if self.in_window(now) {
                    self.started_in_window.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            self.run(i, second, now);
        }
    }

    fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
        let floor = t
            .duration_trunc(TimeDelta::seconds(1))
            .expect("a second divides any timestamp");
        if floor == t {
            t
        } else {
            floor + TimeDelta::seconds(1)
        }
    }

    async fn sleep_until(t: DateTime<Utc>) {
        if let Ok(d) = (t - Utc::now()).to_std() {
            tokio::time::sleep(d).await;
        }
    }

    fn phase(text: impl std::fmt::Display) {
        println!("PHASE {text}");
    }

    pub(super) fn run(args: &Args) {
        let which = args.only[0];
        let jobs = args.jobs[0];
        if args.prometheus {
            install_prometheus();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let result = runtime.block_on(async {
            match (args.idle, which) {
                (true, Which::Sched) => sched::idle(args, jobs).await,
                (true, Which::Peer) => peer::idle(args, jobs).await,
                (false, _) => firing(args, which, jobs).await,
            }
        });
        match result {
            Ok(fields) => {
                let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                // Tab-separated: values may hold spaces.
                println!("RESULT {}", line.join("\t"));
            }
            Err(e) => {
                phase(format!("error: {e}"));
                std::process::exit(1);
            }
        }
        // Leave at once: tearing down 100,000 jobs measures nothing we report.
        std::process::exit(0);
    }

    /// Installs a Prometheus recorder before the scheduler is built (it registers its
    /// metrics then), and renders it every 5 s on a thread of its own, as a scrape
    /// would: its CPU time counts with the scheduler's.
    #[cfg(feature = "metrics")]
    fn install_prometheus() {
        let handle = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
        {
            Ok(handle) => handle,
            Err(e) => {
                phase(format!("error: installing the Prometheus recorder: {e}"));
                std::process::exit(1);
            }
        };
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            std::hint::black_box(handle.render());
        });
    }

    #[cfg(not(feature = "metrics"))]
    fn install_prometheus() {
        unreachable!("--recorder prometheus is refused without the metrics feature");
    }

    /// The scheduler under test, started and warming up; the handle reports wake-ups.
    pub(super) struct Started {
        pub(super) job_type: &'static str,
        pub(super) add: Duration,
        pub(super) wakeups: Box<dyn Fn() -> Option<u64> + Send>,
        pub(super) _keep: Box<dyn std::any::Any + Send>,
    }

    async fn firing(
        args: &Args,
        which: Which,
        jobs: usize,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let mode = args.modes[0];
        let recorder = Arc::new(Recorder::new(jobs, which == Which::Peer));
        let rss0 = rss_bytes().unwrap_or(0);
        // The first runs are due at `base` (sched); if adding takes longer they are
        // overdue and fire at once, then settle onto their grid during the warm-up. So
        // that a million jobs (2–3 s to add) do not start with seconds of runs overdue
        // — a backlog the warm-up would not drain, measured as the window's delays —
        // their first runs are a second later per 250,000 jobs.
        let lead = 1 + i64::try_from(jobs / 250_000).unwrap_or(0);
        let base = ceil_second(Utc::now()) + TimeDelta::seconds(lead);
        phase(format!("adding {jobs} jobs"));
        let started = match which {
            Which::Sched => sched::start(args, mode, jobs, base, &recorder).await?,
            Which::Peer => peer::start(mode, jobs, &recorder).await?,
        };
        let rss1 = rss_bytes().unwrap_or(0);
        let w0 = ceil_second(Utc::now().max(base)) + TimeDelta::seconds(args.warmup as i64);
        let w1 = w0 + TimeDelta::seconds(args.seconds as i64);
        recorder.w0.store(w0.timestamp_micros(), Ordering::Relaxed);
        recorder.w1.store(w1.timestamp_micros(), Ordering::Relaxed);
        phase(format!(
            "added in {:.2} s; warming up, window {} .. {}",
            started.add.as_secs_f64(),
            w0.format("%H:%M:%S"),
            w1.format("%H:%M:%S")
        ));

        sleep_until(w0).await;
        let (cpu0, wall0, wake0) = (cpu_time(), Instant::now(), (started.wakeups)());
        sleep_until(w1).await;
        let (cpu1, wall1, wake1) = (cpu_time(), Instant::now(), (started.wakeups)());
        phase("window over; draining late runs");
        tokio::time::sleep(Duration::from_secs(args.drain)).await;
        let rss2 = rss_bytes().unwrap_or(0);
        if args.trace {
            // The longest delay of each 100 ms of the window, in ms, ten slices a line.
            let slices = &recorder.slices[..(args.seconds as usize * 10).min(SLICES)];
            for (second, ten) in slices.chunks(10).enumerate() {
                let maxes: Vec<String> = ten
                    .iter()
                    .map(|m| format!("{:.1}", m.load(Ordering::Relaxed) as f64 / 1e3))
                    .collect();
                phase(format!(
                    "trace second {second}: max delay ms {}",
                    maxes.join(" ")
                ));
            }
        }

        let seconds = u64::from(args.seconds as u32);
        let (mut fired, mut extra, mut never, mut fewest) = (0u64, 0u64, 0u64, u64::MAX);
        for runs in &recorder.runs {
            let runs = u64::from(runs.load(Ordering::Relaxed));
            fired += runs.min(seconds);
            extra += runs.saturating_sub(seconds);
            never += u64::from(runs == 0);
            fewest = fewest.min(runs);
        }
        extra += recorder.repeats.load(Ordering::Relaxed);
        let expected = jobs as u64 * seconds;
        let cpu = (cpu1 - cpu0).as_secs_f64();
        let wall = (wall1 - wall0).as_secs_f64();
        let started_in_window = recorder.started_in_window.load(Ordering::Relaxed);
        let d = &recorder.delays;
        let to_ms = |x: Duration| format!("{:.1}", x.as_secs_f64() * 1e3);
        let per_job = |rss: u64| format!("{:.0}", rss.saturating_sub(rss0) as f64 / jobs as f64);
        let mut out = vec![
            ("job_type", started.job_type.to_owned()),
            ("jobs", jobs.to_string()),
            ("add_s", format!("{:.3}", started.add.as_secs_f64())),
            ("expected", expected.to_string()),
            ("fired", fired.to_string()),
            (
                "fired_pct",
                format!("{:.3}", fired as f64 * 100.0 / expected as f64),
            ),
            ("extra", extra.to_string()),
            ("jobs_never_run", never.to_string()),
            ("fewest_runs_of_a_job", fewest.to_string()),
            ("early", d.early().to_string()),
            ("p50_ms", to_ms(d.percentile(0.50))),
            ("p99_ms", to_ms(d.percentile(0.99))),
            ("max_ms", to_ms(d.max())),
            ("started_in_window", started_in_window.to_string()),
            ("cpu_s", format!("{cpu:.3}")),
            ("cpu_pct", format!("{:.2}", cpu * 100.0 / wall)),
            (
                "firings_per_cpu_s",
                format!("{:.0}", started_in_window as f64 / cpu),
            ),
            ("rss_add_per_job", per_job(rss1)),
            ("rss_run_per_job", per_job(rss2)),
            ("rss_base_mib", format!("{:.1}", rss0 as f64 / 1048576.0)),
        ];
        if let (Some(a), Some(b)) = (wake0, wake1) {
            out.push(("wakeups_in_window", (b - a).to_string()));
        }
        Ok(out)
    }

    pub(super) mod sched {
        use sched_tokio::prelude::*;

        use super::*;

        pub(in super::super) async fn start(
            args: &Args,
            mode: Mode,
            jobs: usize,
            base: DateTime<Utc>,
            recorder: &Arc<Recorder>,
        ) -> Result<Started, String> {
            let mut builder = Scheduler::builder();
            if let Some(ms) = args.claim_ahead {
                builder = builder.claim_ahead(Duration::from_millis(ms));
            }
            let scheduler = builder.build().map_err(|e| e.to_string())?;
            let cron = mode == Mode::Same && args.sched_cron;
            let t = Instant::now();
            for i in 0..jobs {
                let spec = if cron {
                    JobSpec::cron("* * * * * *").map_err(|e| e.to_string())?
                } else {
                    // Spread: job i is due at base + i/N s, then every second.
                    let offset = match mode {
                        Mode::Spread => (i as u128 * 1_000_000_000 / jobs as u128) as i64,
                        Mode::Same => 0,
                    };
                    JobSpec::interval(Duration::from_secs(1))
                        .start(base + TimeDelta::nanoseconds(offset))
                };
                let recorder = Arc::clone(recorder);
                scheduler
                    .add_job(spec, move |ctx: JobContext| {
                        recorder.sched_run(i, ctx.scheduled);
                        std::future::ready(())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let add = t.elapsed();
            scheduler.start().await.map_err(|e| e.to_string())?;
            let handle = scheduler.clone();
            Ok(Started {
                job_type: if cron {
                    "cron `* * * * * *`"
                } else {
                    "interval 1 s + start"
                },
                add,
                wakeups: Box::new(move || Some(handle.stats().wakeups)),
                _keep: Box::new(scheduler),
            })
        }

        pub(in super::super) async fn idle(
            args: &Args,
            jobs: usize,
        ) -> Result<Vec<(&'static str, String)>, String> {
            let scheduler = Scheduler::builder().build().map_err(|e| e.to_string())?;
            let in_an_hour = Utc::now() + TimeDelta::hours(1);
            for _ in 0..jobs {
                let spec = JobSpec::interval(Duration::from_secs(3600)).start(in_an_hour);
                scheduler
                    .add_job(spec, || async {})
                    .await
                    .map_err(|e| e.to_string())?;
            }
            scheduler.start().await.map_err(|e| e.to_string())?;
            tokio::time::sleep(Duration::from_secs(1)).await; // let start-up settle
            let (cpu0, wall0, wake0) = (cpu_time(), Instant::now(), scheduler.stats().wakeups);
            tokio::time::sleep(Duration::from_secs(args.seconds)).await;
            let (cpu1, wall1, wake1) = (cpu_time(), Instant::now(), scheduler.stats().wakeups);
            let cpu = (cpu1 - cpu0).as_secs_f64();
            Ok(vec![
                ("wakeups", (wake1 - wake0).to_string()),
                ("cpu_ms", format!("{:.2}", cpu * 1e3)),
                (
                    "cpu_pct",
                    format!("{:.4}", cpu * 100.0 / (wall1 - wall0).as_secs_f64()),
                ),
            ])
        }
    }

    pub(super) mod peer {
        use tokio_cron_scheduler::{Job, JobScheduler};

        use super::*;

        pub(in super::super) async fn start(
            mode: Mode,
            jobs: usize,
            recorder: &Arc<Recorder>,
        ) -> Result<Started, String> {
            let scheduler = JobScheduler::new().await.map_err(|e| format!("{e:?}"))?;
            let t = Instant::now();
            for i in 0..jobs {
                let recorder = Arc::clone(recorder);
                let body = move |_id,
                                 _scheduler|
                      -> std::pin::Pin<
                    Box<dyn std::future::Future<Output = ()> + Send>,
                > {
                    recorder.peer_run(i);
                    Box::pin(async {})
                };
                // The peer keeps next ticks in whole seconds: it has no sub-second
                // offset, so "spread" uses its repeated job type, which is as close as
                // it gets (all jobs still land on whole seconds).
                let job = match mode {
                    Mode::Same => Job::new_async("* * * * * *", body),
                    Mode::Spread => Job::new_repeated_async(Duration::from_secs(1), body),
                }
                .map_err(|e| format!("{e:?}"))?;
                scheduler.add(job).await.map_err(|e| format!("{e:?}"))?;
                if (i + 1) % 10_000 == 0 {
                    phase(format!(
                        "added {} jobs in {:.1} s",
                        i + 1,
                        t.elapsed().as_secs_f64()
                    ));
                }
            }
            let add = t.elapsed();
            scheduler.start().await.map_err(|e| format!("{e:?}"))?;
            Ok(Started {
                job_type: match mode {
                    Mode::Same => "`Job::new_async(\"* * * * * *\")`",
                    Mode::Spread => "`Job::new_repeated_async(1 s)`",
                },
                add,
                wakeups: Box::new(|| None),
                _keep: Box::new(scheduler),
            })
        }

        pub(in super::super) async fn idle(
            args: &Args,
            jobs: usize,
        ) -> Result<Vec<(&'static str, String)>, String> {
            let scheduler = JobScheduler::new().await.map_err(|e| format!("{e:?}"))?;
            for _ in 0..jobs {
                let job =
                    Job::new_repeated_async(Duration::from_secs(3600), |_, _| Box::pin(async {}))
                        .map_err(|e| format!("{e:?}"))?;
                scheduler.add(job).await.map_err(|e| format!("{e:?}"))?;
            }
            scheduler.start().await.map_err(|e| format!("{e:?}"))?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (cpu0, wall0) = (cpu_time(), Instant::now());
            tokio::time::sleep(Duration::from_secs(args.seconds)).await;
            let (cpu1, wall1) = (cpu_time(), Instant::now());
            let cpu = (cpu1 - cpu0).as_secs_f64();
            // Its ticker sleeps a fixed 500 ms (src/scheduler.rs): 2 wake-ups a second.
            Ok(vec![
                ("wakeups", format!("~{}", args.seconds * 2)),
                ("cpu_ms", format!("{:.2}", cpu * 1e3)),
                (
                    "cpu_pct",
                    format!("{:.4}", cpu * 100.0 / (wall1 - wall0).as_secs_f64()),
                ),
            ])
        }
    }
}
