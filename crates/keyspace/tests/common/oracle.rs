//! The oracle of the keyspace's differential tests: a real `redis-server`
//! (Debian's 7.0, installed by scripts/install-deps) started on a free
//! loopback port, no persistence, killed when dropped. Each test parses the
//! replies into its own comparison type, so this only sends requests and
//! hands back the connection.

use bytes::Bytes;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long redis-server may take to accept connections.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Ports tried before giving up (see [`Oracle::start`]).
pub const START_ATTEMPTS: usize = 5;
/// How long one reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Oracle {
    child: Child,
    conn: BufReader<TcpStream>,
}

impl Oracle {
    /// Starts a redis-server on a free port and connects to it. The port
    /// is chosen by binding port 0 and letting go, so two tests starting
    /// at once can be handed the same one: the second server then fails to
    /// bind and its test would talk to the first one's server (and see it
    /// reset when that test ends). So the connection must prove it reached
    /// this child (`INFO server`'s `process_id`); if not, another port.
    pub fn start() -> Oracle {
        for _ in 0..START_ATTEMPTS {
            if let Some(o) = Self::try_start() {
                return o;
            }
        }
        panic!("redis-server did not start on its own port in {START_ATTEMPTS} attempts");
    }

    fn try_start() -> Option<Oracle> {
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
        let mut o = Oracle {
            child,
            conn: BufReader::new(stream),
        };
        let pid = o.server_pid();
        (pid == Some(o.child.id())).then_some(o) // else dropped: killed
    }

    /// The `process_id` of the server at the other end, if it answers.
    /// Every step may fail (None, another port is tried): the server at
    /// the other end may be another test's, going away.
    fn server_pid(&mut self) -> Option<u32> {
        let argv = [Bytes::from_static(b"INFO"), Bytes::from_static(b"server")];
        self.conn.get_mut().write_all(&encode(&argv)).ok()?;
        let r = &mut self.conn;
        let mut header = String::new();
        r.read_line(&mut header).ok()?;
        let len: usize = header.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut body = vec![0u8; len + 2];
        r.read_exact(&mut body).ok()?;
        String::from_utf8_lossy(&body)
            .lines()
            .find_map(|l| l.strip_prefix("process_id:")?.trim().parse().ok())
    }

    /// Sends `argv` as a RESP multibulk request; the caller reads the reply
    /// from the returned connection with its own parser.
    pub fn send(&mut self, argv: &[Bytes]) -> &mut BufReader<TcpStream> {
        self.conn
            .get_mut()
            .write_all(&encode(argv))
            .expect("send to redis-server");
        &mut self.conn
    }
}

/// `argv` as a RESP multibulk request.
fn encode(argv: &[Bytes]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
