//! sched-tokio's integration tests, one binary (a binary per file would compile and
//! link Tokio and sched again for each).

mod backfill;
mod bulk;
mod cancel;
mod claim_ahead;
mod metrics;
mod overlap;
mod rejected_input;
mod relay;
mod results;
mod retry;
mod scheduler;
mod sync;
mod tracing_spans;
mod tutorial_promises;
