//! MySQL/MariaDB reader.
//!
//! sea-schema's discovery gives tables, columns (parsed types, nullability, auto-increment,
//! `ON UPDATE`, comments), indexes and foreign keys. The catalog is then read directly for
//! what sea-schema 0.18 misses on MariaDB: views, check constraints, generated-column
//! expressions, raw defaults, fractional-second precision, character sets and collations,
//! MariaDB's JSON (a `longtext` with a `json_valid` check), the `uuid`/`inet4`/`inet6` types
//! and the database a foreign key points into.

mod types;

use crate::config::Connection;
use crate::inspect::{InspectError, Introspection};
use crate::model::{
    Check, Column, ColumnExtra, Dialect, ForeignKey, Generated, Identity, Index, IndexPart,
    ObjectKind, PrimaryKey, ReferentialAction, Schema, SchemaObject, Table, UniqueConstraint, View,
};
use sea_schema::mysql::def as sea;
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlPool, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use types::NativeType;

pub(crate) async fn introspect(conn: &Connection) -> Result<Introspection, InspectError> {
    let pool = crate::engine::mysql::connect::pool(conn).await?;
    let found = read(conn, &pool).await;
    pool.close().await;
    found
}

async fn read(conn: &Connection, pool: &MySqlPool) -> Result<Introspection, InspectError> {
    let database = conn.url.database().unwrap_or_default().to_string();
    let discovered = discover(conn, pool, &database).await?;
    let mariadb = discovered.system.is_maria_db();
    let catalog = Catalog::read(conn, pool, &database, &discovered.system).await?;

    let mut schema = Schema::new(Dialect::Mysql, database.as_str());
    let mut warnings = Vec::new();
    for def in &discovered.tables {
        let name = def.info.name.clone();
        let table = build_table(
            conn,
            def,
            &catalog,
            &database,
            mariadb,
            &mut schema.enums,
            &mut warnings,
        )?;
        schema.tables.insert(name, table);
    }
    for (name, kind) in &catalog.tables {
        match kind.kind.as_str() {
            "VIEW" => {
                let columns = catalog
                    .columns
                    .get(name)
                    .map(|cols| cols.iter().map(|c| c.name.clone()).collect());
                let definition = catalog
                    .views
                    .get(name)
                    .filter(|d| !d.trim().is_empty())
                    .map(|d| unqualified(d, &database));
                let depends_on = definition
                    .as_deref()
                    .map(|d| reads(d, name, catalog.tables.keys()))
                    .unwrap_or_default();
                schema.views.insert(
                    name.clone(),
                    View {
                        columns: columns.unwrap_or_default(),
                        definition,
                        materialized: false,
                        depends_on,
                    },
                );
            }
            "SEQUENCE" => schema.objects.push(SchemaObject {
                kind: ObjectKind::Sequence,
                name: name.clone(),
                table: None,
            }),
            _ => {}
        }
    }
    schema.objects.extend(catalog.objects);
    Ok(Introspection { schema, warnings })
}

/// A view's definition without its own database's qualifier: MySQL writes
/// `` `shop`.`t`.`a` `` for every name, and the view must read the destination
/// database's tables, not the source's.
fn unqualified(definition: &str, database: &str) -> String {
    definition.replace(&format!("{}.", super::quote_ident(database)), "")
}

/// The tables and views (of `names`, other than `view` itself) a view's definition
/// names. MySQL keeps no dependency list; every name in a stored definition is quoted,
/// so a quoted name in the text is a name the view reads (a column named like a table
/// only adds an order that is harmless).
fn reads<'a>(definition: &str, view: &str, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    names
        .filter(|n| n.as_str() != view)
        .filter(|n| definition.contains(&super::quote_ident(n)))
        .cloned()
        .collect()
}

/// Runs sea-schema's discovery on its own task, so that a panic inside it (it unwraps
/// catalog values it does not expect, e.g. an unknown index type) becomes an error.
async fn discover(
    conn: &Connection,
    pool: &MySqlPool,
    database: &str,
) -> Result<sea::Schema, InspectError> {
    let discovery = sea_schema::mysql::discovery::SchemaDiscovery::new(pool.clone(), database);
    match tokio::spawn(discovery.discover()).await {
        Ok(Ok(schema)) => Ok(schema),
        Ok(Err(e)) => Err(InspectError::catalog(conn, "sea-schema discovery", e)),
        Err(join) => {
            let reason = match join.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".to_string()),
                Err(join) => join.to_string(),
            };
            Err(InspectError::catalog(
                conn,
                "sea-schema discovery",
                format!("sea-schema failed: {reason}"),
            ))
        }
    }
}

/// One row of `information_schema.COLUMNS`.
#[derive(Debug)]
struct ColumnRow {
    name: String,
    default: Option<String>,
    nullable: bool,
    data_type: String,
    column_type: String,
    datetime_precision: Option<u32>,
    charset: Option<String>,
    collation: Option<String>,
    extra: String,
    generation_expression: Option<String>,
}

#[derive(Debug)]
struct TableRow {
    kind: String,
    collation: Option<String>,
}

#[derive(Debug)]
struct CheckRow {
    name: String,
    column_level: bool,
    clause: String,
}

/// What this reader takes from `information_schema` itself.
#[derive(Debug, Default)]
struct Catalog {
    tables: BTreeMap<String, TableRow>,
    /// By table (or view), in ordinal order.
    columns: HashMap<String, Vec<ColumnRow>>,
    checks: HashMap<String, Vec<CheckRow>>,
    /// `(table, constraint) -> referenced database`.
    fk_targets: HashMap<(String, String), String>,
    views: HashMap<String, String>,
    /// Triggers, functions, procedures and events.
    objects: Vec<SchemaObject>,
    /// Character set -> its default collation.
    charset_default: HashMap<String, String>,
}

fn text(row: &MySqlRow, i: usize) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(i)
}

fn text_or_empty(row: &MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    Ok(text(row, i)?.unwrap_or_default())
}

impl Catalog {
    async fn read(
        conn: &Connection,
        pool: &MySqlPool,
        db: &str,
        system: &sea::SystemInfo,
    ) -> Result<Catalog, InspectError> {
        let fail = |what: &'static str| move |e: sqlx::Error| InspectError::catalog(conn, what, e);
        let mut cat = Catalog::default();

        let sql = "SELECT TABLE_NAME, TABLE_TYPE, TABLE_COLLATION FROM information_schema.TABLES \
                   WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME";
        for row in sqlx::query(sql)
            .bind(db)
            .fetch_all(pool)
            .await
            .map_err(fail("tables"))?
        {
            let name = text_or_empty(&row, 0).map_err(fail("tables"))?;
            let kind = text_or_empty(&row, 1).map_err(fail("tables"))?;
            let collation = text(&row, 2).map_err(fail("tables"))?;
            cat.tables.insert(name, TableRow { kind, collation });
        }

        let sql = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, \
                   CAST(DATETIME_PRECISION AS SIGNED), CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, \
                   GENERATION_EXPRESSION FROM information_schema.COLUMNS \
                   WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION";
        for row in sqlx::query(sql)
            .bind(db)
            .fetch_all(pool)
            .await
            .map_err(fail("columns"))?
        {
            let column = (|| -> Result<(String, ColumnRow), sqlx::Error> {
                let precision: Option<i64> = row.try_get(6)?;
                Ok((
                    text_or_empty(&row, 0)?,
                    ColumnRow {
                        name: text_or_empty(&row, 1)?,
                        default: text(&row, 2)?,
                        nullable: text_or_empty(&row, 3)?.eq_ignore_ascii_case("YES"),
                        data_type: text_or_empty(&row, 4)?,
                        column_type: text_or_empty(&row, 5)?,
                        datetime_precision: precision.and_then(|p| u32::try_from(p).ok()),
                        charset: text(&row, 7)?,
                        collation: text(&row, 8)?,
                        extra: text_or_empty(&row, 9)?,
                        generation_expression: text(&row, 10)?,
                    },
                ))
            })()
            .map_err(fail("columns"))?;
            cat.columns.entry(column.0).or_default().push(column.1);
        }

        // CHECK_CONSTRAINTS: MariaDB 10.2.22+ (with TABLE_NAME and LEVEL; names are per
        // table), MySQL 8.0.16+ (names are per database, the table is in TABLE_CONSTRAINTS).
        let checks_sql = if system.is_maria_db() {
            (system.version >= 100222).then_some(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = ? ORDER BY TABLE_NAME, CONSTRAINT_NAME",
            )
        } else {
            (system.version >= 80016).then_some(
                "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, 'Table', cc.CHECK_CLAUSE \
                 FROM information_schema.TABLE_CONSTRAINTS tc JOIN information_schema.CHECK_CONSTRAINTS cc \
                 ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
                 WHERE tc.TABLE_SCHEMA = ? AND tc.CONSTRAINT_TYPE = 'CHECK' ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME",
            )
        };
        if let Some(sql) = checks_sql {
            for row in sqlx::query(sql)
                .bind(db)
                .fetch_all(pool)
                .await
                .map_err(fail("check constraints"))?
            {
                let table = text_or_empty(&row, 0).map_err(fail("check constraints"))?;
                let check = CheckRow {
                    name: text_or_empty(&row, 1).map_err(fail("check constraints"))?,
                    column_level: text_or_empty(&row, 2)
                        .map_err(fail("check constraints"))?
                        .eq_ignore_ascii_case("Column"),
                    clause: text_or_empty(&row, 3).map_err(fail("check constraints"))?,
                };
                cat.checks.entry(table).or_default().push(check);
            }
        }

        let sql = "SELECT TABLE_NAME, CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA \
                   FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?";
        for row in sqlx::query(sql)
            .bind(db)
            .fetch_all(pool)
            .await
            .map_err(fail("foreign keys"))?
        {
            let table = text_or_empty(&row, 0).map_err(fail("foreign keys"))?;
            let name = text_or_empty(&row, 1).map_err(fail("foreign keys"))?;
            let target = text_or_empty(&row, 2).map_err(fail("foreign keys"))?;
            cat.fk_targets.insert((table, name), target);
        }

        let sql = "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?";
        for row in sqlx::query(sql)
            .bind(db)
            .fetch_all(pool)
            .await
            .map_err(fail("views"))?
        {
            let name = text_or_empty(&row, 0).map_err(fail("views"))?;
            let definition = text_or_empty(&row, 1).map_err(fail("views"))?;
            cat.views.insert(name, definition);
        }

        // Seaway's own triggers (a sync both ways' local-edit triggers, `seaway_...`) are
        // bookkeeping, like its tables (`diff::is_own_table`), and not reported.
        let sql = "SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
                   WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME NOT LIKE 'seaway\\_%' \
                   UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, NULL FROM information_schema.ROUTINES \
                   WHERE ROUTINE_SCHEMA = ? \
                   UNION ALL SELECT 'event', EVENT_NAME, NULL FROM information_schema.EVENTS \
                   WHERE EVENT_SCHEMA = ?";
        for row in sqlx::query(sql)
            .bind(db)
            .bind(db)
            .bind(db)
            .fetch_all(pool)
            .await
            .map_err(fail("triggers, routines and events"))?
        {
            let fail = fail("triggers, routines and events");
            let kind = match text_or_empty(&row, 0).map_err(fail)?.as_str() {
                "trigger" => ObjectKind::Trigger,
                "procedure" => ObjectKind::Procedure,
                "event" => ObjectKind::Event,
                // FUNCTION, and MariaDB's PACKAGE / PACKAGE BODY: code too.
                _ => ObjectKind::Function,
            };
            cat.objects.push(SchemaObject {
                kind,
                name: text_or_empty(&row, 1).map_err(fail)?,
                table: text(&row, 2).map_err(fail)?,
            });
        }

        let sql = "SELECT CHARACTER_SET_NAME, DEFAULT_COLLATE_NAME FROM information_schema.CHARACTER_SETS";
        for row in sqlx::query(sql)
            .fetch_all(pool)
            .await
            .map_err(fail("character sets"))?
        {
            let charset = text_or_empty(&row, 0).map_err(fail("character sets"))?;
            let collation = text_or_empty(&row, 1).map_err(fail("character sets"))?;
            cat.charset_default.insert(charset, collation);
        }
        Ok(cat)
    }
}

fn build_table(
    conn: &Connection,
    def: &sea::TableDef,
    catalog: &Catalog,
    database: &str,
    mariadb: bool,
    enums: &mut BTreeMap<String, Vec<String>>,
    warnings: &mut Vec<String>,
) -> Result<Table, InspectError> {
    let tname = def.info.name.as_str();
    let rows = catalog
        .columns
        .get(tname)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let table_collation = catalog
        .tables
        .get(tname)
        .and_then(|t| t.collation.as_deref());
    let checks = catalog
        .checks
        .get(tname)
        .map(Vec::as_slice)
        .unwrap_or_default();

    // MariaDB's JSON is `longtext` plus a column-level `json_valid(col)` check.
    let json_columns: BTreeSet<&str> = rows
        .iter()
        .filter(|r| mariadb && r.data_type.to_ascii_lowercase().ends_with("text"))
        .filter(|r| {
            checks
                .iter()
                .any(|c| c.column_level && types::is_json_valid_check(&c.clause, &r.name))
        })
        .map(|r| r.name.as_str())
        .collect();

    let mut table = Table {
        comment: Some(def.info.comment.clone()).filter(|c| !c.is_empty()),
        ..Table::default()
    };
    for row in rows {
        let Some(info) = def.columns.iter().find(|c| c.name == row.name) else {
            let why = format!(
                "column `{tname}`.`{}` changed during introspection; run it again",
                row.name
            );
            return Err(InspectError::catalog(conn, "columns", why));
        };
        let json = json_columns.contains(row.name.as_str());
        table.columns.push(build_column(
            tname,
            row,
            info,
            json,
            table_collation,
            catalog,
            mariadb,
            enums,
            warnings,
        ));
    }

    for check in checks {
        let marks_json = check.column_level
            && json_columns
                .iter()
                .any(|col| types::is_json_valid_check(&check.clause, col));
        if !marks_json {
            table.checks.push(Check {
                name: check.name.clone(),
                expression: check.clause.clone(),
            });
        }
    }

    let column_names: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for index in &def.indexes {
        add_index(&mut table, index, &column_names);
    }

    for fk in &def.foreign_keys {
        let target = catalog
            .fk_targets
            .get(&(tname.to_string(), fk.name.clone()));
        let references = match target {
            Some(db) if db != database => format!("{db}.{}", fk.referenced_table),
            _ => fk.referenced_table.clone(),
        };
        table.foreign_keys.push(ForeignKey {
            name: fk.name.clone(),
            columns: fk.columns.clone(),
            references,
            referenced_columns: fk.referenced_columns.clone(),
            on_delete: action(&fk.on_delete),
            on_update: action(&fk.on_update),
        });
    }
    Ok(table)
}

#[allow(clippy::too_many_arguments)]
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "sea-schema's MySQL type enum (foreign): only the types it misreports are corrected"
)]
fn build_column(
    tname: &str,
    row: &ColumnRow,
    info: &sea::ColumnInfo,
    json: bool,
    table_collation: Option<&str>,
    catalog: &Catalog,
    mariadb: bool,
    enums: &mut BTreeMap<String, Vec<String>>,
    warnings: &mut Vec<String>,
) -> Column {
    let native = NativeType {
        data_type: &row.data_type,
        datetime_precision: row.datetime_precision,
        json,
    };
    let enum_name = format!("{tname}_{}", row.name);
    let ty = types::neutral_type(&info.col_type, &native, &enum_name);

    let sea_labels = match &info.col_type {
        sea::Type::Enum(e) => Some(&e.values),
        sea::Type::Set(s) => Some(&s.members),
        _ => None,
    };
    if let Some(sea_labels) = sea_labels.filter(|_| !json) {
        let labels = types::parse_labels(&row.column_type).unwrap_or_else(|| sea_labels.clone());
        if let Some(previous) = enums.get(&enum_name).filter(|prev| **prev != labels) {
            warnings.push(format!(
                "{tname}.{}: enum name `{enum_name}` is also used with labels {previous:?}; keeping {labels:?}",
                row.name
            ));
        }
        enums.insert(enum_name, labels);
    }

    let extra = row.extra.to_ascii_uppercase();
    let generated = [
        "VIRTUAL GENERATED",
        "STORED GENERATED",
        "PERSISTENT GENERATED",
    ]
    .iter()
    .any(|g| extra.contains(g))
    .then(|| Generated {
        expression: row
            .generation_expression
            .clone()
            .or_else(|| info.expression.as_ref().map(|e| e.expr.clone()))
            .unwrap_or_default(),
        stored: extra.contains("STORED") || extra.contains("PERSISTENT"),
    });
    let default = if generated.is_some() {
        None
    } else {
        types::classify_default(
            row.default.as_deref(),
            row.nullable,
            &ty,
            mariadb,
            &row.extra,
        )
    };

    let mut extras = Vec::new();
    if info.extra.on_update_current_timestamp {
        extras.push(ColumnExtra::OnUpdateCurrentTimestamp);
    }
    if !json {
        if let Some(charset) = row.charset.as_deref().filter(|c| *c != "utf8mb4") {
            extras.push(ColumnExtra::Charset(charset.to_string()));
        }
        // A collation that is just the default of the column's own character set is
        // implied by that character set, so it is not repeated.
        let implied = |collation: &str| {
            let charset = row.charset.as_deref().unwrap_or_default();
            let table_charset = table_collation.and_then(|tc| collation_charset(tc, catalog));
            table_charset != Some(charset)
                && catalog.charset_default.get(charset).map(String::as_str) == Some(collation)
        };
        if let Some(collation) = row.collation.as_deref()
            && Some(collation) != table_collation
            && !implied(collation)
        {
            extras.push(ColumnExtra::Collation(collation.to_string()));
        }
    }

    Column {
        name: row.name.clone(),
        ty,
        native: if json {
            "json".to_string()
        } else {
            row.column_type.clone()
        },
        nullable: row.nullable,
        default,
        identity: info.extra.auto_increment.then_some(Identity::AutoIncrement),
        generated,
        comment: Some(info.comment.clone()).filter(|c| !c.is_empty()),
        extras,
    }
}

/// The character set a collation belongs to (the longest known charset prefix).
fn collation_charset<'a>(collation: &str, catalog: &'a Catalog) -> Option<&'a str> {
    catalog
        .charset_default
        .keys()
        .filter(|cs| collation == cs.as_str() || collation.starts_with(&format!("{cs}_")))
        .max_by_key(|cs| cs.len())
        .map(String::as_str)
}

fn add_index(table: &mut Table, index: &sea::IndexInfo, columns: &BTreeSet<&str>) {
    // MariaDB reports a SUB_PART (32) on SPATIAL index parts that no DDL can declare.
    let spatial = index.idx_type == sea::IndexType::Spatial;
    let parts: Vec<IndexPart> = index
        .parts
        .iter()
        .map(|p| {
            let plain_column = columns.contains(p.column.as_str());
            let descending = p.order == sea::IndexOrder::Descending;
            let sub_part = p.sub_part.filter(|_| !spatial);
            if plain_column && sub_part.is_none() && !descending {
                return IndexPart::Column(p.column.clone());
            }
            // Prefix and descending parts in MySQL key-part syntax; functional parts as
            // the catalog's expression.
            let mut expression = if plain_column {
                crate::engine::mysql::quote_ident(&p.column)
            } else {
                p.column.clone()
            };
            if let Some(len) = sub_part {
                expression.push_str(&format!("({len})"));
            }
            if descending {
                expression.push_str(" DESC");
            }
            IndexPart::Expression { expression }
        })
        .collect();

    if index.name == "PRIMARY" {
        let columns = parts
            .iter()
            .map(|p| match p {
                IndexPart::Column(c) => c.clone(),
                IndexPart::Expression { expression } => expression.clone(),
            })
            .collect();
        table.primary_key = Some(PrimaryKey {
            name: None,
            columns,
        });
        return;
    }
    let method = match index.idx_type {
        sea::IndexType::BTree => None,
        sea::IndexType::FullText => Some("fulltext"),
        sea::IndexType::Hash => Some("hash"),
        sea::IndexType::RTree => Some("rtree"),
        sea::IndexType::Spatial => Some("spatial"),
    };
    let plain = IndexPart::plain_columns(&parts);
    match plain {
        Some(columns) if index.unique && method.is_none() => {
            table.unique.push(UniqueConstraint {
                name: index.name.clone(),
                columns,
            });
        }
        _ => table.indexes.push(Index {
            name: index.name.clone(),
            columns: parts,
            unique: index.unique,
            predicate: None,
            method: method.map(str::to_string),
        }),
    }
}

/// InnoDB treats `RESTRICT` and `NO ACTION` identically (checked immediately) and MariaDB
/// reports `RESTRICT` when the DDL said nothing, so both are the neutral default,
/// `no_action`; otherwise every MySQL foreign key would look different from the same key
/// in PostgreSQL or SQLite.
fn action(a: &sea::ForeignKeyAction) -> ReferentialAction {
    match a {
        sea::ForeignKeyAction::Cascade => ReferentialAction::Cascade,
        sea::ForeignKeyAction::SetNull => ReferentialAction::SetNull,
        sea::ForeignKeyAction::SetDefault => ReferentialAction::SetDefault,
        sea::ForeignKeyAction::Restrict | sea::ForeignKeyAction::NoAction => {
            ReferentialAction::NoAction
        }
    }
}
