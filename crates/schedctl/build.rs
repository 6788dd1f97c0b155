//! Decides whether the Postgres tests run: the file sched-store-sqlx's build script
//! includes too (this one is not packaged; see `exclude` in Cargo.toml).

include!("../sched-store-sqlx/build/postgres_tests.rs");
