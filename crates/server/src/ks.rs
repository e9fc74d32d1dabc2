//! The server's view of `slotraft_keyspace`: re-exports plus the few
//! helpers the server needs on top of the command table.
//!
//! Why a local module: the rest of the server names keyspace items as
//! `ks::...`, so changes to the keyspace API are absorbed here.

use bytes::Bytes;

pub use slotraft_keyspace::{
    all_commands, command_keys, lookup, resolve, CommandSpec, ExecCtx, Handler, Keyspace, Outcome,
    INTERNAL_EXPIRE, MAX_EXPIRE_BATCH,
};

/// One request's arguments, `argv[0]` being the command name.
pub type Argv = Vec<Bytes>;

/// The top-level name of a command or subcommand spec (`client|list` →
/// `client`).
pub fn top_name(spec: &CommandSpec) -> &'static str {
    spec.name.split('|').next().unwrap_or(spec.name)
}

/// Read-only commands run on `execute_read` (no mutation, no log entry).
pub fn is_read(spec: &CommandSpec) -> bool {
    matches!(spec.handler, Handler::Read(_))
}

/// Commands the server executes itself.
pub fn is_server(spec: &CommandSpec) -> bool {
    matches!(spec.handler, Handler::Server)
}

/// The internal active-expiry command deleting `keys` if still expired.
pub fn expire_command(keys: Vec<Bytes>) -> Argv {
    debug_assert!(keys.len() <= MAX_EXPIRE_BATCH);
    let mut argv = Vec::with_capacity(keys.len() + 1);
    argv.push(Bytes::from_static(INTERNAL_EXPIRE));
    argv.extend(keys);
    argv
}
