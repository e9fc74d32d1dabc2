//! The payload of a shard group's log entry: a batch of client operations
//! with the execution context the leader decided for them.
//!
//! Why a batch: fsync and network round trips, not CPU, bound a replicated
//! store's write rate, so every command queued for a group while the
//! previous round was in flight rides in one entry.
//!
//! Format v1 (little endian): `u8 version=1 | u64 now_ms | u64 seed |
//! u32 op_count | op*`, `op = u8 tag | body`; argv = `u32 argc | (u32 len |
//! bytes)*`. Decoding checks every declared length against the bytes that
//! are actually there before allocating.
//!
//! The metadata group (group 0) uses the same envelope: its ops are
//! [`Op::Meta`] (tag 4, `u32 len | encoded MetaCommand`, at most
//! [`MAX_META_OP_BYTES`]). Tag 4 is an addition to format v1, not a new
//! version: no shard entry ever carries it, and a decoder that predates it
//! rejects it ("unknown op tag") instead of misreading it. `now_ms`/`seed`
//! are written but unused by the metadata state machine (it is a pure
//! function of the commands).

use bytes::{Buf, Bytes};

/// Format version written in every entry.
pub const ENTRY_VERSION: u8 = 1;
/// At most this many ops in one entry (the rest waits for the next round).
pub const MAX_OPS_PER_ENTRY: usize = 4096;
/// An entry stops growing once it reaches this many bytes (a single op may
/// exceed it: a 512 MiB SET is one op in one entry).
pub const MAX_ENTRY_BYTES: usize = 4 << 20;
/// Upper bound on arguments of one command (Redis's multibulk limit).
pub const MAX_ARGS_PER_OP: usize = 1024 * 1024;

const TAG_CMD: u8 = 1;
const TAG_MULTI: u8 = 2;
const TAG_EXPIRE: u8 = 3;
const TAG_META: u8 = 4;

/// Upper bound on one encoded metadata command (a `Bootstrap` of a large
/// cluster is the biggest: nodes, shards, slot ranges).
pub const MAX_META_OP_BYTES: usize = 16 << 20;

/// One client-visible operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A single command (argv, name first).
    Cmd(Vec<Bytes>),
    /// MULTI/EXEC: the queued commands and the WATCHed keys with the
    /// versions read when WATCH ran.
    Multi {
        cmds: Vec<Vec<Bytes>>,
        watched: Vec<(Bytes, u64)>,
    },
    /// Active expiry decided by the leader: delete each key that is still
    /// expired at the entry's `now_ms`.
    ExpireDelete(Vec<Bytes>),
    /// An encoded `slotraft_cluster::MetaCommand`; only the metadata group
    /// accepts it (and it accepts nothing else).
    Meta(Vec<u8>),
}

impl Op {
    /// Bytes this op adds to an encoded entry (for batching limits).
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Op::Cmd(argv) | Op::ExpireDelete(argv) => argv_len(argv),
            Op::Multi { cmds, watched } => {
                4 + cmds.iter().map(|c| argv_len(c)).sum::<usize>()
                    + 4
                    + watched.iter().map(|(k, _)| 4 + k.len() + 8).sum::<usize>()
            }
            Op::Meta(cmd) => 4 + cmd.len(),
        }
    }
}

fn argv_len(argv: &[Bytes]) -> usize {
    4 + argv.iter().map(|a| 4 + a.len()).sum::<usize>()
}

/// A decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardEntry {
    pub now_ms: u64,
    pub seed: u64,
    pub ops: Vec<Op>,
}

/// Why an entry could not be decoded (a corrupt or foreign entry: the
/// applier treats it as a fatal invariant violation, never skips it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryDecodeError(pub &'static str);

impl ShardEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + self.ops.iter().map(Op::encoded_len).sum::<usize>());
        out.push(ENTRY_VERSION);
        out.extend_from_slice(&self.now_ms.to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        put_u32(&mut out, self.ops.len());
        for op in &self.ops {
            match op {
                Op::Cmd(argv) => {
                    out.push(TAG_CMD);
                    put_argv(&mut out, argv);
                }
                Op::Multi { cmds, watched } => {
                    out.push(TAG_MULTI);
                    put_u32(&mut out, cmds.len());
                    for c in cmds {
                        put_argv(&mut out, c);
                    }
                    put_u32(&mut out, watched.len());
                    for (k, v) in watched {
                        put_bytes(&mut out, k);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Op::ExpireDelete(keys) => {
                    out.push(TAG_EXPIRE);
                    put_argv(&mut out, keys);
                }
                Op::Meta(cmd) => {
                    assert!(cmd.len() <= MAX_META_OP_BYTES, "metadata op too large");
                    out.push(TAG_META);
                    put_bytes(&mut out, cmd);
                }
            }
        }
        out
    }

    /// Decodes an entry; `data` is shared (arguments are zero-copy slices).
    pub fn decode(data: &Bytes) -> Result<ShardEntry, EntryDecodeError> {
        let mut r = Reader { buf: data.clone() };
        if r.u8()? != ENTRY_VERSION {
            return Err(EntryDecodeError("unknown entry version"));
        }
        let now_ms = r.u64()?;
        let seed = r.u64()?;
        let n = r.count(1)?;
        if n > MAX_OPS_PER_ENTRY {
            return Err(EntryDecodeError("too many ops"));
        }
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            ops.push(r.op()?);
        }
        if r.buf.has_remaining() {
            return Err(EntryDecodeError("trailing bytes"));
        }
        Ok(ShardEntry { now_ms, seed, ops })
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("length fits u32 (bounded by MAX_* limits)");
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len());
    out.extend_from_slice(b);
}

fn put_argv(out: &mut Vec<u8>, argv: &[Bytes]) {
    put_u32(out, argv.len());
    for a in argv {
        put_bytes(out, a);
    }
}

struct Reader {
    buf: Bytes,
}

impl Reader {
    fn need(&self, n: usize) -> Result<(), EntryDecodeError> {
        if self.buf.remaining() < n {
            Err(EntryDecodeError("truncated entry"))
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, EntryDecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }
    fn u64(&mut self) -> Result<u64, EntryDecodeError> {
        self.need(8)?;
        Ok(self.buf.get_u64_le())
    }
    /// A count of items each at least `min_item` bytes long: checked against
    /// the remaining bytes so a forged count cannot make us allocate.
    fn count(&mut self, min_item: usize) -> Result<usize, EntryDecodeError> {
        self.need(4)?;
        let n = self.buf.get_u32_le() as usize;
        if n.saturating_mul(min_item) > self.buf.remaining() {
            return Err(EntryDecodeError("count exceeds entry size"));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<Bytes, EntryDecodeError> {
        let n = self.count(1)?;
        Ok(self.buf.split_to(n))
    }
    fn argv(&mut self) -> Result<Vec<Bytes>, EntryDecodeError> {
        let n = self.count(4)?;
        if n > MAX_ARGS_PER_OP {
            return Err(EntryDecodeError("too many arguments"));
        }
        (0..n).map(|_| self.bytes()).collect()
    }
    fn op(&mut self) -> Result<Op, EntryDecodeError> {
        match self.u8()? {
            TAG_CMD => Ok(Op::Cmd(self.argv()?)),
            TAG_EXPIRE => Ok(Op::ExpireDelete(self.argv()?)),
            TAG_META => {
                let cmd = self.bytes()?;
                if cmd.len() > MAX_META_OP_BYTES {
                    return Err(EntryDecodeError("metadata op too large"));
                }
                Ok(Op::Meta(cmd.to_vec()))
            }
            TAG_MULTI => {
                let n = self.count(4)?;
                let cmds = (0..n).map(|_| self.argv()).collect::<Result<_, _>>()?;
                let w = self.count(12)?;
                let mut watched = Vec::with_capacity(w);
                for _ in 0..w {
                    let k = self.bytes()?;
                    watched.push((k, self.u64()?));
                }
                Ok(Op::Multi { cmds, watched })
            }
            _ => Err(EntryDecodeError("unknown op tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn roundtrip_all_ops() {
        let e = ShardEntry {
            now_ms: 1_700_000_000_000,
            seed: 42,
            ops: vec![
                Op::Cmd(vec![b("SET"), b("k"), b("v")]),
                Op::Multi {
                    cmds: vec![vec![b("INCR"), b("a")], vec![b("GET"), b("a")]],
                    watched: vec![(b("a"), 7)],
                },
                Op::ExpireDelete(vec![b("x"), b("y")]),
                Op::Meta(vec![1, 2, 3]),
            ],
        };
        let enc = Bytes::from(e.encode());
        assert_eq!(
            enc.len(),
            21 + e.ops.iter().map(Op::encoded_len).sum::<usize>()
        );
        assert_eq!(ShardEntry::decode(&enc).unwrap(), e);
    }

    #[test]
    fn rejects_forged_counts_and_versions() {
        let mut bad = vec![ENTRY_VERSION];
        bad.extend_from_slice(&0u64.to_le_bytes());
        bad.extend_from_slice(&0u64.to_le_bytes());
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(ShardEntry::decode(&Bytes::from(bad)).is_err());
        assert!(ShardEntry::decode(&Bytes::from_static(&[9])).is_err());
        assert!(ShardEntry::decode(&Bytes::new()).is_err());
    }

    #[test]
    fn rejects_oversized_meta_op() {
        let mut bad = vec![ENTRY_VERSION];
        bad.extend_from_slice(&0u64.to_le_bytes());
        bad.extend_from_slice(&0u64.to_le_bytes());
        bad.extend_from_slice(&1u32.to_le_bytes());
        bad.push(TAG_META);
        let len = MAX_META_OP_BYTES + 1;
        bad.extend_from_slice(&(len as u32).to_le_bytes());
        bad.resize(bad.len() + len, 0);
        let err = ShardEntry::decode(&Bytes::from(bad)).unwrap_err();
        assert_eq!(err, EntryDecodeError("metadata op too large"));
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = ShardEntry::decode(&Bytes::from(data));
        }

        #[test]
        fn roundtrip_random(now in any::<u64>(), seed in any::<u64>(),
                            cmds in proptest::collection::vec(
                                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..4), 0..6)) {
            let ops = cmds.into_iter()
                .map(|c| Op::Cmd(c.into_iter().map(Bytes::from).collect()))
                .collect();
            let e = ShardEntry { now_ms: now, seed, ops };
            prop_assert_eq!(ShardEntry::decode(&Bytes::from(e.encode())).unwrap(), e);
        }
    }
}
