//! SQLite specifics: foreign keys inside `CREATE TABLE`, no column alteration (policy
//! reports those), and rowid keys instead of identity clauses.

use crate::model::{Column, DefaultValue, Dialect, Identity, NeutralType};
use crate::plan::dialect::{Buildable, DialectPlan};
use sea_query::{Expr, Keyword};

pub struct Sqlite;

impl DialectPlan for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn build(&self, stmt: &dyn Buildable) -> String {
        stmt.sqlite()
    }

    // `diff::policy` reports column alterations on SQLite instead of emitting them.
    fn widen(&self, _table: &str, _column: &Column) -> String {
        String::new()
    }

    fn relax_not_null(&self, _table: &str, _column: &Column) -> String {
        String::new()
    }

    fn inline_foreign_keys(&self) -> bool {
        true
    }

    /// A sole `INTEGER PRIMARY KEY` is the rowid and numbers itself (reusing the number
    /// of a deleted last row); `AUTOINCREMENT`, which never reuses one, as sequences and
    /// AUTO_INCREMENT do not, can only be said on the column, with the key.
    fn identity(&self, column: &Column, sole_primary_key: bool) -> Option<&'static str> {
        (sole_primary_key
            && column.identity == Some(Identity::AutoIncrement)
            && column.native.eq_ignore_ascii_case("INTEGER"))
        .then_some("PRIMARY KEY AUTOINCREMENT")
    }

    fn identity_declares_primary_key(&self) -> bool {
        true
    }

    fn now_default(&self, value: &DefaultValue, _ty: &NeutralType) -> Expr {
        Expr::Keyword(match value {
            DefaultValue::CurrentDate => Keyword::CurrentDate,
            DefaultValue::CurrentTime => Keyword::CurrentTime,
            DefaultValue::CurrentTimestamp
            | DefaultValue::Null
            | DefaultValue::Bool(_)
            | DefaultValue::Number(_)
            | DefaultValue::String(_)
            | DefaultValue::Expression(_) => Keyword::CurrentTimestamp,
        })
    }

    fn quote(&self, name: &str) -> String {
        crate::engine::sqlite::quote_ident(name)
    }
}
