//! Random bytes into the request parser, fed in random piece sizes.
//!
//! Checks: no panic; the parser never consumes more than it was given; the
//! result (requests, error, leftover) does not depend on how the bytes were
//! split (compared with a whole-buffer parse); every request is non-empty,
//! and re-encoding it and parsing again gives it back.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use slotraft_resp::{encode_request, ParserLimits, ProtocolError, RequestParser};

/// Bound on requests collected from one input (an input is at most a few KB,
/// and every request consumes at least 2 bytes).
const MAX_REQUESTS: usize = 1 << 20;

#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Bytes>>,
    error: Option<ProtocolError>,
    left: usize,
}

fn run(input: &[u8], sizes: &[usize], limits: ParserLimits) -> Outcome {
    let mut p = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut fed = 0;
    let mut i = 0;
    while fed < input.len() {
        let n = sizes[i % sizes.len()].max(1).min(input.len() - fed);
        i += 1;
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            let before = buf.len();
            let r = p.parse(&mut buf);
            assert!(buf.len() <= before, "parser grew the buffer");
            match r {
                Ok(Some(argv)) => {
                    assert!(!argv.is_empty());
                    requests.push(argv);
                    assert!(requests.len() < MAX_REQUESTS);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(e.line().starts_with(b"ERR Protocol error: "));
                    return Outcome {
                        requests,
                        error: Some(e),
                        left: input.len() - fed + buf.len(),
                    };
                }
            }
        }
    }
    Outcome {
        requests,
        error: None,
        left: buf.len(),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (ctl, input) = data.split_at(4);
    let sizes: Vec<usize> = ctl[..3].iter().map(|&b| usize::from(b % 17) + 1).collect();
    // Small limits half of the time, so the limit paths are reachable.
    let limits = if ctl[3] & 1 == 1 {
        ParserLimits {
            proto_max_bulk_len: usize::from(ctl[3] >> 1) + 1,
            max_multibulk_len: usize::from(ctl[3] >> 4) + 1,
            max_inline_len: usize::from(ctl[3]) + 8,
        }
    } else {
        ParserLimits::default()
    };
    let whole = run(input, &[input.len().max(1)], limits);
    let pieces = run(input, &sizes, limits);
    // Too-big checks look at what is buffered (as Redis's do), so only
    // inputs that stay under the inline limit must be split-invariant.
    if input.len() <= limits.max_inline_len {
        assert_eq!(whole, pieces);
    }
    for argv in whole.requests.iter().take(64) {
        let mut wire = Vec::new();
        encode_request(argv, &mut wire);
        let again = run(&wire, &[wire.len()], ParserLimits::default());
        assert_eq!(again.requests, vec![argv.clone()]);
        assert_eq!(again.error, None);
    }
});
