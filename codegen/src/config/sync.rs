//! `sync:`: which way `migrator sync` carries changes, and, both ways, how a conflict
//! (the same key changed on both sides before either saw the other's change) is decided
//! per table (`migrator/src/sync/resolve.rs` applies the rules). Part of the config
//! builder.

use super::{Builder, Config, ConfigError, find_line_after_text, line_of_child};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `sync.direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Source to destination only.
    #[default]
    OneWay,
    /// One stream each way, the mappings inverted for the way back.
    Both,
}

/// A side of a sync both ways, as `priority:` and column rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncSide {
    Source,
    Destination,
}

/// How a column is decided (`sync.tables.<t>.columns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRule {
    Source,
    Destination,
    LastWriteWins,
}

/// `sync:` validated.
#[derive(Debug, Clone, Default)]
pub struct SyncSettings {
    pub direction: Direction,
    /// Source table -> its conflict settings; a table not named takes the defaults.
    pub tables: BTreeMap<String, Conflicts>,
}

/// One table's conflict settings (source names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts {
    /// `priority:`; `None` is `last_write_wins`.
    pub priority: Option<SyncSide>,
    /// The column whose value orders two versions of a row (`updated_at`); without one,
    /// the commit times.
    pub version_column: Option<String>,
    /// Column -> rule; `"*"` is the rule of the columns not named.
    pub columns: BTreeMap<String, ColumnRule>,
    pub delete_wins: bool,
    /// Line of the table's entry, for later messages.
    pub line: usize,
}

impl Default for Conflicts {
    fn default() -> Conflicts {
        Conflicts {
            priority: None,
            version_column: None,
            columns: BTreeMap::new(),
            delete_wins: true,
            line: 0,
        }
    }
}

impl Builder<'_> {
    pub(super) fn sync(&self, raw: super::raw::RawSync) -> Result<SyncSettings, ConfigError> {
        let mut tables = BTreeMap::new();
        for (table, rc) in raw.tables {
            let line = line_of_child(self.text, "sync", &table);
            let version_column = rc
                .version_column
                .as_deref()
                .map(|v| self.expand(&format!("sync.tables.{table}.version_column"), v))
                .transpose()?;
            if version_column
                .as_deref()
                .is_some_and(|v| v.trim().is_empty())
            {
                return Err(self.err(
                    find_line_after_text(self.text, line, "version_column"),
                    format!(
                        "sync.tables.{table}.version_column is empty; name the column that orders two versions of a row (e.g. `updated_at`), or leave it out to order them by commit time"
                    ),
                ));
            }
            tables.insert(
                table,
                Conflicts {
                    priority: rc.priority,
                    version_column,
                    columns: rc.columns.into_inner(),
                    delete_wins: rc.delete_wins.unwrap_or(true),
                    line,
                },
            );
        }
        Ok(SyncSettings {
            direction: raw.direction,
            tables,
        })
    }
}

impl Config {
    /// Why this config's tables cannot be synced both ways, if they cannot: a table with
    /// a `mask:` or a `where:` filter would lose data on the way back (a masked value
    /// written over the real one; rows outside the filter never seen). Checked when
    /// `sync.direction: both` is read and when `migrator sync --both` asks.
    pub fn both_ways_refusal(&self) -> Option<ConfigError> {
        for (table, m) in &self.mappings {
            if !self.tables.selects(table) {
                continue;
            }
            if let Some(column) = m.mask.keys().next() {
                return Some(self.error_at(
                    find_line_after_text(&self.text, m.line, "mask"),
                    format!(
                        "table `{table}` cannot be synced both ways: `mappings.{table}.mask` masks column `{column}`, and the masked value would be carried back over the real one at the source; remove the mask, or leave the table out of the sync (`tables.exclude`) and sync it one way in a config of its own"
                    ),
                ));
            }
            if m.filter.is_some() {
                return Some(self.error_at(
                    find_line_after_text(&self.text, m.line, "where"),
                    format!(
                        "table `{table}` cannot be synced both ways: `mappings.{table}.where` selects some of its rows, and rows the destination writes outside the filter would be carried back while the source's were never sent, so the two sides would hold different rows; remove the filter, or leave the table out of the sync (`tables.exclude`) and sync it one way in a config of its own"
                    ),
                ));
            }
        }
        None
    }

    /// The conflict settings of source table `table` (the defaults when not named).
    pub fn conflicts(&self, table: &str) -> Conflicts {
        self.sync.tables.get(table).cloned().unwrap_or_default()
    }
}
