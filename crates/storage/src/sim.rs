//! `SimVfs`: an in-memory `Vfs` that models the page cache, for crash and
//! fault tests.
//!
//! Why this model: what a real disk keeps after power loss is "everything
//! synced, plus some unpredictable part of what was not". The model keeps, per
//! file, the synced bytes and the ordered list of unsynced writes / set_len
//! calls, and for the directory the synced entries and the ordered list of
//! unsynced creates / renames / removes. `crash` keeps the synced state plus an
//! arbitrary (seeded) prefix of each unsynced list, the last kept write torn
//! at an arbitrary byte. A file fsync does NOT make its directory entry durable
//! (POSIX; only `sync_dir` does), which is stricter than most file systems.
//!
//! Faults: crash at the N-th operation (the op fails and every later op
//! fails, like a dead process), fail the N-th sync with EIO, ENOSPC once the
//! files' total size would exceed a limit, and bit flips in stored bytes.
//! A sync can also be *paused* (it blocks before taking effect until
//! `resume`), so a test can act while an fdatasync is in flight — the
//! pipelined writer writes the next batch exactly then.
//!
//! A file sync makes durable the writes that were done when it was called
//! (not those done while it was in flight), the weakest thing fdatasync
//! promises.

use crate::vfs::{Vfs, VfsFile};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// A small deterministic RNG (splitmix64) so tests need no RNG crate and every
/// schedule is reproducible from its seed.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }
    /// Uniform in `0..=n`.
    pub fn upto(&mut self, n: usize) -> usize {
        (self.next_u64() % (n as u64 + 1)) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Faults to inject. Operation numbers count every `Vfs`/`VfsFile` call from 1.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The N-th operation fails as a crash; all later ones fail too.
    pub crash_at_op: Option<u64>,
    /// The N-th sync (file or directory) fails with EIO.
    pub fail_sync_at: Option<u64>,
    /// Writes fail with ENOSPC once the total size of all files would exceed
    /// this many bytes (the bytes up to the limit are written first).
    pub space_limit: Option<u64>,
    /// The N-th sync blocks, before it takes effect, until `SimVfs::resume`.
    pub pause_sync_at: Option<u64>,
}

/// Gate of a paused sync: (paused now, released).
type Gate = Arc<(Mutex<(bool, bool)>, std::sync::Condvar)>;

#[derive(Clone, Debug)]
enum FileOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct FileData {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<FileOp>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Link { name: String, id: usize },
    Unlink { name: String },
    Rename { from: String, to: String, id: usize },
}

#[derive(Debug, Default)]
struct State {
    files: Vec<FileData>,
    dir: BTreeMap<String, usize>,
    dir_durable: BTreeMap<String, usize>,
    dir_unsynced: Vec<DirOp>,
    faults: Faults,
    ops: u64,
    syncs: u64,
    crashed: bool,
}

/// The simulated directory. Cheap to clone (shared state).
#[derive(Clone, Debug, Default)]
pub struct SimVfs {
    state: Arc<Mutex<State>>,
    gate: Gate,
}

struct SimFile {
    state: Arc<Mutex<State>>,
    gate: Gate,
    id: usize,
}

fn crash_err() -> io::Error {
    io::Error::other("simulated crash")
}

fn apply(buf: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { offset, data } => {
            let end = *offset as usize + data.len();
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[*offset as usize..end].copy_from_slice(data);
        }
        FileOp::SetLen(len) => buf.resize(*len as usize, 0),
    }
}

fn apply_dir(dir: &mut BTreeMap<String, usize>, op: &DirOp) {
    match op {
        DirOp::Link { name, id } => {
            dir.insert(name.clone(), *id);
        }
        DirOp::Unlink { name } => {
            dir.remove(name);
        }
        DirOp::Rename { from, to, id } => {
            dir.remove(from);
            dir.insert(to.clone(), *id);
        }
    }
}

impl State {
    /// Counts one operation and applies the crash fault.
    fn op(&mut self) -> io::Result<()> {
        if self.crashed {
            return Err(crash_err());
        }
        self.ops += 1;
        if self.faults.crash_at_op == Some(self.ops) {
            self.crashed = true;
            return Err(crash_err());
        }
        Ok(())
    }

    fn sync_fault(&mut self) -> io::Result<()> {
        self.syncs += 1;
        if self.faults.fail_sync_at == Some(self.syncs) {
            return Err(io::Error::other("simulated EIO on fsync"));
        }
        Ok(())
    }

    fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.current.len() as u64).sum()
    }
}

impl SimVfs {
    pub fn new() -> SimVfs {
        SimVfs::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the fault plan and resets the operation counters.
    pub fn set_faults(&self, faults: Faults) {
        let mut s = self.lock();
        s.faults = faults;
        s.ops = 0;
        s.syncs = 0;
    }

    /// Operations done since the last `set_faults`.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Whether the crash fault fired.
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Whether a sync is blocked by `Faults::pause_sync_at` right now.
    pub fn sync_paused(&self) -> bool {
        self.gate.0.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Lets the paused sync (and any later one) proceed.
    pub fn resume(&self) {
        let mut g = self.gate.0.lock().unwrap_or_else(|p| p.into_inner());
        g.1 = true;
        self.gate.1.notify_all();
    }

    /// Simulates power loss: returns a fresh `SimVfs` holding what the disk
    /// kept. Per file: the synced bytes plus a random prefix of its unsynced
    /// ops, the last kept write torn at a random byte. Directory: the synced
    /// entries plus a random prefix of the unsynced entry changes.
    pub fn crash(&self, rng: &mut SimRng) -> SimVfs {
        let s = self.lock();
        let mut dir = s.dir_durable.clone();
        let keep_dir = rng.upto(s.dir_unsynced.len());
        for op in &s.dir_unsynced[..keep_dir] {
            apply_dir(&mut dir, op);
        }
        let mut files = Vec::with_capacity(s.files.len());
        for f in &s.files {
            files.push(crashed_content(f, rng));
        }
        let files: Vec<FileData> = files
            .into_iter()
            .map(|c| FileData {
                durable: c.clone(),
                current: c,
                unsynced: Vec::new(),
            })
            .collect();
        let state = State {
            files,
            dir_durable: dir.clone(),
            dir,
            ..State::default()
        };
        SimVfs {
            state: Arc::new(Mutex::new(state)),
            gate: Gate::default(),
        }
    }

    /// Flips one bit of a file (both its synced and current bytes).
    pub fn flip_bit(&self, name: &str, offset: u64, bit: u8) {
        let mut s = self.lock();
        let id = s.dir[name];
        let f = &mut s.files[id];
        f.current[offset as usize] ^= 1 << (bit % 8);
        if (offset as usize) < f.durable.len() {
            f.durable[offset as usize] ^= 1 << (bit % 8);
        }
    }

    /// Size of a file's current content (tests).
    pub fn file_len(&self, name: &str) -> Option<u64> {
        let s = self.lock();
        s.dir.get(name).map(|&id| s.files[id].current.len() as u64)
    }
}

/// The content a crash leaves for one file (see `SimVfs::crash`).
fn crashed_content(f: &FileData, rng: &mut SimRng) -> Vec<u8> {
    let mut c = f.durable.clone();
    let keep = rng.upto(f.unsynced.len());
    for (i, op) in f.unsynced[..keep].iter().enumerate() {
        let last = i + 1 == keep;
        match op {
            FileOp::Write { offset, data } if last => {
                let torn = rng.upto(data.len());
                apply(
                    &mut c,
                    &FileOp::Write {
                        offset: *offset,
                        data: data[..torn].to_vec(),
                    },
                );
            }
            op => apply(&mut c, op),
        }
    }
    c
}

impl Vfs for SimVfs {
    fn open(&self, name: &str) -> io::Result<Arc<dyn VfsFile>> {
        let mut s = self.lock();
        s.op()?;
        let id = *s
            .dir
            .get(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))?;
        Ok(Arc::new(SimFile {
            state: self.state.clone(),
            gate: self.gate.clone(),
            id,
        }))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn VfsFile>> {
        let mut s = self.lock();
        s.op()?;
        if s.dir.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                name.to_string(),
            ));
        }
        let id = s.files.len();
        s.files.push(FileData::default());
        let op = DirOp::Link {
            name: name.to_string(),
            id,
        };
        apply_dir(&mut s.dir, &op);
        s.dir_unsynced.push(op);
        Ok(Arc::new(SimFile {
            state: self.state.clone(),
            gate: self.gate.clone(),
            id,
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        let id = *s
            .dir
            .get(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, from.to_string()))?;
        // One atomic directory change: a crash keeps all of it or none.
        let op = DirOp::Rename {
            from: from.to_string(),
            to: to.to_string(),
            id,
        };
        apply_dir(&mut s.dir, &op);
        s.dir_unsynced.push(op);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        if !s.dir.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::NotFound, name.to_string()));
        }
        let op = DirOp::Unlink {
            name: name.to_string(),
        };
        apply_dir(&mut s.dir, &op);
        s.dir_unsynced.push(op);
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut s = self.lock();
        s.op()?;
        Ok(s.dir.keys().cloned().collect())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        s.sync_fault()?;
        s.dir_durable = s.dir.clone();
        s.dir_unsynced.clear();
        Ok(())
    }
}

impl SimFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until `SimVfs::resume` (a test bounds its own waiting).
    fn pause(&self) {
        let (m, cv) = &*self.gate;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        g.0 = true;
        // Bounded by the test calling `resume`.
        while !g.1 {
            g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        g.0 = false;
    }
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut s = self.lock();
        s.op()?;
        let c = &s.files[self.id].current;
        let start = (offset as usize).min(c.len());
        let n = buf.len().min(c.len() - start);
        buf[..n].copy_from_slice(&c[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        let cur_len = s.files[self.id].current.len() as u64;
        let growth = (offset + buf.len() as u64).saturating_sub(cur_len);
        let mut data = buf;
        let mut enospc = false;
        if let Some(limit) = s.faults.space_limit {
            let room = limit.saturating_sub(s.total_size());
            if growth > room {
                // Write what fits, like a real short write before ENOSPC.
                let fit = (cur_len + room).saturating_sub(offset) as usize;
                data = &buf[..fit.min(buf.len())];
                enospc = true;
            }
        }
        let op = FileOp::Write {
            offset,
            data: data.to_vec(),
        };
        let f = &mut s.files[self.id];
        apply(&mut f.current, &op);
        f.unsynced.push(op);
        if enospc {
            return Err(io::Error::from_raw_os_error(28));
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        s.sync_fault()?;
        // Only what was written when the sync was called becomes durable.
        let covered = s.files[self.id].unsynced.len();
        if s.faults.pause_sync_at == Some(s.syncs) {
            drop(s);
            self.pause();
            s = self.lock();
            if s.crashed {
                return Err(crash_err());
            }
        }
        let f = &mut s.files[self.id];
        let done: Vec<FileOp> = f.unsynced.drain(..covered).collect();
        for op in &done {
            apply(&mut f.durable, op);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        s.op()?;
        let op = FileOp::SetLen(len);
        let f = &mut s.files[self.id];
        apply(&mut f.current, &op);
        f.unsynced.push(op);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut s = self.lock();
        s.op()?;
        Ok(s.files[self.id].current.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::read_all;

    #[test]
    fn synced_data_survives_every_crash_unsynced_is_a_prefix() {
        for seed in 0..200 {
            let v = SimVfs::new();
            let f = v.create("f").unwrap();
            v.sync_dir().unwrap();
            f.write_at(b"durable|", 0).unwrap();
            f.sync().unwrap();
            f.write_at(b"maybe1|", 8).unwrap();
            f.write_at(b"maybe2", 15).unwrap();
            let after = v.crash(&mut SimRng::new(seed));
            let c = read_all(&*after.open("f").unwrap()).unwrap();
            let full = b"durable|maybe1|maybe2";
            assert!(c.len() >= 8 && full.starts_with(&c), "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn unsynced_create_may_vanish_synced_dir_stays() {
        let mut vanished = 0;
        for seed in 0..50 {
            let v = SimVfs::new();
            let f = v.create("f").unwrap();
            f.write_at(b"x", 0).unwrap();
            f.sync().unwrap();
            let after = v.crash(&mut SimRng::new(seed));
            if after.open("f").is_err() {
                vanished += 1;
            }
        }
        assert!(vanished > 0 && vanished < 50);
        let v = SimVfs::new();
        v.create("g").unwrap();
        v.sync_dir().unwrap();
        assert!(v.crash(&mut SimRng::new(1)).open("g").is_ok());
    }

    #[test]
    fn faults_fire() {
        let v = SimVfs::new();
        v.set_faults(Faults {
            crash_at_op: Some(3),
            ..Faults::default()
        });
        let f = v.create("a").unwrap();
        f.write_at(b"1", 0).unwrap();
        assert!(f.sync().is_err());
        assert!(v.list().is_err(), "dead after crash");

        let v = SimVfs::new();
        v.set_faults(Faults {
            fail_sync_at: Some(1),
            ..Faults::default()
        });
        let f = v.create("a").unwrap();
        assert!(f.sync().is_err());
        assert!(f.sync().is_ok());

        let v = SimVfs::new();
        v.set_faults(Faults {
            space_limit: Some(10),
            ..Faults::default()
        });
        let f = v.create("a").unwrap();
        f.write_at(b"12345678", 0).unwrap();
        let e = f.write_at(b"abcdef", 8).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        assert_eq!(f.len().unwrap(), 10);
    }

    #[test]
    fn rename_is_atomic_across_crashes() {
        for seed in 0..100 {
            let v = SimVfs::new();
            let f = v.create("a.tmp").unwrap();
            f.write_at(b"snap", 0).unwrap();
            f.sync().unwrap();
            v.sync_dir().unwrap();
            v.rename("a.tmp", "a").unwrap();
            let names = v.crash(&mut SimRng::new(seed)).list().unwrap();
            assert!(
                names == vec!["a".to_string()] || names == vec!["a.tmp".to_string()],
                "{names:?}"
            );
        }
    }
}
