//! The type zoos through `generate`: every column of every zoo table gets a field in the
//! document and the crate (none dropped, none typed as an unusable `String` by accident),
//! compared byte for byte with goldens under `codegen/tests/golden/services/zoo_<engine>/`
//! (`just bless` rewrites them). The golden crates are workspace members, so the build
//! proves every zoo type compiles; the PostgreSQL one is also run and round-trips a row.

use crate::support::{self, Project};
use seaway_codegen::commands::generate;
use seaway_codegen::inspect;
use seaway_codegen::model::Schema;
use seaway_codegen::snapshot_io;

fn golden(engine: &str) -> std::path::PathBuf {
    support::repo_root().join(format!("codegen/tests/golden/services/zoo_{engine}"))
}

async fn introspect(url: &str) -> Schema {
    let project = Project::new(&format!("connections:\n  zoo:\n    url: \"{url}\"\n"));
    let config = project.config();
    inspect::introspect(config.source_connection())
        .await
        .expect("introspect zoo")
        .schema
}

/// Generates the zoo's single service (every table pinned to `zoo_<engine>`, so package
/// names stay unique in the workspace) and compares it with its golden.
fn generate_and_compare(engine: &str, schema: &Schema) {
    let project = Project::new("connections:\n  zoo:\n    url: \"sqlite://unused\"\n");
    let mut config = project.config();
    config.output = golden(engine);
    let service = format!("zoo_{engine}");
    for table in schema.tables.keys() {
        config
            .services
            .pin
            .insert(table.clone(), (service.clone(), 0));
    }
    let out = generate::generate_from(&config, schema).expect("generate");
    if std::env::var("SEAWAY_BLESS").is_ok_and(|v| v == "1") {
        snapshot_io::write_all(&out.files).expect("bless");
        return;
    }
    let stale = snapshot_io::stale(&out.files);
    assert!(
        stale.is_empty(),
        "zoo {engine}: golden differs: {stale:?}; review, then `just bless`"
    );
    // Every column of type_zoo is a property of its schema.
    let doc = out
        .files
        .iter()
        .find(|f| f.path.ends_with("openapi.yaml"))
        .expect("document");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&doc.contents).expect("yaml");
    let props = &parsed["components"]["schemas"]["TypeZoo"]["properties"];
    for col in &schema.tables["type_zoo"].columns {
        let name = seaway_codegen::render::api::api_name(&col.name);
        assert!(
            props[name.as_str()].is_mapping(),
            "type_zoo.{} has no property",
            col.name
        );
    }
}

#[tokio::test]
async fn sqlite_zoo_services_match_their_golden() {
    let sql = std::fs::read_to_string(support::fixture("zoo/sqlite.sql")).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zoo.sqlite");
    {
        use sqlx::Connection;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("create sqlite");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .expect("load sqlite zoo");
        let _ = c.close().await;
    }
    let schema = introspect(&format!("sqlite://{}", path.display())).await;
    generate_and_compare("sqlite", &schema);
}

#[tokio::test]
async fn postgres_zoo_services_match_their_golden() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("zoo/postgres.sql")).expect("fixture");
    let url = pg.fresh_db("seaway_g_zoo_pg", Some(&sql)).await;
    let schema = introspect(&url).await;
    generate_and_compare("postgres", &schema);
}

#[tokio::test]
async fn mysql_zoo_services_match_their_golden() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("zoo/mysql.sql")).expect("fixture");
    let url = my.fresh_db("seaway_g_zoo_my", Some(&sql)).await;
    let schema = introspect(&url).await;
    generate_and_compare("mysql", &schema);
}

/// Every writable column of the PostgreSQL zoo, written through the generated service and
/// read back: the value returned is the value sent (in canonical form: an inet travels as
/// PostgreSQL's `CAST(x AS text)` writes it, with its prefix length).
#[test]
fn postgres_zoo_columns_round_trip_through_the_generated_api() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(url) = rt.block_on(async {
        let pg = support::postgres().await?;
        let sql = std::fs::read_to_string(support::fixture("zoo/postgres.sql")).expect("fixture");
        Some(pg.fresh_db("seaway_g_zoo_rt", Some(&sql)).await)
    }) else {
        return;
    };
    let Some(svc) = crate::contract::start("zoo_postgres", &url) else {
        return;
    };
    let sent = serde_json::json!({
        "c_int2": 12, "c_int4": 34, "c_int8": 9007199254740993i64,
        "c_numeric_38_10": "12345678901234567890.0123456789",
        "c_numeric_10": "1234567890", "c_numeric": "3.14159",
        "c_real": 1.5, "c_double": 2.25,
        "c_varchar_80": "hello", "c_varchar": "any", "c_char_3": "ABC", "c_text": "text",
        "c_bytea": "AAEC/w==", "c_bit_4": "1010", "c_varbit_8": "101", "c_bool": true,
        "c_date": "2024-02-29", "c_time": "12:34:56", "c_time_3": "12:34:56.789",
        "c_timetz": "12:34:56+02", "c_timestamp": "2024-01-02T03:04:05",
        "c_timestamp_3": "2024-01-02T03:04:05.123",
        "c_interval": "1 day 02:00:00", "c_json": {"a": [1, 2]}, "c_jsonb": {"b": true},
        "c_uuid": "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", "c_inet": "192.168.0.1/32",
        "c_cidr": "10.0.0.0/8", "c_mood": "happy", "c_int4_array": "{1,2,3}",
        "c_text_array": "{a,b}", "c_mood_array": "{sad,ok}", "c_weekday_array": "{mon}",
        "c_positive": 5
    });
    let (status, body) =
        crate::contract::http_send(svc.port, "POST", "/type_zoo", &sent.to_string()).expect("post");
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = created["id"].as_i64().expect("id");
    let (status, body) =
        crate::contract::http_get(svc.port, &format!("/type_zoo/{id}")).expect("get");
    assert_eq!(status, 200, "{body}");
    let got: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut diffs = Vec::new();
    for (k, v) in sent.as_object().expect("object") {
        if &got[k] != v {
            diffs.push(format!("{k}: sent {v}, got {}", got[k]));
        }
    }
    assert!(
        diffs.is_empty(),
        "values changed on the way:\n{}",
        diffs.join("\n")
    );
    assert_eq!(
        got["c_text_len"], 4,
        "generated column computed by the database"
    );
}
