//! Request parser behaviour: every case here was checked against a real
//! redis-server 7.0 (see tests/e2e/test_protocol.py for the live comparison).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use slotraft_resp::{encode_request, ParserLimits, ProtocolError, RequestParser};

/// Everything one run of the parser over `input` (fed in pieces of the given
/// sizes) produces: the requests, then the error if any, and the bytes left.
#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Bytes>>,
    error: Option<ProtocolError>,
    left: usize,
}

/// Bound on requests collected by one `run` (the tests never send more).
const MAX_REQUESTS: usize = 20_000;

fn run_chunks(input: &[u8], chunks: &[usize], limits: ParserLimits) -> Outcome {
    let mut p = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().cycle();
    while fed < input.len() {
        let n = (*sizes.next().expect("cycle"))
            .max(1)
            .min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            assert!(requests.len() < MAX_REQUESTS);
            match p.parse(&mut buf) {
                Ok(Some(argv)) => requests.push(argv),
                Ok(None) => break,
                Err(e) => {
                    // Poisoned: the same error again.
                    assert_eq!(p.parse(&mut buf), Err(e.clone()));
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

fn run(input: &[u8]) -> Outcome {
    run_chunks(input, &[input.len().max(1)], ParserLimits::default())
}

fn argv(items: &[&[u8]]) -> Vec<Bytes> {
    items.iter().map(|s| Bytes::copy_from_slice(s)).collect()
}

fn ok(input: &[u8], expect: &[&[&[u8]]]) {
    let out = run(input);
    assert_eq!(out.error, None, "input {input:?}");
    let want: Vec<Vec<Bytes>> = expect.iter().map(|a| argv(a)).collect();
    assert_eq!(out.requests, want, "input {input:?}");
}

fn err(input: &[u8], e: ProtocolError, line: &str) {
    let out = run(input);
    assert_eq!(out.error, Some(e.clone()), "input {input:?}");
    assert_eq!(String::from_utf8_lossy(&e.line()), line);
}

#[test]
fn multibulk_basic() {
    ok(b"*1\r\n$4\r\nPING\r\n", &[&[b"PING"]]);
    ok(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", &[&[b"ECHO", b""]]);
    ok(
        b"*2\r\n$4\r\nECHO\r\n$5\r\na\r\nb\0\r\n",
        &[&[b"ECHO", b"a\r\nb\0"]],
    );
}

#[test]
fn empty_requests_are_ignored() {
    ok(b"*0\r\n*-1\r\n*-2\r\n\r\n\n   \r\nPING\r\n", &[&[b"PING"]]);
}

#[test]
fn redis_quirks_are_kept() {
    // The two bytes after a bulk are skipped unchecked.
    ok(
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
        &[&[b"PING"], &[b"PING"]],
    );
    // A header ends at \r; the next byte is skipped unchecked.
    ok(b"*1\rX$4\rXPING\r\n", &[&[b"PING"]]);
    // A NUL hides the header terminator: incomplete, not an error.
    let out = run(b"*1\0\r\n");
    assert_eq!((out.requests.len(), out.error), (0, None));
    let out = run(b"ECHO a\0b c\r\n");
    assert_eq!((out.requests.len(), out.error), (0, None));
    // ... until the limit trips.
    let mut big = b"ECHO a\0".to_vec();
    big.extend(std::iter::repeat_n(b'x', 70_000));
    big.extend_from_slice(b"\r\n");
    assert_eq!(run(&big).error, Some(ProtocolError::TooBigInlineRequest));
}

#[test]
fn protocol_errors_like_redis() {
    err(
        b"*x\r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*01\r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*+1\r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*-0\r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*\r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*1 \r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*2147483648\r\n",
        ProtocolError::InvalidMultibulkLength,
        "ERR Protocol error: invalid multibulk length",
    );
    err(
        b"*1\r\n$x\r\n",
        ProtocolError::InvalidBulkLength,
        "ERR Protocol error: invalid bulk length",
    );
    err(
        b"*1\r\n$-1\r\n",
        ProtocolError::InvalidBulkLength,
        "ERR Protocol error: invalid bulk length",
    );
    err(
        b"*1\r\n$01\r\n",
        ProtocolError::InvalidBulkLength,
        "ERR Protocol error: invalid bulk length",
    );
    err(
        b"*1\r\n$ 4\r\n",
        ProtocolError::InvalidBulkLength,
        "ERR Protocol error: invalid bulk length",
    );
    err(
        b"*1\r\n$536870913\r\n",
        ProtocolError::InvalidBulkLength,
        "ERR Protocol error: invalid bulk length",
    );
    err(
        b"*1\r\nx\r\n",
        ProtocolError::ExpectedDollar(b'x'),
        "ERR Protocol error: expected '$', got 'x'",
    );
    err(
        b"*1\r\n*1\r\n",
        ProtocolError::ExpectedDollar(b'*'),
        "ERR Protocol error: expected '$', got '*'",
    );
    err(
        b"*1\r\n\n\r\n",
        ProtocolError::ExpectedDollar(b'\n'),
        "ERR Protocol error: expected '$', got ' '",
    );
    err(
        b"ECHO \"abc\r\n",
        ProtocolError::UnbalancedQuotes,
        "ERR Protocol error: unbalanced quotes in request",
    );
    let mut long = vec![b'A'; 70_000];
    err(
        &long,
        ProtocolError::TooBigInlineRequest,
        "ERR Protocol error: too big inline request",
    );
    long[0] = b'*';
    err(
        &long,
        ProtocolError::TooBigMbulkCountString,
        "ERR Protocol error: too big mbulk count string",
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', 70_000));
    err(
        &bulk,
        ProtocolError::TooBigBulkCountString,
        "ERR Protocol error: too big bulk count string",
    );
}

#[test]
fn requests_before_an_error_are_returned() {
    let out = run(b"*1\r\n$4\r\nPING\r\n*x\r\n");
    assert_eq!(out.requests, vec![argv(&[b"PING"])]);
    assert_eq!(out.error, Some(ProtocolError::InvalidMultibulkLength));
}

#[test]
fn limits_are_configurable() {
    let limits = ParserLimits {
        proto_max_bulk_len: 3,
        max_multibulk_len: 2,
        max_inline_len: 8,
    };
    let whole = |b: &[u8]| run_chunks(b, &[b.len()], limits);
    assert_eq!(whole(b"*1\r\n$3\r\nabc\r\n").error, None);
    assert_eq!(
        whole(b"*1\r\n$4\r\n").error,
        Some(ProtocolError::InvalidBulkLength)
    );
    assert_eq!(whole(b"*2\r\n").error, None);
    // Redis 7.0 would accept up to INT_MAX; we keep the 1M-style limit.
    assert_eq!(
        whole(b"*3\r\n").error,
        Some(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        whole(b"123456789").error,
        Some(ProtocolError::TooBigInlineRequest)
    );
    assert_eq!(whole(b"12345678").error, None);
    let default = ParserLimits::default();
    assert_eq!(default.proto_max_bulk_len, 512 * 1024 * 1024);
    assert_eq!(default.max_multibulk_len, 1024 * 1024);
    assert_eq!(default.max_inline_len, 64 * 1024);
    let at_limit = run(b"*1048576\r\n");
    assert_eq!(at_limit.error, None);
    assert_eq!(
        run(b"*1048577\r\n").error,
        Some(ProtocolError::InvalidMultibulkLength)
    );
}

#[test]
fn unauthenticated_limits() {
    let mut p = RequestParser::default();
    p.set_auth_required(true);
    let mut b = BytesMut::from(&b"*11\r\n"[..]);
    assert_eq!(
        p.parse(&mut b),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    let mut p = RequestParser::default();
    p.set_auth_required(true);
    let mut b = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"[..]);
    assert_eq!(
        p.parse(&mut b),
        Err(ProtocolError::UnauthenticatedBulkLength)
    );
}

#[test]
fn inline_commands() {
    ok(
        b"SET k v\r\nGET k\n",
        &[&[b"SET", b"k", b"v"], &[b"GET", b"k"]],
    );
    ok(
        b"ECHO \"a\\x41b\\n\" 'c\\'d'\r\n",
        &[&[b"ECHO", b"aAb\n", b"c'd"]],
    );
    ok(b"PING\r\r\n", &[&[b"PING"]]);
    ok(b"PING\rPING\n", &[&[b"PING", b"PING"]]);
    ok(b"\"PING\"\r\n", &[&[b"PING"]]);
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    // A 512 MiB bulk is declared; only the header is buffered.
    let mut p = RequestParser::default();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$536870912\r\nabc"[..]);
    assert_eq!(p.parse(&mut buf), Ok(None));
    // The parser took the header and the first argument off the buffer and
    // did not grow it: capacity is what we gave it.
    assert!(buf.capacity() < 1024, "capacity {}", buf.capacity());
    assert_eq!(&buf[..], b"abc");
    assert_eq!(p.reserve_hint(buf.len()), slotraft_resp::RESERVE_HINT_MAX);
    // A million arguments declared: nothing reserved for them either.
    let mut p = RequestParser::default();
    let mut buf = BytesMut::from(&b"*1048576\r\n$1\r\n"[..]);
    assert_eq!(p.parse(&mut buf), Ok(None));
    assert!(!p.is_idle());
    assert!(std::mem::size_of_val(&p) < 256);
}

#[test]
fn ten_thousand_pipelined_commands() {
    let mut input = Vec::new();
    for i in 0..10_000 {
        if i % 3 == 0 {
            input.extend_from_slice(format!("INCR k{i}\r\n").as_bytes());
        } else {
            encode_request(
                &[
                    b"SET".to_vec(),
                    format!("k{i}").into_bytes(),
                    vec![b'v'; i % 50],
                ],
                &mut input,
            );
        }
    }
    for chunks in [&[input.len()][..], &[1, 7, 4096], &[16 * 1024]] {
        let out = run_chunks(&input, chunks, ParserLimits::default());
        assert_eq!(out.error, None);
        assert_eq!(out.left, 0);
        assert_eq!(out.requests.len(), 10_000);
        for (i, r) in out.requests.iter().enumerate() {
            assert_eq!(r[1], Bytes::from(format!("k{i}")));
        }
    }
}

/// Frames (valid and invalid) used for the every-split test.
fn corpus() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n".to_vec(),
        b"*1\r\n$4\r\nPINGxx*0\r\n*-1\r\n\r\nECHO \"x\\x41\"\r\n".to_vec(),
        b"SET a b\r\nGET a\n   \r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n".to_vec(),
        b"*1\rX$4\rXPING\r\n".to_vec(),
        b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*1\r\n$x\r\n".to_vec(),
        b"*1\r\n$4\r\nPING\r\nECHO 'unterminated\r\n".to_vec(),
        b"*1\r\nx\r\n".to_vec(),
        b"*1\r\n$4\r\n\r\n".to_vec(),
        b"*1\0\r\n".to_vec(),
    ];
    let mut binary = Vec::new();
    encode_request(&[&b"SET"[..], b"\r\n\0\xff", &[b'z'; 300][..]], &mut binary);
    v.push(binary);
    v
}

#[test]
fn every_split_point_parses_identically() {
    for input in corpus() {
        let whole = run(&input);
        for cut in 1..input.len() {
            let out = run_chunks(&input, &[cut, input.len()], ParserLimits::default());
            assert_eq!(out, whole, "split at {cut} of {input:?}");
        }
        let bytewise = run_chunks(&input, &[1], ParserLimits::default());
        assert_eq!(bytewise, whole, "one byte at a time: {input:?}");
    }
}

fn arb_argv() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8)
}

proptest! {
    #[test]
    fn encode_then_parse_roundtrips(cmds in prop::collection::vec(arb_argv(), 1..10),
                                    chunk in 1usize..64) {
        let mut input = Vec::new();
        for c in &cmds {
            encode_request(c, &mut input);
        }
        let out = run_chunks(&input, &[chunk], ParserLimits::default());
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.left, 0);
        let got: Vec<Vec<Vec<u8>>> =
            out.requests.iter().map(|r| r.iter().map(|a| a.to_vec()).collect()).collect();
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn random_bytes_never_panic_and_split_invariant(input in prop::collection::vec(any::<u8>(), 0..200),
                                                    chunk in 1usize..16) {
        let whole = run(&input);
        let pieces = run_chunks(&input, &[chunk], ParserLimits::default());
        prop_assert_eq!(pieces, whole);
    }
}
