//! Active expiry: the background cycle that deletes expired keys nobody
//! reads, so memory is reclaimed (reads already treat them as absent).
//!
//! Why through the engine's write path: with replication, deleting an
//! expired key is a replicated effect decided by the leader; replicas never
//! expire keys on their own clock, so they cannot diverge.
//!
//! Bounded like Redis's `activeExpireCycle`: `hz` times per second, at most
//! [`KEYS_PER_STEP`] keys per step, repeated within one cycle while a step
//! comes back full, up to [`STEPS_PER_CYCLE`] steps and [`CYCLE_BUDGET`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::engine::Engine;
use crate::server::Server;

/// Keys deleted per step (one engine lock hold).
pub const KEYS_PER_STEP: usize = 64;
/// Steps per cycle at most.
pub const STEPS_PER_CYCLE: usize = 16;
/// Wall time one cycle may use.
pub const CYCLE_BUDGET: Duration = Duration::from_millis(25);

/// Runs one cycle; returns the number of keys deleted.
pub async fn cycle<E: Engine>(server: &Server<E>) -> usize {
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..STEPS_PER_CYCLE {
        let n = server.engine.expire_step(KEYS_PER_STEP).await;
        total += n;
        if n < KEYS_PER_STEP || start.elapsed() >= CYCLE_BUDGET {
            break;
        }
    }
    total
}

/// The expiry task: runs until shutdown.
pub async fn run<E: Engine>(server: Arc<Server<E>>) {
    let mut shutdown = server.shutdown.clone();
    loop {
        let hz = server.config.get().hz.max(1);
        let period = Duration::from_millis(1000 / hz);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
        let n = cycle(&server).await;
        if n > 0 {
            debug!(deleted = n, "active expiry");
        }
    }
}
