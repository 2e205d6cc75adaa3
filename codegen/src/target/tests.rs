//! The destination rules of issue #12: index names across namespaces, identifier
//! limits, foreign keys and key lengths MySQL enforces, SQLite's auto-numbered keys.

use super::*;
use crate::config::VarSource;
use crate::model::{Identity, ReferentialAction};
use std::path::Path;

fn config(extra: &str) -> Config {
    let text = format!(
        "connections:\n  src: {{ url: \"sqlite://src.sqlite\" }}\n  dst: {{ url: \"sqlite://dst.sqlite\" }}\nsource: src\ndestination: dst\n{extra}"
    );
    Config::from_text(Path::new("seaway.yaml"), &text, &VarSource::from_pairs(&[])).expect("config")
}

fn col(name: &str, ty: &str, native: &str, nullable: bool) -> Column {
    Column {
        name: name.into(),
        ty: NeutralType::parse(ty).expect("type"),
        native: native.into(),
        nullable,
        default: None,
        identity: None,
        generated: None,
        comment: None,
        extras: vec![],
    }
}

fn keyed(columns: Vec<Column>) -> Table {
    let key = columns[0].name.clone();
    Table {
        columns,
        primary_key: Some(PrimaryKey {
            name: None,
            columns: vec![key],
        }),
        ..Table::default()
    }
}

fn index(name: &str, columns: &[&str], unique: bool) -> Index {
    Index {
        name: name.into(),
        columns: columns
            .iter()
            .map(|c| IndexPart::Column(c.to_string()))
            .collect(),
        unique,
        predicate: None,
        method: None,
    }
}

fn fk(name: &str, columns: &[&str], references: &str, referenced: &[&str]) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        references: references.into(),
        referenced_columns: referenced.iter().map(|c| c.to_string()).collect(),
        on_delete: ReferentialAction::NoAction,
        on_update: ReferentialAction::NoAction,
    }
}

fn schema(dialect: Dialect, tables: Vec<(&str, Table)>) -> Schema {
    let mut s = Schema::new(dialect, "src");
    for (n, t) in tables {
        s.tables.insert(n.into(), t);
    }
    s
}

fn build(source: &Schema, dest: Dialect) -> Desired {
    desired(source, &config(""), dest).unwrap_or_else(|e| panic!("{dest}: {e}"))
}

fn codes_of(d: &Desired) -> Vec<&'static str> {
    d.notes.iter().map(|n| n.code).collect()
}

/// A MySQL schema whose two tables each have an index `idx_fk_item_id`, as the samples.
fn mysql_twin_indexes() -> Schema {
    let with_index = || {
        let mut t = keyed(vec![
            col("id", "int32", "int", false),
            col("item_id", "int32", "int", false),
        ]);
        t.indexes.push(index("idx_fk_item_id", &["item_id"], false));
        t.unique.push(UniqueConstraint {
            name: "uq_item".into(),
            columns: vec!["item_id".into(), "id".into()],
        });
        t
    };
    schema(
        Dialect::Mysql,
        vec![("inventory", with_index()), ("rental", with_index())],
    )
}

#[test]
fn mysql_index_names_become_table_prefixed_in_per_schema_namespaces() {
    let source = mysql_twin_indexes();
    for dest in [Dialect::Postgres, Dialect::Sqlite] {
        let d = build(&source, dest);
        for t in ["inventory", "rental"] {
            let table = &d.schema.tables[t];
            assert_eq!(
                table.indexes[0].name,
                format!("{t}_idx_fk_item_id"),
                "{dest}"
            );
            assert_eq!(table.unique[0].name, format!("{t}_uq_item"), "{dest}");
        }
    }
    // MySQL into MySQL: the namespace is per table there too, names are kept.
    let d = build(&source, Dialect::Mysql);
    assert_eq!(d.schema.tables["rental"].indexes[0].name, "idx_fk_item_id");
}

#[test]
fn per_schema_index_names_are_kept_between_per_schema_engines() {
    let mut t = keyed(vec![col("id", "int32", "integer", false)]);
    t.indexes.push(index("by_id", &["id"], false));
    let source = schema(Dialect::Postgres, vec![("a", t)]);
    for dest in [Dialect::Sqlite, Dialect::Mysql, Dialect::Postgres] {
        assert_eq!(
            build(&source, dest).schema.tables["a"].indexes[0].name,
            "by_id"
        );
    }
}

#[test]
fn a_clash_left_after_prefixing_names_both_objects_and_a_rename_that_works() {
    let with = |ix: &str| {
        let mut t = keyed(vec![col("id", "int32", "int", false)]);
        t.indexes.push(index(ix, &["id"], false));
        t
    };
    let source = schema(Dialect::Mysql, vec![("a", with("b_c")), ("a_b", with("c"))]);
    let err = desired(&source, &config(""), Dialect::Postgres)
        .expect_err("a + b_c and a_b + c clash")
        .to_string();
    assert!(err.contains("index `a_b_c` on `a`"), "{err}");
    assert!(err.contains("index `a_b_c` on `a_b`"), "{err}");
    assert!(
        err.contains("renaming one of the tables in `mappings:`"),
        "{err}"
    );
    // ... and the advice works.
    let renamed = desired(
        &source,
        &config("mappings:\n  a_b: { target: ab }\n"),
        Dialect::Postgres,
    )
    .expect("renamed");
    assert_eq!(renamed.schema.tables["ab"].indexes[0].name, "ab_c");
}

#[test]
fn long_derived_names_are_shortened_with_a_stable_hash_and_noted() {
    let table = "customer_loyalty_programme_membership";
    let mut t = keyed(vec![col("id", "int32", "int", false)]);
    t.indexes.push(index(
        "idx_customer_loyalty_programme_member_since",
        &["id"],
        false,
    ));
    let source = schema(Dialect::Mysql, vec![(table, t)]);
    let a = build(&source, Dialect::Postgres);
    let b = build(&source, Dialect::Postgres);
    let name = &a.schema.tables[table].indexes[0].name;
    assert_eq!(
        name, &b.schema.tables[table].indexes[0].name,
        "deterministic"
    );
    assert_eq!(name.len(), 63, "{name}");
    assert!(
        name.starts_with("customer_loyalty_programme_membership_idx_"),
        "{name}"
    );
    assert!(
        codes_of(&a).contains(&codes::NAME_SHORTENED),
        "{:?}",
        a.notes
    );
    // The same name fits MySQL's 64 characters when not prefixed.
    let m = build(&source, Dialect::Mysql);
    assert_eq!(
        m.schema.tables[table].indexes[0].name,
        "idx_customer_loyalty_programme_member_since"
    );
}

#[test]
fn table_and_column_names_too_long_are_refused_with_the_mapping_that_fixes_them() {
    let long_table = "t".repeat(70);
    let long_col = "c".repeat(65);
    let source = schema(
        Dialect::Sqlite,
        vec![(
            long_table.as_str(),
            keyed(vec![
                col("id", "int64", "INTEGER", false),
                col(&long_col, "text", "TEXT", true),
            ]),
        )],
    );
    for dest in [Dialect::Postgres, Dialect::Mysql] {
        let err = desired(&source, &config(""), dest)
            .expect_err("too long")
            .to_string();
        assert!(err.contains(codes::NAME_TOO_LONG), "{err}");
        assert!(
            err.contains(&format!("`mappings.{long_table}.target`")),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "`mappings.{long_table}.columns` (`{long_col}: <shorter name>`)"
            )),
            "{err}"
        );
    }
    assert!(
        desired(&source, &config(""), Dialect::Sqlite).is_ok(),
        "no limit"
    );
    let fixed = format!(
        "mappings:\n  {long_table}:\n    target: short\n    columns: {{ {long_col}: note }}\n"
    );
    let d = desired(&source, &config(&fixed), Dialect::Mysql).expect("renamed");
    assert!(d.schema.tables["short"].column("note").is_some());
}

fn parent_child(child_ty: (&str, &str), parent_ty: (&str, &str), nullable: bool) -> Schema {
    let parent = keyed(vec![col("id", parent_ty.0, parent_ty.1, false)]);
    let mut child = keyed(vec![
        col("id", "int64", "bigint", false),
        col("parent_id", child_ty.0, child_ty.1, nullable),
    ]);
    child
        .foreign_keys
        .push(fk("fk_child_parent", &["parent_id"], "parent", &["id"]));
    schema(
        Dialect::Postgres,
        vec![("parent", parent), ("child", child)],
    )
}

#[test]
fn set_null_on_a_not_null_column_becomes_no_action_in_mysql_only() {
    let mut source = parent_child(("int64", "bigint"), ("int64", "bigint"), false);
    let key = &mut source.tables.get_mut("child").expect("child").foreign_keys[0];
    key.on_delete = ReferentialAction::SetNull;
    key.on_update = ReferentialAction::SetDefault;
    let m = build(&source, Dialect::Mysql);
    let got = &m.schema.tables["child"].foreign_keys[0];
    assert_eq!(got.on_delete, ReferentialAction::NoAction);
    assert_eq!(got.on_update, ReferentialAction::NoAction);
    let adapted: Vec<&Diagnostic> = m
        .notes
        .iter()
        .filter(|n| n.code == codes::FK_ACTION_ADAPTED)
        .collect();
    assert_eq!(adapted.len(), 2, "{adapted:?}");
    assert!(adapted.iter().any(|n| {
        n.message
            .contains("ON DELETE SET NULL on NOT NULL column(s) parent_id")
    }));
    assert!(
        adapted
            .iter()
            .any(|n| n.message.contains("ON UPDATE SET DEFAULT"))
    );
    // PostgreSQL accepts both as written.
    let p = build(&source, Dialect::Postgres);
    assert_eq!(
        p.schema.tables["child"].foreign_keys[0].on_delete,
        ReferentialAction::SetNull
    );
    assert!(!codes_of(&p).contains(&codes::FK_ACTION_ADAPTED));
}

#[test]
fn set_null_on_a_nullable_column_is_kept_in_mysql() {
    let mut source = parent_child(("int64", "bigint"), ("int64", "bigint"), true);
    source.tables.get_mut("child").expect("child").foreign_keys[0].on_delete =
        ReferentialAction::SetNull;
    let m = build(&source, Dialect::Mysql);
    assert_eq!(
        m.schema.tables["child"].foreign_keys[0].on_delete,
        ReferentialAction::SetNull
    );
}

#[test]
fn a_narrower_referencing_column_is_widened_to_the_referenced_type_in_mysql() {
    let source = parent_child(("int32", "integer"), ("int64", "bigint"), false);
    let m = build(&source, Dialect::Mysql);
    let c = m.schema.tables["child"]
        .column("parent_id")
        .expect("column");
    assert_eq!(c.ty, NeutralType::parse("int64").expect("type"));
    assert_eq!(c.native, "bigint");
    let note = m
        .notes
        .iter()
        .find(|n| n.code == codes::FK_COLUMN_WIDENED)
        .expect("T307");
    assert_eq!(note.subject, "child.parent_id");
    // PostgreSQL links int4 to int8 as is.
    let p = build(&source, Dialect::Postgres);
    assert_eq!(
        p.schema.tables["child"]
            .column("parent_id")
            .expect("c")
            .native,
        "integer"
    );
}

#[test]
fn widening_follows_chains_of_foreign_keys() {
    // grandchild.child_id (int16) -> child.id (int32) -> parent.id (int64): the child's
    // key is widened first, then the grandchild's column to the widened type.
    let parent = keyed(vec![col("id", "int64", "bigint", false)]);
    let mut child = keyed(vec![col("id", "int32", "integer", false)]);
    child
        .foreign_keys
        .push(fk("fk_child_parent", &["id"], "parent", &["id"]));
    let mut grandchild = keyed(vec![
        col("id", "int64", "bigint", false),
        col("child_id", "int16", "smallint", true),
    ]);
    grandchild
        .foreign_keys
        .push(fk("fk_grandchild_child", &["child_id"], "child", &["id"]));
    let source = schema(
        Dialect::Postgres,
        vec![
            ("parent", parent),
            ("child", child),
            ("grandchild", grandchild),
        ],
    );
    let m = build(&source, Dialect::Mysql);
    assert_eq!(
        m.schema.tables["child"].column("id").expect("c").native,
        "bigint"
    );
    assert_eq!(
        m.schema.tables["grandchild"]
            .column("child_id")
            .expect("c")
            .native,
        "bigint"
    );
}

#[test]
fn foreign_key_types_mysql_cannot_link_are_refused_with_the_mappings_to_change() {
    let mut source = parent_child(("int64", "int"), ("uint32", "int unsigned"), false);
    source.dialect = Dialect::Mysql;
    let err = desired(&source, &config(""), Dialect::Mysql)
        .expect_err("sign differs")
        .to_string();
    assert!(err.contains(codes::FK_TYPES), "{err}");
    assert!(err.contains("child.parent_id"), "{err}");
    assert!(
        err.contains("`mappings.child.types` (for `parent_id`)"),
        "{err}"
    );
    // A text key cannot be in a MySQL foreign key at all.
    let text = parent_child(("text", "text"), ("text", "text"), false);
    let err = desired(&text, &config(""), Dialect::Mysql)
        .expect_err("text")
        .to_string();
    assert!(err.contains("TEXT or BLOB"), "{err}");
    // The advised mapping fixes it.
    let ok = desired(
        &text,
        &config(
            "mappings:\n  child: { types: { parent_id: varchar(64) } }\n  parent: { types: { id: varchar(64) } }\n",
        ),
        Dialect::Mysql,
    );
    assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.to_string()));
}

#[test]
fn a_foreign_key_to_columns_without_a_unique_key_is_left_out_where_it_is_refused() {
    let parent = keyed(vec![
        col("id", "int32", "int", false),
        col("code", "varchar(8)", "varchar(8)", false),
    ]);
    let mut child = keyed(vec![
        col("id", "int32", "int", false),
        col("code", "varchar(8)", "varchar(8)", true),
    ]);
    child
        .foreign_keys
        .push(fk("fk_code", &["code"], "parent", &["code"]));
    let mut source = schema(Dialect::Mysql, vec![("parent", parent), ("child", child)]);
    source
        .tables
        .get_mut("parent")
        .expect("parent")
        .indexes
        .push(index("by_code", &["code"], false));
    let p = build(&source, Dialect::Postgres);
    assert!(p.schema.tables["child"].foreign_keys.is_empty());
    assert!(
        codes_of(&p).contains(&codes::FK_NOT_UNIQUE),
        "{:?}",
        p.notes
    );
    let s = build(&source, Dialect::Sqlite);
    assert_eq!(
        s.schema.tables["child"].foreign_keys.len(),
        1,
        "SQLite accepts it"
    );
}

#[test]
fn long_indexes_get_prefixes_that_fit_innodb_and_a_note() {
    let mut t = keyed(vec![
        col("id", "int32", "integer", false),
        col("title", "varchar(1000)", "character varying(1000)", true),
        col("a", "varchar(255)", "character varying(255)", true),
        col("b", "varchar(255)", "character varying(255)", true),
        col("c", "varchar(255)", "character varying(255)", true),
        col("d", "varchar(255)", "character varying(255)", true),
        col("small", "varchar(10)", "character varying(10)", true),
        col("body", "text", "text", true),
    ]);
    t.indexes.push(index("by_title", &["title"], false));
    t.indexes
        .push(index("by_abcd", &["a", "b", "c", "d"], false));
    t.indexes
        .push(index("by_small_body", &["small", "body", "id"], false));
    t.unique.push(UniqueConstraint {
        name: "uq_title".into(),
        columns: vec!["title".into()],
    });
    let source = schema(Dialect::Postgres, vec![("book", t)]);
    let m = build(&source, Dialect::Mysql);
    let table = &m.schema.tables["book"];
    let parts = |name: &str| -> Vec<String> {
        table
            .indexes
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .columns
            .iter()
            .map(|p| match p {
                IndexPart::Column(c) => c.clone(),
                IndexPart::Expression { expression } => expression.clone(),
            })
            .collect()
    };
    assert_eq!(parts("by_title"), ["`title`(768)"]);
    assert_eq!(
        parts("by_abcd"),
        ["`a`(192)", "`b`(192)", "`c`(192)", "`d`(192)"]
    );
    // 4 bytes of int, 40 of varchar(10); the text gets the rest: (3072 - 44) / 4.
    assert_eq!(parts("by_small_body"), ["small", "`body`(757)", "id"]);
    // The unique constraint became a unique index on the prefix.
    assert!(table.unique.is_empty());
    assert_eq!(parts("uq_title"), ["`title`(768)"]);
    let prefixed: Vec<&Diagnostic> = m
        .notes
        .iter()
        .filter(|n| n.code == codes::INDEX_PREFIXED)
        .collect();
    assert_eq!(prefixed.len(), 3, "{prefixed:?}");
    assert!(
        prefixed
            .iter()
            .any(|n| n.message.contains("uniqueness is then only enforced"))
    );
}

#[test]
fn a_primary_key_too_long_for_innodb_is_refused() {
    let source = schema(
        Dialect::Postgres,
        vec![("tag", keyed(vec![col("name", "text", "text", false)]))],
    );
    let err = desired(&source, &config(""), Dialect::Mysql)
        .expect_err("text key")
        .to_string();
    assert!(err.contains(codes::KEY_TOO_LONG), "{err}");
    assert!(err.contains("`mappings.tag.types`"), "{err}");
    let ok = desired(
        &source,
        &config("mappings:\n  tag: { types: { name: varchar(255) } }\n"),
        Dialect::Mysql,
    );
    assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.to_string()));
}

#[test]
fn auto_numbered_keys_become_sqlite_rowid_aliases() {
    let mut id = col("id", "uint32", "int unsigned", false);
    id.identity = Some(Identity::AutoIncrement);
    let mut plain = col("id", "int32", "int", false);
    plain.identity = None;
    let mut big = col("id", "uint64", "bigint unsigned", false);
    big.identity = Some(Identity::AutoIncrement);
    let source = schema(
        Dialect::Mysql,
        vec![
            ("film", keyed(vec![id])),
            ("code", keyed(vec![plain])),
            ("huge", keyed(vec![big])),
        ],
    );
    let d = desired(
        &source,
        &config("allow_lossy: [\"huge.id\"]\n"),
        Dialect::Sqlite,
    )
    .expect("desired");
    let film = d.schema.tables["film"].column("id").expect("id");
    assert_eq!(
        (film.native.as_str(), film.ty.to_string()),
        ("INTEGER", "int64".into())
    );
    assert_eq!(film.identity, Some(Identity::AutoIncrement));
    // A plain INTEGER key is the rowid too: 64 bits, as introspection will read it.
    let code = d.schema.tables["code"].column("id").expect("id");
    assert_eq!(
        (code.native.as_str(), code.ty.to_string()),
        ("INTEGER", "int64".into())
    );
    assert_eq!(code.identity, None);
    // An unsigned 64-bit key does not fit the signed rowid: lossy.
    let err = desired(&source, &config(""), Dialect::Sqlite)
        .expect_err("uint64")
        .to_string();
    assert!(
        err.contains("huge.id") && err.contains("signed 64-bit"),
        "{err}"
    );

    // A PostgreSQL identity becomes AUTOINCREMENT; an SQLite rowid stays a rowid.
    let mut pg = col("id", "int32", "integer", false);
    pg.identity = Some(Identity::ByDefault);
    let d = build(
        &schema(Dialect::Postgres, vec![("t", keyed(vec![pg]))]),
        Dialect::Sqlite,
    );
    assert_eq!(
        d.schema.tables["t"].columns[0].identity,
        Some(Identity::AutoIncrement)
    );
    let mut rowid = col("id", "int64", "INTEGER", false);
    rowid.identity = Some(Identity::Rowid);
    let d = build(
        &schema(Dialect::Sqlite, vec![("t", keyed(vec![rowid]))]),
        Dialect::Sqlite,
    );
    assert_eq!(
        d.schema.tables["t"].columns[0].identity,
        Some(Identity::Rowid)
    );
}

/// Views are carried between databases of one engine when what they read keeps its
/// name; renamed inputs or another engine leave them out (and `diff` says so).
#[test]
fn views_are_carried_within_an_engine_when_their_inputs_keep_their_names() {
    use crate::model::{ObjectKind, SchemaObject, View};
    let mut source = schema(
        Dialect::Sqlite,
        vec![("album", keyed(vec![col("id", "int64", "INTEGER", false)]))],
    );
    let reads = |d: &[&str]| View {
        columns: vec![],
        definition: Some("SELECT 1".into()),
        materialized: false,
        depends_on: d.iter().map(|s| s.to_string()).collect(),
    };
    source.views.insert("albums".into(), reads(&["album"]));
    source
        .views
        .insert("albums_again".into(), reads(&["albums"]));
    source.objects.push(SchemaObject {
        kind: ObjectKind::Trigger,
        name: "stamp".into(),
        table: Some("album".into()),
    });
    let carried = |cfg: &str, dest: Dialect| {
        let d = desired(&source, &config(cfg), dest).expect("desired");
        let left: Vec<(&str, String)> = crate::diff::left_out::left_out(&source, &d)
            .into_iter()
            .map(|x| (x.code, x.subject))
            .collect();
        (d.schema.views.keys().cloned().collect::<Vec<_>>(), left)
    };
    let (views, left) = carried("", Dialect::Sqlite);
    assert_eq!(views, ["albums", "albums_again"]);
    assert_eq!(left, [("D304", "album.stamp".to_string())]);

    let (views, left) = carried("mappings:\n  album: { target: records }\n", Dialect::Sqlite);
    assert!(views.is_empty(), "{views:?}");
    assert_eq!(
        left.iter()
            .map(|(c, s)| (*c, s.as_str()))
            .collect::<Vec<_>>(),
        [
            ("D301", "albums"),
            ("D301", "albums_again"),
            ("D304", "album.stamp")
        ]
    );

    let (views, left) = carried("", Dialect::Postgres);
    assert!(views.is_empty(), "{views:?}");
    assert_eq!(left.len(), 3, "{left:?}");
}
