//! Which type changes only ever widen the set of storable values.

use crate::model::NeutralType as N;

/// True when every value of `from` is a value of `to` (and `from != to`).
pub fn is_widening(from: &N, to: &N) -> bool {
    if from == to {
        return false;
    }
    let at_least = |a: &Option<u32>, b: &Option<u32>| match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => b >= a,
    };
    match (from, to) {
        (
            N::Int {
                bits: b1,
                unsigned: u1,
            },
            N::Int {
                bits: b2,
                unsigned: u2,
            },
        ) => (u1 == u2 && b2 >= b1) || (*u1 && !*u2 && b2 > b1),
        (N::Int { bits, unsigned }, N::Decimal { precision, scale }) => {
            let digits = match (bits, unsigned) {
                (8, _) => 3,
                (16, _) => 5,
                (24, _) => 8,
                (32, _) => 10,
                (_, false) => 19,
                (_, true) => 20,
            };
            precision.is_none_or(|p| p.saturating_sub(scale.unwrap_or(0)) >= digits)
        }
        (
            N::Decimal {
                precision: p1,
                scale: s1,
            },
            N::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => match (p1, p2) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(p1), Some(p2)) => {
                let (s1, s2) = (s1.unwrap_or(0), s2.unwrap_or(0));
                p2.saturating_sub(s2) >= p1.saturating_sub(s1) && s2 >= s1
            }
        },
        (N::Float { bits: b1 }, N::Float { bits: b2 }) => b2 > b1,
        (N::Varchar { length: a }, N::Varchar { length: b })
        | (N::Char { length: a }, N::Varchar { length: b }) => at_least(a, b),
        (N::Char { .. } | N::Varchar { .. }, N::Text) => true,
        (
            N::Binary { length: a, .. },
            N::Binary {
                length: b,
                fixed: false,
            },
        ) => at_least(a, b),
        (
            N::Bit { length: a, .. },
            N::Bit {
                length: b,
                varying: true,
            },
        ) => at_least(a, b),
        (N::Time { precision: a }, N::Time { precision: b })
        | (N::TimeTz { precision: a }, N::TimeTz { precision: b })
        | (N::Timestamp { precision: a }, N::Timestamp { precision: b })
        | (N::TimestampTz { precision: a }, N::TimestampTz { precision: b }) => at_least(a, b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_widening;
    use crate::model::NeutralType;

    fn t(s: &str) -> NeutralType {
        NeutralType::parse(s).unwrap()
    }

    #[test]
    fn widenings_from_the_issue_and_their_reverses() {
        for (from, to) in [
            ("varchar(50)", "varchar(100)"),
            ("int32", "int64"),
            ("decimal(10,2)", "decimal(12,2)"),
            ("uint32", "int64"),
            ("varchar(80)", "text"),
            ("float32", "float64"),
            ("timestamp(0)", "timestamp(6)"),
            ("int64", "decimal(20,0)"),
        ] {
            assert!(is_widening(&t(from), &t(to)), "{from} -> {to} widens");
            assert!(!is_widening(&t(to), &t(from)), "{to} -> {from} does not");
        }
        assert!(
            !is_widening(&t("decimal(10,2)"), &t("decimal(12,1)")),
            "scale shrinks"
        );
        assert!(!is_widening(&t("int64"), &t("uint64")), "sign lost");
        assert!(!is_widening(&t("text"), &t("json")));
    }
}
