//! Who leads which shard: parsing `CLUSTER NODES`.
//!
//! Why: "isolate a shard leader", "kill a master while writing" and
//! "CLUSTER FAILOVER on a replica" need the current roles, which change
//! during the run; they are asked from a live node each time.

use std::net::SocketAddr;
use std::time::Duration;

use crate::client::{text, Conn};
use crate::cmd;

/// One line of CLUSTER NODES.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    pub addr: SocketAddr,
    pub master: bool,
    /// For a replica: its master's id.
    pub master_id: Option<String>,
    pub failed: bool,
    pub slot_ranges: usize,
}

/// Parses CLUSTER NODES output; malformed lines are skipped.
pub fn parse_cluster_nodes(s: &str) -> Vec<NodeInfo> {
    s.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<NodeInfo> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    let addr_part = f[1].split('@').next()?.split(',').next()?;
    let addr: SocketAddr = addr_part.parse().ok()?;
    let flags = f[2];
    Some(NodeInfo {
        id: f[0].to_string(),
        addr,
        master: flags.split(',').any(|x| x == "master"),
        master_id: (f[3] != "-").then(|| f[3].to_string()),
        failed: flags.split(',').any(|x| x == "fail" || x == "fail?"),
        slot_ranges: f.len().saturating_sub(8),
    })
}

/// CLUSTER NODES from the first of `addrs` that answers.
pub fn cluster_nodes(addrs: &[SocketAddr], timeout: Duration) -> Vec<NodeInfo> {
    for a in addrs {
        let Ok(mut c) = Conn::connect(*a, timeout) else {
            continue;
        };
        if let Some(t) = c
            .call(cmd!["CLUSTER", "NODES"])
            .ok()
            .as_ref()
            .and_then(text)
        {
            let v = parse_cluster_nodes(&t);
            if !v.is_empty() {
                return v;
            }
        }
    }
    Vec::new()
}

/// Masters serving slots (shard leaders), as seen now.
pub fn leaders(nodes: &[NodeInfo]) -> Vec<&NodeInfo> {
    nodes
        .iter()
        .filter(|n| n.master && !n.failed && n.slot_ranges > 0)
        .collect()
}

/// Healthy replicas of `master`.
pub fn replicas_of<'a>(nodes: &'a [NodeInfo], master: &NodeInfo) -> Vec<&'a NodeInfo> {
    nodes
        .iter()
        .filter(|n| !n.master && !n.failed && n.master_id.as_deref() == Some(&master.id))
        .collect()
}

/// Whether `CLUSTER INFO` of `addr` reports `cluster_state:ok`.
pub fn cluster_ok(addr: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut c) = Conn::connect(addr, timeout) else {
        return false;
    };
    c.call(cmd!["CLUSTER", "INFO"])
        .ok()
        .as_ref()
        .and_then(text)
        .is_some_and(|t| t.contains("cluster_state:ok"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_cluster_nodes() {
        let s = "\
a1 127.0.0.11:30100@40100 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.14:30103@40103 slave a1 0 1700000000000 1 connected
c3 127.0.0.12:30101@40101 master,fail - 0 0 2 disconnected 5461-10922
";
        let v = parse_cluster_nodes(s);
        assert_eq!(v.len(), 3);
        assert!(v[0].master && v[0].slot_ranges == 1);
        assert_eq!(v[1].master_id.as_deref(), Some("a1"));
        assert_eq!(leaders(&v).len(), 1, "the failed master is no leader");
        assert_eq!(replicas_of(&v, &v[0]).len(), 1);
    }
}
