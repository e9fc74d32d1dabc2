//! Raw RESP over TCP against the real binary: what the server sends byte
//! for byte, and when it closes the connection (the Python e2e suite goes
//! much further; these are the server crate's own checks).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

fn connect(s: &Server) -> TcpStream {
    let t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    t
}

/// Reads until `expected.len()` bytes arrived (or EOF/timeout) and returns them.
fn read_exact_text(t: &mut TcpStream, len: usize) -> String {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match t.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("read failed after {got} bytes: {e}"),
        }
    }
    String::from_utf8_lossy(&buf[..got]).into_owned()
}

fn expect(t: &mut TcpStream, expected: &str) {
    assert_eq!(read_exact_text(t, expected.len()), expected);
}

fn expect_eof(t: &mut TcpStream) {
    let mut b = [0u8; 16];
    match t.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!("expected EOF, got {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected EOF, got {e}"),
    }
}

#[test]
fn inline_and_pipelined_requests() {
    let s = Server::start(&[]);
    let mut t = connect(&s);
    t.write_all(
        b"PING\r\nSET a 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
    )
    .unwrap();
    expect(&mut t, "+PONG\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
    // A request split across writes.
    for chunk in [&b"*3\r\n$3\r\nSE"[..], b"T\r\n$1\r\nb\r", b"\n$2\r\nxy\r\n"] {
        t.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    expect(&mut t, "+OK\r\n");
}

#[test]
fn protocol_error_replies_then_closes() {
    let s = Server::start(&[]);
    let mut t = connect(&s);
    t.write_all(b"PING\r\n*1\r\n$x\r\n").unwrap();
    expect(
        &mut t,
        "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
    );
    expect_eof(&mut t);
    let mut t = connect(&s);
    t.write_all(b"*2\r\n+GET\r\n").unwrap();
    expect(&mut t, "-ERR Protocol error: expected '$', got '+'\r\n");
    expect_eof(&mut t);
}

#[test]
fn quit_replies_ok_then_closes() {
    let s = Server::start(&[]);
    let mut t = connect(&s);
    t.write_all(b"QUIT\r\nPING\r\n").unwrap();
    expect(&mut t, "+OK\r\n");
    expect_eof(&mut t);
}

#[test]
fn client_reply_off_skip_on() {
    let s = Server::start(&[]);
    let mut t = connect(&s);
    t.write_all(b"CLIENT REPLY OFF\r\nPING\r\nSET x 1\r\nCLIENT REPLY ON\r\nCLIENT REPLY SKIP\r\nPING\r\nECHO hi\r\n").unwrap();
    expect(&mut t, "+OK\r\n$2\r\nhi\r\n");
}

#[test]
fn resp3_nulls_and_maps() {
    let s = Server::start(&[]);
    let mut t = connect(&s);
    t.write_all(b"HELLO 3\r\n").unwrap();
    let mut b = [0u8; 256];
    let n = t.read(&mut b).unwrap();
    assert!(
        b[..n].starts_with(b"%7\r\n"),
        "{:?}",
        String::from_utf8_lossy(&b[..n])
    );
    t.write_all(b"GET nosuch\r\nCONFIG GET hz\r\n").unwrap();
    expect(&mut t, "_\r\n%1\r\n$2\r\nhz\r\n$2\r\n10\r\n");
}

#[test]
fn unauthenticated_clients_are_limited() {
    let s = Server::start(&["--requirepass", "pw"]);
    let mut t = connect(&s);
    t.write_all(b"GET k\r\n").unwrap();
    expect(&mut t, "-NOAUTH Authentication required.\r\n");
    // Before AUTH, Redis caps requests at 10 arguments.
    t.write_all(b"*11\r\n").unwrap();
    expect(
        &mut t,
        "-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    expect_eof(&mut t);
}

#[test]
fn blocked_client_disconnect_is_cleaned_up() {
    let s = Server::start(&[]);
    let mut t = connect(&s);
    t.write_all(b"BLPOP q 0\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(t);
    let mut c = s.conn();
    // The push must not be consumed by the vanished client.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        if info.contains("blocked_clients:0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "blocked client not cleaned up: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _: i64 = redis::cmd("RPUSH").arg("q").arg("v").query(&mut c).unwrap();
    let n: i64 = redis::cmd("LLEN").arg("q").query(&mut c).unwrap();
    assert_eq!(n, 1);
}
