//! SQLite reader.
//!
//! sea-schema supplies the table list, foreign keys and indexes. Columns come from
//! `pragma_table_xinfo`, and what no pragma reports (generated-column expressions,
//! CHECKs, collations, `AUTOINCREMENT`, partial-index predicates, index expressions,
//! constraint names) from the `CREATE` text in `sqlite_master` (see `ddl.rs`).
//! sea-schema 0.18 collapses declared types, mangles defaults, panics on expression
//! indexes and on foreign keys to an implicit primary key, and splices names into
//! `PRAGMA` strings. When a database has any of those hazards (checked up front with one
//! query), or discovery fails anyway, keys and indexes are read with the pragma
//! table-valued functions instead: same data, bound parameters.

mod ddl;
mod types;

use crate::config::Connection;
use crate::engine::sqlite::connect;
use crate::inspect::{InspectError, Introspection, guarded};
use crate::model::{
    Check, Column, ColumnExtra, Dialect, ForeignKey, Generated, Identity, Index, IndexPart,
    NeutralType, ObjectKind, PrimaryKey, ReferentialAction, Schema, SchemaObject, Table,
    UniqueConstraint, View,
};
use sea_schema::sqlite::def as sq;
use sqlx::SqlitePool;
use std::collections::BTreeMap;

pub(crate) async fn introspect(conn: &Connection) -> Result<Introspection, InspectError> {
    let pool = connect::read_only(conn).await?;
    let found = read(conn, &pool).await;
    pool.close().await;
    found
}

/// One row of `sqlite_master`.
#[derive(Debug, sqlx::FromRow)]
struct MasterRow {
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    tbl_name: String,
    sql: Option<String>,
}

/// One row of `pragma_table_xinfo`.
#[derive(Debug, sqlx::FromRow)]
struct ColumnRow {
    name: String,
    #[sqlx(rename = "type")]
    declared: Option<String>,
    notnull: i64,
    dflt_value: Option<String>,
    pk: i64,
    hidden: i64,
}

/// A foreign key as the catalog lists it, before naming and resolution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RawFk {
    columns: Vec<String>,
    references: String,
    /// `None` where the constraint names no column: the referenced primary key.
    referenced: Vec<Option<String>>,
    on_delete: ReferentialAction,
    on_update: ReferentialAction,
}

#[derive(Debug, Clone)]
enum RawPart {
    Column(String),
    /// An expression part; its text is only in the `CREATE INDEX` statement.
    Expression,
    Rowid,
}

#[derive(Debug, Clone)]
struct RawIndex {
    name: String,
    unique: bool,
    /// `c` (CREATE INDEX), `u` (UNIQUE constraint) or `pk`.
    origin: String,
    partial: bool,
    parts: Vec<RawPart>,
}

#[derive(Debug, Clone, Default)]
struct Keys {
    foreign_keys: Vec<RawFk>,
    indexes: Vec<RawIndex>,
}

/// Everything read about one table before it is turned into the model.
#[derive(Debug)]
struct TableRows {
    sql: String,
    columns: Vec<ColumnRow>,
    keys: Keys,
    /// `pragma_index_list` has an index of origin `pk` (so the key is not the rowid).
    pk_index: bool,
    without_rowid: bool,
}

async fn read(conn: &Connection, pool: &SqlitePool) -> Result<Introspection, InspectError> {
    let master: Vec<MasterRow> =
        sqlx::query_as("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .fetch_all(pool)
            .await
            .map_err(|e| InspectError::catalog(conn, "sqlite_master", e))?;
    let sql_of = |name: &str| {
        master
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.sql.as_deref())
    };
    let kinds: BTreeMap<String, (String, bool)> = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| InspectError::catalog(conn, "pragma_table_list", e))?
    .into_iter()
    .map(|(name, kind, wr)| (name, (kind, wr != 0)))
    .collect();

    let mut warnings = Vec::new();
    let discovered = discover(conn, pool).await;
    let names: Vec<String> = match &discovered {
        Some(found) => found.keys().cloned().collect(),
        None => master
            .iter()
            .filter(|m| m.kind == "table")
            .map(|m| m.name.clone())
            .collect(),
    };
    let mut rows: BTreeMap<String, TableRows> = BTreeMap::new();
    for name in names {
        let (kind, without_rowid) = kinds
            .get(&name)
            .cloned()
            .unwrap_or_else(|| ("table".to_string(), false));
        if name.to_ascii_lowercase().starts_with("sqlite_") || kind == "shadow" {
            continue; // SQLite's own tables, and tables a virtual table keeps its data in
        }
        if kind == "virtual" {
            warnings.push(format!(
                "{name}: virtual table (and its shadow tables) skipped; it has no neutral form"
            ));
            continue;
        }
        let columns: Vec<ColumnRow> = sqlx::query_as(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .map_err(|e| InspectError::catalog(conn, &format!("columns of `{name}`"), e))?;
        let pk_index: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pragma_index_list(?) WHERE origin = 'pk'")
                .bind(&name)
                .fetch_one(pool)
                .await
                .map_err(|e| InspectError::catalog(conn, &format!("indexes of `{name}`"), e))?;
        let keys = match discovered.as_ref().and_then(|d| d.get(&name)) {
            Some(keys) => keys.clone(),
            None => read_keys(conn, pool, &name).await?,
        };
        let sql = sql_of(&name).unwrap_or_default().to_string();
        rows.insert(
            name,
            TableRows {
                sql,
                columns,
                keys,
                pk_index: pk_index > 0,
                without_rowid,
            },
        );
    }

    let mut schema = Schema::new(Dialect::Sqlite, "main");
    for (name, table) in &rows {
        let built = build_table(name, table, &rows, &sql_of, &mut warnings);
        schema.tables.insert(name.clone(), built);
    }
    for view in master
        .iter()
        .filter(|m| m.kind == "view" && !m.name.to_ascii_lowercase().starts_with("sqlite_"))
    {
        let columns =
            sqlx::query_scalar::<_, String>("SELECT name FROM pragma_table_xinfo(?) ORDER BY cid")
                .bind(&view.name)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| {
                    warnings.push(format!(
                        "{}: cannot list the view's columns: {e}",
                        view.name
                    ));
                    Vec::new()
                });
        let definition = view
            .sql
            .as_deref()
            .map(|sql| ddl::view_select(sql).unwrap_or_else(|| sql.to_string()));
        let depends_on = definition
            .as_deref()
            .map(|d| {
                let others = master
                    .iter()
                    .filter(|m| matches!(m.kind.as_str(), "table" | "view") && m.name != view.name)
                    .map(|m| m.name.as_str());
                ddl::names_read(d, others)
            })
            .unwrap_or_default();
        schema.views.insert(
            view.name.clone(),
            View {
                columns,
                definition,
                materialized: false,
                depends_on,
            },
        );
    }
    // Seaway's own triggers (sync's change capture, `seaway_...`) are bookkeeping, like
    // its tables (`diff::is_own_table`), and not reported.
    for trigger in master
        .iter()
        .filter(|m| m.kind == "trigger" && !m.name.starts_with("seaway_"))
    {
        schema.objects.push(SchemaObject {
            kind: ObjectKind::Trigger,
            name: trigger.name.clone(),
            table: Some(trigger.tbl_name.clone()),
        });
    }
    Ok(Introspection { schema, warnings })
}

/// Tables, foreign keys and indexes from sea-schema, or `None` when it must not or
/// could not be used (the caller then reads the pragmas itself).
async fn discover(conn: &Connection, pool: &SqlitePool) -> Option<BTreeMap<String, Keys>> {
    // Names with a quote break sea-schema's spliced `PRAGMA ...('name')`; a foreign key
    // without referenced columns or an expression index part makes it panic on a NULL.
    let hazard: Result<bool, _> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE instr(name, '''') > 0 OR instr(tbl_name, '''') > 0) \
         OR EXISTS (SELECT 1 FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f \
                    WHERE m.type = 'table' AND f.\"to\" IS NULL) \
         OR EXISTS (SELECT 1 FROM sqlite_master AS m, pragma_index_list(m.name) AS l, pragma_index_info(l.name) AS i \
                    WHERE m.type = 'table' AND i.name IS NULL)",
    )
    .fetch_one(pool)
    .await;
    if !matches!(hazard, Ok(false)) {
        tracing::debug!(
            "sqlite: sea-schema discovery skipped (hazard check: {hazard:?}); reading pragmas"
        );
        return None;
    }
    let discovery = sea_schema::sqlite::discovery::SchemaDiscovery::new(pool.clone());
    let found = match guarded(conn, "sea-schema discovery", async move {
        discovery.discover().await
    })
    .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!("sqlite: {e}; reading pragmas instead");
            return None;
        }
    };
    let mut out: BTreeMap<String, Keys> = BTreeMap::new();
    for def in &found.tables {
        let keys = out.entry(def.name.clone()).or_default();
        keys.foreign_keys
            .extend(def.foreign_keys.iter().map(|fk| RawFk {
                columns: fk.from.clone(),
                references: fk.table.clone(),
                referenced: fk.to.iter().cloned().map(Some).collect(),
                on_delete: sea_action(&fk.on_delete),
                on_update: sea_action(&fk.on_update),
            }));
        keys.indexes.extend(def.constraints.iter().map(sea_index));
    }
    for index in &found.indexes {
        out.entry(index.table_name.clone())
            .or_default()
            .indexes
            .push(sea_index(index));
    }
    Some(out)
}

fn sea_index(i: &sq::IndexInfo) -> RawIndex {
    RawIndex {
        name: i.index_name.clone(),
        unique: i.unique,
        origin: i.origin.clone(),
        partial: i.partial != 0,
        parts: i.columns.iter().cloned().map(RawPart::Column).collect(),
    }
}

fn sea_action(a: &sq::ForeignKeyAction) -> ReferentialAction {
    match a {
        sq::ForeignKeyAction::NoAction => ReferentialAction::NoAction,
        sq::ForeignKeyAction::Restrict => ReferentialAction::Restrict,
        sq::ForeignKeyAction::SetNull => ReferentialAction::SetNull,
        sq::ForeignKeyAction::SetDefault => ReferentialAction::SetDefault,
        sq::ForeignKeyAction::Cascade => ReferentialAction::Cascade,
    }
}

fn action(text: &str) -> ReferentialAction {
    match text.to_ascii_uppercase().as_str() {
        "RESTRICT" => ReferentialAction::Restrict,
        "CASCADE" => ReferentialAction::Cascade,
        "SET NULL" => ReferentialAction::SetNull,
        "SET DEFAULT" => ReferentialAction::SetDefault,
        _ => ReferentialAction::NoAction,
    }
}

/// Foreign keys and indexes of one table from the pragma table-valued functions.
async fn read_keys(
    conn: &Connection,
    pool: &SqlitePool,
    table: &str,
) -> Result<Keys, InspectError> {
    let what = |part: &str| format!("{part} of `{table}`");
    let fk_rows: Vec<(i64, String, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .map_err(|e| InspectError::catalog(conn, &what("foreign keys"), e))?;
    let mut keys = Keys::default();
    let mut last_id = None;
    for (id, references, from, to, on_update, on_delete) in fk_rows {
        match keys.foreign_keys.last_mut() {
            Some(fk) if last_id == Some(id) => {
                fk.columns.push(from);
                fk.referenced.push(to);
            }
            _ => keys.foreign_keys.push(RawFk {
                columns: vec![from],
                references,
                referenced: vec![to],
                on_delete: action(&on_delete),
                on_update: action(&on_update),
            }),
        }
        last_id = Some(id);
    }
    let index_rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?) ORDER BY seq",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .map_err(|e| InspectError::catalog(conn, &what("indexes"), e))?;
    for (name, unique, origin, partial) in index_rows {
        let parts: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT cid, name FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .map_err(|e| InspectError::catalog(conn, &format!("columns of index `{name}`"), e))?;
        let parts = parts
            .into_iter()
            .map(|(cid, column)| match (cid, column) {
                (-1, _) => RawPart::Rowid,
                (_, Some(column)) => RawPart::Column(column),
                (_, None) => RawPart::Expression,
            })
            .collect();
        keys.indexes.push(RawIndex {
            name,
            unique: unique != 0,
            origin,
            partial: partial != 0,
            parts,
        });
    }
    Ok(keys)
}

fn build_table<'m>(
    name: &str,
    rows: &TableRows,
    all: &BTreeMap<String, TableRows>,
    sql_of: &impl Fn(&str) -> Option<&'m str>,
    warnings: &mut Vec<String>,
) -> Table {
    let ddl = ddl::parse_create_table(&rows.sql);
    let mut pk: Vec<&ColumnRow> = rows.columns.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    let rowid_alias = match pk.as_slice() {
        [only] if !rows.pk_index && !rows.without_rowid => only
            .declared
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("INTEGER"))
            .then_some(only.name.as_str()),
        _ => None,
    };
    let mut table = Table {
        columns: rows
            .columns
            .iter()
            .map(|c| column(name, c, &ddl, rowid_alias, warnings))
            .collect(),
        primary_key: (!pk.is_empty()).then(|| PrimaryKey {
            name: None,
            columns: pk.iter().map(|c| c.name.clone()).collect(),
        }),
        ..Table::default()
    };
    let mut unnamed = 0;
    for check in &ddl.checks {
        let name = check.name.clone().unwrap_or_else(|| {
            unnamed += 1;
            format!("{name}_check_{unnamed}")
        });
        table.checks.push(Check {
            name,
            expression: check.expression.clone(),
        });
    }
    for index in &rows.keys.indexes {
        add_index(name, index, &ddl, sql_of(&index.name), &mut table, warnings);
    }
    let mut fks = rows.keys.foreign_keys.clone();
    fks.sort();
    for fk in fks {
        if let Some(fk) = foreign_key(name, fk, all, &table.foreign_keys, warnings) {
            table.foreign_keys.push(fk);
        }
    }
    table
}

fn column(
    table: &str,
    c: &ColumnRow,
    ddl: &ddl::TableDdl,
    rowid_alias: Option<&str>,
    warnings: &mut Vec<String>,
) -> Column {
    let declared = c.declared.clone().unwrap_or_default();
    let is_rowid = rowid_alias == Some(c.name.as_str());
    let identity = is_rowid.then_some(if ddl.autoincrement {
        Identity::AutoIncrement
    } else {
        Identity::Rowid
    });
    let def = ddl.column(&c.name);
    let generated = matches!(c.hidden, 2 | 3).then(|| {
        let expression = def.and_then(|d| d.generated.clone()).unwrap_or_else(|| {
            warnings.push(format!(
                "{table}.{}: generated column whose expression could not be read",
                c.name
            ));
            String::new()
        });
        Generated {
            expression,
            stored: c.hidden == 3,
        }
    });
    let extras = def
        .and_then(|d| d.collation.clone())
        .filter(|coll| !coll.eq_ignore_ascii_case("BINARY"))
        .map(ColumnExtra::Collation)
        .into_iter()
        .collect();
    Column {
        name: c.name.clone(),
        // The rowid holds 64 bits whatever the declaration says (`INTEGER` alone would
        // read as int32, and a 64-bit source key written here would not diff empty).
        ty: if is_rowid {
            NeutralType::Int {
                bits: 64,
                unsigned: false,
            }
        } else {
            types::neutral_type(&declared)
        },
        native: declared,
        // A key column is NOT NULL in the model whatever its declaration: SQLite lets a key
        // other than the rowid hold NULL (a bug it keeps for old databases), every other
        // engine and its own WITHOUT ROWID tables do not, and a key read as nullable would
        // plan "allow NULL" in the key at every later diff, which PostgreSQL refuses.
        nullable: c.notnull == 0 && c.pk == 0 && !is_rowid,
        default: c.dflt_value.as_deref().map(types::classify_default),
        identity,
        generated,
        comment: None,
        extras,
    }
}

fn add_index(
    table: &str,
    ix: &RawIndex,
    ddl: &ddl::TableDdl,
    sql: Option<&str>,
    out: &mut Table,
    warnings: &mut Vec<String>,
) {
    if ix.origin == "pk" {
        return; // the primary key's own index
    }
    let parsed = sql.and_then(ddl::parse_create_index);
    let mut parts = Vec::new();
    for (k, part) in ix.parts.iter().enumerate() {
        parts.push(match part {
            RawPart::Column(c) => IndexPart::Column(c.clone()),
            RawPart::Rowid => IndexPart::Column("rowid".to_string()),
            RawPart::Expression => match parsed.as_ref().and_then(|p| p.parts.get(k)) {
                Some(text) => IndexPart::Expression {
                    expression: text.clone(),
                },
                None => {
                    warnings.push(format!(
                        "{table}: index `{}` skipped: cannot read its expression",
                        ix.name
                    ));
                    return;
                }
            },
        });
    }
    let predicate = if ix.partial {
        parsed.as_ref().and_then(|p| p.predicate.clone())
    } else {
        None
    };
    if ix.partial && predicate.is_none() {
        warnings.push(format!(
            "{table}: index `{}` is partial but its WHERE clause could not be read",
            ix.name
        ));
    }
    let plain = IndexPart::plain_columns(&parts);
    match plain {
        Some(columns) if ix.unique && !ix.partial => {
            let name = if ix.origin == "u" {
                unique_name(table, &columns, ddl)
            } else {
                ix.name.clone()
            };
            out.unique.push(UniqueConstraint { name, columns });
        }
        _ => out.indexes.push(Index {
            name: ix.name.clone(),
            columns: parts,
            unique: ix.unique,
            predicate,
            method: None,
        }),
    }
}

/// A `UNIQUE` constraint's index is `sqlite_autoindex_<table>_<n>`, a name that cannot be
/// re-created and shifts when constraints move: use the `CONSTRAINT` name when the
/// statement gives one, else `<table>_<columns>_key`.
fn unique_name(table: &str, columns: &[String], ddl: &ddl::TableDdl) -> String {
    let same = |u: &&ddl::UniqueDdl| {
        u.columns.len() == columns.len()
            && u.columns
                .iter()
                .zip(columns)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    match ddl.uniques.iter().find(same) {
        Some(u) => u.name.clone(),
        None => format!("{table}_{}_key", columns.join("_")),
    }
}

/// Names the key, resolves the referenced table and columns to their stored spelling
/// (the catalog reports them as written in `REFERENCES`), and fills in an omitted
/// column list from the referenced primary key.
fn foreign_key(
    table: &str,
    fk: RawFk,
    all: &BTreeMap<String, TableRows>,
    taken: &[ForeignKey],
    warnings: &mut Vec<String>,
) -> Option<ForeignKey> {
    let target = all.get_key_value(&fk.references).or_else(|| {
        all.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&fk.references))
    });
    let referenced_columns: Vec<String> = if fk.referenced.iter().all(Option::is_some) {
        fk.referenced
            .iter()
            .flatten()
            .map(|c| {
                target
                    .and_then(|(_, t)| t.columns.iter().find(|tc| tc.name.eq_ignore_ascii_case(c)))
                    .map_or_else(|| c.clone(), |tc| tc.name.clone())
            })
            .collect()
    } else {
        let mut pk: Vec<&ColumnRow> = target
            .map(|(_, t)| t.columns.iter().filter(|c| c.pk > 0).collect())
            .unwrap_or_default();
        pk.sort_by_key(|c| c.pk);
        pk.into_iter().map(|c| c.name.clone()).collect()
    };
    if referenced_columns.len() != fk.columns.len() {
        warnings.push(format!(
            "{table}: foreign key ({}) skipped: it references the primary key of `{}`, which {}",
            fk.columns.join(", "),
            fk.references,
            if target.is_some() {
                "does not match its columns"
            } else {
                "does not exist"
            }
        ));
        return None;
    }
    let base = format!("fk_{table}_{}", fk.columns.join("_"));
    let mut name = base.clone();
    let mut n = 1;
    while taken.iter().any(|t| t.name == name) {
        n += 1;
        name = format!("{base}_{n}");
    }
    Some(ForeignKey {
        name,
        columns: fk.columns,
        references: target.map_or(fk.references, |(n, _)| n.clone()),
        referenced_columns,
        on_delete: fk.on_delete,
        on_update: fk.on_update,
    })
}
