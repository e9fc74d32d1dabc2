//! Three real nodes in one process on 127.0.0.1 (distinct bus ports, temp
//! dirs, real WAL with fsync, real TCP), two groups replicated on all three.
//! Every test is bounded by [`TEST_TIMEOUT`]; every wait loop by a deadline.

use bytes::Bytes;
use slotraft_keyspace::Outcome;
use slotraft_node::{Completion, Job, NodeConfig, NotExecuted, Op, ReadMode, SnapshotPolicy};
use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout};

const G1: GroupId = GroupId(1);
const G2: GroupId = GroupId(2);
const CLUSTER: u128 = 0x5107_4af7_0000_0000_0000_0000_0000_0001;
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(5);

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

mod common;
use common::Cluster;

/// Node `i` lives on 127.0.0.`i`.
fn node_ip(i: u64) -> IpAddr {
    common::node_ip(0, i)
}

impl Cluster {
    async fn start() -> Cluster {
        Self::start_with(slotraft_node::SNAPSHOT_LOG_ENTRIES, ReadMode::ReadIndex).await
    }

    async fn start_with(snapshot_log_entries: u64, read_mode: ReadMode) -> Cluster {
        let policy = SnapshotPolicy::every_entries(snapshot_log_entries);
        Self::start_with_policy(policy, read_mode).await
    }

    async fn start_with_policy(snapshot: SnapshotPolicy, read_mode: ReadMode) -> Cluster {
        Self::start_with_store(snapshot, slotraft_node::StoreConfig::default(), read_mode).await
    }

    async fn start_with_store(
        snapshot: SnapshotPolicy,
        store: slotraft_node::StoreConfig,
        read_mode: ReadMode,
    ) -> Cluster {
        let dirs = common::temp_dirs(3);
        let peers = common::bus_peers(0, 3);
        let voters: Vec<NodeId> = (1..=3).map(NodeId).collect();
        let configs: Vec<NodeConfig> = (1..=3u64)
            .map(|i| NodeConfig {
                snapshot,
                store: store.clone(),
                read_mode,
                ..common::node_config(
                    NodeId(i),
                    CLUSTER,
                    &peers,
                    dirs[(i - 1) as usize].path(),
                    vec![(G1, voters.clone()), (G2, voters.clone())],
                )
            })
            .collect();
        Cluster::start_all(dirs, configs).await
    }

    async fn await_leader(&self, g: GroupId) -> u64 {
        self.await_leader_within(g, WAIT, POLL).await
    }

    /// Writes through whichever running node accepts it, retrying only
    /// answers that certainly did not execute.
    async fn write(&self, g: GroupId, cmd: &[&str]) -> Reply {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            for n in self.running() {
                match n.propose(g, Op::Cmd(argv(cmd))).await {
                    Completion::Done(Outcome::Reply(r)) => return r,
                    Completion::NotExecuted(_) => {}
                    other => panic!("write {cmd:?} answered {other:?}"),
                }
            }
            sleep(POLL).await;
        }
        panic!("write {cmd:?} not accepted within {WAIT:?}");
    }

    async fn read_on(&self, id: u64, g: GroupId, cmd: &[&str]) -> Reply {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.node(id).read(g, argv(cmd)).await {
                Completion::Done(Outcome::Reply(r)) => return r,
                Completion::NotExecuted(_) => sleep(POLL).await,
                other => panic!("read answered {other:?}"),
            }
        }
        panic!("read {cmd:?} on {id} not served within {WAIT:?}");
    }
}

fn follower_of(l: u64) -> u64 {
    (1..=3).find(|&i| i != l).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_writes_and_follower_reads_linearizably() {
    writes_and_follower_reads(ReadMode::ReadIndex).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_writes_and_follower_reads_with_lease_reads() {
    writes_and_follower_reads(ReadMode::Lease).await;
}

async fn writes_and_follower_reads(mode: ReadMode) {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start_with(slotraft_node::SNAPSHOT_LOG_ENTRIES, mode).await;
        for g in [G1, G2] {
            let l = c.await_leader(g).await;
            let key = format!("k{}", g.get());
            let r = c
                .node(l)
                .propose(g, Op::Cmd(argv(&["SET", &key, "v1"])))
                .await;
            assert_eq!(r, Completion::Done(Outcome::Reply(Reply::OK)));
            let f = follower_of(l);
            assert_eq!(c.read_on(f, g, &["GET", &key]).await, Reply::bulk("v1"));
        }
        // The groups are independent keyspaces.
        let l1 = c.await_leader(G1).await;
        assert_eq!(c.read_on(l1, G1, &["GET", "k2"]).await, Reply::Null);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_refuses_writes_with_a_leader_hint() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let l = c.await_leader(G1).await;
        let f = follower_of(l);
        let r = c
            .node(f)
            .propose(G1, Op::Cmd(argv(&["SET", "k", "v"])))
            .await;
        assert_eq!(
            r,
            Completion::NotExecuted(NotExecuted::NotLeader(Some(NodeId(l))))
        );
        assert_eq!(c.node(f).leader(G1).unwrap().leader, Some(NodeId(l)));
        // Nothing was written.
        assert_eq!(c.read_on(l, G1, &["GET", "k"]).await, Reply::Null);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_shutdown_fails_over_and_writes_resume() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let l = c.await_leader(G1).await;
        assert_eq!(c.write(G1, &["SET", "before", "1"]).await, Reply::OK);
        let t0 = Instant::now();
        c.stop((l - 1) as usize).await;
        let r = c.write(G1, &["SET", "after", "2"]).await;
        let failover = t0.elapsed();
        assert_eq!(r, Reply::OK);
        println!("failover: leader {l} shut down -> first successful write in {failover:?}");
        assert!(
            failover < Duration::from_secs(5),
            "failover took {failover:?}"
        );
        let nl = c.await_leader(G1).await;
        assert_ne!(nl, l);
        assert_eq!(
            c.read_on(nl, G1, &["GET", "before"]).await,
            Reply::bulk("1")
        );
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_restart_keeps_every_acknowledged_write() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let mut acked = Vec::new();
        for i in 0..40 {
            let g = if i % 2 == 0 { G1 } else { G2 };
            let (k, v) = (format!("key{i}"), format!("val{i}"));
            assert_eq!(c.write(g, &["SET", &k, &v]).await, Reply::OK);
            acked.push((g, k, v));
        }
        assert_eq!(c.write(G1, &["INCRBY", "n", "5"]).await, Reply::Int(5));
        c.shutdown_all().await;
        for i in 0..3 {
            c.restart(i).await;
        }
        for g in [G1, G2] {
            c.await_leader(g).await;
        }
        for id in 1..=3u64 {
            for (g, k, v) in &acked {
                assert_eq!(
                    c.read_on(id, *g, &["GET", k]).await,
                    Reply::bulk(v.as_str()),
                    "node {id} lost {k}"
                );
            }
        }
        // The log continues where it was: the counter keeps its value.
        assert_eq!(c.write(G1, &["INCRBY", "n", "1"]).await, Reply::Int(6));
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_cluster_id_is_rejected_by_the_handshake() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let addr = c.node(1).bus_addr();
        let probe_raw = |bytes: Vec<u8>| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(&bytes).await.unwrap();
            let mut buf = [0u8; 64];
            // Accepted → the node answers with its own hello; rejected →
            // the connection is closed (EOF or reset) without an answer.
            match timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0,
                Err(_) => panic!("handshake neither answered nor closed"),
            }
        };
        let probe = |cluster: u128, node: u64| {
            probe_raw(slotraft_node::transport::hello_frame(cluster, NodeId(node)).to_vec())
        };
        // A huge length before the handshake: refused without allocating it.
        let mut huge = 0x03ff_ffffu32.to_le_bytes().to_vec();
        huge.extend_from_slice(&[1, 1, 0, 0]);
        assert_eq!(probe_raw(huge).await, 0, "oversized hello accepted");
        assert_eq!(probe(CLUSTER ^ 1, 2).await, 0, "foreign cluster accepted");
        assert_eq!(probe(CLUSTER, 99).await, 0, "unknown node accepted");
        assert!(
            probe(CLUSTER, 2).await > 0,
            "a member's hello must be answered"
        );
        assert!(
            c.node(1)
                .transport_stats()
                .handshakes_rejected
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 3
        );
        // The rejected probes did not disturb the members.
        assert_eq!(c.write(G1, &["SET", "k", "v"]).await, Reply::OK);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

/// Highest snapshot index of group `g` on disk in `dir` (file names are
/// `snap-{group:016x}-{index:016x}-{term:016x}.snap`, storage's format).
fn snapshot_index_on_disk(dir: &std::path::Path, g: GroupId) -> Option<u64> {
    let prefix = format!("snap-{:016x}-", g.get());
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".snap"))
        .filter_map(|n| u64::from_str_radix(&n[prefix.len()..prefix.len() + 16], 16).ok())
        .max()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_follower_catches_up_by_snapshot_and_restart_restores_it() {
    const SNAP_EVERY: u64 = 20;
    const WRITES: u64 = 120;
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start_with(SNAP_EVERY, ReadMode::ReadIndex).await;
        let l = c.await_leader(G1).await;
        let f = follower_of(l);
        c.stop((f - 1) as usize).await;
        for i in 0..WRITES {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            assert_eq!(c.write(G1, &["SET", &k, &v]).await, Reply::OK);
        }
        // The leader compacted its log far past what the follower holds,
        // so the follower can only catch up from a snapshot.
        let leader_snap = snapshot_index_on_disk(&c.configs[(l - 1) as usize].dir, G1)
            .expect("leader wrote a snapshot");
        assert!(leader_snap > SNAP_EVERY, "leader snapshot at {leader_snap}");
        c.restart((f - 1) as usize).await;
        let last = format!("k{}", WRITES - 1);
        let want = Reply::bulk(format!("v{}", WRITES - 1).as_str());
        assert_eq!(c.read_on(f, G1, &["GET", &last]).await, want);
        assert_eq!(c.read_on(f, G1, &["GET", "k0"]).await, Reply::bulk("v0"));
        assert_eq!(
            c.read_on(f, G1, &["DBSIZE"]).await,
            Reply::Int(WRITES as i64)
        );
        // Restart everyone: keyspaces come back from snapshot + log replay.
        c.shutdown_all().await;
        for i in 0..3 {
            c.restart(i).await;
        }
        c.await_leader(G1).await;
        for id in 1..=3u64 {
            assert_eq!(
                c.read_on(id, G1, &["DBSIZE"]).await,
                Reply::Int(WRITES as i64),
                "node {id}"
            );
            assert_eq!(c.read_on(id, G1, &["GET", &last]).await, want);
        }
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

/// Waits until node `id` has a snapshot of `g` past index `after`.
async fn await_snapshot_past(c: &Cluster, id: u64, g: GroupId, after: u64) -> u64 {
    let dir = &c.configs[(id - 1) as usize].dir;
    let deadline = Instant::now() + WAIT;
    loop {
        match snapshot_index_on_disk(dir, g) {
            Some(i) if i > after => return i,
            _ if Instant::now() > deadline => panic!("no snapshot of {g} past {after}"),
            _ => sleep(POLL).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_compacted_by_its_bytes_relative_to_the_last_snapshot() {
    // No entry cap: only bytes decide. The first snapshot comes once the
    // log passes the minimum; the next only once the log has grown as
    // large as that snapshot, however many entries it takes.
    const BIG: usize = 64 << 10;
    let policy = SnapshotPolicy {
        max_log_entries: u64::MAX,
        min_log_bytes: 8 << 10,
        log_percent: 100,
    };
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start_with_policy(policy, ReadMode::ReadIndex).await;
        let l = c.await_leader(G1).await;
        let big = "b".repeat(BIG);
        assert_eq!(c.write(G1, &["SET", "big", &big]).await, Reply::OK);
        let first = await_snapshot_past(&c, l, G1, 0).await;
        // The driver counts it when it joins the job, at a later tick.
        let deadline = Instant::now() + WAIT;
        while c.node(l).snapshot_stats().taken == 0 && Instant::now() < deadline {
            sleep(POLL).await;
        }
        let stats = c.node(l).snapshot_stats();
        assert_eq!((stats.taken, stats.in_progress), (1, false), "{stats:?}");
        assert!(stats.last_bytes >= BIG as u64, "{stats:?}");
        // About half the snapshot's size in small entries: not yet.
        let small = "s".repeat(300);
        for i in 0..100 {
            let k = format!("k{i}");
            assert_eq!(c.write(G1, &["SET", &k, &small]).await, Reply::OK);
        }
        sleep(Duration::from_millis(300)).await; // 30 ticks of chances
        let dir = &c.configs[(l - 1) as usize].dir;
        assert_eq!(
            snapshot_index_on_disk(dir, G1),
            Some(first),
            "log at about half the snapshot's size: no snapshot due"
        );
        // Past the snapshot's size: due.
        for i in 100..250 {
            let k = format!("k{i}");
            assert_eq!(c.write(G1, &["SET", &k, &small]).await, Reply::OK);
        }
        let second = await_snapshot_past(&c, l, G1, first).await;
        assert!(second > first + 100, "second snapshot at {second}");
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

/// WAL segment files in `dir`.
fn wal_segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("wal-") && n.ends_with(".log"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_group_is_compacted_when_its_old_entries_pin_the_shared_wal() {
    // G2 takes one write and then idles; G1 keeps overwriting one key, so
    // its own log stays within budget by its own snapshots. Without the
    // WAL budget, G2's first entries would keep every later segment of the
    // shared WAL on disk (its log is tiny: by its own size it is never due).
    const SEGMENT: u64 = 64 << 10;
    const WRITES: usize = 200;
    let policy = SnapshotPolicy {
        max_log_entries: u64::MAX,
        min_log_bytes: 16 << 10,
        log_percent: 100,
    };
    let store = slotraft_node::StoreConfig {
        segment_bytes: SEGMENT,
        prealloc_bytes: 4096,
        ..slotraft_node::StoreConfig::default()
    };
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start_with_store(policy, store, ReadMode::ReadIndex).await;
        c.await_leader(G1).await;
        assert_eq!(c.write(G2, &["SET", "idle", "1"]).await, Reply::OK);
        let value = "v".repeat(4096);
        for _ in 0..WRITES {
            assert_eq!(c.write(G1, &["SET", "k", &value]).await, Reply::OK);
        }
        // ~800 KiB went through a WAL of 64 KiB segments. Budgets: 16 KiB
        // per group (+ the metadata-free node's two groups) + one segment.
        for id in 1..=3u64 {
            let dir = c.configs[(id - 1) as usize].dir.clone();
            await_snapshot_past(&c, id, G2, 0).await;
            let deadline = Instant::now() + WAIT;
            while wal_segments(&dir) > 4 && Instant::now() < deadline {
                sleep(POLL).await;
            }
            let n = wal_segments(&dir);
            assert!(
                n <= 4,
                "node {id} keeps {n} WAL segments of {SEGMENT} bytes"
            );
        }
        assert_eq!(c.read_on(1, G2, &["GET", "idle"]).await, Reply::bulk("1"));
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_log_entries() {
    const CLIENTS: usize = 400;
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let l = c.await_leader(G2).await;
        let before = c.node(l).status(G2).await.unwrap().commit;
        let t0 = Instant::now();
        let node = std::sync::Arc::new(c.nodes[(l - 1) as usize].take().unwrap());
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let n = node.clone();
                tokio::spawn(async move { n.propose(G2, Op::Cmd(argv(&["INCR", "n"]))).await })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Completion::Done(Outcome::Reply(Reply::Int(i))) => seen.push(i),
                other => panic!("INCR answered {other:?}"),
            }
        }
        let elapsed = t0.elapsed();
        seen.sort_unstable();
        // Every INCR applied exactly once, in some order.
        assert_eq!(seen, (1..=CLIENTS as i64).collect::<Vec<_>>());
        let after = node.status(G2).await.unwrap().commit;
        let entries = after.get() - before.get();
        println!(
            "{CLIENTS} concurrent writes in {elapsed:?} ({:.0} ops/s) used {entries} log entries",
            CLIENTS as f64 / elapsed.as_secs_f64()
        );
        assert!(
            entries < CLIENTS as u64 / 2,
            "{CLIENTS} concurrent writes took {entries} entries: not batched"
        );
        c.nodes[(l - 1) as usize] = std::sync::Arc::into_inner(node);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_answered_in_order_with_refusals_in_place() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let l = c.await_leader(G1).await;
        // Warm up: the leader has committed in its term.
        c.write(G1, &["SET", "warm", "1"]).await;
        let jobs = vec![
            Job::Propose {
                group: G1,
                op: Op::Cmd(argv(&["INCR", "n"])),
            },
            Job::Read {
                group: G1,
                argv: argv(&["GET", "n"]),
            },
            Job::Propose {
                group: GroupId(99),
                op: Op::Cmd(argv(&["INCR", "n"])),
            },
            Job::Propose {
                group: G1,
                op: Op::Cmd(argv(&["INCRBY", "n", "10"])),
            },
            Job::Read {
                group: G1,
                argv: argv(&["GET", "n"]),
            },
        ];
        let cs = c.node(l).submit_batch(jobs).await;
        assert_eq!(cs.len(), 5);
        let done = |r: Reply| Completion::Done(Outcome::Reply(r));
        assert_eq!(cs[0], done(Reply::Int(1)));
        assert_eq!(cs[2], Completion::NotExecuted(NotExecuted::UnknownGroup));
        assert_eq!(cs[3], done(Reply::Int(11)));
        // Reads are linearizable: each sees at least the writes submitted
        // before it in the batch (they are applied before it is served).
        for (i, at_least) in [(1usize, 1i64), (4, 11)] {
            match &cs[i] {
                Completion::Done(Outcome::Reply(Reply::Bulk(b))) => {
                    let v: i64 = std::str::from_utf8(b).unwrap().parse().unwrap();
                    assert!(v >= at_least, "read {i} saw {v} < {at_least}");
                }
                other => panic!("read {i} answered {other:?}"),
            }
        }
        // A follower refuses the batch's writes, answers its reads.
        let f = follower_of(l);
        let cs = c
            .node(f)
            .submit_batch(vec![
                Job::Propose {
                    group: G1,
                    op: Op::Cmd(argv(&["INCR", "n"])),
                },
                Job::Read {
                    group: G1,
                    argv: argv(&["GET", "n"]),
                },
            ])
            .await;
        assert!(
            matches!(cs[0], Completion::NotExecuted(NotExecuted::NotLeader(_))),
            "{:?}",
            cs[0]
        );
        assert_eq!(cs[1], done(Reply::bulk("11")));
        assert!(c.node(l).submit_batch(Vec::new()).await.is_empty());
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_key_batches_dropped_on_a_full_channel_are_counted() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let l = c.await_leader(G1).await;
        // Nobody takes the receiver: it fills after READY_KEYS_CAPACITY
        // rounds that made a list ready (one round per awaited write).
        assert_eq!(c.node(l).ready_keys_dropped(), 0);
        for i in 0..slotraft_node::READY_KEYS_CAPACITY + 3 {
            let key = format!("list{i}");
            c.write(G1, &["LPUSH", &key, "x"]).await;
        }
        let l_now = c.await_leader(G1).await;
        assert!(
            c.node(l_now).ready_keys_dropped() > 0,
            "a full ready-key channel must count what it drops"
        );
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialer_connects_from_its_bind_address_and_says_hello_first() {
    use slotraft_node::transport::{decode_body, decode_hello, Kind, Transport, TransportConfig};
    timeout(TEST_TIMEOUT, async {
        let (me, peer) = (node_ip(4), node_ip(3));
        let fake_peer = tokio::net::TcpListener::bind((peer, 0)).await.unwrap();
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let t = Transport::start(
            TransportConfig {
                id: NodeId(1),
                cluster_id: CLUSTER,
                bind_ip: me,
                bus_port: 0,
                peers: BTreeMap::from([(NodeId(2), fake_peer.local_addr().unwrap())]),
            },
            tx,
            tokio::sync::mpsc::channel(16).0,
        )
        .await
        .unwrap();
        let (mut s, from) = fake_peer.accept().await.unwrap();
        // A firewall rule between 127.0.0.4 and 127.0.0.3 cuts this link.
        assert_eq!(from.ip(), me);
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        s.read_exact(&mut body).await.unwrap();
        let (kind, payload) = decode_body(&body).unwrap();
        assert_eq!(kind, Kind::Hello);
        let h = decode_hello(payload).unwrap();
        assert_eq!((h.cluster_id, h.node), (CLUSTER, NodeId(1)));
        t.stop();
    })
    .await
    .expect("test timed out");
}

impl Cluster {
    /// Cuts (or heals) every link between node `id` and the others.
    fn isolate(&self, id: u64, cut: bool) {
        for other in (1..=3u64).filter(|&o| o != id) {
            self.node(id).set_link_blocked(NodeId(other), cut);
            self.node(other).set_link_blocked(NodeId(id), cut);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_leader_never_acknowledges_and_majority_moves_on() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start().await;
        let old = c.await_leader(G1).await;
        assert_eq!(c.write(G1, &["SET", "k", "before"]).await, Reply::OK);
        c.isolate(old, true);
        let minority = c
            .node(old)
            .propose(G1, Op::Cmd(argv(&["SET", "k", "lost"])));
        let majority = async {
            // The majority elects a new leader and accepts a write.
            let deadline = Instant::now() + WAIT;
            loop {
                assert!(Instant::now() < deadline, "majority made no progress");
                for id in (1..=3u64).filter(|&i| i != old) {
                    let r = c
                        .node(id)
                        .propose(G1, Op::Cmd(argv(&["SET", "k", "won"])))
                        .await;
                    if r == Completion::Done(Outcome::Reply(Reply::OK)) {
                        return id;
                    }
                }
                sleep(POLL).await;
            }
        };
        let (minority, new) = tokio::join!(minority, majority);
        assert_ne!(new, old);
        // The isolated leader could not commit: never an OK.
        assert!(
            !matches!(minority, Completion::Done(_)),
            "a minority leader acknowledged: {minority:?}"
        );
        c.isolate(old, false);
        // After healing, the old leader serves the majority's value.
        let deadline = Instant::now() + WAIT;
        loop {
            if c.read_on(old, G1, &["GET", "k"]).await == Reply::bulk("won") {
                break;
            }
            assert!(Instant::now() < deadline, "old leader never caught up");
            sleep(POLL).await;
        }
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}
