//! A linearizability checker for histories of concurrent operations.
//!
//! Why it exists: slotraft promises that every operation on a key is
//! linearizable. The deterministic simulator (`slotraft-sim`) and the
//! Jepsen-style suite both record what clients saw (call time, return time,
//! result) and need a trustworthy judge of whether some sequential order of
//! those operations, consistent with real time, explains every result.
//!
//! Design (a Rust re-implementation of the algorithm Porcupine uses, after
//! Wing & Gong and Lowe's "Testing for linearizability"):
//! - the history is split into independent parts by [`Model::partition`]
//!   (for a key-value store: one part per key, which makes the search
//!   exponential only in the concurrency on one key, not in the history);
//! - each part is turned into a time-ordered doubly linked list of call and
//!   return events; the search repeatedly tries to linearize a pending call
//!   (apply it to the sequential [`Model`]), removing it from the list, and
//!   backtracks when it meets the return of an operation it has not
//!   linearized yet;
//! - a cache of (set of linearized operations, model state) pairs prunes
//!   configurations already explored, which is what makes the search
//!   practical (memoization, Lowe's refinement);
//! - an operation whose outcome is unknown ([`Outcome::Unknown`], a client
//!   timeout or crash) may take effect at any time after its call, or never:
//!   its return time is treated as +infinity, and "never" is the same as
//!   "at the very end", after every observed operation.
//! - the search is bounded by a [`Budget`] (a step count and optionally a wall
//!   clock deadline); running out yields [`CheckResult::Timeout`], never a
//!   wrong verdict.
//!
//! ```
//! use slotraft_lincheck::{check, Budget, KvInput, KvModel, KvOutput, Operation, Outcome};
//! let put = Operation {
//!     client: 1,
//!     input: KvInput::Put { key: b"x".to_vec(), value: b"1".to_vec() },
//!     call_time: 0,
//!     return_time: 10,
//!     output: Outcome::Known(KvOutput::Ok),
//! };
//! let stale = Operation {
//!     client: 2,
//!     input: KvInput::Get { key: b"x".to_vec() },
//!     call_time: 20,
//!     return_time: 30,
//!     output: Outcome::Known(KvOutput::Value(None)),
//! };
//! assert!(check(&KvModel, &[put.clone()], Budget::default()).is_ok());
//! assert!(check(&KvModel, &[put, stale], Budget::default()).is_illegal());
//! ```
//!
//! The crate has no dependencies and no global state: the same history and
//! budget (in steps) always give the same result.

#![forbid(unsafe_code)]

mod bitset;
mod check;
mod kv;
mod model;

pub use check::{check, check_partition, Anomaly, Budget, CheckResult, DEFAULT_MAX_SEARCH_STEPS};
pub use kv::{KvInput, KvModel, KvOutput, KvState};
pub use model::{Model, Operation, Outcome};
