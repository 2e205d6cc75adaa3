//! What every engine home uses alike: the questions the stages ask (`Traits`) and the
//! SQL standard's identifier quoting. A leaf: the homes import it, it imports none.

/// Where the engines differ in a yes/no way, asked by the stages instead of comparing
/// the dialect with one engine (`dialect == Dialect::Mysql` would silently put a new
/// engine on the "not MySQL" side). Each home answers every question in its `TRAITS`
/// (a struct literal: a new question is a compile error in every home until answered).
#[derive(Debug, Clone, Copy)]
pub struct Traits {
    /// How an enum type is declared.
    pub enums: EnumStyle,
    /// Whether `TIME` is a time of day (MySQL's is a duration up to 838:59:59).
    pub time_of_day: bool,
    /// Whether an existing column's type and NULL-ability can be altered in place.
    pub alters_columns: bool,
    /// Whether a foreign key can be added to an existing table.
    pub adds_foreign_keys: bool,
    /// Whether the engine creates an index for a foreign key that has none (named after
    /// the constraint), which a diff must not report as extra.
    pub indexes_foreign_keys: bool,
    /// Whether a connection URL must name a database (no default database).
    pub url_needs_database: bool,
    /// Whether a generated column accepts `NULL`/`NOT NULL` in its definition.
    pub null_clause_on_generated: bool,
    /// The generated services' driver: types it does not know (`other`) read only as
    /// the server's binary form.
    pub service_other_as_bytes: bool,
    /// The generated services' driver: fixed `BIT(n)` arrives as an integer.
    pub service_bits_as_integer: bool,
    /// The generated services' driver: an unsigned `YEAR` type for neutral `int16`
    /// columns whose native type is `year`.
    pub year_type: bool,
    /// Whether a column's declared type only names an affinity (SQLite), so text read
    /// through a non-text declared type needs a cast.
    pub declared_affinity: bool,
}

/// How an engine declares enum types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumStyle {
    /// A named type of its own (`CREATE TYPE ... AS ENUM`), created before its tables.
    Named,
    /// Inline in the column's type (`ENUM('a', 'b')`), changed with the column.
    Inline,
    /// No enum type: a `CHECK (col IN (...))` on the column.
    Check,
}

/// `"name"` with `"` doubled: the SQL standard's delimited identifier. PostgreSQL and
/// SQLite quote this way; migration descriptions use it whatever the engine, so a
/// description reads the same in every dialect.
pub fn quote_ansi(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
