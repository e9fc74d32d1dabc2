//! The Rust `redis` crate against the real `slotraft` binary: the client
//! library applications use, over real TCP.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{temp_dir, Server};
use redis::{Commands, Value};

fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

#[test]
fn get_set_and_pipeline() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(c.get::<_, Option<String>>("missing").unwrap(), None);
    let (a, b, n): (String, i64, i64) = redis::pipe()
        .cmd("SET")
        .arg("p")
        .arg("1")
        .ignore()
        .cmd("GET")
        .arg("p")
        .cmd("INCR")
        .arg("p")
        .cmd("LPUSH")
        .arg("l")
        .arg("x")
        .arg("y")
        .query(&mut c)
        .unwrap();
    assert_eq!((a.as_str(), b, n), ("1", 2, 2));
    // A long pipeline: one write of many replies, in order.
    let mut p = redis::pipe();
    for i in 0..5000 {
        p.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    for i in 0..5000 {
        p.cmd("GET").arg(format!("key:{i}"));
    }
    let got: Vec<i64> = p.query(&mut c).unwrap();
    assert_eq!(got, (0..5000).collect::<Vec<i64>>());
    let e = redis::cmd("GET")
        .arg("a")
        .arg("b")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("wrong number of arguments for 'get' command"),
        "{e}"
    );
    let e = redis::cmd("NOSUCH").query::<Value>(&mut c).unwrap_err();
    assert!(e.to_string().contains("unknown command"), "{e}");
}

#[test]
fn transactions_and_watch_conflict() {
    let s = Server::start(&[]);
    let mut c1 = s.conn();
    let mut c2 = s.conn();
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("t")
        .cmd("INCR")
        .arg("t")
        .query(&mut c1)
        .unwrap();
    assert_eq!((x, y), (1, 2));

    // WATCH then a concurrent write: EXEC aborts with a null reply.
    let _: () = redis::cmd("WATCH").arg("t").query(&mut c1).unwrap();
    let _: () = c2.set("t", 100).unwrap();
    let r: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("t")
        .arg("mine")
        .query(&mut c1)
        .unwrap();
    assert_eq!(r, Value::Nil, "EXEC must abort when a watched key changed");
    assert_eq!(c1.get::<_, i64>("t").unwrap(), 100);

    // WATCH without interference commits.
    let _: () = redis::cmd("WATCH").arg("t").query(&mut c1).unwrap();
    let r: Vec<String> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("t")
        .arg("mine")
        .query(&mut c1)
        .unwrap();
    assert_eq!(r, vec!["OK"]);

    // A command rejected while queued aborts the whole transaction.
    let _: () = redis::cmd("MULTI").query(&mut c1).unwrap();
    let q: String = redis::cmd("SET").arg("u").arg("1").query(&mut c1).unwrap();
    assert_eq!(q, "QUEUED");
    assert!(redis::cmd("GET").query::<Value>(&mut c1).is_err());
    let e = redis::cmd("EXEC").query::<Value>(&mut c1).unwrap_err();
    assert!(
        e.to_string()
            .contains("Transaction discarded because of previous errors"),
        "{e}"
    );
    assert_eq!(c1.get::<_, Option<String>>("u").unwrap(), None);
}

#[test]
fn blpop_is_woken_by_another_client() {
    let s = Server::start(&[]);
    let url = s.url();
    let waiter = thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let started = Instant::now();
        let r: (String, String) = redis::cmd("BLPOP")
            .arg("queue")
            .arg(5)
            .query(&mut c)
            .unwrap();
        (r, started.elapsed())
    });
    let mut c = s.conn();
    // Wait until the waiter is parked (INFO clients shows it).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        if info_field(&info, "blocked_clients").as_deref() == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "BLPOP client never blocked");
        thread::sleep(Duration::from_millis(10));
    }
    let _: i64 = c.rpush("queue", "job-1").unwrap();
    let (r, waited) = waiter.join().unwrap();
    assert_eq!(r, ("queue".to_string(), "job-1".to_string()));
    assert!(
        waited < Duration::from_secs(4),
        "woken by the push, not by the timeout"
    );
    assert_eq!(
        c.llen::<_, i64>("queue").unwrap(),
        0,
        "the element went to the blocked client"
    );

    // Timeout: a null array after about the timeout.
    let t = Instant::now();
    let r: Value = redis::cmd("BLPOP")
        .arg("empty")
        .arg("0.2")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, Value::Nil);
    assert!(
        t.elapsed() >= Duration::from_millis(180),
        "returned before its timeout"
    );
}

#[test]
fn hello_3_switches_to_resp3() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let v: Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
    let Value::Map(fields) = v else {
        panic!("HELLO 3 must answer a RESP3 map, got {v:?}")
    };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(a, _)| *a == Value::BulkString(k.as_bytes().to_vec()))
            .map(|(_, b)| b.clone())
    };
    assert_eq!(get("proto"), Some(Value::Int(3)));
    assert_eq!(get("server"), Some(Value::BulkString(b"redis".to_vec())));
    // RESP3 types now: a double for ZSCORE, a map for HGETALL.
    let _: i64 = redis::cmd("ZADD")
        .arg("z")
        .arg("1.5")
        .arg("m")
        .query(&mut c)
        .unwrap();
    let v: Value = redis::cmd("ZSCORE")
        .arg("z")
        .arg("m")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Double(1.5));
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let v: Value = redis::cmd("HGETALL").arg("h").query(&mut c).unwrap();
    assert!(matches!(v, Value::Map(_)), "{v:?}");
    let e = redis::cmd("HELLO")
        .arg(4)
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("NOPROTO"), "{e}");
}

#[test]
fn auth_with_requirepass() {
    let s = Server::start(&["--requirepass", "s3cret"]);
    let mut anon = s.conn();
    let e = redis::cmd("GET")
        .arg("k")
        .query::<Value>(&mut anon)
        .unwrap_err();
    assert!(e.to_string().contains("NOAUTH"), "{e}");
    let e = redis::cmd("AUTH")
        .arg("wrong")
        .query::<Value>(&mut anon)
        .unwrap_err();
    assert!(e.to_string().contains("WRONGPASS"), "{e}");
    let ok: String = redis::cmd("AUTH").arg("s3cret").query(&mut anon).unwrap();
    assert_eq!(ok, "OK");
    let _: () = anon.set("k", "v").unwrap();
    // Password in the URL (the client sends AUTH at connect).
    let url = format!("redis://:s3cret@127.0.0.1:{}/", s.port);
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let bad = format!("redis://:nope@127.0.0.1:{}/", s.port);
    assert!(redis::Client::open(bad).unwrap().get_connection().is_err());
}

#[test]
fn client_setname_and_list() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut other = s.conn();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("worker-7")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        redis::cmd("CLIENT")
            .arg("GETNAME")
            .query::<String>(&mut c)
            .unwrap(),
        "worker-7"
    );
    let e = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("a b")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("cannot contain spaces"), "{e}");
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut other).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    let line = list
        .lines()
        .find(|l| l.contains("name=worker-7"))
        .expect("named client listed");
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    assert!(line.starts_with(&format!("id={id} ")), "{line}");
    // CLIENT KILL ID closes that connection.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut other)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(
        redis::cmd("PING").query::<String>(&mut c).is_err(),
        "killed client must be disconnected"
    );
}

#[test]
fn config_get_set_and_info() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["maxclients", "10000"]);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("77")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("max*")
        .query(&mut c)
        .unwrap();
    assert!(
        v.windows(2).any(|w| w[0] == "maxclients" && w[1] == "77"),
        "{v:?}"
    );
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("nosuch")
        .arg("1")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("Unknown option"), "{e}");
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("port")
        .arg("1")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("immutable"), "{e}");
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("databases")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["databases", "1"]);

    let _: () = c.set("a", 1).unwrap();
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Stats",
        "# Replication",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "INFO lacks {section}");
    }
    assert_eq!(info_field(&info, "connected_clients").as_deref(), Some("1"));
    assert_eq!(
        info_field(&info, "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    assert_eq!(info_field(&info, "tcp_port"), Some(s.port.to_string()));
    let only: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(!only.contains("# Server"));
    assert_eq!(
        redis::cmd("SELECT").arg(0).query::<String>(&mut c).unwrap(),
        "OK"
    );
    let e = redis::cmd("SELECT")
        .arg(1)
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("DB index is out of range"), "{e}");
}

#[test]
fn active_expiry_deletes_keys_nobody_reads() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("e{i}"))
            .arg(1)
            .arg("PX")
            .arg(50)
            .query(&mut c)
            .unwrap();
    }
    let _: () = c.set("keep", 1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "expired keys still counted: {n}");
        thread::sleep(Duration::from_millis(50));
    }
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert_eq!(info_field(&info, "expired_keys").as_deref(), Some("300"));
}

#[test]
fn output_buffer_limit_disconnects_like_redis() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let big = "x".repeat(2 << 20);
    let _: () = c.set("big", &big).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 1mb 0 0")
        .query(&mut c)
        .unwrap();
    let r = redis::cmd("GET").arg("big").query::<Value>(&mut c);
    assert!(
        r.is_err(),
        "a 2 MiB reply over a 1 MiB hard limit must close the client"
    );
    let mut c2 = s.conn();
    assert_eq!(c2.strlen::<_, i64>("small-replies-still-fine").unwrap(), 0);
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c2).unwrap();
    assert_eq!(
        info_field(&info, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
}

#[test]
fn sigterm_shuts_down_gracefully_and_dir_keeps_data() {
    let dir = temp_dir("sigterm");
    let d = dir.to_str().unwrap().to_string();
    let mut s = Server::start(&["--dir", &d]);
    {
        let mut c = s.conn();
        let _: () = c.set("durable", "yes").unwrap();
        let _: i64 = c.rpush("list", &["a", "b"]).unwrap();
    }
    let idle = s.conn(); // a connected idle client must not block shutdown
    s.signal("TERM");
    let st = s.wait_exit(Duration::from_secs(10));
    assert!(st.success(), "exit status after SIGTERM: {st:?}");
    drop(idle);
    // Restart on the same dir: the snapshot written at shutdown is loaded.
    let s2 = Server::start(&["--dir", &d]);
    let mut c = s2.conn();
    assert_eq!(c.get::<_, String>("durable").unwrap(), "yes");
    assert_eq!(
        c.lrange::<_, Vec<String>>("list", 0, -1).unwrap(),
        vec!["a", "b"]
    );
    drop(s2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigint_also_exits_zero_and_config_file_is_read() {
    let dir = temp_dir("sigint");
    let mut s = Server::start_with_config(&dir, "# test\nrequirepass fromfile\nhz 20\n", &[]);
    let url = format!("redis://:fromfile@127.0.0.1:{}/", s.port);
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["hz", "20"]);
    s.signal("INT");
    assert!(s.wait_exit(Duration::from_secs(10)).success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shutdown_command_exits_zero() {
    let mut s = Server::start(&[]);
    let mut c = s.conn();
    // No reply: the server closes the connection and exits.
    assert!(redis::cmd("SHUTDOWN").query::<Value>(&mut c).is_err());
    assert!(s.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn client_unblock_and_blmove_timeout() {
    let s = Server::start(&[]);
    let url = s.url();
    let mut c = s.conn();
    let waiter = thread::spawn(move || {
        let mut w = redis::Client::open(url).unwrap().get_connection().unwrap();
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut w).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(id).unwrap();
        let r = redis::cmd("BLMOVE")
            .arg("src")
            .arg("dst")
            .arg("LEFT")
            .arg("RIGHT")
            .arg(0)
            .query::<Value>(&mut w);
        (rx.recv().unwrap(), r)
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut unblocked = 0;
    while unblocked == 0 {
        assert!(Instant::now() < deadline, "never unblocked");
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
        if let Some(line) = list.lines().find(|l| l.contains("flags=b")) {
            let id: i64 = line
                .split(' ')
                .next()
                .unwrap()
                .trim_start_matches("id=")
                .parse()
                .unwrap();
            unblocked = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query(&mut c)
                .unwrap();
        } else {
            thread::sleep(Duration::from_millis(10));
        }
    }
    let (_, r) = waiter.join().unwrap();
    // Unblocked with TIMEOUT semantics: BLMOVE's timeout reply is a null bulk.
    assert_eq!(r.unwrap(), Value::Nil);
    let none: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(999_999)
        .query(&mut c)
        .unwrap();
    assert_eq!(none, 0);
}
