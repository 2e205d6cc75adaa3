//! `show stat` (CSV) read into what the gates need: per server, its state, weight,
//! response counters, errors and average response time.

use super::RouteError;
use super::admin::Admin;

/// One server's row of `show stat`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerStats {
    pub backend: String,
    pub server: String,
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`, or a transition such as `UP 1/2`.
    pub status: String,
    pub weight: u32,
    /// Sessions open now.
    pub current: u64,
    /// Responses received from the server (all `hrsp_*`).
    pub responses: u64,
    pub http_5xx: u64,
    /// Connections the server refused or failed, and responses it broke off.
    pub conn_errors: u64,
    pub resp_errors: u64,
    /// Average response time over the server's last 1024 requests, in ms.
    pub rtime_ms: u64,
    /// The last health check's result (`L7OK`, `L7STS`, `L4CON`, ...), empty without checks.
    pub check_status: String,
}

impl ServerStats {
    /// In maintenance: takes no request, not even a sticky one.
    pub fn in_maintenance(&self) -> bool {
        self.status.starts_with("MAINT")
    }

    /// The health check failed: the server is down, or its last check did not pass.
    pub fn check_failed(&self) -> bool {
        let check = self.check_status.trim_start_matches('*');
        self.status.starts_with("DOWN")
            || [
                "L4CON", "L4TOUT", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L7STS", "SOCKERR",
            ]
            .iter()
            .any(|c| check.starts_with(c))
    }

    /// Requests answered or failed, for the error rate's denominator.
    pub fn attempts(&self) -> u64 {
        self.responses + self.conn_errors + self.resp_errors
    }

    /// 5xx answers and failed connections or responses.
    pub fn errors(&self) -> u64 {
        self.http_5xx + self.conn_errors + self.resp_errors
    }
}

/// Every server row of `show stat` (frontend and backend summary rows left out).
pub fn read(admin: &Admin) -> Result<Vec<ServerStats>, RouteError> {
    parse(&admin.send("show stat")?)
}

/// Parses `show stat` CSV by its header's column names.
pub fn parse(csv: &str) -> Result<Vec<ServerStats>, RouteError> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| RouteError::Stats(format!("no header in {:?}", first_line(csv))))?;
    let names: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| RouteError::Stats(format!("no column `{name}`")))
    };
    let idx = [
        col("pxname")?,
        col("svname")?,
        col("status")?,
        col("weight")?,
        col("scur")?,
        col("hrsp_1xx")?,
        col("hrsp_2xx")?,
        col("hrsp_3xx")?,
        col("hrsp_4xx")?,
        col("hrsp_5xx")?,
        col("hrsp_other")?,
        col("econ")?,
        col("eresp")?,
        col("rtime")?,
        col("check_status")?,
    ];
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| f.get(idx[i]).copied().unwrap_or("");
        let num = |i: usize| get(i).parse::<u64>().unwrap_or(0);
        if matches!(get(1), "FRONTEND" | "BACKEND") {
            continue;
        }
        out.push(ServerStats {
            backend: get(0).to_string(),
            server: get(1).to_string(),
            status: get(2).to_string(),
            weight: get(3).parse().unwrap_or(0),
            current: num(4),
            responses: (5..=10).map(num).sum(),
            http_5xx: num(9),
            conn_errors: num(11),
            resp_errors: num(12),
            rtime_ms: num(13),
            check_status: get(14).to_string(),
        });
    }
    Ok(out)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The row of `backend`/`server`.
pub fn find<'a>(
    rows: &'a [ServerStats],
    backend: &str,
    server: &str,
) -> Result<&'a ServerStats, RouteError> {
    rows.iter()
        .find(|r| r.backend == backend && r.server == server)
        .ok_or_else(|| RouteError::NoServer {
            backend: backend.to_string(),
            server: server.to_string(),
        })
}
