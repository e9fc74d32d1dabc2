//! Measures the two ways the engine could own the keyspace, for the
//! decision recorded in docs/benchmarks.md:
//! (a) a `parking_lot::Mutex<Keyspace>` locked by each connection task for
//!     its batch (what `LocalEngine` does);
//! (b) a single owner task receiving batches over a channel and answering
//!     through a oneshot.
//!
//! `cargo run --release -p slotraft-server --example engine_lock`
//! 50 client tasks x BATCHES batches of BATCH commands (SET then GET), on a
//! current-thread runtime (io-threads 1) and on a 2-worker runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use slotraft_keyspace::{ExecCtx, Keyspace, Outcome};
use slotraft_resp::Reply;
use tokio::sync::{mpsc, oneshot};

const CLIENTS: usize = 50;
const BATCHES: usize = 2_000;
/// Commands per batch: 1 models -P 1, 16 models -P 16.
const BATCH_SIZES: [usize; 2] = [1, 16];
/// Bound of the owner task's inbox.
const INBOX: usize = 1024;

fn argv(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn batch(client: usize, i: usize, size: usize) -> Vec<Vec<Bytes>> {
    (0..size)
        .map(|j| {
            let key = format!("k{}", (client * 7919 + i * 31 + j) % 100_000);
            if j % 2 == 0 {
                argv(&["set", &key, "v"])
            } else {
                argv(&["get", &key])
            }
        })
        .collect()
}

fn run_batch(ks: &mut Keyspace, cmds: &[Vec<Bytes>], seed: u64) -> Vec<Reply> {
    let ctx = ExecCtx {
        now_ms: 1,
        seed,
        may_block: false,
    };
    cmds.iter()
        .map(|c| match ks.execute(c, &ctx) {
            Outcome::Reply(r) => r,
            Outcome::Block(_) => Reply::NullArray,
        })
        .collect()
}

async fn with_mutex(size: usize) -> Duration {
    let ks = Arc::new(Mutex::new(Keyspace::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let ks = ks.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..BATCHES {
                let cmds = batch(c, i, size);
                let r = run_batch(&mut ks.lock(), &cmds, i as u64);
                assert_eq!(r.len(), size);
                tokio::task::yield_now().await; // the socket write/read in between
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

type Job = (Vec<Vec<Bytes>>, oneshot::Sender<Vec<Reply>>);

async fn with_owner_task(size: usize) -> Duration {
    let (tx, mut rx) = mpsc::channel::<Job>(INBOX);
    let owner = tokio::spawn(async move {
        let mut ks = Keyspace::new();
        let mut seed = 0;
        while let Some((cmds, reply)) = rx.recv().await {
            seed += 1;
            let _ = reply.send(run_batch(&mut ks, &cmds, seed));
        }
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..BATCHES {
                let (rtx, rrx) = oneshot::channel();
                tx.send((batch(c, i, size), rtx)).await.unwrap();
                let r = rrx.await.unwrap();
                assert_eq!(r.len(), size);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    drop(tx);
    owner.await.unwrap();
    took
}

fn report(rt_name: &str, rt: &tokio::runtime::Runtime) {
    for size in BATCH_SIZES {
        let m = rt.block_on(with_mutex(size));
        let o = rt.block_on(with_owner_task(size));
        let ops = (CLIENTS * BATCHES * size) as f64;
        println!(
            "{rt_name:>14} batch {size:>2}: mutex {:>10.0} cmd/s   owner task {:>10.0} cmd/s   mutex/owner {:.2}",
            ops / m.as_secs_f64(),
            ops / o.as_secs_f64(),
            o.as_secs_f64() / m.as_secs_f64()
        );
    }
}

fn main() {
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..2 {
        report("current-thread", &single);
        report("2 workers", &multi);
    }
}
