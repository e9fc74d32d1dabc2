//! The COMMAND family, generated from the keyspace's command table.
//!
//! Why generated: clients (redis-cli hints, cluster clients finding key
//! positions, redis-py) call COMMAND at connect; one table in the keyspace
//! (produced from Redis 7.0's own metadata) is the single source of truth
//! for names, arity, flags, ACL categories and key specs.

use bytes::Bytes;
use slotraft_keyspace::cmd::{Begin, Find, KeySpec};
use slotraft_resp::Reply;

use crate::conn::Conn;
use crate::dispatch::{lower, unknown_subcommand, wrong_arity};
use crate::engine::Engine;
use crate::ks::{self, Argv, CommandSpec};

fn status(s: &'static str) -> Reply {
    Reply::Simple(Bytes::from_static(s.as_bytes()))
}

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn statuses(v: &'static [&'static str]) -> Reply {
    Reply::Set(v.iter().map(|s| status(s)).collect())
}

fn key_spec(k: &KeySpec) -> Reply {
    let begin = match k.begin {
        Begin::Index(i) => Reply::Map(vec![
            (bulk("type"), bulk("index")),
            (
                bulk("spec"),
                Reply::Map(vec![(bulk("index"), Reply::Int(i))]),
            ),
        ]),
        Begin::Keyword(kw, from) => Reply::Map(vec![
            (bulk("type"), bulk("keyword")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("keyword"), bulk(kw)),
                    (bulk("startfrom"), Reply::Int(from)),
                ]),
            ),
        ]),
        Begin::Unknown => Reply::Map(vec![
            (bulk("type"), bulk("unknown")),
            (bulk("spec"), Reply::Map(vec![])),
        ]),
    };
    let find = match k.find {
        Find::Range {
            lastkey,
            keystep,
            limit,
        } => Reply::Map(vec![
            (bulk("type"), bulk("range")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("lastkey"), Reply::Int(lastkey)),
                    (bulk("keystep"), Reply::Int(keystep)),
                    (bulk("limit"), Reply::Int(limit)),
                ]),
            ),
        ]),
        Find::KeyNum {
            keynumidx,
            firstkey,
            keystep,
        } => Reply::Map(vec![
            (bulk("type"), bulk("keynum")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("keynumidx"), Reply::Int(keynumidx)),
                    (bulk("firstkey"), Reply::Int(firstkey)),
                    (bulk("keystep"), Reply::Int(keystep)),
                ]),
            ),
        ]),
        Find::Unknown => Reply::Map(vec![
            (bulk("type"), bulk("unknown")),
            (bulk("spec"), Reply::Map(vec![])),
        ]),
    };
    Reply::Map(vec![
        (bulk("flags"), statuses(k.flags)),
        (bulk("begin_search"), begin),
        (bulk("find_keys"), find),
    ])
}

/// One entry of COMMAND INFO (Redis 7 layout: name, arity, flags, first
/// key, last key, step, ACL categories, tips, key specs, subcommands).
fn info_entry(c: &CommandSpec) -> Reply {
    Reply::Array(vec![
        bulk(c.name),
        Reply::Int(c.arity as i64),
        statuses(c.flags),
        Reply::Int(c.first_key as i64),
        Reply::Int(c.last_key as i64),
        Reply::Int(c.step as i64),
        statuses(c.acl),
        Reply::Set(c.meta.tips.iter().map(|t| status(t)).collect()),
        Reply::Array(c.meta.key_specs.iter().map(key_spec).collect()),
        Reply::Array(c.subcommands.iter().map(info_entry).collect()),
    ])
}

fn docs_entry(c: &CommandSpec) -> (Reply, Reply) {
    let m = c.meta;
    let mut doc = vec![
        (bulk("summary"), bulk(m.summary)),
        (bulk("since"), bulk(m.since)),
        (bulk("group"), bulk(m.group)),
        (bulk("complexity"), bulk(m.complexity)),
    ];
    if !c.subcommands.is_empty() {
        doc.push((
            bulk("subcommands"),
            Reply::Map(c.subcommands.iter().map(docs_entry).collect()),
        ));
    }
    (bulk(c.name), Reply::Map(doc))
}

impl<E: Engine> Conn<E> {
    pub fn cmd_command(&self, argv: &Argv) -> Reply {
        let all = ks::all_commands();
        if argv.len() == 1 {
            return Reply::Array(all.iter().map(info_entry).collect());
        }
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "count" if argv.len() == 2 => Reply::Int(all.len() as i64),
            "list" => Reply::Array(all.iter().map(|c| bulk(c.name)).collect()),
            "info" => {
                if argv.len() == 2 {
                    return Reply::Array(all.iter().map(info_entry).collect());
                }
                Reply::Array(
                    argv[2..]
                        .iter()
                        // Redis 7.0 answers an unknown name with a null
                        // bulk (`$-1` in RESP2), not a null array.
                        .map(|n| ks::lookup(n).map(info_entry).unwrap_or(Reply::Null))
                        .collect(),
                )
            }
            "docs" => {
                if argv.len() == 2 {
                    return Reply::Map(all.iter().map(docs_entry).collect());
                }
                Reply::Map(
                    argv[2..]
                        .iter()
                        .filter_map(|n| ks::lookup(n))
                        .map(docs_entry)
                        .collect(),
                )
            }
            "getkeys" | "getkeysandflags" => {
                if argv.len() < 3 {
                    return wrong_arity(&format!("command|{sub}"));
                }
                let target = &argv[2..];
                if ks::lookup(&target[0]).is_none() {
                    return Reply::error("ERR Invalid command specified");
                }
                match ks::command_keys(target) {
                    Err(_) => Reply::error("ERR Invalid number of arguments specified for command"),
                    Ok(keys) if keys.is_empty() => {
                        Reply::error("ERR The command has no key arguments")
                    }
                    Ok(keys) => Reply::Array(keys.into_iter().map(Reply::bulk).collect()),
                }
            }
            "count" => wrong_arity("command|count"),
            "help" => crate::dispatch::help(&[
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "COUNT",
                "GETKEYS <full-command>",
                "INFO [<command-name> ...]",
                "LIST",
                "DOCS [<command-name> ...]",
                "HELP",
            ]),
            _ => unknown_subcommand(&argv[1], "command"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_entry_has_redis7_shape() {
        let get = ks::lookup(b"get").unwrap();
        let Reply::Array(fields) = info_entry(get) else {
            panic!()
        };
        assert_eq!(fields.len(), 10);
        assert_eq!(fields[0], Reply::bulk("get"));
        assert_eq!(fields[1], Reply::Int(2));
        assert_eq!(fields[3], Reply::Int(1));
        let Reply::Array(specs) = &fields[8] else {
            panic!()
        };
        assert_eq!(specs.len(), 1);
    }
}
