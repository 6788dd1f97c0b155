//! Shared by the cross-crate tests.

#![allow(dead_code, unreachable_pub)]

/// `DATABASE_URL`, or `None` after saying loudly that `test` is skipped. With
/// `SCHED_REQUIRE_POSTGRES=1` (as in CI) a missing database fails the test instead.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("SCHED_REQUIRE_POSTGRES").is_none_or(|v| v != "1"),
                "{test}: SCHED_REQUIRE_POSTGRES=1 but DATABASE_URL is not set"
            );
            eprintln!(
                "SKIPPED {test}: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            None
        }
    }
}
