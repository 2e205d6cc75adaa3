//! Pure helpers of the MySQL/MariaDB reader: native type -> neutral type, enum/set
//! labels, and column default classification. No database is needed to test them.

use crate::model::{DefaultValue, NeutralType};
use sea_schema::mysql::def::Type as SeaType;

/// What the catalog (`information_schema.COLUMNS`) says about a column's type, next to
/// the [`SeaType`] sea-schema parsed from its `COLUMN_TYPE`.
#[derive(Debug, Clone, Copy)]
pub(super) struct NativeType<'a> {
    /// `DATA_TYPE`, e.g. `int`, `longtext`, `inet6`.
    pub data_type: &'a str,
    /// `DATETIME_PRECISION`: the fractional-second digits of temporal types.
    pub datetime_precision: Option<u32>,
    /// MariaDB JSON: a `longtext` carrying a column-level `json_valid(col)` check.
    pub json: bool,
}

/// The neutral type of a column. `enum_name` is the name `enum`/`set` types refer to
/// (their labels go into the schema's `enums` map under it).
pub(super) fn neutral_type(sea: &SeaType, native: &NativeType<'_>, enum_name: &str) -> NeutralType {
    use NeutralType as N;
    if native.json {
        return N::Json;
    }
    // MariaDB reports `time`, `datetime` and `timestamp` without digits as precision 0.
    let fsp = |fractional: Option<u32>| Some(native.datetime_precision.or(fractional).unwrap_or(0));
    let int = |bits: u8, unsigned: Option<bool>| N::Int {
        bits,
        unsigned: unsigned.unwrap_or(false),
    };
    match sea {
        SeaType::Bool => N::Bool,
        SeaType::TinyInt(a) if a.maximum == Some(1) && a.unsigned != Some(true) => N::Bool,
        SeaType::TinyInt(a) => int(8, a.unsigned),
        SeaType::SmallInt(a) => int(16, a.unsigned),
        SeaType::MediumInt(a) => int(24, a.unsigned),
        SeaType::Int(a) => int(32, a.unsigned),
        SeaType::BigInt(a) => int(64, a.unsigned),
        SeaType::Serial => int(64, Some(true)),
        // MySQL's DECIMAL(M) is DECIMAL(M,0); the catalog always spells both anyway.
        SeaType::Decimal(a) => N::Decimal {
            precision: a.maximum,
            scale: a.maximum.map(|_| a.decimal.unwrap_or(0)),
        },
        SeaType::Float(_) => N::Float { bits: 32 },
        SeaType::Double(_) => N::Float { bits: 64 },
        SeaType::Bit(a) => N::Bit {
            length: Some(a.maximum.unwrap_or(1)),
            varying: false,
        },
        SeaType::Char(s) | SeaType::NChar(s) => N::Char { length: s.length },
        SeaType::Varchar(s) | SeaType::NVarchar(s) => N::Varchar { length: s.length },
        SeaType::Text(_) | SeaType::TinyText(_) | SeaType::MediumText(_) | SeaType::LongText(_) => {
            N::Text
        }
        SeaType::Binary(s) => N::Binary {
            length: s.length,
            fixed: true,
        },
        SeaType::Varbinary(s) => N::Binary {
            length: s.length,
            fixed: false,
        },
        SeaType::Blob(_) | SeaType::TinyBlob | SeaType::MediumBlob | SeaType::LongBlob => {
            N::Binary {
                length: None,
                fixed: false,
            }
        }
        SeaType::Date => N::Date,
        SeaType::Time(t) => N::Time {
            precision: fsp(t.fractional),
        },
        SeaType::DateTime(t) => N::Timestamp {
            precision: fsp(t.fractional),
        },
        SeaType::Timestamp(t) => N::TimestampTz {
            precision: fsp(t.fractional),
        },
        SeaType::Year => int(16, None),
        SeaType::Enum(_) => N::Enum {
            name: enum_name.to_string(),
        },
        SeaType::Set(_) => N::Set {
            name: enum_name.to_string(),
        },
        SeaType::Json => N::Json,
        SeaType::Geometry(_)
        | SeaType::Point(_)
        | SeaType::LineString(_)
        | SeaType::Polygon(_)
        | SeaType::MultiPoint(_)
        | SeaType::MultiLineString(_)
        | SeaType::MultiPolygon(_)
        | SeaType::GeometryCollection(_)
        | SeaType::Unknown(_) => from_data_type(native.data_type),
    }
}

/// The types sea-schema 0.18 does not know (it says `Unknown`), by `DATA_TYPE`.
fn from_data_type(data_type: &str) -> NeutralType {
    let data_type = crate::inspect::norm(data_type);
    match data_type.as_str() {
        "uuid" => NeutralType::Uuid,
        "inet4" | "inet6" => NeutralType::Inet,
        "json" => NeutralType::Json,
        _ => NeutralType::Other { native: data_type },
    }
}

/// True for the column-level check MariaDB adds to a `JSON` column (which it stores as
/// `longtext`): exactly `json_valid(`column`)`.
pub(super) fn is_json_valid_check(clause: &str, column: &str) -> bool {
    // Drop whitespace outside backtick-quoted names (a name may contain spaces).
    let mut quoted_name = false;
    let squeezed: String = clause
        .chars()
        .filter(|&c| {
            if c == '`' {
                quoted_name = !quoted_name;
            }
            quoted_name || c == '`' || !c.is_whitespace()
        })
        .collect();
    let quoted = crate::engine::mysql::quote_ident(column);
    let squeezed = squeezed
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(&squeezed);
    // `get` rather than indexing: a byte offset may fall inside a non-ASCII character.
    let prefix = "json_valid(";
    squeezed
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        && squeezed
            .get(prefix.len()..)
            .and_then(|rest| rest.strip_suffix(')'))
            == Some(quoted.as_str())
}

/// The labels of an `enum('a','b')` or `set('x','y')` column type, unquoted and
/// unescaped, in declared order; `None` if the text is not such a list.
pub(super) fn parse_labels(column_type: &str) -> Option<Vec<String>> {
    let open = column_type.find('(')?;
    let mut chars = column_type[open + 1..].chars().peekable();
    let mut labels = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next()? != '\'' {
            return None;
        }
        let mut label = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.next_if_eq(&'\'').is_some() => label.push('\''),
                '\'' => break,
                '\\' => unescape_into(&mut label, chars.next()?),
                c => label.push(c),
            }
        }
        labels.push(label);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next()? {
            ',' => continue,
            ')' => return Some(labels),
            _ => return None,
        }
    }
}

/// MySQL string-literal backslash escapes (`\%` and `\_` keep their backslash).
fn unescape_into(out: &mut String, escaped: char) {
    match escaped {
        '0' => out.push('\0'),
        'b' => out.push('\x08'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'Z' => out.push('\x1a'),
        '%' | '_' => {
            out.push('\\');
            out.push(escaped);
        }
        c => out.push(c),
    }
}

/// The content of a single-quoted SQL string literal, or `None` if `text` is not exactly one.
fn unquote(text: &str) -> Option<String> {
    let body = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => match chars.next() {
                Some('\'') => out.push('\''),
                _ => return None,
            },
            '\\' => unescape_into(&mut out, chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

/// A plain decimal or scientific numeric literal, as MySQL prints defaults.
fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// `current_timestamp()`, `now(6)`, `curdate()`, `CURRENT_TIME`... as a neutral default.
fn time_function(text: &str) -> Option<DefaultValue> {
    let lower = text.trim().to_ascii_lowercase();
    let (name, parens) = match lower.split_once('(') {
        Some((name, rest)) => {
            let arg = rest.strip_suffix(')')?.trim();
            if !arg.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (name.trim(), true)
        }
        None => (lower.as_str(), false),
    };
    match name {
        "current_timestamp" | "localtimestamp" | "localtime" => {
            Some(DefaultValue::CurrentTimestamp)
        }
        "now" if parens => Some(DefaultValue::CurrentTimestamp),
        "current_date" => Some(DefaultValue::CurrentDate),
        "curdate" if parens => Some(DefaultValue::CurrentDate),
        "current_time" => Some(DefaultValue::CurrentTime),
        "curtime" if parens => Some(DefaultValue::CurrentTime),
        _ => None,
    }
}

/// Classifies `information_schema.COLUMNS.COLUMN_DEFAULT`.
///
/// MariaDB (10.2.7+) prints defaults as SQL: string literals quoted (`'abc'`), `NULL` for
/// a NULL default, expressions as text. MySQL prints literals bare and marks expression
/// defaults with `DEFAULT_GENERATED` in `EXTRA`.
pub(super) fn classify_default(
    raw: Option<&str>,
    nullable: bool,
    ty: &NeutralType,
    mariadb: bool,
    extra: &str,
) -> Option<DefaultValue> {
    let raw = raw?;
    let bool_or_number = |text: &str| match (ty, text) {
        (NeutralType::Bool, "0") => DefaultValue::Bool(false),
        (NeutralType::Bool, "1") => DefaultValue::Bool(true),
        _ => DefaultValue::Number(text.to_string()),
    };
    if mariadb {
        let text = raw.trim();
        if text.eq_ignore_ascii_case("null") {
            return (!nullable).then_some(DefaultValue::Null);
        }
        if let Some(s) = unquote(text) {
            return Some(DefaultValue::String(s));
        }
        if is_number(text) {
            return Some(bool_or_number(text));
        }
        return Some(
            time_function(text).unwrap_or_else(|| DefaultValue::Expression(text.to_string())),
        );
    }
    let expression = extra.to_ascii_uppercase().contains("DEFAULT_GENERATED");
    if expression {
        if raw.trim().eq_ignore_ascii_case("null") {
            return (!nullable).then_some(DefaultValue::Null);
        }
        return Some(
            time_function(raw).unwrap_or_else(|| DefaultValue::Expression(raw.to_string())),
        );
    }
    if let Some(now) = time_function(raw) {
        return Some(now);
    }
    let numeric = matches!(
        ty,
        NeutralType::Bool
            | NeutralType::Int { .. }
            | NeutralType::Decimal { .. }
            | NeutralType::Float { .. }
    );
    if numeric && is_number(raw.trim()) {
        return Some(bool_or_number(raw.trim()));
    }
    if matches!(ty, NeutralType::Bit { .. }) {
        return Some(DefaultValue::Expression(raw.to_string()));
    }
    Some(DefaultValue::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_schema::mysql::def::SystemInfo;
    use sea_schema::mysql::query::ColumnQueryResult;

    /// Maps a `COLUMN_TYPE` the way introspection does: sea-schema parses, then we map.
    fn map(column_type: &str, data_type: &str, precision: Option<u32>) -> String {
        let sea = ColumnQueryResult {
            column_type: column_type.to_string(),
            ..Default::default()
        }
        .parse(&SystemInfo::default())
        .col_type;
        let native = NativeType {
            data_type,
            datetime_precision: precision,
            json: false,
        };
        neutral_type(&sea, &native, "t_c").to_string()
    }

    #[test]
    fn maps_mariadb_column_types() {
        let cases = [
            ("tinyint(1)", "tinyint", None, "bool"),
            ("tinyint(4)", "tinyint", None, "int8"),
            ("tinyint(3) unsigned", "tinyint", None, "uint8"),
            ("tinyint(1) unsigned", "tinyint", None, "uint8"),
            ("smallint(5) unsigned", "smallint", None, "uint16"),
            ("mediumint(9)", "mediumint", None, "int24"),
            ("int(11)", "int", None, "int32"),
            ("int(10) unsigned zerofill", "int", None, "uint32"),
            ("bigint(20) unsigned", "bigint", None, "uint64"),
            ("decimal(20,6)", "decimal", None, "decimal(20,6)"),
            ("decimal(10,0)", "decimal", None, "decimal(10,0)"),
            ("float", "float", None, "float32"),
            ("double", "double", None, "float64"),
            ("bit(12)", "bit", None, "bit(12)"),
            ("char(3)", "char", None, "char(3)"),
            ("varchar(191)", "varchar", None, "varchar(191)"),
            ("mediumtext", "mediumtext", None, "text"),
            ("binary(16)", "binary", None, "binary(16)"),
            ("varbinary(64)", "varbinary", None, "bytes(64)"),
            ("longblob", "longblob", None, "bytes"),
            ("date", "date", None, "date"),
            ("time", "time", Some(0), "time(0)"),
            ("time(3)", "time", Some(3), "time(3)"),
            ("datetime", "datetime", Some(0), "timestamp(0)"),
            ("datetime(6)", "datetime", Some(6), "timestamp(6)"),
            ("timestamp", "timestamp", None, "timestamptz(0)"),
            ("timestamp(6)", "timestamp", Some(6), "timestamptz(6)"),
            ("year(4)", "year", None, "int16"),
            ("enum('a','b')", "enum", None, "enum(t_c)"),
            ("set('x','y')", "set", None, "set(t_c)"),
            ("json", "json", None, "json"),
            ("uuid", "uuid", None, "uuid"),
            ("inet4", "inet4", None, "inet"),
            ("inet6", "inet6", None, "inet"),
            ("geometry", "geometry", None, "other(geometry)"),
            ("point", "point", None, "other(point)"),
            ("vector(3)", "VECTOR", None, "other(vector)"),
        ];
        for (column_type, data_type, precision, want) in cases {
            assert_eq!(
                map(column_type, data_type, precision),
                want,
                "{column_type}"
            );
        }
    }

    #[test]
    fn mariadb_json_is_longtext_plus_check() {
        let sea = SeaType::LongText(Default::default());
        let native = NativeType {
            data_type: "longtext",
            datetime_precision: None,
            json: true,
        };
        assert_eq!(neutral_type(&sea, &native, "x").to_string(), "json");
        assert!(is_json_valid_check("json_valid(`c_json`)", "c_json"));
        assert!(is_json_valid_check("JSON_VALID( `c_json` )", "c_json"));
        assert!(is_json_valid_check("json_valid(`a``b`)", "a`b"));
        assert!(is_json_valid_check("json_valid(`Çol ``x`)", "Çol `x"));
        assert!(!is_json_valid_check("json_valid(`Çol``x`)", "Çol `x"));
        assert!(!is_json_valid_check("json_valid(`other`)", "c_json"));
        assert!(!is_json_valid_check("json_valid(`c_json`) and 1", "c_json"));
        assert!(!is_json_valid_check("`c_int` >= 0", "c_json"));
    }

    /// Regression: a CHECK with non-ASCII text around byte 11 panicked (char boundary).
    #[test]
    fn json_valid_check_with_non_ascii_text_does_not_panic() {
        assert!(!is_json_valid_check("(`note` <> 'xéééééé')", "note"));
        assert!(!is_json_valid_check("json_valiéé", "note"));
        assert!(is_json_valid_check("json_valid(`note`)", "note"));
    }

    #[test]
    fn parses_enum_labels() {
        let labels = |s: &str| parse_labels(s).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(labels("enum('a','b')"), ["a", "b"]);
        assert_eq!(labels("set('x','y')"), ["x", "y"]);
        assert_eq!(
            labels("enum('it''s','a,b','','x\\\\y')"),
            ["it's", "a,b", "", "x\\y"]
        );
        assert_eq!(labels("enum('(',')', ' spaced ')"), ["(", ")", " spaced "]);
        assert_eq!(labels("enum('Zoë','東京')"), ["Zoë", "東京"]);
        assert_eq!(parse_labels("enum('a'"), None);
        assert_eq!(parse_labels("int(11)"), None);
        assert_eq!(parse_labels("enum"), None);
    }

    #[test]
    fn classifies_mariadb_defaults() {
        let int = NeutralType::Int {
            bits: 32,
            unsigned: false,
        };
        let d = |raw: &str, ty: &NeutralType| classify_default(Some(raw), true, ty, true, "");
        use DefaultValue as D;
        assert_eq!(classify_default(None, false, &int, true, ""), None);
        assert_eq!(d("NULL", &int), None);
        assert_eq!(
            classify_default(Some("NULL"), false, &int, true, ""),
            Some(D::Null)
        );
        assert_eq!(d("0", &NeutralType::Bool), Some(D::Bool(false)));
        assert_eq!(d("1", &NeutralType::Bool), Some(D::Bool(true)));
        assert_eq!(d("0", &int), Some(D::Number("0".into())));
        assert_eq!(d("-3", &int), Some(D::Number("-3".into())));
        assert_eq!(d("1.50", &int), Some(D::Number("1.50".into())));
        assert_eq!(d("1e10", &int), Some(D::Number("1e10".into())));
        assert_eq!(d("''", &NeutralType::Text), Some(D::String(String::new())));
        assert_eq!(
            d("'abc'", &NeutralType::Text),
            Some(D::String("abc".into()))
        );
        assert_eq!(
            d("'it''s'", &NeutralType::Text),
            Some(D::String("it's".into()))
        );
        assert_eq!(
            d("'a\\\\b'", &NeutralType::Text),
            Some(D::String("a\\b".into()))
        );
        assert_eq!(
            d("'NULL'", &NeutralType::Text),
            Some(D::String("NULL".into()))
        );
        assert_eq!(
            d("'2024-01-01'", &NeutralType::Date),
            Some(D::String("2024-01-01".into()))
        );
        assert_eq!(d("current_timestamp()", &int), Some(D::CurrentTimestamp));
        assert_eq!(d("current_timestamp(3)", &int), Some(D::CurrentTimestamp));
        assert_eq!(d("CURRENT_TIMESTAMP", &int), Some(D::CurrentTimestamp));
        assert_eq!(d("now()", &int), Some(D::CurrentTimestamp));
        assert_eq!(d("curdate()", &int), Some(D::CurrentDate));
        assert_eq!(d("curtime()", &int), Some(D::CurrentTime));
        assert_eq!(d("b'101'", &int), Some(D::Expression("b'101'".into())));
        assert_eq!(d("(1 + 2)", &int), Some(D::Expression("(1 + 2)".into())));
        assert_eq!(d("uuid()", &int), Some(D::Expression("uuid()".into())));
        assert_eq!(
            d("'a' 'b'", &NeutralType::Text),
            Some(D::Expression("'a' 'b'".into()))
        );
    }

    #[test]
    fn classifies_mysql_defaults() {
        use DefaultValue as D;
        let int = NeutralType::Int {
            bits: 32,
            unsigned: false,
        };
        let d = |raw: &str, ty: &NeutralType, extra: &str| {
            classify_default(Some(raw), true, ty, false, extra)
        };
        assert_eq!(
            d("abc", &NeutralType::Text, ""),
            Some(D::String("abc".into()))
        );
        assert_eq!(
            d("12", &NeutralType::Text, ""),
            Some(D::String("12".into()))
        );
        assert_eq!(d("12", &int, ""), Some(D::Number("12".into())));
        assert_eq!(d("1", &NeutralType::Bool, ""), Some(D::Bool(true)));
        assert_eq!(
            d("CURRENT_TIMESTAMP", &int, "DEFAULT_GENERATED"),
            Some(D::CurrentTimestamp)
        );
        assert_eq!(
            d(
                "CURRENT_TIMESTAMP(6)",
                &int,
                "DEFAULT_GENERATED on update CURRENT_TIMESTAMP(6)"
            ),
            Some(D::CurrentTimestamp)
        );
        assert_eq!(
            d("(rand() * 10)", &int, "DEFAULT_GENERATED"),
            Some(D::Expression("(rand() * 10)".into()))
        );
        assert_eq!(
            d(
                "b'101'",
                &NeutralType::Bit {
                    length: Some(4),
                    varying: false
                },
                ""
            ),
            Some(D::Expression("b'101'".into()))
        );
    }

    #[test]
    fn recognises_numbers() {
        for yes in ["0", "-3", "+4", "1.50", ".5", "5.", "1e10", "1.5E-3"] {
            assert!(is_number(yes), "{yes}");
        }
        for no in ["", "-", ".", "e5", "1e", "0x1F", "1,5", "'1'", "b'1'"] {
            assert!(!is_number(no), "{no}");
        }
    }
}
