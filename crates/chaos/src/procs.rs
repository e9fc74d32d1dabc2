//! Starting, killing, pausing and restarting real node processes.
//!
//! Why a guard: a run may end by panic or Ctrl-C, and a leftover paused or
//! orphaned server would poison the next run. [`Procs`] stops (SIGCONT, then
//! SIGKILL) every process it started when dropped.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Target;

/// How long a node may take to listen after a start.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Poll interval while waiting for a port.
const POLL: Duration = Duration::from_millis(50);

struct Node {
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Extra environment of the next starts (e.g. libfaketime).
    env: Vec<(String, String)>,
}

/// The processes of one target.
pub struct Procs {
    target: Target,
    nodes: Vec<Node>,
}

impl Procs {
    /// Prepares one directory per node under `root` (nothing started yet).
    pub fn new(target: &Target, root: PathBuf) -> std::io::Result<Procs> {
        let mut nodes = Vec::new();
        for i in 0..target.nodes.len() {
            let dir = root.join(format!("n{i}"));
            fs::create_dir_all(&dir)?;
            nodes.push(Node {
                dir: fs::canonicalize(&dir)?,
                child: None,
                starts: 0,
                env: Vec::new(),
            });
        }
        Ok(Procs {
            target: target.clone(),
            nodes,
        })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Starts node `i` (if not running) and waits until its port accepts.
    pub fn start(&mut self, i: usize) -> Result<(), String> {
        if self.nodes[i].child.is_some() {
            return Ok(());
        }
        let n = &self.target.nodes[i];
        let node = &mut self.nodes[i];
        let cmd = self
            .target
            .start
            .replace("{ip}", &n.ip)
            .replace("{port}", &n.port.to_string())
            .replace("{dir}", &node.dir.display().to_string())
            .replace("{index}", &i.to_string())
            .replace("{cwd}", &cwd());
        node.starts += 1;
        let log = File::create(node.dir.join(format!("out.{}.log", node.starts)))
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .current_dir(&node.dir)
            .envs(node.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            // Own process group: a Ctrl-C to the tool does not kill the
            // nodes before the guard has healed everything.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("start node {i}: {e}"))?;
        node.child = Some(child);
        self.wait_listening(i)
    }

    fn wait_listening(&mut self, i: usize) -> Result<(), String> {
        let addr = self.target.nodes[i].socket();
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&addr, POLL * 4).is_ok() {
                return Ok(());
            }
            if let Some(c) = self.nodes[i].child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.nodes[i].child = None;
                    return Err(format!("node {i} exited at start: {st}"));
                }
            }
            std::thread::sleep(POLL);
        }
        // Not listening: kill it, so a later start tries again from scratch.
        self.kill(i);
        Err(format!(
            "node {i} did not listen on {addr} within {START_TIMEOUT:?}"
        ))
    }

    /// Kills node `i` (-9) and starts it again with `env` added to its
    /// environment (empty: the normal environment).
    pub fn restart_with_env(&mut self, i: usize, env: Vec<(String, String)>) -> Result<(), String> {
        self.kill(i);
        self.nodes[i].env = env;
        self.start(i)
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            signal(&c, libc::SIGCONT);
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// SIGSTOP.
    pub fn pause(&mut self, i: usize) {
        if let Some(c) = &self.nodes[i].child {
            signal(c, libc::SIGSTOP);
        }
    }

    /// SIGCONT.
    pub fn resume(&mut self, i: usize) {
        if let Some(c) = &self.nodes[i].child {
            signal(c, libc::SIGCONT);
        }
    }

    /// Resumes and kills every process.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }

    /// Resumes every process (healing any pause).
    pub fn resume_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.resume(i);
        }
    }

    /// Restarts every node that is not running.
    pub fn start_all(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        Ok(())
    }
}

/// The directory the tool was started in (for binaries given relative to
/// the repository, since nodes run in their own directories).
/// Where the tool was started: the `{cwd}` substitution of target commands.
pub fn cwd() -> String {
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into())
}

fn signal(c: &Child, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(c.id()) else {
        return;
    };
    // SAFETY: kill(2) on a pid we spawned and have not reaped yet (the Child
    // is still owned), so the pid cannot have been reused.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.stop_all();
    }
}
