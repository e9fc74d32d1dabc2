//! On-disk encoding of WAL segments: the segment header, the record framing
//! and the recovery scan (`scan_segment`).
//!
//! Why it is separate and pure (bytes in, records out): the recovery scan is the
//! one piece of code that must accept arbitrary garbage without panicking and
//! without ever accepting a bad record, so it is a plain function that the fuzz
//! target and the property tests drive directly. The layout is specified in
//! `docs/storage-format.md` sections 1.1, 1.2 and 4.

use slotraft_types::{GroupId, LogIndex, Term};

/// Format version written in every file header and checked at open.
pub const FORMAT_VERSION: u32 = 1;
/// Magic bytes at the start of every WAL segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SLRFTWAL";
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Size of a record header (CRC, length, kind, reserved, group, term, index).
pub const RECORD_HEADER_LEN: usize = 36;
/// Largest payload of one record. Raft entries larger than this are refused.
pub const MAX_RECORD_PAYLOAD: usize = 16 << 20;
/// Largest number of unsynced bytes a crash can leave at the end of the last
/// segment: the pipelined writer has at most two sync jobs unsynced (the one
/// being fdatasynced and the one being written), each at most one batch
/// bound; a segment roll drains the pipeline first, so there it is the
/// segment header + checkpoints + one batch. `store` asserts both at compile
/// time; recovery uses the bound to tell a torn tail from corruption (docs
/// section 4).
pub const MAX_TORN_TAIL: usize = 128 << 20;

/// What a record says. See the table in docs section 1.2.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    Entry = 1,
    HardState = 2,
    Truncate = 3,
    Compact = 4,
    Checkpoint = 5,
}

impl RecordKind {
    fn from_u8(v: u8) -> Option<RecordKind> {
        Some(match v {
            1 => RecordKind::Entry,
            2 => RecordKind::HardState,
            3 => RecordKind::Truncate,
            4 => RecordKind::Compact,
            5 => RecordKind::Checkpoint,
            _ => return None,
        })
    }
}

/// The fixed fields of one record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: RecordKind,
    pub group: GroupId,
    pub term: Term,
    pub index: LogIndex,
    pub len: u32,
}

/// Appends one encoded record to `out`.
pub fn encode_record(
    out: &mut Vec<u8>,
    kind: RecordKind,
    group: GroupId,
    term: Term,
    index: LogIndex,
    payload: &[u8],
) {
    assert!(
        payload.len() <= MAX_RECORD_PAYLOAD,
        "record payload over MAX_RECORD_PAYLOAD"
    );
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&[0u8; 3]);
    out.extend_from_slice(&group.get().to_le_bytes());
    out.extend_from_slice(&term.get().to_le_bytes());
    out.extend_from_slice(&index.get().to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Encoded size of a record with `payload_len` bytes of payload.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses and checks the record starting at `buf[0]`. Returns the header and
/// the total encoded length, or `None` if the bytes are not a valid record
/// (short, bad reserved bytes, unknown kind, length out of bounds, bad CRC).
pub fn decode_record(buf: &[u8]) -> Option<(RecordHeader, usize)> {
    if buf.len() < RECORD_HEADER_LEN {
        return None;
    }
    let len = u32_at(buf, 4) as usize;
    let kind = RecordKind::from_u8(buf[8])?;
    if buf[9..12] != [0, 0, 0] || len > MAX_RECORD_PAYLOAD || RECORD_HEADER_LEN + len > buf.len() {
        return None;
    }
    let total = RECORD_HEADER_LEN + len;
    if crc32c::crc32c(&buf[4..total]) != u32_at(buf, 0) {
        return None;
    }
    let header = RecordHeader {
        kind,
        group: GroupId::new(u64_at(buf, 12)),
        term: Term::new(u64_at(buf, 20)),
        index: LogIndex::new(u64_at(buf, 28)),
        len: len as u32,
    };
    Some((header, total))
}

/// Encodes the header of segment `seq`.
pub fn encode_segment_header(seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a segment header was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Too short, wrong magic, bad CRC or wrong seq: damaged or torn.
    Bad,
    /// A good header of another format version.
    Version(u32),
}

/// Checks a segment header against the seq taken from the file name.
pub fn check_segment_header(buf: &[u8], seq: u64) -> Result<(), HeaderError> {
    if buf.len() < SEGMENT_HEADER_LEN || &buf[0..8] != SEGMENT_MAGIC {
        return Err(HeaderError::Bad);
    }
    if crc32c::crc32c(&buf[0..28]) != u32_at(buf, 28) {
        return Err(HeaderError::Bad);
    }
    let version = u32_at(buf, 8);
    if version != FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    if u64_at(buf, 16) != seq {
        return Err(HeaderError::Bad);
    }
    Ok(())
}

/// A valid record found by the scan: its header and where it is in the segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ScannedRecord {
    pub header: RecordHeader,
    /// Offset of the record (its CRC field) in the segment.
    pub offset: u64,
}

impl ScannedRecord {
    /// Offset of the payload in the segment.
    pub fn payload_offset(&self) -> u64 {
        self.offset + RECORD_HEADER_LEN as u64
    }
}

/// How a scan of one segment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belonged to a valid record.
    Clean,
    /// Last segment only: bytes from `valid_len` on are a torn write to cut.
    TornTail { valid_len: u64 },
    /// Last segment only: the header itself is torn; the file held nothing
    /// ever reported durable and is to be removed.
    TornHeader,
    /// A bad record (or header) that can not be a torn write.
    Corrupt { offset: u64, reason: &'static str },
    /// A valid header of an unsupported format version.
    Version(u32),
}

/// The result of scanning one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Valid records, in file order, all before the first bad byte.
    pub records: Vec<ScannedRecord>,
    pub end: ScanEnd,
}

/// Scans segment `seq` (its whole content in `buf`). `is_last` says whether it
/// is the newest segment, the only one that may end in a torn write
/// (docs section 4). Never panics, whatever the bytes.
pub fn scan_segment(buf: &[u8], seq: u64, is_last: bool) -> Scan {
    match check_segment_header(buf, seq) {
        Ok(()) => {}
        Err(HeaderError::Version(v)) => {
            return Scan {
                records: Vec::new(),
                end: ScanEnd::Version(v),
            }
        }
        Err(HeaderError::Bad) => {
            // A torn creation: the header (and checkpoints) were one unsynced
            // write, so the whole file is at most one write long.
            // The header is synced on its own before any record is written
            // (docs 2.1), so valid records after a bad header mean corruption.
            let end = if is_last && buf.len() <= MAX_TORN_TAIL && only_checkpoints_from(buf, 0) {
                ScanEnd::TornHeader
            } else {
                ScanEnd::Corrupt {
                    offset: 0,
                    reason: "bad segment header",
                }
            };
            return Scan {
                records: Vec::new(),
                end,
            };
        }
    }
    let mut records = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    // Bounded: every iteration advances `at` by at least one record header.
    while at < buf.len() {
        match decode_record(&buf[at..]) {
            Some((header, total)) => {
                records.push(ScannedRecord {
                    header,
                    offset: at as u64,
                });
                at += total;
            }
            None => {
                return Scan {
                    records,
                    end: classify_bad_record(buf, at, is_last),
                }
            }
        }
    }
    debug_assert_eq!(at, buf.len());
    Scan {
        records,
        end: ScanEnd::Clean,
    }
}

/// Decides whether the bad bytes at `at` are a torn tail or corruption.
fn classify_bad_record(buf: &[u8], at: usize, is_last: bool) -> ScanEnd {
    let corrupt = |reason| ScanEnd::Corrupt {
        offset: at as u64,
        reason,
    };
    if !is_last {
        return corrupt("bad record in a fully synced segment");
    }
    // Preallocated zeros after the last write are not data: judge only the
    // bytes up to the last non-zero one (docs 4).
    let end = buf
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p + 1)
        .max(at);
    if end - at > MAX_TORN_TAIL {
        return corrupt("bad record followed by more than one write");
    }
    // Records may start only before `end` (a zero byte is no record kind)
    // but may end in zeros (a zero vote), so decode against the whole buffer.
    if find_valid_record_before(buf, at + 1, end).is_some() {
        return corrupt("valid record after a bad one");
    }
    ScanEnd::TornTail {
        valid_len: at as u64,
    }
}

/// Searches `buf[from..]` byte by byte for any offset where a valid record
/// starts. Bounded by the buffer length (the caller bounds it by MAX_TORN_TAIL).
pub fn find_valid_record(buf: &[u8], from: usize) -> Option<usize> {
    find_valid_record_before(buf, from, buf.len())
}

/// Like `find_valid_record`, for record starts in `from..until` only.
fn find_valid_record_before(buf: &[u8], from: usize, until: usize) -> Option<usize> {
    let last_start = buf
        .len()
        .checked_sub(RECORD_HEADER_LEN)?
        .min(until.saturating_sub(1));
    (from..=last_start)
        .find(|&off| quick_header_ok(&buf[off..]) && decode_record(&buf[off..]).is_some())
}

/// True if every valid record found in `buf[from..]` (byte-by-byte search)
/// is a Checkpoint: those are written with the header in one write, so they
/// may survive a torn header; any other record proves the header was synced.
fn only_checkpoints_from(buf: &[u8], from: usize) -> bool {
    let mut at = from;
    // Bounded: `at` strictly increases.
    while let Some(off) = find_valid_record(buf, at) {
        match decode_record(&buf[off..]) {
            Some((h, _)) if h.kind == RecordKind::Checkpoint => at = off + 1,
            _ => return false,
        }
    }
    true
}

/// Cheap checks before computing a CRC during the byte-by-byte search.
fn quick_header_ok(b: &[u8]) -> bool {
    RecordKind::from_u8(b[8]).is_some()
        && b[9..12] == [0, 0, 0]
        && (u32_at(b, 4) as usize) <= b.len() - RECORD_HEADER_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(records: &[(RecordKind, u64, u64, u64, &[u8])]) -> Vec<u8> {
        let mut b = encode_segment_header(7).to_vec();
        for &(k, g, t, i, p) in records {
            encode_record(&mut b, k, GroupId(g), Term(t), LogIndex(i), p);
        }
        b
    }

    fn three() -> Vec<u8> {
        seg(&[
            (RecordKind::Entry, 1, 1, 1, b"hello"),
            (RecordKind::Entry, 2, 1, 1, b"world!"),
            (RecordKind::HardState, 1, 3, 1, &5u64.to_le_bytes()),
        ])
    }

    #[test]
    fn roundtrip_clean() {
        let b = three();
        let s = scan_segment(&b, 7, false);
        assert_eq!(s.end, ScanEnd::Clean);
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.records[1].header.group, GroupId(2));
        assert_eq!(s.records[1].header.len, 6);
        let p = s.records[0].payload_offset() as usize;
        assert_eq!(&b[p..p + 5], b"hello");
    }

    #[test]
    fn every_truncation_of_last_segment_is_a_torn_tail_or_clean() {
        let b = three();
        let boundaries: Vec<usize> = {
            let s = scan_segment(&b, 7, true);
            let mut v: Vec<usize> = s.records.iter().map(|r| r.offset as usize).collect();
            v.push(b.len());
            v
        };
        for cut in SEGMENT_HEADER_LEN..b.len() {
            let s = scan_segment(&b[..cut], 7, true);
            let kept = boundaries.iter().filter(|&&x| x <= cut).count() - 1;
            assert_eq!(s.records.len(), kept, "cut {cut}");
            if boundaries.contains(&cut) {
                assert_eq!(s.end, ScanEnd::Clean);
            } else {
                assert_eq!(
                    s.end,
                    ScanEnd::TornTail {
                        valid_len: boundaries[kept] as u64
                    }
                );
            }
        }
        for cut in 0..SEGMENT_HEADER_LEN {
            assert_eq!(scan_segment(&b[..cut], 7, true).end, ScanEnd::TornHeader);
            assert!(matches!(
                scan_segment(&b[..cut], 7, false).end,
                ScanEnd::Corrupt { .. }
            ));
        }
    }

    #[test]
    fn bit_flip_in_the_middle_is_corruption_never_accepted() {
        let b = three();
        let first_len = record_len(5);
        for byte in SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + first_len {
            for bit in 0..8 {
                let mut c = b.clone();
                c[byte] ^= 1 << bit;
                let s = scan_segment(&c, 7, true);
                assert!(
                    s.records.is_empty(),
                    "flip at {byte}:{bit} accepted a record"
                );
                assert!(
                    matches!(s.end, ScanEnd::Corrupt { .. }),
                    "flip at {byte}:{bit}: {:?}",
                    s.end
                );
            }
        }
    }

    #[test]
    fn bit_flip_in_final_record_is_torn_tail_in_last_segment_only() {
        let b = three();
        let mut c = b.clone();
        let n = c.len();
        c[n - 1] ^= 0x10;
        let s = scan_segment(&c, 7, true);
        assert_eq!(s.records.len(), 2);
        assert!(matches!(s.end, ScanEnd::TornTail { .. }));
        assert!(matches!(
            scan_segment(&c, 7, false).end,
            ScanEnd::Corrupt { .. }
        ));
    }

    #[test]
    fn header_checks() {
        let mut b = three();
        assert_eq!(
            scan_segment(&b, 8, false).end,
            ScanEnd::Corrupt {
                offset: 0,
                reason: "bad segment header"
            }
        );
        b[8] = 2; // version 2, fix the CRC
        let crc = crc32c::crc32c(&b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(scan_segment(&b, 7, true).end, ScanEnd::Version(2));
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let mut b = three();
        b.extend_from_slice(&[0u8; 4096]);
        let s = scan_segment(&b, 7, true);
        assert_eq!(s.records.len(), 3);
        assert!(matches!(s.end, ScanEnd::TornTail { .. }));
    }
}
