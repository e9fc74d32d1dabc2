//! Debian's redis-cli and redis-benchmark against the real binary. These
//! tools are required: a missing tool fails the test (never skipped).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{tool, Server};

fn cli(s: &Server, args: &[&str]) -> String {
    let out = tool("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &s.port.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?} failed: {:?}", out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_basic_and_resp3() {
    let s = Server::start(&[]);
    assert_eq!(cli(&s, &["ping"]), "PONG\n");
    assert_eq!(cli(&s, &["set", "k", "hello world"]), "OK\n");
    assert_eq!(cli(&s, &["get", "k"]), "hello world\n");
    assert_eq!(cli(&s, &["incrby", "n", "5"]), "5\n");
    assert!(cli(&s, &["nosuch"]).starts_with("ERR unknown command 'nosuch'"));
    let hello = cli(&s, &["-3", "hello", "3"]);
    assert!(hello.contains("proto") && hello.contains('3'), "{hello}");
    // RESP3 map rendering by redis-cli -3.
    cli(&s, &["hset", "h", "f", "v"]);
    let out = cli(&s, &["-3", "hgetall", "h"]);
    assert!(out.contains("f") && out.contains("v"), "{out}");
    // --no-raw formatting of an error and of nil.
    assert_eq!(cli(&s, &["--no-raw", "get", "missing"]), "(nil)\n");
}

#[test]
fn redis_cli_pipe_mass_insert() {
    let s = Server::start(&[]);
    let n = 10_000;
    let mut input = Vec::new();
    for i in 0..n {
        let k = format!("mass:{i}");
        let v = format!("value-{i}");
        write!(
            input,
            "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n${}\r\n{}\r\n",
            k.len(),
            k,
            v.len(),
            v
        )
        .unwrap();
    }
    let mut child = tool("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("errors: 0, replies: {n}")), "{text}");
    assert_eq!(cli(&s, &["dbsize"]), format!("{n}\n"));
    assert_eq!(cli(&s, &["get", "mass:9999"]), "value-9999\n");
}

#[test]
fn redis_benchmark_runs_clean() {
    let s = Server::start(&[]);
    let tests = "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset";
    let out = tool("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.port.to_string(),
            "-q",
            "-n",
            "20000",
            "-t",
            tests,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let errs = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark failed: {text} {errs}"
    );
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("error") && !lower.contains("err "),
        "errors in: {text}"
    );
    let finals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("requests per second"))
        .collect();
    for name in [
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100",
        "LRANGE_600",
        "MSET",
    ] {
        assert!(
            finals.iter().any(|l| l
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':') || rest.starts_with(' '))),
            "no result line for {name} in:\n{}",
            finals.join("\n")
        );
    }
    // The server is still healthy and holds what the benchmark wrote.
    assert_eq!(cli(&s, &["ping"]), "PONG\n");
    assert!(cli(&s, &["dbsize"]).trim().parse::<u64>().unwrap() > 0);
}
