//! Running jobs: each on a thread of its own with a single-threaded runtime (transfer
//! and verify keep their per-table counters in cells, so their futures stay on one
//! thread), reporting progress to a writer task on the server's runtime that records it
//! in the store and publishes it to the SSE hub.
//!
//! Stopping: a cancel ends the job's future at its next await (the transfer state has
//! recorded every page written before it; a page written but not recorded is upserted
//! again on resume, never doubled) and marks the job cancelled. A shutdown does the
//! same but leaves the job `running` in the store, so the next server resumes it.

use super::events::Hub;
use super::spec::JobKind;
use super::store::{JobState, JobStore, StoreError, TableRow};
use super::view::JobView;
use super::webhook::{self, Summary};
use super::work::{self, Outcome, Plan, Update};
use seaway_codegen::config::Config;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// The window rows/s is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Why a running job is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    No,
    /// An operator cancelled it.
    Cancel,
    /// The server is shutting down: the job resumes on restart.
    Shutdown,
}

/// A job being run.
struct Live {
    stop: watch::Sender<Stop>,
    /// (source, destination): two transfers of one pair would share its resume state.
    pair: (String, String),
    /// rows/s over the last few seconds.
    rate: f64,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
pub struct Jobs {
    store: JobStore,
    hub: Hub,
    /// `notify.webhook`.
    webhook: Option<String>,
    live: Mutex<HashMap<i64, LiveHandle>>,
    runtime: tokio::runtime::Handle,
}

/// `Live` behind a debug-printable handle.
struct LiveHandle(Live);

impl std::fmt::Debug for LiveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("pair", &self.0.pair).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "a {kind} job (#{job}) is already running from `{from}` to `{to}`; wait for it or cancel it"
    )]
    Busy {
        kind: &'static str,
        job: i64,
        from: String,
        to: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start a thread for the job: {0}")]
    Thread(std::io::Error),
}

impl Jobs {
    pub fn new(store: JobStore, hub: Hub, webhook: Option<String>) -> Jobs {
        Jobs {
            store,
            hub,
            webhook,
            live: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<i64, LiveHandle>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// rows/s of a running job, 0 otherwise.
    pub fn rate(&self, id: i64) -> f64 {
        self.live().get(&id).map_or(0.0, |l| l.0.rate)
    }

    pub fn is_running(&self, id: i64) -> bool {
        self.live().contains_key(&id)
    }

    /// Starts job `id` (already in the store) on its own thread; `done` hears how it
    /// ended.
    pub fn start(
        self: &Arc<Self>,
        id: i64,
        plan: Plan,
        done: Option<oneshot::Sender<Outcome>>,
    ) -> Result<(), StartError> {
        // Two runs between the same two databases would share the transfer's resume
        // state: they are told apart by where they connect, not by connection names.
        let url_of = |name: &str| {
            plan.config
                .connections
                .get(name)
                .map_or_else(|| name.to_string(), |c| c.url.redacted().to_string())
        };
        let pair = (
            url_of(&plan.config.source),
            url_of(plan.config.destination.as_deref().unwrap_or("")),
        );
        // Only a transfer job's chunks are in the server's store (a `/migrate` run keeps
        // its transfer state in its scratch project).
        let run_of = (plan.kind == JobKind::Transfer).then(|| {
            (
                plan.config.source.clone(),
                plan.config.destination.clone().unwrap_or_default(),
            )
        });
        let (stop_tx, stop_rx) = watch::channel(Stop::No);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut live = self.live();
            if let Some((job, _)) = live.iter().find(|(_, l)| l.0.pair == pair) {
                return Err(StartError::Busy {
                    kind: plan.kind.as_str(),
                    job: *job,
                    from: pair.0,
                    to: pair.1,
                });
            }
            live.insert(
                id,
                LiveHandle(Live {
                    stop: stop_tx,
                    pair,
                    rate: 0.0,
                    thread: None,
                }),
            );
        }
        let jobs = Arc::clone(self);
        let job_webhook = plan.request.webhook.clone();
        self.runtime.spawn(async move {
            jobs.write(id, run_of, job_webhook, rx, done).await;
        });
        let thread = std::thread::Builder::new()
            .name(format!("job-{id}"))
            .spawn(move || run_thread(plan, tx, stop_rx))
            .map_err(StartError::Thread)?;
        if let Some(l) = self.live().get_mut(&id) {
            l.0.thread = Some(thread);
        }
        Ok(())
    }

    /// Asks job `id` to stop; false when it is not running.
    pub fn cancel(&self, id: i64) -> bool {
        match self.live().get(&id) {
            Some(l) => l.0.stop.send(Stop::Cancel).is_ok(),
            None => false,
        }
    }

    /// Stops every job for a shutdown and waits (at most `grace`) for their threads: each
    /// is left `running` in the store, to resume when the server starts again.
    pub async fn shutdown(&self, grace: Duration) {
        let threads: Vec<std::thread::JoinHandle<()>> = {
            let mut live = self.live();
            live.values_mut()
                .filter_map(|l| {
                    let _ = l.0.stop.send(Stop::Shutdown);
                    l.0.thread.take()
                })
                .collect()
        };
        let deadline = Instant::now() + grace;
        for t in threads {
            while !t.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// The writer: records each update, publishes the job's view, and on the end sets
    /// the job's state and sends the webhooks.
    async fn write(
        self: Arc<Self>,
        id: i64,
        run_of: Option<(String, String)>,
        job_webhook: Option<String>,
        mut rx: mpsc::UnboundedReceiver<Update>,
        done: Option<oneshot::Sender<Outcome>>,
    ) {
        let mut tables: BTreeMap<String, TableRow> = self
            .store
            .tables(id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.tbl.clone(), t))
            .collect();
        let mut samples: VecDeque<(Instant, i64)> = VecDeque::new();
        let mut run_known = run_of.is_none();
        if let Err(e) = self.store.set_state(id, JobState::Running, None).await {
            tracing::error!("job {id}: {e}");
        }
        self.publish(id).await;
        let mut outcome = Outcome::Failed("the job's thread ended without a result".into());
        while let Some(update) = rx.recv().await {
            match update {
                Update::Table(t) => {
                    if !run_known
                        && let Some((source, destination)) = &run_of
                        && let Some(run) = self.store.newest_run(source, destination).await
                    {
                        if let Err(e) = self.store.set_run(id, run).await {
                            tracing::error!("job {id}: {e}");
                        }
                        run_known = true;
                    }
                    if let Err(e) = self.store.put_table(id, &t).await {
                        tracing::error!("job {id}: {e}");
                    }
                    tables.insert(t.tbl.clone(), t);
                    let total: i64 = tables.values().map(|t| t.rows_done).sum();
                    let now = Instant::now();
                    samples.push_back((now, total));
                    while samples
                        .front()
                        .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
                    {
                        samples.pop_front();
                    }
                    let rate = match (samples.front(), samples.back()) {
                        (Some((t0, r0)), Some((t1, r1))) if t1 > t0 => {
                            (r1 - r0).max(0) as f64 / t1.duration_since(*t0).as_secs_f64()
                        }
                        _ => 0.0,
                    };
                    if let Some(l) = self.live().get_mut(&id) {
                        l.0.rate = rate;
                    }
                    self.publish(id).await;
                }
                Update::Finished(o) => {
                    outcome = o;
                    break;
                }
            }
        }
        let final_state = match &outcome {
            Outcome::Succeeded => Some((JobState::Succeeded, None)),
            Outcome::Failed(e) => Some((JobState::Failed, Some(e.as_str()))),
            Outcome::Cancelled => Some((JobState::Cancelled, None)),
            Outcome::Interrupted => None,
        };
        if let Some((state, error)) = final_state
            && let Err(e) = self.store.set_state(id, state, error).await
        {
            tracing::error!("job {id}: {e}");
        }
        self.live().remove(&id);
        self.publish(id).await;
        if let Some((state, _)) = final_state {
            let targets: Vec<String> = self
                .webhook
                .iter()
                .chain(job_webhook.iter())
                .cloned()
                .collect();
            if !targets.is_empty()
                && let Ok(Some(job)) = self.store.job(id).await
            {
                let summary = Summary::new(&job, state, &tables);
                for url in targets {
                    let summary = summary.clone();
                    // Never blocks the job: the posts (and their retries) run apart.
                    tokio::spawn(async move { webhook::deliver(&url, &summary).await });
                }
            }
        }
        if let Some(done) = done {
            let _ = done.send(outcome);
        }
    }

    /// Sends the job's current view to the SSE hub.
    async fn publish(&self, id: i64) {
        match self.store.job(id).await {
            Ok(Some(job)) => {
                let tables = self.store.tables(id).await.unwrap_or_default();
                let view = JobView::new(&job, tables, self.rate(id));
                self.hub.publish(id, &view);
            }
            Ok(None) => {}
            Err(e) => tracing::error!("job {id}: {e}"),
        }
    }

    /// Jobs a previous server left running: resumed, except those whose connections
    /// were inline (their password was never stored), which are marked failed.
    pub async fn resume_all(self: &Arc<Self>, base: &Config) -> Result<Vec<i64>, StoreError> {
        let mut resumed = Vec::new();
        for job in self.store.jobs().await? {
            if job.state.is_final() {
                continue;
            }
            if job.inline {
                self.store
                    .set_state(
                        job.id,
                        JobState::Failed,
                        Some("the server restarted while this run was going; its connections were given inline with a password, which is never stored, so it cannot resume: send the request again"),
                    )
                    .await?;
                continue;
            }
            let started = work::plan_of(&job, base)
                .and_then(|plan| self.start(job.id, plan, None).map_err(|e| e.to_string()));
            match started {
                Ok(()) => resumed.push(job.id),
                Err(reason) => {
                    self.store
                        .set_state(
                            job.id,
                            JobState::Failed,
                            Some(&format!("not resumed after a restart: {reason}")),
                        )
                        .await?
                }
            }
        }
        Ok(resumed)
    }
}

/// The job's thread: a runtime of its own, the job's future raced against a stop.
fn run_thread(plan: Plan, tx: mpsc::UnboundedSender<Update>, mut stop: watch::Receiver<Stop>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Update::Finished(Outcome::Failed(format!(
                "cannot start the job's runtime: {e}"
            ))));
            return;
        }
    };
    let outcome = runtime.block_on(async {
        let job = work::run(&plan, &tx);
        tokio::pin!(job);
        loop {
            tokio::select! {
                outcome = &mut job => return outcome,
                changed = stop.changed() => {
                    let why = *stop.borrow();
                    match (changed, why) {
                        (Ok(()), Stop::Cancel) => return Outcome::Cancelled,
                        (Ok(()), Stop::Shutdown) | (Err(_), _) => return Outcome::Interrupted,
                        (Ok(()), Stop::No) => {}
                    }
                }
            }
        }
    });
    let _ = tx.send(Update::Finished(outcome));
}
