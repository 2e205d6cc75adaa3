//! A column's definition (type, NULL-ability, default, identity), shared by CREATE TABLE,
//! ADD COLUMN and MySQL's MODIFY COLUMN.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::dialect::DialectPlan;
use crate::model::{Column, DefaultValue, NeutralType};
use sea_query::{Alias, ColumnDef, ColumnType, Expr, IntoIden, Keyword};

pub(crate) fn column_def(d: &dyn DialectPlan, col: &Column, sole_primary_key: bool) -> ColumnDef {
    let mut def = ColumnDef::new_with_type(
        Alias::new(col.name.as_str()),
        ColumnType::custom(Alias::new(col.native.as_str())),
    );
    // MariaDB accepts no NULL / NOT NULL on a generated column.
    if col.generated.is_none() || crate::engine::traits(d.dialect()).null_clause_on_generated {
        if col.nullable {
            def.null();
        } else {
            def.not_null();
        }
    }
    if let Some(g) = &col.generated {
        def.generated(Expr::cust(g.expression.clone()), g.stored);
    } else if let Some(expr) = col
        .default
        .as_ref()
        .and_then(|v| default_expr(d, v, &col.ty))
    {
        def.default(expr);
    }
    if let Some(clause) = col.identity.and_then(|_| d.identity(col, sole_primary_key)) {
        def.extra(clause);
    }
    def
}

fn default_expr(d: &dyn DialectPlan, value: &DefaultValue, ty: &NeutralType) -> Option<Expr> {
    Some(match value {
        DefaultValue::Null => return None,
        // SQLite and MySQL spell boolean defaults 0 and 1; PostgreSQL wants a boolean.
        DefaultValue::Number(n) if matches!(ty, NeutralType::Bool) && (n == "0" || n == "1") => {
            Expr::val(n == "1")
        }
        DefaultValue::Bool(b) => Expr::val(*b),
        DefaultValue::Number(n) if is_plain_number(n) => {
            Expr::Keyword(Keyword::Custom(Alias::new(n.as_str()).into_iden()))
        }
        DefaultValue::Number(n) | DefaultValue::String(n) => Expr::val(n.as_str()),
        DefaultValue::CurrentTimestamp | DefaultValue::CurrentDate | DefaultValue::CurrentTime => {
            d.now_default(value, ty)
        }
        DefaultValue::Expression(e) => Expr::cust(e.clone()),
    })
}

/// A decimal literal safe to write verbatim.
fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && body
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && s.parse::<f64>().is_ok()
}
