//! Peer transport on the cluster-bus port (design doc §6).
//!
//! Why so: one TCP connection per ordered node pair carries the Raft
//! messages of every group (multiplexed, one frame per peer per driver
//! round, which also coalesces idle groups' heartbeats). The dialer binds
//! its socket to the node's own address first, so a firewall rule between
//! two 127.0.0.x addresses cuts exactly one link. The driver never blocks on
//! the network: it encodes a frame and pushes it into a per-peer queue
//! bounded by [`MAX_PEER_QUEUE_BYTES`]; overflow drops the frame (Raft
//! tolerates message loss). A writer task per peer dials with exponential
//! backoff ([`MIN_BACKOFF`] → [`MAX_BACKOFF`]) and drains the queue.
//!
//! Wire format: `u32 len | u8 version | u8 kind | payload`, all little
//! endian, `len` = bytes after the length field, `2 <= len <= MAX_FRAME_BYTES`
//! checked before any allocation. The first frame each way is a `Hello`
//! (magic, cluster id, node id); a foreign cluster id or an unknown node
//! closes the connection.

use crate::driver::Request;
use bytes::{BufMut, Bytes};
use slotraft_raft::Message;
use slotraft_types::{GroupId, NodeId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// Wire format version carried in every frame.
pub const FRAME_VERSION: u8 = 1;
/// First bytes of a `Hello` payload.
pub const HELLO_MAGIC: &[u8; 8] = b"SLRFTBUS";
/// Largest frame accepted or produced (length field value).
pub const MAX_FRAME_BYTES: usize = 64 << 20;
/// A driver round's messages to one peer are split into frames of about
/// this many bytes (a single larger message still gets its own frame).
pub const TARGET_FRAME_BYTES: usize = 4 << 20;
/// Bound on messages in one `RaftBatch` frame.
pub const MAX_MSGS_PER_FRAME: usize = 65_536;
/// Bound on the bytes queued for one peer; beyond it frames are dropped.
pub const MAX_PEER_QUEUE_BYTES: usize = 64 << 20;
/// First reconnect delay.
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Largest reconnect delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Time allowed for connecting plus the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on accepted inbound connections alive at once.
pub const MAX_INBOUND_CONNS: usize = 1024;

const LEN_BYTES: usize = 4;
const HEADER_BYTES: usize = 2;
const HELLO_BYTES: usize = 8 + 16 + 8;

/// Frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hello = 1,
    RaftBatch = 2,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Hello),
            2 => Some(Kind::RaftBatch),
            _ => None,
        }
    }
}

/// Why bytes are not a valid frame (the connection is closed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLong(usize),
    TooShort,
    BadVersion(u8),
    BadKind(u8),
    BadMagic,
    BadPayload(&'static str),
    ForeignCluster(u128),
    UnknownNode(NodeId),
}

/// The handshake: who is talking, in which cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub cluster_id: u128,
    pub node: NodeId,
}

/// Checks a frame's length field before anything is allocated.
pub fn check_len(len: u32) -> Result<usize, FrameError> {
    let len = len as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLong(len));
    }
    if len < HEADER_BYTES {
        return Err(FrameError::TooShort);
    }
    Ok(len)
}

/// Encodes one frame.
pub fn encode_frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let len = HEADER_BYTES + payload.len();
    assert!(len <= MAX_FRAME_BYTES, "frame over MAX_FRAME_BYTES");
    let mut buf = Vec::with_capacity(LEN_BYTES + len);
    buf.put_u32_le(len as u32);
    buf.put_u8(FRAME_VERSION);
    buf.put_u8(kind as u8);
    buf.extend_from_slice(payload);
    buf
}

/// Splits the body of a frame (bytes after the length field) into kind and
/// payload.
pub fn decode_body(body: &[u8]) -> Result<(Kind, &[u8]), FrameError> {
    if body.len() < HEADER_BYTES {
        return Err(FrameError::TooShort);
    }
    if body[0] != FRAME_VERSION {
        return Err(FrameError::BadVersion(body[0]));
    }
    let kind = Kind::from_u8(body[1]).ok_or(FrameError::BadKind(body[1]))?;
    Ok((kind, &body[HEADER_BYTES..]))
}

/// One decoded frame borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: Kind,
    pub payload: &'a [u8],
    /// Bytes of input the frame occupied (length field included).
    pub used: usize,
}

/// Decodes a complete frame at the start of `buf`: `Ok(None)` if more bytes
/// are needed. Never panics.
pub fn decode_frame(buf: &[u8]) -> Result<Option<Frame<'_>>, FrameError> {
    let Some(len) = buf.get(..LEN_BYTES) else {
        return Ok(None);
    };
    let len = check_len(u32::from_le_bytes(len.try_into().expect("4 bytes")))?;
    let Some(body) = buf.get(LEN_BYTES..LEN_BYTES + len) else {
        return Ok(None);
    };
    let (kind, payload) = decode_body(body)?;
    Ok(Some(Frame {
        kind,
        payload,
        used: LEN_BYTES + len,
    }))
}

pub fn encode_hello(h: &Hello) -> Vec<u8> {
    let mut p = Vec::with_capacity(HELLO_BYTES);
    p.extend_from_slice(HELLO_MAGIC);
    p.put_u128_le(h.cluster_id);
    p.put_u64_le(h.node.get());
    encode_frame(Kind::Hello, &p)
}

pub fn decode_hello(payload: &[u8]) -> Result<Hello, FrameError> {
    if payload.len() != HELLO_BYTES {
        return Err(FrameError::BadPayload("hello length"));
    }
    if &payload[..8] != HELLO_MAGIC {
        return Err(FrameError::BadMagic);
    }
    Ok(Hello {
        cluster_id: u128::from_le_bytes(payload[8..24].try_into().expect("16 bytes")),
        node: NodeId(u64::from_le_bytes(
            payload[24..32].try_into().expect("8 bytes"),
        )),
    })
}

/// Encodes `msgs` (all to one peer) into frames of about
/// [`TARGET_FRAME_BYTES`]: payload `u32 count | (u64 group | u32 len | msg)*`.
pub fn encode_raft_batches(msgs: &[(GroupId, Message)]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut payload: Vec<u8> = Vec::new();
    let mut count = 0u32;
    let mut scratch = Vec::new();
    for (g, m) in msgs {
        scratch.clear();
        m.encode(&mut scratch);
        let need = 12 + scratch.len();
        if count > 0
            && (payload.len() + need > TARGET_FRAME_BYTES || count as usize >= MAX_MSGS_PER_FRAME)
        {
            frames.push(finish_batch(&mut payload, count));
            count = 0;
        }
        if HEADER_BYTES + 4 + need > MAX_FRAME_BYTES {
            continue; // cannot be framed; Raft resends what matters
        }
        payload.put_u64_le(g.get());
        payload.put_u32_le(scratch.len() as u32);
        payload.extend_from_slice(&scratch);
        count += 1;
    }
    if count > 0 {
        frames.push(finish_batch(&mut payload, count));
    }
    frames
}

fn finish_batch(payload: &mut Vec<u8>, count: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + payload.len());
    p.put_u32_le(count);
    p.append(payload);
    encode_frame(Kind::RaftBatch, &p)
}

/// Decodes a `RaftBatch` payload. Never panics; allocates in proportion to
/// the input only.
pub fn decode_raft_batch(payload: &[u8]) -> Result<Vec<(GroupId, Message)>, FrameError> {
    let mut b = payload;
    let count = u32::from_le_bytes(
        b.get(..4)
            .ok_or(FrameError::BadPayload("batch count"))?
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    b = &b[4..];
    if count > MAX_MSGS_PER_FRAME || count > b.len() / 12 {
        return Err(FrameError::BadPayload("batch count too large"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let head = b
            .get(..12)
            .ok_or(FrameError::BadPayload("message header"))?;
        let g = GroupId(u64::from_le_bytes(head[..8].try_into().expect("8")));
        let len = u32::from_le_bytes(head[8..12].try_into().expect("4")) as usize;
        let body = b
            .get(12..12 + len)
            .ok_or(FrameError::BadPayload("message length"))?;
        let m = Message::decode(body).map_err(|_| FrameError::BadPayload("raft message"))?;
        out.push((g, m));
        b = &b[12 + len..];
    }
    if !b.is_empty() {
        return Err(FrameError::BadPayload("trailing bytes"));
    }
    Ok(out)
}

/// Frames waiting for one peer's writer task.
struct PeerQueue {
    frames: Mutex<(VecDeque<Vec<u8>>, usize)>,
    notify: Notify,
}

/// Counters, readable by tests and (later) INFO.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub frames_sent: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_received: AtomicU64,
    pub handshakes_rejected: AtomicU64,
}

/// Peers whose link is cut on purpose (in-process fault injection for
/// tests and drills: the same effect as a firewall rule dropping both
/// directions between this node and the peer).
pub type BlockedPeers = Arc<RwLock<BTreeSet<NodeId>>>;

/// The sending side, used by the driver thread (never blocks on IO).
#[derive(Clone)]
pub struct Outbox {
    peers: Arc<BTreeMap<NodeId, Arc<PeerQueue>>>,
    pub stats: Arc<TransportStats>,
    pub blocked: BlockedPeers,
}

impl Outbox {
    /// Queues one driver round's messages, one or more frames per peer.
    pub fn send(&self, msgs: Vec<(GroupId, Message)>) {
        let mut per_peer: BTreeMap<NodeId, Vec<(GroupId, Message)>> = BTreeMap::new();
        for (g, m) in msgs {
            per_peer.entry(m.to).or_default().push((g, m));
        }
        let blocked = self.blocked.read().expect("blocked lock").clone();
        for (to, msgs) in per_peer {
            let Some(q) = self.peers.get(&to).filter(|_| !blocked.contains(&to)) else {
                continue; // not a known peer, or its link is cut
            };
            for frame in encode_raft_batches(&msgs) {
                self.push(q, frame);
            }
        }
    }

    fn push(&self, q: &PeerQueue, frame: Vec<u8>) {
        self.push_bounded(q, frame, MAX_PEER_QUEUE_BYTES)
    }

    /// Queues `frame` unless the queue would exceed `limit` bytes (then the
    /// frame is dropped and counted: the driver never waits for a peer).
    fn push_bounded(&self, q: &PeerQueue, frame: Vec<u8>, limit: usize) {
        let mut g = q.frames.lock().expect("peer queue lock");
        if g.1 + frame.len() > limit {
            self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        g.1 += frame.len();
        g.0.push_back(frame);
        drop(g);
        q.notify.notify_one();
    }
}

/// What the transport needs to know.
#[derive(Clone)]
pub struct TransportConfig {
    pub id: NodeId,
    pub cluster_id: u128,
    pub bind_ip: IpAddr,
    pub bus_port: u16,
    pub peers: BTreeMap<NodeId, SocketAddr>,
}

/// Running transport: the outbox plus the tasks to abort at shutdown.
pub struct Transport {
    pub outbox: Outbox,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    pub local_addr: SocketAddr,
}

impl Transport {
    /// Binds the bus port and starts the listener and one writer per peer.
    pub async fn start(cfg: TransportConfig, input: SyncSender<Request>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((cfg.bind_ip, cfg.bus_port)).await?;
        let local_addr = listener.local_addr()?;
        let stats = Arc::new(TransportStats::default());
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let mut queues = BTreeMap::new();
        let cfg = Arc::new(cfg);
        for (&peer, &addr) in &cfg.peers {
            if peer == cfg.id {
                continue;
            }
            let q = Arc::new(PeerQueue {
                frames: Mutex::new((VecDeque::new(), 0)),
                notify: Notify::new(),
            });
            queues.insert(peer, q.clone());
            let h = tokio::spawn(writer_loop(cfg.clone(), peer, addr, q, stats.clone()));
            tasks.lock().expect("tasks").push(h.abort_handle());
        }
        let blocked = BlockedPeers::default();
        let inbound = Inbound {
            cfg: cfg.clone(),
            input,
            stats: stats.clone(),
            blocked: blocked.clone(),
        };
        let h = tokio::spawn(accept_loop(listener, inbound, tasks.clone()));
        tasks.lock().expect("tasks").push(h.abort_handle());
        Ok(Transport {
            outbox: Outbox {
                peers: Arc::new(queues),
                stats,
                blocked,
            },
            tasks,
            local_addr,
        })
    }

    /// Aborts every task (closes every socket).
    pub fn stop(&self) {
        for h in self.tasks.lock().expect("tasks").drain(..) {
            h.abort();
        }
    }
}

/// Reads one frame body of at most `max` bytes (checked before allocating:
/// a peer that has not completed the handshake may only make us allocate
/// a hello's worth).
async fn read_frame(s: &mut TcpStream, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; LEN_BYTES];
    s.read_exact(&mut len)
        .await
        .map_err(|_| FrameError::TooShort)?;
    let len = check_len(u32::from_le_bytes(len))?;
    if len > max {
        return Err(FrameError::TooLong(len));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)
        .await
        .map_err(|_| FrameError::TooShort)?;
    Ok(body)
}

/// Reads and checks the peer's `Hello`.
async fn expect_hello(s: &mut TcpStream, cfg: &TransportConfig) -> Result<Hello, FrameError> {
    let body = read_frame(s, HEADER_BYTES + HELLO_BYTES).await?;
    let (kind, payload) = decode_body(&body)?;
    if kind != Kind::Hello {
        return Err(FrameError::BadKind(kind as u8));
    }
    let h = decode_hello(payload)?;
    if h.cluster_id != cfg.cluster_id {
        return Err(FrameError::ForeignCluster(h.cluster_id));
    }
    if h.node == cfg.id || !cfg.peers.contains_key(&h.node) {
        return Err(FrameError::UnknownNode(h.node));
    }
    Ok(h)
}

fn hello_of(cfg: &TransportConfig) -> Vec<u8> {
    encode_hello(&Hello {
        cluster_id: cfg.cluster_id,
        node: cfg.id,
    })
}

async fn dial(cfg: &TransportConfig, peer: NodeId, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = match cfg.bind_ip {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    sock.bind(SocketAddr::new(cfg.bind_ip, 0))?;
    let mut s = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(&hello_of(cfg)).await?;
    let h = expect_hello(&mut s, cfg)
        .await
        .map_err(|e| std::io::Error::other(format!("handshake: {e:?}")))?;
    if h.node != peer {
        return Err(std::io::Error::other("peer answered with another node id"));
    }
    Ok(s)
}

/// Dials `peer` (with backoff) and writes its queued frames, forever.
async fn writer_loop(
    cfg: Arc<TransportConfig>,
    peer: NodeId,
    addr: SocketAddr,
    q: Arc<PeerQueue>,
    stats: Arc<TransportStats>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, dial(&cfg, peer, addr)).await;
        let mut s = match conn {
            Ok(Ok(s)) => s,
            _ => {
                // Messages queued for an unreachable peer are stale by the
                // time it is back (Raft resends what still matters).
                clear(&q);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        // Bounded per iteration: one queue drain; ends on a write error.
        'conn: loop {
            let batch: Vec<Vec<u8>> = {
                let mut g = q.frames.lock().expect("peer queue lock");
                g.1 = 0;
                g.0.drain(..).collect()
            };
            if batch.is_empty() {
                q.notify.notified().await;
                continue;
            }
            for f in batch {
                if s.write_all(&f).await.is_err() {
                    break 'conn;
                }
                stats.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn clear(q: &PeerQueue) {
    let mut g = q.frames.lock().expect("peer queue lock");
    g.0.clear();
    g.1 = 0;
}

/// What every inbound connection task shares.
#[derive(Clone)]
struct Inbound {
    cfg: Arc<TransportConfig>,
    input: SyncSender<Request>,
    stats: Arc<TransportStats>,
    blocked: BlockedPeers,
}

async fn accept_loop(listener: TcpListener, inbound: Inbound, tasks: Arc<Mutex<Vec<AbortHandle>>>) {
    loop {
        let Ok((s, _)) = listener.accept().await else {
            tokio::time::sleep(MIN_BACKOFF).await;
            continue;
        };
        let mut t = tasks.lock().expect("tasks");
        t.retain(|h| !h.is_finished());
        if t.len() >= MAX_INBOUND_CONNS {
            continue; // drops `s`: closed
        }
        let h = tokio::spawn(serve_inbound(s, inbound.clone()));
        t.push(h.abort_handle());
    }
}

/// One inbound connection: handshake, then frames into the driver's input.
async fn serve_inbound(mut s: TcpStream, inb: Inbound) {
    let Inbound {
        cfg,
        input,
        stats,
        blocked,
    } = inb;
    let _ = s.set_nodelay(true);
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, expect_hello(&mut s, &cfg)).await {
        Ok(Ok(h)) => h,
        _ => {
            stats.handshakes_rejected.fetch_add(1, Ordering::Relaxed);
            return; // closes the connection
        }
    };
    if s.write_all(&hello_of(&cfg)).await.is_err() {
        return;
    }
    // Bounded: each iteration consumes one frame; ends on any error.
    loop {
        let Ok(body) = read_frame(&mut s, MAX_FRAME_BYTES).await else {
            return;
        };
        let Ok((Kind::RaftBatch, payload)) = decode_body(&body) else {
            return;
        };
        let Ok(msgs) = decode_raft_batch(payload) else {
            return;
        };
        stats.frames_received.fetch_add(1, Ordering::Relaxed);
        if blocked.read().expect("blocked lock").contains(&hello.node) {
            continue; // link cut on purpose: drop what arrives
        }
        // A peer speaks only for itself.
        let msgs: Vec<_> = msgs
            .into_iter()
            .filter(|(_, m)| m.from == hello.node)
            .collect();
        match input.try_send(Request::Peer(msgs)) {
            Ok(()) | Err(TrySendError::Full(_)) => {} // full: dropped, Raft retries
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// Bytes for tests that speak the protocol by hand.
pub fn hello_frame(cluster_id: u128, node: NodeId) -> Bytes {
    Bytes::from(encode_hello(&Hello { cluster_id, node }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use slotraft_raft::MessageBody;
    use slotraft_types::Term;

    #[test]
    fn hello_roundtrip_and_magic_check() {
        let h = Hello {
            cluster_id: 0xdead_beef_u128 << 64,
            node: NodeId(3),
        };
        let f = encode_hello(&h);
        let Frame {
            kind,
            payload,
            used,
        } = decode_frame(&f).unwrap().unwrap();
        assert_eq!((kind, used), (Kind::Hello, f.len()));
        assert_eq!(decode_hello(payload).unwrap(), h);
        let mut bad = payload.to_vec();
        bad[0] ^= 1;
        assert_eq!(decode_hello(&bad), Err(FrameError::BadMagic));
    }

    #[test]
    fn oversized_length_is_rejected_before_allocation() {
        let mut f = vec![0u8; 8];
        f[..4].copy_from_slice(&((MAX_FRAME_BYTES as u32) + 1).to_le_bytes());
        assert_eq!(
            decode_frame(&f),
            Err(FrameError::TooLong(MAX_FRAME_BYTES + 1))
        );
        assert_eq!(decode_frame(&[1, 0, 0]), Ok(None));
    }

    fn heartbeat(from: u64, to: u64) -> Message {
        Message {
            from: NodeId(from),
            to: NodeId(to),
            term: Term(4),
            body: MessageBody::Heartbeat {
                commit: slotraft_types::LogIndex(9),
                read_round: 2,
                sent_tick: 77,
            },
        }
    }

    #[test]
    fn raft_batch_roundtrip() {
        let msgs: Vec<_> = (0..100).map(|g| (GroupId(g), heartbeat(1, 2))).collect();
        let frames = encode_raft_batches(&msgs);
        assert_eq!(frames.len(), 1, "small messages share one frame");
        let Frame { kind, payload, .. } = decode_frame(&frames[0]).unwrap().unwrap();
        assert_eq!(kind, Kind::RaftBatch);
        assert_eq!(decode_raft_batch(payload).unwrap(), msgs);
    }

    #[test]
    fn full_peer_queue_drops_instead_of_blocking() {
        let q = Arc::new(PeerQueue {
            frames: Mutex::new((VecDeque::new(), 0)),
            notify: Notify::new(),
        });
        let out = Outbox {
            peers: Arc::new(BTreeMap::from([(NodeId(2), q.clone())])),
            stats: Arc::default(),
            blocked: BlockedPeers::default(),
        };
        for _ in 0..5 {
            out.push_bounded(&q, vec![0u8; 100], 250);
        }
        let g = q.frames.lock().unwrap();
        assert_eq!((g.0.len(), g.1), (2, 200));
        assert_eq!(out.stats.frames_dropped.load(Ordering::Relaxed), 3);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some(Frame { payload, used, .. })) = decode_frame(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = decode_hello(payload);
                let _ = decode_raft_batch(payload);
            }
            let _ = decode_raft_batch(&bytes);
            let _ = decode_hello(&bytes);
        }

        #[test]
        fn corrupted_batches_never_panic(flip in 0usize..4096, val in any::<u8>()) {
            let msgs: Vec<_> = (0..20).map(|g| (GroupId(g), heartbeat(1, 2))).collect();
            let mut f = encode_raft_batches(&msgs).remove(0);
            let i = flip % f.len();
            f[i] = val;
            if let Ok(Some(Frame { payload, .. })) = decode_frame(&f) {
                let _ = decode_raft_batch(payload);
            }
        }
    }
}
