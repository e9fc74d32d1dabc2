//! Per-group snapshot files: written (or received from a leader's
//! InstallSnapshot) into a temp file, made durable, renamed into place; read
//! back in bounded chunks.
//!
//! Why this protocol (docs section 6): rename is the only atomic way to
//! replace a file. The data is fdatasynced *before* the rename so the new name
//! can never point at unsynced bytes, and the directory is fsynced before the
//! snapshot is reported, so an older snapshot is deleted only once the new one
//! is durable. Snapshot IO runs on the caller's thread; the WAL writer is not
//! blocked by a large snapshot.

use crate::store::{Health, Shared, Store};
use crate::vfs::{read_exact_at, VfsFile};
use crate::Error;
use bytes::Bytes;
use slotraft_types::{GroupId, LogIndex, Term};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Magic bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SLRFTSNP";
/// Snapshot header size.
pub const SNAPSHOT_HEADER_LEN: usize = 56;
/// Largest chunk written or read in one call (InstallSnapshot chunk bound).
pub const MAX_SNAPSHOT_CHUNK: usize = 1 << 20;
const TRAILER_LEN: u64 = 4;
/// A snapshot being written is fdatasynced each time this many more bytes
/// were written (RocksDB's `bytes_per_sync`): dirty pages never pile up,
/// so the WAL's fdatasyncs on the same disk never queue behind hundreds of
/// MiB of snapshot data written back at once (a 260 MB snapshot takes
/// 1-2 s to write here).
pub const SNAPSHOT_SYNC_BYTES: u64 = 2 << 20;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A durable snapshot of one group through `(index, term)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub group: GroupId,
    pub index: LogIndex,
    pub term: Term,
    /// Length of the snapshot data (without header and trailer).
    pub len: u64,
}

impl SnapshotMeta {
    pub(crate) fn file_name(&self) -> String {
        snapshot_name(self.group, self.index, self.term)
    }
}

fn snapshot_name(g: GroupId, i: LogIndex, t: Term) -> String {
    format!(
        "snap-{:016x}-{:016x}-{:016x}.snap",
        g.get(),
        i.get(),
        t.get()
    )
}

/// Parses `snap-{group}-{index}-{term}.snap`.
pub(crate) fn parse_snapshot_name(name: &str) -> Option<(GroupId, LogIndex, Term)> {
    let body = name.strip_prefix("snap-")?.strip_suffix(".snap")?;
    let mut parts = body.split('-');
    let mut next = || {
        parts
            .next()
            .filter(|p| p.len() == 16)
            .and_then(|p| u64::from_str_radix(p, 16).ok())
    };
    let (g, i, t) = (next()?, next()?, next()?);
    Some((GroupId(g), LogIndex(i), Term(t)))
}

fn encode_header(m: &SnapshotMeta) -> [u8; SNAPSHOT_HEADER_LEN] {
    let mut h = [0u8; SNAPSHOT_HEADER_LEN];
    h[0..8].copy_from_slice(SNAPSHOT_MAGIC);
    h[8..12].copy_from_slice(&crate::record::FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&m.group.get().to_le_bytes());
    h[24..32].copy_from_slice(&m.index.get().to_le_bytes());
    h[32..40].copy_from_slice(&m.term.get().to_le_bytes());
    h[40..48].copy_from_slice(&m.len.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..48]);
    h[48..52].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a snapshot header against its file name and the file length.
pub(crate) fn check_header(name: &str, file: &dyn VfsFile) -> Result<SnapshotMeta, Error> {
    let corrupt = |reason| Error::Corruption {
        file: name.to_string(),
        offset: 0,
        reason,
    };
    let (group, index, term) = parse_snapshot_name(name).ok_or(corrupt("bad snapshot name"))?;
    let mut h = [0u8; SNAPSHOT_HEADER_LEN];
    read_exact_at(file, &mut h, 0).map_err(|_| corrupt("short snapshot header"))?;
    let u64_at = |a: usize| u64::from_le_bytes(h[a..a + 8].try_into().expect("8"));
    if &h[0..8] != SNAPSHOT_MAGIC
        || crc32c::crc32c(&h[0..48]) != u32::from_le_bytes(h[48..52].try_into().expect("4"))
    {
        return Err(corrupt("bad snapshot header"));
    }
    let version = u32::from_le_bytes(h[8..12].try_into().expect("4"));
    if version != crate::record::FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: name.to_string(),
            version,
        });
    }
    let meta = SnapshotMeta {
        group,
        index,
        term,
        len: u64_at(40),
    };
    if (u64_at(16), u64_at(24), u64_at(32)) != (group.get(), index.get(), term.get()) {
        return Err(corrupt("snapshot header does not match its name"));
    }
    let len = file.len().map_err(|e| Error::Failed(e.to_string()))?;
    if len != SNAPSHOT_HEADER_LEN as u64 + meta.len + TRAILER_LEN {
        return Err(corrupt("snapshot length does not match its header"));
    }
    Ok(meta)
}

/// Writes one snapshot (local or received chunk by chunk, in order).
pub struct SnapshotWriter {
    shared: Arc<Shared>,
    meta: SnapshotMeta,
    tmp: String,
    file: Arc<dyn VfsFile>,
    crc: u32,
    done: bool,
}

impl SnapshotWriter {
    /// Appends the chunk that starts at data offset `offset` (must equal the
    /// bytes written so far: InstallSnapshot chunks arrive in order).
    pub fn write_chunk(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        if offset != self.meta.len {
            return Err(Error::InvalidArgument("snapshot chunk out of order"));
        }
        if data.len() > MAX_SNAPSHOT_CHUNK {
            return Err(Error::InvalidArgument(
                "snapshot chunk over MAX_SNAPSHOT_CHUNK",
            ));
        }
        let at = SNAPSHOT_HEADER_LEN as u64 + offset;
        self.file
            .write_at(data, at)
            .map_err(|e| fail(&self.shared, &e))?;
        self.crc = crc32c::crc32c_append(self.crc, data);
        let before = self.meta.len;
        self.meta.len += data.len() as u64;
        if before / SNAPSHOT_SYNC_BYTES != self.meta.len / SNAPSHOT_SYNC_BYTES {
            self.file.sync().map_err(|e| fail(&self.shared, &e))?;
        }
        Ok(())
    }

    /// Bytes of data written so far.
    pub fn written(&self) -> u64 {
        self.meta.len
    }

    /// Makes the snapshot durable and current (docs 2.1): trailer + header,
    /// fdatasync, rename, directory fsync; then removes older snapshots of
    /// the group and fsyncs the directory again.
    ///
    /// Writers of one group may overlap (a log-compaction snapshot written
    /// on a thread of its own while the group installs a newer one from
    /// its leader): a snapshot older than the group's current one is
    /// removed again and reported as [`Error::Compacted`]; the current one
    /// is never replaced by an older one.
    pub fn finish(mut self) -> Result<SnapshotMeta, Error> {
        let sh = self.shared.clone();
        let f = |e: std::io::Error| fail(&sh, &e);
        let trailer_at = SNAPSHOT_HEADER_LEN as u64 + self.meta.len;
        self.file
            .write_at(&self.crc.to_le_bytes(), trailer_at)
            .map_err(f)?;
        self.file
            .write_at(&encode_header(&self.meta), 0)
            .map_err(f)?;
        self.file.sync().map_err(f)?;
        let name = self.meta.file_name();
        sh.vfs.rename(&self.tmp, &name).map_err(f)?;
        self.done = true;
        sh.vfs.sync_dir().map_err(f)?;
        let mut st = sh.lock();
        let newer = st
            .snapshots
            .get(&self.meta.group)
            .is_some_and(|cur| cur.index > self.meta.index);
        if newer {
            drop(st);
            sh.vfs.remove(&name).map_err(f)?;
            sh.vfs.sync_dir().map_err(f)?;
            return Err(Error::Compacted);
        }
        let old = st.snapshots.insert(self.meta.group, self.meta.clone());
        drop(st);
        if let Some(old) = old.filter(|o| o.file_name() != name) {
            sh.vfs.remove(&old.file_name()).map_err(f)?;
            sh.vfs.sync_dir().map_err(f)?;
        }
        Ok(self.meta.clone())
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.done {
            // Abandoned: the temp file is garbage (open removes it anyway).
            let _ = self.shared.vfs.remove(&self.tmp);
        }
    }
}

/// Marks the store failed or out of space after a snapshot IO error (a
/// failed fsync is never retried, same rule as the WAL).
fn fail(sh: &Shared, e: &std::io::Error) -> Error {
    let mut st = sh.lock();
    if st.health == Health::Ok {
        st.health = if e.raw_os_error() == Some(28) {
            Health::NoSpace
        } else {
            Health::Failed(format!("snapshot: {e}"))
        };
    }
    let err = match &st.health {
        Health::NoSpace => Error::NoSpace,
        Health::Failed(m) => Error::Failed(m.clone()),
        Health::Ok => unreachable!("set above"),
    };
    let callbacks = std::mem::take(&mut st.callbacks);
    drop(st);
    sh.wake_all_stopped();
    for cb in callbacks.into_values().flatten() {
        cb(Err(err.clone()));
    }
    err
}

/// Reads a durable snapshot in bounded chunks.
pub struct SnapshotReader {
    meta: SnapshotMeta,
    file: Arc<dyn VfsFile>,
}

impl SnapshotReader {
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// Up to `max` (capped at MAX_SNAPSHOT_CHUNK) bytes of data at `offset`;
    /// empty at the end.
    pub fn read_chunk(&self, offset: u64, max: usize) -> Result<Bytes, Error> {
        let n =
            (max.min(MAX_SNAPSHOT_CHUNK) as u64).min(self.meta.len.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; n];
        read_exact_at(&*self.file, &mut buf, SNAPSHOT_HEADER_LEN as u64 + offset)
            .map_err(|e| Error::Failed(e.to_string()))?;
        Ok(Bytes::from(buf))
    }

    /// Checks the data against the trailer CRC (reads the whole snapshot in
    /// bounded chunks).
    pub fn verify(&self) -> Result<(), Error> {
        let mut crc = 0u32;
        let mut off = 0u64;
        // Bounded: advances by a non-empty chunk until meta.len.
        while off < self.meta.len {
            let c = self.read_chunk(off, MAX_SNAPSHOT_CHUNK)?;
            crc = crc32c::crc32c_append(crc, &c);
            off += c.len() as u64;
        }
        let mut t = [0u8; 4];
        read_exact_at(
            &*self.file,
            &mut t,
            SNAPSHOT_HEADER_LEN as u64 + self.meta.len,
        )
        .map_err(|e| Error::Failed(e.to_string()))?;
        if u32::from_le_bytes(t) != crc {
            return Err(Error::Corruption {
                file: self.meta.file_name(),
                offset: 0,
                reason: "snapshot data CRC mismatch",
            });
        }
        Ok(())
    }
}

impl Store {
    /// Starts writing a snapshot of `group` through `(index, term)`.
    pub fn snapshot_writer(
        &self,
        group: GroupId,
        index: LogIndex,
        term: Term,
    ) -> Result<SnapshotWriter, Error> {
        self.shared.lock().check_health()?;
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{}.{n}.tmp", snapshot_name(group, index, term));
        let file = self
            .shared
            .vfs
            .create(&tmp)
            .map_err(|e| fail(&self.shared, &e))?;
        let meta = SnapshotMeta {
            group,
            index,
            term,
            len: 0,
        };
        Ok(SnapshotWriter {
            shared: self.shared.clone(),
            meta,
            tmp,
            file,
            crc: 0,
            done: false,
        })
    }

    /// The latest durable snapshot of `group`.
    pub fn snapshot(&self, group: GroupId) -> Option<SnapshotMeta> {
        self.shared.lock().snapshots.get(&group).cloned()
    }

    /// A reader of the latest durable snapshot of `group`.
    pub fn snapshot_reader(&self, group: GroupId) -> Result<Option<SnapshotReader>, Error> {
        let Some(meta) = self.snapshot(group) else {
            return Ok(None);
        };
        let file = self
            .shared
            .vfs
            .open(&meta.file_name())
            .map_err(|e| Error::Failed(e.to_string()))?;
        Ok(Some(SnapshotReader { meta, file }))
    }
}
