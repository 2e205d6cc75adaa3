//! Neutral -> MySQL/MariaDB. Mirrored in docs/types.md ("Casting into MySQL/MariaDB").

use crate::model::NeutralType as N;
use crate::target::cast::{Cast, EnumInfo, quote_literal};

/// Longest `varchar` kept as `varchar` (utf8mb4 rows are limited to 65,535 bytes); a
/// longer one becomes `longtext`.
const MAX_VARCHAR: u32 = 16_383;

pub fn cast(ty: &N, enum_info: Option<&EnumInfo<'_>>) -> Cast {
    let p = |prec: &Option<u32>| prec.unwrap_or(6).min(6);
    let int_ddl = |bits: u8| match bits {
        8 => "tinyint",
        16 => "smallint",
        24 => "mediumint",
        32 => "int",
        _ => "bigint",
    };
    match ty {
        N::Bool => Cast::safe("tinyint(1)", N::Bool),
        N::Int {
            bits,
            unsigned: false,
        } => Cast::safe(
            int_ddl(*bits),
            N::Int {
                bits: *bits,
                unsigned: false,
            },
        ),
        N::Int {
            bits,
            unsigned: true,
        } => Cast::safe(
            format!("{} unsigned", int_ddl(*bits)),
            N::Int {
                bits: *bits,
                unsigned: true,
            },
        ),
        N::Decimal {
            precision: Some(pr),
            scale,
        } if *pr <= 65 && scale.unwrap_or(0) <= 30 => {
            let s = scale.unwrap_or(0);
            Cast::safe(
                format!("decimal({pr},{s})"),
                N::Decimal {
                    precision: Some(*pr),
                    scale: Some(s),
                },
            )
        }
        N::Decimal { .. } => Cast::lossy(
            "decimal(65,30)",
            N::Decimal {
                precision: Some(65),
                scale: Some(30),
            },
            "MySQL decimals hold at most 65 digits, 30 after the point",
        ),
        N::Float { bits: 32 } => Cast::safe("float", N::Float { bits: 32 }),
        N::Float { .. } => Cast::safe("double", N::Float { bits: 64 }),
        N::Char { length } if length.unwrap_or(1) <= 255 => {
            let n = length.unwrap_or(1);
            Cast::safe(format!("char({n})"), N::Char { length: Some(n) })
        }
        N::Char { .. } => Cast::lossy(
            "longtext",
            N::Text,
            "char longer than 255 becomes text; blank padding is lost",
        ),
        N::Varchar { length: Some(n) } if *n <= MAX_VARCHAR => {
            Cast::safe(format!("varchar({n})"), N::Varchar { length: Some(*n) })
        }
        N::Varchar { .. } | N::Text => Cast::safe("longtext", N::Text),
        N::Binary {
            length: Some(n),
            fixed: true,
        } if *n <= 255 => Cast::safe(
            format!("binary({n})"),
            N::Binary {
                length: Some(*n),
                fixed: true,
            },
        ),
        N::Binary {
            length: Some(n), ..
        } if *n <= 65_535 => Cast::safe(
            format!("varbinary({n})"),
            N::Binary {
                length: Some(*n),
                fixed: false,
            },
        ),
        N::Binary { .. } => Cast::safe(
            "longblob",
            N::Binary {
                length: None,
                fixed: false,
            },
        ),
        N::Bit {
            length,
            varying: false,
        } if length.unwrap_or(1) <= 64 => {
            let n = length.unwrap_or(1);
            Cast::safe(
                format!("bit({n})"),
                N::Bit {
                    length: Some(n),
                    varying: false,
                },
            )
        }
        N::Bit {
            length,
            varying: true,
        } if length.is_some_and(|n| n <= 64) => {
            let n = length.unwrap_or(64);
            Cast::lossy(
                format!("bit({n})"),
                N::Bit {
                    length: Some(n),
                    varying: false,
                },
                "MySQL bit strings have a fixed length",
            )
        }
        N::Bit { .. } => Cast::refused(ty, "MySQL bit strings hold at most 64 bits"),
        N::Date => Cast::safe("date", N::Date),
        N::Time { precision } => {
            let pr = p(precision);
            Cast::safe(
                format!("time({pr})"),
                N::Time {
                    precision: Some(pr),
                },
            )
        }
        N::TimeTz { precision } => {
            let pr = p(precision);
            Cast::lossy(
                format!("time({pr})"),
                N::Time {
                    precision: Some(pr),
                },
                "MySQL times have no zone; the offset is dropped",
            )
        }
        N::Timestamp { precision } => {
            let pr = p(precision);
            Cast::safe(
                format!("datetime({pr})"),
                N::Timestamp {
                    precision: Some(pr),
                },
            )
        }
        // MySQL `timestamp` stops in 2038; an instant is kept as a UTC `datetime`.
        N::TimestampTz { precision } => {
            let pr = p(precision);
            Cast::safe(
                format!("datetime({pr})"),
                N::Timestamp {
                    precision: Some(pr),
                },
            )
        }
        N::Interval => Cast::lossy(
            "varchar(64)",
            N::Varchar { length: Some(64) },
            "MySQL has no interval type; kept as ISO 8601 text",
        ),
        N::Json => Cast::safe("json", N::Json),
        N::Uuid => Cast::safe("char(36)", N::Char { length: Some(36) }),
        N::Inet => Cast::safe("varchar(43)", N::Varchar { length: Some(43) }),
        N::Enum { .. } | N::Set { .. } => match enum_info {
            Some(e) => {
                let labels: Vec<String> = e.labels.iter().map(|l| quote_literal(l)).collect();
                // This arm holds only enums and sets.
                let (kw, ty) = if matches!(ty, N::Enum { .. }) {
                    (
                        "enum",
                        N::Enum {
                            name: e.name.clone(),
                        },
                    )
                } else {
                    (
                        "set",
                        N::Set {
                            name: e.name.clone(),
                        },
                    )
                };
                Cast::safe(format!("{kw}({})", labels.join(",")), ty)
            }
            None => Cast::refused(ty, "enum without labels"),
        },
        N::Array(inner) => {
            let elem = cast(inner, enum_info);
            Cast::safe("json", N::Json).worst(&elem.safety)
        }
        N::Other { native } => Cast::refused(
            ty,
            format!("`{native}` has no MySQL equivalent seaway knows"),
        ),
    }
}
