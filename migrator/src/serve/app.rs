//! What every request handler shares: the config, the tokens and sessions, the jobs
//! store and runner, the SSE hub and the allow list.

use super::allow_hosts::AllowHosts;
use super::auth::{Auth, HasAuth};
use super::events::Hub;
use super::jobs::Jobs;
use super::store::JobStore;
use seaway_codegen::config::Config;
use std::sync::Arc;

/// Everything a request handler may use.
#[derive(Debug)]
pub struct App {
    /// The server's config: the connections jobs may name.
    pub config: Config,
    pub auth: Auth,
    pub store: JobStore,
    pub jobs: Arc<Jobs>,
    pub hub: Hub,
    pub allow: AllowHosts,
}

impl HasAuth for Arc<App> {
    fn auth(&self) -> &Auth {
        &self.auth
    }
}
