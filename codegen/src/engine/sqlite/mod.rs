//! SQLite's home.

/// `"name"` with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    super::quote_ansi(name)
}
