//! Bad input, each case through the real binary: one clear message naming the thing at
//! fault, a non-zero exit, nothing written to `generated/`, and the password nowhere in
//! the output.

use crate::support::{self, Project};
use std::time::{Duration, Instant};

const SECRET: &str = "Sup3rS3cretPw";

fn chinook_sqlite() -> String {
    format!(
        "sqlite://{}",
        support::fixture("chinook/chinook.sqlite").display()
    )
}

/// Runs `introspect` and checks the invariants every bad input shares; returns stderr.
fn fails(project: &Project, args: &[&str]) -> String {
    let mut full = vec!["introspect"];
    full.extend_from_slice(args);
    let (ok, stdout, stderr) = project.codegen(&full);
    assert!(!ok, "expected failure; stdout: {stdout}\nstderr: {stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "password leaked:\n{stdout}\n{stderr}"
    );
    assert!(
        !project.generated().exists(),
        "generated/ was written on failure"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        lines.len(),
        1,
        "one error paragraph expected, got:\n{stderr}"
    );
    stderr
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let p = Project::new("connections:\n  main:\n    url: \"sqlite://x\n    schema: [\n");
    let err = fails(&p, &[]);
    assert!(err.contains("seaway.yaml:"), "{err}");
    assert!(regex_like_line_col(&err), "no line:column in {err}");
}

fn regex_like_line_col(s: &str) -> bool {
    s.split("seaway.yaml:").nth(1).is_some_and(|rest| {
        let mut parts = rest.splitn(3, ':');
        parts.next().is_some_and(|l| l.parse::<u32>().is_ok())
            && parts.next().is_some_and(|c| c.parse::<u32>().is_ok())
    })
}

#[test]
fn unknown_key_is_named_with_the_closest_valid_key() {
    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"{}\"\ntabels:\n  include: ['*']\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &[]);
    assert!(
        err.contains("seaway.yaml:4:1: unknown key `tabels`"),
        "{err}"
    );
    assert!(err.contains("did you mean `tables`?"), "{err}");
}

#[test]
fn unset_variable_is_named() {
    let p = Project::new(
        "connections:\n  main:\n    url: \"postgres://app:${SEAWAY_T_UNSET_PW}@127.0.0.1/db\"\n",
    );
    let err = fails(&p, &[]);
    assert!(err.contains("seaway.yaml:3: connections.main.url: environment variable `SEAWAY_T_UNSET_PW` is not set"), "{err}");
}

#[test]
fn variables_come_from_dotenv_and_never_show_in_errors() {
    // The password comes from .env; the database does not exist, so the run fails and
    // must name the database but not the password.
    let p = Project::new(
        "connections:\n  main:\n    url: \"mysql://root:${SEAWAY_T_PW}@127.0.0.1:1/nope\"\n",
    );
    std::fs::write(p.dir.path().join(".env"), format!("SEAWAY_T_PW={SECRET}\n"))
        .expect("write .env");
    let err = fails(&p, &[]);
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

#[test]
fn unreachable_host_names_host_and_port_quickly() {
    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"postgres://app:{SECRET}@127.0.0.1:1/shop\"\n"
    ));
    let started = Instant::now();
    let err = fails(&p, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("cannot reach PostgreSQL at 127.0.0.1:1"),
        "{err}"
    );
    assert!(err.contains("connection `main`"), "{err}");
}

#[test]
fn silent_server_times_out_within_the_configured_bound() {
    // A listener that accepts and never answers: the connect must give up on its own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"postgres://app:{SECRET}@127.0.0.1:{port}/shop\"\n    connect_timeout: 2\n"
    ));
    let started = Instant::now();
    let err = fails(&p, &[]);
    let took = started.elapsed();
    drop(listener);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    assert!(
        err.contains(&format!(
            "no answer from PostgreSQL at 127.0.0.1:{port} within 2 s"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_password_is_refused_without_echoing_it() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let url = my
        .url("mysql")
        .replacen("root@", &format!("root:{SECRET}@"), 1)
        .replacen("root:@", &format!("root:{SECRET}@"), 1);
    assert!(
        url.contains(SECRET),
        "test URL must carry the password: {url}"
    );
    let p = Project::new(&format!("connections:\n  main:\n    url: \"{url}\"\n"));
    let err = fails(&p, &[]);
    assert!(
        err.contains("refused the credentials in mysql://root:***@"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_database_is_named() {
    if let Some(pg) = support::postgres().await {
        let url = pg
            .url("seaway_t_surely_missing")
            .replacen("://", &format!("://postgres:{SECRET}@"), 1)
            .replacen("@postgres@", "@", 1);
        let p = Project::new(&format!("connections:\n  main:\n    url: \"{url}\"\n"));
        let err = fails(&p, &[]);
        assert!(
            err.contains(
                "database `seaway_t_surely_missing` does not exist on PostgreSQL at 127.0.0.1:5432"
            ),
            "{err}"
        );
    }
    if let Some(my) = support::mysql().await {
        let p = Project::new(&format!(
            "connections:\n  main:\n    url: \"{}\"\n",
            my.url("seaway_t_surely_missing")
        ));
        let err = fails(&p, &[]);
        assert!(err.contains("database `seaway_t_surely_missing` does not exist on MySQL/MariaDB at 127.0.0.1:3306"), "{err}");
    }
}

#[test]
fn missing_sqlite_file_is_named_and_not_created() {
    let p = Project::new("connections:\n  main:\n    url: \"sqlite://nope/missing.sqlite\"\n");
    let err = fails(&p, &[]);
    assert!(err.contains("missing.sqlite does not exist"), "{err}");
    assert!(!p.dir.path().join("nope").exists());
}

#[test]
fn include_pattern_matching_nothing_is_an_error() {
    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"{}\"\ntables:\n  include:\n    - 'Invoice*'\n    - 'Tracks'\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &[]);
    assert!(err.contains("seaway.yaml:7: tables.include: pattern `Tracks` matches no table of connection `main` (closest table: `Track`)"), "{err}");
}

#[test]
fn mapping_of_a_missing_table_or_column_suggests_the_closest() {
    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"{}\"\nmappings:\n  Invoices:\n    target: invoice\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &[]);
    assert!(err.contains("seaway.yaml:5: mappings.Invoices: table `Invoices` does not exist in connection `main`; did you mean `Invoice`?"), "{err}");

    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"{}\"\nmappings:\n  Invoice:\n    columns:\n      BillingAdress: billing_address\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &[]);
    assert!(err.contains("seaway.yaml:7: mappings.Invoice.columns: column `BillingAdress` does not exist in table `Invoice`; did you mean `BillingAddress`?"), "{err}");
}

#[test]
fn unknown_connection_flag_suggests_the_closest() {
    let p = Project::new(&format!(
        "connections:\n  chinook:\n    url: \"{}\"\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &["--connection", "chinok"]);
    assert!(
        err.contains("--connection chinok: no such connection; did you mean `chinook`?"),
        "{err}"
    );
}

#[test]
fn missing_config_file_says_how_to_point_at_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("codegen")
        .expect("bin")
        .current_dir(dir.path())
        .env_remove("SEAWAY_CONFIG")
        .arg("introspect")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("seaway.yaml: config file not found (pass --config <path>"),
        "{err}"
    );
}
