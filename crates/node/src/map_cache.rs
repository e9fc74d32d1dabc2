//! The node's newest known cluster map, shared by the driver, the
//! gossip task and the server.
//!
//! Why a `watch` channel: readers want "the current map, cheaply" (an `Arc`
//! clone, no lock held while they route a command) and "tell me when it
//! changes" (CLUSTER replies, gossip's `sync_with_map`); writers are rare.
//! Two sources write it: the metadata replica's applied map (driver)
//! and maps pulled from peers (gossip). Both go through [`MapCache::offer`],
//! which keeps the map whose epoch is highest: an epoch names exactly one
//! map (every applied `MetaCommand` bumps it by one), so "higher epoch wins"
//! makes the published map only ever move forward, whatever order the
//! sources deliver in.

use slotraft_cluster::ClusterMap;
use std::sync::Arc;
use tokio::sync::watch;

/// Shared handle to the published map (clones publish to the same channel).
#[derive(Clone, Debug)]
pub struct MapCache {
    tx: Arc<watch::Sender<Arc<ClusterMap>>>,
}

impl MapCache {
    /// A cache that starts with `initial`.
    pub fn new(initial: ClusterMap) -> MapCache {
        let (tx, _rx) = watch::channel(Arc::new(initial));
        MapCache { tx: Arc::new(tx) }
    }

    /// The newest map (an `Arc` clone; never blocks on a writer for long).
    pub fn current(&self) -> Arc<ClusterMap> {
        self.tx.borrow().clone()
    }

    /// A receiver notified on every change of [`Self::current`].
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterMap>> {
        self.tx.subscribe()
    }

    /// Publishes `map` if its epoch is higher than the current one's;
    /// returns whether it did. Invariant: the published epoch never drops.
    pub fn offer(&self, map: ClusterMap) -> bool {
        self.tx.send_if_modified(|cur| {
            if map.epoch() <= cur.epoch() {
                return false;
            }
            *cur = Arc::new(map);
            true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotraft_cluster::{Bootstrap, ClusterId, MetaCommand, NodeSpec, NodeState};
    use slotraft_types::NodeId;
    use std::net::{IpAddr, Ipv4Addr};

    fn map_at(epoch: u64) -> ClusterMap {
        let mut m = ClusterMap::new();
        let boot = MetaCommand::Bootstrap(Bootstrap {
            cluster_id: ClusterId(1),
            nodes: vec![NodeSpec {
                id: NodeId(1),
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 7000,
                bus_port: 17000,
            }],
            meta_replicas: vec![NodeId(1)],
            shards: Vec::new(),
        });
        m.apply(&boot).unwrap();
        for i in 1..epoch {
            let state = if i % 2 == 1 {
                NodeState::Leaving
            } else {
                NodeState::Active
            };
            let cmd = MetaCommand::SetNodeState {
                node: NodeId(1),
                state,
            };
            m.apply(&cmd).unwrap();
        }
        assert_eq!(m.epoch(), epoch);
        m
    }

    #[test]
    fn only_a_higher_epoch_replaces_the_map_and_watchers_hear_it() {
        let cache = MapCache::new(ClusterMap::new());
        let mut rx = cache.subscribe();
        assert_eq!(cache.current().epoch(), 0);
        assert!(cache.offer(map_at(2)));
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().epoch(), 2);
        assert!(!cache.offer(map_at(1)), "older epoch ignored");
        assert!(!cache.offer(map_at(2)), "same epoch ignored");
        assert!(
            !rx.has_changed().unwrap(),
            "no notification for ignored maps"
        );
        assert_eq!(cache.current().epoch(), 2);
        assert!(cache.clone().offer(map_at(3)), "clones share the channel");
        assert_eq!(cache.current().epoch(), 3);
    }
}
