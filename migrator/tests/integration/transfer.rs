//! Transfer: Chinook and the type zoos in all nine engine pairs, every row compared
//! through canonical neutral values; a second Chinook run changes nothing.

use crate::convergence::{ENGINES, database, source, tag};
use crate::support::{self, Engine, TestDb};
use seaway_codegen::commands::{diff, introspect::read_source};
use seaway_codegen::config::Config;
use seaway_codegen::model::NeutralType;
use seaway_codegen::target;
use seaway_migrator::rows::source::Source;
use seaway_migrator::rows::values::{Family, comparable, set_to_json_array};
use seaway_migrator::rows::{load_order, read};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::path::Path;

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
            key_range: (false, false),
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
        let Some(src) = source("seaway_test_t_xfer", "chinook", from, dir.path()).await else {
            continue;
        };
        for to in ENGINES {
            let Some(dst) = database(
                to,
                &format!("seaway_test_c_xfer_{}", tag(to)),
                None,
                dir.path(),
            )
            .await
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

            // A second run changes nothing, and writes nothing: every chunk of every
            // table is compared first and found equal.
            let out = support::run_migrator(&config_path, &["transfer"]);
            assert!(out.ok, "{pair}: second transfer: {}", out.stderr);
            assert!(
                out.stdout.contains(
                    "(0 inserted, 0 updated, 15607 unchanged, 0 deleted; 11 of 11 chunks equal)"
                ),
                "{pair}: the second transfer wrote rows:\n{}",
                out.stdout
            );
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

/// The zoo fixture for `engine` loaded into its own source database, `seaway_test_z_src_zoo`.
/// Not `convergence::source`: its `seaway_test_c_src_zoo` is dropped and recreated by the
/// zoo convergence test, which runs in parallel with this one.
async fn zoo_source(engine: Engine, dir: &Path) -> Option<TestDb> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/zoo/{}.sql", tag(engine)));
    let sql = std::fs::read_to_string(path).expect("zoo fixture");
    database(engine, "seaway_test_z_src_zoo", Some(&sql), dir).await
}

/// How one column's values are compared: `Equal` comparable forms for every safe cast;
/// the others are a representation difference or the documented loss of a lossy cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Equal,
    /// Each engine prints floats its own way (`3.4028235e+38`, `3.402820018375656e38`):
    /// compared as parsed numbers, at 32 bits when either side is `float32`.
    Float32,
    Float64,
    /// timetz -> time (MySQL, SQLite): the zone is dropped after converting to UTC.
    UtcTime,
    /// set -> text[] (PostgreSQL): the labels become an array.
    SetAsArray,
    /// bit/varbit -> BLOB (SQLite): the bits packed big-endian into whole bytes.
    BitsAsBytes,
    /// varbit(n) -> bit(n) (MySQL): left-padded with zeros to n bits.
    BitsPadded(u32),
    /// decimal beyond 15 digits or unbounded, uint64 -> SQLite NUMERIC: an 8-byte float.
    NearestF64,
    /// MySQL TIME -> interval (the `types:` override the docs suggest): one duration.
    Duration,
}

fn rule(src: &NeutralType, dst: &NeutralType, from: Engine, to: Engine) -> Rule {
    use NeutralType as T;
    let into_sqlite_numeric = to == Engine::Sqlite && from != to;
    match (src, dst) {
        (T::Float { bits: 32 }, _) | (_, T::Float { bits: 32 }) => Rule::Float32,
        (T::Float { .. }, _) | (_, T::Float { .. }) => Rule::Float64,
        (T::TimeTz { .. }, T::Time { .. }) => Rule::UtcTime,
        (T::Time { .. }, T::Interval) => Rule::Duration,
        (T::Set { .. }, T::Array(_)) => Rule::SetAsArray,
        (T::Bit { .. }, T::Binary { .. }) => Rule::BitsAsBytes,
        (
            T::Bit { varying: true, .. },
            T::Bit {
                varying: false,
                length: Some(n),
            },
        ) => Rule::BitsPadded(*n),
        (T::Decimal { precision, .. }, T::Decimal { .. })
            if into_sqlite_numeric && precision.is_none_or(|p| p > 15) =>
        {
            Rule::NearestF64
        }
        (
            T::Int {
                bits: 64,
                unsigned: true,
            },
            T::Decimal { .. },
        ) if into_sqlite_numeric => Rule::NearestF64,
        _ => Rule::Equal,
    }
}

/// `HH:MM:SS[.f]±HH[:MM]` as the UTC time of day, in comparable form.
fn utc_time(v: &str) -> String {
    let Some(at) = v.rfind(['+', '-']) else {
        return format!("{v} has no zone");
    };
    let (time, zone) = v.split_at(at);
    let secs = |t: &str| -> f64 {
        t.split(':')
            .zip([3600.0, 60.0, 1.0])
            .map(|(p, m)| p.parse::<f64>().expect("number") * m)
            .sum()
    };
    let offset = secs(&zone[1..]) * if zone.starts_with('-') { -1.0 } else { 1.0 };
    let micros = ((secs(time) - offset) * 1e6).round() as i64;
    let micros = micros.rem_euclid(86_400_000_000);
    let (s, us) = (micros / 1_000_000, micros % 1_000_000);
    comparable(
        Family::Time,
        &format!("{:02}:{:02}:{:02}.{us:06}", s / 3600, s / 60 % 60, s % 60),
    )
}

/// Microseconds in a MySQL TIME (`-838:59:59.000000`) or a PostgreSQL ISO 8601 interval
/// of days and times (`PT-838H-59M-59S`, `PT-0.001S`).
fn duration_micros(v: &str) -> Option<i64> {
    let micros = |n: &str, unit: f64| {
        n.parse::<f64>()
            .ok()
            .map(|n| (n * unit * 1e6).round() as i64)
    };
    if let Some(iso) = v.strip_prefix('P') {
        let mut total = 0;
        let mut number = String::new();
        let mut in_time = false;
        for c in iso.chars() {
            let unit = match (c, in_time) {
                ('T', _) => {
                    in_time = true;
                    continue;
                }
                ('D', false) => 86_400.0,
                ('H', true) => 3_600.0,
                ('M', true) => 60.0,
                ('S', true) => 1.0,
                (c, _) if c.is_ascii_digit() || c == '-' || c == '.' => {
                    number.push(c);
                    continue;
                }
                _ => return None,
            };
            total += micros(&number, unit)?;
            number.clear();
        }
        return Some(total);
    }
    let (sign, hms) = match v.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, v),
    };
    let mut total = 0;
    for (part, unit) in hms.split(':').zip([3_600.0, 60.0, 1.0]) {
        total += micros(part, unit)?;
    }
    Some(sign * total)
}

/// Bits packed big-endian, right-aligned, into whole bytes, as hex.
fn packed_bits(bits: &str) -> String {
    let bytes = bits.len().div_ceil(8);
    let padded = format!("{bits:0>width$}", width = bytes * 8);
    (0..bytes)
        .map(|i| {
            let byte = u8::from_str_radix(&padded[i * 8..i * 8 + 8], 2).expect("bits");
            format!("{byte:02x}")
        })
        .collect()
}

/// Whether the destination's comparable value `have` holds the source's `want`.
fn agrees(rule: Rule, want: &str, have: &str) -> bool {
    let f64_of = |v: &str| v.trim().parse::<f64>().ok();
    let f32_of = |v: &str| v.trim().parse::<f32>().ok();
    match rule {
        Rule::Equal => want == have,
        Rule::Float32 => f32_of(want).is_some() && f32_of(want) == f32_of(have),
        Rule::Float64 | Rule::NearestF64 => f64_of(want).is_some() && f64_of(want) == f64_of(have),
        Rule::UtcTime => utc_time(want) == have,
        Rule::Duration => {
            duration_micros(want).is_some() && duration_micros(want) == duration_micros(have)
        }
        Rule::SetAsArray => comparable(Family::Json, &set_to_json_array(want)) == have,
        Rule::BitsAsBytes => packed_bits(want) == have,
        Rule::BitsPadded(n) => format!("{want:0>width$}", width = n as usize) == have,
    }
}

/// One transfer of the zoo: a pair, perhaps with `mappings:` for it.
struct ZooRun {
    from: Engine,
    to: Engine,
    mappings: &'static str,
    /// Rows the docs say cannot be represented: (table, key, text the reason contains).
    rejects: Vec<(&'static str, &'static str, &'static str)>,
}

impl ZooRun {
    fn label(&self) -> String {
        let pair = format!("{} -> {}", tag(self.from), tag(self.to));
        if self.mappings.is_empty() {
            pair
        } else {
            format!("{pair} (with {})", self.mappings.trim())
        }
    }
}

/// The type zoos in all nine pairs: every row arrives (or is rejected exactly where the
/// docs say it must be), and every value is the source's.
///
/// Safe casts compare equal comparable canonical forms (`values::comparable`: numbers as
/// plain decimals, JSON parsed with sorted keys). Floats compare as parsed numbers (at 32
/// bits when either side is `float32`), because each engine prints them its own way. The
/// lossy casts of docs/types.md that change a zoo value compare by what the cast does,
/// chosen by the column's source and destination types (`rule`):
///
/// - timetz -> time (MySQL, SQLite): the source's time of day in UTC, zone dropped;
/// - set -> text[] (PostgreSQL): the labels as an array (set -> SQLite text is equal);
/// - bit/varbit -> BLOB (SQLite): the bits packed big-endian, right-aligned, in bytes;
/// - varbit(n) -> bit(n) (MySQL): zero-padded on the left to n bits;
/// - decimal over 15 digits or unbounded, uint64 -> SQLite NUMERIC: the nearest f64.
///
/// interval -> text keeps the ISO 8601 text and MySQL's decimal(65,30) holds the zoo's
/// unbounded decimals exactly, so both compare equal.
///
/// MySQL TIME is a duration (up to ±838:59:59), and values outside a day have no
/// PostgreSQL `time` (docs/types.md): MySQL -> PostgreSQL must reject those two rows and
/// the child rows that reference them. The pair runs again with the override the docs
/// suggest (`types: { c_time: interval, c_time3: interval }`), where every row arrives
/// and TIME compares to interval as the same duration: so every other column of those
/// rows is compared too. PostgreSQL -> PostgreSQL also runs with a cast, which takes the
/// row pipe instead of the byte-for-byte `COPY` pipe.
#[tokio::test]
async fn type_zoos_transfer_in_all_nine_pairs_with_equal_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runs = Vec::new();
    for from in ENGINES {
        for to in ENGINES {
            let my_to_pg = from == Engine::Mysql && to == Engine::Postgres;
            runs.push(ZooRun {
                from,
                to,
                mappings: "",
                rejects: if my_to_pg {
                    vec![
                        ("type_zoo", "1", "-838:59:59"),
                        ("type_zoo", "2", "838:59:59"),
                        ("zoo_child", "1", "foreign key"),
                        ("zoo_child", "2", "foreign key"),
                        ("zoo_child", "3", "foreign key"),
                    ]
                } else {
                    vec![]
                },
            });
            if my_to_pg {
                runs.push(ZooRun {
                    from,
                    to,
                    mappings: "mappings: { type_zoo: { types: { c_time: interval, c_time3: interval } } }\n",
                    rejects: vec![],
                });
            }
            // A cast makes PostgreSQL -> PostgreSQL ineligible for the byte-for-byte COPY
            // pipe, so the zoo goes through the row pipe (canonical text over the simple
            // query protocol, converted for COPY) instead: every type takes that path too.
            if from == Engine::Postgres && to == Engine::Postgres {
                runs.push(ZooRun {
                    from,
                    to,
                    mappings: "mappings: { type_zoo: { types: { c_int4: int64 } } }\n",
                    rejects: vec![],
                });
            }
        }
    }
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut sources: BTreeMap<&str, Option<TestDb>> = BTreeMap::new();
    for run in &runs {
        if !sources.contains_key(tag(run.from)) {
            let url = zoo_source(run.from, dir.path()).await;
            sources.insert(tag(run.from), url);
        }
        let Some(src) = sources[tag(run.from)].as_ref() else {
            continue;
        };
        let Some(dst) = database(
            run.to,
            &format!("seaway_test_z_xfer_{}", tag(run.to)),
            None,
            dir.path(),
        )
        .await
        else {
            continue;
        };
        failures.extend(zoo_run(run, src, &dst).await);
        done.push(run.label());
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("transferred and compared: {done:?}");
}

/// Transfers the zoo for `run` from `src` into the empty `dst`; the failures found.
async fn zoo_run(run: &ZooRun, src: &str, dst: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let project = tempfile::tempdir().expect("project");
    let exclude = if run.from == run.to {
        ""
    } else {
        "tables: { exclude: [zoo_carried] }\n"
    };
    let config_path = project.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!(
            "connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"{dst}\" }}\nsource: src\ndestination: dst\n{exclude}{}allow_lossy: [\"*.*\"]\n",
            run.mappings
        ),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let pair = run.label();
    let first = diff::run(&config)
        .await
        .unwrap_or_else(|e| panic!("{pair}: diff: {e}"));
    seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
    let out = support::run_migrator(&config_path, &["apply"]);
    assert!(out.ok, "{pair}: apply: {}", out.stderr);

    let first_report = project.path().join("first.json");
    let out = support::run_migrator(
        &config_path,
        &[
            "transfer",
            "--report",
            first_report.to_str().expect("utf-8 path"),
        ],
    );
    let summary_ok = if run.rejects.is_empty() {
        out.ok && !out.stdout.contains("rejected (")
    } else {
        out.stdout
            .contains(&format!("{} rejected (", run.rejects.len()))
    };
    if !summary_ok {
        failures.push(format!("{pair}: transfer: {}\n{}", out.stdout, out.stderr));
    }
    // A first load of rows none of which is refused goes whole by the bulk path (COPY,
    // LOAD DATA LOCAL INFILE, SQLite's plain inserts in a chunk transaction): so every
    // type's values, compared below, took that path, not the upsert a refusal falls
    // back to.
    if run.rejects.is_empty() {
        let first: serde_json::Value = std::fs::read_to_string(&first_report)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        if first["tables"].as_array().is_none_or(|t| t.is_empty()) {
            failures.push(format!("{pair}: no --report of the first transfer"));
        }
        for t in first["tables"].as_array().into_iter().flatten() {
            if t["bulk_loaded"] != t["inserted"] {
                failures.push(format!(
                    "{pair}: {}: {} of {} inserted rows went by the bulk path",
                    t["table"], t["bulk_loaded"], t["inserted"]
                ));
            }
        }
    }

    // Exactly the expected rows are in the reject files, each with its reason.
    let mut rejected: Vec<(String, String, String)> = Vec::new();
    let rejects_dir = project.path().join(".seaway/rejects");
    for entry in std::fs::read_dir(&rejects_dir).into_iter().flatten() {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            let field = |k: &serde_json::Value| k.as_str().unwrap_or_default().to_string();
            rejected.push((field(&v["table"]), field(&v["key"][0]), field(&v["reason"])));
        }
    }
    rejected.sort();
    let as_expected = rejected.len() == run.rejects.len()
        && rejected
            .iter()
            .zip(&run.rejects)
            .all(|((t, k, reason), (et, ek, words))| t == et && k == ek && reason.contains(words));
    if !as_expected {
        failures.push(format!(
            "{pair}: rejected {rejected:#?}, expected {:#?}",
            run.rejects
        ));
    }

    // Every other row arrived, with the source's values.
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
        let src_table = &source_schema.tables[&origin.source_table];
        let dst_table = &desired.schema.tables[&name];
        let src_rows: Vec<&Vec<Option<String>>> = want[&origin.source_table]
            .iter()
            .filter(|r| {
                let key = r[0].as_deref().unwrap_or_default();
                !run.rejects.iter().any(|(t, k, _)| *t == name && *k == key)
            })
            .collect();
        let dst_rows = &have[&name];
        if src_rows.len() != dst_rows.len() {
            failures.push(format!(
                "{pair}: {name}: {} rows arrived of {}",
                dst_rows.len(),
                src_rows.len()
            ));
            continue;
        }
        for (dst_i, dc) in dst_table.columns.iter().enumerate() {
            let Some((_, src_name)) = origin.columns.iter().find(|(d, _)| *d == dc.name) else {
                failures.push(format!("{pair}: {name}.{} has no source", dc.name));
                continue;
            };
            let src_i = src_table
                .columns
                .iter()
                .position(|c| &c.name == src_name)
                .expect("source column");
            let sc = &src_table.columns[src_i];
            let rule = rule(&sc.ty, &dc.ty, run.from, run.to);
            for (s, d) in src_rows.iter().zip(dst_rows) {
                let ok = match (&s[src_i], &d[dst_i]) {
                    (None, None) => true,
                    (Some(w), Some(h)) => agrees(rule, w, h),
                    _ => false,
                };
                if !ok {
                    failures.push(format!(
                        "{pair}: {name}.{} ({} -> {}, {rule:?}): source {:?}, destination {:?}",
                        dc.name, sc.ty, dc.ty, s[src_i], d[dst_i]
                    ));
                }
            }
        }
    }

    // A second run writes nothing: every row the destination holds is recognised as
    // unchanged, whatever each engine did to its values on the way in (a change this
    // comparison missed would be a row rewritten on every re-sync).
    let report = project.path().join("second.json");
    let out = support::run_migrator(
        &config_path,
        &["transfer", "--report", report.to_str().expect("utf-8 path")],
    );
    let second: serde_json::Value = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if second["inserted"] != 0 || second["updated"] != 0 {
        failures.push(format!(
            "{pair}: the second transfer wrote rows: {}\n{}",
            out.stdout, out.stderr
        ));
    }

    // Identity and serial sequences are past the loaded values: a row inserted without
    // them gets fresh ones.
    if run.to == Engine::Postgres {
        failures.extend(
            fresh_values_after_transfer(dst)
                .await
                .into_iter()
                .map(|f| format!("{pair}: {f}")),
        );
    }
    failures
}

/// Inserts a `type_zoo` row without an id (and a child of it) into a PostgreSQL
/// destination; every sequence-fed column of the new row must be past the loaded ones.
async fn fresh_values_after_transfer(url: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut db = sqlx::PgConnection::connect(url).await.expect("connect");
    let fed: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = 'type_zoo' \
         AND pg_get_serial_sequence('type_zoo', column_name) IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&mut db)
    .await
    .expect("sequence-fed columns");
    if !fed.contains(&"id".to_string()) {
        failures.push(format!(
            "type_zoo.id has no sequence; sequence-fed: {fed:?}"
        ));
    }
    let max = |c: &str| {
        format!(
            "SELECT COALESCE(max({}), 0)::bigint FROM type_zoo",
            read::quote(seaway_codegen::model::Dialect::Postgres, c)
        )
    };
    let mut before = Vec::new();
    for c in &fed {
        let m: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(max(c)))
            .fetch_one(&mut db)
            .await
            .expect("max");
        before.push(m);
    }
    // `id` is integer or bigint depending on the source (an SQLite rowid key is 64-bit).
    match sqlx::query_scalar::<_, i64>("INSERT INTO type_zoo DEFAULT VALUES RETURNING id::bigint")
        .fetch_one(&mut db)
        .await
    {
        Ok(id) => {
            for (c, m) in fed.iter().zip(before) {
                let sql = format!(
                    "SELECT {}::bigint FROM type_zoo WHERE id = $1",
                    read::quote(seaway_codegen::model::Dialect::Postgres, c)
                );
                let new: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut db)
                    .await
                    .expect("new value");
                if new <= m {
                    failures.push(format!(
                        "type_zoo.{c} of a new row is {new}, not past the loaded {m}"
                    ));
                }
            }
            if let Err(e) = sqlx::query("INSERT INTO zoo_child (zoo_id, label) VALUES ($1, 'new')")
                .bind(id)
                .execute(&mut db)
                .await
            {
                failures.push(format!("insert into zoo_child without an id: {e}"));
            }
        }
        Err(e) => failures.push(format!("insert into type_zoo without an id: {e}")),
    }
    db.close().await.expect("close");
    failures
}

/// Regression: IntervalStyle was set by an extra statement before every page; it is now
/// a session setting of the source pool, and must still reach the reads.
#[tokio::test]
async fn postgres_intervals_are_read_in_iso_8601() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(src) = database(
        crate::support::Engine::Postgres,
        "seaway_test_t_interval_src",
        Some("CREATE TABLE spans (id int PRIMARY KEY, d interval NOT NULL); INSERT INTO spans VALUES (1, '-3 days -04:05:06');"),
        dir.path(),
    )
    .await
    else {
        return;
    };
    let dst = dir.path().join("dst.sqlite");
    let config_path = dir.path().join("seaway.yaml");
    std::fs::write(
        &config_path,
        format!("connections:\n  src: {{ url: \"{src}\" }}\n  dst: {{ url: \"sqlite://{}\" }}\nsource: src\ndestination: dst\nallow_lossy: [\"spans.d\"]\n", dst.display()),
    )
    .expect("config");
    let config = Config::load(&config_path).expect("config");
    let first = diff::run(&config).await.expect("diff");
    seaway_codegen::snapshot_io::write_all(&first.files).expect("write migration");
    assert!(support::run_migrator(&config_path, &["apply"]).ok);
    let out = support::run_migrator(&config_path, &["transfer"]);
    assert!(out.ok, "{}", out.stderr);
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&dst);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&opts)
        .await
        .expect("open");
    let d: String = sqlx::query_scalar("SELECT d FROM spans")
        .fetch_one(&mut c)
        .await
        .expect("row");
    assert_eq!(d, "P-3DT-4H-5M-6S");
}
