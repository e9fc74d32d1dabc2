//! The registry of connected clients, for CLIENT LIST / INFO / KILL and
//! INFO's `clients` section.
//!
//! Why a separate, coarse registry: connections own their sockets and
//! session state; other connections only need a read-mostly view (name,
//! address, last command) and a way to ask one to close. Each client
//! publishes that view in a small per-client mutex updated once per read
//! batch, so the hot path never touches the registry's map.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use slotraft_resp::Protocol;
use tokio::sync::Notify;

/// What other connections may see of a client.
#[derive(Clone, Debug, Default)]
pub struct ClientMeta {
    pub name: String,
    pub resp3: bool,
    pub last_cmd: &'static str,
    /// Commands queued in MULTI, or None outside MULTI.
    pub multi: Option<usize>,
    pub watching: usize,
    pub blocked: bool,
    pub qbuf: usize,
    pub omem: usize,
}

/// One connected client.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    last_interaction: Mutex<Instant>,
    pub meta: Mutex<ClientMeta>,
    killed: AtomicBool,
    pub kill_signal: Notify,
}

impl ClientInfo {
    pub fn touch(&self) {
        *self.last_interaction.lock() = Instant::now();
    }

    pub fn idle_secs(&self) -> u64 {
        self.last_interaction.lock().elapsed().as_secs()
    }

    /// Asks the connection to close (CLIENT KILL); it notices at its next
    /// await point.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_signal.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    pub fn set_proto(&self, p: Protocol) {
        self.meta.lock().resp3 = p == Protocol::Resp3;
    }

    /// The CLIENT LIST / CLIENT INFO line (Redis 7 field order; memory
    /// fields are approximations of the buffers this connection holds).
    pub fn list_line(&self, current_cmd: Option<&str>) -> String {
        let m = self.meta.lock().clone();
        let mut flags = String::new();
        if m.multi.is_some() {
            flags.push('x');
        }
        if m.blocked {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let multi = m.multi.map(|n| n as i64).unwrap_or(-1);
        let cmd = current_cmd.unwrap_or(m.last_cmd);
        let cmd = if cmd.is_empty() { "NULL" } else { cmd };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            m.name,
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            flags,
            multi,
            m.qbuf,
            m.omem,
            m.qbuf + m.omem,
            cmd,
            // No lib-name/lib-ver: those fields are Redis 7.2.
            if m.resp3 { 3 } else { 2 },
        )
    }
}

/// All connected clients by id.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
}

impl Clients {
    /// Registers a new connection; ids start at 1 and never repeat.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            created: now,
            last_interaction: Mutex::new(now),
            meta: Mutex::new(ClientMeta::default()),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
        });
        self.map.lock().insert(id, info.clone());
        info
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of all clients in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    /// Asks every client to close (shutdown).
    pub fn kill_all(&self) {
        for c in self.all() {
            c.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_list_line_has_fields() {
        let c = Clients::default();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let l: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        let x = c.register(a, l);
        let y = c.register(a, l);
        assert_ne!(x.id, y.id);
        x.meta.lock().name = "worker".into();
        let line = x.list_line(Some("client|list"));
        assert!(line.starts_with(&format!(
            "id={} addr=127.0.0.1:5000 laddr=127.0.0.1:6379",
            x.id
        )));
        assert!(line.contains(" name=worker "));
        assert!(line.contains(" cmd=client|list "));
        assert!(line.contains(" flags=N "));
        c.unregister(x.id);
        assert_eq!(c.len(), 1);
        assert!(c.all().iter().all(|c| c.id != x.id));
        y.kill();
        assert!(y.is_killed());
    }
}
