//! SQLite: multi-row `INSERT ... ON CONFLICT DO UPDATE` inside one transaction per
//! page, each statement under SQLite's 32,766-placeholder limit.

use super::{Target, for_destination, non_keys};
use crate::transfer::read::quote;
use crate::transfer::values::Family;
use seaway_codegen::model::Dialect;

const MAX_PLACEHOLDERS: usize = 32_766;

#[derive(Debug)]
pub struct LiteWriter(pub sqlx::SqlitePool);

fn placeholder(t: &Target) -> &'static str {
    match (Family::of(&t.ty), t.source) {
        (Family::Bytes, Family::Bytes) => "unhex(?)",
        _ => "?",
    }
}

impl LiteWriter {
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        let q = |n: &str| quote(Dialect::Sqlite, n);
        let cols: Vec<String> = targets.iter().map(|t| q(&t.name)).collect();
        let keys: Vec<String> = targets
            .iter()
            .filter(|t| t.is_key)
            .map(|t| q(&t.name))
            .collect();
        let tuple = format!(
            "({})",
            targets
                .iter()
                .map(placeholder)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let updates: Vec<String> = non_keys(targets)
            .map(|t| format!("{0} = excluded.{0}", q(&t.name)))
            .collect();
        let tail = match (keys.is_empty(), updates.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
            (false, false) => format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                updates.join(", ")
            ),
        };
        let per_statement = (MAX_PLACEHOLDERS / targets.len().max(1)).max(1);
        let mut tx = self.0.begin().await?;
        for batch in rows.chunks(per_statement) {
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}{tail}",
                q(table),
                cols.join(", "),
                vec![tuple.as_str(); batch.len()].join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in batch {
                for (t, v) in targets.iter().zip(row) {
                    query = query.bind(for_destination(Dialect::Sqlite, t, v.as_deref()));
                }
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}
