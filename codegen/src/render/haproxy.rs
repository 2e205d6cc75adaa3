//! `<output>/route/haproxy.cfg`: the HAProxy config that puts the monolith and the
//! generated services behind one address (`codegen route`), rendered from
//! `templates/route/haproxy.cfg`.
//!
//! Every strategy keeps its run-time state in server weights and maintenance states,
//! never in maps or ACL files, because those are what HAProxy's server-state file saves:
//! a restarted HAProxy comes back with the traffic split `migrator route` left.

use super::{RenderError, one_newline};
use crate::config::routing::{CanaryKey, FlagSource, Routing};
use crate::snapshot_io::OutputFile;
use askama::Template;
use std::path::Path;

#[derive(Debug)]
struct BackendView {
    name: String,
    strategy: &'static str,
    address: String,
    /// Resource names, each served at `/<name>` and `/<name>/...`.
    resources: Vec<String>,
    sticky: bool,
    cookie: String,
    /// `Some(cookie)` for a canary by cookie; `None` by address (or not a canary).
    canary_cookie: Option<String>,
    /// The condition that marks a flagged request, in HAProxy's syntax.
    flag_acl: Option<String>,
}

#[derive(Template)]
#[template(path = "route/haproxy.cfg", escape = "none")]
struct HaproxyCfg<'a> {
    monolith: &'a str,
    listen: &'a str,
    admin_socket: &'a str,
    state_file: &'a str,
    check_interval_ms: u64,
    cfg_path: &'a str,
    backends: &'a [BackendView],
}

/// The config for `routing`, given each routed service's resource names (from the same
/// API model the crates are generated from). `output_name` is the output folder's name,
/// for the comment showing how to start HAProxy.
pub fn render(
    routing: &Routing,
    resources: &[(String, Vec<String>)],
    output: &Path,
    output_name: &str,
) -> Result<OutputFile, RenderError> {
    let mut backends = Vec::new();
    for (name, names) in resources {
        let Some(route) = routing.services.get(name) else {
            continue;
        };
        let flag_acl = route.flag.as_ref().map(|f| match &f.source {
            FlagSource::Header(h) => format!("req.hdr({h}) -m str {}", f.value),
            FlagSource::Cookie(c) => format!("req.cook({c}) -m str {}", f.value),
        });
        let canary_cookie = match &route.canary_key {
            Some(CanaryKey::Cookie(c)) => Some(c.clone()),
            _ => None,
        };
        backends.push(BackendView {
            name: crate::route::backend(name).to_string(),
            strategy: route.strategy.as_str(),
            address: route.address.clone(),
            resources: names.clone(),
            sticky: route.sticky,
            cookie: crate::route::sticky_cookie(name),
            canary_cookie,
            flag_acl,
        });
    }
    let text = HaproxyCfg {
        monolith: &routing.monolith,
        listen: &routing.listen,
        admin_socket: &routing.admin_socket,
        state_file: &routing.state_file,
        check_interval_ms: routing.check_interval_ms,
        cfg_path: &format!("{output_name}/route/haproxy.cfg"),
        backends: &backends,
    }
    .render()
    .map_err(|source| RenderError::Template {
        template: "route/haproxy.cfg",
        source,
    })?;
    Ok(OutputFile {
        path: output.join("route").join("haproxy.cfg"),
        contents: one_newline(text),
    })
}
