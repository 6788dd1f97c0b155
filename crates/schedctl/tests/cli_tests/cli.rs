//! `schedctl` as a process: bad input of any kind is one line on stderr and exit code 2,
//! a failing store one line naming its cause and exit code 1, and no command but
//! `migrate` creates a schema, a table or a file.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sched_test_support::{database_url, drop_schemas, unique_schema};
use sqlx::{Connection, PgPool};

/// Nothing listens there: a refused connection.
const CLOSED: &str = "postgres://postgres@127.0.0.1:1/test";

fn schedctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schedctl"))
        .args(args)
        .env_remove("SCHED_STORE_URL")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("schedctl runs")
}

/// `args` exit with `code` and say one line on stderr containing every one of
/// `needles` (and nothing on stdout); the line.
#[track_caller]
fn fails(args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = schedctl(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    assert_eq!(
        err.lines().count(),
        1,
        "{args:?}: one line on stderr: {err}"
    );
    assert!(err.starts_with("schedctl: "), "{args:?}: {err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should say {needle:?}"
        );
    }
    assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    err
}

#[test]
fn next_prints_at_most_ten_thousand_fire_times() {
    fails(
        &["next", "* * * * *", "-n", "18446744073709551615"],
        2,
        &["-n", "at most 10000 fire times"],
    );
    fails(
        &["next", "* * * * *", "-n", "99999999999999999999999"],
        2,
        &["at most 10000 fire times"],
    );
    fails(&["next", "* * * * *", "-n", "10001"], 2, &["at most 10000"]);
    fails(&["next", "* * * * *", "-n", "0"], 2, &["at least 1"]);
    fails(
        &["next", "* * * * *", "-n", "many"],
        2,
        &["'many'", "1 to 10000"],
    );
    fails(&["next", "* * * * *", "-n", "-3"], 2, &["'-3'"]);

    let out = schedctl(&[
        "next",
        "* * * * *",
        "--after",
        "2026-01-01T00:00:00Z",
        "-n",
        "10000",
    ]);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().count(), 10_000);
    assert_eq!(printed.lines().last(), Some("2026-01-07T22:40:00+00:00"));
}

#[test]
fn unknown_flags_and_missing_arguments_are_one_line() {
    fails(
        &["next", "* * * * *", "--frobnicate"],
        2,
        &["unexpected argument '--frobnicate'", "usage: schedctl next"],
    );
    fails(
        &["--frobnicate"],
        2,
        &["unexpected argument '--frobnicate'"],
    );
    fails(
        &["frobnicate"],
        2,
        &["unrecognized subcommand 'frobnicate'"],
    );
    fails(&[], 2, &["a command is required", "next, jobs"]);
    fails(&["next"], 2, &["<EXPR>"]);
    fails(&["jobs"], 2, &["--url"]);
    fails(&["pause", "--url", CLOSED], 2, &["<ID>"]);
}

#[test]
fn help_and_version_go_to_stdout() {
    for args in [&["--help"][..], &["next", "--help"], &["--version"]] {
        let out = schedctl(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    }
}

#[test]
fn bad_connect_timeouts_are_usage_errors() {
    for timeout in [
        "soon",
        "3",
        "0s",
        "11m",
        "-1s",
        "1.5s",
        "18446744073709551615m",
    ] {
        fails(
            &[
                "jobs",
                "--url",
                CLOSED,
                &format!("--connect-timeout={timeout}"),
            ],
            2,
            &[
                "--connect-timeout",
                "expected a duration such as 500ms, 3s or 1m",
            ],
        );
    }
}

#[test]
fn bad_urls_are_usage_errors() {
    fails(
        &["jobs", "--url", "postgres://[nowhere"],
        2,
        &["invalid store URL"],
    );
    fails(
        &["jobs", "--url", "mysql://x"],
        2,
        &["unsupported store URL"],
    );
}

/// The name is checked before any connection: on a closed port a bad name is still
/// exit code 2, naming the schema and the rule.
#[test]
fn bad_schema_names_are_refused_before_connecting() {
    let cases = [
        ("MyJobs", "upper-case letters are not allowed"),
        ("pg_catalog", "a system schema of Postgres"),
        ("pg_sched", "a system schema of Postgres"),
        ("information_schema", "a system schema of Postgres"),
        ("public", "allow_public_schema"),
        ("1 drop", "letters, digits and _"),
        ("", "letters, digits and _"),
    ];
    for (schema, rule) in cases {
        let quoted = format!("schema = {schema:?}");
        for command in [&["jobs"][..], &["history"], &["pause", "a"], &["migrate"]] {
            let mut args = command.to_vec();
            args.extend(["--url", CLOSED, "--schema", schema]);
            fails(&args, 2, &[&quoted, rule]);
        }
    }
    fails(
        &["jobs", "--url", CLOSED, "--schema", "Billing"],
        2,
        &["use lower-case letters, digits and _, e.g. \"billing\""],
    );
}

#[test]
fn an_unreachable_database_is_reported_at_once() {
    let started = Instant::now();
    // A long --connect-timeout: a refused connection must not wait for it.
    let line = fails(
        &["jobs", "--url", CLOSED, "--connect-timeout", "30s"],
        1,
        &[
            "cannot connect to postgres://postgres@127.0.0.1:1/test",
            "connection refused",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}: {line}",
        started.elapsed()
    );
    // Asked for, public passes the name check: then the database is what fails.
    fails(
        &[
            "jobs",
            "--url",
            CLOSED,
            "--schema",
            "public",
            "--allow-public-schema",
        ],
        1,
        &["connection refused"],
    );
    // The password is not repeated.
    fails(
        &[
            "migrate",
            "--url",
            "postgres://postgres:hunter2@127.0.0.1:1/test",
        ],
        1,
        &[
            "postgres://postgres:***@127.0.0.1:1/test",
            "connection refused",
        ],
    );
}

/// Schemas whose name is `name` in any case.
async fn schemas_named(pool: &PgPool, name: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE lower(nspname) = lower($1)")
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("reads pg_namespace")
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn commands_other_than_migrate_create_no_schema() {
    let url = database_url("commands_other_than_migrate_create_no_schema");
    let pool = PgPool::connect(&url).await.expect("connects");
    let schema = unique_schema("ctl_typo");
    let does_not_exist = format!("schema \"{schema}\" does not exist");
    let commands = [
        &["jobs"][..],
        &["history"],
        &["history", "a"],
        &["pause", "a"],
        &["resume", "a"],
        &["run", "a"],
        &["remove", "a"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--url", &url, "--schema", &schema]);
        fails(&args, 2, &[&does_not_exist, "nothing was created"]);
        assert_eq!(schemas_named(&pool, &schema).await, Vec::<String>::new());
    }
    // Mixed case neither: refused, and no folded or quoted schema is left behind.
    let mixed = format!("X{schema}");
    fails(
        &["migrate", "--url", &url, "--schema", &mixed],
        2,
        &["upper-case"],
    );
    fails(
        &["jobs", "--url", &url, "--schema", &mixed],
        2,
        &["upper-case"],
    );
    assert_eq!(schemas_named(&pool, &mixed).await, Vec::<String>::new());
    pool.close().await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn a_schema_without_sched_tables_is_refused_and_left_as_it_was() {
    let url = database_url("a_schema_without_sched_tables_is_refused_and_left_as_it_was");
    let pool = PgPool::connect(&url).await.expect("connects");
    let schema = unique_schema("ctl_bare");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&pool)
        .await
        .expect("creates the schema");
    fails(
        &["jobs", "--url", &url, "--schema", &schema],
        2,
        &[&format!(
            "schema \"{schema}\" holds no sched tables (jobs, runs, nodes)"
        )],
    );
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1")
        .bind(&schema)
        .fetch_one(&pool)
        .await
        .expect("reads pg_tables");
    assert_eq!(tables, 0);
    pool.close().await;
    drop_schemas(&url, "ctl_bare").await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn migrate_creates_what_the_other_commands_read() {
    let url = database_url("migrate_creates_what_the_other_commands_read");
    let schema = unique_schema("ctl_migrated");
    let store = ["--url", &url, "--schema", &schema];
    let run = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend(store);
        schedctl(&args)
    };
    let migrated = run(&["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    for command in [&["jobs"][..], &["history"]] {
        let out = run(command);
        assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    }
    let mut args = vec!["pause", "nope"];
    args.extend(store);
    fails(&args, 2, &["no job with id \"nope\""]);
    drop_schemas(&url, "ctl_migrated").await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn an_unknown_database_is_a_store_failure() {
    let url = database_url("an_unknown_database_is_a_store_failure");
    let (base, _) = url.split_once('?').unwrap_or((&url, ""));
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    let unknown = format!("{server}/sched_no_such_database");
    fails(
        &["jobs", "--url", &unknown],
        1,
        &["\"sched_no_such_database\" does not exist"],
    );
}

#[tokio::test]
async fn commands_other_than_migrate_create_no_sqlite_file_or_table() {
    let dir = std::env::temp_dir().join(format!("schedctl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = dir.join("missing.sqlite");
    let _ = std::fs::remove_file(&missing);
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    fails(
        &["jobs", "--url", &url],
        2,
        &["does not exist", "nothing was created"],
    );
    fails(&["pause", "a", "--url", &url], 2, &["does not exist"]);
    assert!(!missing.exists(), "no file was created");

    // An empty file gets no tables.
    let empty = dir.join("empty.sqlite");
    std::fs::write(&empty, b"").expect("an empty file");
    let url = format!("sqlite://{}", empty.display());
    fails(&["history", "--url", &url], 2, &["holds no sched tables"]);
    let mut file = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut file)
        .await
        .expect("reads sqlite_master");
    assert_eq!(tables, 0, "no table was created");
    file.close().await.expect("closes");
    let migrated = schedctl(&["migrate", "--url", &url]);
    assert!(migrated.status.success(), "{migrated:?}");
    let listed = schedctl(&["jobs", "--url", &url]);
    assert!(
        listed.status.success() && listed.stdout.is_empty(),
        "{listed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A row that cannot be read: `jobs` lists the others, `remove` deletes nothing and
/// says how to remove it, `remove --force` deletes it; the other row is untouched.
#[tokio::test]
async fn a_corrupt_row_is_removed_only_with_force() {
    let dir = std::env::temp_dir().join(format!("schedctl-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("jobs.sqlite");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let migrated = schedctl(&["migrate", "--url", &url]);
    assert!(migrated.status.success(), "{migrated:?}");
    let mut file = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    for (id, trigger) in [
        (
            "good",
            r#"{"type":"interval","every":{"secs":60,"nanos":0}}"#,
        ),
        ("corrupt", r#"{"type": "interval", "every": "#),
    ] {
        sqlx::query(
            "INSERT INTO jobs (id, name, task, args, trigger, options, next_run_s, next_run_ns, paused) \
             VALUES (?1, ?1, 'tick', 'null', ?2, '{}', 1767225600, 0, 0)",
        )
        .bind(id)
        .bind(trigger)
        .execute(&mut file)
        .await
        .expect("insert");
    }
    file.close().await.expect("closes");

    let refused = fails(
        &["remove", "corrupt", "--url", &url],
        1,
        &["corrupt", "column trigger", "not removed"],
    );
    assert!(refused.contains("--force"), "{refused}");
    let removed = schedctl(&["remove", "corrupt", "--force", "--url", &url]);
    assert!(removed.status.success(), "{removed:?}");
    assert_eq!(
        String::from_utf8_lossy(&removed.stdout),
        "removed corrupt\n"
    );
    fails(
        &["remove", "corrupt", "--force", "--url", &url],
        2,
        &["corrupt"],
    );

    let mut file = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM jobs ORDER BY id")
        .fetch_all(&mut file)
        .await
        .expect("reads");
    assert_eq!(ids, ["good"], "only the corrupt row was deleted");
    file.close().await.expect("closes");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every subcommand, as `--help` names it.
const COMMANDS: [&str; 10] = [
    "next",
    "jobs",
    "pause",
    "resume",
    "run",
    "remove",
    "history",
    "migrate",
    "completions",
    "serve",
];

fn help(args: &[&str]) -> String {
    let out = schedctl(args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{args:?}: {out:?}"
    );
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// `--help` shows examples and the exit codes, on the top level (in full) and on
/// every subcommand (in short); `-h` the short form.
#[test]
fn every_help_page_has_examples_and_exit_codes() {
    let top = help(&["--help"]);
    for needle in [
        "Examples:\n  schedctl next",
        "Exit codes:\n  0  done\n  1  the store failed",
        "  2  bad input",
        "SCHED_STORE_URL",
    ] {
        assert!(top.contains(needle), "--help should say {needle:?}:\n{top}");
    }
    for command in COMMANDS {
        assert!(
            top.contains(&format!("\n  {command} ")),
            "--help lists {command}"
        );
        for flag in ["--help", "-h"] {
            let page = help(&[command, flag]);
            assert!(
                page.contains(&format!("Examples:\n  schedctl {command}")),
                "{command} {flag}:\n{page}"
            );
            assert!(
                page.contains("Exit codes: 0 done, 1 store failure, 2 bad input"),
                "{command} {flag}:\n{page}"
            );
        }
    }
    let short = help(&["-h"]);
    assert!(
        short.contains("Exit codes: 0 done, 1 store failure, 2 bad input"),
        "{short}"
    );
}

/// The `next` examples of the help pages that need no store or file run as printed.
#[test]
fn the_next_examples_in_help_run() {
    let mut ran = 0;
    for page in [help(&["--help"]), help(&["next", "--help"])] {
        for example in page
            .lines()
            .filter_map(|l| l.strip_prefix("  schedctl next "))
        {
            if example.contains("--job") || example.contains('@') && !example.contains("@hourly") {
                continue; // a store, a file
            }
            let line = format!("\"$SCHEDCTL\" next {example}");
            let out = Command::new("sh")
                .args(["-c", &line])
                .env("SCHEDCTL", env!("CARGO_BIN_EXE_schedctl"))
                .output()
                .expect("sh runs");
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{line}: {out:?}"
            );
            assert!(!out.stdout.is_empty(), "{line}: prints fire times");
            ran += 1;
        }
    }
    assert!(ran >= 8, "ran {ran} examples");
}

/// `completions` prints a script for every shell clap_complete knows; bash's parses,
/// and completes subcommands, flags and shells.
#[test]
fn completion_scripts_complete_schedctl() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        for args in [
            &["completions", shell][..],
            &["--json", "completions", shell],
        ] {
            let out = schedctl(args);
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{args:?}: {out:?}"
            );
            let script = String::from_utf8_lossy(&out.stdout);
            // Flags without their dashes: fish writes `-l json`.
            for word in ["schedctl", "every", "json", "migrate", "completions"] {
                assert!(script.contains(word), "{shell} script names {word}");
            }
        }
    }
    fails(
        &["completions", "tcsh"],
        2,
        &["'tcsh'", "bash, elvish, fish"],
    );
    fails(&["completions"], 2, &["<SHELL>"]);

    let script = schedctl(&["completions", "bash"]);
    let dir = std::env::temp_dir().join(format!("schedctl-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("schedctl.bash");
    std::fs::write(&path, &script.stdout).expect("writes the script");
    // `_schedctl` is called as bash calls a completion function: command, word, previous.
    let complete = |words: &[&str]| {
        let words_list = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let current = words.last().copied().unwrap_or("");
        let previous = words[words.len() - 2];
        let body = format!(
            "source '{}'; COMP_WORDS=({words_list}); COMP_CWORD={}; \
             _schedctl schedctl '{current}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display(),
            words.len() - 1
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &body])
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{body}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(complete(&["schedctl", "pa"]), "pause\n");
    assert_eq!(complete(&["schedctl", "next", "--ev"]), "--every\n");
    assert!(complete(&["schedctl", "completions", ""]).contains("powershell\n"));
    assert!(complete(&["schedctl", "jobs", "--sch"]).contains("--schema"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `--json` failures are what they are without it: one line on stderr, nothing
/// on stdout, the same exit code.
#[test]
fn json_failures_stay_one_line_with_their_exit_codes() {
    fails(
        &["--json", "jobs", "--url", CLOSED],
        1,
        &["connection refused"],
    );
    fails(
        &["jobs", "--url", CLOSED, "--json"],
        1,
        &["connection refused"],
    );
    fails(&["--json", "next", "* * *"], 2, &["expected 5 fields"]);
    fails(&["--json", "next", "--frobnicate"], 2, &["'--frobnicate'"]);
    fails(
        &["--json", "pause", "a", "--url", "mysql://x"],
        2,
        &["unsupported store URL"],
    );
    fails(&["--json"], 2, &["a command is required"]);
}

/// The Postgres store through every command with `--json` and as tables, and
/// `next --job` reading the job's trigger and zone from it.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn a_postgres_store_as_tables_and_json() {
    let url = database_url("a_postgres_store_as_tables_and_json");
    let schema = unique_schema("ctl_json");
    let store = ["--url", url.as_str(), "--schema", schema.as_str()];
    let run = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend(store);
        let out = schedctl(&args);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?}: {out:?}"
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let migrated: serde_json::Value =
        serde_json::from_str(&run(&["migrate", "--json"])).expect("json");
    assert_eq!(migrated["action"], "migrate");
    assert_eq!(migrated["schema"], schema.as_str());

    let added = sched_store_sqlx::PostgresStore::builder()
        .schema(&schema)
        .connect(&url)
        .await
        .expect("connects");
    let now = "2026-03-05T10:00:00Z".parse().expect("instant");
    let trigger = sched_core::trigger::Trigger::cron("30 2 * * *")
        .expect("cron")
        .timezone(chrono_tz::America::New_York);
    let job = sched_core::job::Job::new("nightly", "report", trigger)
        .schedule(now)
        .expect("valid");
    sched_core::store::JobStore::add_job(&added, job.clone(), false)
        .await
        .expect("adds");
    added.close().await;

    let table = run(&["jobs"]);
    assert_eq!(
        table,
        "ID       NAME    TASK    TRIGGER                                NEXT RUN              STATE\n\
         nightly  report  report  cron \"30 2 * * *\" in America/New_York  2026-03-06T07:30:00Z  active\n"
    );
    let listed: Vec<sched_core::job::Job> =
        serde_json::from_str(&run(&["jobs", "--json"])).expect("jobs");
    assert_eq!(listed, vec![job]);
    assert_eq!(
        run(&["next", "--job", "nightly", "-n", "3"]),
        "2026-03-06T02:30:00-05:00\n2026-03-07T02:30:00-05:00\n2026-03-08T03:00:00-04:00\n"
    );
    let paused: serde_json::Value =
        serde_json::from_str(&run(&["pause", "nightly", "--json"])).expect("json");
    assert_eq!(
        (&paused["action"], &paused["job"]["paused"]),
        (&"pause".into(), &true.into())
    );
    assert_eq!(run(&["history", "--json"]), "[]\n");
    assert_eq!(run(&["remove", "nightly"]), "removed nightly\n");
    drop_schemas(&url, "ctl_json").await;
}
