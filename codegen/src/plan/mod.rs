//! Changes -> SQL statements for one destination dialect, rendered through sea-query.
//!
//! Column types are passed to sea-query as custom types holding the DDL string the
//! `target` stage chose, so sea-query never has to render a type itself (it panics with
//! `unimplemented!` on types a dialect lacks, such as arrays on MySQL). Statements are
//! split into pre-data (enums, tables, columns) and post-data (indexes, unique
//! constraints, foreign keys), so data can be loaded between the two.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::diff::Change;
use crate::migrations::{Section, Statement};
use crate::model::{
    Dialect, ForeignKey, Index, IndexPart, ReferentialAction, Table, UniqueConstraint, View,
};
use sea_query::{Alias, Expr, ForeignKeyAction};

pub(crate) mod column;
pub(crate) mod dialect;

pub(crate) use column::column_def;
pub(crate) use dialect::DialectPlan;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{what}: a name containing a line break cannot be written to a migration file")]
    LineBreak { what: String },
}

/// Renders `changes` (already filtered by `diff::policy`) for `dialect`.
pub fn plan(changes: &[Change], dialect: Dialect) -> Result<Vec<Statement>, PlanError> {
    let d: &dyn DialectPlan = match dialect {
        Dialect::Postgres => &crate::engine::postgres::plan::Postgres,
        Dialect::Mysql => &crate::engine::mysql::plan::Mysql,
        Dialect::Sqlite => &crate::engine::sqlite::plan::Sqlite,
    };
    let mut pre = Vec::new();
    let mut post = Vec::new();
    let mut push = |section: Section, description: String, sql: String| -> Result<(), PlanError> {
        if description.contains('\n') || sql.contains("\n\n") {
            return Err(PlanError::LineBreak { what: description });
        }
        let st = Statement {
            section,
            description,
            sql,
        };
        match section {
            Section::PreData => pre.push(st),
            Section::PostData => post.push(st),
        }
        Ok(())
    };
    for change in changes {
        match change {
            Change::CreateEnum { name, labels } => {
                if let Some(sql) = d.create_enum(name, labels) {
                    push(
                        Section::PreData,
                        format!("create enum type {}", q(name)),
                        sql,
                    )?;
                }
            }
            Change::AddEnumLabels { name, labels } => {
                for sql in d.add_enum_labels(name, labels) {
                    push(
                        Section::PreData,
                        format!("add label to enum type {}", q(name)),
                        sql,
                    )?;
                }
            }
            Change::CreateDomain { name, domain } => {
                if let Some(sql) = d.create_domain(name, domain) {
                    push(Section::PreData, format!("create domain {}", q(name)), sql)?;
                }
            }
            Change::AddPartition { table, partition } => {
                if let Some(sql) = d.create_partition(table, partition) {
                    push(
                        Section::PreData,
                        format!("add partition {} of {}", q(&partition.name), q(table)),
                        sql,
                    )?;
                }
            }
            Change::CreateView { name, view } => {
                let what = if view.materialized {
                    "materialized view"
                } else {
                    "view"
                };
                push(
                    Section::PostData,
                    format!("create {what} {}", q(name)),
                    create_view(d, name, view),
                )?;
            }
            Change::AddTable { name, table } => {
                push(
                    Section::PreData,
                    format!("add table {}", q(name)),
                    create_table(d, name, table),
                )?;
                for p in &table.partitions {
                    if let Some(sql) = d.create_partition(name, p) {
                        push(
                            Section::PreData,
                            format!("add partition {} of {}", q(&p.name), q(name)),
                            sql,
                        )?;
                    }
                }
                for u in &table.unique {
                    push(
                        Section::PostData,
                        format!("add unique {} on {}", q(&u.name), q(name)),
                        unique(d, name, u),
                    )?;
                }
                for ix in &table.indexes {
                    push(
                        Section::PostData,
                        format!("add index {} on {}", q(&ix.name), q(name)),
                        index(d, name, ix),
                    )?;
                }
                if !d.inline_foreign_keys() {
                    for fk in &table.foreign_keys {
                        push(
                            Section::PostData,
                            format!("add foreign key {} on {}", q(&fk.name), q(name)),
                            foreign_key(d, name, fk),
                        )?;
                    }
                }
            }
            Change::AddColumn { table, column } => {
                let mut alter = sea_query::Table::alter();
                alter
                    .table(Alias::new(table.as_str()))
                    .add_column(column_def(d, column, false));
                push(
                    Section::PreData,
                    format!("add column {}.{}", q(table), q(&column.name)),
                    d.build(&alter),
                )?;
            }
            Change::WidenColumn {
                table,
                column,
                from,
            } => {
                push(
                    Section::PreData,
                    format!(
                        "widen column {}.{} from {from} to {}",
                        q(table),
                        q(&column.name),
                        column.ty
                    ),
                    d.widen(table, column),
                )?;
            }
            Change::RelaxNotNull { table, column } => {
                push(
                    Section::PreData,
                    format!("allow NULL in {}.{}", q(table), q(&column.name)),
                    d.relax_not_null(table, column),
                )?;
            }
            Change::AddUnique { table, unique: u } => push(
                Section::PostData,
                format!("add unique {} on {}", q(&u.name), q(table)),
                unique(d, table, u),
            )?,
            Change::AddIndex { table, index: ix } => push(
                Section::PostData,
                format!("add index {} on {}", q(&ix.name), q(table)),
                index(d, table, ix),
            )?,
            Change::AddForeignKey {
                table,
                foreign_key: fk,
            } => {
                push(
                    Section::PostData,
                    format!("add foreign key {} on {}", q(&fk.name), q(table)),
                    foreign_key(d, table, fk),
                )?;
            }
            // `diff::policy` never lets these through.
            Change::DropTable { .. }
            | Change::DropColumn { .. }
            | Change::DropIndex { .. }
            | Change::DropForeignKey { .. }
            | Change::NarrowColumn { .. }
            | Change::ChangeType { .. }
            | Change::TightenNotNull { .. }
            | Change::ChangePrimaryKey { .. }
            | Change::ChangePartitioning { .. } => {}
        }
    }
    pre.extend(post);
    Ok(pre)
}

/// `"name"`, for descriptions (the same in every dialect).
fn q(name: &str) -> String {
    crate::engine::quote_ansi(name)
}

fn create_table(d: &dyn DialectPlan, name: &str, table: &Table) -> String {
    let mut create = sea_query::Table::create();
    create.table(Alias::new(name));
    let sole_pk = table
        .primary_key
        .as_ref()
        .filter(|pk| pk.columns.len() == 1)
        .map(|pk| pk.columns[0].as_str());
    for col in &table.columns {
        create.col(column_def(d, col, sole_pk == Some(col.name.as_str())));
    }
    let key_in_column = d.identity_declares_primary_key()
        && sole_pk
            .and_then(|k| table.column(k))
            .is_some_and(|c| c.identity.is_some() && d.identity(c, true).is_some());
    if let Some(pk) = table.primary_key.as_ref().filter(|_| !key_in_column) {
        let mut idx = sea_query::Index::create();
        for c in &pk.columns {
            idx.col(Alias::new(c.as_str()));
        }
        create.primary_key(&mut idx);
    }
    for check in &table.checks {
        create.check((
            Alias::new(check.name.as_str()),
            Expr::cust(check.expression.clone()),
        ));
    }
    if d.inline_foreign_keys() {
        for fk in &table.foreign_keys {
            create.foreign_key(&mut fk_statement(name, fk));
        }
    }
    d.table_options(&mut create);
    let sql = d.build(&create);
    match table
        .partitioned_by
        .as_deref()
        .and_then(|key| d.partition_by(key))
    {
        Some(clause) => format!("{sql} {clause}"),
        None => sql,
    }
}

/// `CREATE [MATERIALIZED] VIEW name AS <definition>`: the definition is the source
/// engine's own text (views are carried between databases of one engine only), without
/// its trailing `;` and blank lines, which the migration format uses as separators.
fn create_view(d: &dyn DialectPlan, name: &str, view: &View) -> String {
    let definition = view.definition.as_deref().unwrap_or_default();
    let body: Vec<&str> = definition
        .trim()
        .trim_end_matches(';')
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let kind = if view.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    };
    format!("CREATE {kind} {} AS {}", d.quote(name), body.join("\n"))
}

fn unique(d: &dyn DialectPlan, table: &str, u: &UniqueConstraint) -> String {
    let columns: Vec<IndexPart> = u
        .columns
        .iter()
        .map(|c| IndexPart::Column(c.clone()))
        .collect();
    index(
        d,
        table,
        &Index {
            name: u.name.clone(),
            columns,
            unique: true,
            predicate: None,
            method: None,
        },
    )
}

/// `CREATE INDEX`, written here rather than by sea-query, which puts index names inside
/// quotes without escaping quotes they contain. Expression parts and predicates occur
/// only between databases of one engine (`target` drops them otherwise) and are written
/// exactly as that engine reported them.
fn index(d: &dyn DialectPlan, table: &str, ix: &Index) -> String {
    let parts: Vec<String> = ix
        .columns
        .iter()
        .map(|p| match p {
            IndexPart::Column(c) => d.quote(c),
            IndexPart::Expression { expression } => expression.clone(),
        })
        .collect();
    let mut kind = if ix.unique { "UNIQUE " } else { "" }.to_string();
    let mut using = String::new();
    if let Some(m) = &ix.method {
        match d.dialect() {
            Dialect::Postgres => using = format!(" USING {m}"),
            Dialect::Mysql if m == "fulltext" || m == "spatial" => {
                kind = format!("{} ", m.to_uppercase())
            }
            // Other MySQL methods (btree, hash) are InnoDB's default; SQLite has none.
            Dialect::Mysql | Dialect::Sqlite => {}
        }
    }
    let mut sql = format!(
        "CREATE {kind}INDEX {} ON {}{using} ({})",
        d.quote(&ix.name),
        d.quote(table),
        parts.join(", ")
    );
    if let Some(p) = &ix.predicate {
        sql.push_str(&format!(" WHERE {p}"));
    }
    sql
}

fn fk_statement(table: &str, fk: &ForeignKey) -> sea_query::ForeignKeyCreateStatement {
    let mut st = sea_query::ForeignKey::create();
    st.name(fk.name.as_str())
        .from_tbl(Alias::new(table))
        .to_tbl(Alias::new(fk.references.as_str()));
    for c in &fk.columns {
        st.from_col(Alias::new(c.as_str()));
    }
    for c in &fk.referenced_columns {
        st.to_col(Alias::new(c.as_str()));
    }
    st.on_delete(action(fk.on_delete))
        .on_update(action(fk.on_update));
    st
}

/// `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`, written here for the same reason as
/// `index`: sea-query does not escape quotes inside constraint names.
fn foreign_key(d: &dyn DialectPlan, table: &str, fk: &ForeignKey) -> String {
    let cols = |names: &[String]| {
        names
            .iter()
            .map(|c| d.quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
        d.quote(table),
        d.quote(&fk.name),
        cols(&fk.columns),
        d.quote(&fk.references),
        cols(&fk.referenced_columns),
        action_sql(fk.on_delete),
        action_sql(fk.on_update)
    )
}

fn action_sql(a: ReferentialAction) -> &'static str {
    match a {
        ReferentialAction::NoAction => "NO ACTION",
        ReferentialAction::Restrict => "RESTRICT",
        ReferentialAction::Cascade => "CASCADE",
        ReferentialAction::SetNull => "SET NULL",
        ReferentialAction::SetDefault => "SET DEFAULT",
    }
}

fn action(a: ReferentialAction) -> ForeignKeyAction {
    match a {
        ReferentialAction::NoAction => ForeignKeyAction::NoAction,
        ReferentialAction::Restrict => ForeignKeyAction::Restrict,
        ReferentialAction::Cascade => ForeignKeyAction::Cascade,
        ReferentialAction::SetNull => ForeignKeyAction::SetNull,
        ReferentialAction::SetDefault => ForeignKeyAction::SetDefault,
    }
}

#[cfg(test)]
mod tests;
