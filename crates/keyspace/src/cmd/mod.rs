//! The command table: what every command is (arity, flags, ACL categories,
//! key positions, docs — generated from Redis 7.0 into `meta.rs`) and who
//! executes it (a handler in one of the family modules, or the server).
//!
//! Why metadata and handlers are split: the metadata must be exactly
//! Redis's (COMMAND output, cluster routing), so it is generated; handlers
//! are code, one file per command family, each exporting
//! `HANDLERS: &[(name, Handler)]` (subcommands as `"object|encoding"`).
//! [`all_commands`] joins both once, at first use.

pub mod hash;
pub mod keys;
pub mod list;
pub mod meta;
pub mod server;
pub mod set;
pub mod strings;
pub mod zset;

use crate::args::{wrong_arity, CmdResult};
use crate::db::Db;
use crate::rng::hash_bytes;
use crate::{ExecCtx, Outcome};
use bytes::Bytes;
use hashbrown::HashTable;
use slotraft_resp::Reply;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Longest command name we look up (longer names cannot match).
pub const MAX_COMMAND_NAME: usize = 64;

/// A read-only handler: usable by `execute_read` (followers) and `execute`.
pub type ReadFn = fn(&Db, &[Bytes], u64) -> CmdResult;
/// A writing handler; `ctx.now_ms` is already the monotonic time and
/// `ctx.seed` is private to this command.
pub type WriteFn = fn(&mut Db, &[Bytes], &ExecCtx) -> CmdResult;
/// A blocking handler (BLPOP...): returns `Outcome::Block` when nothing is
/// available and `ctx.may_block`, else replies like its non-blocking form.
pub type BlockFn = fn(&mut Db, &[Bytes], &ExecCtx) -> Result<Outcome, Reply>;

/// Who executes a command.
#[derive(Copy, Clone)]
pub enum Handler {
    Read(ReadFn),
    Write(WriteFn),
    Blocking(BlockFn),
    /// Executed by the server crate (connection state, MULTI, CLUSTER...).
    Server,
    /// A container (OBJECT, CLIENT...): dispatch goes to a subcommand.
    Container,
    /// In the metadata but no handler registered (a bug; a test checks).
    Missing,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Handler::Read(_) => "Read",
            Handler::Write(_) => "Write",
            Handler::Blocking(_) => "Blocking",
            Handler::Server => "Server",
            Handler::Container => "Container",
            Handler::Missing => "Missing",
        };
        f.write_str(s)
    }
}

/// Where a key-spec starts searching (Redis 7 key specs).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    Index(i64),
    /// `(keyword, startfrom)`: negative `startfrom` searches from the end.
    Keyword(&'static str, i64),
    Unknown,
}

/// How a key-spec finds keys after its start.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Find {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    KeyNum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

/// One Redis 7 key specification.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

/// Generated, static metadata of one command (see `meta.rs`).
#[derive(Debug)]
pub struct CommandMeta {
    /// Lowercase; subcommands are `"container|sub"`.
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub acl: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    pub subcommands: &'static [CommandMeta],
}

/// A command: its metadata plus its handler.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase; subcommands are `"container|sub"`.
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub acl: &'static [&'static str],
    pub meta: &'static CommandMeta,
    pub handler: Handler,
    pub subcommands: Vec<CommandSpec>,
}

impl CommandSpec {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
    pub fn is_write(&self) -> bool {
        self.has_flag("write")
    }
    pub fn is_readonly(&self) -> bool {
        self.has_flag("readonly")
    }
    /// Arity check with Redis's error text (uses the full `a|b` name).
    pub fn check_arity(&self, argc: usize) -> Result<(), Reply> {
        let a = self.arity;
        let ok = if a >= 0 {
            argc == a as usize
        } else {
            argc >= a.unsigned_abs() as usize
        };
        if ok {
            Ok(())
        } else {
            Err(wrong_arity(self.name))
        }
    }
    /// The subcommand named `sub` (case-insensitive), if any.
    pub fn subcommand(&self, sub: &[u8]) -> Option<&CommandSpec> {
        self.subcommands.iter().find(|s| {
            let short = s.name.split_once('|').map_or(s.name, |(_, b)| b);
            short.as_bytes().eq_ignore_ascii_case(sub)
        })
    }
}

/// The command table. `by_name` indexes `all` by the hash of the lower-case
/// name ([`hash_bytes`]: a few instructions per byte, where the std SipHash
/// map cost ~200 instructions per lookup on the pipelined hot path).
struct Table {
    all: Vec<CommandSpec>,
    by_name: HashTable<usize>,
}

fn family_handlers() -> HashMap<&'static str, Handler> {
    let mut m = HashMap::new();
    for fam in [
        keys::HANDLERS,
        strings::HANDLERS,
        hash::HANDLERS,
        list::HANDLERS,
        set::HANDLERS,
        zset::HANDLERS,
        server::HANDLERS,
    ] {
        for (name, h) in fam {
            let dup = m.insert(*name, *h);
            assert!(dup.is_none(), "command {name} registered twice");
        }
    }
    m
}

fn build(
    meta: &'static CommandMeta,
    handlers: &HashMap<&'static str, Handler>,
    parent: Option<Handler>,
) -> CommandSpec {
    let own = handlers.get(meta.name).copied();
    let handler = match (own, parent) {
        (Some(h), _) => h,
        (None, _) if !meta.subcommands.is_empty() => Handler::Container,
        (None, Some(Handler::Server)) => Handler::Server,
        _ => Handler::Missing,
    };
    let inherit = if matches!(handler, Handler::Container) {
        own.or(parent)
    } else {
        Some(handler)
    };
    let subcommands = meta
        .subcommands
        .iter()
        .map(|s| build(s, handlers, inherit))
        .collect();
    CommandSpec {
        name: meta.name,
        arity: meta.arity,
        flags: meta.flags,
        first_key: meta.first_key,
        last_key: meta.last_key,
        step: meta.step,
        acl: meta.acl,
        meta,
        handler,
        subcommands,
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let handlers = family_handlers();
        let all: Vec<CommandSpec> = meta::META
            .iter()
            .map(|m| build(m, &handlers, None))
            .collect();
        let mut by_name = HashTable::with_capacity(all.len());
        for (i, c) in all.iter().enumerate() {
            let name_hash = |&j: &usize| hash_bytes(all[j].name.as_bytes());
            by_name.insert_unique(hash_bytes(c.name.as_bytes()), i, name_hash);
        }
        Table { all, by_name }
    })
}

/// Every top-level command (subcommands inside), sorted by name.
pub fn all_commands() -> &'static [CommandSpec] {
    &table().all
}

/// Top-level command by name, case-insensitive.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > MAX_COMMAND_NAME {
        return None;
    }
    let mut buf = [0u8; MAX_COMMAND_NAME];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let t = table();
    let lower = &*lower;
    t.by_name
        .find(hash_bytes(lower), |&i| t.all[i].name.as_bytes() == lower)
        .map(|&i| &t.all[i])
}

/// Redis 7.0's unknown-command error text.
pub fn unknown_command(argv: &[Bytes]) -> Reply {
    let name = argv.first().map(|b| &b[..]).unwrap_or(b"");
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let a = String::from_utf8_lossy(a);
        let cut: String = a.chars().take(room).collect();
        args.push_str(&format!("'{cut}' "));
    }
    let name = String::from_utf8_lossy(&name[..name.len().min(128)]);
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {args}"
    ))
}

/// Resolves argv to the command (or subcommand) that runs it and checks
/// arity, with Redis's errors for unknown commands/subcommands.
pub fn resolve(argv: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let Some(name) = argv.first() else {
        return Err(unknown_command(argv));
    };
    let cmd = lookup(name).ok_or_else(|| unknown_command(argv))?;
    if !cmd.subcommands.is_empty() && argv.len() >= 2 {
        match cmd.subcommand(&argv[1]) {
            Some(sub) => {
                sub.check_arity(argv.len())?;
                return Ok(sub);
            }
            None => {
                let s = String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]).into_owned();
                return Err(Reply::error(format!(
                    "ERR unknown subcommand '{s}'. Try {} HELP.",
                    cmd.name.to_ascii_uppercase()
                )));
            }
        }
    }
    cmd.check_arity(argv.len())?;
    Ok(cmd)
}

/// Key positions of a command, via Redis 7 key specs (like
/// `getKeysUsingKeySpecs`). Errors: unknown command / wrong arity. Bad
/// numkeys values yield the keys found so far (the command itself will
/// reject them when executed).
pub fn command_keys(argv: &[Bytes]) -> Result<Vec<&[u8]>, Reply> {
    let cmd = resolve(argv)?;
    Ok(key_positions(cmd, argv)
        .into_iter()
        .map(|i| &argv[i][..])
        .collect())
}

/// Indexes in argv of the keys of `cmd`.
pub fn key_positions(cmd: &CommandSpec, argv: &[Bytes]) -> Vec<usize> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for ks in cmd.meta.key_specs {
        let first = match ks.begin {
            Begin::Index(i) => i,
            Begin::Keyword(kw, from) => match find_keyword(argv, kw, from) {
                Some(i) => i + 1,
                None => continue,
            },
            Begin::Unknown => continue,
        };
        if first >= argc {
            continue;
        }
        let (first, last, step) = match ks.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit <= 1 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, keystep)
            }
            Find::KeyNum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let idx = first + keynumidx;
                if idx >= argc {
                    continue;
                }
                let Some(n) =
                    crate::args::parse_canonical_i64(&argv[idx as usize]).filter(|n| *n >= 0)
                else {
                    continue;
                };
                let f = first + firstkey;
                (f, f + (n.min(argc) * keystep) - 1, keystep)
            }
            Find::Unknown => continue,
        };
        let mut i = first;
        while i <= last && i < argc && step > 0 {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

fn find_keyword(argv: &[Bytes], kw: &str, from: i64) -> Option<i64> {
    let argc = argv.len() as i64;
    let hit = |i: i64| argv[i as usize].eq_ignore_ascii_case(kw.as_bytes());
    if from >= 0 {
        (from..argc).find(|&i| hit(i))
    } else {
        let start = argc + from;
        (1..=start.min(argc - 1)).rev().find(|&i| hit(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|x| Bytes::copy_from_slice(x.as_bytes()))
            .collect()
    }

    fn keys(s: &str) -> Vec<String> {
        command_keys(&argv(s))
            .unwrap()
            .into_iter()
            .map(|k| String::from_utf8(k.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").unwrap().name, "get");
        assert!(lookup(b"nosuch").is_none());
        assert!(all_commands().len() > 150);
    }

    #[test]
    fn every_command_has_a_handler() {
        fn missing(c: &CommandSpec, out: &mut Vec<&'static str>) {
            if matches!(c.handler, Handler::Missing) {
                out.push(c.name);
            }
            c.subcommands.iter().for_each(|s| missing(s, out));
        }
        let mut out = Vec::new();
        all_commands().iter().for_each(|c| missing(c, &mut out));
        assert!(out.is_empty(), "commands without a handler: {out:?}");
    }

    #[test]
    fn unknown_command_text() {
        let r = unknown_command(&argv("foo a b"));
        assert_eq!(
            r,
            Reply::error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
        assert_eq!(
            unknown_command(&argv("foo")),
            Reply::error("ERR unknown command 'foo', with args beginning with: ")
        );
    }

    #[test]
    fn arity_and_subcommands() {
        assert_eq!(
            resolve(&argv("get")).unwrap_err(),
            Reply::error("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            resolve(&argv("object encoding k")).unwrap().name,
            "object|encoding"
        );
        assert_eq!(
            resolve(&argv("object encoding")).unwrap_err(),
            Reply::error("ERR wrong number of arguments for 'object|encoding' command")
        );
        assert_eq!(
            resolve(&argv("object foo k")).unwrap_err(),
            Reply::error("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
    }

    #[test]
    fn key_positions_follow_redis() {
        assert_eq!(keys("get a"), ["a"]);
        assert_eq!(keys("mset a 1 b 2"), ["a", "b"]);
        assert_eq!(keys("del a b c"), ["a", "b", "c"]);
        assert_eq!(keys("zunionstore d 2 a b weights 1 2"), ["d", "a", "b"]);
        assert_eq!(keys("lmpop 2 a b left"), ["a", "b"]);
        assert_eq!(keys("blmpop 0 2 a b left"), ["a", "b"]);
        assert_eq!(keys("sintercard 2 a b limit 1"), ["a", "b"]);
        assert_eq!(keys("blpop a b 0"), ["a", "b"]);
        assert_eq!(keys("object encoding k"), ["k"]);
        assert_eq!(keys("ping"), Vec::<String>::new());
        assert_eq!(keys("zunionstore d notanumber a"), ["d"]);
        assert_eq!(keys("rename a b"), ["a", "b"]);
        assert_eq!(keys("watch a b"), ["a", "b"]);
    }
}
