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

/// `url` (a live server's, e.g. `mysql://root@127.0.0.1:3306/mysql`) with its user's
/// password replaced by `password`, written as is.
fn with_password(url: &str, password: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let at = url[start..]
        .rfind('@')
        .map(|i| start + i)
        .expect("the server URL names a user");
    let user = url[start..at].split(':').next().unwrap_or_default();
    format!("{}{user}:{password}{}", &url[..start], &url[at..])
}

/// `host:port` of a live server's URL, with MySQL's default port when it has none.
fn endpoint_of(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url, |(_, h)| h);
    let host_port = after_at.split('/').next().unwrap_or_default();
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:3306")
    }
}

/// Writes `.env` beside the config with `name` set to `value`, single-quoted so that
/// `#`, spaces and the like are taken literally.
fn write_dotenv(p: &Project, name: &str, value: &str) {
    assert!(
        !value.contains('\''),
        "test passwords must not contain a quote"
    );
    std::fs::write(p.dir.path().join(".env"), format!("{name}='{value}'\n")).expect("write .env");
}

/// The password reaches a live server (which refuses it: MariaDB's root has no
/// password there), so a leak anywhere on the way to the driver and back would show.
#[tokio::test]
async fn variables_come_from_dotenv_and_never_show_in_errors() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let url = with_password(&my.url("mysql"), "${SEAWAY_T_PW}");
    let p = Project::new(&format!("connections:\n  main:\n    url: \"{url}\"\n"));
    write_dotenv(&p, "SEAWAY_T_PW", SECRET);
    let err = fails(&p, &[]);
    let endpoint = endpoint_of(&my.url("mysql"));
    assert!(
        err.contains(&format!(
            "connection `main`: MySQL/MariaDB at {endpoint} refused the credentials in mysql://root:***@{endpoint}/mysql"
        )),
        "{err}"
    );
}

/// Regression: a password with `#` (`1234#abcSECRET`) was cut at the `#`, so the error
/// said "cannot reach PostgreSQL at postgres:1234" and printed the rest of the password
/// in the URL's fragment; `/`, `?` and `@` broke the URL the same way, and `+` was
/// scrubbed as a space. Each password goes to a live server that refuses it.
#[tokio::test]
async fn passwords_with_url_delimiters_name_the_right_endpoint_and_never_leak() {
    let Some(my) = support::mysql().await else {
        return;
    };
    let endpoint = endpoint_of(&my.url("mysql"));
    let passwords = [
        "Qx#Zq9Wv",
        "Jk/Yp?Gz",
        "Fh+Lm+Rt",
        "Tg%Xs%",
        "Hq@Np@Ks",
        "Mz#Dj/Uy?Ob+Ic%Qe@Py",
        "Wb Rk",
    ];
    for password in passwords {
        let url = with_password(&my.url("mysql"), "${SEAWAY_T_PW}");
        let p = Project::new(&format!("connections:\n  main:\n    url: \"{url}\"\n"));
        write_dotenv(&p, "SEAWAY_T_PW", password);
        let err = fails(&p, &[]);
        assert!(
            err.contains(&format!(
                "MySQL/MariaDB at {endpoint} refused the credentials in mysql://root:***@{endpoint}/mysql"
            )),
            "{password}: {err}"
        );
        let chars: Vec<char> = password.chars().collect();
        for part in chars.windows(3) {
            let part: String = part.iter().collect();
            assert!(
                !err.contains(&part),
                "`{part}` of password `{password}` leaked: {err}"
            );
        }
    }
}

/// Regression guard: with `--all`, a failure on a later connection must leave the
/// snapshot of an earlier one exactly as it was on disk, not half-updated.
#[test]
fn failed_all_run_leaves_existing_snapshots_byte_identical() {
    let p = Project::new(&format!(
        "connections:\n  first:\n    url: \"{}\"\n  second:\n    url: \"postgres://app:{SECRET}@127.0.0.1:1/shop\"\nsource: first\n",
        chinook_sqlite()
    ));
    let (ok, _, stderr) = p.codegen(&["introspect", "--connection", "first"]);
    assert!(ok, "{stderr}");
    let schema_dir = p.generated().join("schema");
    let first = schema_dir.join("first.yaml");
    let known = b"# edited by hand: must survive a failed --all\n".to_vec();
    std::fs::write(&first, &known).expect("edit snapshot");

    let (ok, stdout, stderr) = p.codegen(&["introspect", "--all"]);
    assert!(!ok, "expected failure; stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains("connection `second`: cannot reach PostgreSQL at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SECRET) && !stdout.contains(SECRET),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&first).expect("read snapshot"), known);
    let mut left: Vec<String> = std::fs::read_dir(&schema_dir)
        .expect("schema dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["first.yaml"],
        "stray files in {}",
        schema_dir.display()
    );
}

/// Regression: connection names went unchecked into `<output>/schema/<name>.yaml`, so
/// a connection named `../../escaped` wrote its snapshot outside the output folder.
#[test]
fn connection_name_with_path_separators_is_refused_and_writes_nothing() {
    let p = Project::new(&format!(
        "connections:\n  \"../../escaped\":\n    url: \"{}\"\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &["--all"]);
    assert!(
        err.contains("seaway.yaml:2: connections.../../escaped: connection name `../../escaped` contains `.`; connection names may use only letters, digits, `_` and `-`"),
        "{err}"
    );
    assert!(!p.dir.path().join("escaped.yaml").exists());
}

/// Regression: a second `Invoice:` under `mappings:` silently replaced the first.
#[test]
fn duplicate_mapping_is_named_with_both_lines() {
    let p = Project::new(&format!(
        "connections:\n  main:\n    url: \"{}\"\nmappings:\n  Invoice:\n    target: invoices\n  Invoice:\n    target: bills\n",
        chinook_sqlite()
    ));
    let err = fails(&p, &[]);
    assert!(
        err.contains("seaway.yaml:7:3: duplicate key `Invoice` in `mappings` (first at line 5)"),
        "{err}"
    );
}

/// Regression: an empty config said "missing field `connections`", and a list at the
/// top level "invalid type: sequence, expected struct RawConfig".
#[test]
fn wrongly_shaped_config_says_what_shape_it_needs() {
    let p = Project::new("# nothing here yet\n");
    let err = fails(&p, &[]);
    assert!(
        err.contains("seaway.yaml: the file is empty; a config needs at least `connections:` (see docs/config.md)"),
        "{err}"
    );
    let p = Project::new("- connections\n");
    let err = fails(&p, &[]);
    assert!(
        err.contains(
            "seaway.yaml:1:1: the top level must be a mapping of keys such as `connections:`"
        ),
        "{err}"
    );
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
    assert!(err.contains("seaway.yaml:7: tables.include: pattern `Tracks` matches no table or view of connection `main` (closest table: `Track`)"), "{err}");
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
