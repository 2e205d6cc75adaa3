//! PostgreSQL native type -> neutral type, and default expressions -> `DefaultValue`.
//! The table is mirrored in `docs/types.md`; change both together.

use super::catalog::TypeInfo;
use crate::model::{DefaultValue, NeutralType};

/// PostgreSQL's default fractional-second precision when none is declared.
const DEFAULT_TIME_PRECISION: u32 = 6;

pub fn neutral(info: &TypeInfo) -> NeutralType {
    if info.base_kind == "e" {
        return NeutralType::Enum {
            name: info.base_name.clone(),
        };
    }
    if let (Some(kind), Some(name)) = (&info.elem_kind, &info.elem_name) {
        // Arrays: `format_type` prints the element with its modifier then `[]`.
        let elem_native = info.base_native.trim_end_matches("[]").to_string();
        let elem = TypeInfo {
            base_native: elem_native,
            base_kind: kind.clone(),
            base_name: name.clone(),
            elem_kind: None,
            elem_name: None,
        };
        return NeutralType::Array(Box::new(neutral(&elem)));
    }
    from_native(&info.base_native)
}

/// Maps a `format_type` string (`character varying(80)`, `timestamp(3) with time zone`).
pub fn from_native(native: &str) -> NeutralType {
    let lower = crate::inspect::norm(native);
    let (head, args, tail) = split_modifier(&lower);
    let nums: Vec<u32> = args.iter().filter_map(|a| a.trim().parse().ok()).collect();
    let first = nums.first().copied();
    let precision = || Some(first.unwrap_or(DEFAULT_TIME_PRECISION));
    let with_tz = tail.contains("with time zone");
    match head.as_str() {
        "smallint" => NeutralType::Int {
            bits: 16,
            unsigned: false,
        },
        "integer" => NeutralType::Int {
            bits: 32,
            unsigned: false,
        },
        "bigint" => NeutralType::Int {
            bits: 64,
            unsigned: false,
        },
        "numeric" => NeutralType::Decimal {
            precision: first,
            scale: nums.get(1).copied(),
        },
        "real" => NeutralType::Float { bits: 32 },
        "double precision" => NeutralType::Float { bits: 64 },
        "character varying" => NeutralType::Varchar { length: first },
        "character" | "bpchar" => NeutralType::Char { length: first },
        "text" => NeutralType::Text,
        "bytea" => NeutralType::Binary {
            length: None,
            fixed: false,
        },
        "bit" => NeutralType::Bit {
            length: first,
            varying: false,
        },
        "bit varying" => NeutralType::Bit {
            length: first,
            varying: true,
        },
        "boolean" => NeutralType::Bool,
        "date" => NeutralType::Date,
        "time" if with_tz => NeutralType::TimeTz {
            precision: precision(),
        },
        "time" => NeutralType::Time {
            precision: precision(),
        },
        "timestamp" if with_tz => NeutralType::TimestampTz {
            precision: precision(),
        },
        "timestamp" => NeutralType::Timestamp {
            precision: precision(),
        },
        h if h.starts_with("interval") => NeutralType::Interval,
        "json" | "jsonb" => NeutralType::Json,
        "uuid" => NeutralType::Uuid,
        "inet" | "cidr" => NeutralType::Inet,
        _ => NeutralType::Other {
            native: native.to_string(),
        },
    }
}

/// Splits `timestamp(3) with time zone` into (`timestamp`, [`3`], ` with time zone`).
fn split_modifier(native: &str) -> (String, Vec<String>, String) {
    match (native.find('('), native.find(')')) {
        (Some(open), Some(close)) if close > open => (
            native[..open].trim().to_string(),
            native[open + 1..close]
                .split(',')
                .map(str::to_string)
                .collect(),
            native[close + 1..].to_string(),
        ),
        _ => {
            // `timestamp without time zone`, `time with time zone`
            for head in ["timestamp", "time"] {
                if let Some(tail) = native.strip_prefix(head).filter(|t| t.starts_with(' ')) {
                    return (head.to_string(), Vec::new(), tail.to_string());
                }
            }
            (native.to_string(), Vec::new(), String::new())
        }
    }
}

/// `nextval('seq'::regclass)`: the default of a `serial` column.
pub fn is_sequence_default(expr: &str) -> bool {
    expr.trim_start().starts_with("nextval(")
}

/// Classifies a `pg_get_expr` default so another dialect can re-render it.
pub fn classify_default(expr: &str, ty: &NeutralType) -> Option<DefaultValue> {
    let expr = expr.trim();
    let bare = strip_casts(expr);
    let lower = bare.to_ascii_lowercase();
    Some(match lower.as_str() {
        "null" => DefaultValue::Null,
        "true" => DefaultValue::Bool(true),
        "false" => DefaultValue::Bool(false),
        "now()" | "current_timestamp" | "transaction_timestamp()" | "localtimestamp" => {
            DefaultValue::CurrentTimestamp
        }
        "current_date" => DefaultValue::CurrentDate,
        "current_time" | "localtime" => DefaultValue::CurrentTime,
        _ => {
            if let Some(text) = unquote(bare) {
                let numeric = matches!(
                    ty,
                    NeutralType::Int { .. }
                        | NeutralType::Decimal { .. }
                        | NeutralType::Float { .. }
                );
                if numeric && is_number(&text) {
                    DefaultValue::Number(text)
                } else {
                    DefaultValue::String(text)
                }
            } else if is_number(bare.trim_matches(|c| c == '(' || c == ')')) {
                DefaultValue::Number(bare.trim_matches(|c| c == '(' || c == ')').to_string())
            } else {
                DefaultValue::Expression(expr.to_string())
            }
        }
    })
}

/// Removes trailing `::type` casts outside quotes: `'ok'::mood` -> `'ok'`.
fn strip_casts(expr: &str) -> &str {
    let mut in_quote = false;
    for (i, ch) in expr.char_indices() {
        match ch {
            '\'' => in_quote = !in_quote,
            ':' if !in_quote && expr[i..].starts_with("::") => return expr[..i].trim(),
            _ => {}
        }
    }
    expr
}

/// `'it''s'` -> `it's`; `None` when not a single string literal.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return None; // two literals, e.g. 'a' || 'b'
            }
        }
        out.push(c);
    }
    Some(out)
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.parse::<f64>().is_ok()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_format_type_strings() {
        let cases = [
            ("integer", "int32"),
            ("numeric(38,10)", "decimal(38,10)"),
            ("numeric", "decimal"),
            ("character varying(100000)", "varchar(100000)"),
            ("character varying", "varchar"),
            ("character(3)", "char(3)"),
            ("bit varying(8)", "varbit(8)"),
            ("time without time zone", "time(6)"),
            ("time(3) with time zone", "timetz(3)"),
            ("timestamp(3) without time zone", "timestamp(3)"),
            ("timestamp with time zone", "timestamptz(6)"),
            ("interval day to second", "interval"),
            ("jsonb", "json"),
            ("cidr", "inet"),
            ("tsvector", "other(tsvector)"),
        ];
        for (native, want) in cases {
            assert_eq!(from_native(native).to_string(), want, "{native}");
        }
    }

    #[test]
    fn arrays_and_enums_resolve_through_the_element() {
        let info = TypeInfo {
            base_native: "mood[]".into(),
            base_kind: "b".into(),
            base_name: "_mood".into(),
            elem_kind: Some("e".into()),
            elem_name: Some("mood".into()),
        };
        assert_eq!(neutral(&info).to_string(), "array(enum(mood))");
    }

    #[test]
    fn classifies_defaults() {
        let int = NeutralType::Int {
            bits: 32,
            unsigned: false,
        };
        let text = NeutralType::Text;
        assert_eq!(
            classify_default("'ok'::mood", &text),
            Some(DefaultValue::String("ok".into()))
        );
        assert_eq!(
            classify_default("'it''s'::text", &text),
            Some(DefaultValue::String("it's".into()))
        );
        assert_eq!(
            classify_default("'-1'::integer", &int),
            Some(DefaultValue::Number("-1".into()))
        );
        assert_eq!(
            classify_default("0", &int),
            Some(DefaultValue::Number("0".into()))
        );
        assert_eq!(
            classify_default("now()", &text),
            Some(DefaultValue::CurrentTimestamp)
        );
        assert_eq!(
            classify_default("CURRENT_DATE", &text),
            Some(DefaultValue::CurrentDate)
        );
        assert_eq!(
            classify_default("false", &text),
            Some(DefaultValue::Bool(false))
        );
        assert_eq!(
            classify_default("(1 + 2)", &int),
            Some(DefaultValue::Expression("(1 + 2)".into()))
        );
        assert!(is_sequence_default("nextval('t_id_seq'::regclass)"));
    }
}
