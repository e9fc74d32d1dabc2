//! slotraft's keyspace: the data and every data command's semantics, as a
//! deterministic, sans-IO state machine.
//!
//! Why deterministic: each shard is replicated by Raft, so every replica
//! applies the same log of commands and must reach the same state. Time and
//! randomness therefore never come from the process: the leader decides
//! them once and ships them in the log entry as an [`ExecCtx`]
//! (docs/decisions/0001-deterministic-commands.md). Active expiry becomes
//! explicit deletes ([`Keyspace::collect_expired`] + the internal
//! [`INTERNAL_EXPIRE`] command) proposed by the leader.
//!
//! Entry points for the server:
//! - [`lookup`] / [`resolve`] / [`command_keys`] / [`all_commands`]: the
//!   command table (arity, flags, key specs as Redis 7.0 reports them).
//! - [`Keyspace::execute`] (writes, through the log),
//!   [`Keyspace::execute_read`] (reads, `&self`, on any replica),
//!   [`Keyspace::execute_multi`] (EXEC), WATCH versions, ready keys for
//!   blocked clients, snapshots.

//!
//! Intended differences from Redis 7.0 (all else aims to be identical):
//! - One database (SELECT 0 only): `COPY ... DB n` with n != 0 answers
//!   "ERR DB index is out of range".
//! - OBJECT ENCODING is computed from content (`int`/`embstr`/`raw`,
//!   `listpack`/`hashtable` with Redis's default thresholds, sticky for
//!   hashes); a string grown by APPEND reports `embstr` where Redis says
//!   `raw`. OBJECT IDLETIME is always 0 (no per-key LRU clock: it would
//!   cost memory and differ between replicas); OBJECT FREQ gives Redis's
//!   "no LFU policy" error.
//! - INCRBYFLOAT/HINCRBYFLOAT compute in f64, not long double, and print 16
//!   significant digits: results that need the 17th digit differ there.
//! - HRANDFIELD with a negative count above `MAX_RANDFIELD_REPLY` elements
//!   is refused instead of building a gigantic reply.
//! - RANDOMKEY and HRANDFIELD (read commands) draw their randomness from
//!   the state and time, so replicas agree; they are random "enough".
//! - WATCH can report a change when another key of the same slot was
//!   deleted (absent keys share a per-slot delete version) — a spurious
//!   EXEC abort, never a missed one.
//! - SCAN cursors are `slot << 40 | hash position` (see `Db::scan`).
//! - DUMP payloads use our own format (see `snapshot`).

#![forbid(unsafe_code)]

pub mod args;
pub mod cmd;
pub mod db;
pub mod f80;
pub mod glob;
pub mod rng;
pub mod small;
pub mod snapshot;
pub mod types;

#[cfg(test)]
pub(crate) mod test_util;

pub use cmd::{all_commands, command_keys, key_positions, lookup, resolve, CommandSpec, Handler};
pub use db::{Db, SetExpire, ValueMut};
pub use types::{Hash, List, Set, Value, ZSet};

use bytes::Bytes;
use slotraft_resp::Reply;

/// Time and randomness for one log entry, decided once by the leader.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct ExecCtx {
    /// Leader's wall clock when it proposed the entry (unix ms).
    pub now_ms: u64,
    /// Seed for every random choice the entry makes.
    pub seed: u64,
    /// False inside MULTI (and scripts): blocking commands reply null.
    pub may_block: bool,
}

/// What a blocking command waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub keys: Vec<Bytes>,
    /// Relative timeout; `None` = forever.
    pub timeout_ms: Option<u64>,
}

/// Result of executing one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Reply(Reply),
    /// Nothing to pop: the server parks the client on these keys and
    /// re-executes the command when one is in [`Keyspace::take_ready_keys`].
    Block(BlockSpec),
}

impl Outcome {
    /// The reply, for callers that never block (tests, MULTI).
    pub fn into_reply(self) -> Reply {
        match self {
            Outcome::Reply(r) => r,
            Outcome::Block(_) => Reply::NullArray,
        }
    }
}

/// argv[0] of the internal active-expiry command. Not in the command table
/// (clients get "unknown command"); only the leader proposes it:
/// `["__expire", key...]` deletes each key that is expired at `ctx.now_ms`
/// and replies with the number deleted.
pub const INTERNAL_EXPIRE: &[u8] = b"__expire";

/// Upper bound of keys one `__expire` entry may carry.
pub const MAX_EXPIRE_BATCH: usize = 1024;

/// Internal read-only commands the cluster runtime sends through a group's
/// linearizable read path (never visible to clients: the server resolves
/// client commands against the table first, and these names are not in it).
/// `["__versions", key...]` → the WATCH version of each key (array of ints).
pub const INTERNAL_VERSIONS: &[u8] = b"__versions";
/// `["__expired", max]` → up to `max` (≤ [`MAX_EXPIRE_BATCH`]) keys that are
/// expired at the read's time (the leader then proposes `__expire` for them).
pub const INTERNAL_EXPIRED: &[u8] = b"__expired";
/// `["__countkeysinslot", slot]` → number of keys in the slot.
pub const INTERNAL_COUNT_IN_SLOT: &[u8] = b"__countkeysinslot";
/// `["__getkeysinslot", slot, max]` → up to `max` keys of the slot.
pub const INTERNAL_KEYS_IN_SLOT: &[u8] = b"__getkeysinslot";
/// `["__stats"]` → `[keys, keys with a TTL]`.
pub const INTERNAL_STATS: &[u8] = b"__stats";
/// Upper bound of keys one `__getkeysinslot` returns.
pub const MAX_KEYS_IN_SLOT_REPLY: usize = 100_000;

/// The keyspace state machine.
#[derive(Clone, Debug, Default)]
pub struct Keyspace {
    db: Db,
    /// Highest time seen in any entry: time never runs backwards, even if a
    /// new leader's clock is behind the old one's.
    last_now_ms: u64,
}

impl Keyspace {
    pub fn new() -> Keyspace {
        Keyspace::default()
    }

    /// The storage (read access for INFO, cluster commands, tests).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Highest `now_ms` applied so far.
    pub fn last_now_ms(&self) -> u64 {
        self.last_now_ms
    }

    fn advance(&mut self, ctx: &ExecCtx) -> ExecCtx {
        self.last_now_ms = self.last_now_ms.max(ctx.now_ms);
        ExecCtx {
            now_ms: self.last_now_ms,
            ..*ctx
        }
    }

    /// Prefetch hint for commands about to be executed, in order (see
    /// [`Db::prefetch`]; at most [`db::PREFETCH_MAX`] are looked at): the
    /// caller applying a batch calls this for the next few commands before
    /// executing them. It guesses that argument 1 is the key, which holds
    /// for every data command with a key; a wrong guess only wastes one
    /// probe. No effect on state or replies.
    pub fn prefetch<'a>(&self, argvs: impl IntoIterator<Item = &'a [Bytes]>) {
        self.db.prefetch(
            argvs
                .into_iter()
                .filter_map(|argv| argv.get(1).map(|k| &k[..])),
        );
    }

    /// Executes one command (the write path: applies a log entry).
    pub fn execute(&mut self, argv: &[Bytes], ctx: &ExecCtx) -> Outcome {
        let ctx = self.command_ctx(ctx);
        let out = self.dispatch(argv, &ctx);
        self.db.flush_pending();
        out
    }

    /// [`Keyspace::execute`] for a request the caller already resolved:
    /// `spec` must be what [`resolve`] returns for `argv` (name and arity
    /// checked). Same effect and reply, one command-table lookup less on
    /// the pipelined hot path. Internal commands are not resolvable, so
    /// they never come this way.
    pub fn execute_resolved(
        &mut self,
        spec: &'static CommandSpec,
        argv: &[Bytes],
        ctx: &ExecCtx,
    ) -> Outcome {
        debug_assert!(
            resolve(argv).is_ok_and(|s| std::ptr::eq(s, spec)),
            "spec is argv's resolved command"
        );
        let ctx = self.command_ctx(ctx);
        let out = self.run_spec(spec, argv, &ctx);
        self.db.flush_pending();
        out
    }

    /// The context one command runs with: time clamped to never go back,
    /// the seed of its first (only) step.
    fn command_ctx(&mut self, ctx: &ExecCtx) -> ExecCtx {
        let ctx = self.advance(ctx);
        ExecCtx {
            seed: rng::derive_seed(ctx.seed, 0),
            ..ctx
        }
    }

    fn dispatch(&mut self, argv: &[Bytes], ctx: &ExecCtx) -> Outcome {
        if argv.first().is_some_and(|a| a[..] == *INTERNAL_EXPIRE) {
            return Outcome::Reply(self.internal_expire(&argv[1..], ctx.now_ms));
        }
        match cmd::resolve(argv) {
            Ok(spec) => self.run_spec(spec, argv, ctx),
            Err(e) => Outcome::Reply(e),
        }
    }

    /// Runs the handler of a resolved command.
    fn run_spec(&mut self, spec: &'static CommandSpec, argv: &[Bytes], ctx: &ExecCtx) -> Outcome {
        let res = match spec.handler {
            Handler::Read(f) => f(&self.db, argv, ctx.now_ms).map(Outcome::Reply),
            Handler::Write(f) => f(&mut self.db, argv, ctx).map(Outcome::Reply),
            Handler::Blocking(f) => f(&mut self.db, argv, ctx),
            Handler::Server | Handler::Container => Err(not_here(spec)),
            Handler::Missing => Err(Reply::error(format!(
                "ERR command '{}' is not implemented",
                spec.name
            ))),
        };
        res.unwrap_or_else(Outcome::Reply)
    }

    /// The internal read commands (see [`INTERNAL_VERSIONS`]); None when
    /// `argv` is not one of them.
    fn internal_read(&self, argv: &[Bytes], now: u64) -> Option<Reply> {
        let name = argv.first()?;
        if !name.starts_with(b"__") {
            return None;
        }
        let num =
            |i: usize| -> Option<u64> { std::str::from_utf8(argv.get(i)?).ok()?.parse().ok() };
        let bad = || Reply::error("ERR bad internal command arguments");
        let r = match &name[..] {
            n if n == INTERNAL_VERSIONS => Reply::Array(
                argv[1..]
                    .iter()
                    .map(|k| Reply::Int(self.db.watch_version(k) as i64))
                    .collect(),
            ),
            n if n == INTERNAL_EXPIRED => match num(1) {
                Some(max) => Reply::Array(
                    self.collect_expired(now, max as usize)
                        .into_iter()
                        .map(Reply::Bulk)
                        .collect(),
                ),
                None => bad(),
            },
            n if n == INTERNAL_COUNT_IN_SLOT => match num(1).filter(|s| *s < 16384) {
                Some(slot) => Reply::Int(self.count_keys_in_slot(slot as u16) as i64),
                None => bad(),
            },
            n if n == INTERNAL_KEYS_IN_SLOT => match (num(1).filter(|s| *s < 16384), num(2)) {
                (Some(slot), Some(max)) => Reply::Array(
                    self.keys_in_slot(slot as u16, (max as usize).min(MAX_KEYS_IN_SLOT_REPLY))
                        .into_iter()
                        .map(Reply::Bulk)
                        .collect(),
                ),
                _ => bad(),
            },
            n if n == INTERNAL_STATS => Reply::Array(vec![
                Reply::Int(self.len() as i64),
                Reply::Int(self.db.expires_count() as i64),
            ]),
            _ => return None,
        };
        Some(r)
    }

    fn internal_expire(&mut self, keys: &[Bytes], now: u64) -> Reply {
        let n = keys
            .iter()
            .take(MAX_EXPIRE_BATCH)
            .filter(|k| self.db.delete_if_expired(k, now))
            .count();
        Reply::Int(n as i64)
    }

    /// Executes a read-only command without changing anything (followers,
    /// lease reads). Expired keys are treated as absent, not deleted.
    pub fn execute_read(&self, argv: &[Bytes], now_ms: u64) -> Reply {
        let now = now_ms.max(self.last_now_ms);
        if let Some(r) = self.internal_read(argv, now) {
            return r;
        }
        match cmd::resolve(argv) {
            Ok(spec) => self.read_spec(spec, argv, now),
            Err(e) => e,
        }
    }

    /// [`Keyspace::execute_read`] for a request the caller already
    /// resolved (see [`Keyspace::execute_resolved`]).
    pub fn execute_read_resolved(
        &self,
        spec: &'static CommandSpec,
        argv: &[Bytes],
        now_ms: u64,
    ) -> Reply {
        debug_assert!(
            resolve(argv).is_ok_and(|s| std::ptr::eq(s, spec)),
            "spec is argv's resolved command"
        );
        self.read_spec(spec, argv, now_ms.max(self.last_now_ms))
    }

    /// Runs a resolved command on the read path.
    fn read_spec(&self, spec: &'static CommandSpec, argv: &[Bytes], now: u64) -> Reply {
        match spec.handler {
            Handler::Read(f) => f(&self.db, argv, now).unwrap_or_else(|e| e),
            Handler::Write(_) | Handler::Blocking(_) => {
                Reply::error(format!("ERR command '{}' is not read-only", spec.name))
            }
            Handler::Server | Handler::Container => not_here(spec),
            Handler::Missing => {
                Reply::error(format!("ERR command '{}' is not implemented", spec.name))
            }
        }
    }

    /// Runs a transaction atomically (EXEC): `NullArray` if a watched key
    /// changed (or a watched live key expired since), else an array with
    /// each command's reply (errors included, execution continues).
    /// Blocking commands behave as in MULTI (no blocking).
    pub fn execute_multi(
        &mut self,
        cmds: &[Vec<Bytes>],
        watched: &[(Bytes, u64)],
        ctx: &ExecCtx,
    ) -> Reply {
        let ctx = self.advance(ctx);
        if !self.watch_unchanged_at(watched, ctx.now_ms) {
            return Reply::NullArray;
        }
        let mut replies = Vec::with_capacity(cmds.len());
        for (i, argv) in cmds.iter().enumerate() {
            let c = ExecCtx {
                now_ms: ctx.now_ms,
                seed: rng::derive_seed(ctx.seed, i as u64),
                may_block: false,
            };
            replies.push(self.dispatch(argv, &c).into_reply());
            self.db.flush_pending();
        }
        Reply::Array(replies)
    }

    /// WATCH: the version to remember for `key`.
    pub fn watch_version(&self, key: &[u8]) -> u64 {
        self.db.watch_version(key)
    }

    /// True if no watched key changed since its version was taken.
    pub fn watch_unchanged(&self, watched: &[(Bytes, u64)]) -> bool {
        watched.iter().all(|(k, v)| self.db.watch_version(k) == *v)
    }

    /// Like [`Keyspace::watch_unchanged`], and also fails if a watched key
    /// is present but logically expired at `now` (Redis 7.0 aborts EXEC
    /// when a watched key expired after WATCH; we cannot tell whether it was
    /// already expired at WATCH time, so we abort in both cases).
    pub fn watch_unchanged_at(&self, watched: &[(Bytes, u64)], now: u64) -> bool {
        self.watch_unchanged(watched)
            && watched
                .iter()
                .all(|(k, _)| self.db.exists(k, now) || !self.db.contains_raw(k))
    }

    /// Keys that became non-empty lists/zsets since the last call.
    pub fn take_ready_keys(&mut self) -> Vec<Bytes> {
        self.db.take_ready()
    }

    /// Up to `max` keys expired at `now_ms` (read-only; the leader proposes
    /// `["__expire", keys...]` with them).
    pub fn collect_expired(&self, now_ms: u64, max: usize) -> Vec<Bytes> {
        self.db.expired_keys(now_ms, max.min(MAX_EXPIRE_BATCH))
    }

    pub fn count_keys_in_slot(&self, slot: u16) -> usize {
        self.db.count_in_slot(slot)
    }

    pub fn keys_in_slot(&self, slot: u16, max: usize) -> Vec<Bytes> {
        self.db.keys_in_slot(slot, max)
    }

    /// Order-independent digest of the whole state (see [`Db::digest`]),
    /// including the clock: equal on replicas that applied the same log.
    pub fn digest(&self) -> u64 {
        self.db.digest() ^ rng::mix64(self.last_now_ms)
    }

    /// Number of keys (DBSIZE).
    pub fn len(&self) -> usize {
        self.db.len()
    }

    pub fn is_empty(&self) -> bool {
        self.db.is_empty()
    }

    /// Writes a snapshot of the given slot ranges (see [`snapshot`]).
    pub fn snapshot(
        &self,
        ranges: &[std::ops::RangeInclusive<u16>],
        w: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        self.freeze().snapshot(ranges, w)
    }

    /// Writes a snapshot of every slot.
    pub fn snapshot_all(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        self.freeze().snapshot_all(w)
    }

    /// The state as it is now, to be serialized later or elsewhere (another
    /// thread) while this keyspace goes on executing: O(slots) now, and
    /// the first write to each slot meanwhile copies that slot's table.
    pub fn freeze(&self) -> FrozenKeyspace {
        FrozenKeyspace {
            db: self.db.freeze(),
            last_now_ms: self.last_now_ms,
        }
    }

    /// Restores a snapshot: replaces the slots it covers (all slots for a
    /// full snapshot, which also restores the op counter and time). On
    /// error (corrupt data, bad CRC) nothing is changed.
    pub fn restore(&mut self, r: &mut impl std::io::Read) -> std::io::Result<()> {
        snapshot::read_into(self, r)
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut Db, &mut u64) {
        (&mut self.db, &mut self.last_now_ms)
    }
}

fn not_here(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR command '{}' is executed by the server, not the keyspace",
        spec.name
    ))
}

/// A point-in-time view of a [`Keyspace`] ([`Keyspace::freeze`]): what a
/// snapshot taken at the freeze would contain, serializable on any thread.
pub struct FrozenKeyspace {
    db: db::FrozenDb,
    last_now_ms: u64,
}

impl FrozenKeyspace {
    /// Writes a snapshot of the given slot ranges (see [`snapshot`]).
    pub fn snapshot(
        &self,
        ranges: &[std::ops::RangeInclusive<u16>],
        w: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        snapshot::write(self, ranges, w)
    }

    /// Writes a snapshot of every slot.
    pub fn snapshot_all(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        snapshot::write(self, &[0..=slotraft_types::SLOT_COUNT - 1], w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{parse, show, T};

    fn watched(t: &T, keys: &[&str]) -> Vec<(Bytes, u64)> {
        keys.iter()
            .map(|k| {
                (
                    Bytes::copy_from_slice(k.as_bytes()),
                    t.ks.watch_version(k.as_bytes()),
                )
            })
            .collect()
    }

    fn exec(t: &mut T, w: &[(Bytes, u64)], cmds: &[&str]) -> String {
        let cmds: Vec<Vec<Bytes>> = cmds.iter().map(|c| parse(c)).collect();
        let ctx = t.ctx();
        show(&t.ks.execute_multi(&cmds, w, &ctx))
    }

    #[test]
    fn watch_detects_changes_of_present_and_absent_keys() {
        let mut t = T::new();
        t.ok("set a 1", "OK");
        let w = watched(&t, &["a", "nokey"]);
        t.ok("set other 1", "OK");
        t.ok("get a", "1"); // reads do not touch
        assert_eq!(exec(&mut t, &w, &["incr a"]), "[2]");
        let w = watched(&t, &["a"]);
        t.ok("set a 5", "OK");
        assert_eq!(exec(&mut t, &w, &["incr a"]), "(nil)");
        let w = watched(&t, &["nokey"]);
        t.ok("set nokey 1", "OK");
        t.ok("del nokey", "1");
        assert_eq!(
            exec(&mut t, &w, &["get a"]),
            "(nil)",
            "created and deleted again"
        );
        let w = watched(&t, &["a"]);
        t.ok("expire a 100", "1");
        assert_eq!(
            exec(&mut t, &w, &["get a"]),
            "(nil)",
            "EXPIRE counts as a change"
        );
        let w = watched(&t, &["a"]);
        t.ok("flushall", "OK");
        assert_eq!(
            exec(&mut t, &w, &["get a"]),
            "(nil)",
            "FLUSHALL touches everything"
        );
    }

    #[test]
    fn watch_fails_when_watched_key_expires() {
        let mut t = T::new();
        t.ok("set a 1 px 100", "OK");
        let w = watched(&t, &["a"]);
        t.now += 200;
        assert_eq!(exec(&mut t, &w, &["get a"]), "(nil)");
    }

    #[test]
    fn no_op_writes_do_not_disturb_watchers() {
        let mut t = T::new();
        t.ok("hset h f v", "1");
        let w = watched(&t, &["h"]);
        t.ok("hdel h nofield", "0");
        t.ok("persist h", "0");
        assert_eq!(exec(&mut t, &w, &["hget h f"]), "[v]");
    }

    #[test]
    fn multi_keeps_going_after_errors_and_uses_distinct_seeds() {
        let mut t = T::new();
        t.ok("set s abc", "OK");
        let out = exec(&mut t, &[], &["incr s", "set b 1", "incr b", "nosuch x"]);
        assert_eq!(
            out,
            "[ERROR:ERR value is not an integer or out of range,OK,2,ERROR:ERR unknown command 'nosuch', with args beginning with: 'x' ]"
        );
    }

    #[test]
    fn internal_expire_deletes_only_expired_keys() {
        let mut t = T::new();
        t.ok("set a 1 px 10", "OK");
        t.ok("set b 1 px 1000", "OK");
        t.ok("set c 1", "OK");
        t.now += 11;
        let exp = t.ks.collect_expired(t.now, 10);
        assert_eq!(exp, vec![Bytes::from_static(b"a")]);
        t.ok("__expire a b c", "1");
        assert_eq!(t.ks.len(), 2);
        assert!(lookup(b"__expire").is_none(), "not visible to clients");
    }

    #[test]
    fn active_expiry_finds_exactly_the_expired_keys_oldest_first() {
        let mut t = T::new();
        for i in 0..500 {
            t.ok(&format!("set k{i} v px {}", 1000 + (i * 7919) % 500), "OK");
        }
        t.ok("set forever v", "OK");
        t.ok("set far v pxat 99999999999999999", "OK");
        assert_eq!(t.ks.db().expires_count(), 501);
        t.now += 1250;
        let first = t.ks.collect_expired(t.now, 10);
        assert_eq!(first.len(), 10);
        let mut all = Vec::new();
        loop {
            let batch = t.ks.collect_expired(t.now, 64);
            if batch.is_empty() {
                break;
            }
            let mut argv = vec![Bytes::from_static(INTERNAL_EXPIRE)];
            argv.extend(batch.iter().cloned());
            let ctx = t.ctx();
            assert_eq!(
                t.ks.execute(&argv, &ctx).into_reply(),
                Reply::Int(batch.len() as i64)
            );
            all.extend(batch);
        }
        let want = (0..500).filter(|i| 1000 + (i * 7919) % 500 < 1250).count();
        assert_eq!(all.len(), want);
        assert_eq!(t.ks.len(), 502 - want);
        assert_eq!(t.ks.db().expires_count(), 501 - want);
        t.ok("persist far", "1");
        assert_eq!(t.ks.db().expires_count(), 500 - want);
    }

    #[test]
    fn internal_reads_serve_versions_expired_keys_and_slot_contents() {
        let mut t = T::new();
        t.ok("set {s}a 1 px 10", "OK");
        t.ok("set {s}b 1", "OK");
        let v0 = t.ks.watch_version(b"{s}b");
        assert_eq!(show(&t.read("__versions {s}b")), format!("[{v0}]"));
        t.ok("set {s}b 2", "OK");
        assert_ne!(
            t.read("__versions {s}b"),
            Reply::Array(vec![Reply::Int(v0 as i64)])
        );
        t.now += 11;
        assert_eq!(show(&t.read("__expired 5")), "[{s}a]");
        let slot = slotraft_types::key_slot(b"{s}a").get();
        assert_eq!(show(&t.read(&format!("__countkeysinslot {slot}"))), "2");
        assert_eq!(
            show(&t.read(&format!("__getkeysinslot {slot} 1")))
                .matches('{')
                .count(),
            1
        );
        assert!(show(&t.read("__countkeysinslot 16384")).contains("ERR bad internal"));
        assert!(show(&t.read("__expired x")).contains("ERR bad internal"));
        assert_eq!(show(&t.read("__stats")), "[2,1]");
        assert!(lookup(b"__versions").is_none(), "not visible to clients");
    }

    #[test]
    fn execute_read_sees_but_does_not_delete_expired_keys() {
        let mut t = T::new();
        t.ok("set a 1 px 10", "OK");
        t.now += 11;
        assert_eq!(t.read("get a"), Reply::Null);
        assert_eq!(t.ks.len(), 1, "still stored until a write or __expire");
        assert!(show(&t.read("set a 2")).contains("not read-only"));
        assert!(show(&t.read("ping")).contains("executed by the server"));
        t.ok("get a", "(nil)");
    }

    #[test]
    fn slot_index() {
        let mut t = T::new();
        t.ok("mset {x}1 a {x}2 b {x}3 c other d", "OK");
        let slot = slotraft_types::key_slot(b"x").get();
        assert_eq!(t.ks.count_keys_in_slot(slot), 3);
        assert_eq!(t.ks.keys_in_slot(slot, 2).len(), 2);
        t.ok("del {x}2", "1");
        assert_eq!(t.ks.count_keys_in_slot(slot), 2);
    }

    #[test]
    fn scan_returns_keys_present_throughout_despite_churn() {
        let mut t = T::new();
        for i in 0..200 {
            t.ok(&format!("set {{same}}stable{i} v"), "OK");
            t.ok(&format!("set k{i} v"), "OK");
        }
        let mut seen = std::collections::HashSet::new();
        let mut cur = "0".to_string();
        let mut step = 0;
        loop {
            let Reply::Array(v) = t.reply(&format!("scan {cur} count 5")) else {
                panic!()
            };
            let Reply::Array(keys) = &v[1] else { panic!() };
            seen.extend(keys.iter().map(show));
            // churn: add and remove other keys in the same (big) slot
            t.ok(&format!("set {{same}}tmp{step} v"), "OK");
            t.ok(
                &format!("del {{same}}tmp{}", step / 2),
                if step % 2 == 0 { "1" } else { "0" },
            );
            step += 1;
            cur = show(&v[0]);
            if cur == "0" {
                break;
            }
        }
        for i in 0..200 {
            assert!(seen.contains(&format!("{{same}}stable{i}")));
            assert!(seen.contains(&format!("k{i}")));
        }
    }

    #[test]
    fn unknown_and_arity_errors() {
        let mut t = T::new();
        t.err(
            "foo a b",
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' ",
        );
        t.err("get", "ERR wrong number of arguments for 'get' command");
        t.err("GET a b", "ERR wrong number of arguments for 'get' command");
    }
}
