//! Neutral -> PostgreSQL. Mirrored in docs/types.md ("Casting into PostgreSQL").

use crate::model::NeutralType as N;
use crate::target::cast::{Cast, EnumInfo, int};

pub fn cast(ty: &N, enum_info: Option<&EnumInfo<'_>>) -> Cast {
    let p = |prec: &Option<u32>| prec.map(|p| p.min(6));
    let with_p = |head: &str, prec: Option<u32>, tail: &str| match prec {
        Some(p) => format!("{head}({p}){tail}"),
        None => format!("{head}{tail}"),
    };
    match ty {
        N::Bool => Cast::safe("boolean", N::Bool),
        N::Int {
            bits: 8 | 16,
            unsigned: false,
        }
        | N::Int {
            bits: 8,
            unsigned: true,
        } => Cast::safe("smallint", int(16)),
        N::Int {
            bits: 24 | 32,
            unsigned: false,
        }
        | N::Int {
            bits: 16 | 24,
            unsigned: true,
        } => Cast::safe("integer", int(32)),
        N::Int {
            bits: 32,
            unsigned: true,
        }
        | N::Int {
            bits: 64,
            unsigned: false,
        } => Cast::safe("bigint", int(64)),
        N::Int { .. } => Cast::safe(
            "numeric(20,0)",
            N::Decimal {
                precision: Some(20),
                scale: Some(0),
            },
        ),
        N::Decimal {
            precision: None, ..
        } => Cast::safe(
            "numeric",
            N::Decimal {
                precision: None,
                scale: None,
            },
        ),
        N::Decimal {
            precision: Some(pr),
            scale,
        } => {
            let s = scale.unwrap_or(0);
            Cast::safe(
                format!("numeric({pr},{s})"),
                N::Decimal {
                    precision: Some(*pr),
                    scale: Some(s),
                },
            )
        }
        N::Float { bits: 32 } => Cast::safe("real", N::Float { bits: 32 }),
        N::Float { .. } => Cast::safe("double precision", N::Float { bits: 64 }),
        N::Char { length } => {
            let n = length.unwrap_or(1);
            Cast::safe(format!("character({n})"), N::Char { length: Some(n) })
        }
        N::Varchar { length: Some(n) } => Cast::safe(
            format!("character varying({n})"),
            N::Varchar { length: Some(*n) },
        ),
        N::Varchar { length: None } => Cast::safe("character varying", N::Varchar { length: None }),
        N::Text => Cast::safe("text", N::Text),
        N::Binary { .. } => Cast::safe(
            "bytea",
            N::Binary {
                length: None,
                fixed: false,
            },
        ),
        N::Bit {
            length,
            varying: false,
        } => {
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
        } => Cast::safe(
            with_p("bit varying", *length, ""),
            N::Bit {
                length: *length,
                varying: true,
            },
        ),
        N::Date => Cast::safe("date", N::Date),
        N::Time { precision } => {
            let pr = p(precision).unwrap_or(6);
            Cast::safe(
                format!("time({pr}) without time zone"),
                N::Time {
                    precision: Some(pr),
                },
            )
        }
        N::TimeTz { precision } => {
            let pr = p(precision).unwrap_or(6);
            Cast::safe(
                format!("time({pr}) with time zone"),
                N::TimeTz {
                    precision: Some(pr),
                },
            )
        }
        N::Timestamp { precision } => {
            let pr = p(precision).unwrap_or(6);
            Cast::safe(
                format!("timestamp({pr}) without time zone"),
                N::Timestamp {
                    precision: Some(pr),
                },
            )
        }
        N::TimestampTz { precision } => {
            let pr = p(precision).unwrap_or(6);
            Cast::safe(
                format!("timestamp({pr}) with time zone"),
                N::TimestampTz {
                    precision: Some(pr),
                },
            )
        }
        N::Interval => Cast::safe("interval", N::Interval),
        N::Json => Cast::safe("jsonb", N::Json),
        N::Uuid => Cast::safe("uuid", N::Uuid),
        N::Inet => Cast::safe("inet", N::Inet),
        N::Enum { .. } => match enum_info {
            Some(e) => Cast::safe(
                super::quote_ident(&e.name),
                N::Enum {
                    name: e.name.clone(),
                },
            ),
            None => Cast::refused(ty, "enum without labels"),
        },
        N::Set { .. } => Cast::lossy(
            "text[]",
            N::Array(Box::new(N::Text)),
            "a SET becomes a text array; its allowed labels are not enforced",
        ),
        N::Array(inner) => {
            let elem = cast(inner, enum_info);
            let ddl = format!("{}[]", elem.ddl);
            Cast {
                ddl,
                ty: N::Array(Box::new(elem.ty.clone())),
                safety: crate::target::cast::Safety::Safe,
            }
            .worst(&elem.safety)
        }
        N::Other { native } => Cast::refused(
            ty,
            format!("`{native}` has no PostgreSQL equivalent seaway knows"),
        ),
    }
}
