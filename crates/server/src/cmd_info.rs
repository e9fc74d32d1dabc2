//! The INFO command.
//!
//! Why Redis's field names: monitoring tools and client libraries parse
//! INFO (`redis_version`, `connected_clients`, `db0:keys=...`), so fields
//! slotraft can report keep Redis's names; memory figures come from the OS
//! (RSS) since the allocator does not keep Redis's accounting.

use std::fmt::Write as _;

use bytes::Bytes;
use slotraft_resp::Reply;

use crate::conn::Conn;
use crate::dispatch::{lower, REDIS_COMPAT_VERSION};
use crate::engine::Engine;
use crate::ks::Argv;
use crate::server::Stats;

/// Sections in the order INFO prints them; the bool says whether the
/// section is in `INFO` / `INFO default`.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("cluster", true),
    ("keyspace", true),
];

/// Resident set size of this process in bytes, from /proc (0 if unknown).
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn cpu_times() -> (f64, f64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which is in parentheses).
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0; // USER_HZ on Linux
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / tick;
    (get(12), get(11)) // (stime, utime): fields 15 and 14 of stat
}

impl<E: Engine> Conn<E> {
    pub fn cmd_info(&self, argv: &Argv) -> Reply {
        let asked: Vec<String> = argv[1..].iter().map(|a| lower(a)).collect();
        let all = asked.is_empty()
            || asked
                .iter()
                .any(|a| matches!(a.as_str(), "all" | "everything" | "default"));
        let mut text = String::new();
        for (name, _) in SECTIONS {
            if all || asked.iter().any(|a| a == name) {
                if !text.is_empty() {
                    text.push_str("\r\n");
                }
                self.info_section(name, &mut text);
            }
        }
        Reply::Verbatim("txt", Bytes::from(text))
    }

    fn info_section(&self, name: &str, t: &mut String) {
        let s = &self.server;
        let title = {
            let mut c = name.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or(' ');
            format!("{first}{}", c.as_str())
        };
        let _ = write!(t, "# {title}\r\n");
        let cfg = &self.cfg;
        let mut kv = |k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(t, "{k}:{v}\r\n");
        };
        match name {
            "server" => {
                kv("redis_version", &REDIS_COMPAT_VERSION);
                kv("slotraft_version", &env!("CARGO_PKG_VERSION"));
                // Cluster tools (`redis-cli --cluster check`) refuse a node
                // whose INFO does not say it is in cluster mode.
                let mode = if s.engine.cluster_enabled() {
                    "cluster"
                } else {
                    "standalone"
                };
                kv("redis_mode", &mode);
                kv("os", &std::env::consts::OS);
                kv("arch_bits", &64);
                kv("multiplexing_api", &"tokio");
                kv("process_id", &std::process::id());
                kv("run_id", &s.run_id);
                kv("tcp_port", &s.port);
                kv("uptime_in_seconds", &s.started.elapsed().as_secs());
                kv("uptime_in_days", &(s.started.elapsed().as_secs() / 86400));
                kv("hz", &cfg.hz);
                kv(
                    "executable",
                    &std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                );
                kv(
                    "config_file",
                    &s.config
                        .file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                );
            }
            "clients" => {
                let es = s.engine.stats();
                kv("connected_clients", &s.clients.len());
                kv("maxclients", &cfg.maxclients);
                kv("blocked_clients", &es.blocked_clients);
            }
            "memory" => {
                let rss = rss_bytes();
                kv("used_memory", &rss);
                kv("used_memory_human", &human(rss));
                kv("used_memory_rss", &rss);
                kv("used_memory_rss_human", &human(rss));
                kv("maxmemory", &cfg.maxmemory);
                kv("maxmemory_policy", &cfg.maxmemory_policy);
                kv("mem_allocator", &crate::ALLOCATOR_NAME);
            }
            "persistence" => {
                kv("loading", &0);
                kv("rdb_changes_since_last_save", &0);
                kv("aof_enabled", &u8::from(cfg.appendonly));
                if let Some(sn) = s.engine.stats().snapshots {
                    kv("raft_snapshot_in_progress", &u8::from(sn.in_progress));
                    kv("raft_snapshots_taken", &sn.taken);
                    kv("raft_last_snapshot_bytes", &sn.last_bytes);
                    kv("raft_last_snapshot_ms", &sn.last_ms);
                }
            }
            "stats" => {
                let st = &s.stats;
                kv(
                    "total_connections_received",
                    &Stats::get(&st.connections_received),
                );
                kv(
                    "total_commands_processed",
                    &Stats::get(&st.commands_processed),
                );
                kv("total_net_input_bytes", &Stats::get(&st.net_input_bytes));
                kv("total_net_output_bytes", &Stats::get(&st.net_output_bytes));
                kv(
                    "rejected_connections",
                    &Stats::get(&st.rejected_connections),
                );
                kv("expired_keys", &s.engine.stats().expired_keys);
                kv("evicted_keys", &0);
                kv(
                    "client_output_buffer_limit_disconnections",
                    &Stats::get(&st.output_limit_disconnects),
                );
            }
            "replication" => {
                kv("role", &"master");
                kv("connected_slaves", &0);
            }
            "cpu" => {
                let (sys, user) = cpu_times();
                kv("used_cpu_sys", &format!("{sys:.6}"));
                kv("used_cpu_user", &format!("{user:.6}"));
            }
            "cluster" => kv("cluster_enabled", &u8::from(s.engine.cluster_enabled())),
            "keyspace" => {
                let es = s.engine.stats();
                if es.keys > 0 {
                    kv(
                        "db0",
                        &format!("keys={},expires={},avg_ttl=0", es.keys, es.expires),
                    );
                }
            }
            other => unreachable!("section {other} listed but not printed"),
        }
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(512), "512.00B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 30), "3.00G");
    }

    #[test]
    fn rss_is_read() {
        assert!(rss_bytes() > 0);
    }
}
