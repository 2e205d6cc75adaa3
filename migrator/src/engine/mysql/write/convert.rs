//! Canonical text into MySQL/MariaDB, shared by the upsert's statements (`write.rs`) and
//! `LOAD DATA` (`load_data.rs`): which values need converting, and how.

use crate::rows::plan::Target;
use crate::rows::values::{self, Family};
use seaway_codegen::model::NeutralType;

/// The placeholder for a column, converting canonical text where MySQL cannot (bit
/// strings' `0`/`1` digits into the number a `BIT(n)` column stores).
pub(crate) fn placeholder(t: &Target) -> &'static str {
    if Family::of(&t.ty) == Family::Bit {
        "CAST(CONV(?, 2, 10) AS UNSIGNED)"
    } else {
        "?"
    }
}

/// Whether the value arrives as hex (canonical bytes, MySQL spatial values) and is bound
/// as the bytes it stands for.
pub(crate) fn binary(t: &Target) -> bool {
    matches!(
        (Family::of(&t.ty), t.source),
        (Family::Bytes, Family::Bytes) | (Family::Other, Family::Other)
    )
}

/// Canonical text in MySQL's input syntax, where it differs (`None`: as it is).
pub(crate) fn input(t: &Target, v: &str) -> Option<String> {
    match (t.source, Family::of(&t.ty)) {
        // MySQL refuses a FLOAT literal above FLT_MAX as a double, and the shortest text
        // of the largest float (`3.4028235e38`) is just above it: write the float's
        // exact value instead, which MySQL stores as that same float.
        (_, Family::Number) if t.ty == NeutralType::Float { bits: 32 } => v
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| format!("{:e}", f64::from(f))),
        // `timetz` -> `time` drops the zone (lossy): stored as the UTC time of day.
        (Family::TimeTz, Family::Time) => values::timetz_to_utc(v),
        // CONV('', 2, 10) is NULL; an empty bit string (PostgreSQL `varbit`) is zero.
        (Family::Bit, Family::Bit) if v.is_empty() => Some("0".to_string()),
        _ => None,
    }
}
