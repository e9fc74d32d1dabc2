//! `slotraft cluster create|info`: cluster administration over the client
//! port, in the spirit of `redis-cli --cluster`.
//!
//! Why over RESP and not the bus: an operator's tool should need nothing
//! but the addresses clients use, and the same commands work from
//! `redis-cli` for debugging (`CLUSTER SLOTRAFT-STATUS`).
//!
//! `create`: asks every node whether it is fresh, numbers the nodes 1..n in
//! the order given, plans shards and replicas (`cluster::plan_cluster`),
//! sends every node the same bootstrap plan with its own id, then waits
//! until every node reports `cluster_state:ok`. A node that already belongs
//! to a cluster stops the command before anything is sent.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use slotraft_cluster::{plan_cluster, ClusterId, ClusterMap, MetaCommand, NodeSpec};
use slotraft_resp::{encode_request, parse_reply, Reply};
use slotraft_types::NodeId;

use crate::cli::{ClusterCommand, CreateArgs};

/// Timeout of one admin request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply the admin client accepts.
pub const MAX_REPLY_BYTES: usize = 64 << 20;
/// Poll period while waiting for the cluster to become ready.
const READY_POLL: Duration = Duration::from_millis(200);

pub fn run(cmd: ClusterCommand) -> ExitCode {
    let res = match cmd {
        ClusterCommand::Create(a) => run_create(&a),
        ClusterCommand::Info(a) => info(&a.node),
        ClusterCommand::Check(a) => check(&a.node),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ERR] {e}");
            ExitCode::FAILURE
        }
    }
}

/// One blocking RESP request/reply exchange.
pub fn request(addr: SocketAddr, argv: &[&[u8]]) -> Result<Reply, String> {
    let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT)).ok();
    s.set_write_timeout(Some(REQUEST_TIMEOUT)).ok();
    let mut out = Vec::new();
    encode_request(argv, &mut out);
    s.write_all(&out).map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Some((r, _)) = parse_reply(&buf).map_err(|e| format!("{addr}: {e}"))? {
            return Ok(r);
        }
        let n = s.read(&mut chunk).map_err(|e| format!("{addr}: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REPLY_BYTES {
            return Err(format!("{addr}: reply over {MAX_REPLY_BYTES} bytes"));
        }
    }
}

fn resolve(hostport: &str) -> Result<SocketAddr, String> {
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("bad address {hostport}: {e}"))?
        .find(|a| a.is_ipv4())
        .or_else(|| hostport.to_socket_addrs().ok()?.next())
        .ok_or_else(|| format!("{hostport} does not resolve"))
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Simple(b) | Reply::Error(b) | Reply::Verbatim(_, b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Reply::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// Checks a node is fresh (not part of any cluster).
fn check_fresh(addr: SocketAddr) -> Result<(), String> {
    let r = request(addr, &[b"CLUSTER", b"SLOTRAFT-STATUS"])?;
    match &r {
        Reply::Array(v) if v.first().map(text).as_deref() == Some("fresh") => Ok(()),
        Reply::Array(v) if v.first().map(text).as_deref() == Some("member") => Err(format!(
            "node {addr} is already part of cluster {}",
            v.get(1).map(text).unwrap_or_default()
        )),
        other => Err(format!(
            "node {addr} is not a slotraft cluster node (start it with --cluster-enabled yes): {}",
            text(other)
        )),
    }
}

/// The bus port of a client port (Redis's +10000).
fn bus_port(port: u16) -> Result<u16, String> {
    slotraft_cluster::map::default_bus_port(port)
        .ok_or_else(|| format!("port {port} has no bus port (port + 10000 > 65535)"))
}

fn random_cluster_id() -> ClusterId {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut x = t ^ ((std::process::id() as u128) << 64);
    // splitmix-style scrambling of the time: a unique, unguessable-enough id.
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    ClusterId(x ^ (x >> 61))
}

fn plan_map(
    specs: &[NodeSpec],
    shards: Option<usize>,
    replicas: usize,
) -> Result<(MetaCommand, ClusterMap), String> {
    let plan = plan_cluster(random_cluster_id(), specs, shards, replicas)
        .map_err(|e| format!("cannot plan the cluster: {e:?}"))?;
    let cmd = MetaCommand::Bootstrap(plan);
    let mut map = ClusterMap::new();
    map.apply(&cmd)
        .map_err(|e| format!("invalid plan: {e:?}"))?;
    Ok((cmd, map))
}

/// The map of a one-node cluster owning every slot (bus port 0: a single
/// node has no peers, any free port will do).
pub fn one_node_map(ip: IpAddr, port: u16) -> Result<ClusterMap, String> {
    let spec = NodeSpec {
        id: NodeId(1),
        ip,
        port,
        bus_port: 0,
    };
    plan_map(&[spec], Some(1), 1).map(|(_, m)| m)
}

/// `slotraft cluster create` (also used by `slotraft local`).
pub fn run_create(a: &CreateArgs) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = a
        .nodes
        .iter()
        .map(|n| resolve(n))
        .collect::<Result<_, _>>()?;
    for addr in &addrs {
        check_fresh(*addr)?;
    }
    let specs: Vec<NodeSpec> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            Ok(NodeSpec {
                id: NodeId(i as u64 + 1),
                ip: addr.ip(),
                port: addr.port(),
                bus_port: bus_port(addr.port())?,
            })
        })
        .collect::<Result<_, String>>()?;
    let replicas = a.replicas.min(specs.len());
    let (cmd, map) = plan_map(&specs, a.shards, replicas)?;
    print_plan(&map);
    let payload = cmd.encode();
    for (spec, addr) in specs.iter().zip(&addrs) {
        let id = spec.id.get().to_string();
        let r = request(
            *addr,
            &[b"CLUSTER", b"SLOTRAFT-BOOTSTRAP", id.as_bytes(), &payload],
        )?;
        if r.is_error() {
            return Err(format!("node {addr} refused the plan: {}", text(&r)));
        }
    }
    println!(
        ">>> Bootstrap sent to {} nodes; waiting for leaders...",
        addrs.len()
    );
    wait_ready(&addrs, Duration::from_secs(a.wait))?;
    println!("[OK] All 16384 slots covered; cluster_state:ok on every node.");
    Ok(())
}

fn print_plan(map: &ClusterMap) {
    println!(
        ">>> Cluster {:032x}: {} nodes, {} shards",
        map.cluster_id().0,
        map.node_count(),
        map.shards().count()
    );
    for s in map.shards() {
        let nodes: Vec<String> = s
            .replicas
            .iter()
            .filter_map(|n| map.node(*n))
            .map(|n| format!("{}:{}", n.ip, n.port))
            .collect();
        let ranges: Vec<String> = s
            .slots
            .iter()
            .map(|r| format!("{}-{}", r.start, r.end))
            .collect();
        println!(
            "    shard {} slots {} replicas {}",
            s.id,
            ranges.join(","),
            nodes.join(" ")
        );
    }
}

/// Waits until every node answers `cluster_state:ok`.
pub fn wait_ready(addrs: &[SocketAddr], limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let not_ready: Vec<SocketAddr> = addrs
            .iter()
            .copied()
            .filter(|a| {
                request(*a, &[b"CLUSTER", b"INFO"])
                    .map(|r| !text(&r).contains("cluster_state:ok"))
                    .unwrap_or(true)
            })
            .collect();
        if not_ready.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("nodes not ready after {limit:?}: {not_ready:?}"));
        }
        std::thread::sleep(READY_POLL);
    }
}

fn info(node: &str) -> Result<(), String> {
    let addr = resolve(node)?;
    println!("{}", text(&request(addr, &[b"CLUSTER", b"INFO"])?));
    println!("{}", text(&request(addr, &[b"CLUSTER", b"NODES"])?));
    Ok(())
}

/// The value of `field:` in a CLUSTER INFO text.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// The client address (`ip:port`) of every node in a CLUSTER NODES text.
fn node_addrs(nodes: &str) -> Vec<String> {
    nodes
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|a| a.split('@').next())
        .map(str::to_string)
        .collect()
}

/// `slotraft cluster check`: asks every node of the cluster (as listed by
/// `node`) for its state and epoch.
fn check(node: &str) -> Result<(), String> {
    let addr = resolve(node)?;
    let nodes = text(&request(addr, &[b"CLUSTER", b"NODES"])?);
    let addrs = node_addrs(&nodes);
    if addrs.is_empty() {
        return Err(format!("{node} lists no nodes: {nodes}"));
    }
    let mut problems = Vec::new();
    let mut epochs = std::collections::BTreeSet::new();
    for a in &addrs {
        let info = resolve(a).and_then(|sa| request(sa, &[b"CLUSTER", b"INFO"]));
        match info.map(|r| text(&r)) {
            Err(e) => problems.push(format!("{a}: unreachable ({e})")),
            Ok(info) => {
                let state = info_field(&info, "cluster_state").unwrap_or_default();
                let epoch = info_field(&info, "cluster_current_epoch").unwrap_or_default();
                println!("{a}: cluster_state:{state} epoch:{epoch}");
                if state != "ok" {
                    problems.push(format!("{a}: cluster_state:{state}"));
                }
                epochs.insert(epoch);
            }
        }
    }
    if epochs.len() > 1 {
        problems.push(format!("nodes disagree on the config epoch: {epochs:?}"));
    }
    if problems.is_empty() {
        println!("[OK] {} nodes agree; all 16384 slots served.", addrs.len());
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_info_and_nodes_texts() {
        let info = "cluster_state:ok\r\ncluster_current_epoch:3\r\n";
        assert_eq!(info_field(info, "cluster_state").as_deref(), Some("ok"));
        assert_eq!(
            info_field(info, "cluster_current_epoch").as_deref(),
            Some("3")
        );
        assert_eq!(info_field(info, "cluster_size"), None);
        let nodes = "abc 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
                     def 127.0.0.2:7002@17002 slave abc 0 0 1 connected\n";
        assert_eq!(node_addrs(nodes), vec!["127.0.0.1:7001", "127.0.0.2:7002"]);
    }

    #[test]
    fn one_node_map_owns_every_slot() {
        let m = one_node_map("127.0.0.1".parse().unwrap(), 6379).unwrap();
        assert_eq!(m.assigned_slots(), 16384);
        assert_eq!(m.node_count(), 1);
    }
}
