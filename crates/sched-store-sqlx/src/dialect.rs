//! What the generic store needs of a database, once: sqlx's executor, encode and
//! decode bounds gathered into one trait, [`Dialect`], with the two things that differ
//! between Postgres and SQLite at the level of a statement (how a list parameter is
//! bound, and how many rows a statement changed).
//!
//! Generic code over a sqlx `Database` would otherwise repeat the same where clauses
//! on every function (Rust does not carry a trait's where clauses to its users, only
//! its supertraits): here each need is a supertrait with a blanket impl, so
//! `D: Dialect` is the only bound the store code writes.

use std::future::Future;
use std::pin::Pin;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Row, Type};

use crate::codec::{
    AbandonedRow, ClaimRow, CompletedRow, CountRow, HistoryRow, HolderRow, IdRow, IdText,
    InstantRow, JobRow, NodeRow, OccurrenceRow, RenewRow, RetryRow, SetRow, TaskRow,
};

/// A statement with its arguments, as `sqlx::query` builds it.
pub(crate) type Statement<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A row decoded on its own: the value, or the row's id (if it could be read) and why
/// it did not decode.
pub(crate) type EachRow<R> = Result<R, (Option<String>, sqlx::Error)>;

/// A database the stores run on: Postgres or SQLite.
pub(crate) trait Dialect:
    Run
    + Binds<i64>
    + Binds<i32>
    + Binds<bool>
    + Binds<String>
    + Binds<Option<i64>>
    + Binds<Option<i32>>
    + for<'a> Binds<&'a str>
    + for<'a> Binds<Option<&'a str>>
    + Decodes<JobRow>
    + Decodes<ClaimRow>
    + Decodes<RetryRow>
    + Decodes<InstantRow>
    + Decodes<OccurrenceRow>
    + Decodes<AbandonedRow>
    + Decodes<CompletedRow>
    + Decodes<HistoryRow>
    + Decodes<CountRow>
    + Decodes<IdRow>
    + Decodes<IdText>
    + Decodes<NodeRow>
    + Decodes<RenewRow>
    + Decodes<HolderRow>
    + Decodes<SetRow>
    + Decodes<TaskRow>
    + ReadsId
{
    /// Binds a list (`None`: SQL `NULL`): an array in Postgres (`= ANY($1)`,
    /// `UNNEST`), a JSON array in SQLite (`json_each(?1)`).
    fn bind_list<'q>(statement: Statement<'q, Self>, list: Option<List<'_>>)
        -> Statement<'q, Self>;

    /// How many rows a statement changed.
    fn affected(result: &Self::QueryResult) -> u64;
}

/// Postgres binds lists as arrays.
#[cfg(feature = "postgres")]
impl Dialect for sqlx::Postgres {
    fn bind_list<'q>(
        statement: Statement<'q, Self>,
        list: Option<List<'_>>,
    ) -> Statement<'q, Self> {
        match list {
            None => statement.bind(None::<Vec<String>>),
            Some(List::Text(items)) => statement.bind(items),
            Some(List::OptionalText(items)) => statement.bind(items),
            Some(List::Int8(items)) => statement.bind(items),
            Some(List::Int4(items)) => statement.bind(items),
            Some(List::OptionalInt8(items)) => statement.bind(items),
            Some(List::OptionalInt4(items)) => statement.bind(items),
            Some(List::Bool(items)) => statement.bind(items),
        }
    }

    fn affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// SQLite binds lists as JSON arrays, for `json_each`.
#[cfg(feature = "sqlite")]
impl Dialect for sqlx::Sqlite {
    fn bind_list<'q>(
        statement: Statement<'q, Self>,
        list: Option<List<'_>>,
    ) -> Statement<'q, Self> {
        // `json_each` reads the lists; strings and numbers always serialise.
        let json = list.map(|list| serde_json::to_string(&list).unwrap_or_default());
        statement.bind(json)
    }

    fn affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// A list parameter, one type per list (see [`Dialect::bind_list`]). Serialises as
/// the JSON array of its items.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum List<'a> {
    Text(Vec<&'a str>),
    OptionalText(Vec<Option<&'a str>>),
    Int8(Vec<i64>),
    Int4(Vec<i32>),
    OptionalInt8(Vec<Option<i64>>),
    OptionalInt4(Vec<Option<i32>>),
    Bool(Vec<bool>),
}

impl<'a> List<'a> {
    /// The strings of `items` as a text list.
    pub(crate) fn text<S: AsRef<str> + 'a>(items: &'a [S]) -> Self {
        List::Text(items.iter().map(AsRef::as_ref).collect())
    }
}

/// Runs a statement on a connection (sqlx's executor bounds, once).
pub(crate) trait Run: Database {
    /// Every row the statement returns.
    fn rows<'c, 'q: 'c>(
        statement: Statement<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Vec<Self::Row>>>;

    /// The first row, if any.
    fn row<'c, 'q: 'c>(
        statement: Statement<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Option<Self::Row>>>;

    /// Runs the statement for its effect.
    fn exec<'c, 'q: 'c>(
        statement: Statement<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Self::QueryResult>>;
}

impl<DB: Database> Run for DB
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    fn rows<'c, 'q: 'c>(
        statement: Statement<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Vec<Self::Row>>> {
        Box::pin(statement.fetch_all(conn))
    }

    fn row<'c, 'q: 'c>(
        statement: Statement<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Option<Self::Row>>> {
        Box::pin(statement.fetch_optional(conn))
    }

    fn exec<'c, 'q: 'c>(
        statement: Statement<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Self::QueryResult>> {
        Box::pin(statement.execute(conn))
    }
}

/// Binds a `T` (sqlx's encode bounds, once per type).
pub(crate) trait Binds<T>: Database {
    fn bind_one<'q>(statement: Statement<'q, Self>, value: T) -> Statement<'q, Self>;
}

macro_rules! binds_owned {
    ($($ty:ty),*) => {$(
        impl<DB: Database> Binds<$ty> for DB
        where
            $ty: for<'t> Encode<'t, DB> + Type<DB>,
        {
            fn bind_one<'q>(statement: Statement<'q, Self>, value: $ty) -> Statement<'q, Self> {
                statement.bind(value)
            }
        }
    )*};
}

binds_owned!(i64, i32, bool, String, Option<i64>, Option<i32>);

impl<'a, DB: Database> Binds<&'a str> for DB
where
    &'a str: Encode<'a, DB> + Type<DB>,
{
    fn bind_one<'q>(statement: Statement<'q, Self>, value: &'a str) -> Statement<'q, Self> {
        statement.bind(value)
    }
}

impl<'a, DB: Database> Binds<Option<&'a str>> for DB
where
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
{
    fn bind_one<'q>(statement: Statement<'q, Self>, value: Option<&'a str>) -> Statement<'q, Self> {
        statement.bind(value)
    }
}

/// Decodes a row into an `R` (sqlx's `FromRow` bounds, once per row type).
pub(crate) trait Decodes<R>: Database {
    fn decode(row: &Self::Row) -> sqlx::Result<R>;
}

impl<DB: Database, R> Decodes<R> for DB
where
    R: for<'r> FromRow<'r, DB::Row>,
{
    fn decode(row: &Self::Row) -> sqlx::Result<R> {
        R::from_row(row)
    }
}

/// Reads the `id` column of a row that did not decode as a whole, to name it.
pub(crate) trait ReadsId: Database {
    fn id(row: &Self::Row) -> Option<String>;
}

impl<DB: Database> ReadsId for DB
where
    String: for<'r> Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    fn id(row: &Self::Row) -> Option<String> {
        row.try_get::<String, _>("id").ok()
    }
}

/// Building and running statements in the store code: `statement.arg(x).rows(conn)`.
pub(crate) trait StatementExt<'q, DB: Dialect>: Sized {
    /// Binds the next parameter.
    fn arg<T>(self, value: T) -> Self
    where
        DB: Binds<T>;

    /// Binds the next parameter, a list.
    fn list(self, list: List<'_>) -> Self;

    /// Binds the next parameter, a list or `NULL`.
    fn maybe_list(self, list: Option<List<'_>>) -> Self;

    /// Runs it; every row, decoded.
    fn all<'c, R>(self, conn: &'c mut DB::Connection) -> BoxFuture<'c, sqlx::Result<Vec<R>>>
    where
        'q: 'c,
        DB: Decodes<R>,
        R: Send + 'c;

    /// Runs it; every row decoded on its own: one that does not decode is an error of
    /// its own (with the `id` column, if that could be read), the others are kept.
    fn each<'c, R>(
        self,
        conn: &'c mut DB::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Vec<EachRow<R>>>>
    where
        'q: 'c,
        DB: Decodes<R>,
        R: Send + 'c;

    /// Runs it; the first row, decoded.
    fn first<'c, R>(self, conn: &'c mut DB::Connection) -> BoxFuture<'c, sqlx::Result<Option<R>>>
    where
        'q: 'c,
        DB: Decodes<R>,
        R: Send + 'c;

    /// Runs it; how many rows it changed.
    fn run<'c>(self, conn: &'c mut DB::Connection) -> BoxFuture<'c, sqlx::Result<u64>>
    where
        'q: 'c;
}

impl<'q, DB: Dialect> StatementExt<'q, DB> for Statement<'q, DB> {
    fn arg<T>(self, value: T) -> Self
    where
        DB: Binds<T>,
    {
        DB::bind_one(self, value)
    }

    fn list(self, list: List<'_>) -> Self {
        DB::bind_list(self, Some(list))
    }

    fn maybe_list(self, list: Option<List<'_>>) -> Self {
        DB::bind_list(self, list)
    }

    fn all<'c, R>(self, conn: &'c mut DB::Connection) -> BoxFuture<'c, sqlx::Result<Vec<R>>>
    where
        'q: 'c,
        DB: Decodes<R>,
        R: Send + 'c,
    {
        let rows = DB::rows(self, conn);
        Box::pin(async move { rows.await?.iter().map(DB::decode).collect() })
    }

    fn each<'c, R>(
        self,
        conn: &'c mut DB::Connection,
    ) -> BoxFuture<'c, sqlx::Result<Vec<EachRow<R>>>>
    where
        'q: 'c,
        DB: Decodes<R>,
        R: Send + 'c,
    {
        let rows = DB::rows(self, conn);
        Box::pin(async move {
            Ok(rows
                .await?
                .iter()
                .map(|row| DB::decode(row).map_err(|error| (DB::id(row), error)))
                .collect())
        })
    }

    fn first<'c, R>(self, conn: &'c mut DB::Connection) -> BoxFuture<'c, sqlx::Result<Option<R>>>
    where
        'q: 'c,
        DB: Decodes<R>,
        R: Send + 'c,
    {
        let row = DB::row(self, conn);
        Box::pin(async move { row.await?.as_ref().map(DB::decode).transpose() })
    }

    fn run<'c>(self, conn: &'c mut DB::Connection) -> BoxFuture<'c, sqlx::Result<u64>>
    where
        'q: 'c,
    {
        let done = DB::exec(self, conn);
        Box::pin(async move { Ok(DB::affected(&done.await?)) })
    }
}

/// The statement text `sql`, ready to bind. The store's statements are built once,
/// with the schema name validated as an identifier, and shared (not copied per query).
pub(crate) fn statement<'q, DB: Database>(sql: &std::sync::Arc<str>) -> Statement<'q, DB> {
    sqlx::query(sqlx::AssertSqlSafe(std::sync::Arc::clone(sql)))
}
