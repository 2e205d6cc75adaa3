//! The order tables are copied (and verified) in.

use seaway_codegen::model::Schema;
use std::collections::BTreeSet;

/// Referenced tables before the tables that reference them (ties and cycles by name),
/// so foreign keys already in place accept every row.
pub fn load_order(schema: &Schema) -> Vec<String> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < schema.tables.len() {
        let ready: Vec<String> = schema
            .tables
            .iter()
            .filter(|(name, _)| !done.contains(*name))
            .filter(|(name, t)| {
                t.foreign_keys.iter().all(|fk| {
                    fk.references == **name
                        || done.contains(&fk.references)
                        || !schema.tables.contains_key(&fk.references)
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        let next = if ready.is_empty() {
            // A cycle: take the first remaining table by name.
            schema
                .tables
                .keys()
                .find(|n| !done.contains(*n))
                .cloned()
                .into_iter()
                .collect()
        } else {
            ready
        };
        for n in next {
            done.insert(n.clone());
            order.push(n);
        }
    }
    order
}

/// Tables whose foreign keys, as the destination holds them, reference each other in a
/// circle (two or more tables; a table referencing itself is not one): no order of
/// loading them satisfies every constraint while the destination is still empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The tables, in name order.
    pub tables: Vec<String>,
    /// The constraints between them, as `name: table(columns) -> referenced`.
    pub links: Vec<String>,
}

/// The circles of foreign keys among the destination tables `tables` that `actual`
/// (the destination as it is) already enforces.
pub fn cycles(tables: &BTreeSet<String>, actual: &Schema) -> Vec<Cycle> {
    // Edges between loaded tables, as the destination declares them.
    let edges = |from: &str| -> Vec<String> {
        actual
            .tables
            .get(from)
            .map(|t| {
                t.foreign_keys
                    .iter()
                    .filter(|fk| fk.references != from && tables.contains(&fk.references))
                    .map(|fk| fk.references.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = edges(from);
        while let Some(t) = todo.pop() {
            if seen.insert(t.clone()) {
                todo.extend(edges(&t));
            }
        }
        seen
    };
    let reached: std::collections::BTreeMap<&String, BTreeSet<String>> =
        tables.iter().map(|t| (t, reach(t))).collect();
    let mut placed: BTreeSet<&String> = BTreeSet::new();
    let mut out = Vec::new();
    for t in tables {
        if placed.contains(t) || !reached[t].contains(t) {
            continue;
        }
        // The tables t reaches that reach t back: t's circle.
        let circle: Vec<String> = tables
            .iter()
            .filter(|u| reached[t].contains(*u) && reached[*u].contains(t))
            .cloned()
            .collect();
        placed.extend(tables.iter().filter(|u| circle.contains(u)));
        let links = circle
            .iter()
            .flat_map(|from| {
                let circle = &circle;
                actual.tables[from]
                    .foreign_keys
                    .iter()
                    .filter(move |fk| fk.references != *from && circle.contains(&fk.references))
                    .map(move |fk| {
                        format!(
                            "`{}`: {from}({}) -> {}",
                            fk.name,
                            fk.columns.join(", "),
                            fk.references
                        )
                    })
            })
            .collect();
        out.push(Cycle {
            tables: circle,
            links,
        });
    }
    out
}

/// Why a first load cannot start: a circle of foreign keys the destination enforces,
/// one table of which the destination holds no row of while the source has some.
/// `None` when every circle's tables are loaded already (a re-run updates rows whose
/// references exist) or the destination has no circle.
pub async fn blocked_first_load(
    prepared: &super::plan::Prepared<'_>,
    source: &super::source::Source,
    source_conn: &seaway_codegen::config::Connection,
) -> Result<Option<Cycle>, BlockedError> {
    if !crate::engine::of(prepared.dest_conn.url.dialect()).checks_foreign_keys_on_load() {
        return Ok(None);
    }
    let tables: BTreeSet<String> = prepared.desired.schema.tables.keys().cloned().collect();
    let found = cycles(&tables, &prepared.actual);
    if found.is_empty() {
        return Ok(None);
    }
    let dest = super::source::Source::open(prepared.dest_conn).await?;
    let blocked = first_blocked(prepared, found, source, source_conn, &dest).await;
    dest.close().await;
    blocked
}

/// The first of `found` with a table the destination (`dest`) holds no row of while
/// the source has some.
async fn first_blocked(
    prepared: &super::plan::Prepared<'_>,
    found: Vec<Cycle>,
    source: &super::source::Source,
    source_conn: &seaway_codegen::config::Connection,
    dest: &super::source::Source,
) -> Result<Option<Cycle>, BlockedError> {
    let read_failed = |conn: &seaway_codegen::config::Connection, table: &str, e: sqlx::Error| {
        BlockedError::Read {
            connection: conn.name.clone(),
            table: table.to_string(),
            reason: conn.url.scrub(&e.to_string()),
        }
    };
    for cycle in found {
        for t in &cycle.tables {
            let Some(origin) = prepared.desired.origins.get(t) else {
                continue;
            };
            let empty_here = !holds_rows(dest, t)
                .await
                .map_err(|e| read_failed(prepared.dest_conn, t, e))?;
            if empty_here
                && holds_rows(source, &origin.source_table)
                    .await
                    .map_err(|e| read_failed(source_conn, &origin.source_table, e))?
            {
                return Ok(Some(cycle));
            }
        }
    }
    Ok(None)
}

/// Why [`blocked_first_load`] could not tell.
#[derive(Debug, thiserror::Error)]
pub enum BlockedError {
    #[error(transparent)]
    Connect(#[from] seaway_codegen::inspect::ConnectError),
    #[error(
        "checking for foreign keys that block a first load: reading whether `{table}` of connection `{connection}` holds rows: {reason}"
    )]
    Read {
        connection: String,
        table: String,
        reason: String,
    },
}

impl Cycle {
    /// The one-paragraph refusal of a first load into `destination` this circle blocks.
    pub fn refusal(&self, destination: &str) -> String {
        format!(
            "tables {} of destination `{destination}` reference each other through foreign keys it already enforces ({}), and one of them holds no rows there yet, so no order of loading them satisfies every constraint; nothing was written. Load the data before the foreign keys: on a new destination run `migrator apply --section pre-data`, then this command, then `migrator apply --section post-data`; on one that already has the constraints, drop one of those listed for the first load and add it back after",
            self.tables
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
            self.links.join("; ")
        )
    }
}

/// Whether `table` holds a row.
async fn holds_rows(db: &super::source::Source, table: &str) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT 'x' FROM {} LIMIT 1",
        super::read::quote(db.dialect(), table)
    );
    Ok(!db.rows(&sql, &[]).await?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaway_codegen::model::{ForeignKey, Table};

    fn schema(links: &[(&str, &str)], tables: &[&str]) -> Schema {
        let mut s = Schema::new(seaway_codegen::model::Dialect::Postgres, "public");
        for t in tables {
            s.tables.insert((*t).to_string(), Table::default());
        }
        for (i, (from, to)) in links.iter().enumerate() {
            let fk = ForeignKey {
                name: format!("fk{i}"),
                columns: vec![format!("{to}_id")],
                references: (*to).to_string(),
                referenced_columns: vec!["id".to_string()],
                on_delete: Default::default(),
                on_update: Default::default(),
            };
            s.tables
                .get_mut(*from)
                .expect("table")
                .foreign_keys
                .push(fk);
        }
        s
    }

    fn names(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn two_tables_referencing_each_other_are_a_circle_and_a_chain_is_not() {
        let s = schema(
            &[
                ("store", "staff"),
                ("staff", "store"),
                ("customer", "store"),
                ("emp", "emp"),
            ],
            &["store", "staff", "customer", "emp"],
        );
        let found = cycles(&names(&["store", "staff", "customer", "emp"]), &s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].tables,
            vec!["staff".to_string(), "store".to_string()]
        );
        assert_eq!(
            found[0].links,
            vec![
                "`fk1`: staff(store_id) -> store".to_string(),
                "`fk0`: store(staff_id) -> staff".to_string()
            ]
        );
    }

    #[test]
    fn a_circle_through_a_table_not_loaded_does_not_count() {
        let s = schema(&[("a", "b"), ("b", "c"), ("c", "a")], &["a", "b", "c"]);
        assert_eq!(cycles(&names(&["a", "b", "c"]), &s).len(), 1);
        assert!(cycles(&names(&["a", "b"]), &s).is_empty());
    }
}
