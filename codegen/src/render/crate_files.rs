//! The Rust crate of one service (axum + sea-orm), rendered from `templates/service/`.
//!
//! Types come from the neutral model, where they are settled, not from sea-orm-codegen's
//! own mapping (which turns PostgreSQL `interval` into a `String` that fails at run time
//! and drops columns of unknown types). Types without a native Rust mapping travel as
//! text: on PostgreSQL they are read with `CAST(col AS text)` and written with
//! `CAST($1 AS <native type>)` (sea-orm's `select_as`/`save_as`), so every column of
//! the type zoo is served.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::api::{DEFAULT_LIMIT, Field, MAX_LIMIT, Resource, ServiceApi};
use super::openapi::int_range;
use super::output::{RenderError, one_newline};
use crate::model::{Dialect, NeutralType};
use crate::snapshot_io::OutputFile;
use askama::Template;
use std::path::Path;

/// A Rust string literal for `s` (Debug escaping is valid Rust syntax).
fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// How one column is represented in the crate.
#[derive(Debug, Clone)]
struct Repr {
    /// Rust type of the column's values in the model.
    base: String,
    /// Rust type a request carries (a decimal arrives as text, bytes as base64).
    wire: String,
    /// Checks and converts a wire value `{v}` of field `{f}` into `Result<base, ApiError>`;
    /// empty when any value of the wire type is valid (no call, no `?`).
    conv: String,
    /// Extra `#[sea_orm(...)]` settings.
    sea: Vec<String>,
    /// Serialiser for the model field (`None`: the type's own).
    ser: Option<(&'static str, &'static str)>,
    /// A serialiser path taking the place of `ser` when it is computed (`ser_bits::<12, _>`);
    /// the nullable one is the same path with `ser_opt_` for `ser_`.
    ser_with: Option<String>,
    /// The `crate::codec::Kind` a filter value of the column is checked as (filterable
    /// columns only; see `Field::filterable`).
    kind: String,
}

fn repr(f: &Field, dialect: Dialect) -> Repr {
    let plain = |base: &str| Repr {
        base: base.to_string(),
        wire: base.to_string(),
        conv: String::new(),
        sea: Vec::new(),
        ser: None,
        kind: String::new(),
        ser_with: None,
    };
    let text_cast = |native: &str| {
        let mut r = plain("String");
        match dialect {
            Dialect::Postgres => {
                r.sea = vec![
                    "select_as = \"text\"".to_string(),
                    format!("save_as = {}", lit(native)),
                ];
            }
            // A declared type SQLite does not know has NUMERIC affinity and may hold
            // numbers, which the driver refuses to read as text.
            Dialect::Sqlite => r.sea = vec!["select_as = \"text\"".to_string()],
            Dialect::Mysql => {}
        }
        r
    };
    let native = f.native.to_ascii_lowercase();
    match &f.ty {
        // The MySQL driver reads a type it does not know (spatial types) only as bytes of
        // a binary string, so `CAST(col AS binary)`: the server's internal form, which
        // it also accepts on write.
        NeutralType::Other { .. } if crate::engine::traits(dialect).service_other_as_bytes => {
            Repr {
                base: "Vec<u8>".to_string(),
                wire: "String".to_string(),
                conv: "crate::codec::bytes({f}, {v})".to_string(),
                sea: vec!["select_as = \"binary\"".to_string()],
                ser: Some(("crate::codec::ser_bytes", "crate::codec::ser_opt_bytes")),
                kind: String::new(),
                ser_with: None,
            }
        }
        // MySQL sends BIT as raw bytes the driver reads as an integer; the API keeps the
        // bit string of the document (`0`/`1`, one per bit, leading zeros kept).
        NeutralType::Bit {
            length,
            varying: false,
        } if crate::engine::traits(dialect).service_bits_as_integer => {
            let n = length.unwrap_or(1);
            Repr {
                base: "u64".to_string(),
                wire: "String".to_string(),
                conv: format!("crate::codec::bits({{f}}, {{v}}, {n})"),
                sea: Vec::new(),
                ser: None,
                kind: String::new(),
                ser_with: Some(format!("crate::codec::ser_bits::<{n}, _>")),
            }
        }
        // MySQL's YEAR is unsigned on the wire (the driver reads it as `u16` only).
        NeutralType::Int { .. } if f.is_mysql_year() => {
            let mut r = plain("u16");
            r.conv = "crate::codec::range({f}, {v}, 1901, 2155)".to_string();
            r.kind = "Kind::U16".to_string();
            r
        }
        NeutralType::Char { .. } | NeutralType::Varchar { .. } | NeutralType::Text
            if crate::engine::traits(dialect).declared_affinity
                && !sqlite_text_affinity(&native) =>
        {
            let mut r = text_cast("text");
            r.kind = "Kind::Text(None)".to_string();
            if let NeutralType::Char { length: Some(n) }
            | NeutralType::Varchar { length: Some(n) } = &f.ty
            {
                r.conv = format!("crate::codec::max_chars({{f}}, {{v}}, {n})");
                r.kind = format!("Kind::Text(Some({n}))");
            }
            r
        }
        NeutralType::Bool => with_kind(plain("bool"), "Bool"),
        NeutralType::Int { bits, unsigned } => {
            let base = match (bits, unsigned) {
                (8, false) => "i8",
                (16, false) => "i16",
                (24 | 32, false) => "i32",
                (_, false) => "i64",
                (8, true) => "u8",
                (16, true) => "u16",
                (24 | 32, true) => "u32",
                (_, true) => "u64",
            };
            let mut r = plain(base);
            r.kind = format!("Kind::{}", base.to_uppercase());
            if *bits == 24 {
                let (min, max) = int_range(*bits, *unsigned);
                let max = max.unwrap_or(i64::MAX);
                r.conv = format!("crate::codec::range({{f}}, {{v}}, {min}, {max})");
                r.kind = format!("Kind::{}In({min}, {max})", base.to_uppercase());
            }
            r
        }
        NeutralType::Decimal { precision, scale } if precision.is_none_or(|p| p <= 28) => {
            let p = precision.unwrap_or(28);
            let s = scale
                .unwrap_or(if precision.is_some() { 0 } else { 10 })
                .min(p);
            let int = (p - s).max(1);
            Repr {
                base: "rust_decimal::Decimal".to_string(),
                wire: "String".to_string(),
                conv: format!("crate::codec::decimal({{f}}, {{v}}, {int}, {s})"),
                sea: Vec::new(),
                ser: None,
                kind: format!("Kind::Decimal({int}, {s})"),
                ser_with: None,
            }
        }
        NeutralType::Decimal { .. } => {
            let mut r = text_cast("numeric");
            r.kind = "Kind::Text(None)".to_string();
            r
        }
        NeutralType::Float { bits: 32 } => {
            let mut r = plain("f32");
            r.conv = "crate::codec::float32({f}, {v})".to_string();
            r.kind = "Kind::F32".to_string();
            r
        }
        NeutralType::Float { .. } => {
            let mut r = plain("f64");
            r.kind = "Kind::F64".to_string();
            r
        }
        NeutralType::Char { length } | NeutralType::Varchar { length } => {
            let mut r = plain("String");
            r.kind = "Kind::Text(None)".to_string();
            if let Some(n) = length {
                r.conv = format!("crate::codec::max_chars({{f}}, {{v}}, {n})");
                r.kind = format!("Kind::Text(Some({n}))");
            }
            r
        }
        NeutralType::Text => {
            let mut r = plain("String");
            r.kind = "Kind::Text(None)".to_string();
            r
        }
        NeutralType::Binary { .. } => Repr {
            base: "Vec<u8>".to_string(),
            wire: "String".to_string(),
            conv: "crate::codec::bytes({f}, {v})".to_string(),
            sea: Vec::new(),
            ser: Some(("crate::codec::ser_bytes", "crate::codec::ser_opt_bytes")),
            kind: String::new(),
            ser_with: None,
        },
        NeutralType::Date => with_kind(plain("chrono::NaiveDate"), "Date"),
        NeutralType::Time { .. } => plain("chrono::NaiveTime"),
        NeutralType::Timestamp { .. } => with_kind(plain("chrono::NaiveDateTime"), "Timestamp"),
        NeutralType::TimestampTz { .. } => with_kind(
            plain("chrono::DateTime<chrono::FixedOffset>"),
            "TimestampTz",
        ),
        NeutralType::Uuid => with_kind(plain("uuid::Uuid"), "Uuid"),
        NeutralType::Json => plain("serde_json::Value"),
        NeutralType::Enum { name } => {
            let mut r = text_cast(name);
            let labels: Vec<String> = f.labels.iter().map(|l| lit(l)).collect();
            r.conv = format!(
                "crate::codec::one_of({{f}}, {{v}}, &[{}])",
                labels.join(", ")
            );
            r
        }
        NeutralType::TimeTz { .. } => text_cast("timetz"),
        NeutralType::Interval => text_cast("interval"),
        NeutralType::Inet => text_cast("inet"),
        NeutralType::Bit {
            length,
            varying: false,
        } => text_cast(&length.map_or("bit".to_string(), |n| format!("bit({n})"))),
        NeutralType::Bit { length, .. } => {
            text_cast(&length.map_or("varbit".to_string(), |n| format!("varbit({n})")))
        }
        NeutralType::Set { .. } => plain("String"),
        NeutralType::Array(inner) => text_cast(&format!("{}[]", pg_name(inner))),
        NeutralType::Other { native } => text_cast(native),
    }
}

/// SQLite's rule for TEXT affinity: the declared type names CHAR, CLOB or TEXT (and no
/// INT, which wins). Any other column may hold numbers or blobs.
fn sqlite_text_affinity(native: &str) -> bool {
    !native.contains("int") && ["char", "clob", "text"].iter().any(|t| native.contains(t))
}

fn with_kind(mut r: Repr, kind: &str) -> Repr {
    r.kind = format!("Kind::{kind}");
    r
}

/// The PostgreSQL name of an array element type, for the cast back from text.
fn pg_name(ty: &NeutralType) -> String {
    match ty {
        NeutralType::Bool => "boolean".into(),
        NeutralType::Int { bits: 8 | 16, .. } => "smallint".into(),
        NeutralType::Int { bits: 24 | 32, .. } => "integer".into(),
        NeutralType::Int { .. } => "bigint".into(),
        NeutralType::Decimal { .. } => "numeric".into(),
        NeutralType::Float { bits: 32 } => "real".into(),
        NeutralType::Float { .. } => "double precision".into(),
        NeutralType::Char { .. } | NeutralType::Varchar { .. } | NeutralType::Text => "text".into(),
        NeutralType::Binary { .. } => "bytea".into(),
        NeutralType::Date => "date".into(),
        NeutralType::Time { .. } => "time".into(),
        NeutralType::TimeTz { .. } => "timetz".into(),
        NeutralType::Timestamp { .. } => "timestamp".into(),
        NeutralType::TimestampTz { .. } => "timestamptz".into(),
        NeutralType::Interval => "interval".into(),
        NeutralType::Json => "jsonb".into(),
        NeutralType::Uuid => "uuid".into(),
        NeutralType::Inet => "inet".into(),
        NeutralType::Enum { name } | NeutralType::Set { name } => name.clone(),
        NeutralType::Bit { .. } => "varbit".into(),
        NeutralType::Array(inner) => format!("{}[]", pg_name(inner)),
        NeutralType::Other { native } => native.clone(),
    }
}

/// A field as the templates see it: every snippet precomputed.
#[derive(Debug, Clone)]
struct FieldView {
    rust: String,
    variant: String,
    json_lit: String,
    /// `crate::codec::Kind` of a filter value (filterable fields only).
    kind: String,
    base_ty: String,
    wire_ty: String,
    model_ty: String,
    sea_attr: String,
    serde_attr: Option<String>,
    orderable: bool,
    /// The checked value of a wire value named `{v}` (with its `?`, if it has a check).
    conv_tmpl: String,
    create_ty: String,
    /// `#[serde(...)]` of the field in a create body (empty: none); also `update_serde`,
    /// `patch_serde`.
    create_serde: String,
    create_set: String,
    update_ty: String,
    update_serde: String,
    update_set: String,
    patch_ty: String,
    patch_serde: String,
    patch_conv: String,
}

/// `pseudo_key`: sea-orm entities need a primary key; a table without one gets its first
/// column marked, which the read-only service never uses as a key.
fn field_view(f: &Field, dialect: Dialect, pseudo_key: bool) -> FieldView {
    let r = repr(f, dialect);
    let conv_of = |var: &str| r.conv.replace("{f}", &lit(&f.json)).replace("{v}", var);
    let opt = |ty: &str| format!("Option<{ty}>");
    let mut sea = vec![
        format!("column_name = {}", lit(&f.db_column)),
        format!("enum_name = {}", lit(&f.variant)),
    ];
    if f.in_key || pseudo_key {
        sea.insert(0, "primary_key".to_string());
        sea.insert(
            1,
            format!("auto_increment = {}", f.in_key && f.optional_on_create),
        );
    }
    sea.extend(r.sea.iter().cloned());
    let mut serde = Vec::new();
    if f.json != f.rust {
        serde.push(format!("rename = {}", lit(&f.json)));
    }
    if let Some((one, maybe)) = r.ser {
        serde.push(format!(
            "serialize_with = {}",
            lit(if f.nullable { maybe } else { one })
        ));
    }
    if let Some(path) = &r.ser_with {
        let path = if f.nullable {
            path.replace("::ser_", "::ser_opt_")
        } else {
            path.clone()
        };
        serde.push(format!("serialize_with = {}", lit(&path)));
    }
    // `checked(var)`: the value of `var` after its column's check (`?` propagates a 400);
    // a column any value of whose type is valid is taken as it is.
    let checked = |var: &str| {
        if r.conv.is_empty() {
            var.to_string()
        } else {
            format!("{}?", conv_of(var))
        }
    };
    let checked_opt = |var: &str| {
        if r.conv.is_empty() {
            var.to_string()
        } else {
            format!("crate::codec::opt({var}, |v| {})?", conv_of("v"))
        }
    };
    let attr = |extra: &str| {
        let mut parts = Vec::new();
        if f.json != f.rust {
            parts.push(format!("rename = {}", lit(&f.json)));
        }
        if !extra.is_empty() {
            parts.push(extra.to_string());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("#[serde({})]", parts.join(", "))
        }
    };
    let nullable = "default, deserialize_with = \"crate::codec::nullable\"";
    let present = "default, deserialize_with = \"crate::codec::present\"";
    let or_not_set = |e: String| {
        format!(
            "match b.{} {{ Some(v) => Set({e}), None => NotSet }}",
            f.rust
        )
    };
    let field = format!("b.{}", f.rust);
    let (create_ty, create_serde, create_set) = if f.nullable {
        (
            opt(&opt(&r.wire)),
            attr(nullable),
            or_not_set(checked_opt("v")),
        )
    } else if f.optional_on_create {
        (opt(&r.wire), attr(present), or_not_set(checked("v")))
    } else {
        (
            r.wire.clone(),
            attr(""),
            format!("Set({})", checked(&field)),
        )
    };
    let (update_ty, update_serde, update_set) = if f.nullable {
        (
            opt(&r.wire),
            attr("default"),
            format!("Set({})", checked_opt(&field)),
        )
    } else {
        (
            r.wire.clone(),
            attr(""),
            format!("Set({})", checked(&field)),
        )
    };
    let (patch_ty, patch_serde, patch_conv) = if f.nullable {
        (opt(&opt(&r.wire)), attr(nullable), checked_opt("v"))
    } else {
        (opt(&r.wire), attr(present), checked("v"))
    };
    FieldView {
        rust: f.rust.clone(),
        variant: f.variant.clone(),
        json_lit: lit(&f.json),
        kind: r.kind.clone(),
        model_ty: if f.nullable {
            opt(&r.base)
        } else {
            r.base.clone()
        },
        base_ty: r.base.clone(),
        wire_ty: r.wire.clone(),
        sea_attr: sea.join(", "),
        serde_attr: (!serde.is_empty()).then(|| serde.join(", ")),
        orderable: f.orderable(),
        conv_tmpl: if r.conv.is_empty() {
            "{v}".to_string()
        } else {
            format!("{}?", conv_of("{v}"))
        },
        create_ty,
        create_serde,
        create_set,
        update_ty,
        update_serde,
        update_set,
        patch_ty,
        patch_serde,
        patch_conv,
    }
}

#[derive(Debug, Clone)]
struct SortView {
    lit: String,
    columns: String,
}

#[derive(Debug, Clone)]
struct KeyView {
    rust: String,
    variant: String,
    conv: String,
}

#[derive(Debug, Clone)]
struct ResourceView {
    name: String,
    table: String,
    db_table: String,
    db_table_lit: String,
    read_only: bool,
    key_path: String,
    fields: Vec<FieldView>,
    filters: Vec<FieldView>,
    keyable: Vec<FieldView>,
    keyable_partial: bool,
    sorts: Vec<SortView>,
    key_columns: String,
    keys: Vec<KeyView>,
    key_params: String,
    key_wire: String,
    key_pattern: String,
    key_tuple_ty: String,
    key_args: String,
    create: Vec<FieldView>,
    update: Vec<FieldView>,
    order_all: Vec<String>,
    /// The `sea_orm::ActiveValue` variants the handler uses (an unused import is a lint).
    active_values: String,
}

fn resource_view(r: &Resource, dialect: Dialect) -> ResourceView {
    let views: Vec<FieldView> = r
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_view(f, dialect, r.read_only() && i == 0))
        .collect();
    let keyed: Vec<usize> = r.key.clone();
    let keyable_idx: Vec<usize> = (0..r.fields.len())
        .filter(|i| r.fields[*i].sortable() || keyed.contains(i))
        .collect();
    let key_variants: Vec<String> = keyed
        .iter()
        .map(|&i| format!("Column::{}", r.fields[i].variant))
        .collect();
    let mut sorts = Vec::new();
    for f in r.fields.iter().filter(|f| f.sortable()) {
        let first = format!("Column::{}", f.variant);
        let mut cols = vec![first.clone()];
        cols.extend(key_variants.iter().filter(|k| **k != first).cloned());
        sorts.push(SortView {
            lit: lit(&f.json),
            columns: cols.join(", "),
        });
    }
    let keys: Vec<KeyView> = keyed
        .iter()
        .enumerate()
        .map(|(n, &i)| KeyView {
            rust: format!("k{n}"),
            variant: r.fields[i].variant.clone(),
            conv: views[i].conv_tmpl.replace("{v}", &format!("k{n}")),
        })
        .collect();
    let key_wires: Vec<String> = keyed.iter().map(|&i| views[i].wire_ty.clone()).collect();
    let key_bases: Vec<String> = keyed.iter().map(|&i| views[i].base_ty.clone()).collect();
    let names: Vec<String> = keys.iter().map(|k| k.rust.clone()).collect();
    ResourceView {
        name: r.name.clone(),
        table: r.table.clone(),
        db_table: r.db_table.clone(),
        db_table_lit: lit(&r.db_table),
        read_only: r.read_only(),
        key_path: r
            .key_fields()
            .map(|f| format!("{{{}}}", f.json))
            .collect::<Vec<_>>()
            .join("/"),
        filters: r
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.filterable())
            .map(|(i, _)| views[i].clone())
            .collect(),
        keyable_partial: keyable_idx.len() < r.fields.len(),
        keyable: keyable_idx.iter().map(|&i| views[i].clone()).collect(),
        sorts,
        key_columns: key_variants.join(", "),
        key_params: keys
            .iter()
            .zip(&key_bases)
            .map(|(k, t)| format!("{}: {t}", k.rust))
            .collect::<Vec<_>>()
            .join(", "),
        key_wire: if key_wires.len() == 1 {
            key_wires[0].clone()
        } else {
            format!("({})", key_wires.join(", "))
        },
        key_pattern: if names.len() == 1 {
            names[0].clone()
        } else {
            format!("({})", names.join(", "))
        },
        key_tuple_ty: key_bases.join(", "),
        key_args: names.join(", "),
        keys,
        create: r
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.generated)
            .map(|(i, _)| views[i].clone())
            .collect(),
        update: r
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.generated && !f.in_key)
            .map(|(i, _)| views[i].clone())
            .collect(),
        order_all: r
            .fields
            .iter()
            .filter(|f| f.orderable() || matches!(f.ty, NeutralType::Bool | NeutralType::Uuid))
            .map(|f| f.variant.clone())
            .collect(),
        active_values: {
            let set = r.writable().next().is_some();
            let not_set = r.writable().any(|f| f.nullable || f.optional_on_create);
            match (set, not_set) {
                (true, true) => "{NotSet, Set}".to_string(),
                (true, false) => "Set".to_string(),
                _ => String::new(),
            }
        },
        fields: views,
    }
}

#[derive(Template)]
#[template(path = "service/Cargo.toml", escape = "none")]
struct CargoToml<'a> {
    name: &'a str,
    package: &'a str,
}

#[derive(Template)]
#[template(path = "service/src/main.rs", escape = "none")]
struct MainRs<'a> {
    name: &'a str,
    krate: &'a str,
}

#[derive(Template)]
#[template(path = "service/src/lib.rs", escape = "none")]
struct LibRs<'a> {
    name: &'a str,
    tables: &'a str,
    resources: &'a [ResourceView],
}

#[derive(Template)]
#[template(path = "service/src/error.rs", escape = "none")]
struct ErrorRs;

#[derive(Template)]
#[template(path = "service/src/codec.rs", escape = "none")]
struct CodecRs;

#[derive(Template)]
#[template(path = "service/src/metrics.rs", escape = "none")]
struct MetricsRs;

#[derive(Template)]
#[template(path = "service/src/observe.rs", escape = "none")]
struct ObserveRs;

#[derive(Template)]
#[template(path = "service/Dockerfile", escape = "none")]
struct Dockerfile<'a> {
    name: &'a str,
    package: &'a str,
    output_dir: &'a str,
}

#[derive(Template)]
#[template(path = "service/Dockerfile.dockerignore", escape = "none")]
struct DockerIgnore<'a> {
    name: &'a str,
}

#[derive(Template)]
#[template(path = "service/src/page.rs", escape = "none")]
struct PageRs {
    default_limit: u32,
    max_limit: u32,
}

#[derive(Template)]
#[template(path = "service/src/entities_mod.rs", escape = "none")]
struct EntitiesMod<'a> {
    resources: &'a [ResourceView],
}

#[derive(Template)]
#[template(path = "service/src/handlers_mod.rs", escape = "none")]
struct HandlersMod<'a> {
    resources: &'a [ResourceView],
}

#[derive(Template)]
#[template(path = "service/src/entity.rs", escape = "none")]
struct EntityRs<'a> {
    r: &'a ResourceView,
}

#[derive(Template)]
#[template(path = "service/src/handler.rs", escape = "none")]
struct HandlerRs<'a> {
    r: &'a ResourceView,
}

/// The package name of service `name`'s crate.
pub fn package_name(name: &str) -> String {
    format!("{}-service", name.replace('_', "-"))
}

/// Renders every file of the crate under `dir`; `.rs` files are not yet formatted.
/// The last component of the output folder (`generated`), which the Dockerfile and the
/// compose file name relative to the workspace root: the output folder is assumed to be
/// a direct child of the root, as `output: generated` makes it. Only the name is used,
/// so the files do not depend on where the repository is checked out.
pub fn output_dir_name(output: &Path) -> String {
    output.file_name().map_or_else(
        || "generated".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The files of one service's crate under `dir` (`<output>/services/<name>`).
pub fn render(api: &ServiceApi, dir: &Path) -> Result<Vec<OutputFile>, RenderError> {
    let package = package_name(&api.name);
    let krate = package.replace('-', "_");
    let resources: Vec<ResourceView> = api
        .resources
        .iter()
        .map(|r| resource_view(r, api.dialect))
        .collect();
    let tables = api
        .resources
        .iter()
        .map(|r| format!("`{}`", r.table))
        .collect::<Vec<_>>()
        .join(", ");
    let mut files = Vec::new();
    let mut push = |rel: String, text: Result<String, askama::Error>, template: &'static str| {
        let text = text.map_err(|source| RenderError::Template { template, source })?;
        // Rust sources are formatted later, all in one rustfmt run (see `render`).
        let contents = if rel.ends_with(".rs") {
            text
        } else {
            one_newline(text)
        };
        files.push(OutputFile {
            path: dir.join(rel),
            contents,
        });
        Ok::<(), RenderError>(())
    };
    push(
        "Cargo.toml".into(),
        CargoToml {
            name: &api.name,
            package: &package,
        }
        .render(),
        "service/Cargo.toml",
    )?;
    push(
        "src/main.rs".into(),
        MainRs {
            name: &api.name,
            krate: &krate,
        }
        .render(),
        "service/src/main.rs",
    )?;
    push(
        "src/lib.rs".into(),
        LibRs {
            name: &api.name,
            tables: &tables,
            resources: &resources,
        }
        .render(),
        "service/src/lib.rs",
    )?;
    push(
        "src/error.rs".into(),
        ErrorRs.render(),
        "service/src/error.rs",
    )?;
    push(
        "src/codec.rs".into(),
        CodecRs.render(),
        "service/src/codec.rs",
    )?;
    push(
        "src/metrics.rs".into(),
        MetricsRs.render(),
        "service/src/metrics.rs",
    )?;
    push(
        "src/observe.rs".into(),
        ObserveRs.render(),
        "service/src/observe.rs",
    )?;
    let output_dir = dir
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| "generated".to_string(), output_dir_name);
    push(
        "Dockerfile".into(),
        Dockerfile {
            name: &api.name,
            package: &package,
            output_dir: &output_dir,
        }
        .render(),
        "service/Dockerfile",
    )?;
    push(
        "Dockerfile.dockerignore".into(),
        DockerIgnore { name: &api.name }.render(),
        "service/Dockerfile.dockerignore",
    )?;
    push(
        "src/page.rs".into(),
        PageRs {
            default_limit: DEFAULT_LIMIT,
            max_limit: MAX_LIMIT,
        }
        .render(),
        "service/src/page.rs",
    )?;
    push(
        "src/entities/mod.rs".into(),
        EntitiesMod {
            resources: &resources,
        }
        .render(),
        "service/src/entities_mod.rs",
    )?;
    push(
        "src/handlers/mod.rs".into(),
        HandlersMod {
            resources: &resources,
        }
        .render(),
        "service/src/handlers_mod.rs",
    )?;
    for r in &resources {
        push(
            format!("src/entities/{}.rs", r.name),
            EntityRs { r }.render(),
            "service/src/entity.rs",
        )?;
        push(
            format!("src/handlers/{}.rs", r.name),
            HandlerRs { r }.render(),
            "service/src/handler.rs",
        )?;
    }
    Ok(files)
}
