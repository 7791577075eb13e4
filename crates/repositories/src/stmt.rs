//! Prepared once per connection: the hot path's statements.
//!
//! Diesel re-prepares every `UPDATE`, every upsert and every `sql_query` on each execution (it
//! cannot tell whether their SQL is fixed), which on SQLite means parsing the statement again
//! (a quarter of the group-commit writer's time, measured) and on PostgreSQL a fresh parse and
//! plan on the server. A [`Stmt`] is fixed SQL (written once with `?` placeholders; `$n` on
//! PostgreSQL) with typed binds, which diesel caches by its text: prepared on a connection's first
//! use and reused after. Only for statements whose text is one of a few fixed strings (the cache
//! keeps every distinct text).

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

use crate::DbConnection;

/// Appends `rows` groups of `cols` placeholders, `(?, ?), (?, ?)`, to a multi-row statement.
pub(crate) fn push_rows(sql: &mut String, rows: usize, cols: usize) {
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            sql.push_str(if c == 0 { "?" } else { ", ?" });
        }
        sql.push(')');
    }
}

/// One bound value.
#[derive(Clone, Debug)]
enum Bind {
    Int(i64),
    Int4(i32),
    Float(f64),
    Flag(bool),
    Text(String),
    MaybeText(Option<String>),
    MaybeInt(Option<i64>),
    Time(NaiveDateTime),
}

/// A statement with fixed SQL and typed binds, cached as a prepared statement on each connection.
#[derive(Clone, Debug)]
#[must_use = "a statement runs only when executed or loaded"]
pub struct Stmt {
    sql: std::borrow::Cow<'static, str>,
    binds: Vec<Bind>,
}

impl Stmt {
    /// `sql` with `?` placeholders, bound in order by the builder methods.
    pub fn new(sql: &'static str) -> Self {
        Self { sql: sql.into(), binds: Vec::with_capacity(sql.bytes().filter(|b| *b == b'?').count()) }
    }

    /// [`Stmt::new`] for a text built at run time: only from a small, fixed set of shapes (each
    /// distinct text stays prepared on the connection).
    pub fn built(sql: String) -> Self {
        let binds = Vec::with_capacity(sql.bytes().filter(|b| *b == b'?').count());
        Self { sql: sql.into(), binds }
    }

    /// Binds a `BIGINT`.
    pub fn int(mut self, v: i64) -> Self {
        self.binds.push(Bind::Int(v));
        self
    }

    /// Binds an `INTEGER`.
    pub fn int4(mut self, v: i32) -> Self {
        self.binds.push(Bind::Int4(v));
        self
    }

    /// Binds a `DOUBLE PRECISION`.
    pub fn float(mut self, v: f64) -> Self {
        self.binds.push(Bind::Float(v));
        self
    }

    /// Binds a `BOOLEAN`.
    pub fn flag(mut self, v: bool) -> Self {
        self.binds.push(Bind::Flag(v));
        self
    }

    /// Binds a `TEXT`.
    pub fn text(mut self, v: impl Into<String>) -> Self {
        self.binds.push(Bind::Text(v.into()));
        self
    }

    /// Binds a nullable `TEXT`.
    pub fn maybe_text(mut self, v: Option<impl Into<String>>) -> Self {
        self.binds.push(Bind::MaybeText(v.map(Into::into)));
        self
    }

    /// Binds a nullable `BIGINT`.
    pub fn maybe_int(mut self, v: Option<i64>) -> Self {
        self.binds.push(Bind::MaybeInt(v));
        self
    }

    /// Binds a `TIMESTAMP`.
    pub fn time(mut self, v: NaiveDateTime) -> Self {
        self.binds.push(Bind::Time(v));
        self
    }

    /// Runs it; the number of rows it changed.
    pub fn execute(self, conn: &mut DbConnection) -> QueryResult<usize> {
        match conn {
            DbConnection::Postgresql(c) => RunQueryDsl::execute(self, c),
            DbConnection::Sqlite(c) => RunQueryDsl::execute(self, c),
        }
    }

    /// Runs it and reads its rows.
    pub fn load<T>(self, conn: &mut DbConnection) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
    {
        match conn {
            DbConnection::Postgresql(c) => RunQueryDsl::load(self, c),
            DbConnection::Sqlite(c) => RunQueryDsl::load(self, c),
        }
    }

    /// Runs it and reads its first row, if any.
    pub fn first<T>(self, conn: &mut DbConnection) -> QueryResult<Option<T>>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
    {
        Ok(self.load(conn)?.into_iter().next())
    }
}

impl QueryId for Stmt {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Stmt {
    type SqlType = Untyped;
}

impl<C> RunQueryDsl<C> for Stmt {}

/// Writes `stmt`'s SQL with each `?` replaced by its bind's placeholder (the backend's query
/// builder numbers them `$1, $2, …` on PostgreSQL). No statement here has a `?` in a literal.
macro_rules! walk {
    ($out:ident, $stmt:expr) => {{
        let mut pieces = $stmt.sql.split('?');
        if let Some(first) = pieces.next() {
            $out.push_sql(first);
        }
        let mut binds = $stmt.binds.iter();
        for piece in pieces {
            match binds.next() {
                Some(Bind::Int(v)) => $out.push_bind_param::<BigInt, _>(v)?,
                Some(Bind::Int4(v)) => $out.push_bind_param::<Integer, _>(v)?,
                Some(Bind::Float(v)) => $out.push_bind_param::<Double, _>(v)?,
                Some(Bind::Flag(v)) => $out.push_bind_param::<Bool, _>(v)?,
                Some(Bind::Text(v)) => $out.push_bind_param::<Text, _>(v)?,
                Some(Bind::MaybeText(v)) => $out.push_bind_param::<Nullable<Text>, _>(v)?,
                Some(Bind::MaybeInt(v)) => $out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Some(Bind::Time(v)) => $out.push_bind_param::<Timestamp, _>(v)?,
                None => {
                    return Err(diesel::result::Error::QueryBuilderError(
                        "a placeholder without a bind".into(),
                    ))
                }
            }
            $out.push_sql(piece);
        }
        if binds.next().is_some() {
            return Err(diesel::result::Error::QueryBuilderError("a bind without a placeholder".into()));
        }
        Ok(())
    }};
}

// Neither impl calls `unsafe_to_cache_prepared`: the text is fixed, so diesel caches it.
impl QueryFragment<Sqlite> for Stmt {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        walk!(out, self)
    }
}

impl QueryFragment<Pg> for Stmt {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk!(out, self)
    }
}
