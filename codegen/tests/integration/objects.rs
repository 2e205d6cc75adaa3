//! What introspection sees besides tables (`fixtures/objects/`): views with what they
//! read, materialized views, domains with their checks, partitions, inheritance,
//! exclusion constraints, and the objects seaway reports but never carries. Foreign keys
//! and indexes declared on every partition are lifted to the parent, and the
//! boundaries then keep the partitioned table with what its keys point to.

use crate::support;
use crate::zoo::introspect_url;
use seaway_codegen::boundary;
use seaway_codegen::config::Services;
use seaway_codegen::model::{ObjectKind, Schema};

/// `(kind, name, table)` of every reported object, sorted.
fn objects(schema: &Schema) -> Vec<(ObjectKind, String, Option<String>)> {
    schema
        .objects
        .iter()
        .map(|o| (o.kind, o.name.clone(), o.table.clone()))
        .collect()
}

#[tokio::test]
async fn postgres_objects_are_seen_and_partition_keys_lifted() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("objects/postgres.sql")).expect("fixture");
    let db = pg.fresh_db("seaway_test_t_pg_objects", Some(&sql)).await;
    let s = introspect_url(&db).await.schema;

    let t = |o: &str| Some(o.to_string());
    assert_eq!(
        objects(&s),
        vec![
            (
                ObjectKind::Function,
                "customer_label(c customer)".into(),
                None
            ),
            (ObjectKind::Function, "rental_stamp()".into(), None),
            (
                ObjectKind::Procedure,
                "forget_rentals(IN before date)".into(),
                None
            ),
            (ObjectKind::Trigger, "rental_stamp".into(), t("rental")),
            (ObjectKind::Sequence, "invoice_number".into(), None),
            (ObjectKind::Extension, "btree_gist".into(), None),
            (ObjectKind::Rule, "staff_never_deleted".into(), t("staff")),
            (
                ObjectKind::Policy,
                "customer_everyone".into(),
                t("customer")
            ),
        ]
    );

    // Views know what they read; the materialized one says so.
    assert_eq!(s.views["big_customers"].depends_on, ["customer_payments"]);
    assert_eq!(
        s.views["customer_payments"].depends_on,
        ["customer", "payment"]
    );
    // A view that calls the schema's own function names it among what it reads.
    assert_eq!(
        s.views["customer_labels"].depends_on,
        ["customer", "function customer_label(c customer)"]
    );
    assert!(s.views["payment_counts"].materialized);
    assert!(!s.views["customer_payments"].materialized);

    // Domains with their checks, by name.
    let amount = &s.domains["positive_amount"];
    assert_eq!(amount.base, "numeric(10,2)");
    let checks: Vec<&str> = amount.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        checks,
        ["positive_amount_bounded", "positive_amount_positive"]
    );
    assert_eq!(
        s.domains["short_code"].default.as_deref(),
        Some("'none'::character varying")
    );

    // The partitioned table: its partitions with their bounds; the key and index every
    // partition declares are the parent's, the key only 2024 has stays with it.
    let payment = &s.tables["payment"];
    let partitions: Vec<&str> = payment.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(partitions, ["payment_2023", "payment_2024"]);
    assert!(
        payment.partitions[0]
            .bound
            .starts_with("FOR VALUES FROM ('2023-01-01')")
    );
    let fks: Vec<(&str, &str)> = payment
        .foreign_keys
        .iter()
        .map(|f| (f.name.as_str(), f.references.as_str()))
        .collect();
    assert_eq!(fks, [("payment_customer_id_fkey", "customer")]);
    let indexes: Vec<&str> = payment.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(indexes, ["payment_customer_id_idx"]);
    assert!(payment.partitions[0].foreign_keys.is_empty());
    let only_2024: Vec<&str> = payment.partitions[1]
        .foreign_keys
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(only_2024, ["payment_2024_staff_fk"]);
    assert!(payment.partitions.iter().all(|p| p.indexes.is_empty()));

    // Inheritance and exclusion constraints; the exclusion's index is not an index.
    assert_eq!(s.tables["call_note"].inherits, ["note"]);
    assert_eq!(
        s.tables["note"]
            .foreign_keys
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["note_customer_id_fkey"],
        "the key every child has is the parent's"
    );
    let booking = &s.tables["booking"];
    assert_eq!(booking.exclusions.len(), 1);
    assert!(
        booking.exclusions[0]
            .expression
            .starts_with("EXCLUDE USING gist"),
        "{:?}",
        booking.exclusions
    );
    assert!(booking.indexes.is_empty(), "{:?}", booking.indexes);

    // Boundaries: the partitioned table is with the customer its keys point to, in the
    // service named after the table the others reference most.
    let b = boundary::detect(&s, &Services::default()).expect("boundaries");
    assert_eq!(b.service_of("payment"), Some("customer"), "{b:#?}");
    assert_eq!(b.service_of("rental"), Some("customer"), "{b:#?}");
    let reason = &b.services["customer"].tables["customer"].reason;
    assert!(reason.contains("central table"), "{reason}");
}

#[tokio::test]
async fn mysql_objects_are_seen() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("objects/mysql.sql")).expect("fixture");
    let db = my.fresh_db("seaway_test_t_my_objects", Some(&sql)).await;
    let s = introspect_url(&db).await.schema;
    let t = |o: &str| Some(o.to_string());
    assert_eq!(
        objects(&s),
        vec![
            (ObjectKind::Function, "rental_count".into(), None),
            (ObjectKind::Procedure, "forget_rentals".into(), None),
            (ObjectKind::Trigger, "rental_stamp".into(), t("rental")),
            (ObjectKind::Event, "forget_old_rentals".into(), None),
        ]
    );
    let view = &s.views["customer_rentals"];
    assert_eq!(view.depends_on, ["customer", "rental"]);
    let definition = view.definition.as_deref().unwrap_or_default();
    assert!(
        !definition.contains("seaway_test_t_my_objects"),
        "the definition names its own database: {definition}"
    );
    assert_eq!(s.views["big_customers"].depends_on, ["customer_rentals"]);
}

#[tokio::test]
async fn sqlite_objects_are_seen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("objects.sqlite");
    support::sqlite_fixture(&path, "objects/sqlite.sql").await;
    let s = introspect_url(&format!("sqlite://{}", path.display()))
        .await
        .schema;
    assert_eq!(
        objects(&s),
        vec![(
            ObjectKind::Trigger,
            "rental_stamp".into(),
            Some("rental".into())
        )]
    );
    assert_eq!(
        s.views["customer_rentals"].depends_on,
        ["customer", "rental"]
    );
    assert_eq!(s.views["big_customers"].depends_on, ["customer_rentals"]);
}
