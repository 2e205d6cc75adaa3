//! `migrator worker`: takes chunks of any distributed transfer from the work queue in the
//! shared PostgreSQL state store (`lease::Queue`), up to `--slots` at a time, and copies
//! each through the destination's fence (`transfer::distributed::Session`), renewing
//! its leases by heartbeat. A worker that dies loses its chunks when their leases run
//! out, and the next claimant continues each from where the destination says it got to.
//! SIGTERM finishes the page in hand, records it, releases the lease and exits.
//!
//! Everything runs on one thread: a chunk's copy keeps its counters in cells and
//! borrows its job's connections, like `transfer`'s own chunks.

use crate::lease::{FenceError, Lease, Queue, QueueError};
use crate::transfer::TransferError;
use crate::transfer::distributed::{self, Ended, Session, Spec};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;
use seaway_codegen::config::Config;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// Chunks copied at the same time.
    pub slots: u32,
    /// How long a claimed chunk stays this worker's without a heartbeat.
    pub lease: Duration,
    /// Only chunks of this job (a plain `migrator transfer` working its own job, or
    /// joining another run's); `None`: any job.
    pub job: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            slots: 2,
            lease: Duration::from_secs(30),
            job: None,
        }
    }
}

/// How often a worker with a free slot looks for a chunk.
const IDLE_LOOK: Duration = Duration::from_millis(500);

/// What the worker reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        id: &'a str,
        store: &'a str,
    },
    Claimed(&'a Lease),
    Done {
        lease: &'a Lease,
        rows: u64,
    },
    /// Another worker holds the chunk now: nothing of this worker's counts for it any
    /// more.
    Lost {
        lease: &'a Lease,
        why: Lost,
    },
    Failed {
        lease: &'a Lease,
        error: &'a str,
        /// Its third failure: the chunk waits for a retry from the API or dashboard.
        last: bool,
    },
    /// Stopped between pages and given back (SIGTERM).
    Released(&'a Lease),
}

/// How a worker found out that a chunk is no longer its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Its heartbeat found the lease taken (after the page in hand).
    Heartbeat,
    /// The destination's fence refused its page: a newer holder had written there.
    Fence,
    /// The store refused its completion or failure.
    Store,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lost::Heartbeat => "its lease ran out and another worker holds it now",
            Lost::Fence => {
                "the destination's fence refused its page: a newer holder of the chunk had written there"
            }
            Lost::Store => "the store no longer counts it as this worker's",
        })
    }
}

/// What the worker did until it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub chunks: u64,
    pub rows: u64,
    pub lost: u64,
    pub failed: u64,
}

/// This worker's name in the store: host and process, which the dashboard shows.
fn identity() -> (String, String) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    let id = format!("{host}:{}", std::process::id());
    (id, host)
}

/// A chunk in hand: its lease, and the flag that ends its copy after the page in hand
/// (the worker stops, or a heartbeat found the lease taken).
struct Held {
    lease: Lease,
    halt: Rc<AtomicBool>,
    lost: bool,
}

/// How one chunk's copy ended, with its lease.
type Outcome = (Lease, Result<Ended, TransferError>);

/// Runs until `stop` resolves: claims chunks, copies them, heartbeats.
pub async fn run(
    config: Config,
    opts: &Options,
    stop: impl Future<Output = ()>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Summary, TransferError> {
    let (pool, store) = distributed::store_pool(&config).await?;
    let queue = Queue::open(pool.clone()).await?;
    let (id, host) = identity();
    queue
        .register(&id, &host, std::process::id(), opts.slots)
        .await?;
    on_event(Event::Started {
        id: &id,
        store: &store,
    });
    let stopping = AtomicBool::new(false);
    let mut sessions: HashMap<String, Rc<Session>> = HashMap::new();
    let mut held: Vec<Held> = Vec::new();
    let mut running: FuturesUnordered<LocalBoxFuture<'_, Outcome>> = FuturesUnordered::new();
    let mut summary = Summary::default();
    // Heartbeats three times per lease.
    let mut beat = tokio::time::interval((opts.lease / 3).max(Duration::from_millis(100)));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // With a slot free, the queue is looked at twice a second: a job planned, or a stage
    // released, is taken up within half a second (the claim is one indexed query).
    let mut look = tokio::time::interval(IDLE_LOOK);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let result: Result<(), TransferError> = async {
        loop {
            if !stopping.load(Ordering::Relaxed) && held.len() < opts.slots as usize {
                let free = opts.slots - held.len() as u32;
                for lease in queue.claim(&id, opts.job.as_deref(), free, opts.lease).await? {
                    let session = match sessions.get(&lease.job) {
                        Some(s) => Rc::clone(s),
                        None => {
                            let opened = open_session(&config, &queue, &lease, &pool, &store).await;
                            match opened {
                                Ok(s) => {
                                    let s = Rc::new(s);
                                    sessions.insert(lease.job.clone(), Rc::clone(&s));
                                    s
                                }
                                Err(e) => {
                                    // The worker's own setup, not the chunk, is at fault:
                                    // the chunk goes back, and the worker stops and says why.
                                    queue.release(&lease).await?;
                                    return Err(e);
                                }
                            }
                        }
                    };
                    on_event(Event::Claimed(&lease));
                    let halt = Rc::new(AtomicBool::new(false));
                    held.push(Held {
                        lease: lease.clone(),
                        halt: Rc::clone(&halt),
                        lost: false,
                    });
                    running.push(Box::pin(async move {
                        let mut quiet = |_: crate::transfer::Event<'_>| {};
                        let ended = session.run(&lease, &halt, &mut quiet).await;
                        (lease, ended)
                    }));
                }
            }
            if stopping.load(Ordering::Relaxed) && running.is_empty() {
                return Ok(());
            }
            tokio::select! {
                Some((lease, ended)) = running.next(), if !running.is_empty() => {
                    let lost = held.iter().any(|h| h.lease.token == lease.token && h.lost);
                    held.retain(|h| h.lease.token != lease.token);
                    settle(&queue, &id, &lease, ended, lost, &mut summary, on_event).await?;
                }
                _ = beat.tick() => {
                    let leases: Vec<Lease> = held.iter().map(|h| h.lease.clone()).collect();
                    for lost in queue.heartbeat(&id, &leases, opts.lease).await? {
                        // The page in hand still goes to the fence, which decides; the
                        // copy ends after it.
                        if let Some(h) = held.iter_mut().find(|h| h.lease.token == lost.token) {
                            h.lost = true;
                            h.halt.store(true, Ordering::Relaxed);
                        }
                    }
                }
                _ = look.tick(), if held.len() < opts.slots as usize && !stopping.load(Ordering::Relaxed) => {}
                () = &mut stop, if !stopping.load(Ordering::Relaxed) => {
                    stopping.store(true, Ordering::Relaxed);
                    for h in &held {
                        h.halt.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }
    .await;
    drop(running);
    for h in &held {
        let _ = queue.release(&h.lease).await;
    }
    let _ = queue.deregister(&id).await;
    for (_, s) in sessions.drain() {
        if let Ok(s) = Rc::try_unwrap(s) {
            s.close().await;
        }
    }
    result.map(|()| summary)
}

/// The session of `lease`'s job, from the spec the planner stored and this worker's
/// own config.
async fn open_session(
    config: &Config,
    queue: &Queue,
    lease: &Lease,
    pool: &sqlx::PgPool,
    store: &str,
) -> Result<Session, TransferError> {
    let spec = queue.spec(&lease.job).await?.ok_or_else(|| {
        TransferError::Distributed(format!("job `{}` is no longer in the queue", lease.job))
    })?;
    let spec: Spec = serde_json::from_str(&spec).map_err(|e| {
        TransferError::Distributed(format!(
            "job `{}` was planned by a seaway this worker cannot read ({e}); run workers of the planner's version",
            lease.job
        ))
    })?;
    Session::open(
        config.clone(),
        &lease.job,
        spec,
        pool.clone(),
        store.to_string(),
    )
    .await
}

/// Records how a chunk's copy ended in the queue; `lost`: a heartbeat found the lease
/// taken while it ran.
async fn settle(
    queue: &Queue,
    id: &str,
    lease: &Lease,
    ended: Result<Ended, TransferError>,
    lost: bool,
    summary: &mut Summary,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(), TransferError> {
    let mut gone = |why: Lost| {
        summary.lost += 1;
        on_event(Event::Lost { lease, why });
    };
    match ended {
        Ok(Ended::Done(rows)) => {
            match queue
                .complete(id, lease, i64::try_from(rows).unwrap_or(i64::MAX))
                .await
            {
                Ok(()) => {
                    summary.chunks += 1;
                    summary.rows += rows.saturating_sub(lease.rows.max(0) as u64);
                    on_event(Event::Done { lease, rows });
                }
                Err(QueueError::Lost { .. }) => gone(Lost::Store),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Ended::Stopped) if lost => gone(Lost::Heartbeat),
        Ok(Ended::Stopped) => {
            queue.release(lease).await?;
            on_event(Event::Released(lease));
        }
        Err(TransferError::Fence(FenceError::Superseded { .. })) => gone(Lost::Fence),
        Err(e) => {
            let error = e.to_string();
            match queue.fail(lease, &error).await {
                Ok(last) => {
                    summary.failed += 1;
                    on_event(Event::Failed {
                        lease,
                        error: &error,
                        last,
                    });
                }
                Err(QueueError::Lost { .. }) => gone(Lost::Store),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
