use super::*;
use crate::model::{Column, Identity, NeutralType, PrimaryKey};

fn key_table(identity: Option<Identity>) -> Table {
    Table {
        columns: vec![Column {
            name: "id".into(),
            ty: NeutralType::parse("int64").expect("type"),
            native: "INTEGER".into(),
            nullable: false,
            default: None,
            identity,
            generated: None,
            comment: None,
            extras: vec![],
        }],
        primary_key: Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        }),
        ..Table::default()
    }
}

fn create_sql(table: Table) -> String {
    let changes = [Change::AddTable {
        name: "film".into(),
        table,
    }];
    let statements = plan(&changes, Dialect::Sqlite).expect("plan");
    statements[0].sql.clone()
}

#[test]
fn an_auto_increment_key_is_declared_on_its_sqlite_column() {
    let sql = create_sql(key_table(Some(Identity::AutoIncrement)));
    assert!(
        sql.contains(r#""id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"#),
        "{sql}"
    );
    assert_eq!(
        sql.matches("PRIMARY KEY").count(),
        1,
        "declared once: {sql}"
    );
}

#[test]
fn a_rowid_key_stays_a_table_primary_key_without_autoincrement() {
    for identity in [Some(Identity::Rowid), None] {
        let sql = create_sql(key_table(identity));
        assert!(!sql.contains("AUTOINCREMENT"), "{sql}");
        assert!(sql.contains(r#"PRIMARY KEY ("id")"#), "{sql}");
    }
}

#[test]
fn a_partitioned_table_is_created_with_its_partitions_and_domains_first() {
    use crate::model::{Check, Domain, Partition};
    let mut table = key_table(None);
    table.partitioned_by = Some("RANGE (id)".into());
    table.partitions = vec![Partition {
        name: "film_low".into(),
        bound: "FOR VALUES FROM (0) TO (100)".into(),
        foreign_keys: vec![],
        indexes: vec![],
    }];
    let changes = [
        Change::CreateDomain {
            name: "rating".into(),
            domain: Domain {
                base: "smallint".into(),
                not_null: true,
                default: Some("0".into()),
                checks: vec![Check {
                    name: "rating_range".into(),
                    expression: "CHECK ((VALUE >= 0))".into(),
                }],
            },
        },
        Change::AddTable {
            name: "film".into(),
            table,
        },
    ];
    let st = plan(&changes, Dialect::Postgres).expect("plan");
    let sql: Vec<&str> = st.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(
        sql[0],
        r#"CREATE DOMAIN "rating" AS smallint DEFAULT 0 NOT NULL CONSTRAINT "rating_range" CHECK ((VALUE >= 0))"#
    );
    assert!(sql[1].starts_with(r#"CREATE TABLE "film" ("#), "{}", sql[1]);
    assert!(sql[1].ends_with(") PARTITION BY RANGE (id)"), "{}", sql[1]);
    assert_eq!(
        sql[2],
        r#"CREATE TABLE "film_low" PARTITION OF "film" FOR VALUES FROM (0) TO (100)"#
    );
    assert!(st.iter().all(|s| s.section == Section::PreData));
}

#[test]
fn a_view_is_written_post_data_without_its_semicolon_or_blank_lines() {
    use crate::model::View;
    let changes = [Change::CreateView {
        name: "totals".into(),
        view: View {
            columns: vec![],
            definition: Some(" SELECT a.x\n\n   FROM a;".into()),
            materialized: true,
            depends_on: vec!["a".into()],
        },
    }];
    let st = plan(&changes, Dialect::Postgres).expect("plan");
    assert_eq!(st[0].section, Section::PostData);
    assert_eq!(
        st[0].sql,
        "CREATE MATERIALIZED VIEW \"totals\" AS SELECT a.x\n   FROM a"
    );
}
