//! Canonical text: the one form every value takes between a source reader and a
//! destination writer (and, in verify, between the two sides of a comparison).
//!
//! Readers produce it in SQL (each dialect's `SELECT` list canonicalises its own types),
//! so rows travel as `Option<String>` and nothing passes through a float or a driver's
//! idea of a type: decimals stay exact, timestamps stay at microseconds.
//!
//! | family | canonical text |
//! |---|---|
//! | bool | `0` or `1` |
//! | integers, decimals, floats | the number as the source printed it |
//! | bytes | lower-case hex, no prefix |
//! | date / time / timestamp | `YYYY-MM-DD` / `HH:MM:SS[.ffffff]` / `YYYY-MM-DD HH:MM:SS[.ffffff]` |
//! | timestamptz | the UTC instant as a timestamp |
//! | arrays | a JSON array |
//! | bit strings | `0` and `1` digits |
//! | everything else | the text the source printed |

use seaway_codegen::model::NeutralType;

/// The shape of a value, as far as moving it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Bool,
    Number,
    Bytes,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
    Array,
    Set,
    Bit,
    Text,
}

impl Family {
    pub fn of(ty: &NeutralType) -> Family {
        match ty {
            NeutralType::Bool => Family::Bool,
            NeutralType::Int { .. } | NeutralType::Decimal { .. } | NeutralType::Float { .. } => {
                Family::Number
            }
            NeutralType::Binary { .. } => Family::Bytes,
            NeutralType::Date => Family::Date,
            NeutralType::Time { .. } | NeutralType::TimeTz { .. } => Family::Time,
            NeutralType::Timestamp { .. } => Family::Timestamp,
            NeutralType::TimestampTz { .. } => Family::TimestampTz,
            NeutralType::Json => Family::Json,
            NeutralType::Array(_) => Family::Array,
            NeutralType::Set { .. } => Family::Set,
            NeutralType::Bit { .. } => Family::Bit,
            _ => Family::Text,
        }
    }
}

/// The comparable form of a canonical value: numbers without trailing fractional zeros
/// (`1.50` = `1.5`, `2.0` = `2`), times without trailing fractional zeros
/// (`10:00:00.000000` = `10:00:00`), hex in lower case. Two engines holding equal data
/// produce equal comparable forms.
pub fn comparable(family: Family, value: &str) -> String {
    fn trim_fraction(v: &str) -> String {
        match v.split_once('.') {
            Some((whole, frac)) if frac.chars().all(|c| c.is_ascii_digit()) => {
                let frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    whole.to_string()
                } else {
                    format!("{whole}.{frac}")
                }
            }
            _ => v.to_string(),
        }
    }
    match family {
        Family::Number => {
            let t = trim_fraction(value.trim());
            if t == "-0" { "0".to_string() } else { t }
        }
        Family::Time | Family::Timestamp | Family::TimestampTz => trim_fraction(value),
        Family::Bytes => value.to_ascii_lowercase(),
        _ => value.to_string(),
    }
}

/// A JSON array (canonical for arrays) as a PostgreSQL array literal: `["a","b c"]` ->
/// `{"a","b c"}`. Nested arrays nest; JSON null is NULL.
pub fn json_array_to_pg(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    fn render(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Array(items) => {
                out.push('{');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render(item, out);
                }
                out.push('}');
            }
            serde_json::Value::Null => out.push_str("NULL"),
            serde_json::Value::String(s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            other => {
                let text = other.to_string();
                out.push('"');
                out.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                out.push('"');
            }
        }
    }
    let mut out = String::new();
    render(&value, &mut out);
    value.is_array().then_some(out)
}

/// MySQL's comma-separated SET text as a JSON array (the canonical array form).
pub fn set_to_json_array(set: &str) -> String {
    let items: Vec<serde_json::Value> = if set.is_empty() {
        Vec::new()
    } else {
        set.split(',')
            .map(|s| serde_json::Value::String(s.to_string()))
            .collect()
    };
    serde_json::Value::Array(items).to_string()
}

/// A value in PostgreSQL's COPY text format: backslash, tab, newline and carriage
/// return escaped; NULL as `\N`.
pub fn copy_escape(value: Option<&str>, out: &mut String) {
    let Some(v) = value else {
        out.push_str("\\N");
        return;
    };
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arrays_become_postgres_array_literals() {
        assert_eq!(
            json_array_to_pg("[1,2,3]").as_deref(),
            Some("{\"1\",\"2\",\"3\"}")
        );
        assert_eq!(
            json_array_to_pg(r#"["a","b \"c\"",null]"#).as_deref(),
            Some(r#"{"a","b \"c\"",NULL}"#)
        );
        assert_eq!(
            json_array_to_pg("[[1],[2]]").as_deref(),
            Some("{{\"1\"},{\"2\"}}")
        );
        assert_eq!(json_array_to_pg("[]").as_deref(), Some("{}"));
        assert_eq!(json_array_to_pg("{\"a\":1}"), None);
    }

    #[test]
    fn comparable_forms_ignore_representation_noise() {
        assert_eq!(
            comparable(Family::Number, "1.50"),
            comparable(Family::Number, "1.5")
        );
        assert_eq!(comparable(Family::Number, "2.000"), "2");
        assert_eq!(comparable(Family::Number, "-0.0"), "0");
        assert_ne!(
            comparable(Family::Number, "1.05"),
            comparable(Family::Number, "1.5")
        );
        assert_eq!(
            comparable(Family::Timestamp, "2009-01-01 00:00:00.000000"),
            "2009-01-01 00:00:00"
        );
        assert_eq!(
            comparable(Family::Timestamp, "2009-01-01 00:00:00.120000"),
            "2009-01-01 00:00:00.12"
        );
        assert_eq!(comparable(Family::Bytes, "DEADBEEF"), "deadbeef");
        assert_eq!(comparable(Family::Text, "Abc "), "Abc ");
    }

    #[test]
    fn sets_become_json_arrays() {
        assert_eq!(set_to_json_array("x,y"), r#"["x","y"]"#);
        assert_eq!(set_to_json_array(""), "[]");
    }

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        let mut out = String::new();
        copy_escape(Some("a\tb\\c\nd"), &mut out);
        out.push('|');
        copy_escape(None, &mut out);
        assert_eq!(out, "a\\tb\\\\c\\nd|\\N");
    }
}
