//! sched's migrations, embedded in the binary: the files of `migrations/<database>/`,
//! read as `sqlx::migrate!` would read them (version and description from the file
//! name, the file's SHA-384 as checksum), so databases migrated by either agree.
//!
//! Built at run time with [`Migrator::with_migrations`] instead of the macro: the
//! macro lives in sqlx's proc-macro crate, which compiles the database drivers (and
//! SQLite's C library) a second time, for the compiler, on every first build.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::SqlStr;

/// A migration file: its version, its description and its SQL.
type File = (i64, &'static str, &'static str);

fn migrator(files: &[File]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

/// The Postgres migrations (`migrations/postgres/`).
#[cfg(feature = "postgres")]
pub(crate) fn postgres() -> Migrator {
    migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "run holder",
            include_str!("../migrations/postgres/0002_run_holder.sql"),
        ),
        (
            3,
            "cancel requested",
            include_str!("../migrations/postgres/0003_cancel_requested.sql"),
        ),
        (
            4,
            "job set",
            include_str!("../migrations/postgres/0004_job_set.sql"),
        ),
        (
            5,
            "waiting run",
            include_str!("../migrations/postgres/0005_waiting_run.sql"),
        ),
        (
            6,
            "retry attempts",
            include_str!("../migrations/postgres/0006_retry_attempts.sql"),
        ),
        (
            7,
            "run result",
            include_str!("../migrations/postgres/0007_run_result.sql"),
        ),
        (
            8,
            "running index",
            include_str!("../migrations/postgres/0008_running_index.sql"),
        ),
    ])
}

/// The SQLite migrations (`migrations/sqlite/`).
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite() -> Migrator {
    migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "run holder",
            include_str!("../migrations/sqlite/0002_run_holder.sql"),
        ),
        (
            3,
            "cancel requested",
            include_str!("../migrations/sqlite/0003_cancel_requested.sql"),
        ),
        (
            4,
            "job set",
            include_str!("../migrations/sqlite/0004_job_set.sql"),
        ),
        (
            5,
            "waiting run",
            include_str!("../migrations/sqlite/0005_waiting_run.sql"),
        ),
        (
            6,
            "retry attempts",
            include_str!("../migrations/sqlite/0006_retry_attempts.sql"),
        ),
        (
            7,
            "run result",
            include_str!("../migrations/sqlite/0007_run_result.sql"),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// What sqlx's own reader of a migrations folder (the one `sqlx::migrate!` and
    /// the `sqlx` CLI use) makes of `migrations/<dir>`: every file, each as we embed it.
    async fn matches_the_folder(embedded: Migrator, dir: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let read = Migrator::new(path)
            .await
            .expect("the migrations folder reads");
        let describe = |m: &Migrator| {
            m.iter()
                .map(|m| {
                    (
                        m.version,
                        m.description.to_string(),
                        m.migration_type,
                        m.checksum.to_vec(),
                        m.no_tx,
                        m.sql.as_str().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let (embedded, read) = (describe(&embedded), describe(&read));
        assert!(!read.is_empty());
        assert_eq!(
            embedded, read,
            "migrations/{dir} and the embedded list differ"
        );
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn the_postgres_migrations_are_the_folders_files() {
        matches_the_folder(postgres(), "postgres").await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn the_sqlite_migrations_are_the_folders_files() {
        matches_the_folder(sqlite(), "sqlite").await;
    }
}
