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
//! | integers, decimals | the number as the source printed it (SQLite may use an exponent) |
//! | floats | digits that parse back to the stored value (`3.4028235e+38`) |
//! | bytes | lower-case hex, no prefix |
//! | date / time / timestamp | `YYYY-MM-DD` / `HH:MM:SS[.ffffff]` / `YYYY-MM-DD HH:MM:SS[.ffffff]` |
//! | timetz | `HH:MM:SS.ffffff` and the zone offset as PostgreSQL prints it (`+05:30`, `-12`) |
//! | timestamptz | the UTC instant as a timestamp |
//! | SQLite date-times | as above, from ISO text (a zone applied), Unix-time integers, Julian-day reals |
//! | json | the document as the source printed it (key order and spacing vary) |
//! | arrays | a JSON array |
//! | bit strings | `0` and `1` digits |
//! | other(x) | the engine's own form (PostgreSQL text, MySQL stored bytes in hex, an SQLite literal), read only by the same engine |
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
    /// A time of day with its zone offset (PostgreSQL `timetz`).
    TimeTz,
    Timestamp,
    TimestampTz,
    Json,
    Array,
    Set,
    Bit,
    Text,
    /// `other(native)`: carried between two databases of the same engine in that
    /// engine's own form (MySQL spatial values as hex, SQLite values as SQL literals).
    Other,
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
            NeutralType::Time { .. } => Family::Time,
            NeutralType::TimeTz { .. } => Family::TimeTz,
            NeutralType::Timestamp { .. } => Family::Timestamp,
            NeutralType::TimestampTz { .. } => Family::TimestampTz,
            NeutralType::Json => Family::Json,
            NeutralType::Array(_) => Family::Array,
            NeutralType::Set { .. } => Family::Set,
            NeutralType::Bit { .. } => Family::Bit,
            NeutralType::Other { .. } => Family::Other,
            _ => Family::Text,
        }
    }
}

/// The comparable form of a canonical value: numbers as plain decimals without
/// redundant zeros (`1.50` = `1.5`, `2.0` = `2`, `-1.0e-10` = `-0.0000000001`), times
/// without trailing fractional zeros (`10:00:00.000000` = `10:00:00`), hex in lower case,
/// JSON documents and arrays re-serialised compactly with sorted keys (PostgreSQL `jsonb`
/// reorders keys and MySQL respaces them; the document is the same). Two engines holding
/// equal data produce equal comparable forms.
pub fn comparable(family: Family, value: &str) -> String {
    match family {
        Family::Number => plain_number(value.trim()).unwrap_or_else(|| value.trim().to_string()),
        Family::Time | Family::Timestamp | Family::TimestampTz => trim_fraction(value),
        Family::TimeTz => {
            let (time, zone) = split_zone(value);
            format!("{}{zone}", trim_fraction(time))
        }
        Family::Bytes => value.to_ascii_lowercase(),
        Family::Json | Family::Array => match serde_json::from_str::<serde_json::Value>(value) {
            Ok(doc) => {
                let mut out = String::with_capacity(value.len());
                write_sorted_json(&doc, &mut out);
                out
            }
            Err(_) => value.to_string(),
        },
        _ => value.to_string(),
    }
}

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

/// `HH:MM:SS[.f]±HH[:MM[:SS]]` split before the zone offset (empty when there is none).
fn split_zone(v: &str) -> (&str, &str) {
    match v.get(1..).and_then(|rest| rest.find(['+', '-'])) {
        Some(i) => v.split_at(i + 1),
        None => (v, ""),
    }
}

/// A decimal number, with or without an exponent, as a plain decimal without redundant
/// zeros; `None` for anything else (`NaN`, `Infinity`) or an absurd exponent.
fn plain_number(v: &str) -> Option<String> {
    let (negative, unsigned) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
        || exponent.abs() > 10_000
    {
        return None;
    }
    // All the digits, and where the decimal point falls among them.
    let digits = format!("{whole}{frac}");
    let point = i64::try_from(whole.len()).ok()? + exponent;
    let (int_part, frac_part) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(usize::try_from(-point).ok()?)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (i, f) = digits.split_at(point as usize);
        (i.to_string(), f.to_string())
    };
    let int_part = int_part.trim_start_matches('0');
    let frac_part = frac_part.trim_end_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let body = if frac_part.is_empty() {
        int_part.to_string()
    } else {
        format!("{int_part}.{frac_part}")
    };
    Some(if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    })
}

/// Writes a JSON value with every object's keys in sorted order, whatever `serde_json`'s
/// map keeps (insertion order under its `preserve_order` feature), and integral numbers
/// spelt as integers, in compact form. Written straight from the parsed value (keys
/// sorted by reference), not rebuilt as a new value first: verify canonicalises every
/// document of both sides this way.
fn write_sorted_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    use std::fmt::Write;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_sorted_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted_json(v, out);
            }
            out.push(']');
        }
        // `1.0` and `1` are one JSON number (PostgreSQL's jsonb keeps `1.0`, MariaDB may
        // print `1`): a float with no fraction within f64's exact integers is an integer.
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                let _ = write!(out, "{}", f as i64);
            }
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => write_json_string(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

/// A JSON string literal, escaped as `serde_json` escapes it.
fn write_json_string(s: &str, out: &mut String) {
    // serde_json escapes only quotes, backslashes and control characters.
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        // Serialising a `str` cannot fail; keep the text rather than lose it.
        Err(_) => out.push_str(s),
    }
}

/// A canonical `timetz` (`23:59:59.000000+05:30`) as the UTC time of day
/// (`18:29:59.000000`): what a destination without zoned times stores, in the same way
/// a `timestamptz` is written in UTC. `None` when the text is not a zoned time.
pub fn timetz_to_utc(v: &str) -> Option<String> {
    let (time, zone) = split_zone(v);
    let sign = match zone.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let mut hms = time.splitn(3, ':');
    let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
    let (s, frac) = s.split_once('.').unwrap_or((s, ""));
    let micros_frac: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    let seconds =
        h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60 + s.parse::<i64>().ok()?;
    let mut zone_parts = zone[1..].split(':');
    let mut offset = 0;
    for unit in [3600, 60, 1] {
        if let Some(p) = zone_parts.next() {
            offset += p.parse::<i64>().ok()? * unit;
        }
    }
    let utc = (seconds - sign * offset).rem_euclid(86_400);
    Some(format!(
        "{:02}:{:02}:{:02}.{micros_frac:06}",
        utc / 3600,
        utc / 60 % 60,
        utc % 60
    ))
}

/// The bytes a hex string (any case) stands for; `None` if it is not hex.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A bit string (`101010101010`) as the bytes MySQL stores for `BIT(n)`: big-endian,
/// right-aligned in whole bytes (`0aaa`), in hex; the empty string is no bytes.
pub fn bits_to_hex(bits: &str) -> Option<String> {
    if !bits.chars().all(|c| c == '0' || c == '1') {
        return None;
    }
    let bytes = bits.len().div_ceil(8);
    let padded = format!("{bits:0>width$}", width = bytes * 8);
    (0..bytes)
        .map(|i| {
            u8::from_str_radix(&padded[i * 8..i * 8 + 8], 2)
                .ok()
                .map(|b| format!("{b:02x}"))
        })
        .collect()
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

/// Whether MySQL canonical date or date-time text is a "zero date": `0000-00-00`, or a
/// zero month or day (`2020-00-15`), which MySQL may store and no other engine can.
pub fn is_zero_date(v: &str) -> bool {
    v.len() >= 10 && (v.get(5..7) == Some("00") || v.get(8..10) == Some("00"))
}

/// A value in PostgreSQL's COPY text format: backslash, tab, newline and carriage
/// return escaped; NULL as `\N`. Runs without those bytes are copied whole (they are
/// ASCII, so a run never splits a UTF-8 character): this runs once per value loaded.
pub fn copy_escape(value: Option<&str>, out: &mut String) {
    let Some(v) = value else {
        out.push_str("\\N");
        return;
    };
    let mut start = 0;
    for (i, b) in v.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        out.push_str(&v[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&v[start..]);
}

/// One value of [`copy_escape`]'s text back: `\N` is NULL, the escapes are undone.
pub fn copy_unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    if !field.contains('\\') {
        return Some(field.to_string());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_unescapes_to_what_was_escaped() {
        for v in [
            Some("a\tb\nc\\d\re"),
            None,
            Some("\\N"),
            Some(""),
            Some("plain ✓"),
        ] {
            let mut text = String::new();
            copy_escape(v, &mut text);
            assert_eq!(copy_unescape(&text).as_deref(), v, "{text}");
        }
    }

    #[test]
    fn zero_dates_are_any_zero_month_or_day() {
        for zero in [
            "0000-00-00",
            "0000-00-00 00:00:00.000000",
            "2020-00-15",
            "2020-05-00 10:00:00",
        ] {
            assert!(is_zero_date(zero), "{zero}");
        }
        for date in [
            "2020-01-01",
            "0000-01-01",
            "2020-10-10 00:00:00.000000",
            "10:00",
            "",
        ] {
            assert!(!is_zero_date(date), "{date}");
        }
    }

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
    fn canonical_json_sorts_keys_and_escapes_as_serde_json_does() {
        assert_eq!(
            comparable(
                Family::Json,
                r#"{"b": "x\"y", "a": [1.0, "\u0001", "é/"], "c": null}"#
            ),
            r#"{"a":[1,"\u0001","é/"],"b":"x\"y","c":null}"#
        );
        assert_eq!(
            comparable(Family::Json, r#"{"z": {"y": true, "x": 2.5}}"#),
            r#"{"z":{"x":2.5,"y":true}}"#
        );
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
        assert_eq!(
            comparable(Family::TimeTz, "23:59:59.500000+05:30"),
            "23:59:59.5+05:30"
        );
        assert_eq!(
            comparable(Family::TimeTz, "00:00:00.000000-12"),
            "00:00:00-12"
        );
    }

    #[test]
    fn numbers_compare_as_plain_decimals_whatever_the_notation() {
        for (a, b) in [
            ("-1.0e-10", "-0.0000000001"),
            ("-0.00000000010", "-0.0000000001"),
            ("1.0e+20", "100000000000000000000"),
            ("1.84467440737096e+19", "18446744073709600000"),
            ("100.0", "100"),
            ("0.0", "0"),
            ("-0", "0"),
            ("+7", "7"),
            ("007.50", "7.5"),
            ("5e-3", "0.005"),
            (
                "1234567890123456789012345678.0123456789",
                "1234567890123456789012345678.0123456789",
            ),
        ] {
            assert_eq!(comparable(Family::Number, a), b, "{a}");
        }
        assert_eq!(comparable(Family::Number, "NaN"), "NaN");
        assert_eq!(comparable(Family::Number, "-Infinity"), "-Infinity");
        assert_ne!(
            comparable(Family::Number, "1e-10"),
            comparable(Family::Number, "1e-11")
        );
    }

    #[test]
    fn json_compares_parsed_with_sorted_keys() {
        let pg_jsonb = r#"{"zoo": {"hours": {"to": "18:00", "from": "09:00"}, "open": true}}"#;
        let written = r#"{"zoo":{"open":true,"hours":{"from":"09:00","to":"18:00"}}}"#;
        assert_eq!(
            comparable(Family::Json, pg_jsonb),
            comparable(Family::Json, written)
        );
        assert_eq!(
            comparable(Family::Json, written),
            r#"{"zoo":{"hours":{"from":"09:00","to":"18:00"},"open":true}}"#
        );
        // Arrays are canonical JSON too, and element order is meaning, not noise.
        assert_eq!(comparable(Family::Array, "[1, 2, 3]"), "[1,2,3]");
        assert_ne!(
            comparable(Family::Array, "[1,2,3]"),
            comparable(Family::Array, "[3,2,1]")
        );
        assert_ne!(
            comparable(Family::Json, r#"{"a":1}"#),
            comparable(Family::Json, r#"{"a":2}"#)
        );
        assert_eq!(comparable(Family::Json, "not json"), "not json");
    }

    #[test]
    fn zoned_times_become_utc_times_of_day() {
        assert_eq!(
            timetz_to_utc("23:59:59.000000+05:30").as_deref(),
            Some("18:29:59.000000")
        );
        assert_eq!(
            timetz_to_utc("00:00:00.000000-12").as_deref(),
            Some("12:00:00.000000")
        );
        assert_eq!(
            timetz_to_utc("01:00:00.123456+02").as_deref(),
            Some("23:00:00.123456")
        );
        assert_eq!(
            timetz_to_utc("13:45:30.5+00").as_deref(),
            Some("13:45:30.500000")
        );
        assert_eq!(timetz_to_utc("13:45:30"), None);
    }

    #[test]
    fn bits_pack_like_mysql_bit_columns() {
        assert_eq!(bits_to_hex("101010101010").as_deref(), Some("0aaa"));
        assert_eq!(bits_to_hex("1010").as_deref(), Some("0a"));
        assert_eq!(bits_to_hex("11111111").as_deref(), Some("ff"));
        assert_eq!(bits_to_hex("").as_deref(), Some(""));
        assert_eq!(bits_to_hex("12"), None);
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
        out.clear();
        copy_escape(Some("é\r\\ñ€\t"), &mut out);
        assert_eq!(out, "é\\r\\\\ñ€\\t");
    }
}
