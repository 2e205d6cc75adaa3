//! Two appliers never run at once: the test holds the lock `apply` takes, explicitly, on
//! its own connection; `apply` gives up within its bound naming the lock, and succeeds
//! once the test lets go.

use crate::support::{Db, Engine, Project, initial};
use seaway_migrator::apply::{POSTGRES_LOCK_KEY, mysql_lock_name};
use std::time::{Duration, Instant};

/// `sql(project)` gives the statements that take the lock on the test's connection and
/// release it.
async fn waits_for_the_lock_then_gives_up(engine: Engine, sql: fn(&Project) -> [String; 2]) {
    let Some(p) = Project::new(engine, "lock").await else {
        return;
    };
    initial(&p);
    let [hold, release] = sql(&p);
    let mut holder: Db = p.db().await;
    holder.execute(&hold).await;

    let started = Instant::now();
    let out = p.migrator(&["apply", "--lock-timeout", "1"]);
    assert!(!out.ok, "apply must not run while another holds the lock");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "apply waited {:?}",
        started.elapsed()
    );
    let expected = format!(
        "another `migrator apply` holds the lock on {}",
        location(&p)
    );
    assert!(
        out.stderr.contains(&expected),
        "missing {expected:?} in {}",
        out.stderr
    );
    assert!(out.stderr.contains("gave up after 1 s"), "{}", out.stderr);
    assert!(!out.stdout.contains("pre-data:"), "{}", out.stdout);

    holder.execute(&release).await;
    let out = p.migrator(&["apply", "--lock-timeout", "1"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("applied 2 sections"), "{}", out.stdout);
}

/// `host:port/database`, as `apply` names the destination.
fn location(p: &Project) -> String {
    match p.engine {
        Engine::Sqlite => p.database.clone(),
        _ => {
            let after_scheme = p
                .url
                .split_once("://")
                .map_or(p.url.as_str(), |(_, rest)| rest);
            after_scheme
                .rsplit_once('@')
                .map_or(after_scheme, |(_, host)| host)
                .to_string()
        }
    }
}

#[tokio::test]
async fn lock_held_postgres() {
    waits_for_the_lock_then_gives_up(Engine::Postgres, |_| {
        [
            format!("SELECT pg_advisory_lock({POSTGRES_LOCK_KEY})"),
            format!("SELECT pg_advisory_unlock({POSTGRES_LOCK_KEY})"),
        ]
    })
    .await;
}

#[tokio::test]
async fn lock_held_mariadb() {
    waits_for_the_lock_then_gives_up(Engine::Mysql, |p| {
        let name = mysql_lock_name(&p.database);
        [
            format!("SELECT GET_LOCK('{name}', 0)"),
            format!("SELECT RELEASE_LOCK('{name}')"),
        ]
    })
    .await;
}

/// SQLite's lock is the write lock: a test transaction holding it stands for another run.
#[tokio::test]
async fn lock_held_sqlite() {
    waits_for_the_lock_then_gives_up(Engine::Sqlite, |_| {
        ["BEGIN IMMEDIATE".into(), "COMMIT".into()]
    })
    .await;
}
