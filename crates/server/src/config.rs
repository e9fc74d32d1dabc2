//! Server options: built-in defaults < config file < command line < `CONFIG SET`.
//!
//! Why Redis's format and names: operators and tools (`redis-cli CONFIG GET
//! maxclients`, client libraries probing `databases`) already know them, so
//! every option slotraft honours keeps Redis's name, units and error text.
//! Options Redis has but slotraft does not use (`save`, `appendonly`,
//! `maxmemory`) are reported so tools that read them keep working.
//!
//! A config is an immutable value; a change produces a new `Arc<Config>` that
//! connections pick up on their next read, so the hot path never takes a
//! lock longer than an `Arc` clone.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::glob::glob_match_nocase;

/// Default `proto-max-bulk-len` (Redis: 512 MiB).
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Default `client-query-buffer-limit` (Redis: 1 GiB).
pub const DEFAULT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;
/// Default `maxclients` (Redis: 10000).
pub const DEFAULT_MAXCLIENTS: u64 = 10_000;
/// Largest `hz` Redis accepts (it clamps, so do we).
pub const MAX_HZ: u64 = 500;
/// Default `io-threads`: chosen by measurement (docs/benchmarks.md).
pub const DEFAULT_IO_THREADS: u64 = 1;
/// Most `io-threads` accepted (Redis: 128).
pub const MAX_IO_THREADS: u64 = 128;
/// Longest config file line accepted (Redis has no limit; a bound keeps a
/// corrupt file from being read as one huge line).
pub const MAX_CONFIG_LINE: usize = 64 * 1024;

/// Output-buffer limits of one client class (`hard soft soft-seconds`);
/// 0 disables a limit, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// Every option slotraft knows. Immutable once built; see [`SharedConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    /// Data directory; None (not configured) means no snapshot is kept.
    pub dir: Option<PathBuf>,
    pub requirepass: Option<String>,
    pub maxclients: u64,
    /// Idle client timeout in seconds (0 = never).
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub output_normal: OutputLimit,
    pub output_replica: OutputLimit,
    pub output_pubsub: OutputLimit,
    pub hz: u64,
    pub loglevel: String,
    pub appendonly: bool,
    pub save: String,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub protected_mode: bool,
    /// Threads serving clients (Redis's name; 1 = a single event loop).
    pub io_threads: u64,
    /// `cluster-enabled yes`: start as a cluster node (waits for
    /// `slotraft cluster create` unless `dir` already holds its identity).
    pub cluster_enabled: bool,
    /// Gossip's `cluster-node-timeout` in ms (PFAIL after this silence).
    pub cluster_node_timeout: u64,
    /// How leaders confirm linearizable reads: `readindex` or `lease`.
    pub read_mode: String,
    /// A shard's log is compacted behind a snapshot once it holds this many
    /// applied entries, whatever their size (small values make lagging
    /// followers catch up by snapshot: tests and drills).
    pub snapshot_log_entries: u64,
    /// ... or once its log holds this many bytes and
    pub snapshot_log_min_bytes: u64,
    /// ... this percentage of its last snapshot's size (decision 0012).
    pub snapshot_log_percent: u64,
}

/// Default `cluster-node-timeout` (ms): shorter than Redis's 15 s because
/// it only drives the PFAIL/FAIL display; failover is Raft's election.
pub const DEFAULT_CLUSTER_NODE_TIMEOUT_MS: u64 = 5_000;
/// Lowest `snapshot-log-min-bytes`.
pub const MIN_SNAPSHOT_LOG_MIN_BYTES: u64 = 1 << 20;
/// Values of `read-mode`.
const READ_MODES: &[&str] = &["readindex", "lease"];

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["127.0.0.1".to_string()],
            port: 6379,
            dir: None,
            requirepass: None,
            maxclients: DEFAULT_MAXCLIENTS,
            timeout: 0,
            tcp_keepalive: 300,
            proto_max_bulk_len: DEFAULT_PROTO_MAX_BULK_LEN,
            client_query_buffer_limit: DEFAULT_QUERY_BUFFER_LIMIT,
            output_normal: OutputLimit {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            },
            output_replica: OutputLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            output_pubsub: OutputLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
            hz: 10,
            cluster_enabled: false,
            cluster_node_timeout: DEFAULT_CLUSTER_NODE_TIMEOUT_MS,
            read_mode: "readindex".to_string(),
            snapshot_log_entries: slotraft_node::SNAPSHOT_LOG_ENTRIES,
            snapshot_log_min_bytes: slotraft_node::SNAPSHOT_LOG_MIN_BYTES,
            snapshot_log_percent: slotraft_node::SNAPSHOT_LOG_PERCENT,
            loglevel: "notice".to_string(),
            appendonly: false,
            save: String::new(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_string(),
            protected_mode: true,
            io_threads: DEFAULT_IO_THREADS,
        }
    }
}

/// How an option's value is parsed, printed and whether it may change live.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int { min: u64, max: u64 },
    Memory,
    Bool,
    Enum(&'static [&'static str]),
    OutputLimits,
}

struct OptionDef {
    name: &'static str,
    kind: Kind,
    /// Immutable options can be set from the file / command line only.
    mutable: bool,
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-lfu",
    "volatile-lfu",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
];

/// The option table, in the order `CONFIG GET *` lists them.
const OPTIONS: &[OptionDef] = &[
    OptionDef {
        name: "bind",
        kind: Kind::Str,
        mutable: false,
    },
    OptionDef {
        name: "port",
        kind: Kind::Int { min: 0, max: 65535 },
        mutable: false,
    },
    OptionDef {
        name: "dir",
        kind: Kind::Str,
        mutable: false,
    },
    OptionDef {
        name: "requirepass",
        kind: Kind::Str,
        mutable: true,
    },
    OptionDef {
        name: "maxclients",
        kind: Kind::Int {
            min: 1,
            max: u32::MAX as u64,
        },
        mutable: true,
    },
    OptionDef {
        name: "timeout",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as u64,
        },
        mutable: true,
    },
    OptionDef {
        name: "tcp-keepalive",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as u64,
        },
        mutable: true,
    },
    OptionDef {
        name: "proto-max-bulk-len",
        kind: Kind::Memory,
        mutable: true,
    },
    OptionDef {
        name: "client-query-buffer-limit",
        kind: Kind::Memory,
        mutable: true,
    },
    OptionDef {
        name: "client-output-buffer-limit",
        kind: Kind::OutputLimits,
        mutable: true,
    },
    OptionDef {
        name: "hz",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as u64,
        },
        mutable: true,
    },
    OptionDef {
        name: "loglevel",
        kind: Kind::Enum(LOGLEVELS),
        mutable: true,
    },
    OptionDef {
        name: "databases",
        kind: Kind::Int { min: 1, max: 1 },
        mutable: false,
    },
    OptionDef {
        name: "appendonly",
        kind: Kind::Bool,
        mutable: true,
    },
    OptionDef {
        name: "save",
        kind: Kind::Str,
        mutable: true,
    },
    OptionDef {
        name: "maxmemory",
        kind: Kind::Memory,
        mutable: true,
    },
    OptionDef {
        name: "maxmemory-policy",
        kind: Kind::Enum(POLICIES),
        mutable: true,
    },
    OptionDef {
        name: "protected-mode",
        kind: Kind::Bool,
        mutable: true,
    },
    OptionDef {
        name: "io-threads",
        kind: Kind::Int {
            min: 1,
            max: MAX_IO_THREADS,
        },
        mutable: false,
    },
    OptionDef {
        name: "cluster-enabled",
        kind: Kind::Bool,
        mutable: false,
    },
    OptionDef {
        name: "cluster-node-timeout",
        kind: Kind::Int {
            min: 100,
            max: 3_600_000,
        },
        mutable: false,
    },
    OptionDef {
        name: "read-mode",
        kind: Kind::Enum(READ_MODES),
        mutable: false,
    },
    OptionDef {
        name: "snapshot-log-entries",
        kind: Kind::Int {
            min: 1,
            max: 1 << 40,
        },
        mutable: false,
    },
    OptionDef {
        name: "snapshot-log-min-bytes",
        kind: Kind::Memory,
        mutable: false,
    },
    OptionDef {
        name: "snapshot-log-percent",
        kind: Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        mutable: false,
    },
];

fn find(name: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// A failed set: the option name and Redis's reason text.
#[derive(Debug, PartialEq, Eq)]
pub enum SetError {
    Unknown(String),
    Invalid { name: String, reason: String },
}

impl SetError {
    /// The error line `CONFIG SET` replies with (Redis 7.0 wording).
    pub fn config_set_reply(&self) -> String {
        match self {
            SetError::Unknown(n) => {
                format!("ERR Unknown option or number of arguments for CONFIG SET - '{n}'")
            }
            SetError::Invalid { name, reason } => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
            }
        }
    }
}

impl std::fmt::Display for SetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetError::Unknown(n) => write!(f, "Bad directive or wrong number of arguments: '{n}'"),
            SetError::Invalid { name, reason } => write!(f, "'{name}': {reason}"),
        }
    }
}

/// Parses `1gb`, `64mb`, `100k`, `123` like Redis's `memtoull`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let units: [(&str, u64); 8] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1000 * 1000),
        ("g", 1000 * 1000 * 1000),
        ("b", 1),
        ("", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = lower.strip_suffix(suffix) {
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                if suffix.is_empty() {
                    return None;
                }
                continue;
            }
            return num.parse::<u64>().ok()?.checked_mul(mul);
        }
    }
    None
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn invalid(name: &str, reason: impl Into<String>) -> SetError {
    SetError::Invalid {
        name: name.to_string(),
        reason: reason.into(),
    }
}

impl Config {
    /// Sets one option from its textual value (file, command line or
    /// `CONFIG SET`). `live` refuses immutable options.
    pub fn set(&mut self, name: &str, value: &str, live: bool) -> Result<(), SetError> {
        let def = find(name).ok_or_else(|| SetError::Unknown(name.to_string()))?;
        if live && !def.mutable {
            return Err(invalid(def.name, "can't set immutable config"));
        }
        let v = value.trim();
        match def.kind {
            Kind::Int { min, max } => {
                let n: i64 = v.parse().map_err(|_| {
                    invalid(def.name, "argument couldn't be parsed into an integer")
                })?;
                if n < min as i64 || n as u64 > max {
                    return Err(invalid(
                        def.name,
                        format!("argument must be between {min} and {max} inclusive"),
                    ));
                }
                self.set_int(def.name, n as u64);
            }
            Kind::Memory => {
                let n = parse_memory(v)
                    .ok_or_else(|| invalid(def.name, "argument must be a memory value"))?;
                if def.name == "snapshot-log-min-bytes" && n < MIN_SNAPSHOT_LOG_MIN_BYTES {
                    // Smaller would snapshot a group on every tick.
                    return Err(invalid(def.name, "argument must be at least 1mb"));
                }
                self.set_int(def.name, n);
            }
            Kind::Bool => {
                let b = parse_bool(v)
                    .ok_or_else(|| invalid(def.name, "argument must be 'yes' or 'no'"))?;
                match def.name {
                    "appendonly" => self.appendonly = b,
                    "cluster-enabled" => self.cluster_enabled = b,
                    _ => self.protected_mode = b,
                }
            }
            Kind::Enum(allowed) => {
                let lv = v.to_ascii_lowercase();
                if !allowed.contains(&lv.as_str()) {
                    return Err(invalid(
                        def.name,
                        "argument(s) must be one of the following: ".to_string()
                            + &allowed.join(", "),
                    ));
                }
                match def.name {
                    "loglevel" => self.loglevel = lv,
                    "read-mode" => self.read_mode = lv,
                    _ => self.maxmemory_policy = lv,
                }
            }
            Kind::OutputLimits => self.set_output_limits(v)?,
            Kind::Str => self.set_str(def.name, v),
        }
        Ok(())
    }

    fn set_int(&mut self, name: &str, n: u64) {
        match name {
            "port" => self.port = n as u16,
            "maxclients" => self.maxclients = n,
            "timeout" => self.timeout = n,
            "tcp-keepalive" => self.tcp_keepalive = n,
            "proto-max-bulk-len" => self.proto_max_bulk_len = n,
            "client-query-buffer-limit" => self.client_query_buffer_limit = n,
            "hz" => self.hz = n.clamp(1, MAX_HZ),
            "maxmemory" => self.maxmemory = n,
            "io-threads" => self.io_threads = n,
            "cluster-node-timeout" => self.cluster_node_timeout = n,
            "snapshot-log-entries" => self.snapshot_log_entries = n,
            "snapshot-log-min-bytes" => self.snapshot_log_min_bytes = n,
            "snapshot-log-percent" => self.snapshot_log_percent = n,
            "databases" => {}
            other => unreachable!("integer option {other} without a field"),
        }
    }

    fn set_str(&mut self, name: &str, v: &str) {
        match name {
            "bind" => self.bind = v.split_whitespace().map(str::to_string).collect(),
            "dir" => self.dir = Some(PathBuf::from(v)),
            "requirepass" => {
                self.requirepass = if v.is_empty() {
                    None
                } else {
                    Some(v.to_string())
                }
            }
            "save" => self.save = v.to_string(),
            other => unreachable!("string option {other} without a field"),
        }
    }

    /// `client-output-buffer-limit <class> <hard> <soft> <secs> [...]`.
    fn set_output_limits(&mut self, v: &str) -> Result<(), SetError> {
        const NAME: &str = "client-output-buffer-limit";
        let words: Vec<&str> = v.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err(invalid(
                NAME,
                "Wrong number of arguments in buffer limit configuration.",
            ));
        }
        let mut next = self.clone();
        for chunk in words.chunks(4) {
            let hard = parse_memory(chunk[1]);
            let soft = parse_memory(chunk[2]);
            let secs = chunk[3].parse::<u64>().ok();
            let (Some(hard), Some(soft), Some(soft_seconds)) = (hard, soft, secs) else {
                return Err(invalid(
                    NAME,
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ));
            };
            let lim = OutputLimit {
                hard,
                soft,
                soft_seconds,
            };
            match chunk[0].to_ascii_lowercase().as_str() {
                "normal" => next.output_normal = lim,
                "replica" | "slave" => next.output_replica = lim,
                "pubsub" => next.output_pubsub = lim,
                _ => {
                    return Err(invalid(
                        NAME,
                        "Invalid client class specified in buffer limit configuration.",
                    ))
                }
            }
        }
        *self = next;
        Ok(())
    }

    /// The value `CONFIG GET` reports for an option (Redis's formatting:
    /// memory values in bytes, booleans as yes/no).
    fn get(&self, name: &str) -> String {
        let lim = |l: &OutputLimit| format!("{} {} {}", l.hard, l.soft, l.soft_seconds);
        match name {
            "bind" => self.bind.join(" "),
            "port" => self.port.to_string(),
            "dir" => match &self.dir {
                Some(d) => d.display().to_string(),
                None => std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            },
            "requirepass" => self.requirepass.clone().unwrap_or_default(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "client-output-buffer-limit" => format!(
                "normal {} slave {} pubsub {}",
                lim(&self.output_normal),
                lim(&self.output_replica),
                lim(&self.output_pubsub)
            ),
            "hz" => self.hz.to_string(),
            "loglevel" => self.loglevel.clone(),
            "databases" => "1".to_string(),
            "appendonly" => yes_no(self.appendonly),
            "save" => self.save.clone(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            "protected-mode" => yes_no(self.protected_mode),
            "io-threads" => self.io_threads.to_string(),
            "cluster-enabled" => yes_no(self.cluster_enabled),
            "cluster-node-timeout" => self.cluster_node_timeout.to_string(),
            "read-mode" => self.read_mode.clone(),
            "snapshot-log-entries" => self.snapshot_log_entries.to_string(),
            "snapshot-log-min-bytes" => self.snapshot_log_min_bytes.to_string(),
            "snapshot-log-percent" => self.snapshot_log_percent.to_string(),
            other => unreachable!("option {other} without a getter"),
        }
    }

    /// `CONFIG GET pattern...`: every option whose name matches one of the
    /// glob patterns (case-insensitive), each once, in table order.
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        OPTIONS
            .iter()
            .filter(|o| {
                patterns
                    .iter()
                    .any(|p| glob_match_nocase(p, o.name.as_bytes()))
            })
            .map(|o| (o.name.to_string(), self.get(o.name)))
            .collect()
    }

    /// Applies a Redis-style config file: one `name value...` per line,
    /// `#` comments, values optionally double-quoted. Returns Redis's
    /// "FATAL CONFIG FILE ERROR" style message on the first bad line.
    pub fn apply_file_text(&mut self, text: &str) -> Result<(), String> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.len() > MAX_CONFIG_LINE {
                return Err(format!(
                    "line {}: longer than {MAX_CONFIG_LINE} bytes",
                    i + 1
                ));
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = unquote(value.trim());
            self.set(name, &value, false).map_err(|e| {
                format!(
                    "*** FATAL CONFIG FILE ERROR *** line {}: '{}': {e}",
                    i + 1,
                    line
                )
            })?;
        }
        Ok(())
    }

    /// Renders the whole config as a file `CONFIG REWRITE` could write.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for o in OPTIONS {
            if o.name == "dir" && self.dir.is_none() {
                continue;
            }
            let v = self.get(o.name);
            if o.kind == Kind::OutputLimits {
                for class in v.split(' ').collect::<Vec<_>>().chunks(4) {
                    s.push_str(&format!("{} {}\n", o.name, class.join(" ")));
                }
            } else {
                s.push_str(&format!("{} \"{}\"\n", o.name, v.replace('"', "\\\"")));
            }
        }
        s
    }
}

fn unquote(v: &str) -> String {
    let quoted = v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')));
    if quoted {
        v[1..v.len() - 1].replace("\\\"", "\"")
    } else {
        v.to_string()
    }
}

/// The live config shared by all connections, plus the file it came from
/// (for `CONFIG REWRITE`).
#[derive(Debug)]
pub struct SharedConfig {
    current: RwLock<Arc<Config>>,
    pub file: Option<PathBuf>,
}

impl SharedConfig {
    pub fn new(cfg: Config, file: Option<PathBuf>) -> Self {
        SharedConfig {
            current: RwLock::new(Arc::new(cfg)),
            file,
        }
    }

    /// A snapshot of the current config (cheap: one `Arc` clone).
    pub fn get(&self) -> Arc<Config> {
        self.current.read().clone()
    }

    /// `CONFIG SET name value [name value ...]`: all or nothing, like Redis 7.
    pub fn set_many(&self, pairs: &[(String, String)]) -> Result<(), SetError> {
        let mut guard = self.current.write();
        let mut next = (**guard).clone();
        for (i, (name, value)) in pairs.iter().enumerate() {
            let dup = pairs[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            if dup {
                let canon = find(name).map(|d| d.name).unwrap_or(name);
                return Err(invalid(canon, "duplicate parameter"));
            }
            next.set(name, value, true)?;
        }
        *guard = Arc::new(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_like_redis() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("64MB"), Some(64 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("123"), Some(123));
        assert_eq!(parse_memory("12x"), None);
        assert_eq!(parse_memory("mb"), None);
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn set_and_get_with_globs() {
        let mut c = Config::default();
        c.set("maxclients", "50", true).unwrap();
        c.set("HZ", "1000", true).unwrap();
        assert_eq!(c.hz, MAX_HZ);
        let got = c.get_matching(&[b"max*"]);
        assert_eq!(got[0], ("maxclients".to_string(), "50".to_string()));
        assert!(got.iter().any(|(n, _)| n == "maxmemory-policy"));
        assert!(c.get_matching(&[b"nosuch"]).is_empty());
        assert_eq!(c.get_matching(&[b"databases"])[0].1, "1");
    }

    #[test]
    fn errors_use_redis_wording() {
        let mut c = Config::default();
        let e = c.set("nosuch", "1", true).unwrap_err();
        assert_eq!(
            e.config_set_reply(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        let e = c.set("hz", "abc", true).unwrap_err();
        assert_eq!(
            e.config_set_reply(),
            "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
        );
        let e = c.set("port", "7000", true).unwrap_err();
        assert!(e.config_set_reply().contains("can't set immutable config"));
        assert!(c.set("port", "7000", false).is_ok());
    }

    #[test]
    fn output_limits_parse_and_print() {
        let mut c = Config::default();
        c.set("client-output-buffer-limit", "normal 1mb 512kb 10", true)
            .unwrap();
        assert_eq!(
            c.output_normal,
            OutputLimit {
                hard: 1 << 20,
                soft: 512 << 10,
                soft_seconds: 10
            }
        );
        assert!(c
            .get("client-output-buffer-limit")
            .starts_with("normal 1048576 524288 10 slave"));
        assert!(c
            .set("client-output-buffer-limit", "normal 1mb", true)
            .is_err());
        assert!(c
            .set("client-output-buffer-limit", "bogus 1 1 1", true)
            .is_err());
    }

    #[test]
    fn config_file_and_rewrite_roundtrip() {
        let mut c = Config::default();
        c.apply_file_text("# comment\nport 7001\nrequirepass \"s3cret\"\nclient-output-buffer-limit normal 0 0 0\n\nhz 20\n")
            .unwrap();
        assert_eq!((c.port, c.hz), (7001, 20));
        assert_eq!(c.requirepass.as_deref(), Some("s3cret"));
        let mut again = Config::default();
        again.apply_file_text(&c.render()).unwrap();
        assert_eq!(again, c);
        assert!(Config::default()
            .apply_file_text("bogus 1\n")
            .unwrap_err()
            .contains("line 1"));
    }

    #[test]
    fn snapshot_policy_options_parse_from_a_file_and_are_fixed_at_start() {
        let mut c = Config::default();
        assert_eq!(c.snapshot_log_min_bytes, 64 << 20);
        assert_eq!(c.snapshot_log_percent, 100);
        c.apply_file_text("snapshot-log-min-bytes 1gb\nsnapshot-log-percent 50\n")
            .unwrap();
        assert_eq!(
            (c.snapshot_log_min_bytes, c.snapshot_log_percent),
            (1 << 30, 50)
        );
        assert_eq!(
            c.get_matching(&[b"snapshot-log-*"])
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>(),
            ["250000", "1073741824", "50"]
        );
        assert!(
            c.set("snapshot-log-percent", "10", true).is_err(),
            "immutable"
        );
        assert!(Config::default()
            .apply_file_text("snapshot-log-min-bytes lots\n")
            .is_err());
        assert!(Config::default()
            .apply_file_text("snapshot-log-min-bytes 1000\n")
            .is_err());
    }

    #[test]
    fn config_set_is_atomic_and_rejects_duplicates() {
        let s = SharedConfig::new(Config::default(), None);
        let bad = vec![
            ("hz".to_string(), "20".to_string()),
            ("maxclients".into(), "x".into()),
        ];
        assert!(s.set_many(&bad).is_err());
        assert_eq!(s.get().hz, 10);
        let dup = vec![
            ("hz".to_string(), "20".to_string()),
            ("HZ".into(), "30".into()),
        ];
        assert!(s
            .set_many(&dup)
            .unwrap_err()
            .config_set_reply()
            .contains("duplicate parameter"));
        s.set_many(&[("hz".into(), "20".into())]).unwrap();
        assert_eq!(s.get().hz, 20);
    }
}
