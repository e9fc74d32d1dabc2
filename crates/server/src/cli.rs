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
        ])
        .unwrap();
        let Command::Server(a) = cli.command;
        assert_eq!(a.port, Some(7000));
        let o = a.overrides();
        assert!(o.contains(&("bind", "127.0.0.2".to_string())));
        assert!(o.contains(&("requirepass", "pw".to_string())));
    }

    #[test]
    fn rejects_bad_port() {
        assert!(Cli::try_parse_from(["slotraft", "server", "--port", "99999"]).is_err());
    }
}
