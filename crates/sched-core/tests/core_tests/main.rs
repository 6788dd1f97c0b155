//! sched-core's integration tests, one binary.

mod memory_store;
mod validation;
