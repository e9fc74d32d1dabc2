//! Commands the server crate executes (connection state, transactions,
//! introspection, cluster). They are in the table so COMMAND output and
//! key routing (WATCH's keys) come from one place.

use super::Handler;

/// Server-executed commands. Containers listed here make all their
/// subcommands server-executed too.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("ping", Handler::Server),
    ("echo", Handler::Server),
    ("hello", Handler::Server),
    ("quit", Handler::Server),
    ("reset", Handler::Server),
    ("select", Handler::Server),
    ("client", Handler::Server),
    ("command", Handler::Server),
    ("info", Handler::Server),
    ("config", Handler::Server),
    ("time", Handler::Server),
    ("auth", Handler::Server),
    ("multi", Handler::Server),
    ("exec", Handler::Server),
    ("discard", Handler::Server),
    ("watch", Handler::Server),
    ("unwatch", Handler::Server),
    ("cluster", Handler::Server),
    ("readonly", Handler::Server),
    ("readwrite", Handler::Server),
    ("asking", Handler::Server),
    ("lastsave", Handler::Server),
    ("save", Handler::Server),
    ("bgsave", Handler::Server),
    ("shutdown", Handler::Server),
    ("memory", Handler::Server),
];
