//! Test databases leave the servers as they found them: a `TestDb` drops its database when
//! it goes out of scope, inside a test's runtime and when the test panics.

use crate::support::{self, Engine, Server};
use crate::test_db::{Kind, TestDb};
use sqlx::Connection;

/// Whether database `name` exists on `server`.
async fn exists(server: &Server, name: &str) -> bool {
    let admin = server.url(match server.engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
    });
    let n: i64 = match server.engine {
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&admin).await.expect("admin");
            let n = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut c)
                .await
                .expect("pg_database");
            c.close().await.expect("close");
            n
        }
        Engine::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(&admin).await.expect("admin");
            let n = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            )
            .bind(name)
            .fetch_one(&mut c)
            .await
            .expect("schemata");
            c.close().await.expect("close");
            n
        }
    };
    n > 0
}

async fn servers() -> Vec<Server> {
    [support::postgres().await, support::mysql().await]
        .into_iter()
        .flatten()
        .collect()
}

/// Dropped inside the test's own runtime, with a connection of the test closed first.
#[tokio::test]
async fn a_test_database_is_dropped_with_its_guard() {
    for server in servers().await {
        let name = format!("seaway_test_cleanup_scope_{:?}", server.engine).to_lowercase();
        let db = server
            .fresh_db(&name, Some("CREATE TABLE t (id int)"))
            .await;
        assert!(exists(&server, &name).await, "{name} was not created");
        drop(db);
        assert!(!exists(&server, &name).await, "{name} is still there");
    }
}

/// A test that panics (here: a thread standing for it) still drops its database.
#[test]
fn a_failing_test_drops_its_database_too() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for server in rt.block_on(servers()) {
        let name = format!("seaway_test_cleanup_panic_{:?}", server.engine).to_lowercase();
        let failing = {
            let (server, name) = (server.clone(), name.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Runtime::new().expect("runtime");
                let _db = rt.block_on(server.fresh_db(&name, None));
                assert!(
                    rt.block_on(exists(&server, &name)),
                    "{name} was not created"
                );
                panic!("the test fails while holding {name}");
            })
        };
        assert!(failing.join().is_err(), "the failing test did not fail");
        assert!(
            !rt.block_on(exists(&server, &name)),
            "{name} is still there"
        );
    }
}

/// Only test-only names are accepted (checked before any connection: no server needed),
/// so whatever carries the prefix was made by a test.
#[tokio::test]
#[should_panic(expected = "names are `seaway_test_`")]
async fn a_database_without_the_test_prefix_is_refused() {
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let _db = TestDb::create(Kind::Postgres, admin, "seaway_cleanup", String::new()).await;
}
