//! `cargo install --path crates/schedctl` gives a working `schedctl`.
//!
//! Ignored by default: cargo holds the build directory's lock while `cargo test` runs,
//! so the install builds in a target directory of its own, from scratch the first time
//! (several minutes on two cores). Run it with
//! `cargo test -p schedctl --test install -- --ignored`.

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "builds schedctl again in a target directory of its own (minutes); run with --ignored"]
fn cargo_install_puts_a_working_schedctl_in_its_root() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = scratch.join(format!("install-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let out = Command::new(cargo)
        .args([
            "install",
            "--debug",
            "--path",
            env!("CARGO_MANIFEST_DIR"),
            "--root",
        ])
        .arg(&root)
        .arg("--target-dir")
        .arg(scratch.join("install-target"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo install: {out:?}");

    let installed = root.join("bin").join("schedctl");
    let version = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("the installed schedctl runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("schedctl {}\n", env!("CARGO_PKG_VERSION"))
    );
    let next = Command::new(&installed)
        .args([
            "next",
            "0 12 * * *",
            "--after",
            "2026-01-01T00:00:00Z",
            "-n",
            "1",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&next.stdout),
        "2026-01-01T12:00:00+00:00\n",
        "{next:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
