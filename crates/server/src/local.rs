//! `slotraft local`: a whole cluster of real node processes on this machine,
//! in the foreground until Ctrl-C — for development and demos.
//!
//! Why real processes (not threads): it is exactly what users run in
//! production, so `kill -9` of one node, restarts from its directory and
//! firewall rules between addresses behave as they will there.
//!
//! Node i (1-based) listens on `--port + i - 1`, keeps its data in
//! `DIR/node-i` and logs to `DIR/node-i/node.log`. A second run with the
//! same `--dir` restarts the same cluster (no create).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::admin;
use crate::cli::{CreateArgs, LocalArgs};

/// How long to wait for every node to accept connections.
pub const START_WAIT: Duration = Duration::from_secs(20);
/// How long stopped nodes get to exit before they are killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Most nodes `local` starts.
pub const MAX_LOCAL_NODES: usize = 64;
const POLL: Duration = Duration::from_millis(50);

pub fn run(a: LocalArgs) -> ExitCode {
    match run_inner(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ERR] {e}");
            ExitCode::FAILURE
        }
    }
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    /// Every process started is stopped, also on errors.
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + STOP_GRACE;
        for c in &mut self.0 {
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(POLL);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn node_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("node-{i}"))
}

fn spawn_node(a: &LocalArgs, i: usize, port: u16) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let dir = node_dir(&a.dir, i);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("node.log"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Command::new(exe)
        .args(["server", "--bind", &a.bind, "--port", &port.to_string()])
        .arg("--dir")
        .arg(&dir)
        .args(["--cluster-enabled", "yes"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start node {i}: {e}"))
}

fn wait_listening(addrs: &[String]) -> Result<(), String> {
    let deadline = Instant::now() + START_WAIT;
    for a in addrs {
        while std::net::TcpStream::connect(a).is_err() {
            if Instant::now() >= deadline {
                return Err(format!("node {a} did not start (see its node.log)"));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

fn run_inner(a: &LocalArgs) -> Result<(), String> {
    if a.nodes == 0 || a.nodes > MAX_LOCAL_NODES {
        return Err(format!("--nodes must be 1..={MAX_LOCAL_NODES}"));
    }
    let last = a.port as usize + a.nodes - 1;
    if last > u16::MAX as usize - 10_000 {
        return Err("ports too high: port + 10000 must fit the bus port".into());
    }
    let ports: Vec<u16> = (0..a.nodes).map(|i| a.port + i as u16).collect();
    let existing = (1..=a.nodes)
        .filter(|i| crate::identity::path(&node_dir(&a.dir, *i)).exists())
        .count();
    if existing != 0 && existing != a.nodes {
        return Err(format!(
            "{} holds {existing} of {} node identities: remove it or use another --dir",
            a.dir.display(),
            a.nodes
        ));
    }
    let mut nodes = Nodes(Vec::new());
    for (i, port) in ports.iter().enumerate() {
        nodes.0.push(spawn_node(a, i + 1, *port)?);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("{}:{p}", a.bind)).collect();
    wait_listening(&addrs)?;
    if existing == 0 {
        crate::admin::run_create(&CreateArgs {
            nodes: addrs.clone(),
            replicas: a.replicas.unwrap_or(3).min(a.nodes),
            shards: a.shards,
            wait: 30,
        })?;
    } else {
        println!(">>> Restarted the cluster in {}", a.dir.display());
        let sockets = addrs
            .iter()
            .map(|s| s.parse().map_err(|e| format!("{s}: {e}")))
            .collect::<Result<Vec<_>, String>>()?;
        admin::wait_ready(&sockets, Duration::from_secs(30))?;
    }
    println!(
        "slotraft local: {} nodes on {} (data in {}). Try: redis-cli -c -p {} set foo bar",
        a.nodes,
        addrs.join(" "),
        a.dir.display(),
        a.port
    );
    println!("Press Ctrl-C to stop.");
    wait_for_stop(&mut nodes)
}

/// Blocks until SIGINT/SIGTERM, or until a node exits on its own.
fn wait_for_stop(nodes: &mut Nodes) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(()),
                _ = int.recv() => return Ok(()),
                _ = tick.tick() => {
                    for (i, c) in nodes.0.iter_mut().enumerate() {
                        if let Ok(Some(st)) = c.try_wait() {
                            return Err(format!("node {} exited: {st}", i + 1));
                        }
                    }
                }
            }
        }
    })
}
