//! The node's shared state and its lifecycle: listen, accept, run the
//! expiry cycle, shut down gracefully.
//!
//! Why one `Server` value shared by `Arc`: connections need the config, the
//! engine, the client registry and the counters; everything mutable inside
//! it is either atomic or behind a short lock, so there is no global state.
//!
//! Shutdown (SIGINT/SIGTERM): stop accepting, tell every connection to close
//! after the batch it is executing (its replies are written first), wait for
//! them up to [`SHUTDOWN_GRACE`], save the snapshot if `--dir` asks for it,
//! exit 0.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::clients::Clients;
use crate::config::SharedConfig;
use crate::engine::Engine;

/// How long shutdown waits for connections to finish their in-flight work.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Poll interval while waiting for connections to drain at shutdown.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Counters for INFO `stats`. Relaxed atomics: they are statistics, and are
/// bumped once per read batch, not per command.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub output_limit_disconnects: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.output_limit_disconnects,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Shared by every connection.
pub struct Server<E: Engine> {
    pub config: SharedConfig,
    pub engine: E,
    pub clients: Clients,
    pub stats: Stats,
    pub started: Instant,
    pub run_id: String,
    /// Flips to true when shutdown begins.
    pub shutdown: watch::Receiver<bool>,
    /// The port actually bound (config `port 0` picks a free one).
    pub port: u16,
    /// Raised by the SHUTDOWN command; main treats it like SIGTERM.
    pub shutdown_request: tokio::sync::Notify,
}

/// Binds every configured address; fails if any cannot be bound.
pub async fn bind_all(cfg: &SharedConfig) -> std::io::Result<Vec<TcpListener>> {
    let c = cfg.get();
    let mut out = Vec::new();
    for addr in &c.bind {
        let sa = format!("{addr}:{}", c.port);
        let l = TcpListener::bind(&sa)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("could not bind {sa}: {e}")))?;
        out.push(l);
    }
    Ok(out)
}

/// Accepts connections on one listener until shutdown.
pub async fn accept_loop<E: Engine>(server: Arc<Server<E>>, listener: TcpListener) {
    let mut shutdown = server.shutdown.clone();
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((sock, addr)) => on_accept(&server, sock, addr),
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

fn on_accept<E: Engine>(server: &Arc<Server<E>>, sock: TcpStream, addr: SocketAddr) {
    Stats::add(&server.stats.connections_received, 1);
    let cfg = server.config.get();
    if server.clients.len() as u64 >= cfg.maxclients {
        Stats::add(&server.stats.rejected_connections, 1);
        let server = server.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut sock = sock;
            let _ = sock
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            drop(server);
        });
        return;
    }
    let _ = sock.set_nodelay(true);
    if cfg.tcp_keepalive > 0 {
        set_keepalive(&sock, cfg.tcp_keepalive);
    }
    let laddr = sock.local_addr().unwrap_or(addr);
    let info = server.clients.register(addr, laddr);
    debug!(id = info.id, %addr, "client connected");
    let server = server.clone();
    tokio::spawn(async move {
        let id = info.id;
        crate::conn::serve(server.clone(), sock, info).await;
        server.clients.unregister(id);
        debug!(id, "client closed");
    });
}

fn set_keepalive(sock: &TcpStream, secs: u64) {
    let s = socket2::SockRef::from(sock);
    let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(secs));
    let _ = s.set_tcp_keepalive(&ka);
}

/// Waits (bounded) until every connection has closed.
pub async fn drain<E: Engine>(server: &Server<E>) {
    server.clients.kill_all();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while !server.clients.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let left = server.clients.len();
    if left > 0 {
        warn!(left, "shutdown grace expired with clients still connected");
    } else {
        info!("all clients closed");
    }
}
