//! `migrator route shift`: steps a service's share up to a target, watching each step.
//!
//! During a step the gates are read every half second (or `every`, if shorter): the
//! service's health check, its error rate since the step began (5xx answers and failed
//! connections or responses, once at least `min_requests` were sent), and its average
//! response time. The first gate that fails rolls the service back to 0% at once
//! ([`Target::rollback`]), so a bad step is undone within that step, not after it.

use super::RouteError;
use super::control::Target;
use super::stats::ServerStats;
use std::time::{Duration, Instant};

/// When to give up on a shift.
#[derive(Debug, Clone)]
pub struct Gates {
    /// Largest acceptable share of failed requests at the service in a step, in percent.
    pub max_error_rate: f64,
    /// Largest acceptable average response time of the service, in ms.
    pub max_response_ms: Option<u64>,
    /// Requests a step must see before its error rate counts (a handful is noise).
    pub min_requests: u64,
}

/// How a shift ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The service takes this share.
    Reached(u8),
    /// A gate failed while the service had `at` percent; it is back to 0%.
    RolledBack { at: u8, reason: String },
}

/// The shares a shift from `from` to `to` passes through, `step` apart, ending at `to`.
pub fn steps(from: u8, to: u8, step: u8) -> Vec<u8> {
    let step = step.max(1);
    let mut out = Vec::new();
    let mut p = from;
    while p < to {
        p = p.saturating_add(step).min(to);
        out.push(p);
    }
    if out.is_empty() && from != to {
        out.push(to);
    }
    out
}

/// Why the gates fail for the service's rows now against the step's start, if they do.
pub fn judge(gates: &Gates, start: &ServerStats, now: &ServerStats) -> Option<String> {
    if now.check_failed() {
        return Some(format!(
            "the service's health check failed ({} {})",
            now.status, now.check_status
        ));
    }
    let attempts = now.attempts().saturating_sub(start.attempts());
    let errors = now.errors().saturating_sub(start.errors());
    if attempts >= gates.min_requests.max(1) {
        let rate = errors as f64 * 100.0 / attempts as f64;
        if rate > gates.max_error_rate {
            return Some(format!(
                "error rate {rate:.1}% ({errors} of {attempts} requests) is above --max-error-rate {}%",
                gates.max_error_rate
            ));
        }
    }
    if let Some(max) = gates.max_response_ms
        && now.rtime_ms > max
    {
        return Some(format!(
            "average response time {} ms is above --max-response-ms {max}",
            now.rtime_ms
        ));
    }
    None
}

/// Steps the service from its current share to `to`, `step` points at a time, each held
/// for `every` under the gates; `report` is told about each step.
pub fn run(
    target: &Target,
    to: u8,
    step: u8,
    every: Duration,
    gates: &Gates,
    mut report: impl FnMut(&str),
) -> Result<Outcome, RouteError> {
    if to > 100 {
        return Err(RouteError::Percent(to.into()));
    }
    let from = target.percent()?;
    let poll = every.min(Duration::from_millis(500));
    for p in steps(from, to, step) {
        target.set(p)?;
        report(&format!("{}: {p}% to the service", target.name));
        let (_, start) = target.stats()?;
        let end = Instant::now() + every;
        loop {
            let (_, now) = target.stats()?;
            if let Some(reason) = judge(gates, &start, &now) {
                target.rollback()?;
                report(&format!(
                    "{}: rolled back to 0% at {p}%: {reason}",
                    target.name
                ));
                return Ok(Outcome::RolledBack { at: p, reason });
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let attempts = now.attempts().saturating_sub(start.attempts());
                let errors = now.errors().saturating_sub(start.errors());
                report(&format!(
                    "{}: {p}% held for {:?}: {attempts} requests at the service, {errors} failed, avg {} ms",
                    target.name, every, now.rtime_ms
                ));
                break;
            }
            std::thread::sleep(poll.min(left));
        }
    }
    Ok(Outcome::Reached(target.percent()?))
}

/// Parses `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 5m or 500ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (ms, s, m or h)")),
    };
    if d.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_end_at_the_target() {
        assert_eq!(steps(0, 100, 25), vec![25, 50, 75, 100]);
        assert_eq!(steps(10, 25, 10), vec![20, 25]);
        assert_eq!(steps(50, 50, 5), Vec::<u8>::new());
        assert_eq!(steps(0, 7, 0), (1..=7).collect::<Vec<u8>>());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn gates_judge_errors_health_and_latency() {
        let gates = Gates {
            max_error_rate: 5.0,
            max_response_ms: Some(200),
            min_requests: 20,
        };
        let start = ServerStats {
            status: "UP".into(),
            check_status: "L7OK".into(),
            responses: 100,
            http_5xx: 1,
            ..ServerStats::default()
        };
        let mut now = start.clone();
        now.responses = 110;
        now.http_5xx = 9; // 8 of 10: too few requests to judge
        assert_eq!(judge(&gates, &start, &now), None);
        now.responses = 140;
        assert!(judge(&gates, &start, &now).is_some_and(|r| r.contains("error rate 20.0%")));
        now.http_5xx = 2;
        assert_eq!(judge(&gates, &start, &now), None);
        now.rtime_ms = 250;
        assert!(judge(&gates, &start, &now).is_some_and(|r| r.contains("250 ms")));
        now.rtime_ms = 5;
        now.check_status = "L7STS".into();
        assert!(judge(&gates, &start, &now).is_some_and(|r| r.contains("health check")));
    }
}
