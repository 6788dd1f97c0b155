//! Decides whether this package's Postgres tests run (see `build/postgres_tests.rs`;
//! sched-scenarios uses this script too, schedctl includes the same file).

include!("build/postgres_tests.rs");
