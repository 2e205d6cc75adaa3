//! What the target stage reports (`Diagnostic`, with its stable `codes`) and records
//! about each destination table (`Origin`).

/// A finding about the desired schema that the user should see: a stable code, what it
/// is about, and one line of explanation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub code: &'static str,
    /// `table` or `table.column`, in destination names.
    pub subject: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.subject, self.message)
    }
}

/// Where a destination table's rows come from (the transfer stage reads this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source_table: String,
    /// (destination column, source column), in destination column order.
    pub columns: Vec<(String, String)>,
}

/// Codes of the notes and refusals this stage produces.
pub mod codes {
    /// A lossy cast that the config opted in.
    pub const LOSSY_ALLOWED: &str = "T301";
    /// A lossy cast not opted in: refused.
    pub const LOSSY_REFUSED: &str = "T302";
    /// No representation in the destination: refused.
    pub const UNSAFE: &str = "T303";
    /// A default, check, generated expression or index in the source's SQL dialect that
    /// another dialect cannot run; left out (a domain is reported by `diff::left_out`).
    pub const NOT_PORTABLE: &str = "T304";
    /// A foreign key to a table that is not selected; left out.
    pub const FK_OUTSIDE: &str = "T305";
    /// A foreign-key action the destination refuses (MySQL: `SET NULL` on a NOT NULL
    /// column, `SET DEFAULT`), written as `NO ACTION`.
    pub const FK_ACTION_ADAPTED: &str = "T306";
    /// A referencing column widened to its referenced column's type (MySQL needs both
    /// sides of one size and sign).
    pub const FK_COLUMN_WIDENED: &str = "T307";
    /// An index longer than InnoDB's key limit, indexed on column prefixes.
    pub const INDEX_PREFIXED: &str = "T308";
    /// An index, constraint or enum type name longer than the destination allows,
    /// shortened with a hash suffix.
    pub const NAME_SHORTENED: &str = "T309";
    /// A table or column name longer than the destination allows: refused (rename it in
    /// `mappings:`).
    pub const NAME_TOO_LONG: &str = "T310";
    /// Foreign-key columns whose types the destination cannot link: refused (map the
    /// types in `mappings:`).
    pub const FK_TYPES: &str = "T311";
    /// A primary key or index too long for the destination's key limit, which no prefix
    /// can fix: refused.
    pub const KEY_TOO_LONG: &str = "T312";
    /// A foreign key to columns with no primary key or unique constraint, which the
    /// destination refuses; left out.
    pub const FK_NOT_UNIQUE: &str = "T313";
}
