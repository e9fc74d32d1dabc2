//! The simulated network: per-message delay, loss, duplication and
//! reordering, and directed link cuts (partitions).
//!
//! Why a directed link matrix: every Jepsen partition shape (isolate one
//! node, majority/minority, bridge, overlapping rings, one-way) is a set of
//! cut directed links, so one representation covers them all, and a
//! one-way cut is just an asymmetric matrix.
//!
//! Messages are generic: the network never looks inside them.

use crate::rng::SimRng;

/// Bound on messages in flight; beyond it new messages are dropped (a
/// congested network). Large enough never to matter in a healthy run.
pub const MAX_IN_FLIGHT: usize = 100_000;

/// How the network misbehaves right now. Probabilities are per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConditions {
    pub drop_per_mille: u64,
    pub duplicate_per_mille: u64,
    /// Normal one-way latency range, in simulated milliseconds.
    pub min_delay: u64,
    pub max_delay: u64,
    /// Chance that a message is held much longer (reordering it far past
    /// its successors).
    pub long_delay_per_mille: u64,
    pub long_delay_max: u64,
}

impl NetConditions {
    /// A healthy LAN: no loss, 1-5 ms latency (still reorders slightly).
    pub const CALM: NetConditions = NetConditions {
        drop_per_mille: 0,
        duplicate_per_mille: 0,
        min_delay: 1,
        max_delay: 5,
        long_delay_per_mille: 0,
        long_delay_max: 0,
    };

    /// Random flaky conditions.
    pub fn random(rng: &mut SimRng) -> Self {
        NetConditions {
            drop_per_mille: *rng.pick(&[0, 10, 50, 200]),
            duplicate_per_mille: *rng.pick(&[0, 10, 50]),
            min_delay: 1,
            max_delay: *rng.pick(&[3, 10, 40]),
            long_delay_per_mille: *rng.pick(&[0, 10, 50]),
            long_delay_max: *rng.pick(&[100, 400]),
        }
    }
}

/// One message on the wire.
#[derive(Clone, Debug)]
pub struct InFlight<M> {
    pub deliver_at: u64,
    /// Tie-breaker giving a total, seed-determined order.
    pub seq: u64,
    pub from: usize,
    pub to: usize,
    pub msg: M,
}

/// The network between `n` nodes (indexes `0..n`).
#[derive(Debug)]
pub struct Network<M> {
    in_flight: Vec<InFlight<M>>,
    /// `cut[from][to]`: messages on that directed link are lost.
    cut: Vec<Vec<bool>>,
    pub conditions: NetConditions,
    rng: SimRng,
    next_seq: u64,
    pub stats: NetStats,
}

/// Counters for the summary line.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetStats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub cut: u64,
}

impl<M: Clone> Network<M> {
    pub fn new(n: usize, rng: SimRng) -> Self {
        Network {
            in_flight: Vec::new(),
            cut: vec![vec![false; n]; n],
            conditions: NetConditions::CALM,
            rng,
            next_seq: 0,
            stats: NetStats::default(),
        }
    }

    pub fn nodes(&self) -> usize {
        self.cut.len()
    }

    /// Sends `msg`; it may be lost, duplicated or delayed.
    pub fn send(&mut self, now: u64, from: usize, to: usize, msg: M) {
        self.stats.sent += 1;
        if self.cut[from][to] {
            self.stats.cut += 1;
            return;
        }
        if self.rng.chance(self.conditions.drop_per_mille) || self.in_flight.len() >= MAX_IN_FLIGHT
        {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.conditions.duplicate_per_mille) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.delay();
            let seq = self.next_seq;
            self.next_seq += 1;
            self.in_flight.push(InFlight {
                deliver_at: now + delay,
                seq,
                from,
                to,
                msg: msg.clone(),
            });
        }
    }

    fn delay(&mut self) -> u64 {
        let c = self.conditions;
        if c.long_delay_max > 0 && self.rng.chance(c.long_delay_per_mille) {
            self.rng
                .range(c.max_delay, c.long_delay_max.max(c.max_delay))
        } else {
            self.rng.range(c.min_delay, c.max_delay.max(c.min_delay))
        }
    }

    /// Removes and returns every message due at or before `now`, in a
    /// seed-determined shuffled order (delivery order within one
    /// millisecond is arbitrary, as on a real network). Messages on links
    /// cut after they were sent are lost at delivery.
    pub fn take_due(&mut self, now: u64) -> Vec<InFlight<M>> {
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].deliver_at <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|m| m.seq);
        self.rng.shuffle(&mut due);
        due.retain(|m| {
            let lost = self.cut[m.from][m.to];
            if lost {
                self.stats.cut += 1;
            }
            !lost
        });
        due
    }

    /// Puts a message back to be delivered later (its receiver is paused).
    pub fn hold(&mut self, mut m: InFlight<M>, until: u64) {
        m.deliver_at = until;
        self.in_flight.push(m);
    }

    /// Drops every message to `node` (it crashed: its sockets are gone).
    pub fn drop_to(&mut self, node: usize) {
        self.in_flight.retain(|m| m.to != node);
    }

    /// Cuts or restores the directed link `from -> to`.
    pub fn set_cut(&mut self, from: usize, to: usize, cut: bool) {
        if from != to {
            self.cut[from][to] = cut;
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        for row in &mut self.cut {
            row.iter_mut().for_each(|c| *c = false);
        }
    }

    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        self.cut[from][to]
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calm_network_delivers_everything_within_max_delay() {
        let mut net: Network<u32> = Network::new(3, SimRng::new(1));
        for i in 0..100 {
            net.send(0, 0, 1, i);
        }
        let got = net.take_due(NetConditions::CALM.max_delay);
        assert_eq!(got.len(), 100);
        assert_eq!(net.in_flight(), 0);
    }

    #[test]
    fn cut_links_lose_messages_one_way_only() {
        let mut net: Network<u32> = Network::new(3, SimRng::new(1));
        net.set_cut(0, 1, true);
        net.send(0, 0, 1, 1);
        net.send(0, 1, 0, 2);
        let got = net.take_due(100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].msg, 2);
        assert!(net.is_cut(0, 1) && !net.is_cut(1, 0));
        net.heal();
        net.send(0, 0, 1, 3);
        assert_eq!(net.take_due(100).len(), 1);
    }

    #[test]
    fn lossy_network_drops_and_duplicates() {
        let mut net: Network<u32> = Network::new(2, SimRng::new(9));
        net.conditions.drop_per_mille = 300;
        net.conditions.duplicate_per_mille = 300;
        for i in 0..1000 {
            net.send(0, 0, 1, i);
        }
        let got = net.take_due(1000).len();
        assert!(net.stats.dropped > 200 && net.stats.duplicated > 100);
        assert_eq!(got as u64, 1000 - net.stats.dropped + net.stats.duplicated);
    }
}
