//! Validating `routing:` (the types are `routing.rs`): part of the config builder.

use super::routing::*;
use super::{Builder, ConfigError, find_line_after_text, line_of_child, line_of_key, raw};
use std::collections::BTreeMap;

impl Builder<'_> {
    pub(super) fn routing(
        &self,
        raw: Option<raw::RawRouting>,
    ) -> Result<Option<Routing>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let top = line_of_key(self.text, "routing");
        let at = |needle: &str| find_line_after_text(self.text, top, needle);
        let listen = self.expand("routing.listen", &raw.listen)?;
        check_address("routing.listen", &listen).map_err(|m| self.err(at("listen:"), m))?;
        let monolith = self.expand("routing.monolith", &raw.monolith)?;
        check_address("routing.monolith", &monolith).map_err(|m| self.err(at("monolith:"), m))?;
        let mut paths = Vec::new();
        for (key, value, default) in [
            ("admin_socket", &raw.admin_socket, "haproxy.sock"),
            ("state_file", &raw.state_file, "haproxy.state"),
        ] {
            let v = match value {
                Some(v) => self.expand(&format!("routing.{key}"), v)?,
                None => format!("{DEFAULT_ROUTE_DIR}/{default}"),
            };
            check_path(&format!("routing.{key}"), &v)
                .map_err(|m| self.err(at(&format!("{key}:")), m))?;
            paths.push(v);
        }
        let state_file = paths.pop().unwrap_or_default();
        let admin_socket = paths.pop().unwrap_or_default();
        let check_interval_ms = match raw.check_interval_ms {
            Some(n) if n < 100 => {
                return Err(self.err(
                    at("check_interval_ms:"),
                    "routing.check_interval_ms must be at least 100",
                ));
            }
            Some(n) => n,
            None => DEFAULT_CHECK_INTERVAL_MS,
        };
        let mut services = BTreeMap::new();
        for (name, r) in raw.services {
            let line = line_of_child(self.text, "services", &name).max(top);
            let key = |k: &str| format!("routing.services.{name}.{k}");
            let fail = |m: String| self.err(line, m);
            super::check_service_name(&name).map_err(|m| fail(format!("routing.services: {m}")))?;
            let address = self.expand(&key("address"), &r.address)?;
            check_address(&key("address"), &address).map_err(fail)?;
            let canary_key = match (&r.canary_key, r.strategy) {
                (Some(_), s) if s != Strategy::Canary => {
                    return Err(fail(format!(
                        "{}: only `strategy: canary` hashes clients; this service is `{}`",
                        key("canary_key"),
                        s.as_str()
                    )));
                }
                (None, Strategy::Canary) => Some(CanaryKey::Cookie("seaway_client".into())),
                (Some(k), _) if k == "address" => Some(CanaryKey::Address),
                (Some(k), _) => match k.strip_prefix("cookie:") {
                    Some(c) => {
                        check_token(&key("canary_key"), c).map_err(fail)?;
                        Some(CanaryKey::Cookie(c.to_string()))
                    }
                    None => {
                        return Err(fail(format!(
                            "{}: `{k}` must be `address` or `cookie:<name>`",
                            key("canary_key")
                        )));
                    }
                },
                (None, _) => None,
            };
            let flag = match (r.flag, r.strategy) {
                (Some(_), s) if s != Strategy::FeatureFlag => {
                    return Err(fail(format!(
                        "{}: a flag needs `strategy: feature_flag`; this service is `{}`",
                        key("flag"),
                        s.as_str()
                    )));
                }
                (None, Strategy::FeatureFlag) => {
                    return Err(fail(format!(
                        "{}: `strategy: feature_flag` needs `flag: {{ header: <name>, value: <value> }}` (or `cookie:` instead of `header:`)",
                        key("flag")
                    )));
                }
                (Some(f), _) => {
                    let source = match (f.header, f.cookie) {
                        (Some(h), None) => {
                            check_token(&key("flag.header"), &h).map_err(fail)?;
                            FlagSource::Header(h)
                        }
                        (None, Some(c)) => {
                            check_token(&key("flag.cookie"), &c).map_err(fail)?;
                            FlagSource::Cookie(c)
                        }
                        _ => {
                            return Err(fail(format!(
                                "{}: name exactly one of `header:` and `cookie:`",
                                key("flag")
                            )));
                        }
                    };
                    let value = self.expand(&key("flag.value"), &f.value)?;
                    check_token(&key("flag.value"), &value).map_err(fail)?;
                    Some(Flag { source, value })
                }
                (None, _) => None,
            };
            if r.sticky && matches!(r.strategy, Strategy::Canary | Strategy::BlueGreen) {
                return Err(fail(format!(
                    "{}: `{}` already keeps each client on one side; `sticky` is for percentage and feature_flag",
                    key("sticky"),
                    r.strategy.as_str()
                )));
            }
            services.insert(
                name,
                Route {
                    address,
                    strategy: r.strategy,
                    sticky: r.sticky,
                    canary_key,
                    flag,
                    line,
                },
            );
        }
        Ok(Some(Routing {
            listen,
            monolith,
            admin_socket,
            state_file,
            check_interval_ms,
            services,
            base: self.dir.clone(),
        }))
    }
}

/// `host:port`, with a port in 1..=65535 and a host of letters, digits, `.`, `-`, `:`
/// (IPv6 in brackets) only.
fn check_address(key: &str, v: &str) -> Result<(), String> {
    let bad = || format!("{key}: `{v}` is not `host:port` (e.g. `127.0.0.1:8081`)");
    let (host, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A header or cookie name (an HTTP token without the characters HAProxy treats specially).
fn check_token(key: &str, v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key}: `{v}` may use only letters, digits, `-`, `_` and `.`"
        ))
    }
}

/// A path for HAProxy: no whitespace, quotes or `#`, which its config syntax would split on.
fn check_path(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '#'))
    {
        Err(format!(
            "{key}: `{v}` must be a non-empty path without spaces, quotes or `#`"
        ))
    } else {
        Ok(())
    }
}
