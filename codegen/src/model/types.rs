//! Neutral column types: the engine-independent vocabulary every later stage speaks.
//!
//! A type is written in snapshots as one compact string (`int32`, `decimal(12,2)`,
//! `array(text)`, `enum(mood)`) rather than a nested YAML mapping, because snapshots are
//! read in pull requests and one short token per column is what a reviewer can scan.
//! [`NeutralType::parse`] is the exact inverse of `Display`, so a snapshot round-trips.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An engine-neutral column type.
///
/// Native details that do not change the set of storable values (MySQL's `mediumtext` vs
/// `longtext`, PostgreSQL's `jsonb` vs `json`) are kept in the column's `native` string,
/// not here, so that equal data shapes compare equal across engines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NeutralType {
    Bool,
    /// Integer of `bits` width (8, 16, 24, 32 or 64); `unsigned` only from MySQL/MariaDB.
    Int {
        bits: u8,
        unsigned: bool,
    },
    /// Exact numeric; `None` precision means "any" (PostgreSQL bare `numeric`).
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    /// IEEE float of 32 or 64 bits.
    Float {
        bits: u8,
    },
    /// Fixed-length, blank-padded character string.
    Char {
        length: Option<u32>,
    },
    /// Variable-length character string with an optional limit.
    Varchar {
        length: Option<u32>,
    },
    /// Unlimited character string.
    Text,
    /// Byte string; `fixed` for MySQL `binary(n)`, else variable (`varbinary`, `blob`, `bytea`).
    Binary {
        length: Option<u32>,
        fixed: bool,
    },
    /// Bit string (`bit(n)`, PostgreSQL `varbit(n)`).
    Bit {
        length: Option<u32>,
        varying: bool,
    },
    Date,
    Time {
        precision: Option<u32>,
    },
    TimeTz {
        precision: Option<u32>,
    },
    /// Date and time without a zone: PostgreSQL `timestamp`, MySQL `datetime`.
    Timestamp {
        precision: Option<u32>,
    },
    /// An instant: PostgreSQL `timestamptz`, MySQL `timestamp` (stored as UTC).
    TimestampTz {
        precision: Option<u32>,
    },
    Interval,
    Json,
    Uuid,
    /// Network address: PostgreSQL `inet`/`cidr`, MariaDB `inet4`/`inet6`.
    Inet,
    /// A named enumeration; its labels live in the schema's `enums` map under this name.
    Enum {
        name: String,
    },
    /// A MySQL `SET` of labels; its labels live in the schema's `enums` map under this name.
    Set {
        name: String,
    },
    /// A one-dimensional (or, in PostgreSQL, any-dimensional) array of `element`.
    Array(Box<NeutralType>),
    /// A type seaway has no neutral form for, carried by its native name and never dropped.
    Other {
        native: String,
    },
}

impl NeutralType {
    /// True for `Other`: a type the later stages can carry but not convert.
    pub fn is_other(&self) -> bool {
        matches!(self, NeutralType::Other { .. })
    }

    /// Parses the compact snapshot form written by `Display`.
    pub fn parse(text: &str) -> Result<NeutralType, TypeParseError> {
        let text = text.trim();
        let err = || TypeParseError(text.to_string());
        let (head, arg) = match text.find('(') {
            Some(open) if text.ends_with(')') => {
                (&text[..open], Some(&text[open + 1..text.len() - 1]))
            }
            Some(_) => return Err(err()),
            None => (text, None),
        };
        let num = |s: &str| s.trim().parse::<u32>().map_err(|_| err());
        let opt_num = || arg.map(num).transpose();
        let ty = match (head, arg) {
            ("bool", None) => NeutralType::Bool,
            ("decimal", None) => NeutralType::Decimal {
                precision: None,
                scale: None,
            },
            ("decimal", Some(a)) => match a.split_once(',') {
                Some((p, s)) => NeutralType::Decimal {
                    precision: Some(num(p)?),
                    scale: Some(num(s)?),
                },
                None => NeutralType::Decimal {
                    precision: Some(num(a)?),
                    scale: None,
                },
            },
            ("float32", None) => NeutralType::Float { bits: 32 },
            ("float64", None) => NeutralType::Float { bits: 64 },
            ("char", _) => NeutralType::Char { length: opt_num()? },
            ("varchar", _) => NeutralType::Varchar { length: opt_num()? },
            ("text", None) => NeutralType::Text,
            ("bytes", _) => NeutralType::Binary {
                length: opt_num()?,
                fixed: false,
            },
            ("binary", Some(_)) => NeutralType::Binary {
                length: opt_num()?,
                fixed: true,
            },
            ("bit", _) => NeutralType::Bit {
                length: opt_num()?,
                varying: false,
            },
            ("varbit", _) => NeutralType::Bit {
                length: opt_num()?,
                varying: true,
            },
            ("date", None) => NeutralType::Date,
            ("time", _) => NeutralType::Time {
                precision: opt_num()?,
            },
            ("timetz", _) => NeutralType::TimeTz {
                precision: opt_num()?,
            },
            ("timestamp", _) => NeutralType::Timestamp {
                precision: opt_num()?,
            },
            ("timestamptz", _) => NeutralType::TimestampTz {
                precision: opt_num()?,
            },
            ("interval", None) => NeutralType::Interval,
            ("json", None) => NeutralType::Json,
            ("uuid", None) => NeutralType::Uuid,
            ("inet", None) => NeutralType::Inet,
            ("enum", Some(name)) if !name.is_empty() => NeutralType::Enum {
                name: name.to_string(),
            },
            ("set", Some(name)) if !name.is_empty() => NeutralType::Set {
                name: name.to_string(),
            },
            ("array", Some(inner)) => NeutralType::Array(Box::new(NeutralType::parse(inner)?)),
            ("other", Some(native)) if !native.is_empty() => NeutralType::Other {
                native: native.to_string(),
            },
            (int, None) => parse_int(int).ok_or_else(err)?,
            _ => return Err(err()),
        };
        Ok(ty)
    }
}

/// `int8`..`int64` and `uint8`..`uint64` (24 bits for MySQL `mediumint`).
fn parse_int(head: &str) -> Option<NeutralType> {
    let (unsigned, digits) = match head.strip_prefix("uint") {
        Some(d) => (true, d),
        None => (false, head.strip_prefix("int")?),
    };
    let bits: u8 = digits.parse().ok()?;
    [8, 16, 24, 32, 64]
        .contains(&bits)
        .then_some(NeutralType::Int { bits, unsigned })
}

impl fmt::Display for NeutralType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_len = |f: &mut fmt::Formatter<'_>, head: &str, n: &Option<u32>| match n {
            Some(n) => write!(f, "{head}({n})"),
            None => f.write_str(head),
        };
        match self {
            NeutralType::Bool => f.write_str("bool"),
            NeutralType::Int { bits, unsigned } => {
                write!(f, "{}int{bits}", if *unsigned { "u" } else { "" })
            }
            NeutralType::Decimal {
                precision: None, ..
            } => f.write_str("decimal"),
            NeutralType::Decimal {
                precision: Some(p),
                scale: None,
            } => write!(f, "decimal({p})"),
            NeutralType::Decimal {
                precision: Some(p),
                scale: Some(s),
            } => write!(f, "decimal({p},{s})"),
            NeutralType::Float { bits } => write!(f, "float{bits}"),
            NeutralType::Char { length } => with_len(f, "char", length),
            NeutralType::Varchar { length } => with_len(f, "varchar", length),
            NeutralType::Text => f.write_str("text"),
            NeutralType::Binary {
                length,
                fixed: true,
            } => with_len(f, "binary", length),
            NeutralType::Binary {
                length,
                fixed: false,
            } => with_len(f, "bytes", length),
            NeutralType::Bit {
                length,
                varying: false,
            } => with_len(f, "bit", length),
            NeutralType::Bit {
                length,
                varying: true,
            } => with_len(f, "varbit", length),
            NeutralType::Date => f.write_str("date"),
            NeutralType::Time { precision } => with_len(f, "time", precision),
            NeutralType::TimeTz { precision } => with_len(f, "timetz", precision),
            NeutralType::Timestamp { precision } => with_len(f, "timestamp", precision),
            NeutralType::TimestampTz { precision } => with_len(f, "timestamptz", precision),
            NeutralType::Interval => f.write_str("interval"),
            NeutralType::Json => f.write_str("json"),
            NeutralType::Uuid => f.write_str("uuid"),
            NeutralType::Inet => f.write_str("inet"),
            NeutralType::Enum { name } => write!(f, "enum({name})"),
            NeutralType::Set { name } => write!(f, "set({name})"),
            NeutralType::Array(inner) => write!(f, "array({inner})"),
            NeutralType::Other { native } => write!(f, "other({native})"),
        }
    }
}

/// A type string in a snapshot or config that is not in the neutral grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a neutral type (expected e.g. int32, uint64, decimal(12,2), varchar(80), timestamptz, array(text); see docs/types.md)"
)]
pub struct TypeParseError(pub String);

impl Serialize for NeutralType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NeutralType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NeutralType::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips_through_its_text() {
        let samples = [
            "bool",
            "int8",
            "int16",
            "int24",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint24",
            "uint32",
            "uint64",
            "decimal",
            "decimal(10)",
            "decimal(38,10)",
            "float32",
            "float64",
            "char",
            "char(3)",
            "varchar",
            "varchar(160)",
            "text",
            "bytes",
            "bytes(16)",
            "binary(16)",
            "bit(1)",
            "varbit(8)",
            "varbit",
            "date",
            "time",
            "time(3)",
            "timetz",
            "timestamp",
            "timestamp(6)",
            "timestamptz",
            "timestamptz(3)",
            "interval",
            "json",
            "uuid",
            "inet",
            "enum(mood)",
            "set(zoo_flags)",
            "array(int32)",
            "array(array(text))",
            "other(tsvector)",
            "other(geometry(Point,4326))",
        ];
        for text in samples {
            let ty = NeutralType::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(ty.to_string(), text, "round trip of {text}");
        }
    }

    #[test]
    fn rejects_what_is_not_in_the_grammar() {
        for bad in [
            "",
            "int7",
            "integer",
            "decimal(x)",
            "varchar(",
            "enum()",
            "array(nope)",
            "binary",
        ] {
            assert!(
                NeutralType::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
