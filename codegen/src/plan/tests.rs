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
