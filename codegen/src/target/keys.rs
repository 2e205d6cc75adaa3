//! Keys the destination engine would refuse at apply time, adapted or refused here.
//!
//! A migration that fails half-way at post-data leaves the destination with an unapplied
//! migration, and `diff` then refuses to go on: no config can get past it. So every rule
//! the destination enforces on keys when they are created is checked while building the
//! desired schema. Where an adaptation keeps the meaning (an action with the same effect,
//! a safe widening, an index on prefixes) it is made and reported with a code; where none
//! does, the build is refused with a message saying what to change in the config.
//!
//! The adapted forms are written as the destination reports them back (MySQL reads
//! `RESTRICT` and `NO ACTION` both as `no_action`), so a second diff stays empty.

use super::findings::{Diagnostic, Origin, codes};
use crate::diff::is_widening;
use crate::model::{
    Dialect, Index, IndexPart, NeutralType, ReferentialAction, Schema, Table, UniqueConstraint,
};
use std::collections::{BTreeMap, BTreeSet};

/// InnoDB's largest index key (DYNAMIC rows, MariaDB 10.3+ and MySQL 5.7+ defaults).
const MAX_KEY_BYTES: u32 = 3072;
/// utf8mb4, the character set of every table seaway creates in MySQL.
const BYTES_PER_CHAR: u32 = 4;

/// What the key rules found: notes (adapted) and refusals (the build fails).
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub notes: Vec<Diagnostic>,
    pub refusals: Vec<Diagnostic>,
}

impl Findings {
    fn note(&mut self, code: &'static str, subject: String, message: String) {
        self.notes.push(Diagnostic {
            code,
            subject,
            message,
        });
    }

    fn refuse(&mut self, code: &'static str, subject: String, message: String) {
        self.refusals.push(Diagnostic {
            code,
            subject,
            message,
        });
    }
}

/// Applies every key rule of `dest` to the desired `schema`. `origins` name the source
/// table and columns of each destination table, for advice about `mappings:`.
pub(super) fn apply(
    schema: &mut Schema,
    dest: Dialect,
    cross_engine: bool,
    origins: &BTreeMap<String, Origin>,
) -> Findings {
    let mut out = Findings::default();
    drop_unsupported_references(schema, dest, cross_engine, &mut out);
    match dest {
        Dialect::Mysql => {
            widen_referencing_columns(schema, &mut out);
            refuse_unlinkable_columns(schema, origins, &mut out);
            for (name, table) in &mut schema.tables {
                adapt_actions(name, table, &mut out);
            }
            if cross_engine {
                for (name, table) in &mut schema.tables {
                    fit_key_lengths(name, table, origins, &mut out);
                }
            }
        }
        Dialect::Postgres | Dialect::Sqlite => {}
    }
    out
}

/// True when `table` has a primary key, unique constraint or unique index on exactly the
/// set of `columns` (the order may differ, as PostgreSQL allows).
fn is_unique_on(table: &Table, columns: &[String]) -> bool {
    let want: BTreeSet<&str> = columns.iter().map(String::as_str).collect();
    let same = |cols: &[String]| {
        cols.len() == want.len() && cols.iter().all(|c| want.contains(c.as_str()))
    };
    table
        .primary_key
        .as_ref()
        .is_some_and(|pk| same(&pk.columns))
        || table.unique.iter().any(|u| same(&u.columns))
        || table.indexes.iter().any(|ix| {
            ix.unique
                && ix.predicate.is_none()
                && IndexPart::plain_columns(&ix.columns).is_some_and(|c| same(&c))
        })
}

/// PostgreSQL refuses a foreign key whose referenced columns carry no primary key or
/// unique constraint ("there is no unique constraint matching given keys"), and so does
/// MySQL 8.4 (MariaDB wants at least an index, which an SQLite source need not have);
/// MySQL and SQLite sources allow them. Such a key cannot be enforced there, so it is
/// left out with a note. Between two MySQL servers the source's key is kept, and SQLite
/// checks this only when rows are written.
fn drop_unsupported_references(
    schema: &mut Schema,
    dest: Dialect,
    cross_engine: bool,
    out: &mut Findings,
) {
    let needs_unique = match dest {
        Dialect::Postgres => true,
        Dialect::Mysql => cross_engine,
        Dialect::Sqlite => false,
    };
    if !needs_unique {
        return;
    }
    let mut dropped: Vec<(String, String)> = Vec::new();
    for (name, table) in &schema.tables {
        for fk in &table.foreign_keys {
            let unique = schema
                .tables
                .get(&fk.references)
                .is_some_and(|parent| is_unique_on(parent, &fk.referenced_columns));
            if !unique {
                out.note(
                    codes::FK_NOT_UNIQUE,
                    name.clone(),
                    format!(
                        "foreign key `{}` references {}({}), which has no primary key or unique constraint on those columns; {dest} refuses such a key, so it is left out",
                        fk.name,
                        fk.references,
                        fk.referenced_columns.join(", ")
                    ),
                );
                dropped.push((name.clone(), fk.name.clone()));
            }
        }
    }
    for (table, fk) in dropped {
        if let Some(t) = schema.tables.get_mut(&table) {
            t.foreign_keys.retain(|f| f.name != fk);
        }
    }
}

/// InnoDB refuses `SET NULL` on a NOT NULL column ("Foreign key constraint is incorrectly
/// formed", errno 150), which PostgreSQL accepts and then fails every delete with. The
/// effect there is that of `NO ACTION`: the parent row cannot go while children point at
/// it. InnoDB also refuses `SET DEFAULT` altogether; the nearest it can enforce is again
/// `NO ACTION` (deletes are refused instead of re-pointing the children), said in the note.
fn adapt_actions(name: &str, table: &mut Table, out: &mut Findings) {
    let columns = table.columns.clone();
    for fk in &mut table.foreign_keys {
        let not_null: Vec<&str> = fk
            .columns
            .iter()
            .filter(|c| columns.iter().any(|col| &col.name == *c && !col.nullable))
            .map(String::as_str)
            .collect();
        for (when, action) in [("DELETE", &mut fk.on_delete), ("UPDATE", &mut fk.on_update)] {
            let why = match action {
                ReferentialAction::SetNull if !not_null.is_empty() => format!(
                    "ON {when} SET NULL on NOT NULL column(s) {} (MySQL refuses it; it could never succeed): written as NO ACTION, which has the same effect",
                    not_null.join(", ")
                ),
                ReferentialAction::SetDefault => format!(
                    "ON {when} SET DEFAULT is refused by InnoDB: written as NO ACTION, so a {} of a referenced row is refused instead of re-pointing its children to the default",
                    when.to_lowercase()
                ),
                ReferentialAction::SetNull
                | ReferentialAction::NoAction
                | ReferentialAction::Restrict
                | ReferentialAction::Cascade => continue,
            };
            *action = ReferentialAction::NoAction;
            out.note(
                codes::FK_ACTION_ADAPTED,
                name.to_string(),
                format!("foreign key `{}`: {why}", fk.name),
            );
        }
    }
}

/// How MySQL can link a referencing column of type `child` to a referenced one of type
/// `parent`: "The size and sign of fixed precision types such as INTEGER and DECIMAL
/// must be the same. The length of string types need not be the same." (MySQL manual,
/// FOREIGN KEY constraints), and TEXT/BLOB columns cannot be in a foreign key at all.
#[derive(Debug, PartialEq)]
enum Link {
    Fine,
    /// The child takes the parent's type: every value of the child's type fits.
    Widen,
    Refused(&'static str),
}

fn link(child: &NeutralType, parent: &NeutralType) -> Link {
    use NeutralType as N;
    let unbounded = |t: &N| matches!(t, N::Text | N::Json | N::Binary { length: None, .. });
    if unbounded(child) || unbounded(parent) {
        return Link::Refused(
            "MySQL cannot put a TEXT or BLOB column in a foreign key; map the columns to a bounded type such as varchar(255)",
        );
    }
    if child == parent {
        return Link::Fine;
    }
    match (child, parent) {
        (N::Char { .. } | N::Varchar { .. }, N::Char { .. } | N::Varchar { .. })
        | (N::Binary { .. }, N::Binary { .. }) => Link::Fine,
        (N::Int { .. } | N::Decimal { .. }, N::Int { .. } | N::Decimal { .. })
            if is_widening(child, parent) =>
        {
            Link::Widen
        }
        (N::Int { .. } | N::Decimal { .. }, N::Int { .. } | N::Decimal { .. }) => Link::Refused(
            "MySQL requires the same integer or decimal size and sign on both sides, and the referenced type cannot hold every value of the referencing one",
        ),
        _ => Link::Refused("MySQL requires both sides of a foreign key to have the same type"),
    }
}

/// Each referencing column takes its referenced column's type where that is a widening,
/// repeated until nothing changes (a widened column may itself be referenced).
fn widen_referencing_columns(schema: &mut Schema, out: &mut Findings) {
    loop {
        let mut widen: Vec<(String, String, NeutralType, String, String)> = Vec::new();
        for (name, table) in &schema.tables {
            for fk in &table.foreign_keys {
                let Some(parent) = schema.tables.get(&fk.references) else {
                    continue;
                };
                for (c, p) in fk.columns.iter().zip(&fk.referenced_columns) {
                    let (Some(cc), Some(pc)) = (table.column(c), parent.column(p)) else {
                        continue;
                    };
                    if link(&cc.ty, &pc.ty) == Link::Widen
                        && !widen.iter().any(|w| &w.0 == name && &w.1 == c)
                    {
                        widen.push((
                            name.clone(),
                            c.clone(),
                            pc.ty.clone(),
                            pc.native.clone(),
                            format!(
                                "{} -> {}: widened to the type of {}.{p}, which foreign key `{}` references (MySQL needs both sides of the same size and sign)",
                                cc.ty, pc.ty, fk.references, fk.name
                            ),
                        ));
                    }
                }
            }
        }
        if widen.is_empty() {
            return;
        }
        for (table, column, ty, native, why) in widen {
            if let Some(col) = schema
                .tables
                .get_mut(&table)
                .and_then(|t| t.columns.iter_mut().find(|c| c.name == column))
            {
                col.ty = ty;
                col.native = native;
                out.note(codes::FK_COLUMN_WIDENED, format!("{table}.{column}"), why);
            }
        }
    }
}

/// The column pairs MySQL cannot link even after widening: refused, naming the mapping
/// that fixes them.
fn refuse_unlinkable_columns(
    schema: &Schema,
    origins: &BTreeMap<String, Origin>,
    out: &mut Findings,
) {
    for (name, table) in &schema.tables {
        for fk in &table.foreign_keys {
            let Some(parent) = schema.tables.get(&fk.references) else {
                continue;
            };
            for (c, p) in fk.columns.iter().zip(&fk.referenced_columns) {
                let (Some(cc), Some(pc)) = (table.column(c), parent.column(p)) else {
                    continue;
                };
                if let Link::Refused(why) = link(&cc.ty, &pc.ty) {
                    let src = origins.get(name);
                    out.refuse(
                        codes::FK_TYPES,
                        format!("{name}.{c}"),
                        format!(
                            "foreign key `{}`: {c} ({}) references {}.{p} ({}): {why}; give both columns one type in `mappings.{}.types` (for {}) and `mappings.{}.types`",
                            fk.name,
                            cc.ty,
                            fk.references,
                            pc.ty,
                            src.map_or(name.as_str(), |o| o.source_table.as_str()),
                            source_column(src, name, c),
                            origins
                                .get(&fk.references)
                                .map_or(fk.references.as_str(), |o| o.source_table.as_str()),
                        ),
                    );
                }
            }
        }
    }
}

/// Bytes one index part takes in an InnoDB key: a fixed size, or characters / bytes of
/// a string column (`None`: unbounded, which InnoDB only indexes on a prefix).
#[derive(Debug, Clone, Copy)]
enum Width {
    Fixed(u32),
    Chars(Option<u32>),
    Bytes(Option<u32>),
}

fn width(ty: &NeutralType) -> Width {
    use NeutralType as N;
    match ty {
        N::Bool => Width::Fixed(1),
        N::Int { bits, .. } => Width::Fixed(u32::from(*bits) / 8),
        // Nine digits in four bytes.
        N::Decimal { precision, .. } => Width::Fixed(precision.unwrap_or(65).div_ceil(9) * 4),
        N::Float { bits } => Width::Fixed(u32::from(*bits) / 8),
        N::Char { length } | N::Varchar { length } => Width::Chars(*length),
        N::Text | N::Json => Width::Chars(None),
        N::Binary { length, .. } => Width::Bytes(*length),
        N::Bit { length, .. } => Width::Fixed(length.unwrap_or(64).div_ceil(8)),
        N::Date | N::Time { .. } | N::TimeTz { .. } => Width::Fixed(6),
        N::Timestamp { .. } | N::TimestampTz { .. } => Width::Fixed(8),
        N::Enum { .. } => Width::Fixed(2),
        N::Set { .. } => Width::Fixed(8),
        // What seaway casts these to in MySQL: varchar(64), char(36), varchar(43).
        N::Interval => Width::Chars(Some(64)),
        N::Uuid => Width::Chars(Some(36)),
        N::Inet => Width::Chars(Some(43)),
        N::Array(_) => Width::Chars(None),
        N::Other { .. } => Width::Fixed(0),
    }
}

/// Prefix lengths (in the column's units) that fit `widths` into InnoDB's key limit,
/// `None` for a part kept whole; `Err(bytes)` when the fixed-size parts alone need
/// more. The budget left by fixed parts is shared fairly: parts that need less than an
/// equal share keep everything, the rest split what remains equally.
fn prefixes(widths: &[Width]) -> Result<Vec<Option<u32>>, u32> {
    let fixed: u32 = widths
        .iter()
        .map(|w| match w {
            Width::Fixed(b) => *b,
            Width::Chars(_) | Width::Bytes(_) => 0,
        })
        .sum();
    if fixed > MAX_KEY_BYTES {
        return Err(fixed);
    }
    // (part, bytes per unit, bytes wanted; u32::MAX for unbounded)
    let mut strings: Vec<(usize, u32, u32)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w {
            Width::Fixed(_) => None,
            Width::Chars(n) => Some((
                i,
                BYTES_PER_CHAR,
                n.map_or(u32::MAX, |n| n.saturating_mul(BYTES_PER_CHAR)),
            )),
            Width::Bytes(n) => Some((i, 1, n.unwrap_or(u32::MAX))),
        })
        .collect();
    strings.sort_by_key(|s| (s.2, s.0));
    let mut budget = MAX_KEY_BYTES - fixed;
    let mut left = u32::try_from(strings.len()).unwrap_or(u32::MAX);
    let mut out = vec![None; widths.len()];
    for (part, unit, wanted) in strings {
        let share = budget / left.max(1);
        let take = if wanted <= share {
            wanted
        } else {
            let units = (share / unit).max(1);
            out[part] = Some(units);
            units * unit
        };
        budget = budget.saturating_sub(take);
        left -= 1;
    }
    Ok(out)
}

/// InnoDB refuses an index whose key is longer than 3072 bytes ("Specified key was too
/// long") and indexes TEXT/BLOB only on a prefix. Indexes and unique constraints are
/// given prefix lengths that fit (a unique one then guarantees only the prefixes are
/// unique, which the note says); a primary key cannot be a prefix, so one too long is
/// refused with the mapping that fixes it.
fn fit_key_lengths(
    name: &str,
    table: &mut Table,
    origins: &BTreeMap<String, Origin>,
    out: &mut Findings,
) {
    let ty_of = |t: &Table, c: &str| t.column(c).map(|c| c.ty.clone());
    if let Some(pk) = &table.primary_key {
        let widths: Vec<Width> = pk
            .columns
            .iter()
            .filter_map(|c| ty_of(table, c))
            .map(|t| width(&t))
            .collect();
        let fits = matches!(prefixes(&widths), Ok(p) if p.iter().all(Option::is_none));
        if !fits {
            let src = origins.get(name);
            let entries: Vec<String> = pk
                .columns
                .iter()
                .map(|c| source_column(src, name, c))
                .collect();
            out.refuse(
                codes::KEY_TOO_LONG,
                name.to_string(),
                format!(
                    "primary key ({}) is longer than InnoDB's {MAX_KEY_BYTES}-byte key limit (or holds text/blob columns, which a key cannot hold whole; utf8mb4 takes 4 bytes per character); map the key column(s) to a shorter type in `mappings.{}.types` (e.g. varchar(255) for {})",
                    pk.columns.join(", "),
                    src.map_or(name, |o| o.source_table.as_str()),
                    entries.join(", ")
                ),
            );
        }
    }
    let plan = |parts: &[IndexPart]| -> Option<Result<Vec<IndexPart>, u32>> {
        let cols = IndexPart::plain_columns(parts)?;
        let widths: Vec<Width> = cols
            .iter()
            .map(|c| ty_of(table, c).map_or(Width::Fixed(0), |t| width(&t)))
            .collect();
        Some(prefixes(&widths).map(|p| {
            cols.iter()
                .zip(p)
                .map(|(c, len)| match len {
                    None => IndexPart::Column(c.clone()),
                    Some(n) => IndexPart::Expression {
                        expression: format!("{}({n})", crate::engine::mysql::quote_ident(c)),
                    },
                })
                .collect()
        }))
    };
    // A bounded column cut to a prefix is worth a note; a text column always is one.
    let bounded_cut = |before: &[IndexPart], after: &[IndexPart]| {
        before.iter().zip(after).any(|(b, a)| {
            b != a
                && matches!(b, IndexPart::Column(c) if table.column(c).is_some_and(|col| !matches!(width(&col.ty), Width::Chars(None) | Width::Bytes(None))))
        })
    };
    let mut indexes = Vec::new();
    for ix in &table.indexes {
        match plan(&ix.columns) {
            Some(Ok(parts)) => {
                if parts != ix.columns && (ix.unique || bounded_cut(&ix.columns, &parts)) {
                    out.note(
                        codes::INDEX_PREFIXED,
                        name.to_string(),
                        prefix_note(&ix.name, ix.unique, &parts),
                    );
                }
                indexes.push(Index {
                    columns: parts,
                    ..ix.clone()
                });
            }
            Some(Err(bytes)) => out.refuse(
                codes::KEY_TOO_LONG,
                name.to_string(),
                too_long(&ix.name, bytes),
            ),
            None => indexes.push(ix.clone()),
        }
    }
    let mut unique: Vec<UniqueConstraint> = Vec::new();
    for u in &table.unique {
        let parts: Vec<IndexPart> = u
            .columns
            .iter()
            .map(|c| IndexPart::Column(c.clone()))
            .collect();
        match plan(&parts) {
            Some(Ok(cut)) if cut != parts => {
                out.note(
                    codes::INDEX_PREFIXED,
                    name.to_string(),
                    prefix_note(&u.name, true, &cut),
                );
                indexes.push(Index {
                    name: u.name.clone(),
                    columns: cut,
                    unique: true,
                    predicate: None,
                    method: None,
                });
            }
            Some(Err(bytes)) => out.refuse(
                codes::KEY_TOO_LONG,
                name.to_string(),
                too_long(&u.name, bytes),
            ),
            Some(Ok(_)) | None => unique.push(u.clone()),
        }
    }
    table.indexes = indexes;
    table.unique = unique;
}

fn prefix_note(index: &str, unique: bool, parts: &[IndexPart]) -> String {
    let cut: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            IndexPart::Expression { expression } => Some(expression.as_str()),
            IndexPart::Column(_) => None,
        })
        .collect();
    format!(
        "index `{index}` is longer than InnoDB's {MAX_KEY_BYTES}-byte key limit (utf8mb4: 4 bytes per character): indexed on {}{}",
        cut.join(", "),
        if unique {
            "; uniqueness is then only enforced on those prefixes"
        } else {
            ""
        }
    )
}

fn too_long(index: &str, bytes: u32) -> String {
    format!(
        "index `{index}`: its fixed-size columns alone take {bytes} bytes, more than InnoDB's {MAX_KEY_BYTES}-byte key limit; exclude the table or map a column to a smaller type in `mappings:`"
    )
}

/// `source_table.source_column` for a destination column, for advice.
fn source_column(origin: Option<&Origin>, table: &str, column: &str) -> String {
    match origin {
        Some(o) => {
            let src = o
                .columns
                .iter()
                .find(|(d, _)| d == column)
                .map_or(column, |(_, s)| s.as_str());
            format!("`{src}`")
        }
        None => format!("`{table}.{column}`"),
    }
}
