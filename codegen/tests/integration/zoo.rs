//! The type zoos: every column of `type_zoo` must introspect to exactly the neutral type
//! its fixture line is annotated with, never to `other`; `zoo_carried` columns must be
//! carried as `other(native)` and named in a warning.

use crate::support::{self, Project};
use seaway_codegen::inspect::{self, Introspection};
use seaway_codegen::model::Schema;

/// Introspects the database at `url` (a source connection of a throwaway project).
pub async fn introspect_url(url: &str) -> Introspection {
    let project = Project::new(&format!("connections:\n  zoo:\n    url: \"{url}\"\n"));
    let config = project.config();
    inspect::introspect(config.source_connection())
        .await
        .expect("introspect zoo")
}

fn check_annotations(schema: &Schema, sql: &str, table: &str, at_least: usize) {
    let expected = support::annotations(sql, table);
    assert!(
        expected.len() >= at_least,
        "fixture {table} has too few annotated columns: {expected:?}"
    );
    let got = schema
        .tables
        .get(table)
        .unwrap_or_else(|| panic!("table {table} missing; have {:?}", schema.tables.keys()));
    let got_names: Vec<&str> = got.columns.iter().map(|c| c.name.as_str()).collect();
    let want_names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(got_names, want_names, "{table}: columns in ordinal order");
    let mismatches: Vec<String> = expected
        .iter()
        .filter_map(|(col, want)| {
            let have = got
                .column(col)
                .map(|c| c.ty.to_string())
                .unwrap_or_default();
            (have != *want).then(|| format!("{table}.{col}: expected {want}, got {have}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} type mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn check_zoo(found: &Introspection, sql: &str) {
    check_annotations(&found.schema, sql, "type_zoo", 30);
    check_annotations(&found.schema, sql, "zoo_carried", 3);
    let zoo = &found.schema.tables["type_zoo"];
    assert!(
        zoo.columns.iter().all(|c| !c.ty.is_other()),
        "type_zoo must have no `other` column"
    );
    for col in found.schema.tables["zoo_carried"]
        .columns
        .iter()
        .filter(|c| c.ty.is_other())
    {
        assert!(
            found
                .warnings
                .iter()
                .any(|w| w.contains(&format!("zoo_carried.{}", col.name))),
            "no warning names zoo_carried.{}: {:?}",
            col.name,
            found.warnings
        );
    }
    assert!(
        found.schema.views.contains_key("zoo_view"),
        "views listed apart: {:?}",
        found.schema.views.keys()
    );
    assert!(
        !found.schema.tables.contains_key("zoo_view"),
        "a view is not a table"
    );
    let child = &found.schema.tables["zoo_child"];
    assert_eq!(child.foreign_keys.len(), 1, "zoo_child's foreign key");
    assert_eq!(child.foreign_keys[0].references, "type_zoo");
    assert_eq!(
        child.foreign_keys[0].on_delete,
        seaway_codegen::model::ReferentialAction::Cascade
    );
}

#[tokio::test]
async fn postgres_zoo_maps_every_column() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("zoo/postgres.sql")).expect("fixture");
    let url = pg.fresh_db("seaway_test_t_pg_zoo", Some(&sql)).await;
    let found = introspect_url(&url).await;
    check_zoo(&found, &sql);
    let s = &found.schema;
    // A partitioned table appears once, as its parent; partitions are not tables.
    assert!(s.tables.contains_key("zoo_events"));
    assert_eq!(
        s.tables["zoo_events"].partitioned_by.as_deref(),
        Some("RANGE (happened_on)")
    );
    assert!(
        !s.tables.keys().any(|t| t.starts_with("zoo_events_")),
        "partitions listed: {:?}",
        s.tables.keys()
    );
    // Enums carry their labels in declared order; a domain resolves to its base type.
    assert_eq!(s.enums["mood"], ["sad", "ok", "happy"]);
    let positive = s.tables["type_zoo"]
        .column("c_positive")
        .expect("c_positive");
    assert!(
        matches!(&positive.extras[..], [seaway_codegen::model::ColumnExtra::Domain { name, checks }]
        if name == "positive_int" && checks.iter().any(|c| c.contains("VALUE > 0"))),
        "{:?}",
        positive.extras
    );
    // sea-schema 0.18 misses these; the catalog supplement must fill them.
    let zoo = &s.tables["type_zoo"];
    assert!(
        zoo.indexes.iter().any(|i| i.name == "type_zoo_c_date_idx"),
        "non-unique index: {:?}",
        zoo.indexes
    );
    assert_eq!(
        zoo.comment.as_deref(),
        Some("One column per native PostgreSQL type")
    );
    assert!(zoo.checks.iter().any(|c| c.name == "type_zoo_char_3_upper"));
}

#[tokio::test]
async fn postgres_schema_other_than_public_resolves_its_enums() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = "CREATE SCHEMA shop; CREATE TYPE shop.state AS ENUM ('new', 'paid'); \
               CREATE TABLE shop.orders (id bigint PRIMARY KEY, state shop.state NOT NULL, states shop.state[]); \
               CREATE TABLE public.unrelated (id int PRIMARY KEY);";
    let url = pg.fresh_db("seaway_test_t_pg_schema", Some(sql)).await;
    let project = Project::new(&format!(
        "connections:\n  shop:\n    url: \"{url}\"\n    schema: shop\n"
    ));
    let found = inspect::introspect(project.config().source_connection())
        .await
        .expect("introspect");
    assert_eq!(found.schema.tables.keys().collect::<Vec<_>>(), ["orders"]);
    let orders = &found.schema.tables["orders"];
    assert_eq!(
        orders.column("state").map(|c| c.ty.to_string()).as_deref(),
        Some("enum(state)")
    );
    assert_eq!(
        orders.column("states").map(|c| c.ty.to_string()).as_deref(),
        Some("array(enum(state))")
    );
    assert_eq!(found.schema.enums["state"], ["new", "paid"]);
}

#[tokio::test]
async fn mysql_zoo_maps_every_column() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("zoo/mysql.sql")).expect("fixture");
    let url = my.fresh_db("seaway_test_t_my_zoo", Some(&sql)).await;
    let found = introspect_url(&url).await;
    check_zoo(&found, &sql);
    let zoo = &found.schema.tables["type_zoo"];
    // MariaDB reports JSON as longtext + json_valid(); that CHECK is the type, not a constraint.
    assert!(
        !zoo.checks
            .iter()
            .any(|c| c.expression.contains("json_valid")),
        "{:?}",
        zoo.checks
    );
    assert!(
        zoo.columns.iter().any(|c| c.generated.is_some()),
        "generated column expression"
    );
}

#[tokio::test]
async fn sqlite_zoo_maps_every_column() {
    let sql = std::fs::read_to_string(support::fixture("zoo/sqlite.sql")).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zoo.sqlite");
    {
        use sqlx::Connection;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("create sqlite");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut c)
            .await
            .expect("load sqlite zoo");
        let _ = c.close().await;
    }
    let found = introspect_url(&format!("sqlite://{}", path.display())).await;
    check_zoo(&found, &sql);
    // sea-schema reports this default as the string 'CURRENT_DATE'.
    let col = found.schema.tables["type_zoo"]
        .column("c_date_default")
        .expect("c_date_default");
    assert_eq!(
        col.default,
        Some(seaway_codegen::model::DefaultValue::CurrentDate)
    );
    // A view's definition is its SELECT, as in the other engines.
    let view = &found.schema.views["zoo_view"];
    assert!(
        view.definition
            .as_deref()
            .is_some_and(|d| d.starts_with("SELECT")),
        "{view:?}"
    );
}

#[tokio::test]
async fn postgres_survives_extensions_in_their_own_schema_and_materialized_views() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = "CREATE SCHEMA extensions; \
               CREATE EXTENSION citext SCHEMA extensions; \
               CREATE EXTENSION hstore SCHEMA extensions; \
               CREATE TABLE people (id int PRIMARY KEY, email extensions.citext NOT NULL UNIQUE, \
                                    attrs extensions.hstore, emails extensions.citext[], \
                                    during tstzrange, EXCLUDE USING gist (during WITH &&)); \
               CREATE INDEX people_attrs_idx ON people USING gin (attrs); \
               CREATE INDEX people_lower_idx ON people (lower(email::text)) WHERE id > 0; \
               CREATE MATERIALIZED VIEW people_count AS SELECT count(*) AS n FROM people;";
    let url = pg.fresh_db("seaway_test_t_pg_ext", Some(sql)).await;
    let found = introspect_url(&url).await;
    let people = &found.schema.tables["people"];
    let ty = |c: &str| {
        people
            .column(c)
            .map(|c| c.ty.to_string())
            .unwrap_or_default()
    };
    assert_eq!(ty("email"), "other(citext)");
    assert_eq!(ty("attrs"), "other(hstore)");
    assert_eq!(ty("emails"), "array(other(citext))");
    assert_eq!(ty("during"), "other(tstzrange)");
    assert!(
        found.warnings.iter().any(|w| w.contains("people.email")),
        "{:?}",
        found.warnings
    );
    let gin = people
        .indexes
        .iter()
        .find(|i| i.name == "people_attrs_idx")
        .expect("gin index");
    assert_eq!(gin.method.as_deref(), Some("gin"));
    let partial = people
        .indexes
        .iter()
        .find(|i| i.name == "people_lower_idx")
        .expect("expression index");
    assert_eq!(partial.predicate.as_deref(), Some("(id > 0)"));
    assert!(matches!(
        &partial.columns[..],
        [seaway_codegen::model::IndexPart::Expression { .. }]
    ));
    assert!(
        found.schema.views.contains_key("people_count"),
        "materialized view listed as a view"
    );
}

/// Regression: a foreign key into another schema read as a same-named local table, and an
/// enum of another schema took the labels of a same-named local enum.
#[tokio::test]
async fn postgres_names_from_other_schemas_are_qualified() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = "CREATE SCHEMA \"Odd Schema\"; CREATE TABLE \"Odd Schema\".parent (z int PRIMARY KEY); \
               CREATE TABLE public.parent (z int PRIMARY KEY); \
               CREATE TABLE xref (p int REFERENCES \"Odd Schema\".parent (z), q int REFERENCES public.parent (z)); \
               CREATE TYPE mood AS ENUM ('a', 'b'); CREATE SCHEMA other; CREATE TYPE other.mood AS ENUM ('x', 'y', 'z'); \
               CREATE TABLE u (m mood, o other.mood, os other.mood[]);";
    let url = pg.fresh_db("seaway_test_t_pg_qualified", Some(sql)).await;
    let found = introspect_url(&url).await;
    let refs: Vec<&str> = found.schema.tables["xref"]
        .foreign_keys
        .iter()
        .map(|f| f.references.as_str())
        .collect();
    assert_eq!(refs, ["Odd Schema.parent", "parent"]);
    let u = &found.schema.tables["u"];
    let ty = |c: &str| u.column(c).map(|c| c.ty.to_string()).unwrap_or_default();
    assert_eq!(
        (ty("m"), ty("o"), ty("os")),
        (
            "enum(mood)".into(),
            "enum(other.mood)".into(),
            "array(enum(other.mood))".into()
        )
    );
    assert_eq!(found.schema.enums["mood"], ["a", "b"]);
    assert_eq!(found.schema.enums["other.mood"], ["x", "y", "z"]);
}
