//! The oracle of the keyspace's differential tests: a real `redis-server`
//! (Debian's 7.0, installed by scripts/install-deps) started on a free
//! loopback port, no persistence, killed when dropped. Each test parses the
//! replies into its own comparison type, so this only sends requests and
//! hands back the connection.

use bytes::Bytes;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long redis-server may take to accept connections.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Oracle {
    child: Child,
    conn: BufReader<TcpStream>,
}

impl Oracle {
    pub fn start() -> Oracle {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/install-deps)");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => panic!("redis-server did not start: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        Oracle {
            child,
            conn: BufReader::new(stream),
        }
    }

    /// Sends `argv` as a RESP multibulk request; the caller reads the reply
    /// from the returned connection with its own parser.
    pub fn send(&mut self, argv: &[Bytes]) -> &mut BufReader<TcpStream> {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.conn
            .get_mut()
            .write_all(&out)
            .expect("send to redis-server");
        &mut self.conn
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
