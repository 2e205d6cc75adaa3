//! A binlog row value, as mysql_common decodes it, in the canonical text that
//! `rows::read` selects for the same column (`engine/mysql/read.rs`, docs/types.md):
//! what a copy of the row would read, so `verify` is clean after sync.
//!
//! The binlog holds values in the server's storage form, not as text: integers with their
//! signedness from the table map's metadata, floats as IEEE values, decimals and temporal
//! types packed, `TIMESTAMP` as Unix seconds, `ENUM` as a label number and `SET` as a bit
//! mask (labels from the table map's metadata, `binlog_row_metadata=FULL`), `BIT` as
//! big-endian bytes, strings in their column's character set, and fixed-length binary
//! values (`BINARY(n)`, `UUID`, `INET4`/`INET6`) without their trailing zero bytes.

// Matches here are over binlog values and value families, never over the engine.
#![expect(
    clippy::wildcard_enum_match_arm,
    reason = "defaults over binlog values and types, not over the engine"
)]

use crate::rows::values::Family;
use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;
use seaway_codegen::model::{Column, NeutralType};

/// What the table map says of a column beyond its type: its `ENUM` or `SET` labels, in
/// definition order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(pub Vec<String>);

/// `value` of column `col` as canonical text (`None`: NULL). `charset` is the character
/// set of a string column (`utf8mb4`, `latin1`, ...), from the row's collation id.
/// `n` in decimal, zero-padded to `width` digits, appended to `out`: what
/// `format!("{n:0width$}")` prints, without the formatting machinery (a date-time per row
/// image is sync's most frequent value; `format!` was a tenth of MariaDB capture's work).
fn padded_into(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = at.min(digits.len().saturating_sub(width));
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// `YYYY-MM-DD`, appended to `out`.
fn date_into(out: &mut String, y: u16, m: u8, d: u8) {
    padded_into(out, u64::from(y), 4);
    out.push('-');
    padded_into(out, u64::from(m), 2);
    out.push('-');
    padded_into(out, u64::from(d), 2);
}

pub fn canonical(
    col: &Column,
    labels: &Labels,
    charset: Option<&str>,
    value: &BinlogValue<'_>,
) -> Result<Option<String>, String> {
    let value = match value {
        BinlogValue::Value(Value::NULL) => return Ok(None),
        BinlogValue::Value(v) => v,
        // MySQL's binary JSON; MariaDB's JSON is text (a LONGTEXT column).
        BinlogValue::Jsonb(doc) => {
            let json = serde_json::Value::try_from(doc.clone())
                .map_err(|e| format!("an undecodable JSON document: {e}"))?;
            return Ok(Some(json.to_string()));
        }
        BinlogValue::JsonDiff(_) => {
            return Err("a partial JSON update (binlog_row_value_options = PARTIAL_JSON); sync needs whole JSON documents: SET GLOBAL binlog_row_value_options = ''".into());
        }
    };
    let unexpected = || format!("an unexpected binlog value {value:?} for type {}", col.ty);
    let text = match Family::of(&col.ty) {
        Family::Bool => match value {
            Value::Int(i) => bool_text(*i != 0),
            Value::UInt(u) => bool_text(*u != 0),
            _ => return Err(unexpected()),
        },
        Family::Number => match value {
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            // FLOAT is read as DOUBLE (`CAST(CAST(c AS DOUBLE) AS CHAR)`): the float's
            // exact value, printed as the shortest double that reads back to it.
            Value::Float(f) => float_text(f64::from(*f)),
            Value::Double(d) => float_text(*d),
            // DECIMAL (and YEAR) arrive as text.
            Value::Bytes(b) => number_text(col, &utf8(b)?),
            _ => return Err(unexpected()),
        },
        Family::Bytes | Family::Other => match value {
            Value::Bytes(b) => hex(&padded(b, fixed_length(col))),
            _ => return Err(unexpected()),
        },
        Family::Date => match value {
            Value::Date(y, m, d, ..) => {
                let mut out = String::with_capacity(10);
                date_into(&mut out, *y, *m, *d);
                out
            }
            _ => return Err(unexpected()),
        },
        Family::Time => match value {
            Value::Time(negative, days, h, m, s, us) => {
                let hours = u64::from(*days) * 24 + u64::from(*h);
                let sign = if *negative { "-" } else { "" };
                format!("{sign}{hours:02}:{m:02}:{s:02}.{us:06}")
            }
            _ => return Err(unexpected()),
        },
        Family::Timestamp => match value {
            Value::Date(y, mo, d, h, mi, s, us) => {
                let mut out = String::with_capacity(26);
                date_into(&mut out, *y, *mo, *d);
                out.push(' ');
                padded_into(&mut out, u64::from(*h), 2);
                out.push(':');
                padded_into(&mut out, u64::from(*mi), 2);
                out.push(':');
                padded_into(&mut out, u64::from(*s), 2);
                out.push('.');
                padded_into(&mut out, u64::from(*us), 6);
                out
            }
            _ => return Err(unexpected()),
        },
        // MySQL's TIMESTAMP is an instant: Unix seconds (and microseconds), read by seaway's
        // sessions in UTC.
        Family::TimestampTz => match value {
            Value::Int(seconds) => utc(*seconds, 0),
            Value::Bytes(b) => {
                let text = utf8(b)?;
                let (seconds, micros) = text.split_once('.').unwrap_or((&text, "0"));
                let seconds: i64 = seconds.parse().map_err(|_| unexpected())?;
                let micros: u32 = micros.parse().map_err(|_| unexpected())?;
                utc(seconds, micros)
            }
            _ => return Err(unexpected()),
        },
        Family::Json => match value {
            Value::Bytes(b) => text(b, charset)?,
            _ => return Err(unexpected()),
        },
        Family::Set => match value {
            Value::Bytes(mask) => set_text(mask, labels)?,
            _ => return Err(unexpected()),
        },
        Family::Bit => match value {
            Value::Bytes(b) => bit_text(b, bit_width(col)),
            _ => return Err(unexpected()),
        },
        Family::Text => match (&col.ty, value) {
            (NeutralType::Enum { .. }, Value::Int(i)) => enum_text(*i, labels)?,
            (NeutralType::Uuid, Value::Bytes(b)) => uuid_text(&padded(b, Some(16)))?,
            (NeutralType::Inet, Value::Bytes(b)) => inet_text(&padded(b, fixed_length(col)))?,
            (_, Value::Bytes(b)) => text(b, charset)?,
            (_, Value::Int(i)) => i.to_string(),
            _ => return Err(unexpected()),
        },
        Family::TimeTz | Family::Array => return Err(unexpected()),
    };
    Ok(Some(text))
}

fn bool_text(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a value that is not UTF-8 text".to_string())
}

/// A float as the shortest text that reads back to it, with an exponent outside
/// 1e-5..1e16 (as MySQL prints doubles).
fn float_text(f: f64) -> String {
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-5..1e16).contains(&magnitude) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

/// A DECIMAL as `CAST(.. AS CHAR)` prints it (mysql_common's text may carry leading
/// zeros in the integer part), or a YEAR (stored 0 is `0000`, which mysql_common gives as
/// 1900, outside YEAR's range).
fn number_text(col: &Column, text: &str) -> String {
    if col.native.to_ascii_lowercase().starts_with("year") {
        return if text == "1900" {
            "0000".into()
        } else {
            text.into()
        };
    }
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let int = match int.trim_start_matches('0') {
        "" => "0",
        rest => rest,
    };
    match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    }
}

/// The byte length of a fixed-length binary column (`binary(n)`, `uuid`, `inet4`,
/// `inet6`), whose trailing zero bytes the binlog leaves out.
fn fixed_length(col: &Column) -> Option<usize> {
    match &col.ty {
        NeutralType::Binary {
            length: Some(n),
            fixed: true,
        } => usize::try_from(*n).ok(),
        NeutralType::Uuid => Some(16),
        NeutralType::Inet if col.native.eq_ignore_ascii_case("inet4") => Some(4),
        NeutralType::Inet => Some(16),
        _ => None,
    }
}

fn padded(b: &[u8], length: Option<usize>) -> Vec<u8> {
    let mut v = b.to_vec();
    if let Some(n) = length
        && v.len() < n
    {
        v.resize(n, 0);
    }
    v
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// Seconds (and microseconds) since the Unix epoch as a UTC date-time; 0 is MySQL's zero
/// TIMESTAMP, which reads as `0000-00-00 00:00:00`.
fn utc(seconds: i64, micros: u32) -> String {
    if seconds == 0 && micros == 0 {
        return "0000-00-00 00:00:00.000000".into();
    }
    let days = seconds.div_euclid(86_400);
    let clock = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}",
        clock / 3600,
        clock % 3600 / 60,
        clock % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A SET's bit mask (little-endian) as its labels joined by commas, in definition order.
fn set_text(mask: &[u8], labels: &Labels) -> Result<String, String> {
    let mut chosen = Vec::new();
    for (i, label) in labels.0.iter().enumerate() {
        if mask
            .get(i / 8)
            .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
        {
            chosen.push(label.as_str());
        }
    }
    if labels.0.is_empty() && mask.iter().any(|b| *b != 0) {
        return Err(
            "a SET value without its labels in the table map (binlog_row_metadata must be FULL)"
                .into(),
        );
    }
    Ok(chosen.join(","))
}

/// An ENUM's label number (1-based; 0 is the empty "error" value) as its label.
fn enum_text(i: i64, labels: &Labels) -> Result<String, String> {
    if i == 0 {
        return Ok(String::new());
    }
    usize::try_from(i - 1)
        .ok()
        .and_then(|k| labels.0.get(k))
        .cloned()
        .ok_or_else(|| format!("ENUM label number {i} is not among the table map's labels (binlog_row_metadata must be FULL)"))
}

/// A BIT value (big-endian bytes) as `width` binary digits, as `LPAD(BIN(c + 0), width,
/// '0')` reads it.
fn bit_text(b: &[u8], width: usize) -> String {
    let mut bits: String = b.iter().map(|byte| format!("{byte:08b}")).collect();
    if bits.len() > width {
        let cut = bits.len() - width;
        // Only leading zeros lie beyond the width.
        if bits[..cut].bytes().all(|c| c == b'0') {
            bits.drain(..cut);
        }
    }
    format!("{bits:0>width$}")
}

fn bit_width(col: &Column) -> usize {
    match col.ty {
        NeutralType::Bit {
            length: Some(n), ..
        } => usize::try_from(n).unwrap_or(1),
        _ => 1,
    }
}

/// MariaDB's UUID, which the binlog holds as its 16 bytes in text order (and a MySQL
/// GTID's server UUID).
pub(super) fn uuid_text(b: &[u8]) -> Result<String, String> {
    if b.len() != 16 {
        return Err(format!("a UUID of {} bytes", b.len()));
    }
    let h = hex(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// MariaDB's INET4 (4 bytes) or INET6 (16 bytes) as its address text.
fn inet_text(b: &[u8]) -> Result<String, String> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Ok(std::net::Ipv4Addr::from(v4).to_string());
    }
    if let Ok(v6) = <[u8; 16]>::try_from(b) {
        return Ok(std::net::Ipv6Addr::from(v6).to_string());
    }
    Err(format!("an address of {} bytes", b.len()))
}

/// A string in its column's character set, as UTF-8. The UTF-8 sets pass as they are;
/// MySQL's `latin1` is Windows-1252. Other sets are refused by name.
fn text(b: &[u8], charset: Option<&str>) -> Result<String, String> {
    match charset.unwrap_or("utf8mb4") {
        "utf8mb4" | "utf8mb3" | "utf8" | "ascii" | "binary" => {
            String::from_utf8(b.to_vec()).map_err(|_| "a value that is not UTF-8 text".into())
        }
        "latin1" => Ok(b.iter().map(|&byte| cp1252(byte)).collect()),
        other => Err(format!(
            "character set `{other}` is not decoded by sync (utf8mb4, utf8mb3, ascii and latin1 are); convert the column to utf8mb4"
        )),
    }
}

/// One Windows-1252 byte (MySQL's `latin1`) as a character.
fn cp1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}',
        '\u{8f}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}',
        '\u{178}',
    ];
    match byte {
        0x80..=0x9f => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_digits_print_as_format_does() {
        for (n, width) in [
            (0, 2),
            (5, 2),
            (59, 2),
            (2024, 4),
            (7, 4),
            (0, 6),
            (123_456, 6),
            (12_345, 2),
        ] {
            let mut out = String::new();
            padded_into(&mut out, n, width);
            assert_eq!(out, format!("{n:0width$}"));
        }
    }

    fn col(ty: NeutralType, native: &str) -> Column {
        Column {
            name: "c".into(),
            ty,
            native: native.into(),
            nullable: true,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: vec![],
        }
    }

    fn v(value: Value) -> BinlogValue<'static> {
        BinlogValue::Value(value)
    }

    fn text_of(c: &Column, value: Value) -> String {
        canonical(c, &Labels::default(), Some("utf8mb4"), &v(value))
            .unwrap()
            .unwrap()
    }

    /// Each value comes out as `engine/mysql/read.rs` reads the same column.
    #[test]
    fn binlog_values_become_canonical_text() {
        let dec = col(
            NeutralType::Decimal {
                precision: Some(12),
                scale: Some(2),
            },
            "decimal(12,2)",
        );
        assert_eq!(
            text_of(&dec, Value::Bytes(b"0000000005.50".to_vec())),
            "5.50"
        );
        assert_eq!(text_of(&dec, Value::Bytes(b"-000.07".to_vec())), "-0.07");
        let year = col(
            NeutralType::Int {
                bits: 16,
                unsigned: false,
            },
            "year",
        );
        assert_eq!(text_of(&year, Value::Bytes(b"1900".to_vec())), "0000");
        let float = col(NeutralType::Float { bits: 32 }, "float");
        assert_eq!(text_of(&float, Value::Float(0.1)), "0.10000000149011612");
        let double = col(NeutralType::Float { bits: 64 }, "double");
        assert_eq!(text_of(&double, Value::Double(1e300)), "1e300");
        assert_eq!(text_of(&double, Value::Double(-2.5)), "-2.5");
        let big = col(
            NeutralType::Int {
                bits: 64,
                unsigned: true,
            },
            "bigint unsigned",
        );
        assert_eq!(text_of(&big, Value::UInt(u64::MAX)), "18446744073709551615");
        let ts = col(
            NeutralType::TimestampTz { precision: Some(6) },
            "timestamp(6)",
        );
        assert_eq!(
            text_of(&ts, Value::Bytes(b"1704164645.500000".to_vec())),
            "2024-01-02 03:04:05.500000"
        );
        assert_eq!(
            text_of(&ts, Value::Bytes(b"0".to_vec())),
            "0000-00-00 00:00:00.000000"
        );
        let time = col(NeutralType::Time { precision: Some(2) }, "time(2)");
        assert_eq!(
            text_of(&time, Value::Time(true, 1, 12, 0, 0, 500_000)),
            "-36:00:00.500000"
        );
        let dt = col(NeutralType::Timestamp { precision: Some(3) }, "datetime(3)");
        assert_eq!(
            text_of(&dt, Value::Date(2024, 1, 2, 3, 4, 5, 123_000)),
            "2024-01-02 03:04:05.123000"
        );
        let bin = col(
            NeutralType::Binary {
                length: Some(4),
                fixed: true,
            },
            "binary(4)",
        );
        assert_eq!(text_of(&bin, Value::Bytes(vec![1])), "01000000");
        let bits = col(
            NeutralType::Bit {
                length: Some(10),
                varying: false,
            },
            "bit(10)",
        );
        assert_eq!(text_of(&bits, Value::Bytes(vec![0, 10])), "0000001010");
        let labels = Labels(vec!["x".into(), "y".into(), "z".into()]);
        let set = col(NeutralType::Set { name: "t_s".into() }, "set('x','y','z')");
        assert_eq!(
            canonical(&set, &labels, None, &v(Value::Bytes(vec![5])))
                .unwrap()
                .unwrap(),
            "x,z"
        );
        let en = col(
            NeutralType::Enum { name: "t_e".into() },
            "enum('x','y','z')",
        );
        assert_eq!(
            canonical(&en, &labels, None, &v(Value::Int(2)))
                .unwrap()
                .unwrap(),
            "y"
        );
        let uuid = col(NeutralType::Uuid, "uuid");
        assert_eq!(
            text_of(&uuid, Value::Bytes(vec![0x12, 0x3e, 0x45, 0x67])),
            "123e4567-0000-0000-0000-000000000000"
        );
        let inet = col(NeutralType::Inet, "inet4");
        assert_eq!(text_of(&inet, Value::Bytes(vec![10, 0, 0, 1])), "10.0.0.1");
        let latin = col(NeutralType::Char { length: Some(3) }, "char(3)");
        assert_eq!(
            canonical(
                &latin,
                &Labels::default(),
                Some("latin1"),
                &v(Value::Bytes(vec![0xe9, 0x80]))
            )
            .unwrap()
            .unwrap(),
            "é€"
        );
        assert_eq!(
            canonical(&latin, &Labels::default(), None, &v(Value::NULL)).unwrap(),
            None
        );
        assert!(
            canonical(
                &latin,
                &Labels::default(),
                Some("sjis"),
                &v(Value::Bytes(vec![0x41]))
            )
            .is_err()
        );
    }
}
