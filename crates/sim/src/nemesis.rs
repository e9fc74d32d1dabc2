//! Fault choices: the Jepsen partition shapes and the menu of faults the
//! simulator injects.
//!
//! Why separate from the cluster: the shapes are pure functions from a node
//! count and random choices to a set of cut directed links, testable on
//! their own, and the menu is the one place to read to know what the
//! simulator throws at the Raft core.

use crate::rng::SimRng;

/// A partition shape, as a list of directed links to cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    pub cut: Vec<(usize, usize)>,
}

/// Cuts every link between `a` and `b`, both ways.
fn cut_between(a: &[usize], b: &[usize], cut: &mut Vec<(usize, usize)>) {
    for &x in a {
        for &y in b {
            cut.push((x, y));
            cut.push((y, x));
        }
    }
}

/// Draws a random partition of `n` nodes.
pub fn random_partition(n: usize, rng: &mut SimRng) -> Partition {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut cut = Vec::new();
    let name = match rng.below(5) {
        0 => {
            cut_between(&order[..1], &order[1..], &mut cut);
            "isolate-one"
        }
        1 => {
            let minority = n / 2;
            cut_between(&order[..minority], &order[minority..], &mut cut);
            "majority-minority"
        }
        2 => {
            // order[0] is the bridge; the rest split in two halves that
            // cannot talk to each other, but both talk to the bridge.
            let rest = &order[1..];
            let half = rest.len() / 2;
            cut_between(&rest[..half], &rest[half..], &mut cut);
            "bridge"
        }
        3 => {
            // Overlapping rings: each node talks only to its two
            // neighbours on a random ring (a full mesh when n <= 3).
            for i in 0..n {
                for j in 0..n {
                    let (pi, pj) = (
                        order.iter().position(|&x| x == i).unwrap_or(0),
                        order.iter().position(|&x| x == j).unwrap_or(0),
                    );
                    let d = pi.abs_diff(pj);
                    if i != j && d != 1 && d != n - 1 {
                        cut.push((i, j));
                    }
                }
            }
            "ring"
        }
        _ => {
            let x = order[0];
            if rng.below(2) == 0 {
                cut.extend(order[1..].iter().map(|&y| (x, y)));
                "one-way-out"
            } else {
                cut.extend(order[1..].iter().map(|&y| (y, x)));
                "one-way-in"
            }
        }
    };
    Partition { name, cut }
}

/// One nemesis action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Partition,
    /// Cut the current leader off from everybody (both ways).
    IsolateLeader,
    Heal,
    Crash,
    /// Crash the current leader (the classic trigger of figure 8).
    CrashLeader,
    Restart,
    Pause,
    Resume,
    FlakyNetwork,
    CalmNetwork,
    TransferLeader,
    RemoveVoter,
    AddLearner,
    PromoteLearner,
    ReplaceVoter,
}

/// The menu with weights (relative frequencies).
const MENU: &[(Fault, u64)] = &[
    (Fault::Partition, 12),
    (Fault::IsolateLeader, 6),
    (Fault::Heal, 12),
    (Fault::Crash, 8),
    (Fault::CrashLeader, 8),
    (Fault::Restart, 18),
    (Fault::Pause, 5),
    (Fault::Resume, 6),
    (Fault::FlakyNetwork, 6),
    (Fault::CalmNetwork, 5),
    (Fault::TransferLeader, 8),
    (Fault::RemoveVoter, 4),
    (Fault::AddLearner, 5),
    (Fault::PromoteLearner, 5),
    (Fault::ReplaceVoter, 3),
];

/// Draws the next fault.
pub fn random_fault(rng: &mut SimRng) -> Fault {
    let total: u64 = MENU.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for &(f, w) in MENU {
        if x < w {
            return f;
        }
        x -= w;
    }
    unreachable!("weights sum to total")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(p: &Partition, a: usize, b: usize) -> bool {
        !p.cut.contains(&(a, b))
    }

    #[test]
    fn every_shape_appears_and_is_well_formed() {
        let mut rng = SimRng::new(5);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let n = if rng.below(2) == 0 { 3 } else { 5 };
            let p = random_partition(n, &mut rng);
            assert!(p.cut.iter().all(|&(a, b)| a != b && a < n && b < n));
            assert!(!p.cut.is_empty() || (p.name == "ring" && n <= 3));
            if p.name == "bridge" {
                // Someone talks to everybody.
                assert!((0..n).any(|x| (0..n).all(|y| x == y || connected(&p, x, y))));
            }
            names.insert(p.name);
        }
        assert_eq!(names.len(), 6, "{names:?}");
    }

    #[test]
    fn every_fault_is_drawn() {
        let mut rng = SimRng::new(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(format!("{:?}", random_fault(&mut rng)));
        }
        assert_eq!(seen.len(), MENU.len());
    }
}
