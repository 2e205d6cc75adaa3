//! Names that `codegen route` writes into `haproxy.cfg` and `migrator route` addresses
//! through HAProxy's admin socket; kept in one place so the two cannot drift apart.

/// Each routed service has a backend named after it, holding these two servers.
pub const MONOLITH_SERVER: &str = "monolith";
pub const SERVICE_SERVER: &str = "service";

/// The backend of service `name`.
pub fn backend(name: &str) -> &str {
    name
}

/// Weight of the pair's servers at `percent` of traffic to the service: they sum to 100,
/// so a weight is the percentage (HAProxy weights go up to 256).
pub fn weights(percent: u8) -> (u8, u8) {
    let p = percent.min(100);
    (100 - p, p)
}

/// The sticky-session cookie of service `name` (`SEAWAY_CATALOG`).
pub fn sticky_cookie(name: &str) -> String {
    format!("SEAWAY_{}", name.to_ascii_uppercase())
}
