//! The CLIENT command family.
//!
//! Why here and not in the keyspace: it is about connections, not data. It
//! reads other clients through the [`crate::clients::Clients`] registry and
//! never touches their sockets (CLIENT KILL only raises a flag).

use bytes::Bytes;
use slotraft_resp::Reply;

use crate::conn::{Conn, ReplyMode};
use crate::dispatch::{
    error_with_arg, help, lower, parse_i64, syntax_error, unknown_subcommand, wrong_arity,
};
use crate::engine::Engine;
use crate::ks::Argv;

/// Redis rejects names with spaces, newlines or other characters outside
/// '!'..='~'.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

impl<E: Engine> Conn<E> {
    pub fn set_client_name(&mut self, name: &Bytes) -> Result<(), Reply> {
        if !valid_client_name(name) {
            return Err(Reply::error(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        self.info.meta.lock().name = String::from_utf8_lossy(name).into_owned();
        Ok(())
    }

    pub fn cmd_client(&mut self, argv: &Argv) -> Reply {
        let sub = lower(&argv[1]);
        let n = argv.len();
        let arity = |ok: bool| {
            if ok {
                None
            } else {
                Some(wrong_arity(&format!("client|{sub}")))
            }
        };
        let check = match sub.as_str() {
            "id" | "getname" | "info" => arity(n == 2),
            "setname" => arity(n == 3),
            "list" => arity(n == 2 || n >= 4),
            "kill" => arity(n >= 3),
            "no-evict" | "reply" => arity(n == 3),
            // Redis 7.0's clientCommand answers extra UNBLOCK arguments so.
            "unblock" if n > 4 => Some(Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&argv[1])
            ))),
            "unblock" => arity(n >= 3),
            _ => None,
        };
        if let Some(err) = check {
            return err;
        }
        match sub.as_str() {
            "id" => Reply::Int(self.sess.id as i64),
            "setname" => match self.set_client_name(&argv[2]) {
                Ok(()) => Reply::OK,
                Err(e) => e,
            },
            "getname" => {
                let name = self.info.meta.lock().name.clone();
                if name.is_empty() {
                    Reply::Null
                } else {
                    Reply::bulk(name)
                }
            }
            "info" => Reply::Verbatim(
                "txt",
                Bytes::from(self.info.list_line(Some("client|info")) + "\n"),
            ),
            "list" => self.client_list(argv),
            "kill" => self.client_kill(argv),
            "no-evict" => match lower(&argv[2]).as_str() {
                "on" | "off" => Reply::OK,
                _ => syntax_error(),
            },
            "reply" => match lower(&argv[2]).as_str() {
                "on" => {
                    self.sess.reply_mode = ReplyMode::On;
                    Reply::OK
                }
                "off" => {
                    self.sess.reply_mode = ReplyMode::Off;
                    Reply::OK
                }
                "skip" => {
                    // This command's own reply is suppressed too.
                    self.sess.reply_mode = ReplyMode::SkipArmed;
                    Reply::OK
                }
                _ => syntax_error(),
            },
            "unblock" => self.client_unblock(argv),
            "help" => help(&[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "GETNAME",
                "SETNAME <name>",
                "INFO",
                "LIST [TYPE normal] [ID id ...]",
                "KILL <ip:port> | KILL <option> <value> [...]",
                "NO-EVICT (ON|OFF)",
                "REPLY (ON|OFF|SKIP)",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "HELP",
            ]),
            _ => unknown_subcommand(&argv[1], "client"),
        }
    }

    fn client_list(&self, argv: &Argv) -> Reply {
        let mut ids: Option<Vec<u64>> = None;
        let mut i = 2;
        while i < argv.len() {
            match lower(&argv[i]).as_str() {
                "type" if i + 1 < argv.len() => {
                    let t = lower(&argv[i + 1]);
                    match t.as_str() {
                        "normal" => {}
                        "master" | "replica" | "slave" | "pubsub" => ids = Some(Vec::new()),
                        _ => return error_with_arg("ERR Unknown client type '", &argv[i + 1], "'"),
                    }
                    i += 2;
                }
                "id" if i + 1 < argv.len() => {
                    let mut v = Vec::new();
                    for a in &argv[i + 1..] {
                        match parse_i64(a) {
                            Some(id) if id > 0 => v.push(id as u64),
                            _ => return Reply::error("ERR Invalid client ID"),
                        }
                    }
                    ids = Some(v);
                    i = argv.len();
                }
                _ => return syntax_error(),
            }
        }
        let mut text = String::new();
        for c in self.server.clients.all() {
            if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
                continue;
            }
            let cur = (c.id == self.sess.id).then_some("client|list");
            text.push_str(&c.list_line(cur));
            text.push('\n');
        }
        Reply::Verbatim("txt", Bytes::from(text))
    }

    /// `CLIENT KILL ip:port` (old form) or `CLIENT KILL <filter> <value> ...`.
    fn client_kill(&self, argv: &Argv) -> Reply {
        let all = self.server.clients.all();
        if argv.len() == 3 {
            let addr = String::from_utf8_lossy(&argv[2]).into_owned();
            return match all.iter().find(|c| c.addr.to_string() == addr) {
                Some(c) => {
                    c.kill();
                    Reply::OK
                }
                None => Reply::error("ERR No such client"),
            };
        }
        if !argv.len().is_multiple_of(2) {
            return syntax_error();
        }
        let mut skipme = true;
        let mut filters: Vec<(String, String)> = Vec::new();
        for kv in argv[2..].chunks(2) {
            let k = lower(&kv[0]);
            let v = String::from_utf8_lossy(&kv[1]).into_owned();
            match k.as_str() {
                "skipme" => match v.to_ascii_lowercase().as_str() {
                    "yes" => skipme = true,
                    "no" => skipme = false,
                    _ => return syntax_error(),
                },
                "id" => {
                    if parse_i64(&kv[1]).is_none_or(|n| n <= 0) {
                        return Reply::error("ERR client-id should be greater than 0");
                    }
                    filters.push((k, v));
                }
                "addr" | "laddr" | "user" | "type" | "maxage" => filters.push((k, v)),
                _ => return syntax_error(),
            }
        }
        let mut killed = 0;
        for c in &all {
            if skipme && c.id == self.sess.id {
                continue;
            }
            let matches = filters.iter().all(|(k, v)| match k.as_str() {
                "id" => c.id.to_string() == *v,
                "addr" => c.addr.to_string() == *v,
                "laddr" => c.laddr.to_string() == *v,
                "user" => v == "default",
                "type" => v.eq_ignore_ascii_case("normal"),
                "maxage" => v
                    .parse::<u64>()
                    .is_ok_and(|age| c.created.elapsed().as_secs() >= age),
                _ => false,
            });
            if matches {
                c.kill();
                killed += 1;
            }
        }
        Reply::Int(killed)
    }

    /// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if that client was parked.
    fn client_unblock(&self, argv: &Argv) -> Reply {
        let Some(id) = parse_i64(&argv[2]) else {
            return Reply::error("ERR value is not an integer or out of range");
        };
        let error = match argv.get(3).map(|a| lower(a)) {
            None => false,
            Some(m) if m == "timeout" => false,
            Some(m) if m == "error" => true,
            Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        };
        let Ok(id) = u64::try_from(id) else {
            return Reply::Int(0);
        };
        Reply::Int(i64::from(self.server.engine.unblock_with(id, error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        assert!(valid_client_name(b"worker-1"));
        assert!(!valid_client_name(b"a b"));
        assert!(!valid_client_name(b"a\nb"));
        assert!(valid_client_name(b""));
    }
}
