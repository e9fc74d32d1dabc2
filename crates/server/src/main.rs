//! `slotraft`: the node binary.
//!
//! The only crate that does IO. `main` builds the config (defaults < file <
//! flags), installs logging, and runs the server on a tokio runtime until
//! SIGINT/SIGTERM. See docs/ARCHITECTURE.md for how the pieces fit.

#![forbid(unsafe_code)]

mod admin;
mod blocking;
mod cli;
mod clients;
mod cluster_engine;
mod cmd_client;
mod cmd_cluster;
mod cmd_command;
mod cmd_info;
mod config;
mod conn;
mod dispatch;
mod engine;
mod expire;
mod glob;
mod identity;
mod ks;
mod local;
mod logging;
mod server;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::cli::{Cli, Command, ServerArgs};
use crate::cluster_engine::{ClusterEngine, NodeParams};
use crate::config::{Config, SharedConfig};
use crate::engine::{Engine, LocalEngine};
use crate::server::Server;

// The allocator is chosen by measurement (docs/benchmarks.md): mimalloc by
// default; `jemalloc` and the system allocator are build options.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Reported by INFO memory.
#[cfg(feature = "mimalloc")]
pub const ALLOCATOR_NAME: &str = "mimalloc";
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
pub const ALLOCATOR_NAME: &str = "jemalloc";
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
pub const ALLOCATOR_NAME: &str = "libc";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => run_server(args),
        Command::Local(args) => local::run(args),
        Command::Cluster(cmd) => admin::run(cmd),
    }
}

/// Defaults < config file < command-line flags.
fn build_config(args: &ServerArgs) -> Result<Config, String> {
    let mut cfg = Config::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        cfg.apply_file_text(&text)?;
    }
    for (name, value) in args.overrides() {
        cfg.set(name, &value, false)
            .map_err(|e| format!("--{name}: {e}"))?;
    }
    Ok(cfg)
}

fn run_server(args: ServerArgs) -> ExitCode {
    let cfg = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    logging::init(&cfg.loglevel);
    let rt = match runtime(cfg.io_threads) {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let bugs = match cli::injected_bug(args.debug_inject_bug.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if bugs.any() {
        warn!(bug = ?bugs, "TEST ONLY: running with a deliberately injected Raft bug");
    }
    match rt.block_on(serve(cfg, args.config.clone(), bugs)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// `io-threads 1`: one event loop thread, like Redis; more: a
/// work-stealing pool of that many threads.
fn runtime(threads: u64) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads as usize)
            .enable_all()
            .build()
    }
}

fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut x = t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32);
    let mut s = String::with_capacity(40);
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(char::from_digit((x % 16) as u32, 16).expect("digit < 16"));
    }
    s
}

fn node_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ (std::process::id() as u64).rotate_left(17)
}

/// Which engine serves this node: a cluster node when `cluster-enabled`
/// or a data directory is configured (a one-node cluster owning every slot
/// unless `cluster-enabled`, durable through the Raft log), else the
/// in-memory engine (docs/decisions/0006).
async fn serve(
    cfg: Config,
    file: Option<std::path::PathBuf>,
    raft_bugs: slotraft_raft::InjectedBugs,
) -> std::io::Result<()> {
    let shared = SharedConfig::new(cfg, file);
    let listeners = server::bind_all(&shared).await?;
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(0);
    let c = shared.get();
    if c.cluster_enabled || c.dir.is_some() {
        let dir = c
            .dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let mut params = node_params(&c, port, dir);
        params.raft_bugs = raft_bugs;
        let engine = ClusterEngine::new(params);
        start_cluster_node(&engine, &c, port).await?;
        let node = engine.clone();
        let server = run_until_shutdown(shared, listeners, port, engine).await;
        drop(server);
        if let Some(n) = node.node() {
            if let Err(e) = n.shutdown().await {
                error!(error = %e, "the node stopped on a storage error");
            }
        }
    } else {
        warn!("no --dir configured: data lives in memory only and is lost at exit");
        run_until_shutdown(
            shared,
            listeners,
            port,
            LocalEngine::new(ks::Keyspace::new(), node_seed()),
        )
        .await;
    }
    info!("slotraft is now ready to exit, bye bye...");
    Ok(())
}

fn node_params(c: &Config, port: u16, dir: std::path::PathBuf) -> NodeParams {
    let bind_ip = c
        .bind
        .iter()
        .filter_map(|b| b.trim_start_matches('-').parse::<std::net::IpAddr>().ok())
        .find(|ip| !ip.is_unspecified())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    NodeParams {
        bind_ip,
        client_port: port,
        dir,
        read_mode: if c.read_mode == "lease" {
            slotraft_node::ReadMode::Lease
        } else {
            slotraft_node::ReadMode::ReadIndex
        },
        snapshot: slotraft_node::SnapshotPolicy {
            max_log_entries: c.snapshot_log_entries,
            min_log_bytes: c.snapshot_log_min_bytes,
            log_percent: c.snapshot_log_percent,
        },
        gossip_node_timeout_ms: c.cluster_node_timeout,
        // One event-loop thread (the default): the driver shares it, so no
        // hand-off between threads on any command's path (decision 0009).
        driver: if c.io_threads <= 1 {
            slotraft_node::DriverPlacement::Runtime
        } else {
            slotraft_node::DriverPlacement::Thread
        },
        raft_bugs: Default::default(),
        standalone: !c.cluster_enabled,
    }
}

/// How long a one-node cluster waits for its first elections before it
/// accepts clients (an election timeout is 300-600 ms).
const ONE_NODE_ELECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Restarts from the data directory, or (no `cluster-enabled`) bootstraps
/// a one-node cluster, or waits for `slotraft cluster create`.
async fn start_cluster_node(engine: &ClusterEngine, c: &Config, port: u16) -> std::io::Result<()> {
    if engine.start_from_dir().await? {
        if !c.cluster_enabled {
            engine.wait_for_leaders(ONE_NODE_ELECTION_WAIT).await;
        }
        return Ok(());
    }
    if c.cluster_enabled {
        info!("cluster node waiting for `slotraft cluster create`");
        return Ok(());
    }
    let ip = engine.params().bind_ip;
    let map = admin::one_node_map(ip, port).map_err(std::io::Error::other)?;
    engine
        .bootstrap(slotraft_types::NodeId(1), map)
        .await
        .map_err(std::io::Error::other)?;
    engine.wait_for_leaders(ONE_NODE_ELECTION_WAIT).await;
    info!("bootstrapped a one-node cluster owning all slots");
    Ok(())
}

/// Serves clients with `engine` until SIGINT/SIGTERM/SHUTDOWN, then closes
/// them (bounded by the shutdown grace).
async fn run_until_shutdown<E: Engine>(
    shared: SharedConfig,
    listeners: Vec<tokio::net::TcpListener>,
    port: u16,
    engine: E,
) -> Arc<Server<E>> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let server = Arc::new(Server {
        config: shared,
        engine,
        clients: Default::default(),
        stats: Default::default(),
        started: Instant::now(),
        run_id: run_id(),
        shutdown: shutdown_rx,
        port,
        shutdown_request: tokio::sync::Notify::new(),
    });
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            info!(addr = %a, "Ready to accept connections tcp");
        }
        tokio::spawn(server::accept_loop(server.clone(), l));
    }
    tokio::spawn(expire::run(server.clone()));
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = server.shutdown_request.notified() => info!("SHUTDOWN command received"),
    }
    info!("shutdown requested: closing clients");
    let _ = shutdown_tx.send(true);
    server::drain(&server).await;
    server
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => info!("received SIGTERM"),
        _ = int.recv() => info!("received SIGINT"),
    }
}
