use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_text(Path::new("seaway.yaml"), text, &VarSource::default())
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn minimal_config_defaults_source_and_output() {
    let cfg = parse("connections:\n  main:\n    url: sqlite://db.sqlite\n").unwrap();
    assert_eq!(cfg.source, "main");
    assert_eq!(cfg.output, Path::new("generated"));
    assert!(cfg.tables.selects("Anything"));
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let e = err("connections:\n  main:\n    url: [unclosed\n");
    assert!(
        e.starts_with("seaway.yaml:4:1: ") || e.starts_with("seaway.yaml:3:"),
        "{e}"
    );
}

#[test]
fn unknown_key_is_named_with_the_closest_valid_key() {
    let e = err("connections:\n  main:\n    ulr: sqlite://x\n");
    assert!(e.starts_with("seaway.yaml:3:5: unknown key `ulr`"), "{e}");
    assert!(e.contains("did you mean `url`?"), "{e}");
    let e = err("conections: {}\n");
    assert!(e.contains("did you mean `connections`?"), "{e}");
}

#[test]
fn unset_variable_is_named_with_its_line() {
    let e = err(
        "# comment\nconnections:\n  main:\n    url: postgres://u:${SEAWAY_TEST_SURELY_UNSET}@h/db\n",
    );
    assert!(e.starts_with("seaway.yaml:4: connections.main.url: environment variable `SEAWAY_TEST_SURELY_UNSET` is not set"), "{e}");
}

#[test]
fn source_must_name_a_connection() {
    let e = err(
        "connections:\n  main: {url: 'sqlite://a'}\n  other: {url: 'sqlite://b'}\nsource: mian\n",
    );
    assert!(
        e.starts_with("seaway.yaml:4: source: `mian` is not a connection; did you mean `main`?"),
        "{e}"
    );
    let e = err("connections:\n  main: {url: 'sqlite://a'}\n  other: {url: 'sqlite://b'}\n");
    assert!(e.contains("no `source:`"), "{e}");
}

#[test]
fn bad_urls_and_globs_are_located() {
    let e = err("connections:\n  main:\n    url: oracle://u:pw123@h/db\n");
    assert!(e.starts_with("seaway.yaml:2: connections.main.url:"), "{e}");
    assert!(!e.contains("pw123"), "{e}");
    let e = err("connections:\n  m: {url: 'sqlite://a'}\ntables:\n  include:\n    - 'Inv[oice'\n");
    assert!(
        e.starts_with("seaway.yaml:5: tables.include: `Inv[oice` is not a valid glob"),
        "{e}"
    );
}

#[test]
fn mapping_types_use_the_neutral_grammar() {
    let e = err(
        "connections:\n  m: {url: 'sqlite://a'}\nmappings:\n  Invoice:\n    types:\n      Total: money\n",
    );
    assert!(
        e.contains("mappings.Invoice.types.Total: `money` is not a neutral type"),
        "{e}"
    );
    assert!(e.starts_with("seaway.yaml:6:"), "{e}");
}

#[test]
fn globs_are_case_insensitive_and_excludes_win() {
    let cfg = parse("connections:\n  m: {url: 'sqlite://a'}\ntables:\n  include: ['inv*', 'Track']\n  exclude: ['*Line']\n").unwrap();
    assert!(cfg.tables.selects("Invoice"));
    assert!(!cfg.tables.selects("InvoiceLine"));
    assert!(cfg.tables.selects("track"));
    assert!(!cfg.tables.selects("Album"));
}

/// The reference block in docs/config.md must parse, use every key, and every key must be
/// described in the document, so the document and the parser cannot drift apart.
#[test]
fn reference_config_in_docs_parses() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/config.md");
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("closed block");
    let yaml = &doc[start..end];
    let vars =
        VarSource::from_pairs(&[("LEGACY_DB_PASSWORD", "pw1"), ("WAREHOUSE_PASSWORD", "pw2")]);
    let cfg = Config::from_text(Path::new("/proj/seaway.yaml"), yaml, &vars)
        .expect("reference config parses");

    assert_eq!(cfg.source, "legacy");
    assert_eq!(cfg.destination.as_deref(), Some("warehouse"));
    assert_eq!(
        cfg.connections["legacy"].connect_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(cfg.connections["warehouse"].schema.as_deref(), Some("shop"));
    assert_eq!(
        cfg.server.allow_hosts.as_deref(),
        Some(&["db.internal".to_string(), "warehouse.internal".to_string()][..])
    );
    assert_eq!(cfg.server.tokens[0].name, "ci");
    assert_eq!(cfg.server.tokens[0].role, crate::config::Role::Operator);
    assert_eq!(
        cfg.webhook.as_deref(),
        Some("https://hooks.example.com/services/pw2")
    );
    assert_eq!(
        cfg.connections["warehouse"].url.redacted(),
        "postgres://etl:***@warehouse.internal:5432/analytics"
    );
    assert_eq!(
        cfg.connections["local"].url.sqlite_path(),
        Some(Path::new("/proj/fixtures/chinook/chinook.sqlite"))
    );
    assert!(
        cfg.tables.selects("InvoiceLine")
            && !cfg.tables.selects("Invoice_backup")
            && !cfg.tables.selects("Album")
    );
    let m = &cfg.mappings["Customer"];
    assert_eq!(m.target.as_deref(), Some("customers"));
    assert_eq!(m.columns["FirstName"], "first_name");
    assert_eq!(m.mask["Email"], Mask::Hash);
    assert_eq!(m.mask["Phone"], Mask::Redact);
    assert_eq!(m.mask["Fax"], Mask::Null);
    assert_eq!(m.filter.as_deref(), Some("Country <> 'Testland'"));
    assert_eq!(
        m.types["SupportRepId"],
        NeutralType::Int {
            bits: 64,
            unsigned: false
        }
    );
    assert_eq!(cfg.output, Path::new("/proj/generated"));
    assert_eq!(cfg.naming, crate::config::Naming::SnakeCase);
    assert_eq!(cfg.transfer_mode, TransferMode::Incremental);
    assert_eq!(m.watermark.as_deref(), Some("LastModified"));
    assert!(cfg.allows_lossy("Invoice", "Total") && cfg.allows_lossy("Track", "Milliseconds"));
    assert!(!cfg.allows_lossy("Invoice", "InvoiceDate"));
    assert_eq!(cfg.services.pin["Employee"].0, "staff");
    assert_eq!(cfg.services.names["Invoice"].0, "sales");
    assert_eq!(cfg.services.max_tables, 12);
    assert_eq!(cfg.services.lookup_referrers, 3);
    assert_eq!(
        cfg.services.database_naming,
        crate::config::Naming::SnakeCase
    );
    assert_eq!(cfg.sync.direction, sync::Direction::OneWay);
    assert_eq!(
        cfg.conflicts("Track").version_column.as_deref(),
        Some("LastModified")
    );
    assert_eq!(
        cfg.conflicts("InvoiceLine").priority,
        Some(sync::SyncSide::Destination)
    );

    // Every key used in the reference is described under "## Keys".
    let keys_section = &doc[doc.find("## Keys").expect("keys section")..];
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let mut keys = Vec::new();
    collect_schema_keys(&value, "", &mut keys);
    for key in keys {
        assert!(
            keys_section.contains(&format!("`{key}`")),
            "docs/config.md does not describe `{key}`"
        );
    }
}

/// Config keys (not user-chosen names such as connection or table names) in the YAML.
fn collect_schema_keys(v: &serde_yaml::Value, parent: &str, out: &mut Vec<String>) {
    const NAMED_MAPS: [&str; 7] = [
        "connections",
        "mappings",
        "columns",
        "mask",
        "types",
        "pin",
        "names",
    ];
    if let serde_yaml::Value::Mapping(m) = v {
        for (k, child) in m {
            let Some(k) = k.as_str() else { continue };
            out.push(k.to_string());
            // `sync.tables` is keyed by table names (the top-level `tables` is not).
            if NAMED_MAPS.contains(&k) || (parent == "sync" && k == "tables") {
                if let serde_yaml::Value::Mapping(named) = child {
                    for (_, inner) in named {
                        collect_schema_keys(inner, k, out);
                    }
                }
            } else {
                collect_schema_keys(child, k, out);
            }
        }
    }
}

/// Regression: with `PW=1234#abcSECRET`, the URL below was read with host `postgres`
/// and port `1234`, and the printed URL kept `#abcSECRET@...` as its fragment.
#[test]
fn password_with_hash_from_a_variable_keeps_the_endpoint_and_stays_secret() {
    let vars = VarSource::from_pairs(&[("SEAWAY_T_HASH_PW", "1234#abcSECRET")]);
    let cfg = Config::from_text(
        Path::new("seaway.yaml"),
        "connections:\n  main:\n    url: \"postgres://postgres:${SEAWAY_T_HASH_PW}@127.0.0.1:5432/db\"\n",
        &vars,
    )
    .unwrap();
    let url = &cfg.connections["main"].url;
    assert_eq!(url.endpoint(), Some("127.0.0.1:5432"));
    assert_eq!(url.redacted(), "postgres://postgres:***@127.0.0.1:5432/db");
    assert!(!format!("{cfg:?}").contains("abc"), "{cfg:?}");
}

/// Regression: connection names went unchecked into `<output>/schema/<name>.yaml` and
/// `<output>/migrations/<name>/`, so `../../x` wrote outside the output folder.
#[test]
fn connection_names_that_are_not_safe_file_names_are_rejected() {
    for (name, line) in [("../../x", 3), ("a/b", 3), ("a b", 3), ("\"\"", 3)] {
        let e = err(&format!(
            "connections:\n  main: {{url: 'sqlite://a'}}\n  {name}: {{url: 'sqlite://b'}}\nsource: main\n"
        ));
        assert!(
            e.starts_with(&format!("seaway.yaml:{line}: connections")),
            "{e}"
        );
        assert!(
            e.contains("connection names may use only letters, digits, `_` and `-`"),
            "{e}"
        );
        if name != "\"\"" {
            assert!(e.contains(&format!("`{name}`")), "{e}");
        }
    }
    let e = err("connections:\n  '../x': {url: 'sqlite://b'}\n");
    assert!(
        e.starts_with("seaway.yaml:2: connections.../x: connection name `../x` contains `.`"),
        "{e}"
    );
    let cfg = parse("connections:\n  Prod_eu-1: {url: 'sqlite://a'}\n").unwrap();
    assert_eq!(cfg.source, "Prod_eu-1");
}

/// Regression: a name written twice under `connections:`, `mappings:`, `columns:`,
/// `mask:` or `types:` silently kept only the last one.
#[test]
fn duplicate_keys_are_errors_located_at_the_repeat() {
    let e = err(
        "connections:\n  main: {url: 'sqlite://a'}\n  other: {url: 'sqlite://b'}\n  main: {url: 'sqlite://c'}\nsource: main\n",
    );
    assert!(
        e.starts_with("seaway.yaml:4:3: duplicate key `main` in `connections` (first at line 2)"),
        "{e}"
    );
    let base = "connections:\n  m: {url: 'sqlite://a'}\nmappings:\n";
    let e = err(&format!(
        "{base}  Invoice:\n    target: a\n  # comment\n\n  Invoice:\n    target: b\n"
    ));
    assert!(
        e.starts_with("seaway.yaml:8:3: duplicate key `Invoice` in `mappings` (first at line 4)"),
        "{e}"
    );
    for section in ["columns", "mask", "types"] {
        let value = if section == "mask" { "hash" } else { "int64" };
        let e = err(&format!(
            "{base}  Invoice:\n    {section}:\n      Total: {value}\n      Total: {value}\n"
        ));
        assert!(
            e.starts_with(&format!(
                "seaway.yaml:7:7: duplicate key `Total` in `mappings.Invoice.{section}` (first at line 6)"
            )),
            "{e}"
        );
    }
    // Flow style: serde's location (the mapping) is kept.
    let e = err("connections: {a: {url: 'sqlite://a'}, a: {url: 'sqlite://b'}}\n");
    assert!(
        e.starts_with("seaway.yaml:1:") && e.contains("duplicate key `a` in `connections`"),
        "{e}"
    );
}

/// Regression: an empty or comment-only file said "missing field `connections`".
#[test]
fn empty_or_comment_only_file_says_it_is_empty() {
    for text in ["", "\n\n", "# just a comment\n  # another\n", "---\n"] {
        assert_eq!(
            err(text),
            "seaway.yaml: the file is empty; a config needs at least `connections:` (see docs/config.md)",
            "{text:?}"
        );
    }
}

/// Regression: a file whose top level is a list or a scalar said "invalid type:
/// sequence, expected struct RawConfig".
#[test]
fn top_level_list_or_scalar_says_it_must_be_a_mapping() {
    for (text, at) in [
        ("- connections\n- main\n", "1:1"),
        ("connections\n", "1:1"),
        ("# header\n\n~\n", "3:1"),
    ] {
        let e = err(text);
        assert_eq!(
            e,
            format!(
                "seaway.yaml:{at}: the top level must be a mapping of keys such as `connections:` (see docs/config.md)"
            ),
            "{text:?}"
        );
    }
}

/// Regression: `${}` was reported as "environment variable `` is not set".
#[test]
fn empty_braces_say_they_name_no_variable() {
    let e = err("connections:\n  main:\n    url: postgres://u:${}@h/db\n");
    assert!(
        e.starts_with("seaway.yaml:3: connections.main.url: `${}` names no variable"),
        "{e}"
    );
    let e = err("connections:\n  main:\n    url: postgres://u:${:-pw}@h/db\n");
    assert!(e.contains("`${:-pw}` names no variable"), "{e}");
}

/// Regression: an include pattern matching only a view was reported as matching no
/// table, although `select_tables` keeps the views it matches.
#[test]
fn include_pattern_matching_only_a_view_is_accepted() {
    use crate::model::{Dialect, Schema, Table, View};
    let cfg = parse(
        "connections:\n  m: {url: 'sqlite://a'}\ntables:\n  include: ['Invoice', 'sales_by_*']\n",
    )
    .unwrap();
    let mut schema = Schema::new(Dialect::Sqlite, "main");
    schema.tables.insert("Invoice".into(), Table::default());
    schema.views.insert(
        "sales_by_month".into(),
        View {
            columns: vec![],
            definition: None,
            materialized: false,
            depends_on: vec![],
        },
    );
    validate::against_source(&cfg, &schema).unwrap();
    validate::select_tables(&cfg, &mut schema);
    assert!(schema.views.contains_key("sales_by_month"));

    let cfg =
        parse("connections:\n  m: {url: 'sqlite://a'}\ntables:\n  include: ['sales_by_mnth']\n")
            .unwrap();
    let e = validate::against_source(&cfg, &schema)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pattern `sales_by_mnth` matches no table or view of connection `m` (closest view: `sales_by_month`)"),
        "{e}"
    );
}

#[test]
fn transfer_state_must_name_a_postgresql_connection() {
    let base = "connections:\n  a: {url: 'sqlite://a'}\n  my: {url: 'mysql://root@h/db'}\n  pg: {url: 'postgres://u:secret@h/db'}\nsource: a\ntransfer:\n";
    let cfg = parse(&format!("{base}  state: pg\n")).unwrap();
    assert_eq!(cfg.state.as_deref(), Some("pg"));
    let e = err(&format!("{base}  state: my\n"));
    assert!(
        e.contains(":7") && e.contains("`my` is Mysql") && e.contains("PostgreSQL"),
        "{e}"
    );
    let e = err(&format!("{base}  state: pgg\n"));
    assert!(
        e.contains("`pgg` is not a connection") && e.contains("pg"),
        "{e}"
    );
    let e = err(&format!("{base}  key: [a]\n"));
    assert!(e.contains("unknown key `key` in `transfer`"), "{e}");
}

#[test]
fn key_and_append_only_are_checked_where_they_are_written() {
    let base = "connections:\n  a: {url: 'sqlite://a'}\nmappings:\n  t:\n";
    let e = err(&format!("{base}    key: []\n"));
    assert!(e.contains(":5") && e.contains("at least one column"), "{e}");
    let e = err(&format!("{base}    key: [id]\n    append_only: true\n"));
    assert!(e.contains(":6") && e.contains("exclude each other"), "{e}");
}

#[test]
fn a_server_token_is_its_sha256_never_the_token_itself() {
    let text = "connections:\n  a:\n    url: \"sqlite://a.db\"\nserver:\n  tokens:\n    - name: ci\n      role: operator\n      sha256: \"my-plain-token\"\n";
    let e = err(text);
    assert!(
        e.contains("seaway.yaml:8") && e.contains("64 hex digits") && e.contains("`ci`"),
        "{e}"
    );
    let e = err(&text.replace("operator", "root").replace(
        "my-plain-token",
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    ));
    assert!(e.contains("root") && e.contains("operator"), "{e}");
}

#[test]
fn a_webhook_must_be_an_http_url() {
    let e =
        err("connections:\n  a:\n    url: \"sqlite://a.db\"\nnotify:\n  webhook: \"ftp://x/y\"\n");
    assert!(
        e.contains("seaway.yaml:5") && e.contains("notify.webhook"),
        "{e}"
    );
}

const TWO: &str = "connections:\n  a:\n    url: postgres://u@h/a\n  b:\n    url: postgres://u@h/b\nsource: a\ndestination: b\n";

#[test]
fn sync_defaults_to_one_way_with_default_conflict_rules() {
    let cfg = parse(TWO).unwrap();
    assert_eq!(cfg.sync.direction, sync::Direction::OneWay);
    let c = cfg.conflicts("users");
    assert!(c.delete_wins && c.priority.is_none() && c.columns.is_empty());
}

#[test]
fn sync_both_reads_per_table_conflict_rules() {
    let cfg = parse(&format!(
        "{TWO}sync:\n  direction: both\n  tables:\n    users:\n      version_column: updated_at\n      columns: {{ email: source, last_login: destination, \"*\": last_write_wins }}\n      delete_wins: false\n    orders:\n      priority: destination\n"
    ))
    .unwrap();
    assert_eq!(cfg.sync.direction, sync::Direction::Both);
    let users = cfg.conflicts("users");
    assert_eq!(users.version_column.as_deref(), Some("updated_at"));
    assert_eq!(users.columns["email"], sync::ColumnRule::Source);
    assert_eq!(users.columns["last_login"], sync::ColumnRule::Destination);
    assert_eq!(users.columns["*"], sync::ColumnRule::LastWriteWins);
    assert!(!users.delete_wins);
    let orders = cfg.conflicts("orders");
    assert_eq!(orders.priority, Some(sync::SyncSide::Destination));
    assert!(orders.delete_wins);
}

#[test]
fn sync_both_refuses_a_masked_table_naming_table_and_key() {
    let e = err(&format!(
        "{TWO}mappings:\n  users:\n    mask:\n      email: hash\nsync:\n  direction: both\n"
    ));
    assert!(
        e.contains("table `users` cannot be synced both ways"),
        "{e}"
    );
    assert!(e.contains("mappings.users.mask"), "{e}");
    assert!(e.contains("`email`"), "{e}");
    assert!(e.starts_with("seaway.yaml:10"), "the line of the mask: {e}");
}

#[test]
fn sync_both_refuses_a_filtered_table_naming_table_and_key() {
    let e = err(&format!(
        "{TWO}mappings:\n  orders:\n    where: \"status <> 'draft'\"\nsync:\n  direction: both\n"
    ));
    assert!(
        e.contains("table `orders` cannot be synced both ways"),
        "{e}"
    );
    assert!(e.contains("mappings.orders.where"), "{e}");
    // One way, the same mapping is fine.
    parse(&format!(
        "{TWO}mappings:\n  orders:\n    where: \"status <> 'draft'\"\n"
    ))
    .unwrap();
}

#[test]
fn sync_both_ignores_a_masked_table_left_out_of_the_sync() {
    parse(&format!(
        "{TWO}tables:\n  exclude: [users]\nmappings:\n  users:\n    mask:\n      email: hash\nsync:\n  direction: both\n"
    ))
    .unwrap();
}

#[test]
fn sync_unknown_rule_is_refused() {
    let e = err(&format!(
        "{TWO}sync:\n  tables:\n    users:\n      priority: newest\n"
    ));
    assert!(e.contains("newest") && e.contains("source"), "{e}");
}
