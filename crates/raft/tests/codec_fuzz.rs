//! The binary codec: decoding random or mutated bytes never panics (and
//! never allocates from an unchecked length); encoding round-trips.

use bytes::Bytes;
use proptest::prelude::*;
use slotraft_raft::*;

fn entry() -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(t, i, cc, d)| Entry {
            term: Term(t),
            index: LogIndex(i),
            kind: if cc {
                EntryKind::ConfChange
            } else {
                EntryKind::Normal
            },
            data: Bytes::from(d),
        })
}

fn message() -> impl Strategy<Value = Message> {
    let body = prop_oneof![
        (any::<bool>(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(p, i, t, x)| {
            MessageBody::RequestVote {
                pre_vote: p,
                last_index: LogIndex(i),
                last_term: Term(t),
                transfer: x,
            }
        }),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(entry(), 0..5),
            any::<u64>()
        )
            .prop_map(|(pi, pt, entries, c)| MessageBody::Append {
                prev_index: LogIndex(pi),
                prev_term: Term(pt),
                entries,
                commit: LogIndex(c),
            }),
        (any::<u64>(), any::<Option<(u64, u64, u64)>>()).prop_map(|(i, r)| {
            MessageBody::AppendResponse {
                index: LogIndex(i),
                reject: r.map(|(a, b, c)| RejectHint {
                    rejected: LogIndex(a),
                    hint_index: LogIndex(b),
                    hint_term: Term(c),
                }),
            }
        }),
        (proptest::collection::vec(any::<u8>(), 0..20), any::<u64>()).prop_map(|(c, i)| {
            MessageBody::ReadIndexResponse {
                ctx: Bytes::from(c),
                index: LogIndex(i),
            }
        }),
        Just(MessageBody::TimeoutNow),
    ];
    (any::<u64>(), any::<u64>(), any::<u64>(), body).prop_map(|(f, t, term, body)| Message {
        from: NodeId(f),
        to: NodeId(t),
        term: Term(term),
        body,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_random_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&b);
        let _ = Entry::decode(&b);
        let _ = ConfChange::decode(&b);
        // With a valid version byte, exercise deeper paths.
        let mut v = vec![1u8];
        v.extend_from_slice(&b);
        let _ = Message::decode(&v);
        let _ = Entry::decode(&v);
        let _ = ConfChange::decode(&v);
    }

    #[test]
    fn messages_round_trip_and_mutations_do_not_panic(m in message(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut buf = Vec::new();
        m.encode(&mut buf);
        prop_assert_eq!(Message::decode(&buf).unwrap(), m);
        let i = pos % buf.len();
        buf[i] = byte;
        let _ = Message::decode(&buf);
        buf.truncate(i);
        prop_assert!(Message::decode(&buf).is_err());
    }

    #[test]
    fn entries_round_trip(e in entry()) {
        let mut buf = Vec::new();
        e.encode(&mut buf);
        prop_assert_eq!(Entry::decode(&buf).unwrap(), e);
    }
}
