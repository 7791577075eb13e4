//! Typed columns: text enums stored as their wire text ([`sql_text_enum!`]) and JSON documents
//! ([`Json`]), readable and writable through both backends (and the multi-backend connection) as
//! `Text`, so rows carry types instead of strings.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Implements `ToSql<Text>` and `FromSql<Text>` for a [`text_enum!`](crate::text_enum) type on
/// every backend (through its `as_str` and `FromStr`).
#[macro_export]
macro_rules! text_sql {
    ($name:ident) => {
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                text.parse::<$name>().map_err(|e| e.to_string().into())
            }
        }
    };
}

/// A [`text_enum!`](crate::text_enum) that is also a `Text` column type (for crates that depend
/// on diesel: `models`, `repositories`).
#[macro_export]
macro_rules! sql_text_enum {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        $crate::text_enum! {
            $(#[$meta])*
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(sql_type = diesel::sql_types::Text)]
            $name { $($body)* }
        }
        $crate::text_sql!($name);
    };
}

/// A JSON document in a `Text` column: the value, and the text it is stored as (made once, when
/// the value is wrapped).
#[derive(Clone, Debug, PartialEq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Json<T> {
    value: T,
    text: String,
}

impl<T: Serialize> Json<T> {
    /// Wraps a value for storage.
    pub fn new(value: T) -> Self {
        let text = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
        Self { value, text }
    }
}

impl<T> Json<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The stored text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> Serialize for Json<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<DB, T> ToSql<Text, DB> for Json<T>
where
    DB: Backend,
    T: std::fmt::Debug,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        <str as ToSql<Text, DB>>::to_sql(self.text.as_str(), out)
    }
}

impl<DB, T> FromSql<Text, DB> for Json<T>
where
    DB: Backend,
    T: DeserializeOwned,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        let value = serde_json::from_str(&text)?;
        Ok(Self { value, text })
    }
}
