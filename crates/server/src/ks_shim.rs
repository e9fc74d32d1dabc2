//! TODO(integration): a tiny stand-in for `slotraft_keyspace` with the API
//! the keyspace helper announced, so the server builds and its tests run
//! before the real crate lands. Deleted at integration.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use slotraft_resp::Reply;

pub type Argv = Vec<Bytes>;

#[derive(Clone, Copy, Debug)]
pub struct ExecCtx {
    pub now_ms: u64,
    pub seed: u64,
    pub may_block: bool,
}

#[derive(Debug)]
pub struct BlockSpec {
    pub keys: Vec<Bytes>,
    pub timeout_ms: u64,
}

#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    Block(BlockSpec),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Data,
    Server,
}

pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 2;
    pub const BLOCKING: u32 = 4;
    pub const FAST: u32 = 8;
}

#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub handler: Handler,
}

macro_rules! spec {
    ($n:expr, $a:expr, $f:expr, $fk:expr, $lk:expr, $st:expr, $h:ident) => {
        CommandSpec { name: $n, arity: $a, flags: $f, first_key: $fk, last_key: $lk, step: $st, handler: Handler::$h }
    };
}
use flags::*;
pub static COMMANDS: &[CommandSpec] = &[
    spec!("get", 2, READONLY | FAST, 1, 1, 1, Data),
    spec!("set", -3, WRITE, 1, 1, 1, Data),
    spec!("del", -2, WRITE, 1, -1, 1, Data),
    spec!("incr", 2, WRITE | FAST, 1, 1, 1, Data),
    spec!("lpush", -3, WRITE | FAST, 1, 1, 1, Data),
    spec!("rpush", -3, WRITE | FAST, 1, 1, 1, Data),
    spec!("lpop", -2, WRITE | FAST, 1, 1, 1, Data),
    spec!("llen", 2, READONLY | FAST, 1, 1, 1, Data),
    spec!("blpop", -3, WRITE | BLOCKING, 1, -2, 1, Data),
    spec!("mset", -3, WRITE, 1, -1, 2, Data),
    spec!("dbsize", 1, READONLY | FAST, 0, 0, 0, Data),
    spec!("flushall", -1, WRITE, 0, 0, 0, Data),
    spec!("flushdb", -1, WRITE, 0, 0, 0, Data),
    spec!("pexpire", 3, WRITE, 1, 1, 1, Data),
    spec!("exists", -2, READONLY, 1, -1, 1, Data),
    spec!("ping", -1, FAST, 0, 0, 0, Server),
    spec!("echo", 2, FAST, 0, 0, 0, Server),
    spec!("hello", -1, FAST, 0, 0, 0, Server),
    spec!("auth", -2, FAST, 0, 0, 0, Server),
    spec!("quit", -1, FAST, 0, 0, 0, Server),
    spec!("reset", 1, FAST, 0, 0, 0, Server),
    spec!("select", 2, FAST, 0, 0, 0, Server),
    spec!("client", -2, 0, 0, 0, 0, Server),
    spec!("command", -1, 0, 0, 0, 0, Server),
    spec!("info", -1, 0, 0, 0, 0, Server),
    spec!("config", -2, 0, 0, 0, 0, Server),
    spec!("time", 1, FAST, 0, 0, 0, Server),
    spec!("multi", 1, FAST, 0, 0, 0, Server),
    spec!("exec", 1, 0, 0, 0, 0, Server),
    spec!("discard", 1, FAST, 0, 0, 0, Server),
    spec!("watch", -2, FAST, 1, -1, 1, Server),
    spec!("unwatch", 1, FAST, 0, 0, 0, Server),
];

pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

pub fn commands() -> &'static [CommandSpec] {
    COMMANDS
}

pub fn command_keys(argv: &[Bytes]) -> Vec<Bytes> {
    let Some(spec) = lookup(&argv[0]) else { return vec![] };
    if spec.first_key <= 0 {
        return vec![];
    }
    let last = if spec.last_key < 0 { argv.len() as i32 + spec.last_key } else { spec.last_key };
    (spec.first_key..=last).step_by(spec.step as usize).filter_map(|i| argv.get(i as usize).cloned()).collect()
}

enum Val {
    Str(Bytes),
    List(VecDeque<Bytes>),
}

#[derive(Default)]
pub struct Keyspace {
    map: HashMap<Bytes, (Val, Option<u64>)>,
    versions: HashMap<Bytes, u64>,
    version_clock: u64,
    ready: HashSet<Bytes>,
}

fn wrongtype() -> Reply {
    Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

impl Keyspace {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn expires_count(&self) -> usize {
        self.map.values().filter(|v| v.1.is_some()).count()
    }

    fn touch(&mut self, k: &Bytes) {
        self.version_clock += 1;
        self.versions.insert(k.clone(), self.version_clock);
    }

    pub fn watch_version(&self, key: &[u8]) -> u64 {
        self.versions.get(key).copied().unwrap_or(0)
    }

    pub fn take_ready_keys(&mut self) -> Vec<Bytes> {
        self.ready.drain().collect()
    }

    pub fn collect_expired(&self, now_ms: u64, max: usize) -> Vec<Bytes> {
        self.map.iter().filter(|(_, v)| v.1.is_some_and(|t| t <= now_ms)).take(max).map(|(k, _)| k.clone()).collect()
    }

    /// Internal delete used by active expiry.
    pub fn expire_delete_command(key: Bytes) -> Argv {
        vec![Bytes::from_static(b"del"), key]
    }

    fn live(&self, k: &[u8], now: u64) -> Option<&Val> {
        self.map.get(k).filter(|v| v.1.is_none_or(|t| t > now)).map(|v| &v.0)
    }

    pub fn execute_read(&self, argv: &[Bytes], now_ms: u64) -> Reply {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        match name.as_str() {
            "get" => match self.live(&argv[1], now_ms) {
                None => Reply::Null,
                Some(Val::Str(s)) => Reply::Bulk(s.clone()),
                Some(_) => wrongtype(),
            },
            "llen" => match self.live(&argv[1], now_ms) {
                None => Reply::Int(0),
                Some(Val::List(l)) => Reply::Int(l.len() as i64),
                Some(_) => wrongtype(),
            },
            "exists" => Reply::Int(argv[1..].iter().filter(|k| self.live(k, now_ms).is_some()).count() as i64),
            "dbsize" => Reply::Int(self.map.len() as i64),
            _ => Reply::error("ERR shim: unsupported"),
        }
    }

    pub fn execute(&mut self, argv: &[Bytes], ctx: &ExecCtx) -> Outcome {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let now = ctx.now_ms;
        if let Some(k) = argv.get(1) {
            if self.map.get(k).is_some_and(|v| v.1.is_some_and(|t| t <= now)) {
                self.map.remove(k);
            }
        }
        let r = match name.as_str() {
            "set" => {
                self.map.insert(argv[1].clone(), (Val::Str(argv[2].clone()), None));
                self.touch(&argv[1].clone());
                Reply::OK
            }
            "mset" => {
                for kv in argv[1..].chunks(2) {
                    self.map.insert(kv[0].clone(), (Val::Str(kv[1].clone()), None));
                    self.touch(&kv[0]);
                }
                Reply::OK
            }
            "del" => {
                let mut n = 0;
                for k in &argv[1..] {
                    if self.map.remove(k).is_some() {
                        n += 1;
                        self.touch(k);
                    }
                }
                Reply::Int(n)
            }
            "pexpire" => {
                let ms: u64 = std::str::from_utf8(&argv[2]).unwrap().parse().unwrap();
                match self.map.get_mut(&argv[1]) {
                    Some(v) => {
                        v.1 = Some(now + ms);
                        Reply::Int(1)
                    }
                    None => Reply::Int(0),
                }
            }
            "incr" => {
                let cur = match self.map.get(&argv[1]) {
                    None => 0,
                    Some((Val::Str(s), _)) => match std::str::from_utf8(s).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(n) => n,
                        None => return Outcome::Reply(Reply::error("ERR value is not an integer or out of range")),
                    },
                    Some(_) => return Outcome::Reply(wrongtype()),
                };
                self.map.insert(argv[1].clone(), (Val::Str(Bytes::from((cur + 1).to_string())), None));
                self.touch(&argv[1].clone());
                Reply::Int(cur + 1)
            }
            "lpush" | "rpush" => {
                let e = self.map.entry(argv[1].clone()).or_insert((Val::List(VecDeque::new()), None));
                let Val::List(l) = &mut e.0 else { return Outcome::Reply(wrongtype()) };
                for v in &argv[2..] {
                    if name == "lpush" { l.push_front(v.clone()) } else { l.push_back(v.clone()) }
                }
                let n = l.len() as i64;
                self.ready.insert(argv[1].clone());
                self.touch(&argv[1].clone());
                Reply::Int(n)
            }
            "lpop" => self.pop(&argv[1]).map(Reply::Bulk).unwrap_or(Reply::Null),
            "blpop" => {
                let keys = &argv[1..argv.len() - 1];
                for k in keys {
                    if let Some(v) = self.pop(k) {
                        return Outcome::Reply(Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Bulk(v)]));
                    }
                }
                if !ctx.may_block {
                    return Outcome::Reply(Reply::NullArray);
                }
                let secs: f64 = std::str::from_utf8(argv.last().unwrap()).unwrap().parse().unwrap();
                return Outcome::Block(BlockSpec { keys: keys.to_vec(), timeout_ms: (secs * 1000.0) as u64 });
            }
            "flushall" | "flushdb" => {
                let keys: Vec<Bytes> = self.map.keys().cloned().collect();
                for k in keys {
                    self.touch(&k);
                }
                self.map.clear();
                Reply::OK
            }
            _ => self.execute_read(argv, now),
        };
        Outcome::Reply(r)
    }

    fn pop(&mut self, k: &Bytes) -> Option<Bytes> {
        let Some((Val::List(l), _)) = self.map.get_mut(k) else { return None };
        let v = l.pop_front();
        if l.is_empty() {
            self.map.remove(k);
        }
        self.touch(k);
        v
    }

    pub fn execute_multi(&mut self, cmds: &[Argv], watched: &[(Bytes, u64)], ctx: &ExecCtx) -> Reply {
        if watched.iter().any(|(k, v)| self.watch_version(k) != *v) {
            return Reply::NullArray;
        }
        let ctx = ExecCtx { may_block: false, ..*ctx };
        Reply::Array(
            cmds.iter()
                .map(|c| match self.execute(c, &ctx) {
                    Outcome::Reply(r) => r,
                    Outcome::Block(_) => Reply::NullArray,
                })
                .collect(),
        )
    }
}

pub fn flag_names(c: &CommandSpec) -> Vec<&'static str> {
    let mut v = Vec::new();
    if c.flags & WRITE != 0 {
        v.push("write");
    }
    if c.flags & READONLY != 0 {
        v.push("readonly");
    }
    if c.flags & BLOCKING != 0 {
        v.push("blocking");
    }
    if c.flags & FAST != 0 {
        v.push("fast");
    }
    v
}
