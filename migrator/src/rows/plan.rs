//! What moving (or comparing) one table's rows needs, worked out once from the
//! destination model, its origin and the config's mapping: the source columns read (in
//! destination column order), the key, the destination columns written with the family
//! of their source value, the masks and the `where:` filter. Transfer and verify both
//! build their per-table work from a [`TablePlan`], so verify compares exactly what
//! transfer writes.

use super::values::Family;
use seaway_codegen::config::{Config, Mask};
use seaway_codegen::model::{Column, NeutralType, Schema};
use seaway_codegen::target::Desired;
use std::collections::BTreeMap;

/// A destination column being written, with the family of the source value feeding it.
/// Part of the plan (verify re-sends through the same targets), read by every writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub ty: NeutralType,
    /// The destination's DDL type (for PostgreSQL staging tables).
    pub native: String,
    pub source: Family,
    pub is_key: bool,
}

/// One destination table's plan.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The destination table.
    pub name: String,
    pub source_table: String,
    /// Source columns read, one per target, in destination column order (generated
    /// destination columns are left out: the destination computes them).
    pub src_cols: Vec<Column>,
    /// The source columns of the destination's primary key (or the mapping's `key:`),
    /// in key order.
    pub key_cols: Vec<Column>,
    /// The destination's primary-key columns, in key order.
    pub dest_key_cols: Vec<Column>,
    /// The destination columns written, one per source column.
    pub targets: Vec<Target>,
    /// The mapping's mask of each source column.
    pub masks: Vec<Option<Mask>>,
    /// The mapping's `where:` filter, in the source dialect's SQL.
    pub filter: Option<String>,
    /// `append_only: true`: no key (`key_cols` is empty); rows are inserted, never matched.
    pub append_only: bool,
}

/// Why a table cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "table `{0}` has no primary key to match rows on. Name the columns that identify a row (`mappings.{0}.key: [...]`), or set `mappings.{0}.append_only: true` if rows are only ever added"
    )]
    NoKey(String),
}

impl TablePlan {
    /// The plan for destination table `name` (which `desired` must hold).
    pub fn new(
        name: &str,
        desired: &Desired,
        source_schema: &Schema,
        config: &Config,
    ) -> Result<TablePlan, PlanError> {
        let origin = &desired.origins[name];
        let dest = &desired.schema.tables[name];
        let src = &source_schema.tables[&origin.source_table];
        let key_names = key_names(dest, origin, config);
        let append_only = config
            .mappings
            .get(&origin.source_table)
            .is_some_and(|m| m.append_only);
        if key_names.is_empty() && !append_only {
            return Err(PlanError::NoKey(origin.source_table.clone()));
        }
        let by_dest: BTreeMap<&str, &str> = origin
            .columns
            .iter()
            .map(|(d, s)| (d.as_str(), s.as_str()))
            .collect();
        let mut src_cols = Vec::new();
        let mut targets = Vec::new();
        for (dest_name, src_name) in &origin.columns {
            let (Some(dc), Some(sc)) = (dest.column(dest_name), src.column(src_name)) else {
                continue;
            };
            if dc.generated.is_some() {
                continue; // the destination computes it
            }
            src_cols.push(sc.clone());
            targets.push(Target {
                name: dest_name.clone(),
                ty: dc.ty.clone(),
                native: dc.native.clone(),
                source: Family::of(&sc.ty),
                is_key: key_names.contains(dest_name),
            });
        }
        let key_cols: Vec<Column> = key_names
            .iter()
            .filter_map(|k| by_dest.get(k.as_str()).and_then(|s| src.column(s)))
            .cloned()
            .collect();
        let dest_key_cols: Vec<Column> = key_names
            .iter()
            .filter_map(|k| dest.column(k))
            .cloned()
            .collect();
        let mapping = config.mappings.get(&origin.source_table);
        let masks = src_cols
            .iter()
            .map(|c| mapping.and_then(|m| m.mask.get(&c.name).copied()))
            .collect();
        Ok(TablePlan {
            name: name.to_string(),
            source_table: origin.source_table.clone(),
            src_cols,
            key_cols,
            dest_key_cols,
            targets,
            masks,
            filter: mapping.and_then(|m| m.filter.clone()),
            append_only: key_names.is_empty(),
        })
    }

    /// Whether the key is a single integer column, which can be split into ranges.
    pub fn integer_key(&self) -> bool {
        matches!(
            self.key_cols.as_slice(),
            [k] if matches!(k.ty, NeutralType::Int { .. })
        )
    }
}

/// The destination columns rows are matched on: the primary key, else the mapping's
/// `key:` (renamed as the destination names them), else none.
fn key_names(
    dest: &seaway_codegen::model::Table,
    origin: &seaway_codegen::target::Origin,
    config: &Config,
) -> Vec<String> {
    if let Some(pk) = &dest.primary_key {
        return pk.columns.clone();
    }
    let Some(mapping) = config.mappings.get(&origin.source_table) else {
        return Vec::new();
    };
    mapping
        .key
        .iter()
        .filter_map(|k| {
            origin
                .columns
                .iter()
                .find(|(_, s)| s == k)
                .map(|(d, _)| d.clone())
        })
        .collect()
}

/// What transfer and verify both start from: the destination connection, the source's
/// schema and the destination model the config asks for.
#[derive(Debug)]
pub struct Prepared<'c> {
    pub dest_conn: &'c seaway_codegen::config::Connection,
    pub source_schema: Schema,
    pub desired: Desired,
    /// The destination as it is.
    pub actual: Schema,
}

/// Reads the source, builds the desired destination model and checks the destination
/// has its tables (codegen's `stage::prepare`, the start every data stage shares); the
/// second value lists those it lacks (comma-separated), if any. `what` names the
/// command in the error when the config has no destination.
pub async fn prepare<'c>(
    config: &'c Config,
    what: &str,
) -> Result<(Prepared<'c>, Option<String>), seaway_codegen::stage::StageError> {
    let stage = seaway_codegen::stage::prepare(config, what).await?;
    let missing = stage.missing_tables();
    let missing = (!missing.is_empty()).then(|| missing.join(", "));
    Ok((
        Prepared {
            dest_conn: stage.destination,
            source_schema: stage.source,
            desired: stage.desired,
            actual: stage.actual,
        },
        missing,
    ))
}
