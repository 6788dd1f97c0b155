//! # sched-bench
//!
//! Measurement helpers for the side-by-side benchmarks in `benches/` (run with
//! `cargo bench -p sched-bench --features benches --bench firing -- --help`; results live in
//! `docs/BENCHMARKS.md`).
//!
//! The helpers are built so that measuring costs next to nothing inside a job body:
//! [`Histogram`] is a fixed array of atomic buckets (one `fetch_add` per sample), and
//! the process counters ([`cpu_time`], [`rss_bytes`]) are read only at the edges of a
//! measurement window, never per run.
//!
//! ```
//! use std::time::Duration;
//! use sched_bench::Histogram;
//!
//! let delays = Histogram::new();
//! delays.record_micros(1_250);
//! delays.record_micros(40);
//! assert_eq!(delays.count(), 2);
//! assert_eq!(delays.percentile(0.50), Duration::from_micros(0));
//! assert_eq!(delays.max(), Duration::from_micros(1_250));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Width of one histogram bucket: 0.1 ms.
pub const BUCKET_MICROS: u64 = 100;
/// Samples at or above this land in the overflow bucket (their exact maximum is kept).
pub const HISTOGRAM_RANGE: Duration = Duration::from_secs(10);

const BUCKETS: usize = (HISTOGRAM_RANGE.as_micros() as u64 / BUCKET_MICROS) as usize;

/// A lock-free latency histogram: 0.1 ms buckets up to 10 s, plus overflow, the exact
/// maximum, and a count of negative samples (runs that started early).
///
/// Allocated once up front (about 800 KB), so recording never allocates.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    overflow: AtomicU64,
    early: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            overflow: AtomicU64::new(0),
            early: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }

    /// Records one delay in microseconds. A negative delay (started before its time)
    /// counts as zero and is also counted in [`early`](Self::early).
    pub fn record_micros(&self, delay: i64) {
        let delay = if delay < 0 {
            self.early.fetch_add(1, Ordering::Relaxed);
            0
        } else {
            delay as u64
        };
        match self.buckets.get((delay / BUCKET_MICROS) as usize) {
            Some(bucket) => bucket.fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        self.max_micros.fetch_max(delay, Ordering::Relaxed);
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.overflow.load(Ordering::Relaxed)
    }

    /// How many samples were negative (clamped to zero).
    pub fn early(&self) -> u64 {
        self.early.load(Ordering::Relaxed)
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_micros.load(Ordering::Relaxed))
    }

    /// The `q` quantile (0.0..=1.0), as the lower edge of its bucket (so to 0.1 ms);
    /// [`HISTOGRAM_RANGE`] if it falls in the overflow bucket, zero when empty.
    pub fn percentile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        // The rank of the sample at quantile q, 1-based ("nearest rank").
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Duration::from_micros(i as u64 * BUCKET_MICROS);
            }
        }
        HISTOGRAM_RANGE
    }
}

/// CPU time (user + system) this process has used so far, from `getrusage`.
pub fn cpu_time() -> Duration {
    // SAFETY: `rusage` is plain data, and getrusage only writes into the struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`);
/// `None` where that file does not exist (not Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The machine, for the report: CPU count and model (from `/proc/cpuinfo`).
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} CPUs, {model}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_lower_edges() {
        let h = Histogram::new();
        for micros in 0..1_000 {
            h.record_micros(micros * 10); // 0 .. 9.99 ms, evenly
        }
        assert_eq!(h.count(), 1_000);
        assert_eq!(h.percentile(0.5), Duration::from_micros(4_900));
        assert_eq!(h.percentile(0.99), Duration::from_micros(9_800));
        assert_eq!(h.max(), Duration::from_micros(9_990));
    }

    #[test]
    fn early_and_overflowing_samples_are_kept() {
        let h = Histogram::new();
        h.record_micros(-5);
        h.record_micros(20_000_000);
        assert_eq!(h.early(), 1);
        assert_eq!(h.count(), 2);
        assert_eq!(h.percentile(1.0), HISTOGRAM_RANGE);
        assert_eq!(h.max(), Duration::from_secs(20));
    }

    #[test]
    fn process_counters_read() {
        assert!(rss_bytes().unwrap_or(1) > 0);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(20) {}
        assert!(cpu_time() > Duration::ZERO);
    }
}
