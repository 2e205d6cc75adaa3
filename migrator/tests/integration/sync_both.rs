//! `migrator sync --both` / `sync.direction: both` refuses what it cannot do, before it
//! connects to anything: a masked or filtered table (naming the table and the key), and
//! every pair of engines whose sync both ways is not built (none now: every pair is
//! tested live in `sync_both_live.rs`, `sync_both_pairs.rs` and `sync_both_rules.rs`). The
//! connections point at a port nothing listens on, so a refusal that came after trying
//! to connect would show as a connection error instead.

use crate::support::{Output, run_migrator};

/// Runs `migrator sync <args>` with a config of two connections and `extra` appended.
fn sync_with(source: &str, destination: &str, extra: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("seaway.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  monolith:\n    url: \"{source}\"\n  service:\n    url: \"{destination}\"\nsource: monolith\ndestination: service\n{extra}"
        ),
    )
    .expect("write config");
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    run_migrator(&config, &all)
}

const PG_A: &str = "postgres://postgres:secret@127.0.0.1:1/a";
const PG_B: &str = "postgres://postgres:secret@127.0.0.1:1/b";

#[test]
fn a_masked_table_is_refused_both_ways_naming_table_and_key() {
    let mapping = "mappings:\n  users:\n    mask:\n      email: hash\n";
    // Written in the config: refused as the config is read.
    let out = sync_with(
        PG_A,
        PG_B,
        &format!("{mapping}sync:\n  direction: both\n"),
        &[],
    );
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("table `users` cannot be synced both ways")
            && out.stderr.contains("mappings.users.mask")
            && out.stderr.contains("`email`"),
        "{}",
        out.stderr
    );
    // Asked for with --both: refused the same, before the pair is looked at.
    let out = sync_with(PG_A, PG_B, mapping, &["--both"]);
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("table `users` cannot be synced both ways"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_filtered_table_is_refused_both_ways_naming_table_and_key() {
    let out = sync_with(
        PG_A,
        PG_B,
        "mappings:\n  orders:\n    where: \"status <> 'draft'\"\n",
        &["--both"],
    );
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("table `orders` cannot be synced both ways")
            && out.stderr.contains("mappings.orders.where"),
        "{}",
        out.stderr
    );
}
