//! Fuzz bodies for the recovery scan, shared by the cargo-fuzz target
//! (`crates/storage/fuzz`, nightly) and a proptest harness on stable
//! (`tests/fuzz_scan.rs`), so the same checks run in plain `cargo test`.
//!
//! Why here and public: the fuzz crate is outside the workspace and can only
//! call the library's public API; keeping the invariants next to the scan
//! keeps them honest when the format changes.

use crate::record::{self, RecordKind, ScanEnd, SEGMENT_HEADER_LEN};
use slotraft_types::{GroupId, LogIndex, Term};

/// Arbitrary bytes as a segment: the scan must not panic, every record it
/// returns must be valid and contiguous, and the end must be consistent.
pub fn check_scan_arbitrary(data: &[u8]) {
    for is_last in [false, true] {
        let s = record::scan_segment(data, 1, is_last);
        check_structure(data, &s, is_last);
    }
}

fn check_structure(data: &[u8], s: &record::Scan, is_last: bool) {
    let mut at = SEGMENT_HEADER_LEN as u64;
    for r in &s.records {
        assert_eq!(r.offset, at, "records are contiguous from the header");
        let (h, len) =
            record::decode_record(&data[at as usize..]).expect("returned records are valid");
        assert_eq!(h, r.header);
        at += len as u64;
    }
    match &s.end {
        ScanEnd::Clean => assert_eq!(at, data.len() as u64),
        ScanEnd::TornTail { valid_len } => {
            assert!(is_last, "only the last segment may be torn");
            assert_eq!(*valid_len, at);
            assert!(at < data.len() as u64);
        }
        ScanEnd::TornHeader => assert!(is_last && s.records.is_empty()),
        ScanEnd::Corrupt { offset, .. } => {
            assert!(*offset == at || (*offset == 0 && s.records.is_empty()))
        }
        ScanEnd::Version(_) => assert!(s.records.is_empty()),
    }
}

/// Builds a real segment from `data` (record sizes and contents), applies a
/// mutation chosen by `data` (bit flip, truncation, insertion, overwrite), and
/// checks that the scan returns only a prefix of the original records: nothing
/// after a torn or corrupt byte is ever accepted.
pub fn check_scan_mutated(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let (ctl, body) = data.split_at(8);
    let mut seg = record::encode_segment_header(1).to_vec();
    let mut originals = Vec::new();
    let mut rest = body;
    // Bounded: each iteration consumes at least one byte of `rest`.
    while !rest.is_empty() && originals.len() < 64 {
        let n = (rest[0] as usize % 40).min(rest.len() - 1);
        let payload = &rest[1..1 + n];
        let offset = seg.len() as u64;
        let kind = if rest[0] & 0x80 != 0 {
            RecordKind::HardState
        } else {
            RecordKind::Entry
        };
        let i = originals.len() as u64;
        record::encode_record(
            &mut seg,
            kind,
            GroupId(i % 3),
            Term(i),
            LogIndex(i + 1),
            payload,
        );
        originals.push((offset, seg.len()));
        rest = &rest[1 + n..];
    }
    if ctl[7] & 1 == 1 {
        // A preallocated zero tail, as the writer leaves it.
        seg.resize(seg.len() + ctl[7] as usize * 8, 0);
    }
    let pos = u32::from_le_bytes(ctl[1..5].try_into().expect("4")) as usize % (seg.len() + 1);
    let mut m = seg.clone();
    match ctl[0] % 4 {
        0 if pos < m.len() => m[pos] ^= 1 << (ctl[5] % 8),
        1 => m.truncate(pos),
        2 => {
            let ins = &ctl[5..8];
            m.splice(pos..pos, ins.iter().copied());
        }
        _ => {
            let end = (pos + ctl[5] as usize % 64).min(m.len());
            m[pos..end].iter_mut().for_each(|b| *b = ctl[6]);
        }
    }
    for is_last in [false, true] {
        let s = record::scan_segment(&m, 1, is_last);
        check_structure(&m, &s, is_last);
        for (k, r) in s.records.iter().enumerate() {
            let (off, end) = originals[k];
            assert_eq!(
                r.offset, off,
                "accepted records are a prefix of the originals"
            );
            assert_eq!(
                &m[off as usize..end],
                &seg[off as usize..end],
                "accepted bytes are the original bytes"
            );
        }
        if m == seg {
            assert_eq!(s.records.len(), originals.len());
        }
    }
}
