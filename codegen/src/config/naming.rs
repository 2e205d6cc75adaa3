//! The `naming:` setting: how destination names are derived from source names. A config
//! value (it lives here, not in `target`, so `config` imports nothing from the stages).

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Naming {
    /// Names as in the source.
    #[default]
    Preserve,
    /// `InvoiceLine` -> `invoice_line`, so a PascalCase MySQL or SQLite schema lands as
    /// idiomatic PostgreSQL. Explicit renames in `mappings:` are used as written.
    SnakeCase,
}

impl Naming {
    pub fn apply(self, name: &str) -> String {
        match self {
            Naming::Preserve => name.to_string(),
            Naming::SnakeCase => crate::model::naming::snake_case(name),
        }
    }
}
