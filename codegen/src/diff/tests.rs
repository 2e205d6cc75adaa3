use super::policy::{self, codes};
use super::*;
use crate::model::{Dialect, PrimaryKey, Schema};

fn col(name: &str, ty: &str, nullable: bool) -> Column {
    Column {
        name: name.into(),
        ty: NeutralType::parse(ty).unwrap(),
        native: ty.into(),
        nullable,
        default: None,
        identity: None,
        generated: None,
        comment: None,
        extras: vec![],
    }
}

fn schema(dialect: Dialect, tables: Vec<(&str, Table)>) -> Schema {
    let mut s = Schema::new(dialect, "x");
    for (n, t) in tables {
        s.tables.insert(n.into(), t);
    }
    s
}

fn invoice(cols: Vec<Column>) -> Table {
    Table {
        columns: cols,
        primary_key: Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        }),
        ..Table::default()
    }
}

#[test]
fn identical_schemas_have_no_difference() {
    let a = schema(
        Dialect::Postgres,
        vec![("invoice", invoice(vec![col("id", "int32", false)]))],
    );
    assert!(diff(&a, &a).is_empty());
}

#[test]
fn additive_changes_are_emitted_and_the_rest_reported() {
    let desired = schema(
        Dialect::Postgres,
        vec![(
            "invoice",
            invoice(vec![
                col("id", "int64", false),
                col("total", "decimal(12,2)", false),
                col("currency", "char(3)", false),
                col("note", "text", true),
            ]),
        )],
    );
    let actual = schema(
        Dialect::Postgres,
        vec![
            (
                "invoice",
                invoice(vec![
                    col("id", "int32", false),
                    col("total", "decimal(10,2)", true),
                    col("note", "varchar(20)", false),
                    col("legacy", "text", true),
                ]),
            ),
            ("audit", invoice(vec![col("id", "int32", false)])),
        ],
    );
    let populated = BTreeSet::from(["invoice".to_string()]);
    let d = policy::decide(diff(&desired, &actual), Dialect::Postgres, &populated);
    let kinds: Vec<String> = d
        .emit
        .iter()
        .map(|c| {
            format!("{c:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "WidenColumn",
            "WidenColumn",
            "AddColumn",
            "WidenColumn",
            "RelaxNotNull"
        ],
        "{:#?}",
        d.emit
    );
    // The NOT NULL column without default on a table with rows is added NULL-able.
    assert!(d.emit.iter().any(|c| matches!(c, Change::AddColumn { column, .. } if column.name == "currency" && column.nullable)));
    let codes_seen: Vec<&str> = d.reported.iter().map(|r| r.code).collect();
    assert_eq!(
        codes_seen,
        [
            codes::EXTRA_TABLE,
            codes::EXTRA_COLUMN,
            codes::TIGHTEN_NOT_NULL,
            codes::ADDED_NULLABLE
        ]
    );
}

#[test]
fn narrowing_and_incompatible_changes_are_never_emitted() {
    let desired = schema(
        Dialect::Mysql,
        vec![(
            "t",
            invoice(vec![
                col("id", "int32", false),
                col("a", "varchar(10)", true),
                col("b", "json", true),
            ]),
        )],
    );
    let actual = schema(
        Dialect::Mysql,
        vec![(
            "t",
            invoice(vec![
                col("id", "int32", false),
                col("a", "varchar(50)", true),
                col("b", "int32", true),
            ]),
        )],
    );
    let d = policy::decide(diff(&desired, &actual), Dialect::Mysql, &BTreeSet::new());
    assert!(d.emit.is_empty(), "{:?}", d.emit);
    let codes_seen: Vec<&str> = d.reported.iter().map(|r| r.code).collect();
    assert_eq!(codes_seen, [codes::NARROWING, codes::INCOMPATIBLE]);
}

#[test]
fn sqlite_limits_are_reported_not_emitted() {
    let mut want = invoice(vec![
        col("id", "int32", false),
        col("a", "varchar(100)", true),
        col("b", "int32", false),
    ]);
    want.foreign_keys.push(ForeignKey {
        name: "fk".into(),
        columns: vec!["b".into()],
        references: "t".into(),
        referenced_columns: vec!["id".into()],
        on_delete: Default::default(),
        on_update: Default::default(),
    });
    let desired = schema(Dialect::Sqlite, vec![("t", want)]);
    let actual = schema(
        Dialect::Sqlite,
        vec![(
            "t",
            invoice(vec![
                col("id", "int32", false),
                col("a", "varchar(50)", true),
            ]),
        )],
    );
    let d = policy::decide(diff(&desired, &actual), Dialect::Sqlite, &BTreeSet::new());
    assert!(
        matches!(&d.emit[..], [Change::AddColumn { column, .. }] if column.name == "b" && column.nullable),
        "{:?}",
        d.emit
    );
    let codes_seen: Vec<&str> = d.reported.iter().map(|r| r.code).collect();
    assert_eq!(
        codes_seen,
        [
            codes::ADDED_NULLABLE,
            codes::SQLITE_ALTER,
            codes::SQLITE_FOREIGN_KEY
        ]
    );
}

#[test]
fn indexes_and_foreign_keys_match_by_shape_not_name() {
    let mut want = invoice(vec![col("id", "int32", false), col("c", "int32", false)]);
    want.indexes.push(Index {
        name: "IFK_c".into(),
        columns: vec![IndexPart::Column("c".into())],
        unique: false,
        predicate: None,
        method: None,
    });
    want.unique.push(UniqueConstraint {
        name: "u1".into(),
        columns: vec!["c".into(), "id".into()],
    });
    let mut have = want.clone();
    have.indexes[0].name = "other_name".into();
    have.unique[0].name = "sqlite_autoindex_t_1".into();
    let desired = schema(Dialect::Postgres, vec![("t", want)]);
    let actual = schema(Dialect::Postgres, vec![("t", have)]);
    assert!(diff(&desired, &actual).is_empty());
}

#[test]
fn mysql_implicit_foreign_key_indexes_are_not_extra() {
    let fk = ForeignKey {
        name: "fk_c".into(),
        columns: vec!["c".into()],
        references: "t".into(),
        referenced_columns: vec!["id".into()],
        on_delete: Default::default(),
        on_update: Default::default(),
    };
    let mut want = invoice(vec![col("id", "int32", false), col("c", "int32", true)]);
    want.foreign_keys.push(fk.clone());
    let mut have = want.clone();
    have.indexes.push(Index {
        name: "fk_c".into(),
        columns: vec![IndexPart::Column("c".into())],
        unique: false,
        predicate: None,
        method: None,
    });
    let desired = schema(Dialect::Mysql, vec![("t", want)]);
    let actual = schema(Dialect::Mysql, vec![("t", have)]);
    assert!(diff(&desired, &actual).is_empty());
}

#[test]
fn an_index_renamed_by_the_target_rules_matches_the_applied_one_by_shape() {
    // A destination built before `<table>_<index>` naming (or shortened names) keeps its
    // index: the desired one differs only by name.
    let with_index = |name: &str| {
        let mut t = invoice(vec![
            col("id", "int32", false),
            col("item_id", "int32", false),
        ]);
        t.indexes.push(Index {
            name: name.into(),
            columns: vec![IndexPart::Column("item_id".into())],
            unique: false,
            predicate: None,
            method: None,
        });
        t.unique.push(UniqueConstraint {
            name: format!("{name}_u"),
            columns: vec!["item_id".into(), "id".into()],
        });
        t
    };
    let desired = schema(
        Dialect::Postgres,
        vec![("invoice", with_index("invoice_idx_fk_item_id"))],
    );
    let actual = schema(
        Dialect::Postgres,
        vec![("invoice", with_index("idx_fk_item_id"))],
    );
    assert!(
        diff(&desired, &actual).is_empty(),
        "{:?}",
        diff(&desired, &actual)
    );
}

fn view(depends_on: &[&str]) -> View {
    View {
        columns: vec![],
        definition: Some("SELECT 1".into()),
        materialized: false,
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn views_are_created_after_the_views_they_read() {
    let mut desired = schema(Dialect::Postgres, vec![]);
    desired.views.insert("a_top".into(), view(&["m_middle"]));
    desired
        .views
        .insert("m_middle".into(), view(&["z_base", "some_table"]));
    desired.views.insert("z_base".into(), view(&[]));
    let mut actual = schema(Dialect::Postgres, vec![]);
    let order = |changes: Vec<Change>| -> Vec<String> {
        changes
            .into_iter()
            .filter_map(|c| {
                if let Change::CreateView { name, .. } = c {
                    Some(name)
                } else {
                    None
                }
            })
            .collect()
    };
    assert_eq!(
        order(diff(&desired, &actual)),
        ["z_base", "m_middle", "a_top"]
    );
    actual.views.insert("z_base".into(), view(&[]));
    assert_eq!(
        order(diff(&desired, &actual)),
        ["m_middle", "a_top"],
        "an existing view is left as it is"
    );
}

#[test]
fn partitions_are_added_and_a_plain_destination_table_is_reported() {
    let partition = |name: &str| Partition {
        name: name.into(),
        bound: "DEFAULT".into(),
        foreign_keys: vec![],
        indexes: vec![],
    };
    let mut want = invoice(vec![col("id", "int32", false)]);
    want.partitioned_by = Some("LIST (id)".into());
    want.partitions = vec![partition("invoice_a"), partition("invoice_b")];
    let mut have = want.clone();
    have.partitions = vec![partition("invoice_a")];
    let desired = schema(Dialect::Postgres, vec![("invoice", want.clone())]);
    let changes = diff(
        &desired,
        &schema(Dialect::Postgres, vec![("invoice", have)]),
    );
    assert_eq!(
        changes,
        vec![Change::AddPartition {
            table: "invoice".into(),
            partition: partition("invoice_b"),
        }]
    );
    let plain = invoice(vec![col("id", "int32", false)]);
    let changes = diff(
        &desired,
        &schema(Dialect::Postgres, vec![("invoice", plain)]),
    );
    let d = policy::decide(changes, Dialect::Postgres, &BTreeSet::new());
    assert!(d.emit.is_empty(), "{:?}", d.emit);
    assert_eq!(d.reported.len(), 1);
    assert_eq!(d.reported[0].code, codes::PARTITIONING);
}
