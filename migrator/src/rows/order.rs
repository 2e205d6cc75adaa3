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
