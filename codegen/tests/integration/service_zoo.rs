//! The type zoos through `generate`: every column of every zoo table gets a field in the
//! document and the crate (none dropped, none typed as an unusable `String` by accident),
//! compared byte for byte with goldens under `codegen/tests/golden/services/zoo_<engine>/`
//! (`just bless` rewrites them). The golden crates are workspace members, so the build
//! proves every zoo type compiles; `service_round_trip` runs them.

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
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zoo.sqlite");
    support::sqlite_zoo(&path).await;
    let schema = introspect(&format!("sqlite://{}", path.display())).await;
    generate_and_compare("sqlite", &schema);
}

#[tokio::test]
async fn postgres_zoo_services_match_their_golden() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("zoo/postgres.sql")).expect("fixture");
    let url = pg.fresh_db("seaway_test_g_zoo_pg", Some(&sql)).await;
    let schema = introspect(&url).await;
    generate_and_compare("postgres", &schema);
}

#[tokio::test]
async fn mysql_zoo_services_match_their_golden() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let sql = std::fs::read_to_string(support::fixture("zoo/mysql.sql")).expect("fixture");
    let url = my.fresh_db("seaway_test_g_zoo_my", Some(&sql)).await;
    let schema = introspect(&url).await;
    generate_and_compare("mysql", &schema);
}
