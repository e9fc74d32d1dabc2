//! Clients parked by blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...).
//!
//! Why the registry lives inside the engine's state (under the same lock as
//! the keyspace): a client must be parked atomically with the execution that
//! found its keys empty, and served atomically with the write that filled
//! them; otherwise a push between "empty" and "parked" is a lost wakeup.
//!
//! Semantics follow Redis: per key, waiters are served first come first
//! served; a served client re-executes its own command (so BLMOVE moves,
//! BZPOPMIN pops) and, if the key is empty again, stays parked; a timeout
//! replies with the command's null; a disconnect removes the waiter.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use slotraft_resp::Reply;
use tokio::sync::oneshot;

use crate::ks::Argv;

/// Most clients that may be parked at once (each costs one entry per key).
/// Beyond it a blocking command gets an error instead of parking.
pub const MAX_BLOCKED_CLIENTS: usize = 100_000;

/// A parked client.
struct Waiter {
    argv: Argv,
    keys: Vec<Bytes>,
    tx: oneshot::Sender<Reply>,
}

/// Parked clients by id, and FIFO queues of client ids per key.
#[derive(Default)]
pub struct BlockedClients {
    waiters: HashMap<u64, Waiter>,
    by_key: HashMap<Bytes, VecDeque<u64>>,
}

impl BlockedClients {
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Parks `client` on `keys`; the reply arrives on the returned receiver.
    /// Returns None when the registry is full.
    pub fn park(
        &mut self,
        client: u64,
        argv: Argv,
        keys: Vec<Bytes>,
    ) -> Option<oneshot::Receiver<Reply>> {
        if self.waiters.len() >= MAX_BLOCKED_CLIENTS {
            return None;
        }
        // Invariant: a client runs one command at a time, so it is parked at
        // most once.
        assert!(
            !self.waiters.contains_key(&client),
            "client {client} parked twice"
        );
        let (tx, rx) = oneshot::channel();
        for k in &keys {
            let q = self.by_key.entry(k.clone()).or_default();
            if !q.contains(&client) {
                q.push_back(client);
            }
        }
        self.waiters.insert(client, Waiter { argv, keys, tx });
        Some(rx)
    }

    /// Removes a waiter (timeout, disconnect). Returns false when it was
    /// already served (its reply is then in its channel).
    pub fn remove(&mut self, client: u64) -> bool {
        self.take(client).is_some()
    }

    fn take(&mut self, client: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&client)?;
        for k in &w.keys {
            if let Some(q) = self.by_key.get_mut(k) {
                q.retain(|&c| c != client);
                if q.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        Some(w)
    }

    /// Removes a waiter and answers it with `reply` (CLIENT UNBLOCK, or a
    /// served re-execution). False if it was not parked.
    pub fn serve(&mut self, client: u64, reply: Reply) -> bool {
        let Some(w) = self.take(client) else {
            return false;
        };
        // The receiver may be gone if the client vanished in the meantime;
        // then the effect still happened, exactly as in Redis.
        let _ = w.tx.send(reply);
        true
    }

    /// The clients waiting on `key`, in arrival order.
    pub fn waiting_on(&self, key: &[u8]) -> Vec<u64> {
        self.by_key
            .get(key)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn argv_of(&self, client: u64) -> Option<&Argv> {
        self.waiters.get(&client).map(|w| &w.argv)
    }
}

/// What a blocking command replies when its timeout expires (or CLIENT
/// UNBLOCK ... TIMEOUT): Redis 7.0.15's `replyToBlockedClientTimedOut`
/// sends a null array for every list and zset blocking command, BLMOVE and
/// BRPOPLPUSH included (`*-1` in RESP2, `_` in RESP3; verified against
/// redis-server 7.0.15), although their non-blocking path (inside MULTI)
/// replies a null bulk.
pub fn timeout_reply() -> Reply {
    Reply::NullArray
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn fifo_per_key_and_cleanup() {
        let mut r = BlockedClients::default();
        let _a = r
            .park(1, vec![b("blpop"), b("k"), b("0")], vec![b("k")])
            .unwrap();
        let mut rb = r
            .park(
                2,
                vec![b("blpop"), b("k"), b("j"), b("0")],
                vec![b("k"), b("j")],
            )
            .unwrap();
        assert_eq!(r.waiting_on(b"k"), vec![1, 2]);
        assert!(r.remove(1));
        assert!(!r.remove(1));
        assert_eq!(r.waiting_on(b"k"), vec![2]);
        r.serve(2, Reply::Int(7));
        assert_eq!(rb.try_recv().unwrap(), Reply::Int(7));
        assert!(r.is_empty());
        assert!(r.waiting_on(b"j").is_empty());
    }

    #[test]
    fn serve_delivers_once() {
        let mut r = BlockedClients::default();
        let mut rx = r
            .park(5, vec![b("blpop"), b("k"), b("0")], vec![b("k")])
            .unwrap();
        assert!(r.serve(5, Reply::NullArray));
        assert_eq!(rx.try_recv().unwrap(), Reply::NullArray);
        assert!(!r.serve(5, Reply::NullArray));
    }

    #[test]
    fn timeout_replies() {
        assert_eq!(timeout_reply(), Reply::NullArray);
        let mut out = Vec::new();
        timeout_reply().encode(slotraft_resp::Protocol::Resp2, &mut out);
        assert_eq!(out, b"*-1\r\n");
    }
}
