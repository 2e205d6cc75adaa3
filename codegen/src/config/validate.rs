//! Checks of the config against the introspected source: every name the config uses
//! must exist, and a misspelt one is answered with the closest real one.

use super::{Config, ConfigError, closest};
use crate::model::Schema;

/// Checks `tables.include` patterns and every mapping against the source schema.
///
/// Runs on the unfiltered schema, so a mapping for an excluded table is still checked
/// for typos (and reported as excluded rather than missing).
pub fn against_source(config: &Config, source: &Schema) -> Result<(), ConfigError> {
    let names: Vec<&str> = source.tables.keys().map(String::as_str).collect();
    // `tables:` selects views too (see `select_tables`), so a pattern is used when it
    // matches a table or a view.
    let views: Vec<&str> = source.views.keys().map(String::as_str).collect();
    for pattern in &config.tables.include {
        if !names.iter().chain(&views).any(|n| pattern.is_match(n)) {
            let hint = closest(&pattern.text, names.iter().chain(&views).copied())
                .map(|c| {
                    let kind = if names.contains(&c) { "table" } else { "view" };
                    format!(" (closest {kind}: `{c}`)")
                })
                .unwrap_or_default();
            return Err(config.error_at(
                pattern.line,
                format!(
                    "tables.include: pattern `{}` matches no table or view of connection `{}`{hint}",
                    pattern.text, config.source
                ),
            ));
        }
    }
    for (table_name, mapping) in &config.mappings {
        let Some(table) = source.tables.get(table_name) else {
            let hint = closest(table_name, names.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(config.error_at(mapping.line, format!(
                "mappings.{table_name}: table `{table_name}` does not exist in connection `{}`{hint}",
                config.source
            )));
        };
        if !config.tables.selects(table_name) {
            return Err(config.error_at(mapping.line, format!(
                "mappings.{table_name}: table `{table_name}` is excluded by `tables:`; remove the mapping or include the table"
            )));
        }
        let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        let named = mapping
            .columns
            .keys()
            .map(|c| ("columns", c))
            .chain(mapping.mask.keys().map(|c| ("mask", c)))
            .chain(mapping.types.keys().map(|c| ("types", c)))
            .chain(mapping.watermark.iter().map(|c| ("watermark", c)))
            .chain(mapping.key.iter().map(|c| ("key", c)));
        for (section, column) in named {
            if !columns.contains(&column.as_str()) {
                let hint = closest(column, columns.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                let line = find_line_after(config, mapping.line, column);
                return Err(config.error_at(line, format!(
                    "mappings.{table_name}.{section}: column `{column}` does not exist in table `{table_name}`{hint}"
                )));
            }
        }
        key_fits(config, table_name, table, mapping)?;
    }
    Ok(())
}

/// `key:` names NOT NULL columns of a table that has no primary key: a NULL never
/// equals another, so it could not match a row on the next run.
fn key_fits(
    config: &Config,
    table_name: &str,
    table: &crate::model::Table,
    mapping: &super::Mapping,
) -> Result<(), ConfigError> {
    if mapping.key.is_empty() {
        return Ok(());
    }
    let line = find_line_after(config, mapping.line, "key");
    if let Some(pk) = &table.primary_key {
        return Err(config.error_at(line, format!(
            "mappings.{table_name}.key: table `{table_name}` already has a primary key ({}); `key:` is only for tables without one",
            pk.columns.join(", ")
        )));
    }
    for name in &mapping.key {
        if table.column(name).is_some_and(|c| c.nullable) {
            return Err(config.error_at(line, format!(
                "mappings.{table_name}.key: column `{name}` is nullable; a key column must be NOT NULL, since a NULL never matches the row it was copied from"
            )));
        }
    }
    Ok(())
}

/// Line of the first mention of `needle` at or after `from`, else `from`.
fn find_line_after(config: &Config, from: usize, needle: &str) -> usize {
    config
        .text
        .lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map_or(from, |(i, _)| i + 1)
}

/// Keeps only the tables the config selects; views are kept when selected too.
pub fn select_tables(config: &Config, schema: &mut Schema) {
    schema.tables.retain(|name, _| config.tables.selects(name));
    schema.views.retain(|name, _| config.tables.selects(name));
}
