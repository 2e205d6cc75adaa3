//! PostgreSQL's home.

/// `"name"` with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    super::quote_ansi(name)
}

/// A `search_path` value naming `schemas` in order, each quoted, so a schema name with
/// capitals, spaces or quotes is resolved as written.
pub fn search_path<S: AsRef<str>>(schemas: &[S]) -> String {
    schemas
        .iter()
        .map(|s| quote_ident(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
