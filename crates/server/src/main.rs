//! `slotraft`: the node binary.
//!
//! The only crate that does IO. `main` builds the config (defaults < file <
//! flags), installs logging, and runs the server on a tokio runtime until
//! SIGINT/SIGTERM. See docs/ARCHITECTURE.md for how the pieces fit.

#![forbid(unsafe_code)]

mod blocking;
mod cli;
mod clients;
mod cmd_client;
mod cmd_command;
mod cmd_info;
mod config;
mod conn;
mod dispatch;
mod engine;
mod expire;
mod glob;
mod ks;
mod logging;
mod persist;
mod server;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use tokio::sync::watch;
use tracing::{error, info};

use crate::cli::{Cli, Command, ServerArgs};
use crate::config::{Config, SharedConfig};
use crate::engine::LocalEngine;
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
    match rt.block_on(serve(cfg, args.config.clone())) {
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

async fn serve(cfg: Config, file: Option<std::path::PathBuf>) -> std::io::Result<()> {
    let shared = SharedConfig::new(cfg, file);
    let listeners = server::bind_all(&shared).await?;
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(0);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let dir = shared.get().dir.clone();
    let loaded = match &dir {
        Some(d) => persist::load(d)?.map(|ks| (ks, d)),
        None => None,
    };
    let keyspace = match loaded {
        Some((ks, d)) => {
            info!(keys = ks.len(), path = %persist::snapshot_path(d).display(), "snapshot loaded");
            ks
        }
        None => ks::Keyspace::new(),
    };
    let server = Arc::new(Server {
        config: shared,
        engine: LocalEngine::new(keyspace, node_seed()),
        clients: Default::default(),
        stats: Default::default(),
        started: Instant::now(),
        run_id: run_id(),
        shutdown: shutdown_rx,
        port,
        shutdown_request: tokio::sync::Notify::new(),
    });
    for l in listeners {
        info!(addr = %l.local_addr()?, "Ready to accept connections tcp");
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
    if let Some(d) = &dir {
        let saved = server
            .engine
            .with_keyspace(|ks| persist::save(d, ks).map(|()| ks.len()));
        match saved {
            Ok(keys) => info!(keys, path = %persist::snapshot_path(d).display(), "snapshot saved"),
            Err(e) => error!(error = %e, "saving the snapshot failed"),
        }
    }
    info!("slotraft is now ready to exit, bye bye...");
    Ok(())
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
