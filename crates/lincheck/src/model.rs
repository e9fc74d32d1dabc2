//! The sequential specification a history is checked against, and the shape
//! of a recorded operation.
//!
//! Why a trait: the same search serves the simulator's key-value store, the
//! Jepsen-style suite against real Redis commands, and any future model
//! (queues, locks). The model is a pure function from (state, operation) to
//! the next state, so states can be hashed into the search cache.

use std::fmt::Debug;
use std::hash::Hash;

/// What a client observed as the result of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome<O> {
    /// The operation returned this output at `return_time`.
    Known(O),
    /// The client never learned the result (timeout, crash, connection
    /// loss). The operation may have taken effect at any time after its call,
    /// or never; its `return_time` is ignored (treated as +infinity).
    Unknown,
}

impl<O> Outcome<O> {
    /// The output, if known.
    pub fn known(&self) -> Option<&O> {
        match self {
            Outcome::Known(o) => Some(o),
            Outcome::Unknown => None,
        }
    }
}

/// One operation of a history.
///
/// Invariant (checked by [`crate::check`]): `call_time <= return_time` when
/// the outcome is known. Times are in any monotonic unit (the simulator uses
/// simulated ticks, the Jepsen suite nanoseconds); two operations are ordered
/// in real time only when one's `return_time` is strictly less than the
/// other's `call_time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client issued it (informational; each client is expected to
    /// have at most one operation outstanding, but the checker does not rely
    /// on it).
    pub client: u64,
    pub input: I,
    pub call_time: u64,
    pub return_time: u64,
    pub output: Outcome<O>,
}

/// A sequential specification.
pub trait Model {
    /// The abstract state. `Hash + Eq` because the search memoizes
    /// (linearized set, state) pairs.
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies one operation. Returns the next state if the operation, taking
    /// effect on `state`, could have produced `output`, and `None` otherwise.
    ///
    /// `output == None` means the outcome is unknown: the model must then
    /// return the state the operation produces if it takes effect (it must
    /// not reject it, since "the client did not see a result" is consistent
    /// with any result).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Renders a state for anomaly descriptions (default: `Debug`).
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// Splits a history into independent parts, each a list of indexes into
    /// `history`. Parts are checked separately; the history is linearizable
    /// if and only if every part is (true when parts touch disjoint state,
    /// e.g. distinct keys). An index may be left out when the operation
    /// cannot constrain anything (e.g. a read with unknown outcome).
    ///
    /// The default keeps the whole history as one part.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..history.len()).collect()]
    }
}
