//! Identifier rules of the destination engines: how long a name may be, and in which
//! namespace an index name must be unique.
//!
//! PostgreSQL silently truncates a name longer than 63 bytes, so a long name would be
//! created under another name than the desired schema says and `check` would report it
//! forever; MySQL refuses names longer than 64 characters. Names seaway derives itself
//! (indexes, constraints, enum types) are shortened here, deterministically, with a hash
//! suffix; names the user chose (tables, columns) are refused by the caller with advice.

use crate::model::Dialect;
use sha2::Digest;

/// Hex digits of the hash suffix of a shortened name: 8 (32 bits) make a collision
/// between two long names of one schema sharing a prefix vanishingly unlikely.
const HASH_DIGITS: usize = 8;

/// True when the destination can hold `name` exactly as written.
pub fn fits(dest: Dialect, name: &str) -> bool {
    match dest {
        // NAMEDATALEN - 1; longer names are truncated without an error.
        Dialect::Postgres => name.len() <= 63,
        // Counted in characters; longer names are refused.
        Dialect::Mysql => name.chars().count() <= 64,
        // No limit.
        Dialect::Sqlite => true,
    }
}

/// The limit in words, for messages.
pub fn limit(dest: Dialect) -> &'static str {
    match dest {
        Dialect::Postgres => "63 bytes",
        Dialect::Mysql => "64 characters",
        Dialect::Sqlite => "no limit",
    }
}

/// `name` when it fits, else its longest prefix that fits together with `_` and a short
/// hash of the whole name. The hash keeps two long names that share their beginning
/// apart, and depends on nothing but `name`, so the result is the same on every run.
pub fn shorten(dest: Dialect, name: &str) -> String {
    if fits(dest, name) {
        return name.to_string();
    }
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash: String = digest
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut prefix = String::new();
    for c in name.chars() {
        let mut candidate = prefix.clone();
        candidate.push(c);
        if !fits(dest, &format!("{candidate}_{hash}")) {
            break;
        }
        prefix = candidate;
    }
    format!("{prefix}_{hash}")
}

/// True when index names need only be unique within their table (MySQL), false when they
/// share one namespace per schema (PostgreSQL, SQLite; there with tables too).
pub fn indexes_per_table(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Mysql => true,
        Dialect::Postgres | Dialect::Sqlite => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept() {
        for d in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
            assert_eq!(shorten(d, "idx_fk_item_id"), "idx_fk_item_id");
        }
        let long = "x".repeat(200);
        assert_eq!(shorten(Dialect::Sqlite, &long), long, "SQLite has no limit");
    }

    #[test]
    fn long_names_are_shortened_to_the_limit_deterministically_and_apart() {
        let a = format!("{}_a", "order_line_".repeat(8));
        let b = format!("{}_b", "order_line_".repeat(8));
        let pa = shorten(Dialect::Postgres, &a);
        assert_eq!(pa.len(), 63, "{pa}");
        assert_eq!(pa, shorten(Dialect::Postgres, &a), "same input, same name");
        assert_ne!(
            pa,
            shorten(Dialect::Postgres, &b),
            "shared prefix, other name"
        );
        assert!(pa.starts_with("order_line_order_line_"), "{pa}");
        // The suffix is `_` and 8 hex digits of the whole name's SHA-256.
        let (_, hash) = pa.rsplit_once('_').expect("suffix");
        assert_eq!(hash.len(), 8);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");

        let m = shorten(Dialect::Mysql, &a);
        assert_eq!(m.chars().count(), 64, "{m}");
        assert!(fits(Dialect::Mysql, &m));
    }

    #[test]
    fn postgres_counts_bytes_and_mysql_characters() {
        // 40 two-byte characters: 80 bytes, 40 characters.
        let name = "é".repeat(40);
        assert!(!fits(Dialect::Postgres, &name));
        assert!(fits(Dialect::Mysql, &name));
        let short = shorten(Dialect::Postgres, &name);
        assert!(short.len() <= 63, "{short}");
        assert!(
            short.starts_with("éé"),
            "cut on a character boundary: {short}"
        );
    }
}
