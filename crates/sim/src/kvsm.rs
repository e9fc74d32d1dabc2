//! The replicated state machine of the simulation: a key-value map driven by
//! put/append commands carried in log entries.
//!
//! Why put and append: a put is overwritten by the next put, so a lost or
//! reordered put can hide; an append keeps the whole order of writes in the
//! value, so any lost, duplicated or reordered committed entry shows up in
//! the next read. Each value is unique (client id + request number), which
//! lets the linearizability checker pin every read to the write it saw.

use std::collections::BTreeMap;

use slotraft_lincheck::KvOutput;

/// Bound on a key's length in the encoding (the simulator uses short keys).
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// A write command as proposed by a simulated client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub client: u64,
    pub request: u64,
    pub append: bool,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.key.len() <= MAX_KEY_LEN);
        let mut b = Vec::with_capacity(19 + self.key.len() + self.value.len());
        b.push(if self.append { 2 } else { 1 });
        b.extend_from_slice(&self.client.to_le_bytes());
        b.extend_from_slice(&self.request.to_le_bytes());
        b.extend_from_slice(&(self.key.len() as u16).to_le_bytes());
        b.extend_from_slice(&self.key);
        b.extend_from_slice(&self.value);
        b
    }

    pub fn decode(b: &[u8]) -> Option<Command> {
        let (&tag, rest) = b.split_first()?;
        if rest.len() < 18 || !(tag == 1 || tag == 2) {
            return None;
        }
        let client = u64::from_le_bytes(rest[0..8].try_into().ok()?);
        let request = u64::from_le_bytes(rest[8..16].try_into().ok()?);
        let klen = u16::from_le_bytes(rest[16..18].try_into().ok()?) as usize;
        let rest = &rest[18..];
        if rest.len() < klen {
            return None;
        }
        Some(Command {
            client,
            request,
            append: tag == 2,
            key: rest[..klen].to_vec(),
            value: rest[klen..].to_vec(),
        })
    }
}

/// One replica's state machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl KvStore {
    /// Applies a command; returns what the client is told.
    pub fn apply(&mut self, c: &Command) -> KvOutput {
        if c.append {
            let v = self.map.entry(c.key.clone()).or_default();
            v.extend_from_slice(&c.value);
            KvOutput::Len(v.len() as u64)
        } else {
            self.map.insert(c.key.clone(), c.value.clone());
            KvOutput::Ok
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    /// Snapshot image.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(self.map.len() as u32).to_le_bytes());
        for (k, v) in &self.map {
            b.extend_from_slice(&(k.len() as u32).to_le_bytes());
            b.extend_from_slice(k);
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v);
        }
        b
    }

    /// Restores a snapshot image (an empty image is the empty map).
    pub fn decode(b: &[u8]) -> Option<KvStore> {
        let mut s = KvStore::default();
        if b.is_empty() {
            return Some(s);
        }
        let mut r = b;
        let mut take = |n: usize| -> Option<&[u8]> {
            if r.len() < n {
                return None;
            }
            let (h, t) = r.split_at(n);
            r = t;
            Some(h)
        };
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?);
        for _ in 0..n {
            let kl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            let k = take(kl)?.to_vec();
            let vl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            let v = take(vl)?.to_vec();
            s.map.insert(k, v);
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_snapshot_round_trip() {
        let c = Command {
            client: 3,
            request: 9,
            append: true,
            key: b"k".to_vec(),
            value: b"c3r9;".to_vec(),
        };
        assert_eq!(Command::decode(&c.encode()), Some(c.clone()));
        assert_eq!(Command::decode(b""), None);
        assert_eq!(Command::decode(&[7; 30]), None);
        let mut s = KvStore::default();
        assert_eq!(s.apply(&c), KvOutput::Len(5));
        assert_eq!(s.apply(&c), KvOutput::Len(10));
        let put = Command {
            append: false,
            key: b"p".to_vec(),
            ..c
        };
        assert_eq!(s.apply(&put), KvOutput::Ok);
        assert_eq!(KvStore::decode(&s.encode()), Some(s.clone()));
        assert_eq!(s.get(b"k").unwrap(), b"c3r9;c3r9;");
        assert_eq!(KvStore::decode(&[]), Some(KvStore::default()));
        assert_eq!(KvStore::decode(&[1, 0, 0, 0, 9]), None);
    }
}
