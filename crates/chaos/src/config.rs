//! Target description, read from a small TOML file (`chaos/*.toml`).
//!
//! Why a config file: the same suite must run against slotraft and against
//! any Redis-Cluster-compatible system for comparison, so everything
//! system-specific (how to start a node, how to form the cluster, whether it
//! speaks the cluster protocol) is data, not code.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;

/// Most nodes a target may have.
pub const MAX_NODES: usize = 16;

/// One node's address.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct NodeAddr {
    pub ip: String,
    pub port: u16,
}

impl NodeAddr {
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::new(self.ip.parse().expect("validated"), self.port)
    }
}

/// A target system.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub nodes: Vec<NodeAddr>,
    /// Shell command starting one node in the foreground, with `{ip}`,
    /// `{port}`, `{dir}` (an empty per-node directory kept across restarts),
    /// `{index}` and `{cwd}` (where the tool was started) substituted. It is run as `sh -c "exec <start>"`.
    pub start: String,
    /// Run once after every node listens, with `{nodes}` = `ip:port ...`
    /// and `{cwd}` substituted.
    #[serde(default)]
    pub setup: Option<String>,
    /// Whether the target speaks the cluster protocol (CLUSTER SLOTS,
    /// CLUSTER NODES). A single plain node does not.
    #[serde(default = "yes")]
    pub cluster: bool,
    /// How long to wait for `cluster_state:ok` after setup and after healing.
    #[serde(default = "default_settle")]
    pub settle_secs: u64,
    /// Client read timeout: an op without reply by then is unknown.
    #[serde(default = "default_op_timeout")]
    pub op_timeout_ms: u64,
    /// Whether `CLUSTER FAILOVER` on a replica is a supported fault.
    #[serde(default)]
    pub failover: bool,
    /// Whether nodes run under libfaketime (the `clock-skew` fault). Debian's
    /// redis-server does not start under it (jemalloc's initialisation
    /// recurses into the faked clock_gettime), so it is opt-in per target.
    #[serde(default)]
    pub clock_skew: bool,
}

fn yes() -> bool {
    true
}
fn default_settle() -> u64 {
    30
}
fn default_op_timeout() -> u64 {
    1000
}

impl Target {
    pub fn load(path: &Path) -> Result<Target, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let t: Target = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        t.validate()?;
        Ok(t)
    }

    /// Only loopback addresses may ever be a target of this tool.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            return Err(format!("need 1..={MAX_NODES} nodes"));
        }
        for n in &self.nodes {
            let ip: IpAddr = n.ip.parse().map_err(|e| format!("{}: {e}", n.ip))?;
            if !ip.is_loopback() || !ip.is_ipv4() {
                return Err(format!("{}: only 127.0.0.0/8 addresses are allowed", n.ip));
            }
        }
        Ok(())
    }

    pub fn seeds(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(NodeAddr::socket).collect()
    }

    /// The `{nodes}` substitution of the setup command.
    pub fn node_list(&self) -> String {
        let v: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}:{}", n.ip, n.port))
            .collect();
        v.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_non_loopback() {
        let ok = r#"
            name = "t"
            nodes = [{ ip = "127.0.0.11", port = 30100 }]
            start = "redis-server --port {port}"
        "#;
        let t: Target = toml::from_str(ok).expect("parses");
        assert!(t.validate().is_ok());
        assert!(t.cluster);
        let bad = ok.replace("127.0.0.11", "10.0.0.1");
        let t: Target = toml::from_str(&bad).expect("parses");
        assert!(t.validate().is_err());
    }

    #[test]
    fn shipped_configs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../chaos");
        for f in [
            "redis-cluster.toml",
            "redis-single.toml",
            "slotraft-single.toml",
            "slotraft.toml",
            "slotraft-buggy.toml",
        ] {
            Target::load(&root.join(f)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
