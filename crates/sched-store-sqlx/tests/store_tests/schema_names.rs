//! `PostgresStore` schema names: a name the migrations cannot live in (mixed case, a
//! system schema, `public` unless asked for) is refused with a typed error before any
//! SQL runs, and a store opened without migrations creates nothing: a schema that is
//! not there is an error, not a new empty store.

use sched_core::store::JobStore;
use sched_core::Error;
use sched_store_sqlx::{PostgresStore, PostgresStoreBuilder};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::common::{database_url, drop_schemas, unique_schema};

/// Nothing listens there: a name refused before any SQL is refused without a server.
const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/none";

/// Whether `builder` gets past the name check: through a pool on [`NOWHERE`] that gives
/// up at once, a store error (not an invalid configuration) says the check passed.
async fn passes_the_check(builder: PostgresStoreBuilder) -> bool {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(50))
        .connect_lazy(NOWHERE)
        .expect("a valid URL");
    match builder.build(pool).await {
        Err(Error::Store(_)) => true,
        Err(Error::InvalidConfiguration { .. }) => false,
        other => panic!("nothing listens there, yet: {other:?}"),
    }
}

/// The rule `connect` gives for `schema`, which must be refused as a schema setting.
async fn refusal(builder: PostgresStoreBuilder, url: &str, schema: &str) -> String {
    match builder.schema(schema).connect(url).await {
        Err(Error::InvalidConfiguration {
            setting: "schema",
            value,
            rule,
        }) => {
            assert_eq!(value, format!("{schema:?}"));
            rule
        }
        other => panic!("schema {schema:?}: expected an invalid configuration, got {other:?}"),
    }
}

#[tokio::test]
async fn mixed_case_names_are_refused_saying_why_and_what_is_allowed() {
    for migrate in [true, false] {
        let rule = refusal(
            PostgresStore::builder().migrate(migrate),
            NOWHERE,
            "Billing_Jobs",
        )
        .await;
        assert!(
            rule.starts_with(
                "upper-case letters are not allowed (Postgres folds unquoted names to lower case"
            ),
            "{rule}"
        );
        assert!(
            rule.contains("use lower-case letters, digits and _, e.g. \"billing_jobs\""),
            "{rule}"
        );
    }
    let error = PostgresStore::builder()
        .schema("Sched")
        .connect(NOWHERE)
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .starts_with("invalid configuration: schema = \"Sched\": upper-case letters"),
        "{error}"
    );
}

#[tokio::test]
async fn system_schemas_are_refused() {
    for schema in [
        "pg_catalog",
        "pg_toast",
        "pg_temp",
        "pg_sched",
        "information_schema",
    ] {
        let rule = refusal(PostgresStore::builder(), NOWHERE, schema).await;
        assert!(
            rule.starts_with(
                "a system schema of Postgres (information_schema and pg_* are reserved)"
            ),
            "{schema}: {rule}"
        );
    }
    // Names that only look like them are ordinary schemas.
    for schema in ["pg", "pgsched", "information_schema2", "my_pg_jobs"] {
        assert!(
            passes_the_check(PostgresStore::builder().schema(schema)).await,
            "{schema}"
        );
    }
}

#[tokio::test]
async fn public_is_refused_unless_asked_for() {
    for migrate in [true, false] {
        let rule = refusal(PostgresStore::builder().migrate(migrate), NOWHERE, "public").await;
        assert!(rule.contains("allow_public_schema()"), "{rule}");
    }
    // Asked for, the name passes the check (and the connection is what fails here).
    for migrate in [true, false] {
        let builder = PostgresStore::builder().migrate(migrate);
        assert!(passes_the_check(builder.schema("public").allow_public_schema()).await);
    }
    // Asking for public does not let the system schemas through.
    let rule = refusal(
        PostgresStore::builder().allow_public_schema(),
        NOWHERE,
        "pg_catalog",
    )
    .await;
    assert!(rule.starts_with("a system schema"), "{rule}");
}

#[tokio::test]
async fn names_that_are_not_plain_identifiers_keep_their_rule() {
    let too_long = "s".repeat(49);
    for schema in [
        "",
        "1 drop",
        "a-b",
        "jobs\"; DROP TABLE x; --",
        "é",
        &too_long,
    ] {
        assert_eq!(
            refusal(PostgresStore::builder(), NOWHERE, schema).await,
            "letters, digits and _ (at most 48, not starting with a digit)",
            "{schema:?}"
        );
    }
}

/// Schemas whose name is `name` in any case.
async fn schemas_named(pool: &PgPool, name: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE lower(nspname) = lower($1)")
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("reads pg_namespace")
}

/// sched's tables (and the migrations') in `public`.
async fn sched_tables_in_public(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename IN ('jobs', 'runs', 'nodes', '_sqlx_migrations') ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("reads pg_tables")
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_names_create_nothing_in_the_database() {
    let url = database_url("refused_names_create_nothing_in_the_database");
    let pool = PgPool::connect(&url).await.expect("connects");
    let unique = unique_schema("names");
    let mixed = format!("Mixed_{unique}");
    let system = format!("pg_{unique}");
    let public_before = sched_tables_in_public(&pool).await;
    for migrate in [true, false] {
        for schema in [&mixed, &system] {
            let builder = PostgresStore::builder().migrate(migrate).listen(false);
            refusal(builder.clone(), &url, schema).await;
            // Through an existing pool too: `build` checks before it runs anything.
            let built = builder.schema(schema).build(pool.clone()).await;
            assert!(
                matches!(
                    built,
                    Err(Error::InvalidConfiguration {
                        setting: "schema",
                        ..
                    })
                ),
                "{schema}: {built:?}"
            );
            assert_eq!(schemas_named(&pool, schema).await, Vec::<String>::new());
        }
        for schema in ["public", "information_schema", "pg_catalog"] {
            refusal(PostgresStore::builder().migrate(migrate), &url, schema).await;
        }
    }
    assert_eq!(sched_tables_in_public(&pool).await, public_before);
    pool.close().await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_migrations_a_missing_schema_is_an_error_and_stays_missing() {
    let url = database_url("without_migrations_a_missing_schema_is_an_error_and_stays_missing");
    let pool = PgPool::connect(&url).await.expect("connects");
    let schema = unique_schema("absent");
    let opened = PostgresStore::builder()
        .schema(&schema)
        .migrate(false)
        .connect(&url)
        .await;
    match opened {
        Err(Error::SchemaNotFound {
            schema: named,
            problem,
        }) => {
            assert_eq!(named, schema);
            assert_eq!(problem, "does not exist in the database");
        }
        other => panic!("expected SchemaNotFound, got {other:?}"),
    }
    assert_eq!(schemas_named(&pool, &schema).await, Vec::<String>::new());
    pool.close().await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_migrations_a_schema_lacking_the_tables_is_an_error() {
    let url = database_url("without_migrations_a_schema_lacking_the_tables_is_an_error");
    let pool = PgPool::connect(&url).await.expect("connects");
    let schema = unique_schema("bare");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&pool)
        .await
        .expect("creates the schema");
    let open = || {
        PostgresStore::builder()
            .schema(&schema)
            .migrate(false)
            .listen(false)
            .connect(&url)
    };
    let error = open().await.expect_err("no tables there");
    assert!(
        matches!(&error, Error::SchemaNotFound { problem, .. } if problem == "holds no sched tables (jobs, runs, nodes)"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "schema \"{schema}\" holds no sched tables (jobs, runs, nodes); nothing was created \
             (check the name, or create the tables with migrations on: `schedctl migrate --schema {schema}`)"
        )
    );
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1")
            .bind(&schema)
            .fetch_all(&pool)
            .await
            .expect("reads pg_tables");
    assert_eq!(tables, Vec::<String>::new(), "nothing was created");

    // A schema with some of the tables names the ones it lacks.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE \"{schema}\".jobs (id TEXT)"
    )))
    .execute(&pool)
    .await
    .expect("creates a table");
    let error = open().await.expect_err("runs and nodes are missing");
    assert!(
        matches!(&error, Error::SchemaNotFound { problem, .. } if problem == "lacks sched's tables runs, nodes"),
        "{error:?}"
    );
    pool.close().await;
    drop_schemas(&url, "bare").await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_migrations_a_migrated_schema_opens() {
    let url = database_url("without_migrations_a_migrated_schema_opens");
    let schema = unique_schema("ready");
    let migrated = PostgresStore::builder()
        .schema(&schema)
        .listen(false)
        .connect(&url)
        .await
        .expect("migrates");
    migrated.close().await;
    let store = PostgresStore::builder()
        .schema(&schema)
        .migrate(false)
        .connect(&url)
        .await
        .expect("opens the migrated schema");
    assert!(store.list_jobs().await.expect("lists").is_empty());
    store.close().await;
    drop_schemas(&url, "ready").await;
}

/// `public`, asked for, passes the name check; opened without migrations it is checked
/// like any schema, and nothing is created in it.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_asked_for_is_checked_like_any_schema() {
    let url = database_url("public_asked_for_is_checked_like_any_schema");
    let pool = PgPool::connect(&url).await.expect("connects");
    let before = sched_tables_in_public(&pool).await;
    let opened = PostgresStore::builder()
        .schema("public")
        .allow_public_schema()
        .migrate(false)
        .listen(false)
        .connect(&url)
        .await;
    match opened {
        Ok(store) => store.close().await, // this database keeps sched's tables in public
        Err(Error::SchemaNotFound { schema, .. }) => assert_eq!(schema, "public"),
        Err(other) => panic!("expected the public schema to be checked, got {other:?}"),
    }
    assert_eq!(sched_tables_in_public(&pool).await, before);
    pool.close().await;
}
