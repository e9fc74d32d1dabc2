//! The COMMAND family, generated from the keyspace's command table.
//!
//! Why generated: clients (redis-cli hints, cluster clients finding key
//! positions, redis-py) call COMMAND at connect; one table in the keyspace
//! is the single source of truth for names, arity, flags and key positions.

use bytes::Bytes;
use slotraft_resp::Reply;

use crate::conn::Conn;
use crate::dispatch::{lower, unknown_subcommand, wrong_arity};
use crate::engine::Engine;
use crate::ks::{self, Argv, CommandSpec};

fn simple(s: &'static str) -> Reply {
    Reply::Simple(Bytes::from_static(s.as_bytes()))
}

/// One entry of COMMAND INFO (Redis 7 layout: name, arity, flags,
/// first key, last key, step, ACL categories, tips, key specs, subcommands).
fn info_entry(c: &CommandSpec) -> Reply {
    let flags: Vec<Reply> = ks::flag_names(c).into_iter().map(simple).collect();
    Reply::Array(vec![
        Reply::bulk(c.name),
        Reply::Int(c.arity as i64),
        Reply::Set(flags),
        Reply::Int(c.first_key as i64),
        Reply::Int(c.last_key as i64),
        Reply::Int(c.step as i64),
        Reply::Set(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn docs_entry(c: &CommandSpec) -> (Reply, Reply) {
    let s = |t: &'static str| Reply::Bulk(Bytes::from_static(t.as_bytes()));
    (
        Reply::bulk(c.name),
        Reply::Map(vec![
            (s("summary"), s("")),
            (s("since"), s("1.0.0")),
            (s("group"), s(if c.handler == ks::Handler::Server { "server" } else { "generic" })),
        ]),
    )
}

impl<E: Engine> Conn<E> {
    pub fn cmd_command(&self, argv: &Argv) -> Reply {
        let all = ks::commands();
        if argv.len() == 1 {
            return Reply::Array(all.iter().map(info_entry).collect());
        }
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "count" if argv.len() == 2 => Reply::Int(all.len() as i64),
            "list" => Reply::Array(all.iter().map(|c| Reply::bulk(c.name)).collect()),
            "info" => {
                if argv.len() == 2 {
                    return Reply::Array(all.iter().map(info_entry).collect());
                }
                Reply::Array(
                    argv[2..].iter().map(|n| ks::lookup(n).map(info_entry).unwrap_or(Reply::NullArray)).collect(),
                )
            }
            "docs" => {
                if argv.len() == 2 {
                    return Reply::Map(all.iter().map(docs_entry).collect());
                }
                Reply::Map(argv[2..].iter().filter_map(|n| ks::lookup(n)).map(docs_entry).collect())
            }
            "getkeys" => {
                if argv.len() < 3 {
                    return wrong_arity("command|getkeys");
                }
                let target: Argv = argv[2..].to_vec();
                let Some(spec) = ks::lookup(&target[0]) else {
                    return Reply::error("ERR Invalid command specified");
                };
                if !crate::dispatch::arity_ok(spec.arity, target.len()) {
                    return Reply::error("ERR Invalid number of arguments specified for command");
                }
                let keys = ks::command_keys(&target);
                if keys.is_empty() {
                    return Reply::error("ERR The command has no key arguments");
                }
                Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
            }
            "count" => wrong_arity("command|count"),
            _ => unknown_subcommand(&argv[1], "command"),
        }
    }
}
