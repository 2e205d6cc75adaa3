//! What a neutral type becomes in a destination dialect, and how safe that is.
//!
//! A [`Cast`] carries both the DDL type to write and the neutral type the destination
//! will report when introspected afterwards. Diff compares desired and actual schemas
//! in those reported terms, which is what makes "diff, apply, introspect, diff again"
//! come back empty.

use crate::model::NeutralType;

/// How much of the source's values and meaning survive a cast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Safety {
    /// Every value round-trips exactly.
    Safe,
    /// Some values or meaning are lost (precision, zone, range, set membership);
    /// refused unless the column is opted in with `allow_lossy:`.
    Lossy(String),
    /// No sensible representation; always refused.
    Unsafe(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// The type as written in `CREATE TABLE` / `ADD COLUMN`.
    pub ddl: String,
    /// The neutral type the destination reports for `ddl`.
    pub ty: NeutralType,
    pub safety: Safety,
}

impl Cast {
    pub fn safe(ddl: impl Into<String>, ty: NeutralType) -> Cast {
        Cast {
            ddl: ddl.into(),
            ty,
            safety: Safety::Safe,
        }
    }

    pub fn lossy(ddl: impl Into<String>, ty: NeutralType, why: impl Into<String>) -> Cast {
        Cast {
            ddl: ddl.into(),
            ty,
            safety: Safety::Lossy(why.into()),
        }
    }

    pub fn refused(ty: &NeutralType, why: impl Into<String>) -> Cast {
        Cast {
            ddl: String::new(),
            ty: ty.clone(),
            safety: Safety::Unsafe(why.into()),
        }
    }

    /// The weaker of two safeties (an array is as safe as its element).
    pub fn worst(mut self, other: &Safety) -> Cast {
        self.safety = match (&self.safety, other) {
            (Safety::Unsafe(_), _) => self.safety,
            (_, Safety::Unsafe(w)) => Safety::Unsafe(w.clone()),
            (Safety::Lossy(_), _) => self.safety,
            (_, Safety::Lossy(w)) => Safety::Lossy(w.clone()),
            _ => Safety::Safe,
        };
        self
    }
}

/// What a cast needs besides the type: the enum's labels and the name the destination
/// will know it by.
#[derive(Debug, Clone)]
pub struct EnumInfo<'a> {
    /// Name in the destination: the PostgreSQL type name, or `<table>_<column>` for
    /// engines whose enums are inline.
    pub name: String,
    pub labels: &'a [String],
}

pub fn int(bits: u8) -> NeutralType {
    NeutralType::Int {
        bits,
        unsigned: false,
    }
}

/// SQL string literal with `'` doubled (every dialect accepts this form).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use crate::model::NeutralType;

    /// Casting what a destination reports back into the same destination changes
    /// nothing: the property that makes a second diff empty.
    #[test]
    fn casts_are_idempotent_in_every_dialect() {
        let samples = [
            "bool",
            "int8",
            "int16",
            "int24",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint24",
            "uint32",
            "uint64",
            "decimal",
            "decimal(10)",
            "decimal(38,10)",
            "decimal(10,2)",
            "float32",
            "float64",
            "char(3)",
            "char",
            "varchar",
            "varchar(80)",
            "varchar(100000)",
            "text",
            "bytes",
            "bytes(16)",
            "binary(16)",
            "bit(4)",
            "varbit(8)",
            "date",
            "time",
            "time(3)",
            "timetz(6)",
            "timestamp",
            "timestamp(0)",
            "timestamptz(6)",
            "interval",
            "json",
            "uuid",
            "inet",
            "array(int32)",
            "array(text)",
        ];
        for text in samples {
            let ty = NeutralType::parse(text).expect("sample");
            for (dialect, cast) in [
                (
                    "postgres",
                    crate::engine::postgres::cast::cast
                        as fn(&NeutralType, Option<&super::EnumInfo<'_>>) -> super::Cast,
                ),
                ("mysql", crate::engine::mysql::cast::cast),
            ] {
                let once = cast(&ty, None);
                let twice = cast(&once.ty, None);
                assert_eq!(
                    (twice.ty.clone(), twice.ddl.clone()),
                    (once.ty.clone(), once.ddl.clone()),
                    "{text} into {dialect}"
                );
                assert_eq!(
                    twice.safety,
                    super::Safety::Safe,
                    "{text} into {dialect}: re-cast of {} must be safe",
                    once.ty
                );
            }
            let once = crate::engine::sqlite::cast::cast(&ty);
            let twice = crate::engine::sqlite::cast::cast(&once.ty);
            assert_eq!(
                (&twice.ty, &twice.ddl),
                (&once.ty, &once.ddl),
                "{text} into sqlite"
            );
        }
    }

    #[test]
    fn other_types_are_refused_across_engines() {
        let money = NeutralType::Other {
            native: "money".into(),
        };
        assert!(matches!(
            crate::engine::mysql::cast::cast(&money, None).safety,
            super::Safety::Unsafe(_)
        ));
        assert!(matches!(
            crate::engine::postgres::cast::cast(&money, None).safety,
            super::Safety::Unsafe(_)
        ));
        assert!(matches!(
            crate::engine::sqlite::cast::cast(&money).safety,
            super::Safety::Unsafe(_)
        ));
    }
}
