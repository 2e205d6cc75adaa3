//! Every column of every type-zoo table through the running generated service, for each
//! engine: the zoo is loaded into a live database (`seaway_test_gz_*` on the servers, a file
//! for SQLite), the golden zoo service is started against it, and for each table a row
//! is created with a value in every writable column (POST), read back (GET) and changed
//! (PATCH). A value read back must equal the value sent, or its canonical form where the
//! document says the service writes it differently (noted per column below).

use crate::contract::{self, http_get, http_send};
use crate::support;
use serde_json::{Value, json};

/// One table's round trip.
struct Case {
    table: &'static str,
    /// Path of the row from the created row, e.g. `|row| format!("{}", row["id"])`.
    key: fn(&Value) -> String,
    /// The create body: every writable column.
    sent: Value,
    /// Columns read back in another form than sent (the canonical one), and computed
    /// columns with the value the database must compute.
    canonical: Value,
    /// Columns the database computes whose value is not checked (identity keys).
    computed: &'static [&'static str],
    /// The PATCH body; its values are already canonical.
    patch: Value,
    /// Columns a trigger changes on update, not compared after the PATCH.
    touched: &'static [&'static str],
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn id_key(row: &Value) -> String {
    row["id"].to_string()
}

/// Runs every case against the service on `port`; returns every difference found.
fn run(port: u16, cases: &[Case]) -> Vec<String> {
    let mut diffs = Vec::new();
    for c in cases {
        let t = c.table;
        let (status, body) =
            http_send(port, "POST", &format!("/{t}"), &c.sent.to_string()).expect("post");
        if status != 201 {
            diffs.push(format!("{t}: POST answered {status}: {body}"));
            continue;
        }
        let created: Value = serde_json::from_str(&body).expect("json");
        let path = format!("/{t}/{}", (c.key)(&created));
        let (status, body) = http_get(port, &path).expect("get");
        if status != 200 {
            diffs.push(format!("{t}: GET {path} answered {status}: {body}"));
            continue;
        }
        let got: Value = serde_json::from_str(&body).expect("json");
        let expected = |k: &str, v: &Value| c.canonical.get(k).unwrap_or(v).clone();
        for (k, v) in c.sent.as_object().expect("object") {
            let want = expected(k, v);
            if got[k] != want {
                diffs.push(format!(
                    "{t}.{k}: sent {v}, expected {want}, got {}",
                    got[k]
                ));
            }
        }
        for (k, v) in c.canonical.as_object().expect("object") {
            if c.sent.get(k).is_none() && &got[k] != v {
                diffs.push(format!("{t}.{k}: computed, expected {v}, got {}", got[k]));
            }
        }
        // Every column of the table was written or is computed: none left untested.
        for k in got.as_object().expect("object").keys() {
            let covered = c.sent.get(k).is_some()
                || c.canonical.get(k).is_some()
                || c.computed.contains(&k.as_str());
            if !covered {
                diffs.push(format!("{t}.{k}: not covered by the test"));
            }
        }
        let (status, body) = http_send(port, "PATCH", &path, &c.patch.to_string()).expect("patch");
        if status != 200 {
            diffs.push(format!("{t}: PATCH {path} answered {status}: {body}"));
            continue;
        }
        let (_, body) = http_get(port, &path).expect("get");
        let after: Value = serde_json::from_str(&body).expect("json");
        for (k, v) in got.as_object().expect("object") {
            let want = c.patch.get(k).unwrap_or(v);
            if &after[k] != want && !c.touched.contains(&k.as_str()) {
                diffs.push(format!(
                    "{t}.{k}: after PATCH expected {want}, got {}",
                    after[k]
                ));
            }
        }
    }
    diffs
}

fn assert_clean(engine: &str, diffs: Vec<String>) {
    assert!(
        diffs.is_empty(),
        "{engine} zoo through its generated service:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn postgres_zoo_round_trips_through_the_generated_api() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(url) = rt.block_on(async {
        let pg = support::postgres().await?;
        let sql = std::fs::read_to_string(support::fixture("zoo/postgres.sql")).expect("fixture");
        Some(pg.fresh_db("seaway_test_gz_pg", Some(&sql)).await)
    }) else {
        return;
    };
    let Some(svc) = contract::start("zoo_postgres", &url) else {
        return;
    };
    let zoo = json!({
        "c_int2": 12, "c_int4": 34, "c_int8": 9007199254740993i64,
        "c_smallserial": 7, "c_serial": 70000, "c_bigserial": 7000000000i64,
        "c_numeric_38_10": "12345678901234567890.0123456789",
        "c_numeric_10": "1234567890", "c_numeric": "3.14159",
        "c_real": 1.5, "c_double": 2.25,
        "c_varchar_80": "hello", "c_varchar": "any", "c_char_3": "ABC", "c_text": "text",
        "c_bytea": "AAEC/w==", "c_bit_4": "1010", "c_varbit_8": "101", "c_bool": true,
        "c_date": "2024-02-29", "c_time": "12:34:56", "c_time_3": "12:34:56.789",
        "c_timetz": "12:34:56+02", "c_timestamp": "2024-01-02T03:04:05",
        "c_timestamp_3": "2024-01-02T03:04:05.123",
        "c_timestamptz": "2024-01-02T03:04:05Z",
        "c_interval": "1 day 02:00:00", "c_json": {"a": [1, 2]}, "c_jsonb": {"b": true},
        "c_uuid": "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", "c_inet": "192.168.0.1/32",
        "c_cidr": "10.0.0.0/8", "c_mood": "happy", "c_int4_array": "{1,2,3}",
        "c_text_array": "{a,b}", "c_mood_array": "{sad,ok}", "c_weekday_array": "{mon}",
        "c_positive": 5
    });
    let cases = [
        Case {
            table: "type_zoo",
            key: id_key,
            sent: zoo,
            // A generated column (length of c_text).
            canonical: json!({"c_text_len": 4}),
            computed: &["id"],
            patch: json!({"c_text": "longer", "c_int8": null, "c_mood": "sad",
                          "c_interval": "03:00:00", "c_bit_4": "0101"}),
            // A trigger sets c_timestamptz on update; c_text_len follows c_text.
            touched: &["c_timestamptz", "c_text_len"],
        },
        Case {
            table: "zoo_child",
            key: id_key,
            sent: json!({"zoo_id": 1, "label": "third"}),
            canonical: json!({}),
            computed: &["id"],
            patch: json!({"label": null}),
            touched: &[],
        },
        Case {
            table: "zoo_events",
            key: |row| {
                format!(
                    "{}/{}",
                    row["id"],
                    row["happened_on"].as_str().unwrap_or("")
                )
            },
            sent: json!({"id": 3, "happened_on": "2024-07-01"}),
            canonical: json!({}),
            computed: &[],
            patch: json!({}),
            touched: &[],
        },
        Case {
            table: "zoo_carried",
            key: id_key,
            sent: json!({"id": 10, "c_money": "$1,234.56", "c_point": "(1.5,-2.25)",
                         "c_tsvector": "'brown' 'fox'", "c_macaddr": "08:00:2b:01:02:03",
                         "c_xml": "<zoo>Zoë</zoo>", "c_int4range": "[1,10)"}),
            canonical: json!({}),
            computed: &[],
            patch: json!({"c_point": "(0,0)", "c_xml": null}),
            touched: &[],
        },
    ];
    assert_clean("PostgreSQL", run(svc.port, &cases));
}

#[test]
fn mysql_zoo_round_trips_through_the_generated_api() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(url) = rt.block_on(async {
        let my = support::mysql().await?;
        let sql = std::fs::read_to_string(support::fixture("zoo/mysql.sql")).expect("fixture");
        Some(my.fresh_db("seaway_test_gz_my", Some(&sql)).await)
    }) else {
        return;
    };
    let Some(svc) = contract::start("zoo_mysql", &url) else {
        return;
    };
    let text = "Zoë’s giraffe 🦒";
    // SRID 0, then little-endian WKB (type 1 = point, 2 = linestring).
    let point = |x: f64, y: f64| {
        let mut b = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
        b.extend(x.to_le_bytes());
        b.extend(y.to_le_bytes());
        b
    };
    let mut linestring = vec![0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 0, 0, 0];
    for v in [0.0f64, 0.0, 1.0, 1.0, 2.0, 0.0] {
        linestring.extend(v.to_le_bytes());
    }
    let zoo = json!({
        "c_tinyint1": true, "c_boolean": true, "c_tinyint": -5, "c_tinyint_unsigned": 200,
        "c_smallint": -1234, "c_smallint_unsigned": 60000, "c_mediumint": -70000,
        "c_mediumint_unsigned": 16000000, "c_int": 1000, "c_int_unsigned": 4000000000u32,
        "c_bigint": 9007199254740993i64, "c_bigint_unsigned": 18446744073709551615u64,
        "c_decimal_20_6": "12345678901234.123456", "c_float": 1.5, "c_double": 2.25,
        "c_bit1": "1", "c_bit12": "001010101010", "c_char3": "ABC", "c_varchar191": text,
        "c_tinytext": "tiny", "c_text": "Grüße aus Zürich", "c_mediumtext": "medium",
        "c_longtext": "long", "c_binary16": "AAECAwQFBgcICQoLDA0ODw==",
        "c_varbinary64": "3q2+7w==", "c_tinyblob": "AQ==", "c_blob": "AgM=",
        "c_mediumblob": "BAUG", "c_longblob": "BwgJCg==", "c_date": "2024-02-29",
        "c_time": "12:34:56", "c_time3": "12:34:56.789", "c_datetime": "2024-01-02T03:04:05",
        "c_datetime6": "2024-01-02T03:04:05.123456", "c_timestamp": "2024-01-02T03:04:05Z",
        "c_timestamp6": "2024-01-02T03:04:05.123456Z", "c_year": 2024, "c_enum": "b",
        "c_set": "x,y", "c_json": {"a": [1, 2]},
        "c_uuid": "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", "c_inet4": "192.168.0.1",
        "c_inet6": "2001:db8::1"
    });
    let cases = [
        Case {
            table: "type_zoo",
            key: id_key,
            sent: zoo,
            canonical: json!({"c_text_len": text.chars().count()}),
            computed: &["id"],
            patch: json!({"c_varchar191": "abc", "c_bigint": null, "c_enum": "a",
                          "c_bit12": "111100001111", "c_set": "y", "c_uuid": null}),
            touched: &["c_text_len"],
        },
        Case {
            table: "zoo_child",
            key: id_key,
            sent: json!({"zoo_id": 1, "label": "third"}),
            canonical: json!({}),
            computed: &["id"],
            patch: json!({"label": null}),
            touched: &[],
        },
        Case {
            table: "zoo_carried",
            key: id_key,
            // Spatial values travel as base64 of MySQL's internal form: SRID 0, then WKB.
            sent: json!({"id": 10, "c_geometry": b64(&linestring), "c_point": b64(&point(1.5, -2.25))}),
            canonical: json!({}),
            computed: &[],
            patch: json!({"c_point": b64(&point(0.0, 0.0)), "c_geometry": null}),
            touched: &[],
        },
    ];
    assert_clean("MariaDB", run(svc.port, &cases));
}

#[test]
fn sqlite_zoo_round_trips_through_the_generated_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seaway_test_gz_sqlite.sqlite");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(support::sqlite_zoo(&path));
    let Some(svc) = contract::start("zoo_sqlite", &format!("sqlite://{}", path.display())) else {
        return;
    };
    let zoo = json!({
        "c_integer": 1000, "c_int": 42, "c_tinyint": 7, "c_smallint": 1234,
        "c_mediumint": -70000, "c_bigint": 1234567890123i64,
        "c_unsigned_big": 9223372036854775807i64, "c_boolean": true, "c_real": 1.5,
        "c_double": 1234.5678, "c_float": 0.25, "c_numeric": "3.1415926535",
        "c_numeric_10_2": "12345678.90", "c_decimal_12_4": "1234.5678", "c_char3": "ABC",
        "c_varchar80": "Zoë’s giraffe 🦒", "c_nvarchar160": "Grüße", "c_varying20": "東京",
        "c_text": "plain text", "c_clob": "clob", "c_untyped": "anything goes",
        "c_blob": "3q2+7w==", "c_date": "2024-02-29", "c_date_default": "2024-03-01",
        "c_datetime": "2024-02-29T13:45:30", "c_timestamp": "2024-02-29T13:45:30.123",
        "c_time": "13:45:30.123", "c_json": {"a": [1, 2]},
        "c_uuid": "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"
    });
    let cases = [
        Case {
            table: "type_zoo",
            key: id_key,
            sent: zoo,
            // SQLite keeps a decimal as a number: trailing zeros of the scale are not kept.
            canonical: json!({"c_text_len": 10, "c_numeric_10_2": "12345678.9"}),
            computed: &["id"],
            patch: json!({"c_text": "abc", "c_bigint": null, "c_numeric_10_2": "-1.5",
                          "c_uuid": null, "c_blob": "AQ=="}),
            touched: &["c_text_len"],
        },
        Case {
            table: "zoo_child",
            key: id_key,
            sent: json!({"zoo_id": 1, "label": "third"}),
            canonical: json!({}),
            computed: &["id"],
            patch: json!({"label": null}),
            touched: &[],
        },
        Case {
            table: "zoo_carried",
            key: id_key,
            sent: json!({"id": 10, "c_string": "00123", "c_geometry": "POINT(1.5 -2.25)"}),
            // `STRING` has NUMERIC affinity: SQLite stores text that looks like a number as
            // that number, and CAST(.. AS text) reads it back in its shortest form.
            canonical: json!({"c_string": "123"}),
            computed: &[],
            patch: json!({"c_string": "hello", "c_geometry": null}),
            touched: &[],
        },
    ];
    assert_clean("SQLite", run(svc.port, &cases));
}
