//! PostgreSQL reader.
//!
//! sea-schema discovers the schema's enum types; everything else comes from
//! `pg_catalog` (see `catalog.rs`), one query per kind of object for the whole schema.
//! sea-schema 0.18's table discovery was used first and replaced: it runs several
//! `information_schema` queries per table, each slower as the schema grows (55 s for 100
//! tables), and it reports no non-unique indexes, comments, domains or partitions, keeps
//! lengths in `u16` (so `varchar(100000)` loses its limit), returns columns in no defined
//! order, drops the schema of a foreign key's target, and only resolves enums of the
//! schema being read.

mod catalog;
mod types;

use crate::config::{Connection, closest};
use crate::engine::postgres::connect;
use crate::engine::postgres::search_path;
use crate::inspect::{InspectError, Introspection, guarded};
use crate::model::{
    Column, ColumnExtra, Dialect, ForeignKey, Generated, Identity, Partition, PrimaryKey,
    ReferentialAction, Schema, Table, View,
};

pub(crate) async fn introspect(conn: &Connection) -> Result<Introspection, InspectError> {
    let schema_name = conn.schema.clone().unwrap_or_else(|| "public".to_string());
    let mut path = vec![schema_name.clone()];
    if schema_name != "public" {
        path.push("public".to_string());
    }
    let mut pool = connect::pool(conn, &search_path(&path)).await?;
    check_schema_exists(conn, &pool, &schema_name).await?;
    // sea-schema casts each column's `udt_name::regtype`, which fails ("type citext does
    // not exist") for a type whose schema is not on the search_path, as with extensions
    // installed in their own schema. Put every schema that holds a used type on the path.
    let type_schemas: Vec<String> = sqlx::query_scalar(catalog::TYPE_SCHEMAS)
        .bind(&schema_name)
        .fetch_all(&pool)
        .await
        .map_err(|e| InspectError::catalog(conn, "type schemas", e))?;
    let extra: Vec<String> = type_schemas
        .into_iter()
        .filter(|s| !path.contains(s))
        .collect();
    if !extra.is_empty() {
        path.extend(extra);
        pool.close().await;
        pool = connect::pool(conn, &search_path(&path)).await?;
    }

    let discovery =
        sea_schema::postgres::discovery::SchemaDiscovery::new(pool.clone(), &schema_name);
    let enums = guarded(conn, "sea-schema enum discovery", async move {
        discovery.discover_enums().await
    })
    .await?;
    let cat = catalog::read(conn, &pool, &schema_name).await?;
    pool.close().await;

    let mut schema = Schema::new(Dialect::Postgres, &schema_name);
    let mut warnings = Vec::new();
    let mut partitions: Vec<(String, Partition)> = Vec::new();
    for (name, rel) in &cat.relations {
        let columns = cat.columns.get(name).map(Vec::as_slice).unwrap_or_default();
        if rel.kind == catalog::RelKind::View {
            let columns = columns.iter().map(|c| c.name.clone()).collect();
            schema.views.insert(
                name.clone(),
                View {
                    columns,
                    definition: rel.view_definition.clone(),
                    materialized: rel.materialized,
                    depends_on: cat.view_depends.get(name).cloned().unwrap_or_default(),
                },
            );
            continue;
        }
        if rel.is_partition {
            // A partition's rows and shape belong to its parent; what is declared on it
            // alone is kept with it, for `inspect::lift` and the report of what is left out.
            if let Some((parent, bound)) = &rel.partition_of {
                partitions.push((
                    parent.clone(),
                    Partition {
                        name: name.clone(),
                        bound: bound.clone(),
                        foreign_keys: foreign_keys_of(&cat, name),
                        indexes: cat
                            .indexes
                            .get(name)
                            .into_iter()
                            .flatten()
                            .map(catalog::IndexRow::to_index)
                            .collect(),
                    },
                ));
            }
            continue;
        }
        let mut table = Table {
            columns: columns
                .iter()
                .map(|c| column(c, &mut warnings, name))
                .collect(),
            primary_key: cat.primary_keys.get(name).map(|pk| PrimaryKey {
                name: Some(pk.name.clone()),
                columns: pk.columns.clone(),
            }),
            foreign_keys: foreign_keys_of(&cat, name),
            checks: cat.checks.get(name).cloned().unwrap_or_default(),
            comment: rel.comment.clone(),
            partitioned_by: rel.partition_key.clone(),
            inherits: rel.inherits.clone(),
            exclusions: cat.exclusions.get(name).cloned().unwrap_or_default(),
            ..Table::default()
        };
        for index in cat.indexes.get(name).into_iter().flatten() {
            match index.as_unique_constraint() {
                Some(unique) => table.unique.push(unique),
                None => table.indexes.push(index.to_index()),
            }
        }
        schema.tables.insert(name.clone(), table);
    }
    for (parent, partition) in partitions {
        match schema.tables.get_mut(&parent) {
            Some(table) => table.partitions.push(partition),
            None => warnings.push(format!(
                "{}: partition of `{parent}`, itself a partition: sub-partitions are not carried",
                partition.name
            )),
        }
    }
    schema.domains = cat.domains;
    schema.objects = cat.objects;
    for def in enums {
        schema.enums.insert(def.typename, def.values);
    }
    for (name, labels) in cat.foreign_enums {
        schema.enums.entry(name).or_insert(labels);
    }
    Ok(Introspection { schema, warnings })
}

async fn check_schema_exists(
    conn: &Connection,
    pool: &sqlx::PgPool,
    schema: &str,
) -> Result<(), InspectError> {
    let names: Vec<String> = sqlx::query_scalar(
        "select nspname::text from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema' order by 1",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| InspectError::catalog(conn, "schemas", e))?;
    if names.iter().any(|n| n == schema) {
        return Ok(());
    }
    let hint = match closest(schema, names.iter().map(String::as_str)) {
        Some(c) => format!("; did you mean `{c}`? (schemas: {})", names.join(", ")),
        None => format!(" (schemas: {})", names.join(", ")),
    };
    Err(InspectError::SchemaMissing {
        connection: conn.name.clone(),
        url: conn.url.redacted().to_string(),
        schema: schema.to_string(),
        hint,
    })
}

fn column(c: &catalog::ColumnRow, warnings: &mut Vec<String>, table: &str) -> Column {
    let ty = types::neutral(&c.type_info);
    let (default, sequence) = match c.default_expr.as_deref() {
        Some(expr) if types::is_sequence_default(expr) => (None, true),
        Some(expr) => (types::classify_default(expr, &ty), false),
        None => (None, false),
    };
    let identity = match (c.identity.as_str(), sequence) {
        ("a", _) => Some(Identity::Always),
        ("d", _) => Some(Identity::ByDefault),
        (_, true) => Some(Identity::Sequence),
        _ => None,
    };
    let generated = match (c.generated.as_str(), &c.default_expr) {
        ("s", Some(expr)) => Some(Generated {
            expression: expr.clone(),
            stored: true,
        }),
        ("s", None) => {
            warnings.push(format!(
                "{table}.{}: generated column without a readable expression",
                c.name
            ));
            None
        }
        _ => None,
    };
    let mut extras = Vec::new();
    if let Some(domain) = &c.domain {
        extras.push(ColumnExtra::Domain {
            name: domain.clone(),
            checks: c.domain_checks.clone(),
        });
    }
    if let Some(collation) = &c.collation {
        extras.push(ColumnExtra::Collation(collation.clone()));
    }
    Column {
        name: c.name.clone(),
        ty,
        native: c.native.clone(),
        nullable: c.nullable,
        default: if generated.is_some() { None } else { default },
        identity,
        generated,
        comment: c.comment.clone(),
        extras,
    }
}

/// The foreign keys declared on relation `name` (a table or a partition).
fn foreign_keys_of(cat: &catalog::Catalog, name: &str) -> Vec<ForeignKey> {
    cat.foreign_keys
        .get(name)
        .into_iter()
        .flatten()
        .map(foreign_key)
        .collect()
}

fn foreign_key(r: &catalog::ForeignKeyRow) -> ForeignKey {
    ForeignKey {
        name: r.name.clone(),
        columns: r.columns.clone(),
        references: r.references.clone(),
        referenced_columns: r.referenced_columns.clone(),
        on_delete: action(&r.on_delete),
        on_update: action(&r.on_update),
    }
}

/// `pg_constraint.confdeltype` / `confupdtype` codes.
fn action(code: &str) -> ReferentialAction {
    match code {
        "r" => ReferentialAction::Restrict,
        "c" => ReferentialAction::Cascade,
        "n" => ReferentialAction::SetNull,
        "d" => ReferentialAction::SetDefault,
        _ => ReferentialAction::NoAction,
    }
}
