//! Direct `pg_catalog` reads for what sea-schema does not report. One query per kind of
//! object for the whole schema (not one per table), so a 500-table schema costs the same
//! handful of round trips as a 5-table one.

use crate::config::Connection;
use crate::inspect::InspectError;
use crate::model::{Check, Index, IndexPart, UniqueConstraint};
use sqlx::{FromRow, PgPool};
use std::collections::BTreeMap;

/// Catalog rows grouped by table name.
type ByTable<T> = BTreeMap<String, Vec<T>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelKind {
    Table,
    View,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub kind: RelKind,
    pub is_partition: bool,
    pub comment: Option<String>,
    pub partition_key: Option<String>,
    pub view_definition: Option<String>,
}

/// What a column's type resolves to, after looking through a domain to its base type.
#[derive(Debug, Clone, Default)]
pub struct TypeInfo {
    /// `format_type` of the base type with the column's modifier, e.g. `numeric(38,10)`.
    pub base_native: String,
    /// `pg_type.typtype` of the base type: `b` base, `e` enum, `r` range, `c` composite...
    pub base_kind: String,
    pub base_name: String,
    /// For arrays, the element's `typtype` and name.
    pub elem_kind: Option<String>,
    pub elem_name: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ColumnRow {
    pub table_name: String,
    pub name: String,
    pub native: String,
    #[sqlx(flatten)]
    pub type_info: TypeInfo,
    pub domain: Option<String>,
    pub domain_checks: Vec<String>,
    pub nullable: bool,
    pub default_expr: Option<String>,
    pub identity: String,
    pub generated: String,
    pub comment: Option<String>,
    pub collation: Option<String>,
}

impl<'r> FromRow<'r, sqlx::postgres::PgRow> for TypeInfo {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(TypeInfo {
            base_native: row.try_get("base_native")?,
            base_kind: row.try_get("base_kind")?,
            base_name: row.try_get("base_name")?,
            elem_kind: row.try_get("elem_kind")?,
            elem_name: row.try_get("elem_name")?,
        })
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct IndexRow {
    pub table_name: String,
    pub name: String,
    pub is_unique: bool,
    pub method: String,
    pub predicate: Option<String>,
    /// Per key part: the column name, or NULL for an expression.
    pub part_columns: Vec<Option<String>>,
    /// Per key part: `pg_get_indexdef` text (the expression for expression parts).
    pub part_defs: Vec<String>,
}

impl IndexRow {
    /// A plain unique index over columns, with no predicate: the neutral "unique".
    pub fn as_unique_constraint(&self) -> Option<UniqueConstraint> {
        if !self.is_unique || self.predicate.is_some() || self.method != "btree" {
            return None;
        }
        let columns: Option<Vec<String>> = self.part_columns.iter().cloned().collect();
        Some(UniqueConstraint {
            name: self.name.clone(),
            columns: columns?,
        })
    }

    pub fn to_index(&self) -> Index {
        Index {
            name: self.name.clone(),
            columns: self
                .part_columns
                .iter()
                .zip(&self.part_defs)
                .map(|(col, def)| match col {
                    Some(c) => IndexPart::Column(c.clone()),
                    None => IndexPart::Expression {
                        expression: def.clone(),
                    },
                })
                .collect(),
            unique: self.is_unique,
            predicate: self.predicate.clone(),
            method: (self.method != "btree").then(|| self.method.clone()),
        }
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub relations: BTreeMap<String, Relation>,
    pub columns: ByTable<ColumnRow>,
    pub indexes: ByTable<IndexRow>,
    pub checks: ByTable<Check>,
    pub primary_keys: BTreeMap<String, KeyRow>,
    pub foreign_keys: ByTable<ForeignKeyRow>,
    /// Labels of enums from other schemas that columns here use.
    pub foreign_enums: BTreeMap<String, Vec<String>>,
}

/// Schemas, other than the one read and `public`, holding a type that its columns use
/// (directly, as an array element, or as a domain's base).
pub const TYPE_SCHEMAS: &str = r#"
select distinct tn.nspname::text
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
left join pg_type bt on bt.oid = t.typbasetype and t.typtype = 'd'
join pg_namespace tn on tn.oid in (t.typnamespace, et.typnamespace, bt.typnamespace)
where n.nspname = $1 and a.attnum > 0
  and tn.nspname not in ('pg_catalog', 'information_schema', 'public', $1)
order by 1"#;

const RELATIONS: &str = r#"
select c.relname::text as name, c.relkind::text as kind, c.relispartition as is_partition,
       obj_description(c.oid, 'pg_class') as comment,
       case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partition_key,
       case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid, true) end as view_definition
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm')
order by 1"#;

const COLUMNS: &str = r#"
select c.relname::text as table_name, a.attname::text as name,
       format_type(a.atttypid, a.atttypmod) as native,
       format_type(bt.oid, case when t.typtype = 'd' then t.typtypmod else a.atttypmod end) as base_native,
       bt.typtype::text as base_kind,
       case when bn.nspname = $1 then bt.typname::text else bn.nspname || '.' || bt.typname end as base_name,
       et.typtype::text as elem_kind,
       case when en.nspname = $1 then et.typname::text else en.nspname || '.' || et.typname end as elem_name,
       case when t.typtype = 'd' then t.typname::text end as domain,
       array(select pg_get_constraintdef(k.oid) from pg_constraint k
             where k.contypid = t.oid order by k.conname) as domain_checks,
       not a.attnotnull as nullable,
       pg_get_expr(d.adbin, d.adrelid) as default_expr,
       a.attidentity::text as identity, a.attgenerated::text as generated,
       col_description(c.oid, a.attnum) as comment,
       case when a.attcollation <> 0 and a.attcollation <> bt.typcollation then co.collname::text end as collation
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
join pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
join pg_namespace bn on bn.oid = bt.typnamespace
left join pg_type et on et.oid = bt.typelem and bt.typcategory = 'A'
left join pg_namespace en on en.oid = et.typnamespace
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join pg_collation co on co.oid = a.attcollation
where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 and not a.attisdropped
order by c.relname, a.attnum"#;

const INDEXES: &str = r#"
select t.relname::text as table_name, i.relname::text as name, ix.indisunique as is_unique,
       am.amname::text as method, pg_get_expr(ix.indpred, ix.indrelid) as predicate,
       array(select case when ix.indkey[k - 1] = 0 then null else
                    (select a.attname::text from pg_attribute a
                     where a.attrelid = ix.indrelid and a.attnum = ix.indkey[k - 1]) end
             from generate_series(1, ix.indnkeyatts) k order by k) as part_columns,
       array(select pg_get_indexdef(ix.indexrelid, k, true)
             from generate_series(1, ix.indnkeyatts) k order by k) as part_defs
from pg_index ix
join pg_class i on i.oid = ix.indexrelid
join pg_class t on t.oid = ix.indrelid
join pg_namespace n on n.oid = t.relnamespace
join pg_am am on am.oid = i.relam
where n.nspname = $1 and not ix.indisprimary and t.relkind in ('r', 'p')
order by 1, 2"#;

/// Primary keys, columns in key order.
const PRIMARY_KEYS: &str = r#"
select c.relname::text as table_name, k.conname::text as name,
       array(select a.attname::text from unnest(k.conkey) with ordinality u(attnum, ord)
             join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum order by u.ord) as columns
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and k.contype = 'p' and not c.relispartition
order by 1"#;

/// Foreign keys with both column lists in key order; partitions' cloned keys skipped.
const FOREIGN_KEYS: &str = r#"
select c.relname::text as table_name, k.conname::text as name,
       array(select a.attname::text from unnest(k.conkey) with ordinality u(attnum, ord)
             join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum order by u.ord) as columns,
       case when rn.nspname = $1 then rc.relname::text else rn.nspname || '.' || rc.relname end as references,
       array(select a.attname::text from unnest(k.confkey) with ordinality u(attnum, ord)
             join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum order by u.ord) as referenced_columns,
       k.confdeltype::text as on_delete, k.confupdtype::text as on_update
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_class rc on rc.oid = k.confrelid
join pg_namespace rn on rn.oid = rc.relnamespace
where n.nspname = $1 and k.contype = 'f' and k.conparentid = 0 and not c.relispartition
order by 1, 2"#;

const CHECKS: &str = r#"
select c.relname::text as table_name, k.conname::text as name, pg_get_constraintdef(k.oid) as definition
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and k.contype = 'c'
order by 1, 2"#;

/// Enums defined outside the schema but used by its columns (directly or as array elements).
const FOREIGN_ENUMS: &str = r#"
select distinct en.nspname || '.' || et.typname as name, e.enumlabel::text as label, e.enumsortorder
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
join pg_type et on et.oid = case when t.typcategory = 'A' then t.typelem else t.oid end
join pg_namespace en on en.oid = et.typnamespace
join pg_enum e on e.enumtypid = et.oid
where n.nspname = $1 and en.nspname <> $1 and a.attnum > 0
order by 1, 3"#;

#[derive(FromRow)]
struct RelationRow {
    name: String,
    kind: String,
    is_partition: bool,
    comment: Option<String>,
    partition_key: Option<String>,
    view_definition: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub table_name: String,
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ForeignKeyRow {
    pub table_name: String,
    pub name: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced_columns: Vec<String>,
    /// `pg_constraint` action codes: a, r, c, n, d.
    pub on_delete: String,
    pub on_update: String,
}

#[derive(FromRow)]
struct CheckRow {
    table_name: String,
    name: String,
    definition: String,
}

#[derive(FromRow)]
struct EnumLabelRow {
    name: String,
    label: String,
}

pub async fn read(conn: &Connection, pool: &PgPool, schema: &str) -> Result<Catalog, InspectError> {
    let err = |what: &'static str| move |e: sqlx::Error| InspectError::catalog(conn, what, e);
    let relations: Vec<RelationRow> = sqlx::query_as(RELATIONS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("relations"))?;
    let columns: Vec<ColumnRow> = sqlx::query_as(COLUMNS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("columns"))?;
    let indexes: Vec<IndexRow> = sqlx::query_as(INDEXES)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("indexes"))?;
    let checks: Vec<CheckRow> = sqlx::query_as(CHECKS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("check constraints"))?;
    let primary_keys: Vec<KeyRow> = sqlx::query_as(PRIMARY_KEYS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("primary keys"))?;
    let foreign_keys: Vec<ForeignKeyRow> = sqlx::query_as(FOREIGN_KEYS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("foreign keys"))?;
    let enum_labels: Vec<EnumLabelRow> = sqlx::query_as(FOREIGN_ENUMS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("enums"))?;

    let mut cat = Catalog::default();
    for r in relations {
        let kind = if matches!(r.kind.as_str(), "v" | "m") {
            RelKind::View
        } else {
            RelKind::Table
        };
        cat.relations.insert(
            r.name,
            Relation {
                kind,
                is_partition: r.is_partition,
                comment: r.comment,
                partition_key: r.partition_key,
                view_definition: r.view_definition,
            },
        );
    }
    for c in columns {
        cat.columns.entry(c.table_name.clone()).or_default().push(c);
    }
    for i in indexes {
        cat.indexes.entry(i.table_name.clone()).or_default().push(i);
    }
    for k in checks {
        let expression = k
            .definition
            .strip_prefix("CHECK ")
            .unwrap_or(&k.definition)
            .to_string();
        cat.checks.entry(k.table_name).or_default().push(Check {
            name: k.name,
            expression,
        });
    }
    for pk in primary_keys {
        cat.primary_keys.insert(pk.table_name.clone(), pk);
    }
    for fk in foreign_keys {
        cat.foreign_keys
            .entry(fk.table_name.clone())
            .or_default()
            .push(fk);
    }
    for l in enum_labels {
        cat.foreign_enums.entry(l.name).or_default().push(l.label);
    }
    Ok(cat)
}
