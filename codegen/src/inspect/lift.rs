//! Foreign keys and indexes declared on every partition of a partitioned table (or on
//! every child of an inheritance parent) belong, in the neutral model, to the parent.
//!
//! Sample databases (pagila's `payment`) declare them partition by partition, so the
//! parent alone looks unlinked: the destination would get no key, and the boundaries
//! would leave the table alone. What every partition (child) has is lifted to the parent
//! under PostgreSQL's own default name (`<table>_<columns>_fkey` / `_idx`); what only
//! some have stays with them and is reported by `diff` as left out. Unique indexes are
//! not lifted: on a partitioned parent they must contain the partition key, which a
//! per-partition unique index need not.

use crate::model::{ForeignKey, Index, IndexPart, ReferentialAction, Schema};

/// What makes two foreign keys the same key, whatever their names.
type FkShape<'a> = (
    &'a [String],
    &'a str,
    &'a [String],
    ReferentialAction,
    ReferentialAction,
);

fn fk_shape(fk: &ForeignKey) -> FkShape<'_> {
    (
        fk.columns.as_slice(),
        fk.references.as_str(),
        fk.referenced_columns.as_slice(),
        fk.on_delete,
        fk.on_update,
    )
}

/// Whether `table` already links `fk`'s columns to the same referenced columns (with
/// whatever actions: the parent's own declaration wins over the children's), or holds a
/// constraint under `name`, the name the lifted key would take.
fn parent_has(table: &crate::model::Table, fk: &ForeignKey, name: &str) -> bool {
    table.foreign_keys.iter().any(|f| {
        f.name == name
            || (f.columns == fk.columns
                && f.references == fk.references
                && f.referenced_columns == fk.referenced_columns)
    })
}

/// What makes two indexes the same index, whatever their names.
type IndexShape<'a> = (&'a [IndexPart], bool, Option<&'a str>, Option<&'a str>);

fn index_shape(ix: &Index) -> IndexShape<'_> {
    (
        ix.columns.as_slice(),
        ix.unique,
        ix.predicate.as_deref(),
        ix.method.as_deref(),
    )
}

/// `<table>_<columns>_<suffix>`, PostgreSQL's default constraint and index name.
fn default_name(table: &str, parts: &[IndexPart], suffix: &str) -> String {
    let mut name = table.to_string();
    for p in parts {
        match p {
            IndexPart::Column(c) => name.push_str(&format!("_{c}")),
            IndexPart::Expression { .. } => name.push_str("_expr"),
        }
    }
    format!("{name}_{suffix}")
}

/// Lifts, in place, what every partition or inheritance child of a table declares.
pub(crate) fn lift(schema: &mut Schema) {
    let names: Vec<String> = schema.tables.keys().cloned().collect();
    for parent in &names {
        lift_partitions(schema, parent);
        lift_children(schema, parent);
    }
}

fn lift_partitions(schema: &mut Schema, parent: &str) {
    let Some(table) = schema.tables.get_mut(parent) else {
        return;
    };
    let Some(first) = table.partitions.first().cloned() else {
        return;
    };
    for fk in &first.foreign_keys {
        if !table
            .partitions
            .iter()
            .all(|p| p.foreign_keys.iter().any(|f| fk_shape(f) == fk_shape(fk)))
        {
            continue;
        }
        for p in &mut table.partitions {
            p.foreign_keys.retain(|f| fk_shape(f) != fk_shape(fk));
        }
        let columns: Vec<IndexPart> = fk.columns.iter().cloned().map(IndexPart::Column).collect();
        let name = default_name(parent, &columns, "fkey");
        if !parent_has(table, fk, &name) {
            table.foreign_keys.push(ForeignKey { name, ..fk.clone() });
        }
    }
    for ix in first.indexes.iter().filter(|i| !i.unique) {
        if !table
            .partitions
            .iter()
            .all(|p| p.indexes.iter().any(|i| index_shape(i) == index_shape(ix)))
        {
            continue;
        }
        for p in &mut table.partitions {
            p.indexes.retain(|i| index_shape(i) != index_shape(ix));
        }
        let name = default_name(parent, &ix.columns, "idx");
        if !table
            .indexes
            .iter()
            .any(|i| i.name == name || index_shape(i) == index_shape(ix))
        {
            table.indexes.push(Index { name, ..ix.clone() });
        }
    }
}

/// Inheritance children are tables of their own and keep their keys; the parent gets
/// those every child has.
fn lift_children(schema: &mut Schema, parent: &str) {
    let children: Vec<String> = schema
        .tables
        .iter()
        .filter(|(_, t)| t.inherits.iter().any(|p| p == parent))
        .map(|(n, _)| n.clone())
        .collect();
    let Some(first) = children.first().and_then(|c| schema.tables.get(c)).cloned() else {
        return;
    };
    let every = |pred: &dyn Fn(&crate::model::Table) -> bool| {
        children
            .iter()
            .all(|c| schema.tables.get(c).is_some_and(pred))
    };
    let fks: Vec<ForeignKey> = first
        .foreign_keys
        .iter()
        .filter(|fk| every(&|t| t.foreign_keys.iter().any(|f| fk_shape(f) == fk_shape(fk))))
        .cloned()
        .collect();
    let indexes: Vec<Index> = first
        .indexes
        .iter()
        .filter(|ix| !ix.unique)
        .filter(|ix| every(&|t| t.indexes.iter().any(|i| index_shape(i) == index_shape(ix))))
        .cloned()
        .collect();
    let Some(table) = schema.tables.get_mut(parent) else {
        return;
    };
    for fk in fks {
        let columns: Vec<IndexPart> = fk.columns.iter().cloned().map(IndexPart::Column).collect();
        let name = default_name(parent, &columns, "fkey");
        if !parent_has(table, &fk, &name) {
            table.foreign_keys.push(ForeignKey { name, ..fk });
        }
    }
    for ix in indexes {
        let name = default_name(parent, &ix.columns, "idx");
        if !table
            .indexes
            .iter()
            .any(|i| i.name == name || index_shape(i) == index_shape(&ix))
        {
            table.indexes.push(Index { name, ..ix });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dialect, Partition, Table};

    fn fk(name: &str, col: &str, to: &str) -> ForeignKey {
        ForeignKey {
            name: name.into(),
            columns: vec![col.into()],
            references: to.into(),
            referenced_columns: vec!["id".into()],
            on_delete: Default::default(),
            on_update: Default::default(),
        }
    }

    fn partition(name: &str, fks: Vec<ForeignKey>) -> Partition {
        Partition {
            name: name.into(),
            bound: "DEFAULT".into(),
            foreign_keys: fks,
            indexes: vec![Index {
                name: format!("{name}_at_idx"),
                columns: vec![IndexPart::Column("at".into())],
                unique: false,
                predicate: None,
                method: None,
            }],
        }
    }

    #[test]
    fn keys_on_every_partition_move_to_the_parent_and_the_rest_stay() {
        let mut schema = Schema::new(Dialect::Postgres, "public");
        schema.tables.insert(
            "payment".into(),
            Table {
                partitioned_by: Some("RANGE (at)".into()),
                partitions: vec![
                    partition(
                        "payment_a",
                        vec![
                            fk("a_customer", "customer_id", "customer"),
                            fk("a_staff", "staff_id", "staff"),
                        ],
                    ),
                    partition(
                        "payment_b",
                        vec![fk("b_customer", "customer_id", "customer")],
                    ),
                ],
                ..Table::default()
            },
        );
        lift(&mut schema);
        let t = &schema.tables["payment"];
        assert_eq!(
            t.foreign_keys,
            vec![fk("payment_customer_id_fkey", "customer_id", "customer")]
        );
        assert_eq!(t.indexes.len(), 1);
        assert_eq!(t.indexes[0].name, "payment_at_idx");
        assert_eq!(
            t.partitions[0].foreign_keys,
            vec![fk("a_staff", "staff_id", "staff")],
            "a key only one partition has stays with it"
        );
        assert!(t.partitions[1].foreign_keys.is_empty());
        assert!(t.partitions.iter().all(|p| p.indexes.is_empty()));
    }

    #[test]
    fn keys_every_inheritance_child_has_are_added_to_the_parent() {
        let mut schema = Schema::new(Dialect::Postgres, "public");
        schema.tables.insert("animal".into(), Table::default());
        for (child, extra) in [("cat", true), ("dog", false)] {
            let mut fks = vec![fk(&format!("{child}_zoo"), "zoo_id", "zoo")];
            if extra {
                fks.push(fk("cat_vet", "vet_id", "vet"));
            }
            schema.tables.insert(
                child.into(),
                Table {
                    inherits: vec!["animal".into()],
                    foreign_keys: fks,
                    ..Table::default()
                },
            );
        }
        lift(&mut schema);
        assert_eq!(
            schema.tables["animal"].foreign_keys,
            vec![fk("animal_zoo_id_fkey", "zoo_id", "zoo")]
        );
        assert_eq!(
            schema.tables["cat"].foreign_keys.len(),
            2,
            "children keep theirs"
        );
    }

    #[test]
    fn a_key_the_parent_declares_itself_is_not_added_again_from_its_children() {
        // jOOQ's sakila: `payment` declares its keys with actions, its inheritance
        // children the same keys without; one key per link, the parent's.
        let mut schema = Schema::new(Dialect::Postgres, "public");
        let own = ForeignKey {
            on_delete: ReferentialAction::Restrict,
            on_update: ReferentialAction::Cascade,
            ..fk("payment_customer_id_fkey", "customer_id", "customer")
        };
        schema.tables.insert(
            "payment".into(),
            Table {
                foreign_keys: vec![own.clone()],
                ..Table::default()
            },
        );
        for child in ["payment_a", "payment_b"] {
            schema.tables.insert(
                child.into(),
                Table {
                    inherits: vec!["payment".into()],
                    foreign_keys: vec![fk(&format!("{child}_customer"), "customer_id", "customer")],
                    ..Table::default()
                },
            );
        }
        lift(&mut schema);
        assert_eq!(schema.tables["payment"].foreign_keys, vec![own]);
    }
}
