//! A key-value register model: get / put / append / compare-and-set on
//! byte-string keys, partitioned by key.
//!
//! Why this model: it is the sequential specification of the string commands
//! slotraft serves (GET, SET, APPEND, and CAS-like scripts), and the
//! simulator's replicated state machine. Keys are independent, so the
//! history is checked one key at a time.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Model, Operation, Outcome};

/// Shows bytes as text when printable (keys and values are short strings in
/// practice), so anomaly descriptions are readable.
struct Show<'a>(&'a [u8]);

impl fmt::Debug for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

/// An operation on one key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read the value (`None` when absent).
    Get { key: Vec<u8> },
    /// Overwrite the value.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Append to the value (creating it if absent).
    Append { key: Vec<u8>, value: Vec<u8> },
    /// Set to `new` if the current value equals `expected` (`None` = absent).
    Cas {
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    },
}

impl KvInput {
    pub fn key(&self) -> &[u8] {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Cas { key, .. } => key,
        }
    }

    pub fn is_read_only(&self) -> bool {
        matches!(self, KvInput::Get { .. })
    }
}

impl fmt::Debug for KvInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvInput::Get { key } => write!(f, "get({:?})", Show(key)),
            KvInput::Put { key, value } => write!(f, "put({:?}, {:?})", Show(key), Show(value)),
            KvInput::Append { key, value } => {
                write!(f, "append({:?}, {:?})", Show(key), Show(value))
            }
            KvInput::Cas { key, expected, new } => write!(
                f,
                "cas({:?}, {:?}, {:?})",
                Show(key),
                expected.as_deref().map(Show),
                Show(new)
            ),
        }
    }
}

/// What a client observed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// Result of a get.
    Value(Option<Vec<u8>>),
    /// A put or append was acknowledged.
    Ok,
    /// An append was acknowledged with the new length (as Redis APPEND).
    Len(u64),
    /// Whether a cas took effect.
    Cas(bool),
}

impl fmt::Debug for KvOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvOutput::Value(v) => write!(f, "{:?}", v.as_deref().map(Show)),
            KvOutput::Ok => write!(f, "ok"),
            KvOutput::Len(n) => write!(f, "len {n}"),
            KvOutput::Cas(b) => write!(f, "cas {b}"),
        }
    }
}

/// The state of the keys of one partition (in practice: one key).
pub type KvState = BTreeMap<Vec<u8>, Vec<u8>>;

/// The key-value model. Stateless; `KvModel` is a unit struct.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        KvState::new()
    }

    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Option<KvState> {
        match input {
            KvInput::Get { key } => match output {
                None => Some(state.clone()),
                Some(KvOutput::Value(v)) if v.as_ref() == state.get(key) => Some(state.clone()),
                Some(_) => None,
            },
            KvInput::Put { key, value } => match output {
                None | Some(KvOutput::Ok) => {
                    let mut s = state.clone();
                    s.insert(key.clone(), value.clone());
                    Some(s)
                }
                Some(_) => None,
            },
            KvInput::Append { key, value } => {
                let mut s = state.clone();
                let v = s.entry(key.clone()).or_default();
                v.extend_from_slice(value);
                let len = v.len() as u64;
                match output {
                    None | Some(KvOutput::Ok) => Some(s),
                    Some(KvOutput::Len(n)) if *n == len => Some(s),
                    Some(_) => None,
                }
            }
            KvInput::Cas { key, expected, new } => {
                let applies = state.get(key) == expected.as_ref();
                match output {
                    Some(KvOutput::Cas(ok)) if *ok != applies => None,
                    None | Some(KvOutput::Cas(_)) => {
                        let mut s = state.clone();
                        if applies {
                            s.insert(key.clone(), new.clone());
                        }
                        Some(s)
                    }
                    Some(_) => None,
                }
            }
        }
    }

    fn describe_state(&self, state: &KvState) -> String {
        let parts: Vec<String> = state
            .iter()
            .map(|(k, v)| format!("{:?}={:?}", Show(k), Show(v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    /// One part per key, in key order. Reads with an unknown outcome are
    /// dropped: they change nothing and constrain nothing.
    fn partition(&self, history: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
        for (i, op) in history.iter().enumerate() {
            if op.input.is_read_only() && op.output == Outcome::Unknown {
                continue;
            }
            by_key.entry(op.input.key()).or_default().push(i);
        }
        by_key.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> Vec<u8> {
        b"k".to_vec()
    }

    #[test]
    fn get_put_append_cas_steps() {
        let m = KvModel;
        let s0 = m.init();
        let get_none = KvInput::Get { key: k() };
        assert!(m
            .step(&s0, &get_none, Some(&KvOutput::Value(None)))
            .is_some());
        assert!(m
            .step(&s0, &get_none, Some(&KvOutput::Value(Some(b"x".to_vec()))))
            .is_none());
        let put = KvInput::Put {
            key: k(),
            value: b"a".to_vec(),
        };
        let s1 = m.step(&s0, &put, Some(&KvOutput::Ok)).unwrap();
        let app = KvInput::Append {
            key: k(),
            value: b"bc".to_vec(),
        };
        assert!(m.step(&s1, &app, Some(&KvOutput::Len(2))).is_none());
        let s2 = m.step(&s1, &app, Some(&KvOutput::Len(3))).unwrap();
        assert_eq!(s2.get(&k()).unwrap(), b"abc");
        let cas = KvInput::Cas {
            key: k(),
            expected: Some(b"abc".to_vec()),
            new: b"z".to_vec(),
        };
        assert!(m.step(&s2, &cas, Some(&KvOutput::Cas(false))).is_none());
        let s3 = m.step(&s2, &cas, Some(&KvOutput::Cas(true))).unwrap();
        assert_eq!(s3.get(&k()).unwrap(), b"z");
        // Unknown cas on a non-matching state: no effect, not rejected.
        assert_eq!(m.step(&s3, &cas, None).unwrap(), s3);
    }
}
