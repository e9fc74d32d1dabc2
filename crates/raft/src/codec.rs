//! Compact, versioned binary encoding of [`Message`], [`Entry`] and
//! [`ConfChange`] for the network transport and the log.
//!
//! Why hand-written: no serde dependency, a stable format we control
//! (version byte first), varints for the many small integers, and a decoder
//! that never trusts a declared length before checking it against the bytes
//! actually present (so garbage cannot make it allocate gigabytes).

use std::fmt;

/// Why decoding failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Input ended early.
    Truncated,
    /// Unknown format version.
    BadVersion(u8),
    /// Unknown tag for an enum.
    BadTag(u8),
    /// A varint longer than 10 bytes or overflowing.
    BadVarint,
    /// A declared length exceeds the remaining input or a limit.
    BadLength,
    /// Bytes left over after the value.
    TrailingBytes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DecodeError {}

use crate::message::*;
use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId, Term};

/// Format version written first by every top-level encoding.
pub const CODEC_VERSION: u8 = 1;
/// Smallest possible encoded entry (term, index, kind, data length).
const MIN_ENTRY_BYTES: usize = 4;
/// Bound on list lengths accepted by the decoder (entries, node ids).
pub const MAX_DECODE_LIST: usize = 1 << 20;

// ------------------------------------------------------------------ writer

fn put_u8(buf: &mut Vec<u8>, v: u8) {
    buf.push(v);
}

fn put_var(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bool(buf: &mut Vec<u8>, v: bool) {
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_var(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn put_ids(buf: &mut Vec<u8>, ids: &[NodeId]) {
    put_var(buf, ids.len() as u64);
    for id in ids {
        put_var(buf, id.get());
    }
}

fn put_entry(buf: &mut Vec<u8>, e: &Entry) {
    put_var(buf, e.term.get());
    put_var(buf, e.index.get());
    put_u8(
        buf,
        match e.kind {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        },
    );
    put_bytes(buf, &e.data);
}

fn put_conf_state(buf: &mut Vec<u8>, cs: &ConfState) {
    put_ids(buf, &cs.voters);
    put_ids(buf, &cs.learners);
    put_ids(buf, &cs.voters_outgoing);
    put_ids(buf, &cs.learners_next);
    put_bool(buf, cs.auto_leave);
}

// ------------------------------------------------------------------ reader

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&v, rest) = self.b.split_first().ok_or(DecodeError::Truncated)?;
        self.b = rest;
        Ok(v)
    }

    fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = (byte & 0x7f) as u64;
            if shift == 63 && bits > 1 {
                return Err(DecodeError::BadVarint);
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint)
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(DecodeError::BadTag(t)),
        }
    }

    /// A list length that must fit in what is left (each item >= `min_item`
    /// bytes) and in `MAX_DECODE_LIST`.
    fn len(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.byte_len(min_item)?;
        if n > MAX_DECODE_LIST {
            return Err(DecodeError::BadLength);
        }
        Ok(n)
    }

    /// A length that must fit in what is left (each item >= `min_item` bytes).
    fn byte_len(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.var()?;
        let fits = n
            .checked_mul(min_item as u64)
            .is_some_and(|need| need <= self.b.len() as u64);
        if !fits {
            return Err(DecodeError::BadLength);
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.byte_len(1)?;
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(Bytes::copy_from_slice(head))
    }

    fn ids(&mut self) -> Result<Vec<NodeId>, DecodeError> {
        let n = self.len(1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(NodeId(self.var()?));
        }
        Ok(v)
    }

    fn entry(&mut self) -> Result<Entry, DecodeError> {
        let term = Term(self.var()?);
        let index = LogIndex(self.var()?);
        let kind = match self.u8()? {
            0 => EntryKind::Normal,
            1 => EntryKind::ConfChange,
            t => return Err(DecodeError::BadTag(t)),
        };
        let data = self.bytes()?;
        Ok(Entry {
            term,
            index,
            kind,
            data,
        })
    }

    fn conf_state(&mut self) -> Result<ConfState, DecodeError> {
        Ok(ConfState {
            voters: self.ids()?,
            learners: self.ids()?,
            voters_outgoing: self.ids()?,
            learners_next: self.ids()?,
            auto_leave: self.bool()?,
        })
    }

    fn version(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            CODEC_VERSION => Ok(()),
            v => Err(DecodeError::BadVersion(v)),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

// ------------------------------------------------------------- entry points

pub(crate) fn encode_entry(e: &Entry, buf: &mut Vec<u8>) {
    put_u8(buf, CODEC_VERSION);
    put_entry(buf, e);
}

pub(crate) fn decode_entry(b: &[u8]) -> Result<Entry, DecodeError> {
    let mut r = Reader { b };
    r.version()?;
    let e = r.entry()?;
    r.finish()?;
    Ok(e)
}

pub(crate) fn encode_conf_change(c: &ConfChange, buf: &mut Vec<u8>) {
    put_u8(buf, CODEC_VERSION);
    put_u8(
        buf,
        match c.transition {
            ConfChangeTransition::Auto => 0,
            ConfChangeTransition::Implicit => 1,
            ConfChangeTransition::Explicit => 2,
        },
    );
    put_var(buf, c.changes.len() as u64);
    for ch in &c.changes {
        let (tag, id) = match *ch {
            ConfChangeSingle::AddVoter(id) => (0, id),
            ConfChangeSingle::AddLearner(id) => (1, id),
            ConfChangeSingle::RemoveNode(id) => (2, id),
        };
        put_u8(buf, tag);
        put_var(buf, id.get());
    }
}

pub(crate) fn decode_conf_change(b: &[u8]) -> Result<ConfChange, DecodeError> {
    let mut r = Reader { b };
    r.version()?;
    let transition = match r.u8()? {
        0 => ConfChangeTransition::Auto,
        1 => ConfChangeTransition::Implicit,
        2 => ConfChangeTransition::Explicit,
        t => return Err(DecodeError::BadTag(t)),
    };
    let n = r.len(2)?;
    let mut changes = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = r.u8()?;
        let id = NodeId(r.var()?);
        changes.push(match tag {
            0 => ConfChangeSingle::AddVoter(id),
            1 => ConfChangeSingle::AddLearner(id),
            2 => ConfChangeSingle::RemoveNode(id),
            t => return Err(DecodeError::BadTag(t)),
        });
    }
    r.finish()?;
    Ok(ConfChange {
        transition,
        changes,
    })
}

pub(crate) fn encode_message(m: &Message, buf: &mut Vec<u8>) {
    put_u8(buf, CODEC_VERSION);
    put_u8(buf, body_tag(&m.body));
    put_var(buf, m.from.get());
    put_var(buf, m.to.get());
    put_var(buf, m.term.get());
    match &m.body {
        MessageBody::RequestVote {
            pre_vote,
            last_index,
            last_term,
            transfer,
        } => {
            put_bool(buf, *pre_vote);
            put_var(buf, last_index.get());
            put_var(buf, last_term.get());
            put_bool(buf, *transfer);
        }
        MessageBody::VoteResponse { pre_vote, granted } => {
            put_bool(buf, *pre_vote);
            put_bool(buf, *granted);
        }
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            put_var(buf, prev_index.get());
            put_var(buf, prev_term.get());
            put_var(buf, commit.get());
            put_var(buf, entries.len() as u64);
            for e in entries {
                put_entry(buf, e);
            }
        }
        MessageBody::AppendResponse { index, reject } => {
            put_var(buf, index.get());
            match reject {
                None => put_bool(buf, false),
                Some(h) => {
                    put_bool(buf, true);
                    put_var(buf, h.rejected.get());
                    put_var(buf, h.hint_index.get());
                    put_var(buf, h.hint_term.get());
                }
            }
        }
        MessageBody::Heartbeat {
            commit,
            read_round,
            sent_tick,
        } => {
            put_var(buf, commit.get());
            put_var(buf, *read_round);
            put_var(buf, *sent_tick);
        }
        MessageBody::HeartbeatResponse {
            read_round,
            sent_tick,
        } => {
            put_var(buf, *read_round);
            put_var(buf, *sent_tick);
        }
        MessageBody::Snapshot {
            meta,
            total_len,
            offset,
            chunk,
            done,
        } => {
            put_var(buf, meta.index.get());
            put_var(buf, meta.term.get());
            put_conf_state(buf, &meta.conf_state);
            put_var(buf, *total_len);
            put_var(buf, *offset);
            put_bytes(buf, chunk);
            put_bool(buf, *done);
        }
        MessageBody::SnapshotResponse {
            snapshot_index,
            next_offset,
        } => {
            put_var(buf, snapshot_index.get());
            put_var(buf, *next_offset);
        }
        MessageBody::TimeoutNow => {}
        MessageBody::ReadIndex { ctx } => put_bytes(buf, ctx),
        MessageBody::ReadIndexResponse { ctx, index } => {
            put_bytes(buf, ctx);
            put_var(buf, index.get());
        }
    }
}

fn body_tag(b: &MessageBody) -> u8 {
    match b {
        MessageBody::RequestVote { .. } => 1,
        MessageBody::VoteResponse { .. } => 2,
        MessageBody::Append { .. } => 3,
        MessageBody::AppendResponse { .. } => 4,
        MessageBody::Heartbeat { .. } => 5,
        MessageBody::HeartbeatResponse { .. } => 6,
        MessageBody::Snapshot { .. } => 7,
        MessageBody::SnapshotResponse { .. } => 8,
        MessageBody::TimeoutNow => 9,
        MessageBody::ReadIndex { .. } => 10,
        MessageBody::ReadIndexResponse { .. } => 11,
    }
}

pub(crate) fn decode_message(b: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { b };
    r.version()?;
    let tag = r.u8()?;
    let from = NodeId(r.var()?);
    let to = NodeId(r.var()?);
    let term = Term(r.var()?);
    let body = decode_body(&mut r, tag)?;
    r.finish()?;
    Ok(Message {
        from,
        to,
        term,
        body,
    })
}

fn decode_body(r: &mut Reader<'_>, tag: u8) -> Result<MessageBody, DecodeError> {
    Ok(match tag {
        1 => MessageBody::RequestVote {
            pre_vote: r.bool()?,
            last_index: LogIndex(r.var()?),
            last_term: Term(r.var()?),
            transfer: r.bool()?,
        },
        2 => MessageBody::VoteResponse {
            pre_vote: r.bool()?,
            granted: r.bool()?,
        },
        3 => {
            let prev_index = LogIndex(r.var()?);
            let prev_term = Term(r.var()?);
            let commit = LogIndex(r.var()?);
            let n = r.len(MIN_ENTRY_BYTES)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(r.entry()?);
            }
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            }
        }
        4 => {
            let index = LogIndex(r.var()?);
            let reject = if r.bool()? {
                Some(RejectHint {
                    rejected: LogIndex(r.var()?),
                    hint_index: LogIndex(r.var()?),
                    hint_term: Term(r.var()?),
                })
            } else {
                None
            };
            MessageBody::AppendResponse { index, reject }
        }
        5 => MessageBody::Heartbeat {
            commit: LogIndex(r.var()?),
            read_round: r.var()?,
            sent_tick: r.var()?,
        },
        6 => MessageBody::HeartbeatResponse {
            read_round: r.var()?,
            sent_tick: r.var()?,
        },
        7 => MessageBody::Snapshot {
            meta: SnapshotMeta {
                index: LogIndex(r.var()?),
                term: Term(r.var()?),
                conf_state: r.conf_state()?,
            },
            total_len: r.var()?,
            offset: r.var()?,
            chunk: r.bytes()?,
            done: r.bool()?,
        },
        8 => MessageBody::SnapshotResponse {
            snapshot_index: LogIndex(r.var()?),
            next_offset: r.var()?,
        },
        9 => MessageBody::TimeoutNow,
        10 => MessageBody::ReadIndex { ctx: r.bytes()? },
        11 => MessageBody::ReadIndexResponse {
            ctx: r.bytes()?,
            index: LogIndex(r.var()?),
        },
        t => return Err(DecodeError::BadTag(t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        let e = Entry {
            term: Term(3),
            index: LogIndex(300),
            kind: EntryKind::ConfChange,
            data: Bytes::from_static(b"hello"),
        };
        let bodies = vec![
            MessageBody::RequestVote {
                pre_vote: true,
                last_index: LogIndex(9),
                last_term: Term(2),
                transfer: false,
            },
            MessageBody::VoteResponse {
                pre_vote: false,
                granted: true,
            },
            MessageBody::Append {
                prev_index: LogIndex(299),
                prev_term: Term(3),
                entries: vec![e.clone(), e],
                commit: LogIndex(1 << 40),
            },
            MessageBody::AppendResponse {
                index: LogIndex(7),
                reject: Some(RejectHint {
                    rejected: LogIndex(8),
                    hint_index: LogIndex(5),
                    hint_term: Term(1),
                }),
            },
            MessageBody::Heartbeat {
                commit: LogIndex(1),
                read_round: 2,
                sent_tick: u64::MAX,
            },
            MessageBody::HeartbeatResponse {
                read_round: 2,
                sent_tick: 3,
            },
            MessageBody::Snapshot {
                meta: SnapshotMeta {
                    index: LogIndex(10),
                    term: Term(2),
                    conf_state: ConfState {
                        voters: vec![NodeId(1), NodeId(2)],
                        learners: vec![NodeId(3)],
                        voters_outgoing: vec![NodeId(1)],
                        learners_next: vec![],
                        auto_leave: true,
                    },
                },
                total_len: 100,
                offset: 50,
                chunk: Bytes::from_static(b"abc"),
                done: false,
            },
            MessageBody::SnapshotResponse {
                snapshot_index: LogIndex(10),
                next_offset: 53,
            },
            MessageBody::TimeoutNow,
            MessageBody::ReadIndex {
                ctx: Bytes::from_static(b"r1"),
            },
            MessageBody::ReadIndexResponse {
                ctx: Bytes::from_static(b"r1"),
                index: LogIndex(4),
            },
        ];
        bodies
            .into_iter()
            .map(|body| Message {
                from: NodeId(1),
                to: NodeId(2),
                term: Term(5),
                body,
            })
            .collect()
    }

    #[test]
    fn every_message_kind_round_trips() {
        for m in samples() {
            let mut buf = Vec::new();
            m.encode(&mut buf);
            assert_eq!(Message::decode(&buf).unwrap(), m);
            assert!(Message::decode(&buf[..buf.len() - 1]).is_err() || buf.len() == 1);
            buf.push(0);
            assert_eq!(Message::decode(&buf), Err(DecodeError::TrailingBytes));
        }
    }

    #[test]
    fn conf_change_and_entry_round_trip() {
        let cc = ConfChange {
            transition: ConfChangeTransition::Explicit,
            changes: vec![
                ConfChangeSingle::AddVoter(NodeId(4)),
                ConfChangeSingle::AddLearner(NodeId(5)),
                ConfChangeSingle::RemoveNode(NodeId(1)),
            ],
        };
        let mut buf = Vec::new();
        cc.encode(&mut buf);
        assert_eq!(ConfChange::decode(&buf).unwrap(), cc);
        let e = Entry {
            term: Term(1),
            index: LogIndex(2),
            kind: EntryKind::Normal,
            data: Bytes::new(),
        };
        let mut buf = Vec::new();
        e.encode(&mut buf);
        assert_eq!(Entry::decode(&buf).unwrap(), e);
        buf[0] = 9;
        assert_eq!(Entry::decode(&buf), Err(DecodeError::BadVersion(9)));
    }

    #[test]
    fn huge_declared_length_is_rejected_without_allocating() {
        // version, Append tag, from, to, term, prev_index, prev_term, commit,
        // then an entry count of 2^62.
        let mut buf = vec![CODEC_VERSION, 3, 1, 2, 3, 0, 0, 0];
        put_var(&mut buf, 1 << 62);
        assert_eq!(Message::decode(&buf), Err(DecodeError::BadLength));
        let mut buf = vec![CODEC_VERSION, 10, 1, 2, 3];
        put_var(&mut buf, u64::MAX);
        assert_eq!(Message::decode(&buf), Err(DecodeError::BadLength));
        let over = [
            CODEC_VERSION,
            9,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x7f,
        ];
        assert_eq!(Message::decode(&over), Err(DecodeError::BadVarint));
    }
}
