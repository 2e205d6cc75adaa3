//! Direct `pg_catalog` reads for what sea-schema does not report. One query per kind of
//! object for the whole schema (not one per table), so a 500-table schema costs the same
//! handful of round trips as a 5-table one.

use crate::config::Connection;
use crate::inspect::InspectError;
use crate::model::{Check, Domain, Index, IndexPart, ObjectKind, SchemaObject, UniqueConstraint};
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
    pub materialized: bool,
    pub is_partition: bool,
    pub comment: Option<String>,
    pub partition_key: Option<String>,
    pub view_definition: Option<String>,
    /// For a partition: its parent and its bound (`FOR VALUES ...`).
    pub partition_of: Option<(String, String)>,
    /// Inheritance parents (not for partitions), in declared order.
    pub inherits: Vec<String>,
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
    pub exclusions: ByTable<Check>,
    pub domains: BTreeMap<String, Domain>,
    /// View -> the tables and views of this schema it reads.
    pub view_depends: ByTable<String>,
    pub objects: Vec<SchemaObject>,
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
       case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid, true) end as view_definition,
       case when c.relispartition then
            (select p.relname::text from pg_inherits i join pg_class p on p.oid = i.inhparent
             where i.inhrelid = c.oid) end as partition_of,
       case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as partition_bound,
       array(select p.relname::text from pg_inherits i join pg_class p on p.oid = i.inhparent
             where i.inhrelid = c.oid and not c.relispartition order by i.inhseqno) as inherits
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm')
order by 1"#;

/// What each view and materialized view reads, from the dependencies of its rewrite rule:
/// the schema's tables and views, and its own functions (not an extension's), named
/// `function name(arguments)` as `objects:` names them. seaway never carries a function,
/// so a view that calls one (pagila's and sakila's `actor_info` use their own
/// `group_concat` aggregate) is left out and reported, rather than failing the
/// destination's post-data section.
const VIEW_DEPENDS: &str = r#"
with deps as (
    select v.oid as view_oid, v.relname::text as view_name, v.relnamespace,
           dep.refclassid, dep.refobjid
    from pg_class v
    join pg_namespace n on n.oid = v.relnamespace
    join pg_rewrite r on r.ev_class = v.oid
    join pg_depend dep on dep.objid = r.oid and dep.classid = 'pg_rewrite'::regclass
    where n.nspname = $1 and v.relkind in ('v', 'm')
)
select distinct deps.view_name, d.relname::text as depends_on
from deps
join pg_class d on d.oid = deps.refobjid and d.relnamespace = deps.relnamespace
                and d.relkind in ('r', 'p', 'v', 'm', 'f')
where deps.refclassid = 'pg_class'::regclass and d.oid <> deps.view_oid
union
select deps.view_name,
       'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
from deps
join pg_proc p on p.oid = deps.refobjid and p.pronamespace = deps.relnamespace
where deps.refclassid = 'pg_proc'::regclass
  and not exists (select 1 from pg_depend e where e.classid = 'pg_proc'::regclass
                  and e.objid = p.oid and e.deptype = 'e')
order by 1, 2"#;

/// Domains of the schema (not an extension's), with their check constraints.
const DOMAINS: &str = r#"
select t.typname::text as name, format_type(t.typbasetype, t.typtypmod) as base,
       t.typnotnull as not_null, t.typdefault as default_expr,
       array(select k.conname::text from pg_constraint k
             where k.contypid = t.oid and k.contype = 'c' order by k.conname) as check_names,
       array(select pg_get_constraintdef(k.oid) from pg_constraint k
             where k.contypid = t.oid and k.contype = 'c' order by k.conname) as check_defs
from pg_type t join pg_namespace n on n.oid = t.typnamespace
where n.nspname = $1 and t.typtype = 'd'
  and not exists (select 1 from pg_depend d where d.classid = 'pg_type'::regclass
                  and d.objid = t.oid and d.deptype = 'e')
order by 1"#;

/// Objects seaway reports and does not carry: functions and procedures (not an
/// extension's), triggers (not the clones on partitions), sequences no column owns,
/// extensions installed in the schema, rewrite rules and row-level security policies.
/// seaway's own (a sync both ways' delete trigger and its function, named `seaway_...`)
/// are bookkeeping, like its tables (`diff::is_own_table`), and not reported.
const OBJECTS: &str = r#"
select case p.prokind when 'p' then 'procedure' else 'function' end as kind,
       p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as name,
       null::text as table_name
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = $1 and p.proname not like 'seaway\_%'
  and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                  and d.objid = p.oid and d.deptype = 'e')
union all
select 'trigger', t.tgname::text, c.relname::text
from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and not t.tgisinternal and t.tgparentid = 0 and t.tgname not like 'seaway\_%'
union all
select 'sequence', c.relname::text, null
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and c.relkind = 'S'
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                  and d.objid = c.oid and d.deptype in ('a', 'i', 'e'))
union all
select 'extension', e.extname::text, null
from pg_extension e join pg_namespace n on n.oid = e.extnamespace
where n.nspname = $1
union all
select 'rule', r.rulename::text, c.relname::text
from pg_rewrite r join pg_class c on c.oid = r.ev_class join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and r.rulename <> '_RETURN'
union all
select 'policy', p.polname::text, c.relname::text
from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1
order by 1, 2, 3"#;

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
  -- a partition's copy of its parent's index is the parent's
  and not exists (select 1 from pg_inherits ih where ih.inhrelid = ix.indexrelid)
  -- an exclusion constraint's index is the constraint
  and not exists (select 1 from pg_constraint x where x.conindid = ix.indexrelid
                  and x.conrelid = ix.indrelid and x.contype = 'x')
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

/// Foreign keys with both column lists in key order; the copies a partition gets of its
/// parent's keys are skipped (`conparentid`), keys declared on a partition itself kept.
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
where n.nspname = $1 and k.contype = 'f' and k.conparentid = 0
order by 1, 2"#;

/// Constraints of one kind (`$2`: `c` checks, `x` exclusion constraints, whose indexes
/// are not listed as indexes) with their definitions; a partition's copies skipped.
const CONSTRAINT_DEFS: &str = r#"
select c.relname::text as table_name, k.conname::text as name, pg_get_constraintdef(k.oid) as definition
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and k.contype::text = $2 and k.conparentid = 0
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
    partition_of: Option<String>,
    partition_bound: Option<String>,
    inherits: Vec<String>,
}

#[derive(FromRow)]
struct ViewDependRow {
    view_name: String,
    depends_on: String,
}

#[derive(FromRow)]
struct DomainRow {
    name: String,
    base: String,
    not_null: bool,
    default_expr: Option<String>,
    check_names: Vec<String>,
    check_defs: Vec<String>,
}

#[derive(FromRow)]
struct ObjectRow {
    kind: String,
    name: String,
    table_name: Option<String>,
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
    let checks: Vec<CheckRow> = sqlx::query_as(CONSTRAINT_DEFS)
        .bind(schema)
        .bind("c")
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
    let view_depends: Vec<ViewDependRow> = sqlx::query_as(VIEW_DEPENDS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("view dependencies"))?;
    let exclusions: Vec<CheckRow> = sqlx::query_as(CONSTRAINT_DEFS)
        .bind(schema)
        .bind("x")
        .fetch_all(pool)
        .await
        .map_err(err("exclusion constraints"))?;
    let domains: Vec<DomainRow> = sqlx::query_as(DOMAINS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("domains"))?;
    let objects: Vec<ObjectRow> = sqlx::query_as(OBJECTS)
        .bind(schema)
        .fetch_all(pool)
        .await
        .map_err(err("functions, triggers and other objects"))?;

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
                materialized: r.kind == "m",
                is_partition: r.is_partition,
                comment: r.comment,
                partition_key: r.partition_key,
                view_definition: r.view_definition,
                partition_of: r.partition_of.zip(r.partition_bound),
                inherits: r.inherits,
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
    for d in view_depends {
        cat.view_depends
            .entry(d.view_name)
            .or_default()
            .push(d.depends_on);
    }
    for x in exclusions {
        cat.exclusions.entry(x.table_name).or_default().push(Check {
            name: x.name,
            expression: x.definition,
        });
    }
    for d in domains {
        let checks = d
            .check_names
            .into_iter()
            .zip(d.check_defs)
            .map(|(name, expression)| Check { name, expression })
            .collect();
        cat.domains.insert(
            d.name,
            Domain {
                base: d.base,
                not_null: d.not_null,
                default: d.default_expr,
                checks,
            },
        );
    }
    for o in objects {
        let kind = match o.kind.as_str() {
            "procedure" => ObjectKind::Procedure,
            "trigger" => ObjectKind::Trigger,
            "sequence" => ObjectKind::Sequence,
            "extension" => ObjectKind::Extension,
            "rule" => ObjectKind::Rule,
            "policy" => ObjectKind::Policy,
            _ => ObjectKind::Function,
        };
        cat.objects.push(SchemaObject {
            kind,
            name: o.name,
            table: o.table_name,
        });
    }
    Ok(cat)
}
