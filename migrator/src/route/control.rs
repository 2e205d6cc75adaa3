//! Setting a service's share of traffic, rolling it back, and reading where it stands.
//!
//! Every change is a runtime command on the service's backend (weights, or the
//! service server's state), followed by a save of HAProxy's server state to the state
//! file that its config loads at start.

use super::RouteError;
use super::admin::Admin;
use super::stats::{self, ServerStats};
use seaway_codegen::config::did_you_mean;
use seaway_codegen::config::routing::{Route, Routing, Strategy};
use seaway_codegen::route::{MONOLITH_SERVER, SERVICE_SERVER, backend, weights};
use std::path::PathBuf;

/// One routed service and the HAProxy that routes it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub route: Route,
    pub admin: Admin,
    pub state_file: PathBuf,
}

impl Target {
    /// The routed service `name` of `routing`.
    pub fn new(routing: &Routing, name: &str) -> Result<Target, RouteError> {
        let Some(route) = routing.services.get(name) else {
            let known: Vec<&str> = routing.services.keys().map(String::as_str).collect();
            return Err(RouteError::UnknownService {
                name: name.to_string(),
                hint: did_you_mean(name, known.iter().copied()),
                known: known.join(", "),
            });
        };
        Ok(Target {
            name: name.to_string(),
            route: route.clone(),
            admin: Admin::new(&routing.resolve(&routing.admin_socket)),
            state_file: routing.resolve(&routing.state_file),
        })
    }

    fn backend(&self) -> &str {
        backend(&self.name)
    }

    fn set_server(&self, server: &str, what: &str) -> Result<(), RouteError> {
        self.admin
            .run(&format!("set server {}/{server} {what}", self.backend()))
    }

    /// Sends `percent` of the service's traffic to it. Weights change first, then a
    /// service left in maintenance by a rollback is made ready again, so it never takes
    /// more than `percent`. For blue_green, one state change switches all traffic.
    pub fn set(&self, percent: u8) -> Result<(), RouteError> {
        if percent > 100 {
            return Err(RouteError::Percent(percent.into()));
        }
        if self.route.strategy == Strategy::BlueGreen {
            let state = match percent {
                0 => "maint",
                100 => "ready",
                p => {
                    return Err(RouteError::AllOrNothing {
                        service: self.name.clone(),
                        percent: p,
                    });
                }
            };
            self.set_server(SERVICE_SERVER, &format!("state {state}"))?;
            return self.save_state();
        }
        let (monolith, service) = weights(percent);
        // Raise before lowering, so the pair never sums to 0 (which would refuse requests).
        if service > 0 {
            self.set_server(SERVICE_SERVER, &format!("weight {service}"))?;
            self.set_server(MONOLITH_SERVER, &format!("weight {monolith}"))?;
            self.set_server(SERVICE_SERVER, "state ready")?;
        } else {
            self.set_server(MONOLITH_SERVER, &format!("weight {monolith}"))?;
            self.set_server(SERVICE_SERVER, &format!("weight {service}"))?;
        }
        self.save_state()
    }

    /// Takes the service out at once: maintenance sends every request, sticky ones
    /// included, to the monolith (a weight of 0 alone would keep serving clients whose
    /// cookie names the service). Requests already at the service finish. The weights
    /// go back to 0% too, so making it ready later does not resume the old share.
    pub fn rollback(&self) -> Result<(), RouteError> {
        self.set_server(SERVICE_SERVER, "state maint")?;
        if self.route.strategy != Strategy::BlueGreen {
            let (monolith, service) = weights(0);
            self.set_server(MONOLITH_SERVER, &format!("weight {monolith}"))?;
            self.set_server(SERVICE_SERVER, &format!("weight {service}"))?;
        }
        self.save_state()
    }

    /// The two servers' rows of `show stat`: (monolith, service).
    pub fn stats(&self) -> Result<(ServerStats, ServerStats), RouteError> {
        let rows = stats::read(&self.admin)?;
        Ok((
            stats::find(&rows, self.backend(), MONOLITH_SERVER)?.clone(),
            stats::find(&rows, self.backend(), SERVICE_SERVER)?.clone(),
        ))
    }

    /// The service's current share in percent (0 while in maintenance).
    pub fn percent(&self) -> Result<u8, RouteError> {
        let (monolith, service) = self.stats()?;
        Ok(percent_of(self.route.strategy, &monolith, &service))
    }

    /// Writes `show servers state` to the state file (through a temporary file and a
    /// rename, so HAProxy never reads half of it).
    pub fn save_state(&self) -> Result<(), RouteError> {
        let text = self.admin.send("show servers state")?;
        let fail = |source| RouteError::StateFile {
            path: self.state_file.clone(),
            source,
        };
        if let Some(dir) = self.state_file.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.state_file.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, &self.state_file).map_err(fail)
    }
}

/// The share of traffic the service gets with these two rows.
pub fn percent_of(strategy: Strategy, monolith: &ServerStats, service: &ServerStats) -> u8 {
    if service.in_maintenance() {
        return 0;
    }
    if strategy == Strategy::BlueGreen {
        return 100;
    }
    let total = monolith.weight + service.weight;
    (service.weight * 100 + total / 2)
        .checked_div(total)
        .map_or(0, |p| p.min(100) as u8)
}
