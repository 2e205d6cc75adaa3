//! A synthetic schema for `just bench-generate`: `n` tables in domains of ten, each a
//! chain of parents and children with a junction table, a few shared lookups referenced
//! from everywhere, and one link between neighbouring domains. Deterministic: the same
//! `n` gives the same schema.

use crate::model::{Column, Dialect, ForeignKey, NeutralType, PrimaryKey, Schema, Table};

fn column(name: &str, ty: NeutralType, nullable: bool) -> Column {
    Column {
        name: name.to_string(),
        native: ty.to_string(),
        ty,
        nullable,
        default: None,
        identity: None,
        generated: None,
        comment: None,
        extras: Vec::new(),
    }
}

fn fk(from_col: &str, to: &str) -> ForeignKey {
    ForeignKey {
        name: format!("fk_{from_col}_{to}"),
        columns: vec![from_col.to_string()],
        references: to.to_string(),
        referenced_columns: vec!["id".to_string()],
        on_delete: Default::default(),
        on_update: Default::default(),
    }
}

/// `n` tables (at least 1).
pub fn schema(n: usize) -> Schema {
    let mut s = Schema::new(Dialect::Postgres, "public");
    let lookups = (n / 50).clamp(1, 10);
    let name = |i: usize| {
        if i < lookups {
            format!("lookup_{i:03}")
        } else {
            format!("d{:03}_t{}", (i - lookups) / 10, (i - lookups) % 10)
        }
    };
    for i in 0..n {
        let mut t = Table {
            columns: vec![
                column(
                    "id",
                    NeutralType::Int {
                        bits: 64,
                        unsigned: false,
                    },
                    false,
                ),
                column("name", NeutralType::Varchar { length: Some(80) }, false),
                column(
                    "amount",
                    NeutralType::Decimal {
                        precision: Some(12),
                        scale: Some(2),
                    },
                    true,
                ),
                column(
                    "created_at",
                    NeutralType::TimestampTz { precision: Some(6) },
                    false,
                ),
            ],
            primary_key: Some(PrimaryKey {
                name: None,
                columns: vec!["id".to_string()],
            }),
            ..Table::default()
        };
        if i >= lookups {
            let k = i - lookups;
            let (domain, pos) = (k / 10, k % 10);
            let base = lookups + domain * 10;
            let mut link = |col: &str, to: usize| {
                if to < n && to != i {
                    t.columns.push(column(
                        col,
                        NeutralType::Int {
                            bits: 64,
                            unsigned: false,
                        },
                        true,
                    ));
                    t.foreign_keys.push(fk(col, &name(to)));
                }
            };
            // A tree inside the domain: t1..t9 hang off t0 or off an earlier sibling.
            if pos > 0 {
                link("parent_id", base + (pos - 1) / 2);
            }
            if pos == 9 {
                link("other_id", base + 8);
            }
            // Every third table uses a lookup.
            if k.is_multiple_of(3) {
                link("lookup_id", k % lookups);
            }
            // One link to the previous domain.
            if pos == 5 && domain > 0 {
                link("previous_id", base - 10);
            }
        }
        s.tables.insert(name(i), t);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_the_requested_size_and_links() {
        let s = super::schema(500);
        assert_eq!(s.tables.len(), 500);
        let fks: usize = s.tables.values().map(|t| t.foreign_keys.len()).sum();
        assert!(fks > 500, "{fks}");
    }
}
