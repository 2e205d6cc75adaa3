//! `diff` names every source object its plan leaves out, with its code, in every engine
//! pair, and the same-engine pairs carry what they can (`fixtures/objects/`): between
//! PostgreSQL databases the partitioned table with its partitions, the domains with
//! their checks, the views and the materialized view (post-data, in dependency order);
//! between MySQL or SQLite databases the views. After apply the second diff writes
//! nothing and skips nothing. PostgreSQL -> PostgreSQL also runs pre-data, transfer and
//! post-data: the rows land in the partitions and the materialized view is filled.

use crate::convergence::{ENGINES, database, second_diff_is_empty, source, tag};
use crate::support::{self, Db, Engine};
use seaway_codegen::commands::diff;
use seaway_codegen::config::Config;

/// `(code, subject)` of every object the fixture of `from` has that the plan into `to`
/// leaves out.
fn expected(from: Engine, to: Engine) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = match from {
        Engine::Postgres => vec![
            // It calls the schema's own function, which no destination gets.
            ("D301", "customer_labels"),
            ("D303", "customer_label(c customer)"),
            ("D303", "forget_rentals(IN before date)"),
            ("D303", "rental_stamp()"),
            ("D304", "rental.rental_stamp"),
            ("D305", "invoice_number"),
            ("D306", "call_note"),
            ("D309", "booking.booking_room_id_excl"),
            ("D310", "btree_gist"),
            ("D312", "staff.staff_never_deleted"),
            ("D313", "customer.customer_everyone"),
            ("D314", "payment.payment_2024"),
        ],
        Engine::Mysql => vec![
            ("D303", "forget_rentals"),
            ("D303", "rental_count"),
            ("D304", "rental.rental_stamp"),
            ("D311", "forget_old_rentals"),
        ],
        Engine::Sqlite => vec![("D304", "rental.rental_stamp")],
    };
    if from != to {
        match from {
            Engine::Postgres => out.extend([
                ("D301", "big_customers"),
                ("D301", "customer_payments"),
                ("D302", "payment_counts"),
                ("D307", "payment"),
                ("D308", "customer.code"),
                ("D308", "payment.amount"),
            ]),
            Engine::Mysql | Engine::Sqlite => {
                out.extend([("D301", "big_customers"), ("D301", "customer_rentals")])
            }
        }
    }
    out.sort();
    out
}

fn left_out(outcome: &diff::DiffOutcome) -> Vec<(&'static str, String)> {
    let mut r: Vec<_> = outcome
        .left_out
        .iter()
        .map(|d| (d.code, d.subject.clone()))
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn diff_names_what_it_leaves_out_and_same_engine_pairs_carry_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    for from in ENGINES {
        let Some(src) = source("seaway_test_lo", "objects", from, dir.path()).await else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) = database(
                to,
                &format!("seaway_test_lo_dst_{}_{}", tag(from), tag(to)),
                None,
                dir.path(),
            )
            .await
            else {
                continue;
            };
            let pair = format!("objects: {} -> {}", tag(from), tag(to));
            let project = tempfile::tempdir().expect("project");
            let config_path = project.path().join("seaway.yaml");
            std::fs::write(
                &config_path,
                format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\nallow_lossy: [\"*.*\"]\n"),
            )
            .expect("config");
            let config = Config::load(&config_path).expect("config");

            let first = diff::run(&config)
                .await
                .unwrap_or_else(|e| panic!("{pair}: first diff: {e}"));
            let want: Vec<(&str, String)> = expected(from, to)
                .into_iter()
                .map(|(c, s)| (c, s.to_string()))
                .collect();
            assert_eq!(
                left_out(&first),
                want,
                "{pair}: left out {:#?}",
                first.left_out
            );
            assert!(
                first.skipped.is_empty(),
                "{pair}: skipped {:?}",
                first.skipped
            );
            seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
            let sql = first
                .files
                .first()
                .map(|f| f.contents.clone())
                .unwrap_or_default();
            carried_in_order(&pair, from, to, &sql);

            if from == Engine::Postgres && to == Engine::Postgres {
                for step in [
                    &["apply", "--section", "pre-data"][..],
                    &["transfer"],
                    &["apply", "--section", "post-data"],
                ] {
                    let out = support::run_migrator(&config_path, step);
                    assert!(out.ok, "{pair}: {step:?} failed:\n{}", out.stderr);
                }
                let mut db = Db::connect(to, &dst).await;
                assert_eq!(db.count("SELECT count(*) FROM payment").await, 3, "{pair}");
                assert_eq!(
                    db.count("SELECT count(*) FROM ONLY payment_2024").await,
                    2,
                    "{pair}: rows land in their partitions"
                );
                assert_eq!(
                    db.count("SELECT count(*) FROM payment_counts").await,
                    2,
                    "{pair}: the materialized view is filled after the load"
                );
                assert_eq!(
                    db.count("SELECT count(*) FROM big_customers").await,
                    1,
                    "{pair}: the view on a view reads the transferred rows"
                );
                assert_eq!(
                    db.count("SELECT count(*) FROM pg_constraint WHERE contypid = 'positive_amount'::regtype").await,
                    2,
                    "{pair}: the domain keeps its checks"
                );
                db.close().await;
            } else {
                let applied = support::run_migrator(&config_path, &["apply"]);
                assert!(applied.ok, "{pair}: apply failed:\n{}", applied.stderr);
            }

            let second = second_diff_is_empty(&pair, &config).await;
            assert_eq!(
                left_out(&second),
                left_out(&first),
                "{pair}: the report is stable"
            );
        }
    }
}

/// What the same-engine pairs carry is in the first migration, views after the tables
/// and views they read.
fn carried_in_order(pair: &str, from: Engine, to: Engine, sql: &str) {
    let at = |needle: &str| {
        sql.find(needle)
            .unwrap_or_else(|| panic!("{pair}: `{needle}` not in the migration:\n{sql}"))
    };
    if from != to {
        assert!(
            !sql.contains("CREATE VIEW"),
            "{pair}: a view crossed engines:\n{sql}"
        );
        return;
    }
    let q = |name: &str| match to {
        Engine::Mysql => format!("`{name}`"),
        Engine::Postgres | Engine::Sqlite => format!("\"{name}\""),
    };
    let (inner, outer) = match from {
        Engine::Postgres => ("customer_payments", "big_customers"),
        Engine::Mysql | Engine::Sqlite => ("customer_rentals", "big_customers"),
    };
    let post = at("-- section: post-data");
    let inner_at = at(&format!("CREATE VIEW {} AS", q(inner)));
    let outer_at = at(&format!("CREATE VIEW {} AS", q(outer)));
    assert!(
        post < inner_at && inner_at < outer_at,
        "{pair}: views out of order:\n{sql}"
    );
    if from == Engine::Postgres {
        at("CREATE MATERIALIZED VIEW \"payment_counts\" AS");
        let domain = at("CREATE DOMAIN \"positive_amount\" AS numeric(10,2)");
        let table = at("CREATE TABLE \"payment\" (");
        assert!(
            domain < table,
            "{pair}: the domain comes before the table using it"
        );
        at("PARTITION BY RANGE (paid_on)");
        at(
            "CREATE TABLE \"payment_2023\" PARTITION OF \"payment\" FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')",
        );
        at("CREATE TABLE \"payment_2024\" PARTITION OF \"payment\"");
        at("ADD CONSTRAINT \"payment_customer_id_fkey\" FOREIGN KEY (\"customer_id\")");
    }
}
