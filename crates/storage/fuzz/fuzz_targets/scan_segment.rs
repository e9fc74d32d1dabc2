//! Fuzz target over the WAL recovery scan: the input is tried both as a raw
//! segment (arbitrary bytes) and as the recipe for a real segment plus one
//! mutation. Run: `cd crates/storage/fuzz && cargo +nightly fuzz run scan_segment`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotraft_storage::fuzzing::{check_scan_arbitrary, check_scan_mutated};

fuzz_target!(|data: &[u8]| {
    check_scan_arbitrary(data);
    check_scan_mutated(data);
});
