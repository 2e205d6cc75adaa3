//! `seaway.yaml` exactly as written: serde types with no validation beyond shape.
//!
//! Kept apart from the validated `Config` (ripgrep's low-level/high-level args
//! split) so that every check with a user-facing message lives in one place, and so that
//! `${VAR}` is expanded after parsing: a secret containing `#` or `: ` can never change
//! the YAML's structure.
//!
//! Every map keyed by a user-chosen name is a [`UniqueMap`], so a name written twice is
//! an error rather than the last one silently winning.

use super::unique_map::UniqueMap;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub connections: UniqueMap<String, RawConnection>,
    pub source: Option<String>,
    pub destination: Option<String>,
    #[serde(default)]
    pub tables: RawTables,
    #[serde(default)]
    pub mappings: UniqueMap<String, RawMapping>,
    pub output: Option<String>,
    #[serde(default)]
    pub naming: super::naming::Naming,
    #[serde(default)]
    pub allow_lossy: Vec<String>,
    #[serde(default)]
    pub transfer: RawTransfer,
    #[serde(default)]
    pub services: RawServices,
    /// `routing:`: how `codegen route` and `migrator route` move traffic to the services.
    pub routing: Option<RawRouting>,
    /// `server:`: `migrator serve`'s access and reach.
    #[serde(default)]
    pub server: RawServer,
    /// `notify:`: where `migrator serve` reports finished jobs.
    #[serde(default)]
    pub notify: RawNotify,
    /// `sync:`: which way `migrator sync` goes, and conflict rules both ways.
    #[serde(default)]
    pub sync: RawSync,
}

/// `server:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub allow_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub tokens: Vec<RawToken>,
}

/// `server.tokens[]` as written: a token is stored only as its SHA-256.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: String,
    pub role: super::kinds::Role,
    pub sha256: String,
}

/// `notify:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub webhook: Option<String>,
}

/// `routing:` as written (validated in `routing_check.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    pub listen: String,
    pub monolith: String,
    pub admin_socket: Option<String>,
    pub state_file: Option<String>,
    pub check_interval_ms: Option<u64>,
    #[serde(default)]
    pub services: UniqueMap<String, RawRoute>,
}

/// `routing.services.<name>:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub address: String,
    #[serde(default)]
    pub strategy: super::routing::Strategy,
    #[serde(default)]
    pub sticky: bool,
    pub canary_key: Option<String>,
    pub flag: Option<RawFlag>,
}

/// `routing.services.<name>.flag:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlag {
    pub header: Option<String>,
    pub cookie: Option<String>,
    pub value: String,
}

/// `services:`: how `codegen generate` cuts the source into REST services.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServices {
    /// Table -> service name; wins over detection.
    #[serde(default)]
    pub pin: UniqueMap<String, String>,
    /// Table -> name of the detected service that holds it.
    #[serde(default)]
    pub names: UniqueMap<String, String>,
    pub max_tables: Option<usize>,
    pub lookup_referrers: Option<usize>,
    #[serde(default)]
    pub database_naming: super::naming::Naming,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransfer {
    #[serde(default)]
    pub mode: super::kinds::TransferMode,
    #[serde(default)]
    pub zero_dates: super::kinds::ZeroDates,
    pub state: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    pub url: String,
    pub schema: Option<String>,
    /// Seconds to wait for a connection before giving up.
    pub connect_timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTables {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub target: Option<String>,
    #[serde(default)]
    pub columns: UniqueMap<String, String>,
    #[serde(default)]
    pub mask: UniqueMap<String, super::kinds::Mask>,
    #[serde(rename = "where")]
    pub filter: Option<String>,
    #[serde(default)]
    pub types: UniqueMap<String, String>,
    pub watermark: Option<String>,
    pub key: Option<Vec<String>>,
    #[serde(default)]
    pub append_only: bool,
}

/// `sync:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    #[serde(default)]
    pub direction: super::sync::Direction,
    #[serde(default)]
    pub tables: UniqueMap<String, RawConflicts>,
}

/// `sync.tables.<table>` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConflicts {
    pub priority: Option<super::sync::SyncSide>,
    pub version_column: Option<String>,
    #[serde(default)]
    pub columns: UniqueMap<String, super::sync::ColumnRule>,
    pub delete_wins: Option<bool>,
}
