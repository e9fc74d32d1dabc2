//! The seam between connections and the replicated state machine.
//!
//! Every data command goes through an [`Engine`]. Today [`LocalEngine`]
//! applies commands to one in-memory `Keyspace` at once; with replication
//! (issue 5) an engine proposes `(command, ExecCtx)` to the shard's Raft group
//! and answers with the result of applying the committed entry. That is why:
//! - the execution context (`now_ms`, `seed`) is decided in exactly one place
//!   ([`CtxSource`]), once per command, the way a leader decides it before
//!   proposing, so replicas applying the same log converge;
//! - the API is async and batch-shaped: the commands of one pipelined read
//!   are one batch (one lock acquisition here, one proposal later);
//! - active expiry deletes through the same write path (replicated effects).
//!
//! Why a `parking_lot::Mutex` rather than a single owner task: the critical
//! section is a hash lookup (~100 ns); handing each batch to another task
//! costs a cross-thread wakeup (µs) per batch. See docs/benchmarks.md.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use slotraft_resp::Reply;
use tokio::sync::oneshot;

use crate::blocking::BlockedClients;
use crate::ks::{self, Argv, CommandSpec, ExecCtx, Keyspace, Outcome};

/// Rounds of "serve clients blocked on keys that became ready" after one
/// write. Each round either serves a waiter or ends the loop, so the real
/// bound is the number of parked clients; this constant is the assert.
pub const MAX_SERVE_ROUNDS: usize = crate::blocking::MAX_BLOCKED_CLIENTS + 1;

/// One validated data command (dispatch already checked name and arity).
#[derive(Debug)]
pub struct Cmd {
    pub argv: Argv,
    pub spec: &'static CommandSpec,
}

/// How a batch ended.
#[derive(Debug)]
pub enum BatchEnd {
    /// Every command ran and pushed its reply.
    Done,
    /// Command `index` blocked: its client is parked; the replies of the
    /// commands before it were pushed; the rest did not run. `timeout_ms`
    /// None waits forever.
    Blocked {
        index: usize,
        wait: oneshot::Receiver<Reply>,
        timeout_ms: Option<u64>,
    },
}

/// Counters the INFO command reports about the data.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineStats {
    pub keys: u64,
    pub expires: u64,
    pub blocked_clients: u64,
    pub expired_keys: u64,
    /// Log-compaction snapshots (engines with a Raft log only).
    pub snapshots: Option<slotraft_node::SnapshotCounts>,
}

/// Per-connection routing state (cluster mode: `READONLY`, `ASKING`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnFlags {
    /// The connection sent READONLY: reads may be served by a follower
    /// (still linearizable: ReadIndex through the leader).
    pub readonly: bool,
    /// The connection sent ASKING just before this command.
    pub asking: bool,
}

/// Reply of every CLUSTER command on an engine without cluster support.
pub const CLUSTER_DISABLED: &str = "ERR This instance has cluster support disabled";

/// What connections need from the data side. See the module doc.
pub trait Engine: Send + Sync + 'static {
    /// Runs `cmds` in order for `client`, pushing one reply per command to
    /// `out`, stopping after the first command that blocks.
    fn execute_batch(
        &self,
        client: u64,
        flags: ConnFlags,
        cmds: &[Cmd],
        out: &mut Vec<Reply>,
    ) -> impl Future<Output = BatchEnd> + Send;

    /// EXEC: runs the queued commands atomically unless a watched key's
    /// version changed (then `NullArray`).
    fn exec_multi(
        &self,
        flags: ConnFlags,
        cmds: &[Argv],
        watched: &[(Bytes, u64)],
    ) -> impl Future<Output = Reply> + Send;

    /// WATCH: the current version of each key, or the error to reply
    /// (cluster mode: a redirect).
    fn watch_versions(
        &self,
        flags: ConnFlags,
        keys: &[Bytes],
    ) -> impl Future<Output = Result<Vec<u64>, Reply>> + Send;

    /// Whether CLUSTER/READONLY/READWRITE/ASKING are served.
    fn cluster_enabled(&self) -> bool {
        false
    }

    /// `CLUSTER <subcommand> ...` (argv includes "cluster").
    fn cluster_command(&self, argv: &[Bytes]) -> impl Future<Output = Reply> + Send {
        let _ = argv;
        std::future::ready(Reply::error(CLUSTER_DISABLED))
    }

    /// Removes a parked client (timeout or disconnect). False when it was
    /// served meanwhile: its reply is then waiting in its channel.
    fn unblock(&self, client: u64) -> bool;

    /// CLIENT UNBLOCK: answers a parked client with its timeout reply, or
    /// with an UNBLOCKED error when `error`.
    fn unblock_with(&self, client: u64, error: bool) -> bool;

    /// One bounded active-expiry step: deletes at most `max` expired keys
    /// through the write path; returns how many.
    fn expire_step(&self, max: usize) -> impl Future<Output = usize> + Send;

    fn stats(&self) -> EngineStats;
}

/// Decides `ExecCtx` for commands: time that never goes backwards and a
/// per-node pseudo-random seed stream. The single place such values are
/// made, as a Raft leader will make them before proposing.
pub struct CtxSource {
    last_now_ms: u64,
    rng: u64,
}

impl CtxSource {
    pub fn new(seed: u64) -> Self {
        CtxSource {
            last_now_ms: 0,
            rng: seed,
        }
    }

    /// Wall-clock milliseconds, clamped to be monotonic.
    pub fn now_ms(&mut self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.last_now_ms = self.last_now_ms.max(wall);
        self.last_now_ms
    }

    /// splitmix64: cheap, well distributed, deterministic given the seed.
    fn next_seed(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn ctx(&mut self, now_ms: u64, may_block: bool) -> ExecCtx {
        ExecCtx {
            now_ms,
            seed: self.next_seed(),
            may_block,
        }
    }
}

/// Everything guarded by the engine lock.
struct State {
    ks: Keyspace,
    blocked: BlockedClients,
    ctx: CtxSource,
    expired_keys: u64,
}

impl State {
    /// Runs one write, then serves clients blocked on keys it made ready.
    fn write(&mut self, argv: &Argv, now_ms: u64, may_block: bool) -> Outcome {
        let ctx = self.ctx.ctx(now_ms, may_block);
        let out = self.ks.execute(argv, &ctx);
        self.serve_ready(now_ms);
        out
    }

    /// [`State::write`] of a client command dispatch already resolved (no
    /// second command-table lookup).
    fn write_cmd(&mut self, cmd: &Cmd, now_ms: u64) -> Outcome {
        let ctx = self.ctx.ctx(now_ms, true);
        let out = self.ks.execute_resolved(cmd.spec, &cmd.argv, &ctx);
        self.serve_ready(now_ms);
        out
    }

    /// Redis's handleClientsBlockedOnKeys: for each ready key, its waiters
    /// in FIFO order re-execute their command; served ones get the reply.
    fn serve_ready(&mut self, now_ms: u64) {
        for round in 0.. {
            assert!(
                round < MAX_SERVE_ROUNDS,
                "serving blocked clients did not converge"
            );
            let ready = self.ks.take_ready_keys();
            if ready.is_empty() || self.blocked.is_empty() {
                return;
            }
            for key in ready {
                for client in self.blocked.waiting_on(&key) {
                    let Some(argv) = self.blocked.argv_of(client).cloned() else {
                        continue;
                    };
                    let ctx = self.ctx.ctx(now_ms, true);
                    if let Outcome::Reply(r) = self.ks.execute(&argv, &ctx) {
                        self.blocked.serve(client, r);
                    }
                }
            }
        }
    }
}

/// The single-node engine: one keyspace, applied at once.
pub struct LocalEngine {
    state: Mutex<State>,
}

impl LocalEngine {
    pub fn new(ks: Keyspace, seed: u64) -> Self {
        LocalEngine {
            state: Mutex::new(State {
                ks,
                blocked: BlockedClients::default(),
                ctx: CtxSource::new(seed),
                expired_keys: 0,
            }),
        }
    }

    fn run_batch(&self, client: u64, cmds: &[Cmd], out: &mut Vec<Reply>) -> BatchEnd {
        let mut st = self.state.lock();
        let now = st.ctx.now_ms();
        for (index, cmd) in cmds.iter().enumerate() {
            if let Some(w) = slotraft_keyspace::db::prefetch_window(index, cmds.len()) {
                st.ks.prefetch(cmds[w].iter().map(|c| &c.argv[..]));
            }
            if ks::is_read(cmd.spec) {
                out.push(st.ks.execute_read_resolved(cmd.spec, &cmd.argv, now));
                continue;
            }
            match st.write_cmd(cmd, now) {
                Outcome::Reply(r) => out.push(r),
                Outcome::Block(spec) => {
                    let Some(wait) = st.blocked.park(client, cmd.argv.clone(), spec.keys) else {
                        out.push(Reply::error("ERR too many blocked clients"));
                        continue;
                    };
                    return BatchEnd::Blocked {
                        index,
                        wait,
                        timeout_ms: spec.timeout_ms,
                    };
                }
            }
        }
        BatchEnd::Done
    }
}

impl Engine for LocalEngine {
    async fn execute_batch(
        &self,
        client: u64,
        _flags: ConnFlags,
        cmds: &[Cmd],
        out: &mut Vec<Reply>,
    ) -> BatchEnd {
        self.run_batch(client, cmds, out)
    }

    async fn exec_multi(
        &self,
        _flags: ConnFlags,
        cmds: &[Argv],
        watched: &[(Bytes, u64)],
    ) -> Reply {
        let mut st = self.state.lock();
        let now = st.ctx.now_ms();
        let ctx = st.ctx.ctx(now, false);
        let r = st.ks.execute_multi(cmds, watched, &ctx);
        st.serve_ready(now);
        r
    }

    async fn watch_versions(&self, _flags: ConnFlags, keys: &[Bytes]) -> Result<Vec<u64>, Reply> {
        let st = self.state.lock();
        Ok(keys.iter().map(|k| st.ks.watch_version(k)).collect())
    }

    fn unblock(&self, client: u64) -> bool {
        self.state.lock().blocked.remove(client)
    }

    fn unblock_with(&self, client: u64, error: bool) -> bool {
        let mut st = self.state.lock();
        if st.blocked.argv_of(client).is_none() {
            return false;
        }
        let reply = if error {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            crate::blocking::timeout_reply()
        };
        st.blocked.serve(client, reply)
    }

    async fn expire_step(&self, max: usize) -> usize {
        let mut st = self.state.lock();
        let now = st.ctx.now_ms();
        let keys = st.ks.collect_expired(now, max);
        debug_assert!(keys.len() <= max);
        if keys.is_empty() {
            return 0;
        }
        let found = keys.len();
        let argv = ks::expire_command(keys);
        let deleted = match st.write(&argv, now, false) {
            Outcome::Reply(Reply::Int(n)) => n as u64,
            other => unreachable!("internal expire replied {other:?}"),
        };
        st.expired_keys += deleted;
        found
    }

    fn stats(&self) -> EngineStats {
        let st = self.state.lock();
        EngineStats {
            keys: st.ks.len() as u64,
            expires: st.ks.db().expires_count() as u64,
            blocked_clients: st.blocked.len() as u64,
            expired_keys: st.expired_keys,
            snapshots: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Argv {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn cmd(words: &[&str]) -> Cmd {
        let a = argv(words);
        let spec = ks::resolve(&a).expect("known command");
        Cmd { argv: a, spec }
    }

    fn run(e: &LocalEngine, client: u64, cmds: &[Cmd]) -> (Vec<Reply>, BatchEnd) {
        let mut out = Vec::new();
        let end = e.run_batch(client, cmds, &mut out);
        (out, end)
    }

    #[test]
    fn ctx_time_is_monotonic_and_seeds_differ() {
        let mut c = CtxSource::new(1);
        let a = c.now_ms();
        c.last_now_ms = a + 10_000;
        assert_eq!(c.now_ms(), a + 10_000);
        assert_ne!(c.ctx(0, false).seed, c.ctx(0, false).seed);
    }

    #[test]
    fn batch_runs_in_order() {
        let e = LocalEngine::new(Keyspace::new(), 7);
        let (out, end) = run(
            &e,
            1,
            &[
                cmd(&["set", "a", "1"]),
                cmd(&["incr", "a"]),
                cmd(&["get", "a"]),
            ],
        );
        assert!(matches!(end, BatchEnd::Done));
        assert_eq!(out, vec![Reply::OK, Reply::Int(2), Reply::bulk("2")]);
    }

    #[test]
    fn blocked_client_is_served_fifo_by_a_later_push() {
        let e = LocalEngine::new(Keyspace::new(), 7);
        let (out, end) = run(
            &e,
            1,
            &[
                cmd(&["set", "x", "1"]),
                cmd(&["blpop", "l", "0"]),
                cmd(&["get", "x"]),
            ],
        );
        assert_eq!(out, vec![Reply::OK]);
        let BatchEnd::Blocked {
            index: 1,
            wait: mut w1,
            ..
        } = end
        else {
            panic!("not blocked")
        };
        let (_, end2) = run(&e, 2, &[cmd(&["blpop", "l", "0"])]);
        let BatchEnd::Blocked { wait: mut w2, .. } = end2 else {
            panic!("not blocked")
        };
        assert_eq!(e.stats().blocked_clients, 2);
        let (out, _) = run(&e, 3, &[cmd(&["rpush", "l", "a"])]);
        assert_eq!(out, vec![Reply::Int(1)]);
        assert_eq!(
            w1.try_recv().unwrap(),
            Reply::Array(vec![Reply::bulk("l"), Reply::bulk("a")])
        );
        assert!(w2.try_recv().is_err(), "second waiter must still wait");
        assert!(e.unblock(2));
        assert!(!e.unblock(2));
        assert_eq!(e.stats().blocked_clients, 0);
    }

    #[test]
    fn push_then_pop_in_one_pipeline_serves_the_waiter_first() {
        // Redis serves blocked clients after each command, so the waiter gets
        // the element and the pipelined LPOP sees an empty list.
        let e = LocalEngine::new(Keyspace::new(), 7);
        let (_, end) = run(&e, 1, &[cmd(&["blpop", "q", "0"])]);
        let BatchEnd::Blocked { mut wait, .. } = end else {
            panic!()
        };
        let (out, _) = run(&e, 2, &[cmd(&["rpush", "q", "v"]), cmd(&["lpop", "q"])]);
        assert_eq!(out, vec![Reply::Int(1), Reply::Null]);
        assert!(wait.try_recv().is_ok());
    }
}
