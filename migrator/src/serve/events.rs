//! Server-Sent Events: every change to a job is published once, as the job's whole
//! view, to a broadcast hub; each `/api/jobs/{id}/events` stream passes on that job's
//! views (ending after its final state) and `/api/events` passes on every job's. A
//! client that falls behind skips views, never reads a stale one last: each view is
//! complete.

use super::view::JobView;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

/// Views kept for slow readers before they skip.
const BACKLOG: usize = 1024;

/// One published view.
#[derive(Debug)]
pub struct Message {
    pub job: i64,
    pub json: String,
    /// The job reached a final state.
    pub last: bool,
}

#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Message>>,
    /// Set on shutdown: every stream ends, so the server's graceful shutdown is not held
    /// open by a dashboard that never disconnects.
    closing: Arc<watch::Sender<bool>>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            tx: broadcast::channel(BACKLOG).0,
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every stream.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn publish(&self, job: i64, view: &JobView) {
        if let Ok(json) = serde_json::to_string(view) {
            // No subscriber is not an error.
            let _ = self.tx.send(Arc::new(Message {
                job,
                json,
                last: view.state.is_final(),
            }));
        }
    }

    /// Subscribe before reading the first view, so nothing published between is lost.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
            closing: self.closing.subscribe(),
        }
    }
}

/// A hub's views, until it closes.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Message>>,
    closing: watch::Receiver<bool>,
}

impl Subscription {
    /// The next view, or `None` once the hub closes.
    async fn next(&mut self) -> Option<Arc<Message>> {
        loop {
            tokio::select! {
                m = self.rx.recv() => match m {
                    Ok(m) => return Some(m),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                _ = self.closing.wait_for(|c| *c) => return None,
            }
        }
    }
}

fn event(json: String) -> Event {
    Event::default().event("job").data(json)
}

/// `first` (the job's view now), then job `only`'s views (every job's when `None`)
/// until the job's final state.
pub fn stream(
    first: Option<(String, bool)>,
    rx: Subscription,
    only: Option<i64>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ended = first
        .as_ref()
        .is_some_and(|(_, last)| *last && only.is_some());
    let first = first.map(|(json, _)| json);
    let events = futures_util::stream::unfold(
        (first, rx, ended),
        move |(first, mut rx, ended)| async move {
            if let Some(json) = first {
                return Some((Ok(event(json)), (None, rx, ended)));
            }
            if ended {
                return None;
            }
            loop {
                let m = rx.next().await?;
                if only.is_none_or(|id| id == m.job) {
                    let ended = m.last && only.is_some();
                    return Some((Ok(event(m.json.clone())), (None, rx, ended)));
                }
            }
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}
