//! SQLite declared types and default texts -> neutral types and defaults.
//!
//! SQLite stores any value in any column; what a schema author meant lives only in the
//! declared type name, so the mapping is by that name (case-insensitive, parameters
//! parsed), then by SQLite's own affinity rules for names not in the table below
//! (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>).

use super::ddl;
use crate::model::{DefaultValue, NeutralType};

/// The neutral type of a column declared as `declared` (`""` for an untyped column).
pub(super) fn neutral_type(declared: &str) -> NeutralType {
    let declared = declared.trim();
    if declared.is_empty() {
        return NeutralType::Text;
    }
    let (head, params) = match declared.split_once('(') {
        Some((head, rest)) => {
            let args = rest.rsplit_once(')').map_or(rest, |(args, _)| args);
            let params: Vec<Option<u32>> = args
                .split(',')
                .map(|p| p.trim().trim_start_matches('+').parse().ok())
                .collect();
            (head, params)
        }
        None => (declared, Vec::new()),
    };
    let head = head
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let n1 = params.first().copied().flatten();
    let n2 = params.get(1).copied().flatten();
    let int = |bits| NeutralType::Int {
        bits,
        unsigned: false,
    };
    match head.as_str() {
        "INTEGER" | "INT" => int(32),
        "TINYINT" => int(8),
        "SMALLINT" | "INT2" => int(16),
        "MEDIUMINT" => int(24),
        "BIGINT" | "INT8" | "UNSIGNED BIG INT" => int(64),
        "BOOLEAN" | "BOOL" => NeutralType::Bool,
        "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" => NeutralType::Float { bits: 64 },
        "NUMERIC" | "DECIMAL" => NeutralType::Decimal {
            precision: n1,
            scale: n1.and(n2),
        },
        "CHAR" | "CHARACTER" | "NCHAR" | "NATIVE CHARACTER" if n1.is_some() => {
            NeutralType::Char { length: n1 }
        }
        "VARCHAR" | "NVARCHAR" | "VARYING CHARACTER" | "CHARACTER VARYING" => {
            NeutralType::Varchar { length: n1 }
        }
        "TEXT" | "CLOB" => NeutralType::Text,
        "BLOB" => NeutralType::Binary {
            length: None,
            fixed: false,
        },
        "DATE" => NeutralType::Date,
        "DATETIME" | "TIMESTAMP" => NeutralType::Timestamp { precision: n1 },
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => NeutralType::TimestampTz { precision: n1 },
        "TIME" => NeutralType::Time { precision: n1 },
        "JSON" | "JSONB" => NeutralType::Json,
        "UUID" => NeutralType::Uuid,
        _ => by_affinity(declared),
    }
}

/// SQLite's affinity rules, in SQLite's order; a NUMERIC-affinity name that says
/// nothing more (`STRING`, `GEOMETRY`) is carried as `other`.
fn by_affinity(declared: &str) -> NeutralType {
    let upper = declared.to_ascii_uppercase();
    let has = |s: &str| upper.contains(s);
    if has("INT") {
        NeutralType::Int {
            bits: 64,
            unsigned: false,
        }
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        NeutralType::Text
    } else if has("BLOB") {
        NeutralType::Binary {
            length: None,
            fixed: false,
        }
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        NeutralType::Float { bits: 64 }
    } else {
        NeutralType::Other {
            native: declared.to_string(),
        }
    }
}

/// Classifies a `dflt_value` (the default's SQL text; the caller maps an absent
/// default to `None`, so `Null` here means `DEFAULT NULL` was written).
pub(super) fn classify_default(text: &str) -> DefaultValue {
    let inner = ddl::strip_outer_parens(text);
    match inner.to_ascii_uppercase().as_str() {
        "NULL" => return DefaultValue::Null,
        "TRUE" => return DefaultValue::Bool(true),
        "FALSE" => return DefaultValue::Bool(false),
        "CURRENT_TIMESTAMP" => return DefaultValue::CurrentTimestamp,
        "CURRENT_DATE" => return DefaultValue::CurrentDate,
        "CURRENT_TIME" => return DefaultValue::CurrentTime,
        _ => {}
    }
    if is_number(inner) {
        DefaultValue::Number(inner.to_string())
    } else if let Some(s) = ddl::string_literal(inner) {
        DefaultValue::String(s)
    } else {
        DefaultValue::Expression(inner.to_string())
    }
}

/// A decimal numeric literal with optional sign and exponent (`-1`, `2.5`, `.5`, `1e-3`).
fn is_number(text: &str) -> bool {
    let s = text.strip_prefix(['+', '-']).unwrap_or(text).as_bytes();
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(s);
    let mut i = int;
    let mut frac = 0;
    if s.get(i) == Some(&b'.') {
        frac = digits(&s[i + 1..]);
        i += 1 + frac;
    }
    if int + frac == 0 {
        return false;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = s.get(i..).map_or(0, digits);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_type_table() {
        let cases = [
            ("INTEGER", "int32"),
            ("integer", "int32"),
            ("INT", "int32"),
            ("INT(11)", "int32"),
            ("TINYINT", "int8"),
            ("SMALLINT", "int16"),
            ("INT2", "int16"),
            ("MEDIUMINT", "int24"),
            ("BIGINT", "int64"),
            ("INT8", "int64"),
            ("UNSIGNED BIG INT", "int64"),
            ("unsigned  big   int", "int64"),
            ("BOOLEAN", "bool"),
            ("bool", "bool"),
            ("REAL", "float64"),
            ("DOUBLE", "float64"),
            ("DOUBLE PRECISION", "float64"),
            ("FLOAT", "float64"),
            ("NUMERIC", "decimal"),
            ("NUMERIC(10,2)", "decimal(10,2)"),
            ("numeric( 10 , 2 )", "decimal(10,2)"),
            ("DECIMAL(12,4)", "decimal(12,4)"),
            ("DECIMAL(7)", "decimal(7)"),
            ("CHAR(3)", "char(3)"),
            ("CHARACTER(20)", "char(20)"),
            ("NCHAR(55)", "char(55)"),
            ("NATIVE CHARACTER(70)", "char(70)"),
            ("CHAR", "text"),
            ("VARCHAR(80)", "varchar(80)"),
            ("VARCHAR", "varchar"),
            ("NVARCHAR(160)", "varchar(160)"),
            ("VARYING CHARACTER(20)", "varchar(20)"),
            ("TEXT", "text"),
            ("CLOB", "text"),
            ("", "text"),
            ("BLOB", "bytes"),
            ("DATE", "date"),
            ("DATETIME", "timestamp"),
            ("TIMESTAMP", "timestamp"),
            ("TIMESTAMP(3)", "timestamp(3)"),
            ("TIMESTAMPTZ", "timestamptz"),
            ("timestamp with time zone", "timestamptz"),
            ("TIME", "time"),
            ("JSON", "json"),
            ("JSONB", "json"),
            ("UUID", "uuid"),
            ("CHARACTER VARYING(9)", "varchar(9)"),
            // Affinity rules for names not in the table.
            ("INTEGER UNSIGNED", "int64"),
            ("BIGINT UNSIGNED", "int64"),
            ("INT4", "int64"),
            ("POINT", "int64"), // SQLite's own rule: "POINT" contains "INT"
            ("LONGTEXT", "text"),
            ("NCLOB", "text"),
            ("LONGBLOB", "bytes"),
            ("FLOAT8", "float64"),
            ("STRING", "other(STRING)"),
            ("GEOMETRY", "other(GEOMETRY)"),
            ("Money(10,2)", "other(Money(10,2))"),
        ];
        for (declared, expected) in cases {
            assert_eq!(
                neutral_type(declared).to_string(),
                expected,
                "declared type {declared:?}"
            );
        }
    }

    #[test]
    fn default_classification() {
        use DefaultValue::*;
        let cases = [
            ("NULL", Null),
            ("null", Null),
            ("0", Number("0".into())),
            ("-1", Number("-1".into())),
            ("+2.50", Number("+2.50".into())),
            (".5", Number(".5".into())),
            ("1e-3", Number("1e-3".into())),
            ("(0)", Number("0".into())),
            ("'abc'", String("abc".into())),
            ("'it''s'", String("it's".into())),
            ("''", String("".into())),
            ("\"legacy\"", String("legacy".into())),
            ("CURRENT_TIMESTAMP", CurrentTimestamp),
            ("current_date", CurrentDate),
            ("Current_Time", CurrentTime),
            ("TRUE", Bool(true)),
            ("false", Bool(false)),
            ("(datetime('now'))", Expression("datetime('now')".into())),
            ("1+2", Expression("1+2".into())),
            ("x'00'", Expression("x'00'".into())),
            ("0x1F", Expression("0x1F".into())),
            ("'a' || 'b'", Expression("'a' || 'b'".into())),
            ("1e", Expression("1e".into())),
            (".", Expression(".".into())),
            ("-", Expression("-".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(classify_default(text), expected, "default {text:?}");
        }
    }
}
