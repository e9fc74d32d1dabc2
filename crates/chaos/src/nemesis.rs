//! The nemesis: injects faults on a schedule and heals each one.
//!
//! Why one thread with a fixed rhythm (quiet, fault, heal): windows never
//! overlap, so every anomaly and every unavailability window can be
//! attributed to one fault in the timeline, and healing is always possible
//! from a known state. Randomness comes from a seeded generator, so a
//! schedule can be replayed.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::{nanos_since, Conn};
use crate::cmd;
use crate::config::Target;
use crate::history::FaultWindow;
use crate::net::Firewall;
use crate::procs::Procs;
use crate::rng::Rng;
use crate::topology::{cluster_nodes, leaders, replicas_of, NodeInfo};

/// Most faults one run injects.
pub const MAX_FAULTS: usize = 1000;

/// Granularity of the nemesis' sleeps (it checks the stop flag this often).
const TICK: Duration = Duration::from_millis(50);

/// The kinds of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 a random node, restart it at heal.
    Kill,
    /// kill -9 a shard leader (master) while clients write.
    KillLeader,
    /// SIGSTOP a random node, SIGCONT at heal.
    Pause,
    /// Isolate one random node from all others.
    PartitionOne,
    /// Isolate a shard leader from all others.
    PartitionLeader,
    /// Split the nodes into a random majority and minority.
    PartitionHalves,
    /// Each node sees only its ring neighbours (overlapping majorities).
    PartitionRing,
    /// A one-way cut: a leader cannot hear the others (it can send).
    PartitionOneWay,
    /// CLUSTER FAILOVER on a replica of a random shard.
    Failover,
    /// Restart a random node with its clocks (wall and monotonic) running
    /// twice as fast under libfaketime; restart it normally at heal.
    ClockSkew,
}

/// libfaketime's preload library (Debian's path).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The skew: no offset, clock rate x2 (timeouts and leases expire early).
pub const FAKETIME_SPEC: &str = "+0 x2";

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::Kill,
        Fault::KillLeader,
        Fault::Pause,
        Fault::PartitionOne,
        Fault::PartitionLeader,
        Fault::PartitionHalves,
        Fault::PartitionRing,
        Fault::PartitionOneWay,
        Fault::Failover,
        Fault::ClockSkew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::Pause => "pause",
            Fault::PartitionOne => "partition-one",
            Fault::PartitionLeader => "partition-leader",
            Fault::PartitionHalves => "partition-halves",
            Fault::PartitionRing => "partition-ring",
            Fault::PartitionOneWay => "partition-oneway",
            Fault::Failover => "failover",
            Fault::ClockSkew => "clock-skew",
        }
    }

    /// Parses a comma list; `all`, `partition` and `process` are groups.
    pub fn parse_list(s: &str) -> Result<Vec<Fault>, String> {
        let mut out = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w {
                "none" => {}
                "all" => out.extend(Fault::ALL),
                "partition" => out.extend(Fault::ALL.into_iter().filter(|f| f.is_partition())),
                "process" => out.extend([Fault::Kill, Fault::KillLeader, Fault::Pause]),
                _ => out.push(
                    Fault::ALL
                        .into_iter()
                        .find(|f| f.name() == w)
                        .ok_or_else(|| format!("unknown fault {w}"))?,
                ),
            }
        }
        Ok(out)
    }

    pub fn is_partition(self) -> bool {
        self.name().starts_with("partition")
    }

    fn needs_cluster(self) -> bool {
        matches!(
            self,
            Fault::KillLeader | Fault::PartitionLeader | Fault::PartitionOneWay | Fault::Failover
        )
    }
}

/// Schedule parameters.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub faults: Vec<Fault>,
    /// Quiet time before each fault.
    pub interval: Duration,
    /// How long a fault lasts before it is healed.
    pub hold: Duration,
}

/// What must be undone at heal.
enum Undo {
    Restart(usize),
    /// Restart without the faketime environment.
    Unskew(usize),
    Resume(usize),
    Heal,
    Nothing,
}

/// The nemesis; owns the processes and the firewall while the run lasts.
pub struct Nemesis<'a> {
    pub target: &'a Target,
    pub procs: &'a mut Procs,
    pub fw: &'a mut Firewall,
    pub rng: Rng,
    pub start: Instant,
    pub timeout: Duration,
}

impl Nemesis<'_> {
    /// Runs the schedule until `stop` or `until`; every fault is healed
    /// before returning. Returns the fault windows.
    pub fn run(&mut self, s: &Schedule, stop: &AtomicBool, until: Instant) -> Vec<FaultWindow> {
        let mut windows = Vec::new();
        let usable: Vec<Fault> = s
            .faults
            .iter()
            .copied()
            .filter(|f| self.target.cluster || !f.needs_cluster())
            .filter(|f| *f != Fault::Failover || self.target.failover)
            .filter(|f| *f != Fault::ClockSkew || self.target.clock_skew)
            .collect();
        if usable.is_empty() {
            // No faults: just keep the clients company until the end.
            sleep_until(until, stop, until);
            return windows;
        }
        // Seeds start the rotation at different kinds, so short runs with
        // different seeds cover every kind between them.
        let offset = self.rng.below(usable.len() as u64) as usize;
        for n in 0..MAX_FAULTS {
            if !sleep_until(Instant::now() + s.interval, stop, until) {
                break;
            }
            let fault = usable[(offset + n) % usable.len()];
            let begin = nanos_since(self.start);
            let (detail, undo) = match self.inject(fault) {
                Ok(x) => x,
                Err(e) => (format!("not injected: {e}"), Undo::Nothing),
            };
            if !matches!(undo, Undo::Nothing) {
                sleep_until(Instant::now() + s.hold, stop, until);
            }
            let heal_err = self.undo(undo).err();
            let detail = match heal_err {
                Some(e) => format!("{detail}; heal: {e}"),
                None => detail,
            };
            eprintln!("nemesis: {} {detail}", fault.name());
            windows.push(FaultWindow {
                kind: fault.name().to_string(),
                detail,
                start_ns: begin,
                end_ns: nanos_since(self.start),
            });
        }
        windows
    }

    fn ip(&self, i: usize) -> Ipv4Addr {
        self.target.nodes[i].ip.parse().expect("validated loopback")
    }

    fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.target.nodes.iter().position(|n| n.socket() == addr)
    }

    /// CLUSTER NODES from a random live node. Not always the same one: a
    /// node just healed from isolation still flags the others `fail?` for a
    /// while and names only itself leader, so asking it first every time
    /// would pick the same victim fault after fault.
    fn topology(&mut self) -> Vec<NodeInfo> {
        let mut live: Vec<SocketAddr> = (0..self.procs.len())
            .filter(|i| self.procs.is_running(*i))
            .map(|i| self.target.nodes[i].socket())
            .collect();
        self.rng.shuffle(&mut live);
        cluster_nodes(&live, self.timeout)
    }

    /// A random current shard leader's node index.
    fn random_leader(&mut self) -> Result<usize, String> {
        let nodes = self.topology();
        let ls = leaders(&nodes);
        if ls.is_empty() {
            return Err("no leader known".into());
        }
        let l = ls[self.rng.below(ls.len() as u64) as usize];
        self.index_of(l.addr)
            .ok_or_else(|| format!("{} is not a target node", l.addr))
    }

    fn inject(&mut self, f: Fault) -> Result<(String, Undo), String> {
        let n = self.procs.len();
        let all: Vec<usize> = (0..n).collect();
        match f {
            Fault::Kill | Fault::KillLeader => {
                let i = if f == Fault::Kill {
                    self.rng.below(n as u64) as usize
                } else {
                    self.random_leader()?
                };
                self.procs.kill(i);
                Ok((
                    format!("kill -9 node {i} ({})", self.target.nodes[i].ip),
                    Undo::Restart(i),
                ))
            }
            Fault::Pause => {
                let i = self.rng.below(n as u64) as usize;
                self.procs.pause(i);
                Ok((format!("SIGSTOP node {i}"), Undo::Resume(i)))
            }
            Fault::PartitionOne | Fault::PartitionLeader => {
                let i = if f == Fault::PartitionOne {
                    self.rng.below(n as u64) as usize
                } else {
                    self.random_leader()?
                };
                let others: Vec<usize> = all.iter().copied().filter(|j| *j != i).collect();
                self.cut(&[i], &others, true)?;
                Ok((
                    format!("isolate node {i} ({})", self.target.nodes[i].ip),
                    Undo::Heal,
                ))
            }
            Fault::PartitionHalves => {
                let mut order = all.clone();
                self.rng.shuffle(&mut order);
                let (minority, majority) = order.split_at(n / 2);
                self.cut(minority, majority, true)?;
                Ok((
                    format!("minority {minority:?} | majority {majority:?}"),
                    Undo::Heal,
                ))
            }
            Fault::PartitionRing => {
                // Node i talks only to i-1 and i+1 (mod n).
                for i in 0..n {
                    let far: Vec<usize> = all
                        .iter()
                        .copied()
                        .filter(|j| *j != i && *j != (i + 1) % n && *j != (i + n - 1) % n)
                        .collect();
                    self.cut(&[i], &far, false)?;
                }
                Ok((
                    "ring: each node sees only its neighbours".into(),
                    Undo::Heal,
                ))
            }
            Fault::PartitionOneWay => {
                let i = self.random_leader()?;
                let others: Vec<usize> = all.iter().copied().filter(|j| *j != i).collect();
                self.cut(&others, &[i], false)?;
                Ok((format!("node {i} cannot hear the others"), Undo::Heal))
            }
            Fault::Failover => self.failover(),
            Fault::ClockSkew => {
                if !std::path::Path::new(LIBFAKETIME).exists() {
                    return Err(format!("{LIBFAKETIME} missing (apt-get install faketime)"));
                }
                let i = self.rng.below(n as u64) as usize;
                let env = vec![
                    ("LD_PRELOAD".to_string(), LIBFAKETIME.to_string()),
                    ("FAKETIME".to_string(), FAKETIME_SPEC.to_string()),
                ];
                self.procs.restart_with_env(i, env)?;
                Ok((
                    format!("node {i} restarted with clock {FAKETIME_SPEC:?}"),
                    Undo::Unskew(i),
                ))
            }
        }
    }

    fn failover(&mut self) -> Result<(String, Undo), String> {
        let nodes = self.topology();
        // Only leaders with a replica listed: in slotraft a node that leads
        // one shard is listed as a master even when it also follows another
        // shard's leader, so some leaders show no replica at all.
        let ls: Vec<&NodeInfo> = leaders(&nodes)
            .into_iter()
            .filter(|l| !replicas_of(&nodes, l).is_empty())
            .collect();
        if ls.is_empty() {
            return Err("no leader with a healthy replica known".into());
        }
        let l = ls[self.rng.below(ls.len() as u64) as usize];
        let reps = replicas_of(&nodes, l);
        let r = reps.first().expect("filtered above");
        let mut c = Conn::connect(r.addr, self.timeout).map_err(|e| e.to_string())?;
        let reply = c
            .call(cmd!["CLUSTER", "FAILOVER"])
            .map_err(|e| e.to_string())?;
        Ok((
            format!(
                "CLUSTER FAILOVER on {} (replica of {}): {reply:?}",
                r.addr, l.addr
            ),
            Undo::Nothing,
        ))
    }

    /// Cuts traffic from `a` to `b` (and back when `both`).
    fn cut(&mut self, a: &[usize], b: &[usize], both: bool) -> Result<(), String> {
        let ia: Vec<Ipv4Addr> = a.iter().map(|i| self.ip(*i)).collect();
        let ib: Vec<Ipv4Addr> = b.iter().map(|i| self.ip(*i)).collect();
        self.fw.drop_between(&ia, &ib)?;
        if both {
            self.fw.drop_between(&ib, &ia)?;
        }
        Ok(())
    }

    fn undo(&mut self, u: Undo) -> Result<(), String> {
        match u {
            Undo::Restart(i) => self.procs.start(i),
            Undo::Unskew(i) => self.procs.restart_with_env(i, Vec::new()),
            Undo::Resume(i) => {
                self.procs.resume(i);
                Ok(())
            }
            Undo::Heal => {
                self.fw.heal();
                Ok(())
            }
            Undo::Nothing => Ok(()),
        }
    }
}

/// Sleeps until `t` in ticks; false when stopped or past `until` first.
fn sleep_until(t: Instant, stop: &AtomicBool, until: Instant) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) || Instant::now() >= until {
            return false;
        }
        let now = Instant::now();
        if now >= t {
            return true;
        }
        std::thread::sleep(TICK.min(t - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_lists() {
        assert_eq!(Fault::parse_list("all").unwrap().len(), Fault::ALL.len());
        assert_eq!(
            Fault::parse_list("clock-skew").unwrap(),
            vec![Fault::ClockSkew]
        );
        assert_eq!(Fault::parse_list("partition").unwrap().len(), 5);
        assert_eq!(
            Fault::parse_list("kill,failover").unwrap(),
            vec![Fault::Kill, Fault::Failover]
        );
        assert!(Fault::parse_list("none").unwrap().is_empty());
        assert!(Fault::parse_list("flood").is_err());
    }
}
