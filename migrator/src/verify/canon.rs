//! The canonical encoding verify compares: every value, read as canonical text on its
//! own side (`rows::read::select_expr`), becomes the one form that two engines
//! holding equal data agree on, chosen by the column's source and destination types.
//! Rows are then hashed in that form, so a checksum never depends on an engine's
//! collation, float printing or JSON spacing. docs/types.md lists the rules.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::rows::values::{self, Family, comparable};
use seaway_codegen::model::{Column, Dialect, NeutralType};
use std::borrow::Cow;

/// How one column's two sides are brought to a comparable form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Same representation on both sides, up to `values::comparable`'s noise (decimal
    /// zeros, fractional-second zeros, hex case, JSON key order and number spelling).
    Same(Family),
    /// IEEE floats: both sides parsed and printed back in the shortest form that reads
    /// back as the same float, at 32 bits when either side is a 32-bit float (the
    /// destination then holds the source rounded to 32 bits).
    Float { bits32: bool },
    /// timetz into a destination without zoned times: the UTC time of day.
    UtcTime,
    /// MySQL SET into an array (PostgreSQL): the labels as a JSON array.
    SetAsArray,
    /// bit strings into bytes (SQLite BLOB): packed big-endian into whole bytes.
    BitsAsBytes,
    /// varbit into bit(n) (MySQL): zero-padded on the left to n bits.
    BitsPadded(usize),
    /// MySQL TIME into an interval: the same duration in microseconds.
    Duration,
}

pub use crate::rows::Side;

impl Rule {
    /// The rule for a source column `src` in `from` written to a destination column `dst`
    /// in `to` (the casts of docs/types.md that change a value's form).
    pub fn of(src: &Column, dst: &Column, from: Dialect, to: Dialect) -> Rule {
        use NeutralType as T;
        if verbatim(src, dst, from, to) {
            return Rule::Same(Family::Text);
        }
        // An engine without typed storage (SQLite's NUMERIC affinity) keeps at most an
        // 8-byte float of a long decimal.
        let into_loose_numeric = !crate::engine::of(to).typed_storage() && from != to;
        match (&src.ty, &dst.ty) {
            (T::Float { bits: 32 }, _) | (_, T::Float { bits: 32 }) => Rule::Float { bits32: true },
            (T::Float { .. }, _) | (_, T::Float { .. }) => Rule::Float { bits32: false },
            (T::TimeTz { .. }, T::Time { .. }) => Rule::UtcTime,
            (T::Time { .. }, T::Interval) => Rule::Duration,
            (T::Set { .. }, T::Array(_)) => Rule::SetAsArray,
            (T::Bit { .. }, T::Binary { .. }) => Rule::BitsAsBytes,
            (
                T::Bit { varying: true, .. },
                T::Bit {
                    varying: false,
                    length: Some(n),
                },
            ) => Rule::BitsPadded(*n as usize),
            (T::Decimal { precision, .. }, T::Decimal { .. })
                if into_loose_numeric && precision.is_none_or(|p| p > 15) =>
            {
                Rule::Float { bits32: false }
            }
            (
                T::Int {
                    bits: 64,
                    unsigned: true,
                },
                T::Decimal { .. },
            ) if into_loose_numeric => Rule::Float { bits32: false },
            _ => Rule::Same(Family::of(&dst.ty)),
        }
    }

    /// The comparable form of one side's canonical text. Text that a rule cannot parse
    /// is kept as it is, so a malformed value still compares unequal to a good one.
    pub fn encode(self, side: Side, v: &str) -> Cow<'_, str> {
        Cow::Owned(match (self, side) {
            // Already comparable as read: no copy (most columns of most tables).
            (
                Rule::Same(
                    Family::Text
                    | Family::Bool
                    | Family::Date
                    | Family::Set
                    | Family::Bit
                    | Family::Other,
                ),
                _,
            ) => return Cow::Borrowed(v),
            (Rule::Same(Family::Number), _) if plain_decimal(v) => return Cow::Borrowed(v),
            (Rule::Same(Family::Time | Family::Timestamp | Family::TimestampTz), _)
                if v.split_once('.')
                    .is_none_or(|(_, f)| !f.is_empty() && !f.ends_with('0')) =>
            {
                return Cow::Borrowed(v);
            }
            (Rule::Same(family), _) => comparable(family, v),
            (Rule::Float { bits32 }, _) => float(v, bits32).unwrap_or_else(|| v.to_string()),
            (Rule::UtcTime, Side::Source) => values::timetz_to_utc(v)
                .map(|t| comparable(Family::Time, &t))
                .unwrap_or_else(|| v.to_string()),
            (Rule::UtcTime, Side::Destination) => comparable(Family::Time, v),
            (Rule::SetAsArray, Side::Source) => {
                comparable(Family::Json, &values::set_to_json_array(v))
            }
            (Rule::SetAsArray, Side::Destination) => comparable(Family::Json, v),
            (Rule::BitsAsBytes, Side::Source) => {
                values::bits_to_hex(v).unwrap_or_else(|| v.to_string())
            }
            (Rule::BitsAsBytes, Side::Destination) => v.to_ascii_lowercase(),
            (Rule::BitsPadded(n), Side::Source) => format!("{v:0>n$}"),
            (Rule::BitsPadded(_), Side::Destination) => v.to_string(),
            (Rule::Duration, _) => duration_micros(v)
                .map(|m| m.to_string())
                .unwrap_or_else(|| v.to_string()),
        })
    }
}

/// Whether equal values of this column already print the same canonical text on both
/// sides (`read::select_expr`), so each database can hash that text itself
/// (`sql_hash.rs`): the rules whose `encode` never changes a value's bytes, plus
/// integers, decimals of one fixed scale on both sides (both engines print every digit
/// of the scale) and times and timestamps (both select lists print six fractional
/// digits). Floats, JSON kept as written, unbounded decimals and every rule that
/// rewrites a value stay with the client. Asked only where both engines hash in SQL (`engine::Hash`).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the comparison rules, not the engine"
)]
pub fn hashable_in_sql(rule: Rule, src: &Column, dst: &Column) -> bool {
    use NeutralType as T;
    match rule {
        Rule::Same(
            Family::Text
            | Family::Bool
            | Family::Date
            | Family::Set
            | Family::Bit
            | Family::Other
            | Family::Bytes
            | Family::Time
            | Family::Timestamp
            | Family::TimestampTz,
        ) => true,
        Rule::Same(Family::Number) => match (&src.ty, &dst.ty) {
            (T::Int { .. }, T::Int { .. }) => true,
            (T::Decimal { scale: Some(a), .. }, T::Decimal { scale: Some(b), .. }) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// Whether both sides print equal values of this column as the same bytes, so the
/// canonical text is already comparable: the same server engine (not SQLite, which
/// stores whatever it is given), the same native type, and a type whose canonical text
/// is a function of the value alone. Not PostgreSQL `json` or MariaDB's JSON (they keep
/// the text as written: key order, spacing), not an unbounded `numeric` (it keeps the
/// scale it was given: `1.50` and `1.5` are equal). Saves parsing every decimal, timestamp and document in same-engine pairs.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the neutral types, not the engine"
)]
fn verbatim(src: &Column, dst: &Column, from: Dialect, to: Dialect) -> bool {
    use NeutralType as T;
    from == to
        && crate::engine::of(from).typed_storage()
        && src.ty == dst.ty
        && src.native.eq_ignore_ascii_case(&dst.native)
        && match &src.ty {
            T::Bool
            | T::Int { .. }
            | T::Float { .. }
            | T::Date
            | T::Time { .. }
            | T::Timestamp { .. }
            | T::TimestampTz { .. }
            | T::Uuid
            | T::Char { .. }
            | T::Varchar { .. }
            | T::Text
            | T::Binary { .. } => true,
            T::Decimal { scale, .. } => scale.is_some(),
            T::Json => src.native.eq_ignore_ascii_case("jsonb"),
            _ => false,
        }
}

/// Whether `v` is already a decimal in `values::comparable`'s form (no exponent, no
/// redundant zeros, no `-0`), so it needs no copy.
fn plain_decimal(v: &str) -> bool {
    let (negative, body) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && (int == "0" || !int.starts_with('0'))
        && frac.is_none_or(|f| digits(f) && !f.ends_with('0'))
        && !(negative && int == "0" && frac.is_none())
}

/// The float rule: parse as a binary64 (rounded to binary32 when `bits32`) and print the
/// shortest decimal that reads back as it, in exponent form (`1.5e0`, `3.4028235e38`);
/// `-0` is `0`, NaN is `NaN`, infinities `inf`/`-inf`. Engines print floats each their
/// own way (PostgreSQL 15 shortest digits, MySQL `%g`-like, SQLite 15-17 digits), but
/// every one prints enough digits to read back the stored value.
fn float(v: &str, bits32: bool) -> Option<String> {
    let t = v.trim();
    let x: f64 = match t {
        "Infinity" | "inf" => f64::INFINITY,
        "-Infinity" | "-inf" => f64::NEG_INFINITY,
        _ => t.parse().ok()?,
    };
    Some(if x.is_nan() {
        "NaN".to_string()
    } else if x == 0.0 {
        "0e0".to_string()
    } else if bits32 {
        format!("{:e}", x as f32)
    } else {
        format!("{x:e}")
    })
}

/// Microseconds in a MySQL TIME (`-838:59:59.000000`) or a PostgreSQL ISO 8601 interval
/// of days and times (`PT-838H-59M-59S`, `P1DT2H`).
fn duration_micros(v: &str) -> Option<i128> {
    // Exact decimal seconds, never through a float.
    fn micros(n: &str, unit: i128) -> Option<i128> {
        let (neg, n) = match n.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, n),
        };
        let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
        if whole.is_empty() && frac.is_empty() {
            return None;
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let frac: i128 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
        let m = (whole * 1_000_000 + frac) * unit;
        Some(if neg { -m } else { m })
    }
    if let Some(iso) = v.strip_prefix('P') {
        let (mut total, mut number, mut in_time) = (0, String::new(), false);
        for c in iso.chars() {
            let unit = match (c, in_time) {
                ('T', false) => {
                    in_time = true;
                    continue;
                }
                ('D', false) => 86_400,
                ('H', true) => 3_600,
                ('M', true) => 60,
                ('S', true) => 1,
                (c, _) if c.is_ascii_digit() || c == '-' || c == '.' => {
                    number.push(c);
                    continue;
                }
                _ => return None,
            };
            total += micros(&number, unit)?;
            number.clear();
        }
        return number.is_empty().then_some(total);
    }
    let (sign, hms) = match v.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, v),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3 {
        return None;
    }
    let mut total = 0;
    for (part, unit) in parts.iter().zip([3_600, 60, 1]) {
        total += micros(part, unit)?;
    }
    Some(sign * total)
}

/// Appends one value of a row's encoding: a NULL marker, or a presence marker, the
/// length and the bytes, so that no two different rows encode alike (`NULL` is not
/// `''`, and `("ab", "c")` is not `("a", "bc")`).
pub fn push_value(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The 128-bit hash of an encoded row (XXH3: fast, and 128 bits make a false "equal"
/// from a colliding sum negligible).
pub fn hash(encoded: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(r: Rule, a: &str, b: &str) -> bool {
        r.encode(Side::Source, a) == r.encode(Side::Destination, b)
    }

    #[test]
    fn the_planted_faults_differ_and_representation_noise_does_not() {
        let num = Rule::Same(Family::Number);
        assert!(same(num, "12.3450", "12.345"));
        assert!(!same(num, "12.3456", "12.3457"));
        let ts = Rule::Same(Family::Timestamp);
        assert!(same(
            ts,
            "2024-01-01 10:00:00.000000",
            "2024-01-01 10:00:00"
        ));
        assert!(!same(ts, "2024-01-01 10:00:00", "2024-01-01 11:00:00"));
        let json = Rule::Same(Family::Json);
        assert!(same(
            json,
            r#"{"a": 1, "b": [1.0, 2]}"#,
            r#"{"b":[1,2],"a":1}"#
        ));
        assert!(!same(json, r#"{"a":1}"#, r#"{"a":"1"}"#));
        let text = Rule::Same(Family::Text);
        assert!(!same(text, "hello", "HELLO"));
        assert!(!same(text, "a ", "a"));
    }

    #[test]
    fn null_is_not_the_empty_string_and_lengths_separate_values() {
        let enc = |vals: &[Option<&str>]| {
            let mut out = Vec::new();
            for v in vals {
                push_value(&mut out, *v);
            }
            hash(&out)
        };
        assert_ne!(enc(&[None]), enc(&[Some("")]));
        assert_ne!(enc(&[Some("ab"), Some("c")]), enc(&[Some("a"), Some("bc")]));
        assert_eq!(enc(&[Some("x"), None]), enc(&[Some("x"), None]));
    }

    #[test]
    fn fast_paths_agree_with_the_full_normalisation() {
        for v in [
            "0", "-0", "7", "-7", "007", "1.50", "1.5", "-0.5", "0.0", "1e3", "12.3450", "-", ".5",
            "5.", "1.05",
        ] {
            assert_eq!(
                Rule::Same(Family::Number).encode(Side::Source, v),
                comparable(Family::Number, v),
                "{v}"
            );
        }
        for v in [
            "2024-01-01 10:00:00",
            "2024-01-01 10:00:00.",
            "2024-01-01 10:00:00.000000",
            "2024-01-01 10:00:00.123400",
            "2024-01-01 10:00:00.000001",
        ] {
            assert_eq!(
                Rule::Same(Family::Timestamp).encode(Side::Source, v),
                comparable(Family::Timestamp, v),
                "{v}"
            );
        }
    }

    fn col(ty: &str, native: &str) -> Column {
        Column {
            name: "c".into(),
            ty: NeutralType::parse(ty).expect("type"),
            native: native.into(),
            nullable: true,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: vec![],
        }
    }

    #[test]
    fn only_same_engine_deterministic_types_compare_verbatim() {
        use Dialect::{Mysql, Postgres, Sqlite};
        let verbatim =
            |a: &Column, b: &Column, from, to| Rule::of(a, b, from, to) == Rule::Same(Family::Text);
        let jsonb = col("json", "jsonb");
        let json = col("json", "json");
        let money = col("decimal(12,2)", "numeric(12,2)");
        let any_numeric = col("decimal", "numeric");
        assert!(verbatim(&jsonb, &jsonb, Postgres, Postgres));
        assert!(!verbatim(&json, &json, Postgres, Postgres));
        assert!(!verbatim(&json, &json, Mysql, Mysql));
        assert!(verbatim(&money, &money, Postgres, Postgres));
        assert!(!verbatim(&money, &money, Postgres, Mysql));
        assert!(!verbatim(&money, &money, Sqlite, Sqlite));
        assert!(!verbatim(&any_numeric, &any_numeric, Postgres, Postgres));
    }

    #[test]
    fn floats_compare_as_the_stored_float() {
        let f64r = Rule::Float { bits32: false };
        assert!(same(f64r, "2.718281828459045", "2.71828182845904509"));
        assert!(same(f64r, "1e+20", "100000000000000000000"));
        assert!(same(f64r, "-0", "0"));
        assert!(!same(f64r, "0.1", "0.10000000000000002"));
        let f32r = Rule::Float { bits32: true };
        assert!(same(f32r, "3.4028235e+38", "3.40282346638529e38"));
        assert!(!same(f32r, "1.5", "1.25"));
        assert_eq!(f64r.encode(Side::Source, "NaN"), "NaN");
        assert_eq!(f64r.encode(Side::Source, "-Infinity"), "-inf");
    }

    #[test]
    fn lossy_casts_compare_by_what_the_cast_does() {
        assert!(same(Rule::UtcTime, "23:59:59.000000+05:30", "18:29:59"));
        assert!(same(Rule::SetAsArray, "x,y", r#"["x", "y"]"#));
        assert!(same(Rule::BitsAsBytes, "101010101010", "0AAA"));
        assert!(same(Rule::BitsPadded(8), "101", "00000101"));
        assert!(same(Rule::Duration, "-838:59:59.000000", "PT-838H-59M-59S"));
        assert!(same(Rule::Duration, "00:00:00.001000", "PT0.001S"));
        assert!(!same(Rule::Duration, "01:00:00", "PT2H"));
    }
}
