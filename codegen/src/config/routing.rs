//! `routing:` validated: where the monolith and each service listen, and how traffic
//! moves between them (`codegen route` writes the HAProxy config, `migrator route`
//! changes weights at run time).
//!
//! Every value here ends up inside `haproxy.cfg`, so names and values are held to
//! characters that cannot break its syntax (no spaces, quotes or `#`).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Default `routing.admin_socket` and `routing.state_file` folder, beside the config and
/// outside `<output>`: the state changes at run time and is not reviewed in pull requests.
pub const DEFAULT_ROUTE_DIR: &str = ".seaway/route";
/// Default `routing.check_interval_ms`: a failed service is taken out within ~2 s.
pub const DEFAULT_CHECK_INTERVAL_MS: u64 = 1000;

/// How one service's share of traffic is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each request goes to the service with the set probability (weights).
    #[default]
    Percentage,
    /// A share of clients, by a hash of a client cookie or address: each client always
    /// sees one side, and stepping up only moves clients to the service.
    Canary,
    /// All or nothing, switched in one runtime operation.
    BlueGreen,
    /// Requests carrying the flag go to the service whatever the weights; the rest by weight.
    FeatureFlag,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Percentage => "percentage",
            Strategy::Canary => "canary",
            Strategy::BlueGreen => "blue_green",
            Strategy::FeatureFlag => "feature_flag",
        }
    }
}

/// What a canary hashes to pick a client's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanaryKey {
    /// A cookie; clients without it get one (a random id) on their first response.
    Cookie(String),
    /// The client's address (clients behind one NAT share a side).
    Address,
}

/// Where a feature flag is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagSource {
    Header(String),
    Cookie(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub source: FlagSource,
    /// The value that sends a request to the service (matched exactly).
    pub value: String,
}

/// One routed service.
#[derive(Debug, Clone)]
pub struct Route {
    /// `host:port` of the service.
    pub address: String,
    pub strategy: Strategy,
    /// A cookie keeps a client on the side it first got (percentage and feature_flag).
    pub sticky: bool,
    /// Set for `canary`.
    pub canary_key: Option<CanaryKey>,
    /// Set for `feature_flag`.
    pub flag: Option<Flag>,
    /// Line of the service's key in the config, for later errors.
    pub line: usize,
}

/// `routing:` validated.
#[derive(Debug, Clone)]
pub struct Routing {
    /// `host:port` HAProxy listens on for clients.
    pub listen: String,
    /// `host:port` of the monolith.
    pub monolith: String,
    /// HAProxy's admin socket, as written in the config (relative paths are relative to
    /// the config's folder, where HAProxy is started).
    pub admin_socket: String,
    /// HAProxy's server-state file, as written (same rule).
    pub state_file: String,
    pub check_interval_ms: u64,
    pub services: BTreeMap<String, Route>,
    /// The config's folder: relative paths above are resolved against it at run time.
    pub base: PathBuf,
}

impl Routing {
    /// `path` (admin socket or state file) as the running tools should open it.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.base.join(path)
    }
}
