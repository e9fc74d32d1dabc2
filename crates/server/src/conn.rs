//! One task per connection, owning its socket (mini-redis style).
//!
//! The loop: read into a `BytesMut`, parse every complete request in it
//! (pipelining), execute them in order — consecutive data commands as one
//! engine batch — encode all replies into one output buffer, write it once,
//! read again. Why this shape:
//! - one write per read is what makes pipelining fast (one syscall for a
//!   batch of replies);
//! - the connection stops reading while its replies cannot be written, so a
//!   client that never reads is throttled by TCP instead of growing our
//!   memory; on top of that the Redis-named `client-output-buffer-limit`
//!   closes a client whose pending replies exceed the hard limit (or stay
//!   above the soft limit for its seconds), and `client-query-buffer-limit`
//!   bounds the input side;
//! - protocol errors are answered and the connection closed, like Redis.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use slotraft_resp::{ParserLimits, Protocol, Reply, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::blocking::timeout_reply;
use crate::clients::ClientInfo;
use crate::config::Config;
use crate::dispatch::CommandMemo;
use crate::engine::{BatchEnd, Cmd, Engine};
use crate::ks::Argv;
use crate::server::{Server, Stats};

/// Bytes reserved per socket read.
pub const READ_CHUNK: usize = 16 * 1024;
/// Replies accumulated before they are written even though more requests
/// of the same read are waiting (keeps the output buffer small).
pub const OUT_FLUSH_BYTES: usize = 64 * 1024;
/// Most data commands executed as one engine batch (one lock hold).
pub const MAX_BATCH_CMDS: usize = 256;
/// Output buffer capacity kept between reads; larger buffers are released.
const OUT_KEEP_CAPACITY: usize = 256 * 1024;
/// Longest time to wait for a blocked client with no timeout ("forever").
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Why a connection closes.
#[derive(Debug, PartialEq, Eq)]
pub enum Close {
    /// QUIT, protocol error, EOF, kill, shutdown, idle timeout.
    Normal,
    /// Pending output exceeded client-output-buffer-limit.
    OutputLimit,
    QueryLimit,
}

/// CLIENT REPLY state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the reply of the next command only.
    Skip,
    /// Set by SKIP's own command; becomes Skip after it.
    SkipArmed,
}

/// Per-connection protocol state (RESP version, auth, MULTI, WATCH).
pub struct Session {
    pub id: u64,
    pub proto: Protocol,
    pub authed: bool,
    /// Queued commands while in MULTI.
    pub multi: Option<Vec<Argv>>,
    /// A queued command was rejected: EXEC answers EXECABORT.
    pub multi_dirty: bool,
    pub watched: Vec<(Bytes, u64)>,
    pub close: bool,
    pub reply_mode: ReplyMode,
    /// READONLY / ASKING (cluster mode).
    pub flags: crate::engine::ConnFlags,
}

/// A connection: socket, buffers, parser, session.
pub struct Conn<E: Engine> {
    pub server: Arc<Server<E>>,
    pub info: Arc<ClientInfo>,
    stream: TcpStream,
    rbuf: BytesMut,
    pub out: Vec<u8>,
    parser: RequestParser,
    pub sess: Session,
    pending: Vec<Cmd>,
    replies: Vec<Reply>,
    pub cfg: Arc<Config>,
    /// The name of the command being executed (CLIENT INFO's `cmd=`).
    pub current_cmd: &'static str,
    /// The last command resolved (see [`CommandMemo`]).
    pub(crate) memo: CommandMemo,
}

/// Serves one client until it disconnects or is closed.
pub async fn serve<E: Engine>(server: Arc<Server<E>>, stream: TcpStream, info: Arc<ClientInfo>) {
    let mut conn = Conn::new(server, stream, info);
    match conn.run().await {
        Ok(Close::Normal) => {}
        Ok(why) => {
            info!(id = conn.sess.id, addr = %conn.info.addr, reason = ?why, "client closed for overcoming a buffer limit");
        }
        Err(e) => debug!(id = conn.sess.id, error = %e, "connection error"),
    }
}

fn parser_limits(cfg: &Config) -> ParserLimits {
    ParserLimits {
        proto_max_bulk_len: usize::try_from(cfg.proto_max_bulk_len).unwrap_or(usize::MAX),
        ..ParserLimits::default()
    }
}

impl<E: Engine> Conn<E> {
    fn new(server: Arc<Server<E>>, stream: TcpStream, info: Arc<ClientInfo>) -> Self {
        let cfg = server.config.get();
        let authed = cfg.requirepass.is_none();
        let mut parser = RequestParser::new(parser_limits(&cfg));
        parser.set_auth_required(!authed);
        Conn {
            sess: Session {
                id: info.id,
                proto: Protocol::Resp2,
                authed,
                multi: None,
                multi_dirty: false,
                watched: Vec::new(),
                close: false,
                reply_mode: ReplyMode::On,
                flags: Default::default(),
            },
            server,
            info,
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(READ_CHUNK),
            parser,
            pending: Vec::with_capacity(16),
            replies: Vec::with_capacity(16),
            cfg,
            current_cmd: "",
            memo: CommandMemo::default(),
        }
    }

    async fn run(&mut self) -> io::Result<Close> {
        loop {
            self.refresh_config();
            let processed = self.process_buffer().await?;
            if processed.is_some() {
                let why = processed.unwrap_or(Close::Normal);
                if why == Close::Normal {
                    self.flush().await?;
                }
                return Ok(why);
            }
            self.flush().await?;
            if !self.read_more().await? {
                return Ok(Close::Normal);
            }
        }
    }

    fn refresh_config(&mut self) {
        let cfg = self.server.config.get();
        if !Arc::ptr_eq(&cfg, &self.cfg) {
            self.parser.set_limits(parser_limits(&cfg));
            self.cfg = cfg;
        }
    }

    /// Parses and executes every complete request in the read buffer.
    /// Returns Some(reason) when the connection must close.
    async fn process_buffer(&mut self) -> io::Result<Option<Close>> {
        let mut n = 0u64;
        let result = loop {
            self.parser.set_auth_required(!self.sess.authed);
            match self.parser.parse(&mut self.rbuf) {
                Ok(Some(argv)) => {
                    n += 1;
                    self.handle(argv).await?;
                    if self.pending.len() >= MAX_BATCH_CMDS || self.out.len() >= OUT_FLUSH_BYTES {
                        self.run_pending().await?;
                    }
                    if let Some(why) = self.check_limits() {
                        break Some(why);
                    }
                    if self.sess.close {
                        break Some(Close::Normal);
                    }
                    if self.out.len() >= OUT_FLUSH_BYTES {
                        self.flush().await?;
                    }
                }
                Ok(None) => break None,
                Err(e) => {
                    self.run_pending().await?;
                    debug!(id = self.sess.id, error = %e, "protocol error");
                    self.force_emit(&e.to_reply());
                    break Some(Close::Normal);
                }
            }
        };
        if result.is_none() || result == Some(Close::Normal) {
            self.run_pending().await?;
        }
        Stats::add(&self.server.stats.commands_processed, n);
        if n > 0 {
            self.info.touch();
            let mut m = self.info.meta.lock();
            m.last_cmd = self.current_cmd;
            m.qbuf = self.rbuf.len();
        }
        if result.is_some() {
            return Ok(result);
        }
        if self.sess.close {
            return Ok(Some(Close::Normal));
        }
        Ok(self.check_limits())
    }

    /// Output and query buffer limits (Redis's names and semantics).
    fn check_limits(&self) -> Option<Close> {
        let hard = self.cfg.output_normal.hard;
        if hard > 0 && self.out.len() as u64 > hard {
            Stats::add(&self.server.stats.output_limit_disconnects, 1);
            return Some(Close::OutputLimit);
        }
        if self.rbuf.len() as u64 > self.cfg.client_query_buffer_limit {
            return Some(Close::QueryLimit);
        }
        None
    }

    /// Queues a data command for the current batch.
    pub fn push_pending(&mut self, cmd: Cmd) {
        self.pending.push(cmd);
    }

    /// Runs the queued data commands, in order, emitting their replies.
    pub async fn run_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let cmds = std::mem::take(&mut self.pending);
        let mut replies = std::mem::take(&mut self.replies);
        let mut start = 0;
        while start < cmds.len() {
            replies.clear();
            let end = self
                .server
                .engine
                .execute_batch(self.sess.id, self.sess.flags, &cmds[start..], &mut replies)
                .await;
            for r in replies.drain(..) {
                self.emit(&r);
            }
            match end {
                BatchEnd::Done => break,
                BatchEnd::Blocked {
                    index,
                    wait,
                    timeout_ms,
                } => {
                    debug_assert!(
                        start + index < cmds.len(),
                        "blocked command is in the batch"
                    );
                    match self.wait_blocked(wait, timeout_ms).await? {
                        Some(r) => self.emit(&r),
                        None => {
                            self.sess.close = true;
                            break;
                        }
                    }
                    start += index + 1;
                }
            }
        }
        let mut cmds = cmds;
        for cmd in cmds.drain(..) {
            self.parser.recycle(cmd.argv);
        }
        self.pending = cmds;
        self.replies = replies;
        Ok(())
    }

    /// Waits for a parked client's reply, its timeout, or its disconnect
    /// (None: close). Input arriving meanwhile is buffered, as Redis does.
    async fn wait_blocked(
        &mut self,
        mut wait: oneshot::Receiver<Reply>,
        timeout_ms: Option<u64>,
    ) -> io::Result<Option<Reply>> {
        self.flush().await?;
        self.info.meta.lock().blocked = true;
        let dur = timeout_ms.map_or(FOREVER, Duration::from_millis);
        let sleep = tokio::time::sleep(dur);
        tokio::pin!(sleep);
        let mut shutdown = self.server.shutdown.clone();
        let outcome = loop {
            tokio::select! {
                r = &mut wait => break r.ok(),
                _ = &mut sleep => {
                    if self.server.engine.unblock(self.sess.id) {
                        break Some(timeout_reply());
                    }
                    // Served between the timer and the unblock (the reply
                    // is in the channel), or a re-execution is in flight
                    // (cluster mode: its reply, or the timeout reply if it
                    // blocks again, is on its way).
                    break (&mut wait).await.ok();
                }
                r = self.stream.read_buf(&mut self.rbuf) => {
                    let gone = !matches!(r, Ok(n) if n > 0);
                    let over = self.rbuf.len() as u64 > self.cfg.client_query_buffer_limit;
                    if gone || over {
                        break self.cancel_block(&mut wait);
                    }
                }
                _ = self.info.kill_signal.notified() => break self.cancel_block(&mut wait),
                _ = shutdown.changed() => break self.cancel_block(&mut wait),
            }
        };
        self.info.meta.lock().blocked = false;
        Ok(outcome)
    }

    /// The client goes away while parked: unpark it. If it was served in the
    /// meantime the effect happened; its reply is dropped with the socket.
    fn cancel_block(&mut self, wait: &mut oneshot::Receiver<Reply>) -> Option<Reply> {
        if !self.server.engine.unblock(self.sess.id) {
            let _ = wait.try_recv();
        }
        None
    }

    /// Encodes a reply, honouring CLIENT REPLY OFF/SKIP.
    pub fn emit(&mut self, r: &Reply) {
        match self.sess.reply_mode {
            ReplyMode::On => r.encode(self.sess.proto, &mut self.out),
            ReplyMode::Off => {}
            ReplyMode::Skip => self.sess.reply_mode = ReplyMode::On,
            ReplyMode::SkipArmed => self.sess.reply_mode = ReplyMode::Skip,
        }
    }

    /// Encodes a reply even under CLIENT REPLY OFF (protocol errors).
    fn force_emit(&mut self, r: &Reply) {
        r.encode(self.sess.proto, &mut self.out);
    }

    /// Writes the output buffer. Above the soft limit the write must finish
    /// within the limit's seconds, or the client is closed.
    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let lim = self.cfg.output_normal;
        let len = self.out.len();
        if lim.soft > 0 && len as u64 > lim.soft {
            let secs = Duration::from_secs(lim.soft_seconds);
            match tokio::time::timeout(secs, self.stream.write_all(&self.out)).await {
                Ok(r) => r?,
                Err(_) => {
                    Stats::add(&self.server.stats.output_limit_disconnects, 1);
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "output buffer over soft limit",
                    ));
                }
            }
        } else {
            self.stream.write_all(&self.out).await?;
        }
        Stats::add(&self.server.stats.net_output_bytes, len as u64);
        self.out.clear();
        if self.out.capacity() > OUT_KEEP_CAPACITY {
            self.out = Vec::with_capacity(READ_CHUNK);
        }
        Ok(())
    }

    /// Reads more input. False: EOF, killed, shutdown or idle timeout.
    async fn read_more(&mut self) -> io::Result<bool> {
        if self.info.is_killed() || *self.server.shutdown.borrow() {
            return Ok(false);
        }
        let hint = self.parser.reserve_hint(self.rbuf.len());
        self.rbuf.reserve(READ_CHUNK.max(hint));
        // Shutdown reaches connections through their kill signal
        // (server::drain), so a read waits on two things only; an idle
        // timer is armed only when `timeout` is set (timers are not free).
        let read = self.stream.read_buf(&mut self.rbuf);
        let n = if self.cfg.timeout == 0 {
            tokio::select! {
                biased;
                r = read => r?,
                _ = self.info.kill_signal.notified() => return Ok(false),
            }
        } else {
            let idle = Duration::from_secs(self.cfg.timeout);
            tokio::select! {
                biased;
                r = read => r?,
                _ = self.info.kill_signal.notified() => return Ok(false),
                _ = tokio::time::sleep(idle) => return Ok(false),
            }
        };
        Stats::add(&self.server.stats.net_input_bytes, n as u64);
        Ok(n > 0)
    }
}
