//! Chunks of a job shared by many processes on many machines, coordinated through the
//! PostgreSQL state store (issue #18's foundation; `migrator worker` is built on it).
//!
//! Why PostgreSQL and a lease table rather than a job-queue crate: the state store is
//! already PostgreSQL when a run spans machines (`transfer.state: <connection>`), and
//! `FOR UPDATE SKIP LOCKED` is what the proven queues build on; but a chunk here is not
//! a fire-and-forget job. It carries where it got to (the last key written, so a new
//! owner continues rather than restarts) and a fencing token, and it is leased with a
//! heartbeat rather than taken, so a worker that dies loses it after the lease and one
//! that is merely slow keeps it. The queue crates for sqlx (graphile_worker, apalis)
//! give at-least-once jobs without the resume point or the token, which would have to be
//! kept beside them anyway. See docs/architecture.md, "Workers".
//!
//! Two halves:
//! - [`queue`]: the store's side. A chunk is claimed with a lease and a token from a
//!   sequence (tokens only grow); heartbeats extend the lease; progress and completion
//!   are accepted only from the holder of the current token.
//! - [`fence`]: the destination's side. The store and the destination are different
//!   databases, so a worker that lost its lease may still be about to commit a page it
//!   had in flight. Every page's destination transaction first moves a per-chunk owner
//!   row to its token, only if no larger token has been there: a stale worker's write
//!   then finds a larger token and aborts, in the same transaction as its rows.

pub mod fence;
pub mod queue;

pub use fence::{Fence, FenceError, Held};
pub use queue::{Depth, Lease, Planned, Queue, QueueError, WorkerInfo};
