//! What the source holds that the destination plan leaves out, each with a stable code
//! (docs/diff.md, "Left out"): `diff` prints every one, so nothing the source has goes
//! missing without a word.
//!
//! `target` decides what is carried (views, partitioning and domains between databases
//! of one engine); this module compares the source with that decision and names the
//! rest, with the reason. Triggers, functions, procedures, rules and policies are never
//! carried: their bodies are code in the source engine's language, and a destination
//! that silently lacks the trigger filling a NOT NULL column is worse than one that is
//! told so.

use crate::model::{ColumnExtra, Dialect, ObjectKind, Schema};
use crate::target::{Desired, Diagnostic};

/// Stable codes of source objects left out. Documented in docs/diff.md.
pub mod codes {
    pub const VIEW: &str = "D301";
    pub const MATERIALIZED_VIEW: &str = "D302";
    pub const FUNCTION: &str = "D303";
    pub const TRIGGER: &str = "D304";
    pub const SEQUENCE: &str = "D305";
    pub const INHERITANCE: &str = "D306";
    pub const PARTITIONING: &str = "D307";
    pub const DOMAIN: &str = "D308";
    pub const EXCLUSION: &str = "D309";
    pub const EXTENSION: &str = "D310";
    pub const EVENT: &str = "D311";
    pub const RULE: &str = "D312";
    pub const POLICY: &str = "D313";
    pub const PARTITION_KEY: &str = "D314";
}

/// Every object of `source` that `desired` (the destination plan) does not carry.
pub fn left_out(source: &Schema, desired: &Desired) -> Vec<Diagnostic> {
    let dest = desired.schema.dialect;
    let mut out = Vec::new();
    let mut push = |code: &'static str, subject: &str, message: String| {
        out.push(Diagnostic {
            code,
            subject: subject.to_string(),
            message,
        })
    };
    let cross = |what: &str| {
        format!(
            "{what} is {} SQL, which {dest} does not run; left out",
            source.dialect
        )
    };

    for (name, view) in &source.views {
        if desired.schema.views.contains_key(name) {
            continue;
        }
        let (code, what) = if view.materialized {
            (codes::MATERIALIZED_VIEW, "materialized view")
        } else {
            (codes::VIEW, "view")
        };
        let why = if source.dialect != dest {
            cross(&format!("the {what}'s definition"))
        } else if view.definition.is_none() {
            format!("the {what}'s definition cannot be read; left out")
        } else {
            let missing: Vec<&str> = view
                .depends_on
                .iter()
                .filter(|d| {
                    !desired.schema.views.contains_key(*d)
                        && desired
                            .origins
                            .get(*d)
                            .is_none_or(|o| o.source_table != **d)
                })
                .map(String::as_str)
                .collect();
            format!(
                "it reads {}, which the destination does not get under the same name and columns (not selected, renamed, or left out); left out",
                list(&missing)
            )
        };
        push(code, name, why);
    }

    for object in &source.objects {
        if object
            .table
            .as_ref()
            .is_some_and(|t| !source.tables.contains_key(t))
        {
            continue; // on a table the config does not select
        }
        let (code, why) = match object.kind {
            ObjectKind::Function | ObjectKind::Procedure => (
                codes::FUNCTION,
                "its body is code; recreate it by hand if the destination needs it",
            ),
            ObjectKind::Trigger => (
                codes::TRIGGER,
                "its body is code; the destination does not do what it does (fill or check columns on write)",
            ),
            ObjectKind::Sequence => (
                codes::SEQUENCE,
                "no column owns it; its current value is not carried",
            ),
            ObjectKind::Extension => (
                codes::EXTENSION,
                "install it in the destination if its types or functions are needed",
            ),
            ObjectKind::Event => (codes::EVENT, "a scheduled event is code; not carried"),
            ObjectKind::Rule => (codes::RULE, "a rewrite rule is code; not carried"),
            ObjectKind::Policy => (
                codes::POLICY,
                "row-level security is not carried; the destination shows every row to whoever may read the table",
            ),
        };
        let subject = match &object.table {
            Some(t) => format!("{t}.{}", object.name),
            None => object.name.clone(),
        };
        push(
            code,
            &subject,
            format!(
                "{} `{}`: {why}; left out",
                object.kind.as_str(),
                object.name
            ),
        );
    }

    for (name, table) in &source.tables {
        let carried = desired
            .origins
            .iter()
            .find(|(_, o)| o.source_table == *name)
            .and_then(|(d, _)| desired.schema.tables.get(d));
        let Some(carried) = carried else {
            continue; // not selected: the config left it out
        };
        if !table.inherits.is_empty() {
            push(
                codes::INHERITANCE,
                name,
                format!(
                    "inherits from {}: carried as a plain table; the parent's rows are read as PostgreSQL shows them, its children's included",
                    list(
                        &table
                            .inherits
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                    )
                ),
            );
        }
        if table.partitioned_by.is_some() && carried.partitioned_by.is_none() {
            let partitions: Vec<&str> = table.partitions.iter().map(|p| p.name.as_str()).collect();
            let why = if source.dialect != dest {
                format!("{dest} gets one plain table")
            } else {
                "a column is renamed, and the partition key names columns: one plain table".into()
            };
            push(
                codes::PARTITIONING,
                name,
                format!(
                    "partitioned by {} into {}; {why} holding every partition's rows",
                    table.partitioned_by.as_deref().unwrap_or_default(),
                    list(&partitions)
                ),
            );
        }
        for p in &table.partitions {
            for fk in &p.foreign_keys {
                push(
                    codes::PARTITION_KEY,
                    &format!("{name}.{}", p.name),
                    format!(
                        "foreign key `{}` is declared on partition `{}` only, not on every partition; left out",
                        fk.name, p.name
                    ),
                );
            }
            for ix in &p.indexes {
                push(
                    codes::PARTITION_KEY,
                    &format!("{name}.{}", p.name),
                    format!(
                        "index `{}` is declared on partition `{}` only{}; left out",
                        ix.name,
                        p.name,
                        if ix.unique {
                            " (a unique index is never lifted to the parent)"
                        } else {
                            ", not on every partition"
                        }
                    ),
                );
            }
        }
        for x in &table.exclusions {
            push(
                codes::EXCLUSION,
                &format!("{name}.{}", x.name),
                format!(
                    "exclusion constraint `{}` ({}) is not carried; left out",
                    x.name, x.expression
                ),
            );
        }
        for col in &table.columns {
            for extra in &col.extras {
                let ColumnExtra::Domain {
                    name: domain,
                    checks,
                } = extra
                else {
                    continue;
                };
                if desired.schema.domains.contains_key(domain) {
                    continue;
                }
                let checks = if checks.is_empty() {
                    String::new()
                } else {
                    format!(" and its checks ({})", checks.join(", "))
                };
                // Only PostgreSQL sources have domains.
                let why = match dest {
                    Dialect::Postgres => {
                        "it is defined in another schema or the column's type is mapped"
                    }
                    Dialect::Mysql | Dialect::Sqlite => "the destination has no domains",
                };
                push(
                    codes::DOMAIN,
                    &format!("{name}.{}", col.name),
                    format!(
                        "domain `{domain}`{checks} is not recreated ({why}); the column takes its base type"
                    ),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `a`, `b` and `c`, quoted.
fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
