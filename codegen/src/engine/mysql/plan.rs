//! MySQL/MariaDB specifics: `MODIFY COLUMN` restates the whole column, InnoDB + utf8mb4
//! tables, `AUTO_INCREMENT` only on a sole primary key, and `CURRENT_TIMESTAMP(p)`.

use crate::model::{Column, DefaultValue, Dialect, NeutralType};
use crate::plan::column::column_def;
use crate::plan::dialect::{Buildable, DialectPlan};
use sea_query::{Alias, Expr, IntoIden, Keyword};

pub struct Mysql;

impl Mysql {
    fn modify(&self, table: &str, column: &Column) -> String {
        let mut alter = sea_query::Table::alter();
        alter
            .table(Alias::new(table))
            .modify_column(column_def(self, column, false));
        self.build(&alter)
    }
}

impl DialectPlan for Mysql {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn build(&self, stmt: &dyn Buildable) -> String {
        stmt.mysql()
    }

    fn widen(&self, table: &str, column: &Column) -> String {
        self.modify(table, column)
    }

    fn relax_not_null(&self, table: &str, column: &Column) -> String {
        self.modify(table, column)
    }

    fn identity(&self, column: &Column, sole_primary_key: bool) -> Option<&'static str> {
        (sole_primary_key && matches!(column.ty, NeutralType::Int { .. }))
            .then_some("AUTO_INCREMENT")
    }

    /// utf8mb4, so 4-byte characters (emoji) from PostgreSQL or SQLite fit.
    fn table_options(&self, create: &mut sea_query::TableCreateStatement) {
        create
            .engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_unicode_ci");
    }

    /// `datetime(6) DEFAULT CURRENT_TIMESTAMP` is refused: the precisions must match.
    fn now_default(&self, value: &DefaultValue, ty: &NeutralType) -> Expr {
        match (value, ty) {
            (DefaultValue::CurrentDate, _) => Expr::cust("curdate()"),
            (DefaultValue::CurrentTime, _) => Expr::cust("curtime()"),
            (
                _,
                NeutralType::Timestamp { precision: Some(p) }
                | NeutralType::TimestampTz { precision: Some(p) },
            ) if *p > 0 => Expr::Keyword(Keyword::Custom(
                Alias::new(format!("CURRENT_TIMESTAMP({p})")).into_iden(),
            )),
            _ => Expr::Keyword(Keyword::CurrentTimestamp),
        }
    }

    fn quote(&self, name: &str) -> String {
        crate::engine::mysql::quote_ident(name)
    }
}
