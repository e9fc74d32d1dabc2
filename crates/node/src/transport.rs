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
//! and `len <=` the kind's own limit ([`max_frame_len`]) checked before any
//! allocation. The first frame each way is a `Hello` (magic, cluster id,
//! node id); a foreign cluster id or an unknown node closes the connection.
//!
//! Frame kinds after the hello: `RaftBatch` (to the driver), and the
//! cluster-bus kinds handed to the gossip task ([`crate::gossip`]) through a
//! bounded channel: `Gossip` (one `slotraft_gossip::Message`, whose sender
//! must be the peer authenticated by the hello), `MapRequest` (the asker's
//! map epoch) and `MapReply` (a `ClusterMap` snapshot, at most
//! [`MAX_MAP_REPLY_BYTES`]). Every connection is one-way after the hello
//! (the dialer writes), so an answer travels on the answerer's own outbound
//! connection. Any undecodable frame closes its connection.
//!
//! Link state: the writer tasks record which peers are connected and which
//! became unreachable (a dial, handshake or write failed); the driver takes
//! the latter with [`Outbox::take_unreachable`] to tell Raft.

use crate::driver::Request;
use bytes::{BufMut, Bytes};
use slotraft_cluster::{ClusterId, ClusterMap};
use slotraft_raft::Message;
use slotraft_types::{GroupId, NodeId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Notify};
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

/// Largest `ClusterMap` snapshot sent or accepted in a `MapReply` (the
/// largest valid map, 16384 shards of 9 replicas, encodes to about 3 MiB).
pub const MAX_MAP_REPLY_BYTES: usize = 8 << 20;
/// Capacity of the channel from the inbound connections to the gossip
/// task; when full, bus frames are dropped (gossip tolerates loss).
pub const BUS_INBOX_CAPACITY: usize = 4096;

/// Read buffer of an inbound peer connection.
const READ_BUF_BYTES: usize = 64 << 10;
/// Queued frames are joined into writes of at most this many bytes.
const WRITE_COALESCE_BYTES: usize = 256 << 10;
const LEN_BYTES: usize = 4;
const HEADER_BYTES: usize = 2;
const HELLO_BYTES: usize = 8 + 16 + 8;
const MAP_REQUEST_BYTES: usize = 8;

/// Frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hello = 1,
    RaftBatch = 2,
    /// One gossip message (`slotraft_gossip::Message::encode`).
    Gossip = 3,
    /// "Send me your map if newer than this epoch" (`u64` epoch).
    MapRequest = 4,
    /// A whole cluster map (`ClusterMap::encode_snapshot`).
    MapReply = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Hello),
            2 => Some(Kind::RaftBatch),
            3 => Some(Kind::Gossip),
            4 => Some(Kind::MapRequest),
            5 => Some(Kind::MapReply),
            _ => None,
        }
    }
}

/// The largest length field (header included) a frame of `kind` may have:
/// checked as soon as the kind byte is read, before the payload is
/// allocated, so a peer cannot make us reserve more than its kind needs.
pub fn max_frame_len(kind: Kind) -> usize {
    let payload = match kind {
        Kind::Hello => HELLO_BYTES,
        Kind::RaftBatch => MAX_FRAME_BYTES - HEADER_BYTES,
        Kind::Gossip => slotraft_gossip::message::MAX_MESSAGE_BYTES,
        Kind::MapRequest => MAP_REQUEST_BYTES,
        Kind::MapReply => MAX_MAP_REPLY_BYTES,
    };
    let len = HEADER_BYTES + payload;
    debug_assert!(len <= MAX_FRAME_BYTES);
    len
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

/// Checks a frame's header (version and kind bytes) against its length
/// field: the kind must be known and `len` within its limit.
pub fn decode_header(header: [u8; HEADER_BYTES], len: usize) -> Result<Kind, FrameError> {
    if header[0] != FRAME_VERSION {
        return Err(FrameError::BadVersion(header[0]));
    }
    let kind = Kind::from_u8(header[1]).ok_or(FrameError::BadKind(header[1]))?;
    if len > max_frame_len(kind) {
        return Err(FrameError::TooLong(len));
    }
    Ok(kind)
}

/// Splits the body of a frame (bytes after the length field) into kind and
/// payload.
pub fn decode_body(body: &[u8]) -> Result<(Kind, &[u8]), FrameError> {
    let Some(header) = body.get(..HEADER_BYTES) else {
        return Err(FrameError::TooShort);
    };
    let kind = decode_header([header[0], header[1]], body.len())?;
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
    // The kind's own limit is checked as soon as its byte is there, before
    // waiting for (or buffering) the rest of an oversized frame.
    if let Some(h) = buf.get(LEN_BYTES..LEN_BYTES + HEADER_BYTES) {
        decode_header([h[0], h[1]], len)?;
    }
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

/// A `Gossip` frame.
pub fn encode_gossip(msg: &slotraft_gossip::Message) -> Vec<u8> {
    encode_frame(Kind::Gossip, &msg.encode())
}

/// Decodes a `Gossip` payload; never panics (the message codec checks
/// every count against its named limit before allocating).
pub fn decode_gossip(payload: &[u8]) -> Result<slotraft_gossip::Message, FrameError> {
    slotraft_gossip::Message::decode(payload).map_err(|_| FrameError::BadPayload("gossip message"))
}

/// A `MapRequest` frame: the asker's current map epoch.
pub fn encode_map_request(epoch: u64) -> Vec<u8> {
    encode_frame(Kind::MapRequest, &epoch.to_le_bytes())
}

pub fn decode_map_request(payload: &[u8]) -> Result<u64, FrameError> {
    let bytes: [u8; MAP_REQUEST_BYTES] = payload
        .try_into()
        .map_err(|_| FrameError::BadPayload("map request length"))?;
    Ok(u64::from_le_bytes(bytes))
}

/// A `MapReply` frame, or `None` if the map's snapshot exceeds
/// [`MAX_MAP_REPLY_BYTES`] (it is then not sent; peers keep asking).
pub fn encode_map_reply(map: &ClusterMap) -> Option<Vec<u8>> {
    let snap = map.encode_snapshot();
    (snap.len() <= MAX_MAP_REPLY_BYTES).then(|| encode_frame(Kind::MapReply, &snap))
}

/// Decodes and validates a `MapReply` payload; never panics.
pub fn decode_map_reply(payload: &[u8]) -> Result<ClusterMap, FrameError> {
    if payload.len() > MAX_MAP_REPLY_BYTES {
        return Err(FrameError::TooLong(payload.len()));
    }
    ClusterMap::decode_snapshot(payload).map_err(|_| FrameError::BadPayload("cluster map"))
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
    /// Connections closed because a frame after the hello was invalid
    /// (undecodable, oversized for its kind, or a gossip message claiming
    /// another sender than the authenticated peer).
    pub frames_rejected: AtomicU64,
    /// Bus frames (gossip, map request/reply) dropped because the gossip
    /// task's inbox was full.
    pub bus_frames_dropped: AtomicU64,
}

/// A cluster-bus frame decoded by an inbound connection, for the gossip
/// task. `from` is always the peer authenticated by that connection's hello.
#[derive(Debug)]
pub enum BusMessage {
    Gossip {
        from: NodeId,
        msg: slotraft_gossip::Message,
    },
    MapRequest {
        from: NodeId,
        epoch: u64,
    },
    MapReply {
        from: NodeId,
        map: Box<ClusterMap>,
    },
}

/// Per-peer link state kept by the writer tasks. Both sets hold at most one
/// entry per configured peer, so they need no other bound.
#[derive(Debug, Default)]
pub struct LinkState {
    connected: Mutex<BTreeSet<NodeId>>,
    /// Peers whose link failed since the driver last asked.
    unreachable: Mutex<BTreeSet<NodeId>>,
}

impl LinkState {
    fn up(&self, peer: NodeId) {
        self.connected.lock().expect("links lock").insert(peer);
    }

    fn down(&self, peer: NodeId) {
        self.connected.lock().expect("links lock").remove(&peer);
        self.unreachable.lock().expect("links lock").insert(peer);
    }

    /// Whether this node's outbound connection to `peer` is established.
    pub fn is_connected(&self, peer: NodeId) -> bool {
        self.connected.lock().expect("links lock").contains(&peer)
    }

    /// Peers whose connection failed (dial, handshake or write error, i.e.
    /// reconnect backoff started) since the last call; each listed once.
    pub fn take_unreachable(&self) -> Vec<NodeId> {
        let mut u = self.unreachable.lock().expect("links lock");
        std::mem::take(&mut *u).into_iter().collect()
    }
}

/// Peers whose link is cut on purpose (in-process fault injection for
/// tests and drills: the same effect as a firewall rule dropping both
/// directions between this node and the peer).
pub type BlockedPeers = Arc<RwLock<BTreeSet<NodeId>>>;

/// The sending side, used by the driver (never blocks on IO).
#[derive(Clone)]
pub struct Outbox {
    peers: Arc<BTreeMap<NodeId, Arc<PeerQueue>>>,
    pub stats: Arc<TransportStats>,
    pub blocked: BlockedPeers,
    pub links: Arc<LinkState>,
}

impl Outbox {
    /// An outbox whose queues no writer drains (unit tests of its users).
    #[cfg(test)]
    pub(crate) fn detached(peers: &[NodeId]) -> Outbox {
        let queues = peers
            .iter()
            .map(|p| {
                let q = Arc::new(PeerQueue {
                    frames: Mutex::new((VecDeque::new(), 0)),
                    notify: Notify::new(),
                });
                (*p, q)
            })
            .collect();
        Outbox {
            peers: Arc::new(queues),
            stats: Arc::default(),
            blocked: BlockedPeers::default(),
            links: Arc::default(),
        }
    }

    /// Takes the frames queued for `peer` (unit tests of its users).
    #[cfg(test)]
    pub(crate) fn take_queued(&self, peer: NodeId) -> Vec<Vec<u8>> {
        let mut g = self.peers[&peer].frames.lock().expect("peer queue lock");
        g.1 = 0;
        g.0.drain(..).collect()
    }

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

    /// Queues one already encoded bus frame (gossip, map request/reply)
    /// for `to`; dropped if `to` is not a peer, its link is cut, or its
    /// queue is full. Returns whether it was queued.
    pub fn send_frame(&self, to: NodeId, frame: Vec<u8>) -> bool {
        if self.blocked.read().expect("blocked lock").contains(&to) {
            return false;
        }
        let Some(q) = self.peers.get(&to) else {
            return false;
        };
        self.push(q, frame)
    }

    /// Peers whose connection failed since the last call (for Raft's
    /// `report_unreachable`); see [`LinkState::take_unreachable`].
    pub fn take_unreachable(&self) -> Vec<NodeId> {
        self.links.take_unreachable()
    }

    fn push(&self, q: &PeerQueue, frame: Vec<u8>) -> bool {
        self.push_bounded(q, frame, MAX_PEER_QUEUE_BYTES)
    }

    /// Queues `frame` unless the queue would exceed `limit` bytes (then the
    /// frame is dropped and counted: the driver never waits for a peer).
    fn push_bounded(&self, q: &PeerQueue, frame: Vec<u8>, limit: usize) -> bool {
        let mut g = q.frames.lock().expect("peer queue lock");
        if g.1 + frame.len() > limit {
            self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        g.1 += frame.len();
        g.0.push_back(frame);
        drop(g);
        q.notify.notify_one();
        true
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
    /// Raft frames go to the driver's `input`, cluster-bus frames to `bus`
    /// (the gossip task's inbox, see [`BUS_INBOX_CAPACITY`]).
    pub async fn start(
        cfg: TransportConfig,
        input: mpsc::Sender<Request>,
        bus: mpsc::Sender<BusMessage>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((cfg.bind_ip, cfg.bus_port)).await?;
        let local_addr = listener.local_addr()?;
        let stats = Arc::new(TransportStats::default());
        let links = Arc::new(LinkState::default());
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
            let w = Writer {
                cfg: cfg.clone(),
                peer,
                addr,
                q,
                stats: stats.clone(),
                links: links.clone(),
            };
            let h = tokio::spawn(w.run());
            tasks.lock().expect("tasks").push(h.abort_handle());
        }
        let blocked = BlockedPeers::default();
        let inbound = Inbound {
            cfg: cfg.clone(),
            input,
            bus,
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
                links,
            },
            tasks,
            local_addr,
        })
    }

    /// Registers a task to abort with the transport's own (the gossip task
    /// lives exactly as long as the bus).
    pub fn adopt_task(&self, h: AbortHandle) {
        self.tasks.lock().expect("tasks").push(h);
    }

    /// Aborts every task (closes every socket).
    pub fn stop(&self) {
        for h in self.tasks.lock().expect("tasks").drain(..) {
            h.abort();
        }
    }
}

/// Reads one frame of at most `max` bytes, returning its kind and payload.
/// Both `max` and the kind's own limit ([`max_frame_len`]) are checked
/// before the payload is allocated: a peer that has not completed the
/// handshake may only make us allocate a hello's worth, and an
/// authenticated one only what its frame kind allows.
async fn read_frame<R: AsyncRead + Unpin>(
    s: &mut R,
    max: usize,
) -> Result<(Kind, Vec<u8>), FrameError> {
    let mut head = [0u8; LEN_BYTES + HEADER_BYTES];
    s.read_exact(&mut head)
        .await
        .map_err(|_| FrameError::TooShort)?;
    let len = check_len(u32::from_le_bytes(
        head[..LEN_BYTES].try_into().expect("4 bytes"),
    ))?;
    if len > max {
        return Err(FrameError::TooLong(len));
    }
    let kind = decode_header([head[LEN_BYTES], head[LEN_BYTES + 1]], len)?;
    let mut payload = vec![0u8; len - HEADER_BYTES];
    s.read_exact(&mut payload)
        .await
        .map_err(|_| FrameError::TooShort)?;
    Ok((kind, payload))
}

/// Reads and checks the peer's `Hello`.
async fn expect_hello<R: AsyncRead + Unpin>(
    s: &mut R,
    cfg: &TransportConfig,
) -> Result<Hello, FrameError> {
    let (kind, payload) = read_frame(s, HEADER_BYTES + HELLO_BYTES).await?;
    if kind != Kind::Hello {
        return Err(FrameError::BadKind(kind as u8));
    }
    let h = decode_hello(&payload)?;
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

/// One peer's writer task.
struct Writer {
    cfg: Arc<TransportConfig>,
    peer: NodeId,
    addr: SocketAddr,
    q: Arc<PeerQueue>,
    stats: Arc<TransportStats>,
    links: Arc<LinkState>,
}

impl Writer {
    /// Dials the peer (with backoff) and writes its queued frames, forever.
    async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let conn =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, dial(&self.cfg, self.peer, self.addr))
                    .await;
            let Ok(Ok(mut s)) = conn else {
                self.links.down(self.peer);
                // Messages queued for an unreachable peer are stale by the
                // time it is back (Raft resends what still matters).
                clear(&self.q);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            };
            backoff = MIN_BACKOFF;
            self.links.up(self.peer);
            self.drain_into(&mut s).await;
            self.links.down(self.peer);
            // A peer that accepts and then drops us must not make this a
            // busy loop of reconnects.
            tokio::time::sleep(MIN_BACKOFF).await;
        }
    }

    /// Writes queued frames to `s` until a write fails. Bounded per
    /// iteration: one queue drain.
    async fn drain_into(&self, s: &mut TcpStream) {
        loop {
            let batch: Vec<Vec<u8>> = {
                let mut g = self.q.frames.lock().expect("peer queue lock");
                g.1 = 0;
                g.0.drain(..).collect()
            };
            if batch.is_empty() {
                self.q.notify.notified().await;
                continue;
            }
            // Frames queued together leave in as few `send`s as possible
            // (each loopback send also runs the receiver's TCP stack).
            for chunk in coalesce(batch, WRITE_COALESCE_BYTES) {
                if s.write_all(&chunk.bytes).await.is_err() {
                    return;
                }
                self.stats
                    .frames_sent
                    .fetch_add(chunk.frames, Ordering::Relaxed);
            }
        }
    }
}

/// Consecutive frames joined into one write.
struct Chunk {
    bytes: Vec<u8>,
    frames: u64,
}

/// Joins `frames` in order into chunks of at most `limit` bytes (a larger
/// frame stays a chunk of its own, not copied). Each joined chunk is
/// allocated once at its final size.
fn coalesce(frames: Vec<Vec<u8>>, limit: usize) -> Vec<Chunk> {
    // Pass 1: the runs, as (number of frames, bytes).
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for f in &frames {
        match runs.last_mut() {
            Some((n, b)) if *b + f.len() <= limit => {
                *n += 1;
                *b += f.len();
            }
            _ => runs.push((1, f.len())),
        }
    }
    // Pass 2: move single frames, copy runs into one buffer each.
    let mut it = frames.into_iter();
    runs.into_iter()
        .map(|(n, bytes)| {
            let bytes = if n == 1 {
                it.next().expect("counted")
            } else {
                let mut buf = Vec::with_capacity(bytes);
                for f in it.by_ref().take(n) {
                    buf.extend_from_slice(&f);
                }
                buf
            };
            Chunk {
                bytes,
                frames: n as u64,
            }
        })
        .collect()
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
    input: mpsc::Sender<Request>,
    bus: mpsc::Sender<BusMessage>,
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

/// One inbound connection: handshake, then frames into the driver's input
/// (Raft) or the gossip task's inbox (bus kinds).
async fn serve_inbound(s: TcpStream, inb: Inbound) {
    let _ = s.set_nodelay(true);
    // Frames are small and come in bursts (a round's appends and acks of
    // every group): one `recv` fills the buffer with several of them,
    // instead of two system calls (length, then payload) per frame.
    let mut s = BufReader::with_capacity(READ_BUF_BYTES, s);
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, expect_hello(&mut s, &inb.cfg)).await
    {
        Ok(Ok(h)) => h,
        _ => {
            inb.stats
                .handshakes_rejected
                .fetch_add(1, Ordering::Relaxed);
            return; // closes the connection
        }
    };
    if s.write_all(&hello_of(&inb.cfg)).await.is_err() {
        return;
    }
    // Bounded: each iteration consumes one frame; ends on any error.
    loop {
        let Ok((kind, payload)) = read_frame(&mut s, MAX_FRAME_BYTES).await else {
            return;
        };
        let item = match decode_inbound(kind, &payload, hello.node, inb.cfg.cluster_id) {
            Ok(item) => item,
            Err(_) => {
                inb.stats.frames_rejected.fetch_add(1, Ordering::Relaxed);
                return; // closes the connection
            }
        };
        inb.stats.frames_received.fetch_add(1, Ordering::Relaxed);
        if inb
            .blocked
            .read()
            .expect("blocked lock")
            .contains(&hello.node)
        {
            continue; // link cut on purpose: drop what arrives
        }
        if !inb.deliver(item) {
            return;
        }
    }
}

/// A decoded frame after the hello, ready for delivery.
#[derive(Debug)]
enum InboundItem {
    Raft(Vec<(GroupId, Message)>),
    Bus(BusMessage),
}

/// Decodes one frame from the authenticated peer `from`. An error means the
/// peer is broken or lying: the caller closes the connection.
fn decode_inbound(
    kind: Kind,
    payload: &[u8],
    from: NodeId,
    cluster_id: u128,
) -> Result<InboundItem, FrameError> {
    Ok(match kind {
        Kind::Hello => return Err(FrameError::BadKind(kind as u8)),
        Kind::RaftBatch => {
            // A peer speaks only for itself.
            let msgs = decode_raft_batch(payload)?
                .into_iter()
                .filter(|(_, m)| m.from == from)
                .collect();
            InboundItem::Raft(msgs)
        }
        Kind::Gossip => {
            let msg = decode_gossip(payload)?;
            if msg.sender != from {
                return Err(FrameError::UnknownNode(msg.sender));
            }
            if msg.cluster_id != ClusterId(cluster_id) {
                return Err(FrameError::ForeignCluster(msg.cluster_id.0));
            }
            InboundItem::Bus(BusMessage::Gossip { from, msg })
        }
        Kind::MapRequest => InboundItem::Bus(BusMessage::MapRequest {
            from,
            epoch: decode_map_request(payload)?,
        }),
        Kind::MapReply => {
            let map = decode_map_reply(payload)?;
            // An empty (never bootstrapped) map has cluster id 0 and is
            // useless to a receiver anyway.
            if map.cluster_id() != ClusterId(cluster_id) {
                return Err(FrameError::ForeignCluster(map.cluster_id().0));
            }
            InboundItem::Bus(BusMessage::MapReply {
                from,
                map: Box::new(map),
            })
        }
    })
}

impl Inbound {
    /// Hands a decoded frame on; full queues drop it (Raft and gossip both
    /// retry). False once the driver is gone (the node stops).
    fn deliver(&self, item: InboundItem) -> bool {
        match item {
            InboundItem::Raft(msgs) => match self.input.try_send(Request::Peer(msgs)) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
            InboundItem::Bus(m) => match self.bus.try_send(m) {
                Ok(()) => true,
                // Closed: the gossip task is gone; Raft traffic on this
                // connection still matters, so only the bus frame is lost.
                Err(_) => {
                    self.stats
                        .bus_frames_dropped
                        .fetch_add(1, Ordering::Relaxed);
                    true
                }
            },
        }
    }
}

/// Bytes for tests that speak the protocol by hand.
pub fn hello_frame(cluster_id: u128, node: NodeId) -> Bytes {
    Bytes::from(encode_hello(&Hello { cluster_id, node }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use slotraft_raft::MessageBody;
    use slotraft_types::Term;

    #[test]
    fn coalesce_keeps_order_and_respects_the_limit() {
        let frames: Vec<Vec<u8>> = vec![vec![1; 3], vec![2; 4], vec![3; 9], vec![4; 2], vec![5; 1]];
        let chunks = coalesce(frames.clone(), 8);
        // Same bytes, same order.
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
        assert_eq!(joined, frames.concat());
        assert_eq!(chunks.iter().map(|c| c.frames).sum::<u64>(), 5);
        // 3+4 fit; the 9-byte frame stays alone; 2+1 fit.
        let lens: Vec<usize> = chunks.iter().map(|c| c.bytes.len()).collect();
        assert_eq!(lens, vec![7, 9, 3]);
        assert!(coalesce(Vec::new(), 8).is_empty());
    }

    #[tokio::test]
    async fn frames_split_across_reads_are_read_whole_through_the_buffer() {
        let mut wire = Vec::new();
        for n in [0usize, 1, 300, 70_000] {
            let mut f = (n as u32 + HEADER_BYTES as u32).to_le_bytes().to_vec();
            f.extend_from_slice(&[FRAME_VERSION, Kind::RaftBatch as u8]);
            f.extend(std::iter::repeat_n(7u8, n));
            wire.extend(f);
        }
        // A reader that hands out at most 5 bytes per read.
        let slow = tokio_test_reader(wire, 5);
        let mut r = BufReader::with_capacity(READ_BUF_BYTES, slow);
        for n in [0usize, 1, 300, 70_000] {
            let (kind, payload) = read_frame(&mut r, MAX_FRAME_BYTES).await.unwrap();
            assert_eq!(kind, Kind::RaftBatch);
            assert_eq!(payload, vec![7u8; n]);
        }
        assert!(read_frame(&mut r, MAX_FRAME_BYTES).await.is_err(), "eof");
    }

    /// An in-memory reader returning at most `step` bytes per read.
    fn tokio_test_reader(data: Vec<u8>, step: usize) -> impl AsyncRead + Unpin {
        struct Slow(std::io::Cursor<Vec<u8>>, usize);
        impl AsyncRead for Slow {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let n = self.1.min(buf.remaining());
                let mut tmp = vec![0u8; n];
                let got = std::io::Read::read(&mut self.0, &mut tmp)?;
                buf.put_slice(&tmp[..got]);
                std::task::Poll::Ready(Ok(()))
            }
        }
        Slow(std::io::Cursor::new(data), step)
    }

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

    /// An outbox whose only peer is node 2, and that peer's queue.
    fn one_peer_outbox() -> (Arc<PeerQueue>, Outbox) {
        let q = Arc::new(PeerQueue {
            frames: Mutex::new((VecDeque::new(), 0)),
            notify: Notify::new(),
        });
        let out = Outbox {
            peers: Arc::new(BTreeMap::from([(NodeId(2), q.clone())])),
            stats: Arc::default(),
            blocked: BlockedPeers::default(),
            links: Arc::default(),
        };
        (q, out)
    }

    #[test]
    fn full_peer_queue_drops_instead_of_blocking() {
        let (q, out) = one_peer_outbox();
        for _ in 0..5 {
            out.push_bounded(&q, vec![0u8; 100], 250);
        }
        let g = q.frames.lock().unwrap();
        assert_eq!((g.0.len(), g.1), (2, 200));
        assert_eq!(out.stats.frames_dropped.load(Ordering::Relaxed), 3);
    }

    /// The cluster-bus kinds (named so `cargo test gossip` runs them).
    pub(crate) mod gossip_bus_frames {
        use super::*;

        pub(super) fn gossip_msg(sender: u64) -> slotraft_gossip::Message {
            use slotraft_gossip::{GossipEntry, LeaderHint, MessageKind};
            slotraft_gossip::Message {
                kind: MessageKind::Ping,
                cluster_id: ClusterId(CID),
                sender: NodeId(sender),
                config_epoch: 7,
                failed: None,
                gossip: vec![GossipEntry {
                    node: NodeId(3),
                    state: slotraft_cluster::HealthState::PFail,
                    pong_age_ms: 1234,
                }],
                leaders: vec![LeaderHint {
                    group: GroupId(4),
                    leader: NodeId(sender),
                    term: Term(9),
                }],
            }
        }

        pub(super) const CID: u128 = 0xC1_u128 << 100;

        /// A bootstrapped map (epoch 1) of nodes 1-3 on 127.0.0.1 (also
        /// used by the gossip task's tests).
        pub(crate) fn bootstrapped_map(cluster: u128) -> ClusterMap {
            use slotraft_cluster::{plan_cluster, MetaCommand, NodeSpec};
            use std::net::Ipv4Addr;
            let specs: Vec<NodeSpec> = (1..=3u16)
                .map(|i| NodeSpec {
                    id: NodeId(i as u64),
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port: 7000 + i,
                    bus_port: 17000 + i,
                })
                .collect();
            let plan = plan_cluster(ClusterId(cluster), &specs, None, 3).unwrap();
            let mut map = ClusterMap::new();
            map.apply(&MetaCommand::Bootstrap(plan)).unwrap();
            map
        }

        #[test]
        fn gossip_frame_roundtrip_truncated_and_oversized() {
            let m = gossip_msg(2);
            let f = encode_gossip(&m);
            let Frame {
                kind,
                payload,
                used,
            } = decode_frame(&f).unwrap().unwrap();
            assert_eq!((kind, used), (Kind::Gossip, f.len()));
            assert_eq!(decode_gossip(payload).unwrap(), m);
            // Every strict prefix is "need more bytes", never a frame.
            for cut in 0..f.len() {
                assert_eq!(decode_frame(&f[..cut]), Ok(None), "prefix {cut}");
            }
            // A truncated payload inside a well-formed frame is rejected.
            let short = encode_frame(Kind::Gossip, &payload[..payload.len() - 1]);
            let fr = decode_frame(&short).unwrap().unwrap();
            assert!(decode_gossip(fr.payload).is_err());
            // A length over the gossip limit (far below MAX_FRAME_BYTES) is
            // refused from the header alone, before the payload arrives.
            let too_long = max_frame_len(Kind::Gossip) + 1;
            let mut head = (too_long as u32).to_le_bytes().to_vec();
            head.extend_from_slice(&[FRAME_VERSION, Kind::Gossip as u8]);
            assert_eq!(decode_frame(&head), Err(FrameError::TooLong(too_long)));
            assert!(too_long < MAX_FRAME_BYTES);
        }

        #[test]
        fn map_request_roundtrip_and_bad_lengths() {
            let f = encode_map_request(0x0102_0304_0506_0708);
            let fr = decode_frame(&f).unwrap().unwrap();
            assert_eq!(fr.kind, Kind::MapRequest);
            assert_eq!(decode_map_request(fr.payload), Ok(0x0102_0304_0506_0708));
            assert!(decode_map_request(&fr.payload[..7]).is_err());
            assert!(decode_map_request(&[0u8; 9]).is_err());
            let mut head = ((HEADER_BYTES + 9) as u32).to_le_bytes().to_vec();
            head.extend_from_slice(&[FRAME_VERSION, Kind::MapRequest as u8]);
            assert_eq!(
                decode_frame(&head),
                Err(FrameError::TooLong(HEADER_BYTES + 9))
            );
        }

        #[test]
        fn map_reply_roundtrip_truncated_and_oversized() {
            let map = bootstrapped_map(CID);
            let f = encode_map_reply(&map).expect("small map fits");
            let fr = decode_frame(&f).unwrap().unwrap();
            assert_eq!(fr.kind, Kind::MapReply);
            let back = decode_map_reply(fr.payload).unwrap();
            assert_eq!(back.encode_snapshot(), map.encode_snapshot());
            assert_eq!(back.epoch(), map.epoch());
            for cut in [0, 1, fr.payload.len() / 2, fr.payload.len() - 1] {
                assert!(decode_map_reply(&fr.payload[..cut]).is_err(), "cut {cut}");
            }
            assert!(decode_map_reply(&vec![0u8; MAX_MAP_REPLY_BYTES + 1]).is_err());
            let too_long = max_frame_len(Kind::MapReply) + 1;
            let mut head = (too_long as u32).to_le_bytes().to_vec();
            head.extend_from_slice(&[FRAME_VERSION, Kind::MapReply as u8]);
            assert_eq!(decode_frame(&head), Err(FrameError::TooLong(too_long)));
        }

        #[test]
        fn unknown_kind_and_version_are_rejected() {
            let mut f = encode_map_request(1);
            f[5] = 6;
            assert_eq!(decode_frame(&f), Err(FrameError::BadKind(6)));
            f[4] = FRAME_VERSION + 1;
            assert_eq!(
                decode_frame(&f),
                Err(FrameError::BadVersion(FRAME_VERSION + 1))
            );
        }

        #[test]
        fn inbound_gossip_must_come_from_the_authenticated_peer() {
            let payload = gossip_msg(2).encode();
            let ok = decode_inbound(Kind::Gossip, &payload, NodeId(2), CID).unwrap();
            assert!(matches!(
                ok,
                InboundItem::Bus(BusMessage::Gossip {
                    from: NodeId(2),
                    ..
                })
            ));
            // Node 3's connection relaying a message that claims to be node 2's.
            assert_eq!(
                decode_inbound(Kind::Gossip, &payload, NodeId(3), CID).unwrap_err(),
                FrameError::UnknownNode(NodeId(2))
            );
            assert_eq!(
                decode_inbound(Kind::Gossip, &payload, NodeId(2), CID + 1).unwrap_err(),
                FrameError::ForeignCluster(CID)
            );
            assert!(decode_inbound(Kind::Hello, &payload, NodeId(2), CID).is_err());
        }

        #[test]
        fn inbound_map_reply_of_another_cluster_is_rejected() {
            let snap = bootstrapped_map(CID).encode_snapshot();
            assert!(matches!(
                decode_inbound(Kind::MapReply, &snap, NodeId(2), CID),
                Ok(InboundItem::Bus(BusMessage::MapReply {
                    from: NodeId(2),
                    ..
                }))
            ));
            assert_eq!(
                decode_inbound(Kind::MapReply, &snap, NodeId(2), CID + 1).unwrap_err(),
                FrameError::ForeignCluster(CID)
            );
            let empty = ClusterMap::new().encode_snapshot();
            assert!(decode_inbound(Kind::MapReply, &empty, NodeId(2), CID).is_err());
        }

        #[test]
        fn inbound_raft_batch_keeps_only_the_peers_own_messages() {
            let msgs = vec![(GroupId(1), heartbeat(2, 1)), (GroupId(2), heartbeat(3, 1))];
            let f = encode_raft_batches(&msgs).remove(0);
            let fr = decode_frame(&f).unwrap().unwrap();
            let InboundItem::Raft(got) =
                decode_inbound(Kind::RaftBatch, fr.payload, NodeId(2), CID).unwrap()
            else {
                panic!("raft batch decoded as something else");
            };
            assert_eq!(got, vec![(GroupId(1), heartbeat(2, 1))]);
        }

        #[test]
        fn link_state_reports_each_failure_once() {
            let l = LinkState::default();
            l.up(NodeId(2));
            assert!(l.is_connected(NodeId(2)));
            assert!(l.take_unreachable().is_empty());
            l.down(NodeId(2));
            l.down(NodeId(2));
            l.down(NodeId(3));
            assert!(!l.is_connected(NodeId(2)));
            assert_eq!(l.take_unreachable(), vec![NodeId(2), NodeId(3)]);
            assert!(l.take_unreachable().is_empty());
        }

        #[test]
        fn send_frame_respects_blocked_links_and_unknown_peers() {
            let (q, out) = one_peer_outbox();
            assert!(out.send_frame(NodeId(2), encode_map_request(1)));
            assert!(!out.send_frame(NodeId(9), encode_map_request(1)));
            out.blocked.write().unwrap().insert(NodeId(2));
            assert!(!out.send_frame(NodeId(2), encode_map_request(1)));
            assert_eq!(q.frames.lock().unwrap().0.len(), 1);
        }
    }

    use gossip_bus_frames::{bootstrapped_map, gossip_msg, CID};

    proptest! {
        #[test]
        fn decoders_never_panic_incl_gossip_kinds(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some(Frame { payload, used, .. })) = decode_frame(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = decode_hello(payload);
                let _ = decode_raft_batch(payload);
                let _ = decode_gossip(payload);
                let _ = decode_map_request(payload);
                let _ = decode_map_reply(payload);
            }
            let _ = decode_raft_batch(&bytes);
            let _ = decode_hello(&bytes);
            let _ = decode_gossip(&bytes);
            let _ = decode_map_reply(&bytes);
            for kind in [Kind::Gossip, Kind::MapRequest, Kind::MapReply, Kind::RaftBatch] {
                let _ = decode_inbound(kind, &bytes, NodeId(2), CID);
            }
        }

        #[test]
        fn corrupted_gossip_bus_frames_never_panic(flip in 0usize..4096, val in any::<u8>()) {
            let mut g = encode_gossip(&gossip_msg(2));
            let i = flip % g.len();
            g[i] = val;
            if let Ok(Some(Frame { kind, payload, .. })) = decode_frame(&g) {
                let _ = decode_inbound(kind, payload, NodeId(2), CID);
            }
            let mut m = encode_map_reply(&bootstrapped_map(CID)).unwrap();
            let i = flip % m.len();
            m[i] = val;
            if let Ok(Some(Frame { kind, payload, .. })) = decode_frame(&m) {
                let _ = decode_inbound(kind, payload, NodeId(2), CID);
            }
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
