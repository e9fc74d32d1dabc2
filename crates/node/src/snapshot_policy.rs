//! When a group's log is compacted behind a snapshot (decision 0012).
//!
//! Why bytes and not only entries: a snapshot costs the size of the state
//! (encode, write, fsync: seconds of a core for a few hundred MB), a log
//! costs its own bytes (disk, replay at restart, catch-up of a lagging
//! follower). Compacting every N entries made a node with a large state
//! re-encode it every few seconds under a steady write load (N = 20,000
//! entries is ten seconds of `SET -P 1`) while the log it freed was a few
//! MB. As Redis does for its AOF (`auto-aof-rewrite-percentage 100`,
//! `auto-aof-rewrite-min-size 64mb`), a snapshot is taken once the log has
//! grown to a percentage of the last snapshot's size, and not before a
//! minimum: the write amplification stays at most 100/percent, the log at
//! most about (1 + percent/100) times the state. A cap on entries remains,
//! since every live entry also costs a slot of the in-memory log index
//! (~70 bytes) however small its payload.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Default [`SnapshotPolicy::max_log_entries`].
pub const SNAPSHOT_LOG_ENTRIES: u64 = 250_000;
/// Default [`SnapshotPolicy::min_log_bytes`] (Redis's
/// `auto-aof-rewrite-min-size`).
pub const SNAPSHOT_LOG_MIN_BYTES: u64 = 64 << 20;
/// Default [`SnapshotPolicy::log_percent`] (Redis's
/// `auto-aof-rewrite-percentage`).
pub const SNAPSHOT_LOG_PERCENT: u64 = 100;

/// The compaction trigger of one node (the same rule for every group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// A snapshot is due once the log holds this many applied entries,
    /// whatever their size (bounds the in-memory log index).
    pub max_log_entries: u64,
    /// Below this many log bytes no snapshot is due by size.
    pub min_log_bytes: u64,
    /// A snapshot is due once the log's bytes reach this percentage of the
    /// last snapshot's size (and `min_log_bytes`). 0 = by size as soon as
    /// `min_log_bytes` is reached.
    pub log_percent: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            max_log_entries: SNAPSHOT_LOG_ENTRIES,
            min_log_bytes: SNAPSHOT_LOG_MIN_BYTES,
            log_percent: SNAPSHOT_LOG_PERCENT,
        }
    }
}

impl SnapshotPolicy {
    /// The default policy with the entry cap set to `n` (tests and drills
    /// use small values so that lagging followers catch up by snapshot).
    pub fn every_entries(n: u64) -> Self {
        SnapshotPolicy {
            max_log_entries: n,
            ..SnapshotPolicy::default()
        }
    }

    /// Whether a group whose log holds `applied_entries` applied entries
    /// (compactable: a snapshot can only cover applied state) and
    /// `log_bytes` bytes of payload, last snapshotted at `snapshot_bytes`,
    /// should be snapshotted now.
    pub fn due(&self, applied_entries: u64, log_bytes: u64, snapshot_bytes: u64) -> bool {
        if applied_entries == 0 {
            return false;
        }
        applied_entries >= self.max_log_entries.max(1)
            || log_bytes >= self.log_budget(snapshot_bytes)
    }

    /// The log bytes a group last snapshotted at `snapshot_bytes` may keep:
    /// `max(min_log_bytes, log_percent% of snapshot_bytes)`.
    pub fn log_budget(&self, snapshot_bytes: u64) -> u64 {
        let by_size = u128::from(snapshot_bytes) * u128::from(self.log_percent) / 100;
        self.min_log_bytes
            .max(u64::try_from(by_size).unwrap_or(u64::MAX))
    }

    /// Whether a WAL shared by groups whose budgets ([`Self::log_budget`])
    /// sum to `budgets` has outgrown them by more than two segments (the
    /// unit of reclaim: the active segment is partly filled, the oldest
    /// partly dead; `wal_bytes` counts both whole). The groups' logs are interleaved in one WAL and a
    /// segment is reclaimed only once no group needs it, so a group with a
    /// small but old log keeps every later segment on disk: when the WAL
    /// is over budget, the group pinning its oldest segment is due. In a
    /// steady state where every group respects its budget this never
    /// fires (as RocksDB's `max_total_wal_size` flushes the column family
    /// holding the oldest WAL file).
    pub fn wal_over_budget(&self, wal_bytes: u64, budgets: u64, segment_bytes: u64) -> bool {
        wal_bytes > budgets.saturating_add(segment_bytes.saturating_mul(2))
    }
}

/// What a node's log-compaction snapshots cost, for INFO (written by the
/// driver, read by anyone).
#[derive(Debug, Default)]
pub struct SnapshotStats {
    taken: AtomicU64,
    last_bytes: AtomicU64,
    last_ms: AtomicU64,
    in_progress: AtomicBool,
}

/// A reading of [`SnapshotStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    /// Snapshots written and compacted behind since the node started.
    pub taken: u64,
    /// Size of the last one's data.
    pub last_bytes: u64,
    /// Wall time of the last one: freeze to durable file.
    pub last_ms: u64,
    /// One is being encoded or written now.
    pub in_progress: bool,
}

impl SnapshotStats {
    pub(crate) fn started(&self) {
        self.in_progress.store(true, Ordering::Release);
    }

    /// The job ended: `Some((bytes, ms))` if its snapshot was kept.
    pub(crate) fn finished(&self, kept: Option<(u64, u64)>) {
        if let Some((bytes, ms)) = kept {
            self.last_bytes.store(bytes, Ordering::Release);
            self.last_ms.store(ms, Ordering::Release);
            self.taken.fetch_add(1, Ordering::AcqRel);
        }
        self.in_progress.store(false, Ordering::Release);
    }

    pub fn read(&self) -> SnapshotCounts {
        SnapshotCounts {
            taken: self.taken.load(Ordering::Acquire),
            last_bytes: self.last_bytes.load(Ordering::Acquire),
            last_ms: self.last_ms.load(Ordering::Acquire),
            in_progress: self.in_progress.load(Ordering::Acquire),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn nothing_applied_is_never_due() {
        let p = SnapshotPolicy::every_entries(1);
        assert!(!p.due(0, 10 * SNAPSHOT_LOG_MIN_BYTES, 0));
    }

    #[test]
    fn the_entry_cap_triggers_whatever_the_sizes() {
        let p = SnapshotPolicy::every_entries(100);
        assert!(!p.due(99, 1, 10 * MB));
        assert!(p.due(100, 1, 10 * MB));
        assert!(
            SnapshotPolicy::every_entries(0).due(1, 0, 0),
            "a zero cap means every entry"
        );
    }

    #[test]
    fn a_large_state_waits_for_a_log_as_large_as_itself() {
        let p = SnapshotPolicy::default();
        // 300 MB of state: 64 MB of log is not enough, 300 MB is.
        assert!(!p.due(1000, 64 * MB, 300 * MB));
        assert!(!p.due(1000, 300 * MB - 1, 300 * MB));
        assert!(p.due(1000, 300 * MB, 300 * MB));
    }

    #[test]
    fn a_small_state_waits_for_the_minimum_log() {
        let p = SnapshotPolicy::default();
        assert!(!p.due(1000, 63 * MB, MB));
        assert!(p.due(1000, 64 * MB, MB));
        assert!(p.due(1000, 64 * MB, 0), "never snapshotted yet");
    }

    #[test]
    fn the_wal_is_over_budget_only_past_the_summed_budgets_and_two_segments() {
        let p = SnapshotPolicy::default();
        let budgets = p.log_budget(0) + p.log_budget(300 * MB);
        assert_eq!(budgets, 64 * MB + 300 * MB);
        assert!(!p.wal_over_budget(budgets + 128 * MB, budgets, 64 * MB));
        assert!(p.wal_over_budget(budgets + 128 * MB + 1, budgets, 64 * MB));
        assert!(!p.wal_over_budget(u64::MAX, u64::MAX, 64 * MB), "saturates");
    }

    #[test]
    fn the_percentage_scales_the_threshold() {
        let p = SnapshotPolicy {
            log_percent: 50,
            min_log_bytes: MB,
            ..SnapshotPolicy::default()
        };
        assert!(!p.due(10, 49 * MB, 100 * MB));
        assert!(p.due(10, 50 * MB, 100 * MB));
        let zero = SnapshotPolicy {
            log_percent: 0,
            ..p
        };
        assert!(zero.due(10, MB, 100 * MB), "0%: the minimum alone");
        let huge = SnapshotPolicy {
            log_percent: u64::MAX,
            ..p
        };
        assert!(
            !huge.due(10, u64::MAX - 1, 100 * MB),
            "no overflow: a threshold past u64 is never reached"
        );
    }
}
