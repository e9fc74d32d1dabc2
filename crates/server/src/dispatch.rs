//! Routing one parsed request: lookup in the keyspace's command table,
//! arity, authentication, MULTI queueing; data commands go to the engine
//! batch, server-level commands (connection, transactions, introspection)
//! are answered here.
//!
//! Why the checks live here and not in the keyspace: they depend on the
//! connection (auth, MULTI), and a request rejected here never reaches the
//! replicated log. The order of checks is Redis's `processCommand`: unknown
//! command, arity, auth, then MULTI queueing; a rejected command inside MULTI
//! poisons the transaction (EXECABORT).

use std::io;

use bytes::Bytes;
use slotraft_resp::{Protocol, Reply};

use crate::conn::{Conn, ReplyMode};
use crate::engine::{Cmd, Engine};
use crate::ks::{self, Argv, CommandSpec};

/// The Redis version slotraft reports (clients gate features on it).
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// CLIENT subcommands the server implements that the keyspace's generated
/// table does not list yet (UNBLOCK is Redis 7.0). SETINFO and NO-TOUCH
/// are 7.2: like Redis 7.0.15, slotraft answers them "unknown subcommand".
/// TODO(integration): drop once the keyspace table has them.
const EXTRA_CLIENT_SUBCOMMANDS: &[&str] = &["unblock"];

/// Redis cuts the unknown-command / unknown-subcommand texts at this many
/// bytes (`%.128s`).
const ERROR_ARG_PREVIEW: usize = 128;

/// The `client` container spec for one of [`EXTRA_CLIENT_SUBCOMMANDS`]
/// (arity is then checked by `cmd_client`).
fn extra_client_subcommand(argv: &Argv) -> Option<&'static CommandSpec> {
    let sub = argv.get(1).map(|s| lower(s))?;
    if argv[0].eq_ignore_ascii_case(b"client") && EXTRA_CLIENT_SUBCOMMANDS.contains(&sub.as_str()) {
        ks::lookup(b"client")
    } else if argv[0].eq_ignore_ascii_case(b"cluster")
        && crate::cmd_cluster::INTERNAL_SUBCOMMANDS.contains(&sub.as_str())
    {
        ks::lookup(b"cluster")
    } else {
        None
    }
}

/// Whether the request names EXEC (a rejected EXEC also ends the
/// transaction). Only asked on the rare rejection paths.
fn is_exec(argv: &Argv) -> bool {
    ks::lookup(&argv[0]).is_some_and(|c| c.name == "exec")
}

/// Commands that may run before AUTH.
fn allowed_unauthenticated(name: &str) -> bool {
    matches!(name, "auth" | "hello" | "quit" | "reset")
}

/// Commands executed immediately even inside MULTI.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

pub fn wrong_arity(fullname: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{fullname}' command"
    ))
}

/// An argument as C's `%s` prints it: cut at the first NUL, other bytes
/// raw (Redis builds these error texts with printf).
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |nul| &b[..nul])
}

/// An error reply from raw bytes, with CR/LF mapped to spaces as Redis's
/// `rejectCommandFormat` does (the bytes come from the user).
fn raw_error(mut msg: Vec<u8>) -> Reply {
    for c in &mut msg {
        if *c == b'\r' || *c == b'\n' {
            *c = b' ';
        }
    }
    Reply::Error(Bytes::from(msg))
}

/// An error whose text quotes a user argument as Redis's `%s` does:
/// `prefix`, the argument cut at NUL (other bytes raw), `suffix`.
pub fn error_with_arg(prefix: &str, arg: &[u8], suffix: &str) -> Reply {
    let mut msg = prefix.as_bytes().to_vec();
    msg.extend_from_slice(c_str(arg));
    msg.extend_from_slice(suffix.as_bytes());
    raw_error(msg)
}

/// Redis 7.0's "unknown subcommand" error, built from the bytes.
pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> Reply {
    let sub = c_str(sub);
    let mut msg = b"ERR unknown subcommand '".to_vec();
    msg.extend_from_slice(&sub[..sub.len().min(ERROR_ARG_PREVIEW)]);
    msg.extend_from_slice(format!("'. Try {} HELP.", cmd.to_ascii_uppercase()).as_bytes());
    raw_error(msg)
}

/// Redis 7.0's "unknown command" error, built from the bytes: the name and
/// each argument cut at NUL, at most 128 bytes of quoted arguments.
pub fn unknown_command(argv: &[Bytes]) -> Reply {
    let name = argv.first().map_or(&b""[..], |n| c_str(n));
    let mut args: Vec<u8> = Vec::new();
    for a in argv.iter().skip(1) {
        if args.len() >= ERROR_ARG_PREVIEW {
            break;
        }
        let a = c_str(a);
        let room = ERROR_ARG_PREVIEW - args.len();
        args.push(b'\'');
        args.extend_from_slice(&a[..a.len().min(room)]);
        args.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(&name[..name.len().min(ERROR_ARG_PREVIEW)]);
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&args);
    raw_error(msg)
}

/// The spec running `argv`: the keyspace table, or one of
/// [`EXTRA_CLIENT_SUBCOMMANDS`]. On error, Redis's exact reply: unknown
/// command and unknown subcommand are rebuilt here from the raw bytes (the
/// keyspace's texts are UTF-8-lossy), arity errors are the keyspace's.
pub fn resolve(argv: &Argv) -> Result<&'static CommandSpec, Reply> {
    let err = match ks::resolve(argv) {
        Ok(spec) => return Ok(spec),
        Err(e) => e,
    };
    if let Some(spec) = extra_client_subcommand(argv) {
        return Ok(spec);
    }
    let Some(cmd) = ks::lookup(&argv[0]) else {
        return Err(unknown_command(argv));
    };
    match argv.get(1) {
        Some(sub) if !cmd.subcommands.is_empty() && cmd.subcommand(sub).is_none() => {
            Err(unknown_subcommand(sub, cmd.name))
        }
        _ => Err(err),
    }
}

/// Longest command name [`CommandMemo`] remembers.
pub const MEMO_NAME_MAX: usize = 16;

/// A connection's memo of the last command it resolved, by its exact name
/// bytes: a pipelined client repeats the same command, and comparing a few
/// bytes is much cheaper than a case-insensitive table lookup. Only
/// top-level commands without subcommands are remembered (their spec
/// depends on the name alone; arity is still checked every time).
#[derive(Default)]
pub struct CommandMemo {
    name: [u8; MEMO_NAME_MAX],
    len: usize,
    spec: Option<&'static CommandSpec>,
}

impl CommandMemo {
    /// The spec running `argv` ([`resolve`]'s answer), from the memo when
    /// `argv[0]` is the remembered name and the arity fits.
    pub fn resolve(&mut self, argv: &Argv) -> Result<&'static CommandSpec, Reply> {
        let name = &argv[0][..];
        if let Some(spec) = self.spec {
            if name == &self.name[..self.len] && spec.check_arity(argv.len()).is_ok() {
                return Ok(spec);
            }
        }
        let spec = resolve(argv)?;
        if spec.subcommands.is_empty() && !spec.name.contains('|') && name.len() <= MEMO_NAME_MAX {
            self.name[..name.len()].copy_from_slice(name);
            self.len = name.len();
            self.spec = Some(spec);
        }
        Ok(spec)
    }
}

/// EXEC rejected before running (arity, auth): Redis's `execCommandAbort`
/// text, "EXECABORT Transaction discarded because of: <error without ERR>".
fn exec_abort(r: Reply) -> Reply {
    let Reply::Error(e) = r else {
        return r;
    };
    let e = e.strip_prefix(b"ERR ").unwrap_or(&e);
    let mut msg = b"EXECABORT Transaction discarded because of: ".to_vec();
    msg.extend_from_slice(e);
    raw_error(msg)
}

pub fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

pub fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// Parses an integer argument as Redis's `string2ll` does.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty()
        || s.starts_with('+')
        || (s.len() > 1 && s.starts_with('0'))
        || s.starts_with("-0")
    {
        return None;
    }
    s.parse().ok()
}

/// Lower-case ASCII of an argument (subcommand and option names).
pub fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Constant-time comparison for passwords.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<E: Engine> Conn<E> {
    /// Routes one request (see the module doc for the order of checks).
    pub async fn handle(&mut self, argv: Argv) -> io::Result<()> {
        debug_assert!(!argv.is_empty(), "the parser never yields an empty request");
        // Unknown command / subcommand and arity, with Redis's texts.
        let spec = match self.memo.resolve(&argv) {
            Ok(spec) => spec,
            Err(e) => return self.reject(e, is_exec(&argv)).await,
        };
        if !self.sess.authed && !allowed_unauthenticated(ks::top_name(spec)) {
            return self
                .reject(
                    Reply::error("NOAUTH Authentication required."),
                    is_exec(&argv),
                )
                .await;
        }
        self.current_cmd = spec.name;
        if self.sess.multi.is_some() && !runs_inside_multi(ks::top_name(spec)) {
            self.sess.multi.as_mut().expect("checked").push(argv);
            self.info.meta.lock().multi = self.sess.multi.as_ref().map(Vec::len);
            self.emit(&Reply::QUEUED);
            return Ok(());
        }
        if ks::is_server(spec) {
            self.run_pending().await?;
            let r = self.server_command(spec, &argv).await;
            self.emit(&r);
        } else {
            self.push_pending(Cmd { argv, spec });
        }
        Ok(())
    }

    /// Replies with an error; inside MULTI it also poisons the transaction.
    /// A rejected EXEC instead discards the transaction and the watched
    /// keys, in or out of MULTI (Redis's `rejectCommand` →
    /// `execCommandAbort`).
    async fn reject(&mut self, r: Reply, is_exec: bool) -> io::Result<()> {
        self.run_pending().await?;
        if is_exec {
            self.end_multi();
            self.unwatch();
            self.emit(&exec_abort(r));
            return Ok(());
        }
        if self.sess.multi.is_some() {
            self.sess.multi_dirty = true;
        }
        self.emit(&r);
        Ok(())
    }

    /// Server-level commands (handler kind `Server` in the command table).
    pub async fn server_command(&mut self, spec: &'static CommandSpec, argv: &Argv) -> Reply {
        match ks::top_name(spec) {
            "multi" => self.cmd_multi(),
            "exec" => self.cmd_exec().await,
            "discard" => self.cmd_discard(),
            "watch" => self.cmd_watch(argv).await,
            "cluster" if self.server.engine.cluster_enabled() => {
                self.server.engine.cluster_command(argv).await
            }
            n @ ("readonly" | "readwrite") if self.server.engine.cluster_enabled() => {
                self.sess.flags.readonly = n == "readonly";
                Reply::OK
            }
            "asking" if self.server.engine.cluster_enabled() => {
                self.sess.flags.asking = true;
                Reply::OK
            }
            name => self.simple_server_command(name, argv),
        }
    }

    /// Server commands that are also valid inside EXEC (no await needed).
    fn simple_server_command(&mut self, name: &str, argv: &Argv) -> Reply {
        match name {
            "ping" => match argv.len() {
                1 => Reply::simple("PONG"),
                2 => Reply::Bulk(argv[1].clone()),
                _ => wrong_arity("ping"),
            },
            "echo" => Reply::Bulk(argv[1].clone()),
            "quit" => {
                self.sess.close = true;
                Reply::OK
            }
            "reset" => self.cmd_reset(),
            // Also queued inside MULTI, where Redis answers +OK in EXEC.
            "unwatch" => {
                self.unwatch();
                Reply::OK
            }
            "select" => match parse_i64(&argv[1]) {
                None => not_an_integer(),
                Some(0) => Reply::OK,
                Some(_) => Reply::error("ERR DB index is out of range"),
            },
            "auth" => self.cmd_auth(argv),
            "hello" => self.cmd_hello(argv),
            "time" => cmd_time(),
            "client" => self.cmd_client(argv),
            "config" => self.cmd_config(argv),
            "info" => self.cmd_info(argv),
            "command" => self.cmd_command(argv),
            "shutdown" => self.cmd_shutdown(argv),
            "lastsave" => Reply::Int(
                (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    - self.server.started.elapsed())
                .as_secs() as i64,
            ),
            "cluster" | "readonly" | "readwrite" | "asking" => {
                Reply::error(crate::engine::CLUSTER_DISABLED)
            }
            // Commands the keyspace marks server-level but slotraft does not
            // implement yet: say so honestly rather than pretend.
            other => Reply::error(format!(
                "ERR command '{other}' is not supported by slotraft"
            )),
        }
    }

    /// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]: the same graceful path as
    /// SIGTERM (with `--dir` the snapshot is saved; NOSAVE/SAVE/NOW/FORCE
    /// are accepted and change nothing). No reply on success: the
    /// connection closes, as in Redis.
    fn cmd_shutdown(&mut self, argv: &Argv) -> Reply {
        for a in &argv[1..] {
            match lower(a).as_str() {
                "nosave" | "save" | "now" | "force" => {}
                "abort" => return Reply::error("ERR No shutdown in progress."),
                _ => return syntax_error(),
            }
        }
        self.server.shutdown_request.notify_one();
        self.sess.close = true;
        self.sess.reply_mode = ReplyMode::Off;
        Reply::OK
    }

    fn cmd_multi(&mut self) -> Reply {
        if self.sess.multi.is_some() {
            return Reply::error("ERR MULTI calls can not be nested");
        }
        self.sess.multi = Some(Vec::new());
        self.sess.multi_dirty = false;
        self.info.meta.lock().multi = Some(0);
        Reply::OK
    }

    fn cmd_discard(&mut self) -> Reply {
        if self.sess.multi.is_none() {
            return Reply::error("ERR DISCARD without MULTI");
        }
        self.end_multi();
        self.unwatch();
        Reply::OK
    }

    fn end_multi(&mut self) {
        self.sess.multi = None;
        self.sess.multi_dirty = false;
        self.info.meta.lock().multi = None;
    }

    fn unwatch(&mut self) {
        self.sess.watched.clear();
        self.info.meta.lock().watching = 0;
    }

    async fn cmd_watch(&mut self, argv: &Argv) -> Reply {
        if self.sess.multi.is_some() {
            return Reply::error("ERR WATCH inside MULTI is not allowed");
        }
        let keys: Vec<Bytes> = argv[1..]
            .iter()
            .filter(|k| !self.sess.watched.iter().any(|(w, _)| w == *k))
            .cloned()
            .collect();
        let versions = match self
            .server
            .engine
            .watch_versions(self.sess.flags, &keys)
            .await
        {
            Ok(v) => v,
            Err(e) => return e,
        };
        self.sess.watched.extend(keys.into_iter().zip(versions));
        self.info.meta.lock().watching = self.sess.watched.len();
        Reply::OK
    }

    /// EXEC: data commands run atomically in the engine; server commands
    /// queued alongside (PING, ECHO, TIME, ...) are answered in place.
    async fn cmd_exec(&mut self) -> Reply {
        let Some(queued) = self.sess.multi.take() else {
            return Reply::error("ERR EXEC without MULTI");
        };
        let dirty = self.sess.multi_dirty;
        self.end_multi();
        let watched = std::mem::take(&mut self.sess.watched);
        self.unwatch();
        if dirty {
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        let server_side: Vec<bool> = queued
            .iter()
            .map(|a| {
                resolve(a)
                    .map(ks::is_server)
                    .expect("validated when queued")
            })
            .collect();
        let data: Vec<Argv> = queued
            .iter()
            .zip(&server_side)
            .filter(|(_, s)| !**s)
            .map(|(a, _)| a.clone())
            .collect();
        let data_replies = if data.is_empty() && watched.is_empty() {
            Reply::Array(Vec::new())
        } else {
            // Also for server-only transactions, so WATCH is honoured.
            self.server
                .engine
                .exec_multi(self.sess.flags, &data, &watched)
                .await
        };
        let Reply::Array(data_replies) = data_replies else {
            return data_replies; // NullArray: a watched key changed
        };
        let mut data_replies = data_replies.into_iter();
        let mut out = Vec::with_capacity(queued.len());
        for (argv, server) in queued.iter().zip(server_side) {
            let r = if server {
                let spec = resolve(argv).expect("validated when queued");
                self.simple_server_command(ks::top_name(spec), argv)
            } else {
                data_replies.next().expect("one reply per data command")
            };
            out.push(r);
        }
        Reply::Array(out)
    }

    fn cmd_reset(&mut self) -> Reply {
        self.end_multi();
        self.unwatch();
        self.sess.proto = Protocol::Resp2;
        self.sess.reply_mode = ReplyMode::On;
        self.sess.flags = Default::default();
        self.sess.authed = self.cfg.requirepass.is_none();
        self.info.set_proto(Protocol::Resp2);
        let mut m = self.info.meta.lock();
        m.name.clear();
        Reply::simple("RESET")
    }

    /// Checks a user/password pair against `requirepass` (user "default").
    fn check_password(&self, user: &[u8], pass: &[u8]) -> bool {
        if !user.eq_ignore_ascii_case(b"default") {
            return false;
        }
        match &self.cfg.requirepass {
            None => true,
            Some(p) => secure_eq(p.as_bytes(), pass),
        }
    }

    fn cmd_auth(&mut self, argv: &Argv) -> Reply {
        let (user, pass): (&[u8], &[u8]) = match argv.len() {
            2 => (b"default", &argv[1]),
            3 => (&argv[1], &argv[2]),
            _ => return syntax_error(),
        };
        if argv.len() == 2 && self.cfg.requirepass.is_none() {
            return Reply::error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
        }
        if self.check_password(user, pass) {
            self.sess.authed = true;
            Reply::OK
        } else {
            Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    fn cmd_hello(&mut self, argv: &Argv) -> Reply {
        let mut proto = self.sess.proto;
        if argv.len() >= 2 {
            match parse_i64(&argv[1]) {
                Some(2) => proto = Protocol::Resp2,
                Some(3) => proto = Protocol::Resp3,
                Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
                None => {
                    return Reply::error("ERR Protocol version is not an integer or out of range")
                }
            }
        }
        let mut auth: Option<(&Bytes, &Bytes)> = None;
        let mut setname: Option<&Bytes> = None;
        let mut i = 2;
        while i < argv.len() {
            let more = argv.len() - i - 1;
            match lower(&argv[i]).as_str() {
                "auth" if more >= 2 => {
                    auth = Some((&argv[i + 1], &argv[i + 2]));
                    i += 3;
                }
                "setname" if more >= 1 => {
                    setname = Some(&argv[i + 1]);
                    i += 2;
                }
                _ => return error_with_arg("ERR Syntax error in HELLO option '", &argv[i], "'"),
            }
        }
        if let Some((u, p)) = auth {
            if !self.check_password(u, p) {
                return Reply::error(
                    "WRONGPASS invalid username-password pair or user is disabled.",
                );
            }
            self.sess.authed = true;
        }
        if !self.sess.authed {
            return Reply::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if let Some(name) = setname {
            if let Err(e) = self.set_client_name(name) {
                return e;
            }
        }
        self.sess.proto = proto;
        self.info.set_proto(proto);
        let s = |t: &'static str| Reply::Bulk(Bytes::from_static(t.as_bytes()));
        Reply::Map(vec![
            (s("server"), s("redis")),
            (s("version"), s(REDIS_COMPAT_VERSION)),
            (
                s("proto"),
                Reply::Int(if proto == Protocol::Resp3 { 3 } else { 2 }),
            ),
            (s("id"), Reply::Int(self.sess.id as i64)),
            (
                s("mode"),
                s(if self.server.engine.cluster_enabled() {
                    "cluster"
                } else {
                    "standalone"
                }),
            ),
            (s("role"), s("master")),
            (s("modules"), Reply::Array(Vec::new())),
        ])
    }

    fn cmd_config(&mut self, argv: &Argv) -> Reply {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "get" => {
                if argv.len() < 3 {
                    return wrong_arity("config|get");
                }
                let pats: Vec<&[u8]> = argv[2..].iter().map(|b| b.as_ref()).collect();
                let pairs = self.server.config.get().get_matching(&pats);
                Reply::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (Reply::bulk(k), Reply::bulk(v)))
                        .collect(),
                )
            }
            "set" => {
                if argv.len() < 4 || !argv.len().is_multiple_of(2) {
                    return wrong_arity("config|set");
                }
                let pairs: Vec<(String, String)> = argv[2..]
                    .chunks(2)
                    .map(|kv| {
                        (
                            String::from_utf8_lossy(&kv[0]).into_owned(),
                            String::from_utf8_lossy(&kv[1]).into_owned(),
                        )
                    })
                    .collect();
                match self.server.config.set_many(&pairs) {
                    Ok(()) => {
                        self.cfg = self.server.config.get();
                        crate::logging::apply_loglevel(&self.cfg.loglevel);
                        Reply::OK
                    }
                    Err(crate::config::SetError::Unknown(n)) => {
                        // Quote the name's raw bytes, as Redis's `%s`.
                        let raw = argv[2..]
                            .iter()
                            .step_by(2)
                            .find(|k| String::from_utf8_lossy(k) == n.as_str())
                            .map_or(n.as_bytes(), |k| &k[..]);
                        error_with_arg(
                            "ERR Unknown option or number of arguments for CONFIG SET - '",
                            raw,
                            "'",
                        )
                    }
                    Err(e) => Reply::error(e.config_set_reply()),
                }
            }
            "resetstat" if argv.len() == 2 => {
                self.server.stats.reset();
                Reply::OK
            }
            "rewrite" if argv.len() == 2 => match &self.server.config.file {
                None => Reply::error("ERR The server is running without a config file"),
                Some(path) => match std::fs::write(path, self.server.config.get().render()) {
                    Ok(()) => Reply::OK,
                    Err(e) => Reply::error(format!("ERR Rewriting config file: {e}")),
                },
            },
            "resetstat" | "rewrite" => wrong_arity(&format!("config|{sub}")),
            "help" => help(&[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Print this help.",
            ]),
            _ => unknown_subcommand(&argv[1], "config"),
        }
    }
}

pub fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::simple(l)).collect())
}

fn cmd_time() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-3"), Some(-3));
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b""), None);
    }

    fn words(w: &[&'static str]) -> Argv {
        w.iter().map(|s| Bytes::from_static(s.as_bytes())).collect()
    }

    #[test]
    fn memo_answers_like_resolve() {
        let mut memo = CommandMemo::default();
        let cases: &[&[&'static str]] = &[
            &["SET", "k", "v"],
            &["SET", "k", "v"],
            &["SET", "k"],
            &["set", "k", "v", "EX", "1"],
            &["GET", "k"],
            &["GET", "k", "x"],
            &["GET", "k"],
            &["client", "list"],
            &["client", "nosuch"],
            &["client", "list"],
            &["nosuch", "a"],
            &["GET", "k"],
        ];
        for argv in cases {
            let argv = words(argv);
            let want = resolve(&argv).map(|s| s.name);
            assert_eq!(memo.resolve(&argv).map(|s| s.name), want, "{argv:?}");
        }
        assert_eq!(memo.spec.map(|s| s.name), Some("get"));
        let long = words(&["averyveryverylongcommandname", "x"]);
        assert!(memo.resolve(&long).is_err());
        assert_eq!(
            memo.spec.map(|s| s.name),
            Some("get"),
            "errors are not remembered"
        );
    }

    fn err_bytes(r: Reply) -> Vec<u8> {
        match r {
            Reply::Error(e) => e.to_vec(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn unknown_command_text_is_c_strings_and_raw_bytes() {
        let argv = vec![Bytes::from_static(b"PI\x00G")];
        assert_eq!(
            err_bytes(unknown_command(&argv)),
            b"ERR unknown command 'PI', with args beginning with: "
        );
        let argv = vec![
            Bytes::from_static(b"NO\xff"),
            Bytes::from_static(b"\x00\xff\r\n"),
            Bytes::from_static(b"a\xffb\r\nc"),
        ];
        assert_eq!(
            err_bytes(unknown_command(&argv)),
            b"ERR unknown command 'NO\xff', with args beginning with: '' 'a\xffb  c' "
        );
        // At most 128 bytes of quoted arguments, the last one cut to fit.
        let long = Bytes::from(vec![b'x'; 200]);
        let e = err_bytes(unknown_command(&[
            Bytes::from_static(b"n"),
            long.clone(),
            long,
        ]));
        let prefix = b"ERR unknown command 'n', with args beginning with: ".len();
        assert_eq!(e.len() - prefix, 128 + 3);
    }

    #[test]
    fn quoted_argument_is_a_c_string() {
        assert_eq!(
            err_bytes(error_with_arg("ERR x '", b"a\xff\r\x00b", "'")),
            b"ERR x 'a\xff '"
        );
    }

    #[test]
    fn unknown_subcommand_is_cut_at_nul() {
        assert_eq!(
            err_bytes(unknown_subcommand(b"\xffa\x00b", "client")),
            b"ERR unknown subcommand '\xffa'. Try CLIENT HELP."
        );
    }

    #[test]
    fn rejected_exec_text() {
        assert_eq!(
            err_bytes(exec_abort(wrong_arity("exec"))),
            b"EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
        );
        assert_eq!(
            err_bytes(exec_abort(Reply::error("NOAUTH Authentication required."))),
            b"EXECABORT Transaction discarded because of: NOAUTH Authentication required."
        );
    }

    #[test]
    fn secure_eq_works() {
        assert!(secure_eq(b"abc", b"abc"));
        assert!(!secure_eq(b"abc", b"abd"));
        assert!(!secure_eq(b"abc", b"ab"));
    }
}
