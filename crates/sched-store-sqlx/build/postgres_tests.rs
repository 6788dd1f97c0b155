// Whether the Postgres tests of the package being built (sched-store-sqlx, schedctl,
// sched-scenarios: their build scripts include this file) run: with `DATABASE_URL` set (or
// `SCHED_REQUIRE_POSTGRES=1`, as in CI, where a missing database must fail) they are
// compiled as ordinary tests; without, as `#[ignore]`d ones, so `cargo test` prints
// each as `ignored, needs Postgres: …` with the command that runs them, and counts
// them in its summary, instead of passing them silently.

fn main() {
    println!("cargo::rerun-if-env-changed=DATABASE_URL");
    println!("cargo::rerun-if-env-changed=SCHED_REQUIRE_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(sched_postgres_tests)");
    let url = std::env::var_os("DATABASE_URL").is_some_and(|url| !url.is_empty());
    let required = std::env::var_os("SCHED_REQUIRE_POSTGRES").is_some_and(|v| v == "1");
    if url || required {
        println!("cargo::rustc-cfg=sched_postgres_tests");
    }
}
