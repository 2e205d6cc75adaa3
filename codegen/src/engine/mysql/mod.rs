//! MySQL/MariaDB's home.

/// `` `name` `` with `` ` `` doubled (seaway's sessions never set `ANSI_QUOTES`).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
