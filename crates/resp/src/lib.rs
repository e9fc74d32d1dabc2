//! RESP2/RESP3: request parsing and reply encoding, with no IO.
//!
//! Why pure: the parser is the first thing a hostile or buggy client touches,
//! so it must be fuzzable and testable byte by byte without sockets, and the
//! same code serves the server and any proxy.
//!
//! - [`RequestParser`]: client bytes -> argument vectors (multibulk and
//!   inline, pipelined, incremental, Redis-exact protocol errors).
//! - [`Reply`]: what a command answers, encoded per [`Protocol`].
//! - [`parse_reply`]: server bytes -> [`Reply`] (tests, proxy).

#![forbid(unsafe_code)]

mod inline;
mod reply;
mod reply_parser;
mod request;

pub use inline::split_args;
pub use reply::{format_double, Protocol, Reply};
pub use reply_parser::{parse_reply, ReplyError};
pub use request::{
    encode_request, ParserLimits, ProtocolError, RequestParser, ARGV_POOL_CAP_MAX, ARGV_POOL_MAX,
    ARGV_PREALLOC_MAX, RESERVE_HINT_MAX,
};
