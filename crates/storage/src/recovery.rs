//! Opening a store: scan every segment, cut a torn tail, refuse corruption,
//! replay records into the per-group index, load snapshots, start a fresh
//! segment and the writer (docs section 4).
//!
//! Why recovery always starts a new segment: appending after a recovered
//! tail would mix bytes of two lifetimes in one file and make the "only the
//! last segment can be torn" rule depend on the previous truncation having
//! been durable; a fresh segment keeps the rule simple.

use crate::group::{GroupLog, GroupMeta, HardState, Loc};
use crate::record::{self, RecordKind, ScanEnd, ScannedRecord};
use crate::snapshot::{self, SnapshotMeta};
use crate::store::{self, Config, Op, Shared, State, Store, MAX_BATCH_BYTES_LIMIT};
use crate::vfs::{read_all, Vfs, VfsFile};
use crate::writer::{self, Run, Writer};
use crate::Error;
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `Store::open` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    pub entries: u64,
    pub groups: usize,
    pub bytes_scanned: u64,
    /// Bytes cut from a torn tail of the last segment.
    pub torn_bytes: u64,
    /// The last segment had a torn header and was removed.
    pub removed_torn_segment: bool,
    pub removed_tmp_files: usize,
    pub elapsed: Duration,
}

fn io(e: std::io::Error) -> Error {
    Error::Failed(format!("recovery IO: {e}"))
}

pub(crate) fn open(vfs: Arc<dyn Vfs>, config: Config) -> Result<(Store, RecoveryReport), Error> {
    if config.max_batch_bytes == 0
        || config.max_batch_bytes > MAX_BATCH_BYTES_LIMIT
        || config.segment_bytes == 0
        || config.prealloc_bytes > store::MAX_PREALLOC_BYTES
    {
        return Err(Error::InvalidArgument("config out of bounds"));
    }
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let names = vfs.list().map_err(io)?;
    remove_tmp_files(&*vfs, &names, &mut report)?;
    let seqs = segment_seqs(&names)?;
    let mut groups: HashMap<GroupId, GroupLog> = HashMap::new();
    let mut segments: BTreeMap<u64, Arc<dyn VfsFile>> = BTreeMap::new();
    for (k, &seq) in seqs.iter().enumerate() {
        let is_last = k + 1 == seqs.len();
        if let Some(file) = recover_segment(&*vfs, seq, is_last, &mut groups, &mut report)? {
            segments.insert(seq, file);
        }
    }
    let snapshots = load_snapshots(&*vfs, &names)?;
    if let Some((g, _)) = groups.iter().find(|(_, l)| l.has_missing()) {
        return Err(Error::Corruption {
            file: String::new(),
            offset: 0,
            reason: leak_reason(*g),
        });
    }
    report.segments = segments.len();
    report.groups = groups.len();
    report.entries = groups.values().map(|g| g.slots.len() as u64).sum();
    let view: HashMap<GroupId, GroupMeta> = groups.iter().map(|(g, l)| (*g, l.meta())).collect();
    let runs = groups.iter().map(|(g, l)| (*g, runs_of(l))).collect();
    let next_seq = segments.keys().next_back().copied().unwrap_or(0) + 1;
    let state = State::new(groups, segments);
    let shared = Arc::new(Shared::new(vfs.clone(), config, state));
    let writer = start_segment(&shared, next_seq, view, runs)?;
    let store = Store::start(shared, writer);
    reconcile_snapshots(&store, snapshots)?;
    report.elapsed = started.elapsed();
    Ok((store, report))
}

fn leak_reason(_g: GroupId) -> &'static str {
    "a group's live entries are missing (segment lost?)"
}

/// Removes leftover `*.tmp` files (snapshots in progress at the crash).
fn remove_tmp_files(
    vfs: &dyn Vfs,
    names: &[String],
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    for n in names.iter().filter(|n| n.ends_with(".tmp")) {
        vfs.remove(n).map_err(io)?;
        report.removed_tmp_files += 1;
    }
    if report.removed_tmp_files > 0 {
        vfs.sync_dir().map_err(io)?;
    }
    Ok(())
}

/// Sorted segment seqs; they must be contiguous (reclaim removes a prefix).
fn segment_seqs(names: &[String]) -> Result<Vec<u64>, Error> {
    let mut seqs: Vec<u64> = names
        .iter()
        .filter_map(|n| store::parse_segment_name(n))
        .collect();
    seqs.sort_unstable();
    if seqs.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(Error::Corruption {
            file: String::new(),
            offset: 0,
            reason: "gap in segment sequence",
        });
    }
    Ok(seqs)
}

/// Scans and replays one segment. Returns its file, or None if it was a torn
/// creation and has been removed.
fn recover_segment(
    vfs: &dyn Vfs,
    seq: u64,
    is_last: bool,
    groups: &mut HashMap<GroupId, GroupLog>,
    report: &mut RecoveryReport,
) -> Result<Option<Arc<dyn VfsFile>>, Error> {
    let name = store::segment_name(seq);
    let file = vfs.open(&name).map_err(io)?;
    let buf = read_all(&*file).map_err(io)?;
    report.bytes_scanned += buf.len() as u64;
    let scan = record::scan_segment(&buf, seq, is_last);
    match scan.end {
        ScanEnd::Clean => {}
        ScanEnd::TornTail { valid_len } => {
            report.torn_bytes += buf.len() as u64 - valid_len;
            file.set_len(valid_len).map_err(io)?;
            file.sync().map_err(io)?;
        }
        ScanEnd::TornHeader => {
            vfs.remove(&name).map_err(io)?;
            vfs.sync_dir().map_err(io)?;
            report.removed_torn_segment = true;
            return Ok(None);
        }
        ScanEnd::Corrupt { offset, reason } => {
            return Err(Error::Corruption {
                file: name,
                offset,
                reason,
            })
        }
        ScanEnd::Version(version) => {
            return Err(Error::UnsupportedVersion {
                file: name,
                version,
            })
        }
    }
    for r in &scan.records {
        replay(groups, seq, &buf, r).map_err(|reason| Error::Corruption {
            file: name.clone(),
            offset: r.offset,
            reason,
        })?;
    }
    report.records += scan.records.len() as u64;
    Ok(Some(file))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Applies one valid record to the group index (docs section 1.2).
fn replay(
    groups: &mut HashMap<GroupId, GroupLog>,
    seq: u64,
    buf: &[u8],
    r: &ScannedRecord,
) -> Result<(), &'static str> {
    let h = &r.header;
    let p = r.payload_offset() as usize;
    let payload = &buf[p..p + h.len as usize];
    let g = groups.entry(h.group).or_default();
    match h.kind {
        RecordKind::Entry => {
            if h.index > g.snap_index {
                g.append(
                    h.index,
                    h.term,
                    Loc::Disk {
                        seg: seq,
                        offset: r.offset,
                        len: h.len,
                        cache: None,
                    },
                );
            }
        }
        RecordKind::HardState => {
            if payload.len() != 8 {
                return Err("hard state record of wrong size");
            }
            g.hs = HardState {
                term: h.term,
                vote: NodeId(u64_at(payload, 0)),
                commit: h.index,
            };
        }
        RecordKind::Truncate => {
            g.truncate_from(h.index);
        }
        RecordKind::Compact => {
            if payload.len() != 8 {
                return Err("compact record of wrong size");
            }
            g.compact_to(h.index, h.term, LogIndex(u64_at(payload, 0)));
        }
        RecordKind::Checkpoint => {
            if payload.len() != 40 {
                return Err("checkpoint record of wrong size");
            }
            let hs = HardState {
                term: Term(u64_at(payload, 0)),
                vote: NodeId(u64_at(payload, 8)),
                commit: LogIndex(u64_at(payload, 16)),
            };
            let m = GroupMeta {
                hs,
                snap_index: h.index,
                snap_term: h.term,
                last_index: LogIndex(u64_at(payload, 24)),
                last_term: Term(u64_at(payload, 32)),
            };
            g.checkpoint(&m);
        }
    }
    Ok(())
}

/// Newest snapshot per group (header and length checked); removes older ones.
fn load_snapshots(
    vfs: &dyn Vfs,
    names: &[String],
) -> Result<HashMap<GroupId, SnapshotMeta>, Error> {
    let mut by_group: BTreeMap<GroupId, Vec<(LogIndex, String)>> = BTreeMap::new();
    for n in names {
        if let Some((g, i, _)) = snapshot::parse_snapshot_name(n) {
            by_group.entry(g).or_default().push((i, n.clone()));
        }
    }
    let mut out = HashMap::new();
    let mut removed = false;
    for (g, mut list) in by_group {
        list.sort();
        let (_, newest) = list.pop().expect("non-empty");
        let file = vfs.open(&newest).map_err(io)?;
        out.insert(g, snapshot::check_header(&newest, &*file)?);
        for (_, old) in list {
            vfs.remove(&old).map_err(io)?;
            removed = true;
        }
    }
    if removed {
        vfs.sync_dir().map_err(io)?;
    }
    Ok(out)
}

/// The segment runs of a recovered group's entries (for reclaim).
fn runs_of(l: &GroupLog) -> VecDeque<Run> {
    let mut runs = VecDeque::new();
    for (k, s) in l.slots.iter().enumerate() {
        if let Loc::Disk { seg, .. } = s.loc {
            writer::push_run(&mut runs, LogIndex(l.snap_index.get() + 1 + k as u64), seg);
        }
    }
    runs
}

/// Creates the fresh segment `seq` (header + checkpoints), durable before
/// the writer starts.
fn start_segment(
    shared: &Arc<Shared>,
    seq: u64,
    view: HashMap<GroupId, GroupMeta>,
    runs: HashMap<GroupId, VecDeque<Run>>,
) -> Result<Writer, Error> {
    let name = store::segment_name(seq);
    let file = shared.vfs.create(&name).map_err(io)?;
    let mut w = Writer::new(shared.clone(), seq, file.clone(), view, runs);
    let prefix = w.segment_prefix(seq);
    file.write_at(&prefix, 0).map_err(io)?;
    file.sync().map_err(io)?;
    shared.vfs.sync_dir().map_err(io)?;
    w.seg_len = prefix.len() as u64;
    w.allocated = w.seg_len;
    shared.lock().segments.insert(seq, file);
    Ok(w)
}

/// A snapshot newer than its group's compaction point means the crash hit
/// between the snapshot rename and the Compact record: apply and persist it.
fn reconcile_snapshots(
    store: &Store,
    snapshots: HashMap<GroupId, SnapshotMeta>,
) -> Result<(), Error> {
    let mut batch = store::WriteBatch::new();
    {
        let mut st = store.shared.lock();
        for (g, m) in snapshots {
            let behind = st
                .groups
                .get(&g)
                .map(|l| l.snap_index < m.index)
                .unwrap_or(true);
            if behind {
                batch.ops.push(Op::Compact {
                    group: g,
                    index: m.index,
                    term: m.term,
                });
            }
            st.snapshots.insert(g, m);
        }
    }
    if !batch.ops.is_empty() {
        let t = store.write(batch)?;
        store.wait(t)?;
    }
    Ok(())
}
