//! The recovery-scan fuzz bodies (`slotraft_storage::fuzzing`) on stable, as
//! property tests: random bytes and mutated real segments. The nightly
//! cargo-fuzz target in `crates/storage/fuzz` runs the same bodies.

use proptest::prelude::*;
use slotraft_storage::fuzzing::{check_scan_arbitrary, check_scan_mutated};
use slotraft_storage::record::encode_segment_header;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn scan_random_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        check_scan_arbitrary(&data);
    }

    #[test]
    fn scan_random_bytes_after_a_valid_header(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut seg = encode_segment_header(1).to_vec();
        seg.extend_from_slice(&data);
        check_scan_arbitrary(&seg);
    }

    #[test]
    fn scan_mutated_real_segments(data in prop::collection::vec(any::<u8>(), 8..1200)) {
        check_scan_mutated(&data);
    }
}
