//! RESP2/RESP3: request parsing and reply encoding, with no IO.
//!
//! Why pure: the parser is the first thing a hostile or buggy client touches,
//! so it must be fuzzable and testable byte by byte without sockets, and the
//! same code serves the server and any proxy.

#![forbid(unsafe_code)]

mod reply;

pub use reply::{Protocol, Reply};
