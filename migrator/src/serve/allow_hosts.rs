//! Which hosts `/test-connection` and `/migrate` may connect to: `server.allow_hosts`,
//! or by default the hosts of the configured connections. A host outside the list is
//! refused before any lookup or connection, so whoever holds a token cannot use the
//! server to probe the network around it.

use super::problem::Problem;
use seaway_codegen::config::Config;
use std::time::Duration;

/// How long `/test-connection` and `/migrate` wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AllowHosts {
    /// Lowercase host names or addresses.
    hosts: Vec<String>,
    /// Where the list came from, for the refusal.
    origin: &'static str,
}

impl AllowHosts {
    pub fn from_config(config: &Config) -> AllowHosts {
        match &config.server.allow_hosts {
            Some(hosts) => AllowHosts {
                hosts: hosts.clone(),
                origin: "server.allow_hosts",
            },
            None => {
                let mut hosts: Vec<String> = config
                    .connections
                    .values()
                    .filter_map(|c| c.url.endpoint())
                    .map(|e| host_of(e).to_ascii_lowercase())
                    .collect();
                hosts.sort();
                hosts.dedup();
                AllowHosts {
                    hosts,
                    origin: "the hosts of the configured connections (set server.allow_hosts to change it)",
                }
            }
        }
    }

    /// Ok when `host` is on the list; otherwise a 400 saying which list refused it.
    pub fn check(&self, field: &str, host: &str) -> Result<(), Problem> {
        let wanted = host.trim().trim_start_matches('[').trim_end_matches(']');
        if self
            .hosts
            .iter()
            .any(|h| h.trim_start_matches('[').trim_end_matches(']') == wanted.to_ascii_lowercase())
        {
            return Ok(());
        }
        Err(Problem::bad_request(format!(
            "{field}: host `{host}` is not allowed; this server connects only to {} ({}), and made no connection",
            if self.hosts.is_empty() {
                "no host".to_string()
            } else {
                self.hosts.join(", ")
            },
            self.origin
        )))
    }
}

/// `host` of `host:port` (`[::1]:5432` gives `::1`).
fn host_of(endpoint: &str) -> &str {
    let host = match endpoint.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => endpoint,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_endpoints() {
        assert_eq!(host_of("db.example:5432"), "db.example");
        assert_eq!(host_of("[::1]:3306"), "::1");
        assert_eq!(host_of("127.0.0.1:5432"), "127.0.0.1");
    }

    #[test]
    fn refuses_hosts_off_the_list_and_says_which_list() {
        let allow = AllowHosts {
            hosts: vec!["127.0.0.1".into(), "db.internal".into()],
            origin: "server.allow_hosts",
        };
        assert!(allow.check("source.host", "127.0.0.1").is_ok());
        assert!(allow.check("source.host", "DB.internal").is_ok());
        let refused = allow.check("destination.host", "10.0.0.9").unwrap_err();
        assert_eq!(refused.status, 400);
        assert!(
            refused.detail.contains("destination.host"),
            "{}",
            refused.detail
        );
        assert!(
            refused.detail.contains("server.allow_hosts"),
            "{}",
            refused.detail
        );
    }
}
