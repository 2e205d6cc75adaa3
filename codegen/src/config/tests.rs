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
    assert_eq!(cfg.output, Path::new("./generated"));
    assert!(cfg.tables.selects("Anything"));
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let e = err("connections:\n  main:\n    url: [unclosed\n");
    assert!(e.starts_with("seaway.yaml:4:1: ") || e.starts_with("seaway.yaml:3:"), "{e}");
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
    let e = err("# comment\nconnections:\n  main:\n    url: postgres://u:${SEAWAY_TEST_SURELY_UNSET}@h/db\n");
    assert!(e.starts_with("seaway.yaml:4: connections.main.url: environment variable `SEAWAY_TEST_SURELY_UNSET` is not set"), "{e}");
}

#[test]
fn source_must_name_a_connection() {
    let e = err("connections:\n  main: {url: 'sqlite://a'}\n  other: {url: 'sqlite://b'}\nsource: mian\n");
    assert!(e.starts_with("seaway.yaml:4: source: `mian` is not a connection; did you mean `main`?"), "{e}");
    let e = err("connections:\n  main: {url: 'sqlite://a'}\n  other: {url: 'sqlite://b'}\n");
    assert!(e.contains("no `source:`"), "{e}");
}

#[test]
fn bad_urls_and_globs_are_located() {
    let e = err("connections:\n  main:\n    url: oracle://u:pw123@h/db\n");
    assert!(e.starts_with("seaway.yaml:2: connections.main.url:"), "{e}");
    assert!(!e.contains("pw123"), "{e}");
    let e = err("connections:\n  m: {url: 'sqlite://a'}\ntables:\n  include:\n    - 'Inv[oice'\n");
    assert!(e.starts_with("seaway.yaml:5: tables.include: `Inv[oice` is not a valid glob"), "{e}");
}

#[test]
fn mapping_types_use_the_neutral_grammar() {
    let e = err("connections:\n  m: {url: 'sqlite://a'}\nmappings:\n  Invoice:\n    types:\n      Total: money\n");
    assert!(e.contains("mappings.Invoice.types.Total: `money` is not a neutral type"), "{e}");
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
