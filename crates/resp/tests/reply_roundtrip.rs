//! `parse_reply` is the inverse of `Reply::encode`.

use bytes::Bytes;
use proptest::prelude::*;
use slotraft_resp::{format_double, parse_reply, Protocol, Reply, ReplyError};

fn line_text() -> impl Strategy<Value = Bytes> {
    "[a-zA-Z0-9 :_.-]{0,20}".prop_map(Bytes::from)
}

fn binary() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..30).prop_map(Bytes::from)
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        line_text().prop_map(Reply::Simple),
        line_text().prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Int),
        binary().prop_map(Reply::Bulk),
        Just(Reply::Null),
        Just(Reply::NullArray),
        any::<f64>()
            .prop_filter("nan != nan", |d| !d.is_nan())
            .prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        (prop_oneof![Just("txt"), Just("mkd")], binary()).prop_map(|(f, b)| Reply::Verbatim(f, b)),
        "-?[1-9][0-9]{0,40}".prop_map(|s| Reply::BigNumber(Bytes::from(s))),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Push),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Reply::Map),
        ]
    })
}

/// What RESP3 can tell apart: `_` is both kinds of null.
fn resp3_view(r: &Reply) -> Reply {
    let all = |v: &[Reply]| v.iter().map(resp3_view).collect();
    match r {
        Reply::NullArray => Reply::Null,
        Reply::Array(v) => Reply::Array(all(v)),
        Reply::Set(v) => Reply::Set(all(v)),
        Reply::Push(v) => Reply::Push(all(v)),
        Reply::Map(p) => Reply::Map(
            p.iter()
                .map(|(k, v)| (resp3_view(k), resp3_view(v)))
                .collect(),
        ),
        Reply::Pairs(p) => Reply::Array(
            p.iter()
                .map(|(k, v)| Reply::Array(vec![resp3_view(k), resp3_view(v)]))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The RESP2 downgrade, as Redis does it.
fn resp2_view(r: &Reply) -> Reply {
    let all = |v: &[Reply]| v.iter().map(resp2_view).collect();
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Reply::Array(all(v)),
        Reply::Map(p) | Reply::Pairs(p) => Reply::Array(
            p.iter()
                .flat_map(|(k, v)| [resp2_view(k), resp2_view(v)])
                .collect(),
        ),
        Reply::Double(d) => Reply::Bulk(Bytes::from(format_double(*d))),
        Reply::Bool(b) => Reply::Int(i64::from(*b)),
        Reply::Verbatim(_, t) => Reply::Bulk(t.clone()),
        Reply::BigNumber(n) => Reply::Bulk(n.clone()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn resp3_roundtrip(r in arb_reply()) {
        let wire = r.to_bytes(Protocol::Resp3);
        let (back, used) = parse_reply(&wire).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(back, resp3_view(&r));
    }

    #[test]
    fn resp2_roundtrip(r in arb_reply()) {
        let wire = r.to_bytes(Protocol::Resp2);
        let (back, used) = parse_reply(&wire).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(back, resp2_view(&r));
    }

    #[test]
    fn every_prefix_is_incomplete(r in arb_reply()) {
        let wire = r.to_bytes(Protocol::Resp3);
        for cut in 0..wire.len() {
            prop_assert_eq!(parse_reply(&wire[..cut]), Ok(None));
        }
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(Some((_, used))) = parse_reply(&b) {
            prop_assert!(used <= b.len());
        }
    }
}

#[test]
fn malformed_replies() {
    assert_eq!(parse_reply(b"?x\r\n"), Err(ReplyError::UnknownType(b'?')));
    assert_eq!(parse_reply(b":1x\r\n"), Err(ReplyError::BadInteger));
    assert_eq!(parse_reply(b"$1\r\nab\r\n"), Err(ReplyError::MissingCrlf));
    assert_eq!(parse_reply(b"#x\r\n"), Err(ReplyError::BadBool));
    assert_eq!(
        parse_reply(b"=5\r\nxyz:a\r\n"),
        Err(ReplyError::BadVerbatim)
    );
    let deep = "*1\r\n".repeat(200);
    assert_eq!(parse_reply(deep.as_bytes()), Err(ReplyError::TooDeep));
    // A huge declared aggregate is just incomplete, nothing is reserved.
    assert_eq!(parse_reply(b"*2147483647\r\n:1\r\n"), Ok(None));
    assert_eq!(
        parse_reply(b"!3\r\nERR\r\n"),
        Ok(Some((Reply::Error(Bytes::from_static(b"ERR")), 9)))
    );
}
