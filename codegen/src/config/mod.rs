//! `seaway.yaml`: parsed, `${VAR}`-expanded and validated into typed settings.
//!
//! Every error here names the file and line at fault and, for a misspelt key or name,
//! the closest valid one. Checks that need the live source (does the mapped table
//! exist?) are in [`validate`], run after introspection.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

mod interpolate;
mod kinds;
mod naming;
mod raw;
pub mod routing;
mod routing_check;
pub mod sync;
mod unique_map;
pub mod validate;

pub use interpolate::VarSource;
pub use kinds::{Mask, Role, TransferMode, ZeroDates};
pub use naming::Naming;

use interpolate::ExpandError;

use crate::dburl::{DbUrl, UrlError};
use crate::model::NeutralType;
use globset::{Glob, GlobBuilder, GlobMatcher};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default wait for a connection: long enough for a slow network, short enough that an
/// unreachable host is reported while the user is still looking.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, as given.
    pub path: PathBuf,
    pub connections: BTreeMap<String, Connection>,
    /// Name of the source connection.
    pub source: String,
    pub destination: Option<String>,
    pub tables: TableFilter,
    pub mappings: BTreeMap<String, Mapping>,
    /// Folder for generated files, resolved against the config's folder.
    pub output: PathBuf,
    /// How destination names derive from source names.
    pub naming: Naming,
    /// `table.column` patterns (source names) whose lossy casts are accepted.
    pub allow_lossy: Vec<Pattern>,
    pub transfer_mode: TransferMode,
    pub zero_dates: ZeroDates,
    /// `transfer.state`: the PostgreSQL connection holding the transfer state, instead
    /// of the SQLite file `.seaway/state.sqlite`.
    pub state: Option<String>,
    pub services: Services,
    /// `routing:`, when traffic is routed between the monolith and the services.
    pub routing: Option<routing::Routing>,
    /// `server:`: who may use `migrator serve` and which hosts it may reach.
    pub server: Server,
    /// `notify.webhook`: posted a summary when a `migrator serve` job ends. It often
    /// carries a token in its path or query, so it is printed only redacted.
    pub webhook: Option<String>,
    /// `sync:`: which way `migrator sync` goes, and per-table conflict rules both ways.
    pub sync: sync::SyncSettings,
    text: String,
}

/// `server:` validated.
#[derive(Debug, Clone, Default)]
pub struct Server {
    /// `server.allow_hosts`: the only hosts `/test-connection` and `/migrate` connect to;
    /// `None` means the hosts of the configured connections.
    pub allow_hosts: Option<Vec<String>>,
    pub tokens: Vec<ServerToken>,
}

/// A bearer token from `server.tokens`, kept as the SHA-256 of the token (hex).
#[derive(Debug, Clone)]
pub struct ServerToken {
    /// Who holds it: named in the audit log.
    pub name: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the token text.
    pub sha256: String,
}

/// `services:` validated: names are safe crate and folder names.
#[derive(Debug, Clone)]
pub struct Services {
    /// Table -> (service, line in the config).
    pub pin: BTreeMap<String, (String, usize)>,
    /// Table -> (service name for the detected service holding it, line).
    pub names: BTreeMap<String, (String, usize)>,
    /// A detected service with more tables than this is split at its weakest links.
    pub max_tables: usize,
    /// A table referenced from at least this many other tables, and referencing none,
    /// is a lookup: owned by one service, referenced by id from the rest.
    pub lookup_referrers: usize,
    /// How the services' database names derive from the source's (the services may
    /// serve a copy of the source written with `naming: snake_case`).
    pub database_naming: Naming,
}

/// Default for `services.max_tables`: a service a small team can own.
pub const DEFAULT_MAX_SERVICE_TABLES: usize = 12;
/// Default for `services.lookup_referrers`.
pub const DEFAULT_LOOKUP_REFERRERS: usize = 3;

impl Default for Services {
    fn default() -> Services {
        Services {
            pin: BTreeMap::new(),
            names: BTreeMap::new(),
            max_tables: DEFAULT_MAX_SERVICE_TABLES,
            lookup_referrers: DEFAULT_LOOKUP_REFERRERS,
            database_naming: Naming::Preserve,
        }
    }
}

/// A service name becomes a folder, a crate name (`<name>-service`) and a Rust module:
/// lowercase ASCII letters, digits and `_`, starting with a letter.
pub fn check_service_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "service name `{name}` must be lowercase ASCII letters, digits and `_`, starting with a letter (it names a folder and a crate)"
        ))
    }
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    pub url: DbUrl,
    /// PostgreSQL schema to read (default `public`).
    pub schema: Option<String>,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub target: Option<String>,
    pub columns: BTreeMap<String, String>,
    pub mask: BTreeMap<String, Mask>,
    /// Row filter in the source dialect's SQL; trusted, as it comes from the repository.
    pub filter: Option<String>,
    pub types: BTreeMap<String, NeutralType>,
    /// Column whose value only grows as rows change (e.g. `updated_at`), for
    /// `transfer.mode: incremental`.
    pub watermark: Option<String>,
    /// Source columns that identify a row of a table without a primary key; the
    /// destination gets a unique constraint on them and transfer upserts on it.
    pub key: Vec<String>,
    /// A table with neither primary key nor `key:` whose rows are only ever added: each
    /// transfer replaces the rows of its window (all of them, or the watermark's).
    pub append_only: bool,
    /// Line of the mapping's key in the config, for later error messages.
    pub line: usize,
}

/// `tables: { include, exclude }` compiled to matchers.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    pub include: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    pub line: usize,
    matcher: GlobMatcher,
}

impl Pattern {
    /// A pattern matching exactly `name` (glob characters in it are taken literally):
    /// for selecting tables by name outside the config file (`migrator serve`'s jobs).
    pub fn literal(name: &str) -> Result<Pattern, String> {
        let glob = GlobBuilder::new(&globset::escape(name))
            .case_insensitive(true)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("table name `{name}`: {}", e.kind()))?;
        Ok(Pattern {
            text: name.to_string(),
            line: 0,
            matcher: glob.compile_matcher(),
        })
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

impl TableFilter {
    /// True when `name` is selected: matched by an include (or there are none) and by no exclude.
    pub fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.is_match(name)))
            && !self.exclude.iter().any(|p| p.is_match(name))
    }
}

/// A configuration error, always located in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), location(*line, *column))]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the fault has no line (the file is missing).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn location(line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, 0) => format!(":{l}"),
        (l, c) => format!(":{l}:{c}"),
    }
}

impl Config {
    /// Reads and validates the config at `path`, with `${VAR}` taken from the environment
    /// and from a `.env` beside the config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            #[expect(
                clippy::wildcard_enum_match_arm,
                reason = "only a missing file has advice of its own; every other I/O error is shown as it is"
            )]
            message: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "config file not found (pass --config <path>, or run from the folder holding seaway.yaml)".into()
                }
                _ => format!("cannot read config file: {e}"),
            },
        })?;
        let dir = base_dir(path);
        let vars = VarSource::load(&dir).map_err(|message| ConfigError {
            path: path.into(),
            line: 0,
            column: 0,
            message,
        })?;
        Config::from_text(path, &text, &vars)
    }

    /// Parses config text as if read from `path` (which only names it in errors and
    /// anchors relative paths).
    pub fn from_text(path: &Path, text: &str, vars: &VarSource) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig =
            serde_yaml::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
        Builder {
            path,
            text,
            vars,
            dir: base_dir(path),
        }
        .build(raw)
    }

    /// The 1-based line where `key:` first appears as a mapping key, 0 if not found.
    pub fn line_of_key(&self, key: &str) -> usize {
        line_of_key(&self.text, key)
    }

    /// True when `allow_lossy` accepts a lossy cast of source `table.column`.
    pub fn allows_lossy(&self, table: &str, column: &str) -> bool {
        let key = format!("{table}.{column}");
        self.allow_lossy.iter().any(|p| p.is_match(&key))
    }

    /// The destination connection, or an error saying `destination:` is needed for `what`.
    pub fn destination_connection(&self, what: &str) -> Result<&Connection, ConfigError> {
        match &self.destination {
            Some(name) => Ok(&self.connections[name]),
            None => Err(self.error_at(
                0,
                format!("{what} needs a `destination:` naming the connection to write to"),
            )),
        }
    }

    /// The connections' names, for messages: `a, b, c`.
    pub fn connection_names(&self) -> String {
        self.connections
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn source_connection(&self) -> &Connection {
        // `build` guarantees the source names a connection.
        &self.connections[&self.source]
    }

    pub fn error_at(&self, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.clone(),
            line,
            column: 0,
            message: message.into(),
        }
    }
}

fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) => p.to_path_buf(),
        // Cannot happen for a file path; the working directory is the sensible fallback.
        None => PathBuf::new(),
    }
}

struct Builder<'a> {
    path: &'a Path,
    text: &'a str,
    vars: &'a VarSource,
    dir: PathBuf,
}

impl Builder<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            line,
            column: 0,
            message: message.into(),
        }
    }

    /// Expands `${VAR}` in the value of `key` (a dotted path, for the message).
    fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        self.vars.expand(value).map_err(|e| {
            let line = find_line(self.text, &e.needle());
            let message = match e {
                ExpandError::Unterminated { body } => {
                    format!("{key}: `${{{body}` has no closing `}}`")
                }
                ExpandError::NoName { spec } => format!(
                    "{key}: `${{{spec}}}` names no variable; write `${{NAME}}`, or `$$` for a literal `$`"
                ),
                ExpandError::Unset { name } => {
                    let from = match &self.vars.dotenv_path {
                        Some(p) => format!("nor in {}", p.display()),
                        None => "and there is no .env file beside the config".to_string(),
                    };
                    format!(
                        "{key}: environment variable `{name}` is not set in the environment {from}; export it or add `{name}=...` to .env"
                    )
                }
            };
            self.err(line, message)
        })
    }

    fn build(self, raw: raw::RawConfig) -> Result<Config, ConfigError> {
        if raw.connections.is_empty() {
            return Err(self.err(
                line_of_key(self.text, "connections"),
                "`connections` is empty; name at least one database",
            ));
        }
        let mut connections = BTreeMap::new();
        for (name, rc) in &raw.connections {
            check_connection_name(name)
                .map_err(|m| self.err(line_of_child(self.text, "connections", name), m))?;
            let key = format!("connections.{name}.url");
            let url_text = self.expand(&key, &rc.url)?;
            let line = line_of_child(self.text, "connections", name);
            let url = DbUrl::parse(&url_text, &self.dir)
                .map_err(|e: UrlError| self.err(line, format!("{key}: {e}")))?;
            let schema = rc
                .schema
                .as_deref()
                .map(|s| self.expand(&format!("connections.{name}.schema"), s))
                .transpose()?;
            // Only PostgreSQL connections have schemas of their own.
            let schemas = match url.dialect() {
                crate::model::Dialect::Postgres => true,
                crate::model::Dialect::Mysql | crate::model::Dialect::Sqlite => false,
            };
            if schema.is_some() && !schemas {
                return Err(self.err(line, format!(
                    "connections.{name}.schema: only PostgreSQL connections have schemas; for {} the database in the URL is the schema",
                    url.dialect()
                )));
            }
            let connect_timeout = match rc.connect_timeout {
                Some(0) => {
                    return Err(self.err(
                        line,
                        format!("connections.{name}.connect_timeout must be at least 1 second"),
                    ));
                }
                Some(s) => Duration::from_secs(s),
                None => DEFAULT_CONNECT_TIMEOUT,
            };
            connections.insert(
                name.clone(),
                Connection {
                    name: name.clone(),
                    url,
                    schema,
                    connect_timeout,
                },
            );
        }

        let names: Vec<&str> = connections.keys().map(String::as_str).collect();
        let pick = |key: &str, value: &Option<String>| -> Result<Option<String>, ConfigError> {
            let Some(v) = value else { return Ok(None) };
            let v = self.expand(key, v)?;
            if connections.contains_key(&v) {
                Ok(Some(v))
            } else {
                Err(self.err(
                    line_of_key(self.text, key),
                    format!(
                        "{key}: `{v}` is not a connection{}; connections are: {}",
                        did_you_mean(&v, names.iter().copied()),
                        names.join(", ")
                    ),
                ))
            }
        };
        let source = match pick("source", &raw.source)? {
            Some(s) => s,
            None if connections.len() == 1 => names[0].to_string(),
            None => {
                return Err(self.err(0, format!(
                    "no `source:`; with several connections, name the one to read from (one of: {})",
                    names.join(", ")
                )));
            }
        };
        let destination = pick("destination", &raw.destination)?;

        let state = match &raw.transfer.state {
            None => None,
            Some(v) => {
                let line =
                    find_line_after_text(self.text, line_of_key(self.text, "transfer"), "state:");
                let v = self.expand("transfer.state", v)?;
                let Some(conn) = connections.get(&v) else {
                    return Err(self.err(
                        line,
                        format!(
                            "transfer.state: `{v}` is not a connection{}; connections are: {}",
                            did_you_mean(&v, names.iter().copied()),
                            names.join(", ")
                        ),
                    ));
                };
                // migrator's shared state store (transfer/state.rs) is written for
                // PostgreSQL only.
                if !conn.url.dialect().holds_shared_state() {
                    return Err(self.err(line, format!(
                        "transfer.state: connection `{v}` is {:?}, but a shared transfer state must be in PostgreSQL (without `transfer.state`, it is the SQLite file .seaway/state.sqlite beside the config)",
                        conn.url.dialect()
                    )));
                }
                Some(v)
            }
        };

        let tables = TableFilter {
            include: self.patterns("tables.include", &raw.tables.include)?,
            exclude: self.patterns("tables.exclude", &raw.tables.exclude)?,
        };

        let mut mappings = BTreeMap::new();
        for (table, rm) in raw.mappings {
            let line = line_of_child(self.text, "mappings", &table);
            let at = |k: &str| format!("mappings.{table}.{k}");
            let mut types = BTreeMap::new();
            for (col, ty) in &rm.types {
                let ty = self.expand(&at("types"), ty)?;
                let parsed = NeutralType::parse(&ty).map_err(|e| {
                    self.err(
                        find_line(self.text, &ty).max(line),
                        format!("{}.{col}: {e}", at("types")),
                    )
                })?;
                types.insert(col.clone(), parsed);
            }
            let mut columns = BTreeMap::new();
            for (from, to) in &rm.columns {
                columns.insert(from.clone(), self.expand(&at("columns"), to)?);
            }
            if rm.key.as_ref().is_some_and(Vec::is_empty) {
                return Err(self.err(
                    find_line_after_text(self.text, line, "key"),
                    format!("{}: name at least one column, e.g. `key: [id]`", at("key")),
                ));
            }
            if rm.key.is_some() && rm.append_only {
                return Err(self.err(
                    find_line_after_text(self.text, line, "append_only"),
                    format!(
                        "mappings.{table}: `key:` and `append_only: true` exclude each other: with a key, rows are matched and updated; append_only is for tables with no key at all"
                    ),
                ));
            }
            let mapping = Mapping {
                target: rm
                    .target
                    .as_deref()
                    .map(|t| self.expand(&at("target"), t))
                    .transpose()?,
                columns,
                mask: rm.mask.into_inner(),
                filter: rm
                    .filter
                    .as_deref()
                    .map(|w| self.expand(&at("where"), w))
                    .transpose()?,
                types,
                watermark: rm.watermark.clone(),
                key: rm.key.clone().unwrap_or_default(),
                append_only: rm.append_only,
                line,
            };
            mappings.insert(table, mapping);
        }

        let output = match &raw.output {
            Some(o) => self.dir.join(self.expand("output", o)?),
            None => self.dir.join("generated"),
        };

        let allow_lossy = self.patterns("allow_lossy", &raw.allow_lossy)?;
        for p in &allow_lossy {
            if !p.text.contains('.') {
                return Err(self.err(p.line, format!("allow_lossy: `{}` must be `table.column` (globs allowed, e.g. `Invoice.*`)", p.text)));
            }
        }
        let services = self.services(raw.services)?;
        let routing = self.routing(raw.routing)?;
        let server = self.server(raw.server)?;
        let webhook = raw
            .notify
            .webhook
            .as_deref()
            .map(|w| self.expand("notify.webhook", w))
            .transpose()?;
        if let Some(w) = &webhook
            && !(w.starts_with("http://") || w.starts_with("https://"))
        {
            return Err(self.err(
                line_of_key(self.text, "webhook"),
                "notify.webhook must be an http:// or https:// URL",
            ));
        }
        let sync = self.sync(raw.sync)?;
        let config = Config {
            sync,
            routing,
            server,
            webhook,
            path: self.path.to_path_buf(),
            services,
            naming: raw.naming,
            transfer_mode: raw.transfer.mode,
            zero_dates: raw.transfer.zero_dates,
            state,
            allow_lossy,
            connections,
            source,
            destination,
            tables,
            mappings,
            output,
            text: self.text.to_string(),
        };
        if config.sync.direction == sync::Direction::Both
            && let Some(refusal) = config.both_ways_refusal()
        {
            return Err(refusal);
        }
        Ok(config)
    }

    fn server(&self, raw: raw::RawServer) -> Result<Server, ConfigError> {
        let allow_hosts = match raw.allow_hosts {
            None => None,
            Some(hosts) => Some(
                hosts
                    .iter()
                    .map(|h| {
                        self.expand("server.allow_hosts", h)
                            .map(|h| h.trim().to_ascii_lowercase())
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let mut tokens = Vec::new();
        for t in raw.tokens {
            let line = find_line(self.text, &t.sha256).max(line_of_key(self.text, "tokens"));
            let sha = t.sha256.trim().to_ascii_lowercase();
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(self.err(
                    line,
                    format!(
                        "server.tokens: token `{}`: sha256 must be the 64 hex digits of the token's SHA-256 (`printf %s \"$TOKEN\" | sha256sum`); the token itself is never written in the config",
                        t.name
                    ),
                ));
            }
            tokens.push(ServerToken {
                name: t.name,
                role: t.role,
                sha256: sha,
            });
        }
        Ok(Server {
            allow_hosts,
            tokens,
        })
    }

    fn services(&self, raw: raw::RawServices) -> Result<Services, ConfigError> {
        let mut out = Services {
            database_naming: raw.database_naming,
            ..Services::default()
        };
        for (key, map, dest) in [
            ("pin", raw.pin, &mut out.pin),
            ("names", raw.names, &mut out.names),
        ] {
            for (table, service) in map {
                let line = line_of_child(self.text, key, &table);
                let service = self.expand(&format!("services.{key}.{table}"), &service)?;
                check_service_name(&service)
                    .map_err(|m| self.err(line, format!("services.{key}.{table}: {m}")))?;
                dest.insert(table, (service, line));
            }
        }
        for (key, value, dest) in [
            ("max_tables", raw.max_tables, &mut out.max_tables),
            (
                "lookup_referrers",
                raw.lookup_referrers,
                &mut out.lookup_referrers,
            ),
        ] {
            match value {
                Some(0) => {
                    return Err(self.err(
                        line_of_key(self.text, key),
                        format!("services.{key} must be at least 1"),
                    ));
                }
                Some(n) => *dest = n,
                None => {}
            }
        }
        Ok(out)
    }

    fn patterns(&self, key: &str, globs: &[String]) -> Result<Vec<Pattern>, ConfigError> {
        globs
            .iter()
            .map(|g| {
                let text = self.expand(key, g)?;
                let line = find_line(self.text, g);
                let glob: Glob = GlobBuilder::new(&text)
                    .case_insensitive(true)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| {
                        self.err(
                            line,
                            format!("{key}: `{text}` is not a valid glob: {}", e.kind()),
                        )
                    })?;
                Ok(Pattern {
                    text,
                    line,
                    matcher: glob.compile_matcher(),
                })
            })
            .collect()
    }
}

/// Turns a serde_yaml error into a located message: a file of the wrong shape (empty,
/// or not a mapping at the top) is said so plainly, a repeated key is located at its
/// second occurrence, and an unknown key comes with the closest valid one.
fn yaml_error(path: &Path, text: &str, e: &serde_yaml::Error) -> ConfigError {
    if let Some(shape) = shape_error(path, text) {
        return shape;
    }
    let (mut line, mut column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let full = e.to_string();
    // serde_yaml appends " at line L column C"; the location is already in our prefix.
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let message = if let Some((within, key)) = duplicate_key(&message) {
        // serde_yaml locates the error at the map's first key; point at the repeat.
        let (at, first) = repeated_key_lines(text, line, column, key);
        let first = first
            .map(|l| format!(" (first at line {l})"))
            .unwrap_or_default();
        if let Some((l, c)) = at {
            (line, column) = (l, c);
        }
        let within = within.map(|w| format!(" in `{w}`")).unwrap_or_default();
        format!("duplicate key `{key}`{within}{first}; each name may appear only once")
    } else if let Some((field, expected)) = unknown_field(&message) {
        let within = message
            .split_once(": unknown field")
            .map(|(p, _)| format!(" in `{p}`"))
            .unwrap_or_default();
        format!(
            "unknown key `{field}`{within}{}; valid keys here: {}",
            did_you_mean(&field, expected.iter().map(String::as_str)),
            expected.join(", ")
        )
    } else {
        message
    };
    ConfigError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// A located error for a file with nothing in it, or whose top level is not a mapping
/// (serde would say "missing field `connections`" or "invalid type: sequence, expected
/// struct RawConfig"); `None` when the file has the right shape.
fn shape_error(path: &Path, text: &str) -> Option<ConfigError> {
    let blank = |l: &str| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    };
    let Some(first) = text.lines().position(|l| !blank(l)) else {
        return Some(ConfigError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message:
                "the file is empty; a config needs at least `connections:` (see docs/config.md)"
                    .into(),
        });
    };
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(_)) | Err(_) => None,
        Ok(_) => {
            let indent = text
                .lines()
                .nth(first)
                .map_or(0, |l| l.len() - l.trim_start().len());
            Some(ConfigError {
                path: path.to_path_buf(),
                line: first + 1,
                column: indent + 1,
                message: "the top level must be a mapping of keys such as `connections:` (see docs/config.md)"
                    .into(),
            })
        }
    }
}

/// Splits `mappings: duplicate key `Invoice`` (from [`unique_map`]) into the key path
/// (`mappings`, absent at the top level) and the key.
fn duplicate_key(message: &str) -> Option<(Option<&str>, &str)> {
    let (within, rest) = match message.split_once(&format!(": {}", unique_map::DUPLICATE_KEY)) {
        Some((within, rest)) => (Some(within), rest),
        None => (None, message.strip_prefix(unique_map::DUPLICATE_KEY)?),
    };
    Some((within, rest.strip_suffix('`')?))
}

/// For a block mapping whose first key is at `line`:`column`, the (line, column) of
/// the second `key:` in it and the line of the first; `(None, None)` for flow style
/// (`{a: 1, a: 2}`) or when the key cannot be found, so the caller keeps serde's place.
fn repeated_key_lines(
    text: &str,
    line: usize,
    column: usize,
    key: &str,
) -> (Option<(usize, usize)>, Option<usize>) {
    let indent = column.saturating_sub(1);
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    let mut found = Vec::new();
    for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let this_indent = l.len() - trimmed.len();
        if this_indent < indent {
            break;
        }
        if this_indent == indent
            && forms.iter().any(|f| {
                trimmed
                    .strip_prefix(f.as_str())
                    .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
            })
        {
            found.push(i + 1);
        }
    }
    match found.as_slice() {
        [first, second, ..] => (Some((*second, indent + 1)), Some(*first)),
        _ => (None, None),
    }
}

/// Connection names become file names (`<output>/schema/<name>.yaml`,
/// `<output>/migrations/<name>/`), so they are kept to characters that are safe in a
/// path on every platform: a name such as `../x` or `a/b` would write elsewhere.
fn check_connection_name(name: &str) -> Result<(), String> {
    const RULE: &str = "connection names may use only letters, digits, `_` and `-`, because they name files (<output>/schema/<name>.yaml)";
    if name.is_empty() {
        return Err(format!(
            "connections: a connection has an empty name; {RULE}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "connections.{name}: connection name `{name}` contains `{bad}`; {RULE}"
        ));
    }
    Ok(())
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), expected))
}

/// `; did you mean `x`?` when a candidate is close enough to be a likely typo.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(wrong, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The candidate most similar to `wrong`, if any is similar enough to be a likely typo:
/// within a third of its length in edits (transpositions count once), or sharing a
/// long prefix (Jaro-Winkler).
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = wrong.to_lowercase();
    let budget = (lower.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter_map(|c| {
            let other = c.to_lowercase();
            let edits = strsim::damerau_levenshtein(&lower, &other);
            let jw = strsim::jaro_winkler(&lower, &other);
            (edits <= budget || jw >= 0.85).then_some((
                edits,
                std::cmp::Reverse((jw * 1e6) as u64),
                c,
            ))
        })
        .min()
        .map(|(_, _, c)| c)
}

/// 1-based line of the first line containing `needle`, 0 if none.
fn find_line(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

/// 1-based line where `key:` starts a line (ignoring indentation), 0 if none.
fn line_of_key(text: &str, key: &str) -> usize {
    let want = format!("{key}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&want))
        .map_or(0, |i| i + 1)
}

/// Line of `child:` inside the block `parent:`, falling back to the parent's line.
fn line_of_child(text: &str, parent: &str, child: &str) -> usize {
    let start = line_of_key(text, parent);
    let forms = [
        format!("{child}:"),
        format!("\"{child}\":"),
        format!("'{child}':"),
    ];
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| forms.iter().any(|f| l.trim_start().starts_with(f.as_str())))
        .map_or(start, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests;

/// Line of the first line at or after `from` that mentions `needle`, else `from`.
fn find_line_after_text(text: &str, from: usize, needle: &str) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map_or(from, |(i, _)| i + 1)
}
