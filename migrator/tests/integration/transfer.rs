//! Transfer: Chinook in all nine engine pairs, every row compared through canonical
//! neutral values; a second run changes nothing.

use crate::convergence::{ENGINES, database, source, tag};
use crate::support;
use seaway_codegen::commands::{diff, introspect::read_source};
use seaway_codegen::config::Config;
use seaway_codegen::target;
use seaway_migrator::transfer::source::Source;
use seaway_migrator::transfer::values::{Family, comparable};
use seaway_migrator::transfer::{load_order, read};
use std::collections::BTreeMap;

/// Every table's rows in comparable canonical form, ordered by primary key.
async fn contents(
    conn: &seaway_codegen::config::Connection,
    schema: &seaway_codegen::model::Schema,
) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let db = Source::open(conn).await.expect("open");
    let mut out = BTreeMap::new();
    for (name, table) in &schema.tables {
        let cols: Vec<&seaway_codegen::model::Column> = table.columns.iter().collect();
        let keys: Vec<&seaway_codegen::model::Column> = table
            .primary_key
            .as_ref()
            .map(|pk| pk.columns.iter().filter_map(|k| table.column(k)).collect())
            .unwrap_or_default();
        let page = read::Page {
            table: name,
            columns: &cols,
            keys: &keys,
            after: false,
            range: (None, None),
            filter: None,
            limit: 1_000_000,
        };
        let q = read::page_query(schema.dialect, page);
        let rows = db.rows(&q.sql, &[]).await.expect("read table");
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .take(q.width)
                    .zip(&cols)
                    .map(|(v, c)| v.map(|v| comparable(Family::of(&c.ty), &v)))
                    .collect()
            })
            .collect();
        out.insert(name.clone(), rows);
    }
    db.close().await;
    out
}

#[tokio::test]
async fn chinook_transfers_in_all_nine_pairs_with_equal_values_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut done = Vec::new();
    for from in ENGINES {
        let Some(src) = source("chinook", from, dir.path()).await else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) =
                database(to, &format!("seaway_c_xfer_{}", tag(to)), None, dir.path()).await
            else {
                continue;
            };
            let project = tempfile::tempdir().expect("project");
            let config_path = project.path().join("seaway.yaml");
            std::fs::write(&config_path, format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n")).expect("config");
            let config = Config::load(&config_path).expect("config");
            let pair = format!("{} -> {}", tag(from), tag(to));
            let first = diff::run(&config)
                .await
                .unwrap_or_else(|e| panic!("{pair}: diff: {e}"));
            seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
            let out = support::run_migrator(&config_path, &["apply"]);
            assert!(out.ok, "{pair}: apply: {}", out.stderr);

            let out = support::run_migrator(&config_path, &["transfer"]);
            assert!(out.ok, "{pair}: transfer: {}\n{}", out.stdout, out.stderr);
            assert!(
                out.stdout.contains("transferred") && !out.stdout.contains("rejected ("),
                "{pair}: {}",
                out.stdout
            );

            // Same rows and values on both sides, compared through the neutral types.
            let source_schema = read_source(&config).await.expect("source");
            let desired = target::desired(
                &source_schema,
                &config,
                config.connections["dst"].url.dialect(),
            )
            .expect("desired");
            let want = contents(config.source_connection(), &source_schema).await;
            let have = contents(&config.connections["dst"], &desired.schema).await;
            for name in load_order(&desired.schema) {
                let origin = &desired.origins[&name];
                assert_eq!(
                    have[&name].len(),
                    want[&origin.source_table].len(),
                    "{pair}: row count of {name}"
                );
                assert!(
                    have[&name] == want[&origin.source_table],
                    "{pair}: values of {name} differ"
                );
            }

            // A second run changes nothing.
            let out = support::run_migrator(&config_path, &["transfer"]);
            assert!(out.ok, "{pair}: second transfer: {}", out.stderr);
            let again = contents(&config.connections["dst"], &desired.schema).await;
            assert!(
                again == have,
                "{pair}: the second transfer changed the destination"
            );
            done.push(pair);
        }
    }
    eprintln!("transferred and compared: {done:?}");
}
