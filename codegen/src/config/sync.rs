//! `sync:`: which way `migrator sync` carries changes, and, both ways, how a conflict
//! (the same key changed on both sides before either saw the other's change) is decided
//! per table (`migrator/src/sync/resolve.rs` applies the rules). The types only, a leaf:
//! the builder reads them in `config/mod.rs`.

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
