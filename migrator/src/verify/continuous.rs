//! `migrator verify --continuous`: the same check again and again, on a schedule, with
//! an alert when consistency falls below a threshold. What each check does (print,
//! write a report) is the caller's; this module owns when to check, when to stop and
//! what the run as a whole ended as.

use super::Report;
use std::future::Future;
use std::time::Duration;

/// When to check, and what ends the run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Pause between the end of one check and the start of the next.
    pub interval: Duration,
    /// Alert when a check's consistency (percent) is below this.
    pub alert_below: Option<f64>,
    /// Go on after an alert or a failed check (both are reported).
    pub keep_going: bool,
    /// Stop after this many checks; `None`: until stopped.
    pub checks: Option<u64>,
}

/// What a run reports as it goes.
#[derive(Debug)]
pub enum Event<'a, E> {
    /// Check `round` found consistency below the threshold.
    Alert {
        round: u64,
        consistency: f64,
        threshold: f64,
    },
    /// Check `round` failed; the run goes on (`keep_going`).
    Failed { round: u64, error: &'a E },
}

/// How a run ended: whether any check alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub alerted: bool,
}

/// Runs `check` on `schedule` until it ends: after `checks` rounds, at the first alert
/// (unless `keep_going`), or with the first error (unless `keep_going`, when it is
/// reported and the run goes on).
pub async fn run<E, F, Fut>(
    schedule: &Schedule,
    mut check: F,
    on_event: &mut dyn FnMut(Event<'_, E>),
) -> Result<Ended, E>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Report, E>>,
{
    let mut alerted = false;
    let mut round = 0u64;
    loop {
        round += 1;
        match check(round).await {
            Ok(report) => {
                if let Some(threshold) = schedule.alert_below
                    && report.consistency < threshold
                {
                    on_event(Event::Alert {
                        round,
                        consistency: report.consistency,
                        threshold,
                    });
                    alerted = true;
                    if !schedule.keep_going {
                        return Ok(Ended { alerted });
                    }
                }
            }
            Err(error) if schedule.keep_going => on_event(Event::Failed {
                round,
                error: &error,
            }),
            Err(error) => return Err(error),
        }
        if schedule.checks.is_some_and(|n| round >= n) {
            return Ok(Ended { alerted });
        }
        tokio::time::sleep(schedule.interval).await;
    }
}
