//! Chinook loaded natively in PostgreSQL, MariaDB and SQLite must introspect to the same
//! tables, columns, keys and neutral types once names are compared in snake_case.
//!
//! The engine differences that remain are real and listed here and in docs/types.md:
//! - timestamp precision: PostgreSQL `timestamp` is `timestamp(6)`, MariaDB `DATETIME`
//!   is `timestamp(0)`, SQLite `DATETIME` has no precision (`timestamp`);
//!   compared without precision.
//! - key width: SQLite's `INTEGER PRIMARY KEY` is the rowid, 64 bits (`int64`), where
//!   Chinook's PostgreSQL and MySQL keys are `int32`; a sole integer primary key is
//!   compared as "an integer key".

use crate::support::{self, Project};
use seaway_codegen::inspect;
use seaway_codegen::model::naming::snake_case;
use seaway_codegen::model::{NeutralType, ReferentialAction, Schema};
use std::collections::{BTreeMap, BTreeSet};

/// (table, columns, referenced table, referenced columns, on delete, on update)
type Fk = (
    String,
    Vec<String>,
    String,
    Vec<String>,
    ReferentialAction,
    ReferentialAction,
);

/// What must agree across engines, with names in snake_case.
#[derive(Debug, PartialEq)]
struct Shape {
    /// table -> [(column, type, nullable)] in ordinal order
    columns: BTreeMap<String, Vec<(String, String, bool)>>,
    primary_keys: BTreeMap<String, Vec<String>>,
    /// (table, columns, referenced table, referenced columns, on delete, on update)
    foreign_keys: BTreeSet<Fk>,
}

/// The documented remaining differences: time precision, and the width of a sole
/// integer key (`key` is true for the table's only primary-key column).
fn comparable(ty: &NeutralType, key: bool) -> String {
    match ty {
        NeutralType::Int { .. } if key => "integer key".into(),
        NeutralType::Timestamp { .. } => "timestamp".into(),
        NeutralType::TimestampTz { .. } => "timestamptz".into(),
        other => other.to_string(),
    }
}

fn shape(schema: &Schema) -> Shape {
    let snake = |v: &[String]| v.iter().map(|c| snake_case(c)).collect::<Vec<_>>();
    let mut s = Shape {
        columns: BTreeMap::new(),
        primary_keys: BTreeMap::new(),
        foreign_keys: BTreeSet::new(),
    };
    for (name, table) in &schema.tables {
        let t = snake_case(name);
        let sole_key = |c: &str| {
            table
                .primary_key
                .as_ref()
                .is_some_and(|pk| pk.columns.len() == 1 && pk.columns[0] == c)
        };
        s.columns.insert(
            t.clone(),
            table
                .columns
                .iter()
                .map(|c| {
                    (
                        snake_case(&c.name),
                        comparable(&c.ty, sole_key(&c.name)),
                        c.nullable,
                    )
                })
                .collect(),
        );
        s.primary_keys.insert(
            t.clone(),
            table
                .primary_key
                .as_ref()
                .map(|pk| snake(&pk.columns))
                .unwrap_or_default(),
        );
        for fk in &table.foreign_keys {
            s.foreign_keys.insert((
                t.clone(),
                snake(&fk.columns),
                snake_case(&fk.references),
                snake(&fk.referenced_columns),
                fk.on_delete,
                fk.on_update,
            ));
        }
    }
    s
}

async fn introspect(url: &str) -> Schema {
    let project = Project::new(&format!("connections:\n  chinook:\n    url: \"{url}\"\n"));
    inspect::introspect(project.config().source_connection())
        .await
        .expect("introspect chinook")
        .schema
}

#[tokio::test]
async fn three_engines_agree_on_chinook() {
    let sqlite = introspect(&format!(
        "sqlite://{}",
        support::fixture("chinook/chinook.sqlite").display()
    ))
    .await;
    let reference = shape(&sqlite);
    assert_eq!(
        reference.columns.len(),
        11,
        "Chinook has 11 tables: {:?}",
        reference.columns.keys()
    );
    assert_eq!(
        reference.foreign_keys.len(),
        11,
        "Chinook has 11 foreign keys"
    );

    let mut compared = vec!["sqlite"];
    if let Some(pg) = support::postgres().await {
        let sql =
            std::fs::read_to_string(support::fixture("chinook/postgres.sql")).expect("fixture");
        let url = pg.fresh_db("seaway_test_t_pg_chinook", Some(&sql)).await;
        assert_eq!(
            shape(&introspect(&url).await),
            reference,
            "PostgreSQL vs SQLite"
        );
        compared.push("postgres");
    }
    if let Some(my) = support::mysql().await {
        let sql = std::fs::read_to_string(support::fixture("chinook/mysql.sql")).expect("fixture");
        let url = my.fresh_db("seaway_test_t_my_chinook", Some(&sql)).await;
        assert_eq!(
            shape(&introspect(&url).await),
            reference,
            "MariaDB vs SQLite"
        );
        compared.push("mysql");
    }
    eprintln!("compared Chinook across {compared:?}");
}
