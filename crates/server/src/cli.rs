//! Command line of the `slotraft` binary.
//!
//! Why subcommands: one binary plays several roles (`server` today; `local`
//! and `cluster` come with the replicated cluster), so every role shares the
//! same build, the same logging setup and the same config machinery.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// slotraft: a Redis-compatible data store whose shards are replicated by Raft.
#[derive(Debug, Parser)]
#[command(name = "slotraft", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one node (with no cluster flags: a one-node store owning all slots).
    Server(ServerArgs),
    /// Run a whole cluster of node processes on this machine until Ctrl-C.
    Local(LocalArgs),
    /// Cluster administration (in the spirit of `redis-cli --cluster`).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Turn freshly started nodes (`server --cluster-enabled yes`) into one
    /// cluster: node ids follow the order given.
    Create(CreateArgs),
    /// Print CLUSTER INFO and CLUSTER NODES of a node.
    Info(InfoArgs),
    /// Check a cluster from one of its nodes: every node reachable, every
    /// node sees `cluster_state:ok` and the same config epoch. Exit 1 if not.
    Check(InfoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Client addresses of the nodes, HOST:PORT.
    #[arg(required = true, num_args = 1..)]
    pub nodes: Vec<String>,
    /// Voters per shard (Raft replicas).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Number of shards (default: one per node).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Seconds to wait until every node reports `cluster_state:ok`.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
}

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// A node's client address, HOST:PORT.
    pub node: String,
}

#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Number of node processes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Client port of the first node (the others follow).
    #[arg(long, default_value_t = 7001)]
    pub port: u16,
    /// Number of shards (default: one per node).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Voters per shard (default: min(3, nodes)).
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Data directory; node i uses DIR/node-i (restarts reuse it).
    #[arg(long, default_value = "slotraft-local")]
    pub dir: PathBuf,
    /// Address every node binds.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
}

/// Options of `slotraft server`. Each overrides the same-named option of the
/// config file (`--config`), which overrides the built-in defaults.
#[derive(Debug, Clone, Args, Default)]
pub struct ServerArgs {
    /// Address to listen on. Loopback by default ("protected by default").
    #[arg(long)]
    pub bind: Option<String>,
    /// TCP port for clients.
    #[arg(long)]
    pub port: Option<u16>,
    /// Data directory (a keyspace snapshot is saved there on shutdown).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Redis-style config file (`name value` per line).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Password clients must send with AUTH (or HELLO ... AUTH).
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Log level: debug, verbose, notice, warning (Redis names) or a
    /// `tracing` filter such as `info,slotraft_server=debug`.
    #[arg(long)]
    pub loglevel: Option<String>,
    /// `yes`: a cluster node, waiting for `slotraft cluster create` (or
    /// restarting into its cluster from `--dir`).
    #[arg(long)]
    pub cluster_enabled: Option<String>,
    /// Gossip's failure-detection timeout in ms.
    #[arg(long)]
    pub cluster_node_timeout: Option<u64>,
    /// How leaders confirm linearizable reads: readindex or lease.
    #[arg(long)]
    pub read_mode: Option<String>,
    /// Compact a shard's log behind a snapshot once it holds this many
    /// applied entries, whatever their size (default 250000).
    #[arg(long)]
    pub snapshot_log_entries: Option<u64>,
    /// Compact a shard's log once it holds at least this many bytes and
    /// --snapshot-log-percent of its last snapshot's size (default 64mb,
    /// at least 1mb).
    #[arg(long)]
    pub snapshot_log_min_bytes: Option<String>,
    /// Compact a shard's log once it holds this percentage of its last
    /// snapshot's size and at least --snapshot-log-min-bytes (default 100).
    #[arg(long)]
    pub snapshot_log_percent: Option<u64>,
    /// Event-loop threads (Redis's `io-threads`). 1 (the default): one
    /// thread serves clients, peers and the node's Raft rounds; more: a
    /// pool of that many, and Raft rounds on a thread of their own.
    #[arg(long)]
    pub io_threads: Option<u64>,
    /// TEST ONLY: run every Raft group with a deliberately injected bug
    /// (read-without-quorum, vote-without-log-check,
    /// commit-old-term-by-counting, no-truncate-on-conflict), so the
    /// fault-injection suite can show it catches it. Never in production.
    #[arg(long, hide = true)]
    pub debug_inject_bug: Option<String>,
}

/// The Raft bug named by `--debug-inject-bug`.
pub fn injected_bug(name: Option<&str>) -> Result<slotraft_raft::InjectedBugs, String> {
    let mut b = slotraft_raft::InjectedBugs::default();
    match name {
        None => {}
        Some("read-without-quorum") => b.read_without_quorum = true,
        Some("vote-without-log-check") => b.vote_without_log_check = true,
        Some("commit-old-term-by-counting") => b.commit_old_term_by_counting = true,
        Some("no-truncate-on-conflict") => b.no_truncate_on_conflict = true,
        Some(other) => return Err(format!("unknown --debug-inject-bug {other}")),
    }
    Ok(b)
}

impl ServerArgs {
    /// The options given on the command line as config `(name, value)` pairs,
    /// applied after the config file.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(b) = &self.bind {
            v.push(("bind", b.clone()));
        }
        if let Some(p) = self.port {
            v.push(("port", p.to_string()));
        }
        if let Some(d) = &self.dir {
            v.push(("dir", d.display().to_string()));
        }
        if let Some(p) = &self.requirepass {
            v.push(("requirepass", p.clone()));
        }
        if let Some(l) = &self.loglevel {
            v.push(("loglevel", l.clone()));
        }
        if let Some(c) = &self.cluster_enabled {
            v.push(("cluster-enabled", c.clone()));
        }
        if let Some(t) = self.cluster_node_timeout {
            v.push(("cluster-node-timeout", t.to_string()));
        }
        if let Some(m) = &self.read_mode {
            v.push(("read-mode", m.clone()));
        }
        if let Some(n) = self.snapshot_log_entries {
            v.push(("snapshot-log-entries", n.to_string()));
        }
        if let Some(b) = &self.snapshot_log_min_bytes {
            v.push(("snapshot-log-min-bytes", b.clone()));
        }
        if let Some(n) = self.snapshot_log_percent {
            v.push(("snapshot-log-percent", n.to_string()));
        }
        if let Some(n) = self.io_threads {
            v.push(("io-threads", n.to_string()));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_flags() {
        let cli = Cli::try_parse_from([
            "slotraft",
            "server",
            "--port",
            "7000",
            "--bind",
            "127.0.0.2",
            "--requirepass",
            "pw",
            "--io-threads",
            "2",
        ])
        .unwrap();
        let Command::Server(a) = cli.command else {
            panic!("server subcommand")
        };
        assert_eq!(a.port, Some(7000));
        let o = a.overrides();
        assert!(o.contains(&("bind", "127.0.0.2".to_string())));
        assert!(o.contains(&("requirepass", "pw".to_string())));
        assert!(o.contains(&("io-threads", "2".to_string())));
    }

    #[test]
    fn parses_cluster_and_local() {
        let cli = Cli::try_parse_from([
            "slotraft",
            "cluster",
            "create",
            "127.0.0.1:7001",
            "127.0.0.1:7002",
            "--shards",
            "4",
        ])
        .unwrap();
        let Command::Cluster(ClusterCommand::Create(c)) = cli.command else {
            panic!("cluster create")
        };
        assert_eq!(c.nodes.len(), 2);
        assert_eq!((c.replicas, c.shards), (3, Some(4)));
        let cli = Cli::try_parse_from(["slotraft", "local"]).unwrap();
        let Command::Local(l) = cli.command else {
            panic!("local")
        };
        assert_eq!((l.nodes, l.port), (3, 7001));
    }

    #[test]
    fn rejects_bad_port() {
        assert!(Cli::try_parse_from(["slotraft", "server", "--port", "99999"]).is_err());
    }
}
