//! The Rust `redis` crate's cluster client against three real slotraft
//! node processes.
//!
//! Why: Rust services are a target audience, and `redis::cluster::ClusterClient`
//! discovers the slot map itself (CLUSTER SLOTS) and follows MOVED, so this
//! test checks slotraft's cluster protocol through a second, independent
//! client implementation (the Python tests use redis-py and redis-cli).
//! Each node binds its own loopback address (127.0.0.21..23), like a real
//! deployment where nodes differ by address, not only by port.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::cluster::{cluster_pipe, ClusterClient};
use redis::Commands;
use slotraft_types::{key_slot, SLOT_COUNT};

/// Nodes in the test cluster (one shard each, 3 replicas per shard).
const NODES: usize = 3;
/// The cluster bus listens on the client port + this offset.
const BUS_PORT_OFFSET: u16 = 10_000;
/// Attempts at finding ports free on every node's address.
const PORT_ATTEMPTS: usize = 50;
/// How long a node may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the cluster may take to serve writes after `cluster create`.
const WRITABLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds `slotraft cluster create` waits for cluster_state:ok.
const CREATE_WAIT_SECS: &str = "30";
/// Keys written per slot sample (spread over every shard).
const SAMPLE_SLOTS: u16 = 64;

fn node_ip(i: usize) -> String {
    assert!(i < NODES);
    format!("127.0.0.{}", 21 + i)
}

fn bindable(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

/// A client port per node, free together with its bus port on that address.
fn pick_ports() -> Vec<u16> {
    for _ in 0..PORT_ATTEMPTS {
        let base = common::free_port();
        if base > u16::MAX - BUS_PORT_OFFSET - NODES as u16 {
            continue;
        }
        let ports: Vec<u16> = (0..NODES).map(|i| base + i as u16).collect();
        let ok = ports
            .iter()
            .enumerate()
            .all(|(i, p)| bindable(&node_ip(i), *p) && bindable(&node_ip(i), p + BUS_PORT_OFFSET));
        if ok {
            return ports;
        }
    }
    panic!("no free port range for {NODES} nodes after {PORT_ATTEMPTS} attempts");
}

/// The node processes; all killed on drop, also when a test panics.
struct Cluster {
    children: Vec<Child>,
    addrs: Vec<String>,
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_node(ip: &str, port: u16, dir: &Path) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    Command::new(env!("CARGO_BIN_EXE_slotraft"))
        .args(["server", "--bind", ip, "--port", &port.to_string()])
        .arg("--dir")
        .arg(dir)
        .args(["--cluster-enabled", "yes", "--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn slotraft")
}

fn wait_accepting(addr: &str) {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("node {addr} did not accept connections within {START_TIMEOUT:?}");
}

fn start_cluster() -> Cluster {
    let dir = common::temp_dir("cluster-client");
    let ports = pick_ports();
    let mut cluster = Cluster {
        children: Vec::new(),
        addrs: Vec::new(),
        dir: dir.clone(),
    };
    for (i, port) in ports.iter().enumerate() {
        let ip = node_ip(i);
        let node_dir = dir.join(format!("node-{}", i + 1));
        cluster.children.push(spawn_node(&ip, *port, &node_dir));
        cluster.addrs.push(format!("{ip}:{port}"));
    }
    for a in &cluster.addrs {
        wait_accepting(a);
    }
    let st = Command::new(env!("CARGO_BIN_EXE_slotraft"))
        .args(["cluster", "create"])
        .args(&cluster.addrs)
        .args(["--replicas", "3", "--wait", CREATE_WAIT_SECS])
        .stdout(Stdio::null())
        .status()
        .expect("run slotraft cluster create");
    assert!(st.success(), "slotraft cluster create failed: {st}");
    cluster
}

fn client(c: &Cluster) -> ClusterClient {
    let urls: Vec<String> = c.addrs.iter().map(|a| format!("redis://{a}/")).collect();
    ClusterClient::builder(urls)
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5))
        .build()
        .expect("cluster client")
}

/// A key hashing to `slot` (deterministic search).
fn key_for_slot(slot: u16) -> String {
    (0u64..1_000_000)
        .map(|i| format!("rs:{i}"))
        .find(|k| key_slot(k.as_bytes()).get() == slot)
        .expect("a key for every slot within 1M candidates")
}

/// Slots spread evenly over the whole range, so every shard is hit.
fn sample_slots() -> Vec<u16> {
    let step = SLOT_COUNT / SAMPLE_SLOTS;
    (0..SAMPLE_SLOTS).map(|i| i * step + step / 2).collect()
}

/// Retries the first write until every shard has a leader (elections may
/// still run right after `cluster create`).
fn wait_writable(cc: &ClusterClient) {
    let deadline = Instant::now() + WRITABLE_TIMEOUT;
    let probes: Vec<String> = [0u16, SLOT_COUNT / 2, SLOT_COUNT - 1]
        .iter()
        .map(|s| key_for_slot(*s))
        .collect();
    let mut last = String::new();
    while Instant::now() < deadline {
        match cc.get_connection() {
            Ok(mut con) => {
                let all_ok = probes.iter().all(|k| {
                    let r: redis::RedisResult<()> = con.set(k, "ready");
                    if let Err(e) = &r {
                        last = e.to_string();
                    }
                    r.is_ok()
                });
                if all_ok {
                    return;
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cluster not writable within {WRITABLE_TIMEOUT:?}: {last}");
}

#[test]
fn cluster_client_sets_and_gets_in_every_shard_and_pipelines() {
    let c = start_cluster();
    let cc = client(&c);
    wait_writable(&cc);
    let mut con = cc.get_connection().expect("cluster connection");

    // The slot map the client discovered covers every slot with 3 shards.
    let slots: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut con)
        .expect("CLUSTER SLOTS");
    assert_eq!(slots.len(), NODES, "one slot range per shard");

    let keys: Vec<String> = sample_slots().into_iter().map(key_for_slot).collect();
    for (i, k) in keys.iter().enumerate() {
        let () = con.set(k, i).expect("SET");
    }
    for (i, k) in keys.iter().enumerate() {
        let v: usize = con.get(k).expect("GET");
        assert_eq!(v, i, "{k}");
    }
    let n: i64 = con.incr("rs:{counter}", 5).expect("INCRBY");
    assert_eq!(n, 5);

    // A pipeline whose commands span every shard: the client splits it.
    let mut p = cluster_pipe();
    for k in &keys {
        p.cmd("APPEND").arg(k).arg("-p").ignore();
    }
    for k in &keys {
        p.cmd("GET").arg(k);
    }
    let got: Vec<String> = p.query(&mut con).expect("cluster pipeline");
    let want: Vec<String> = (0..keys.len()).map(|i| format!("{i}-p")).collect();
    assert_eq!(got, want);

    let deleted: usize = keys
        .iter()
        .map(|k| con.del::<_, usize>(k).expect("DEL"))
        .sum();
    assert_eq!(deleted, keys.len());
    let absent: Option<String> = con.get(&keys[0]).expect("GET");
    assert_eq!(absent, None);
}
