//! The API model of one service: resources, fields and their types, derived from the
//! neutral model once so the OpenAPI document and the Rust crate cannot disagree.
//!
//! Names are settled here: JSON fields and paths are snake_case, made unique after case
//! conversion (a collision gets `_2`, `_3` in column order and is reported in the
//! document), Rust identifiers avoid keywords, and the database names are the source's
//! after `services.database_naming`.

use crate::boundary::Boundaries;
use crate::config::Services;
use crate::model::{Dialect, Identity, NeutralType, Schema, naming::snake_case};
use std::collections::BTreeSet;

/// Default and maximum `limit` of a list request.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone)]
pub struct ServiceApi {
    pub name: String,
    pub dialect: Dialect,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    /// The table in the source model.
    pub table: String,
    /// The table's name in the services' database.
    pub db_table: String,
    /// snake_case path segment and Rust module name.
    pub name: String,
    /// PascalCase name of its schemas (`Album`, `AlbumCreate`, ...).
    pub type_name: String,
    pub fields: Vec<Field>,
    /// Indexes into `fields` of the primary key; empty for a read-only resource.
    pub key: Vec<usize>,
    /// Renames and other facts a reader of the document should know.
    pub notes: Vec<String>,
}

impl Resource {
    pub fn read_only(&self) -> bool {
        self.key.is_empty()
    }

    pub fn key_fields(&self) -> impl Iterator<Item = &Field> {
        self.key.iter().map(|&i| &self.fields[i])
    }

    /// Fields a client may write (not the key on update, never generated columns).
    pub fn writable(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.generated)
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub column: String,
    pub db_column: String,
    /// JSON property and query-parameter name.
    pub json: String,
    /// Rust field name (keyword-safe).
    pub rust: String,
    /// sea-orm's `Column` variant for it (PascalCase of `rust`).
    pub variant: String,
    pub ty: NeutralType,
    /// The type as the source database declares it (`year`, `bit(12)`, `STRING`): some
    /// engines' drivers need it to read a column whose neutral type is shared.
    pub native: String,
    /// The engine of the service's database (some types travel differently per engine).
    pub dialect: Dialect,
    pub nullable: bool,
    /// May be left out of a create request (identity, default, or nullable).
    pub optional_on_create: bool,
    /// A computed column: returned, never written.
    pub generated: bool,
    pub in_key: bool,
    /// Enum labels for `enum(...)` columns.
    pub labels: Vec<String>,
    /// `table (service)` this column refers to by id, when a foreign key says so.
    pub references: Option<String>,
    pub comment: Option<String>,
}

impl Field {
    /// Filterable by range and usable as a sort key (ordered, comparable scalars).
    pub fn orderable(&self) -> bool {
        matches!(
            self.ty,
            NeutralType::Int { .. }
                | NeutralType::Decimal { .. }
                | NeutralType::Float { .. }
                | NeutralType::Char { .. }
                | NeutralType::Varchar { .. }
                | NeutralType::Text
                | NeutralType::Date
                | NeutralType::Timestamp { .. }
                | NeutralType::TimestampTz { .. }
        )
    }

    /// A MySQL `YEAR`: neutral `int16`, but 1901..=2155 and unsigned on the wire.
    pub fn is_mysql_year(&self) -> bool {
        crate::engine::traits(self.dialect).year_type
            && self.ty
                == NeutralType::Int {
                    bits: 16,
                    unsigned: false,
                }
            && self.native.to_ascii_lowercase().starts_with("year")
    }

    /// Filterable by equality.
    pub fn filterable(&self) -> bool {
        self.orderable() || matches!(self.ty, NeutralType::Bool | NeutralType::Uuid)
    }

    /// Sort keys must be non-null, so a keyset cursor never meets a NULL.
    pub fn sortable(&self) -> bool {
        self.orderable() && !self.nullable
    }
}

/// Rust keywords (strict and reserved, 2024 edition) a field may not be named.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield", "union",
];

/// Names the generated code itself uses inside an entity or a handler module.
const RESERVED: &[&str] = &["model", "entity", "column", "relation", "active_model"];

/// `First Name` -> `first_name`; anything outside `[a-z0-9_]` becomes `_`, runs of `_`
/// collapse, and a leading digit (or nothing) gets an `f_` prefix.
pub fn api_name(raw: &str) -> String {
    let mut out = String::new();
    for c in snake_case(raw).chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        Some(c) if c.is_ascii_lowercase() => out,
        _ => format!("f_{out}"),
    }
}

/// `invoice_line` -> `InvoiceLine`.
pub fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Makes `base` unique among `taken` (compared after PascalCase conversion too, since
/// sea-orm derives `Column` variants that way), appending `_2`, `_3`, ...
fn unique(base: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.to_string();
    let mut k = 2;
    while taken.contains(&name) || taken.contains(&format!("#{}", pascal(&name))) {
        name = format!("{base}_{k}");
        k += 1;
    }
    taken.insert(name.clone());
    taken.insert(format!("#{}", pascal(&name)));
    name
}

/// Builds every service's API model.
pub fn build(schema: &Schema, boundaries: &Boundaries, cfg: &Services) -> Vec<ServiceApi> {
    boundaries
        .services
        .iter()
        .map(|(name, service)| {
            // `/health` is the service's own route.
            let mut taken = BTreeSet::from(["health".to_string()]);
            let resources = service
                .tables
                .keys()
                .filter_map(|t| {
                    let table = schema.tables.get(t)?;
                    Some(resource(schema, boundaries, cfg, t, table, &mut taken))
                })
                .collect();
            ServiceApi {
                name: name.clone(),
                dialect: schema.dialect,
                resources,
            }
        })
        .collect()
}

fn resource(
    schema: &Schema,
    boundaries: &Boundaries,
    cfg: &Services,
    table_name: &str,
    table: &crate::model::Table,
    taken: &mut BTreeSet<String>,
) -> Resource {
    let mut notes = Vec::new();
    let base = api_name(table_name);
    let name = unique(&base, taken);
    if name != base {
        notes.push(format!(
            "table `{table_name}` is served as `{name}`: `{base}` was taken after case conversion"
        ));
    }
    let mut field_names: BTreeSet<String> = RESERVED.iter().map(|s| s.to_string()).collect();
    let pk: Vec<String> = table
        .primary_key
        .as_ref()
        .map(|p| p.columns.clone())
        .unwrap_or_default();
    let mut fields = Vec::new();
    for col in &table.columns {
        let base = api_name(&col.name);
        let json = unique(&base, &mut field_names);
        if json != base {
            notes.push(format!(
                "column `{}` is field `{json}`: `{base}` was taken after case conversion",
                col.name
            ));
        }
        let rust = if KEYWORDS.contains(&json.as_str()) {
            format!("{json}_")
        } else {
            json.clone()
        };
        let references = table
            .foreign_keys
            .iter()
            .find(|fk| fk.columns.len() == 1 && fk.columns[0] == col.name)
            .map(|fk| {
                let service = boundaries
                    .service_of(&fk.references)
                    .unwrap_or("not served");
                format!("{} ({service})", fk.references)
            });
        let labels = match &col.ty {
            NeutralType::Enum { name } => schema.enums.get(name).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        let in_key = pk.contains(&col.name);
        let identity = matches!(
            col.identity,
            Some(Identity::Always)
                | Some(Identity::ByDefault)
                | Some(Identity::Sequence)
                | Some(Identity::AutoIncrement)
                | Some(Identity::Rowid)
        );
        // `Self` is the one PascalCase keyword (from a column named `self`).
        let variant = match pascal(&rust) {
            v if v == "Self" => "Self_".to_string(),
            v => v,
        };
        fields.push(Field {
            column: col.name.clone(),
            db_column: cfg.database_naming.apply(&col.name),
            variant,
            json,
            rust,
            ty: col.ty.clone(),
            native: col.native.clone(),
            dialect: schema.dialect,
            nullable: col.nullable,
            optional_on_create: col.nullable || col.default.is_some() || identity,
            generated: col.generated.is_some() || col.identity == Some(Identity::Always),
            in_key,
            labels,
            references,
            comment: col.comment.clone(),
        });
    }
    let key: Vec<usize> = pk
        .iter()
        .filter_map(|c| fields.iter().position(|f| &f.column == c))
        .collect();
    if key.is_empty() {
        notes.push(format!(
            "table `{table_name}` has no primary key: the resource is read-only (list only)"
        ));
    }
    Resource {
        table: table_name.to_string(),
        db_table: cfg.database_naming.apply(table_name),
        type_name: pascal(&name),
        name,
        fields,
        key,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_and_safe() {
        assert_eq!(api_name("InvoiceLine"), "invoice_line");
        assert_eq!(api_name("Unit Price"), "unit_price");
        assert_eq!(api_name("2nd-col"), "f_2nd_col");
        assert_eq!(api_name("a..b"), "a_b");
        assert_eq!(pascal("invoice_line"), "InvoiceLine");
    }

    #[test]
    fn collisions_after_case_conversion_get_suffixes() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique("user_id", &mut taken), "user_id");
        assert_eq!(unique("user_id", &mut taken), "user_id_2");
        // `userid` differs, but its sea-orm variant `Userid` does not collide either.
        assert_eq!(unique("userid", &mut taken), "userid");
    }
}
