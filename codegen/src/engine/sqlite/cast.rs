//! Neutral -> SQLite declared types. Mirrored in docs/types.md ("Casting into SQLite").
//!
//! SQLite keeps what it is given, so most casts are safe; the lossy ones are where its
//! NUMERIC affinity turns text into an 8-byte float (long decimals, unsigned 64-bit).

use crate::model::NeutralType as N;
use crate::target::cast::{Cast, int};

/// Digits an IEEE double holds exactly; longer decimals stored under NUMERIC affinity
/// would come back rounded.
const EXACT_DIGITS: u32 = 15;

/// An auto-numbered (identity, `AUTO_INCREMENT`, serial) single-column integer key:
/// SQLite numbers only its rowid, so the column must be declared exactly `INTEGER`
/// (an alias of the rowid), which holds 64 bits whatever the source's width. Only an
/// unsigned 64-bit key loses values (above 2^63 - 1).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "every key but an unsigned 64-bit integer fits the rowid"
)]
pub fn rowid_key(ty: &N) -> Cast {
    match ty {
        N::Int {
            bits: 64,
            unsigned: true,
        } => Cast::lossy(
            "INTEGER",
            int(64),
            "SQLite's rowid is a signed 64-bit integer; keys above 9223372036854775807 do not fit",
        ),
        _ => Cast::safe("INTEGER", int(64)),
    }
}

pub fn cast(ty: &N) -> Cast {
    match ty {
        N::Bool => Cast::safe("BOOLEAN", N::Bool),
        N::Int {
            bits: 8,
            unsigned: false,
        } => Cast::safe("TINYINT", int(8)),
        N::Int {
            bits: 16,
            unsigned: false,
        }
        | N::Int {
            bits: 8,
            unsigned: true,
        } => Cast::safe("SMALLINT", int(16)),
        N::Int {
            bits: 24,
            unsigned: false,
        } => Cast::safe("MEDIUMINT", int(24)),
        N::Int {
            bits: 32,
            unsigned: false,
        }
        | N::Int {
            bits: 16 | 24,
            unsigned: true,
        } => Cast::safe("INTEGER", int(32)),
        N::Int {
            bits: 64,
            unsigned: false,
        }
        | N::Int {
            bits: 32,
            unsigned: true,
        } => Cast::safe("BIGINT", int(64)),
        N::Int { .. } => Cast::lossy(
            "NUMERIC(20,0)",
            N::Decimal {
                precision: Some(20),
                scale: Some(0),
            },
            "SQLite integers are signed 64-bit; larger values are stored as floats",
        ),
        N::Decimal {
            precision: Some(p),
            scale,
        } if *p <= EXACT_DIGITS => {
            let s = scale.unwrap_or(0);
            Cast::safe(
                format!("NUMERIC({p},{s})"),
                N::Decimal {
                    precision: Some(*p),
                    scale: Some(s),
                },
            )
        }
        N::Decimal { precision, scale } => {
            let ddl = match (precision, scale) {
                (Some(p), s) => format!("NUMERIC({p},{})", s.unwrap_or(0)),
                (None, _) => "NUMERIC".to_string(),
            };
            let ty = N::Decimal {
                precision: *precision,
                scale: precision.map(|_| scale.unwrap_or(0)),
            };
            Cast::lossy(
                ddl,
                ty,
                "SQLite stores non-integer NUMERIC values as 8-byte floats (15 significant digits)",
            )
        }
        N::Float { .. } => Cast::safe("REAL", N::Float { bits: 64 }),
        N::Char { length } => {
            let n = length.unwrap_or(1);
            Cast::safe(format!("CHAR({n})"), N::Char { length: Some(n) })
        }
        N::Varchar { length: Some(n) } => {
            Cast::safe(format!("VARCHAR({n})"), N::Varchar { length: Some(*n) })
        }
        N::Varchar { length: None } => Cast::safe("VARCHAR", N::Varchar { length: None }),
        N::Text => Cast::safe("TEXT", N::Text),
        N::Binary { .. } => Cast::safe(
            "BLOB",
            N::Binary {
                length: None,
                fixed: false,
            },
        ),
        N::Bit { .. } => Cast::lossy(
            "BLOB",
            N::Binary {
                length: None,
                fixed: false,
            },
            "SQLite has no bit strings; kept as bytes",
        ),
        N::Date => Cast::safe("DATE", N::Date),
        N::Time { .. } => Cast::safe("TIME", N::Time { precision: None }),
        N::TimeTz { .. } => Cast::lossy(
            "TIME",
            N::Time { precision: None },
            "SQLite times have no zone; the offset is dropped",
        ),
        N::Timestamp { .. } => Cast::safe("DATETIME", N::Timestamp { precision: None }),
        N::TimestampTz { .. } => Cast::safe("TIMESTAMPTZ", N::TimestampTz { precision: None }),
        N::Interval => Cast::lossy(
            "TEXT",
            N::Text,
            "SQLite has no interval type; kept as ISO 8601 text",
        ),
        N::Json => Cast::safe("JSON", N::Json),
        N::Uuid => Cast::safe("UUID", N::Uuid),
        N::Inet => Cast::safe("TEXT", N::Text),
        // The allowed labels become a CHECK constraint added by the caller.
        N::Enum { .. } => Cast::safe("TEXT", N::Text),
        N::Set { .. } => Cast::lossy(
            "TEXT",
            N::Text,
            "a SET becomes comma-separated text; its labels are not enforced",
        ),
        N::Array(inner) => Cast::safe("JSON", N::Json).worst(&cast(inner).safety),
        N::Other { native } => Cast::refused(
            ty,
            format!("`{native}` has no SQLite equivalent seaway knows"),
        ),
    }
}
