//! Raft §7: log compaction by application snapshots; a follower too far
//! behind receives InstallSnapshot in bounded chunks and resumes from the
//! snapshot index + 1.

mod common;
use bytes::Bytes;
use common::*;
use slotraft_raft::*;

/// Leader's application snapshots everything it applied and compacts.
fn snapshot_leader(net: &mut Network, id: u64, size: usize) -> LogIndex {
    let node = net.node(id);
    let applied = node.applied_index;
    let cs = node.raw.conf_state();
    let img = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    node.store.wl().create_snapshot(applied, cs, img).unwrap();
    applied
}

fn lagging_follower(chunk: usize) -> (Network, LogIndex) {
    let mut net = Network::new(3, |c| c.max_snapshot_chunk = chunk);
    elect(&mut net, 1);
    net.isolate(3);
    for i in 0..30 {
        net.propose(1, &format!("{i}")).unwrap();
    }
    let snap = snapshot_leader(&mut net, 1, 1000);
    assert_eq!(net.node(1).store.first_index().unwrap(), snap.next());
    net.propose(1, "after-snap").unwrap();
    net.heal();
    (net, snap)
}

#[test]
fn follower_behind_compaction_gets_snapshot_in_chunks_then_entries() {
    let (mut net, snap) = lagging_follower(64);
    net.tick(5);
    let chunks: Vec<&Message> = net
        .sent
        .iter()
        .filter(|m| m.body.kind_name() == "Snapshot")
        .collect();
    assert!(chunks.len() >= 1000 / 64, "{} chunks", chunks.len());
    for m in &chunks {
        if let MessageBody::Snapshot { chunk, .. } = &m.body {
            assert!(chunk.len() <= 64);
        }
    }
    let s3 = net.node(3).store.snapshot(LogIndex::ZERO).unwrap();
    assert_eq!(s3.meta.index, snap);
    assert_eq!(
        s3.data,
        net.node(1).store.snapshot(LogIndex::ZERO).unwrap().data,
        "bytes intact"
    );
    assert_eq!(net.node(3).store.first_index().unwrap(), snap.next());
    assert_eq!(net.node(3).raw.last_index(), net.node(1).raw.last_index());
    assert_eq!(
        net.applied_data(3),
        vec!["after-snap"],
        "resumed after the snapshot"
    );
    assert_eq!(
        net.raw(1).progress(NodeId(3)).unwrap().state,
        ProgressState::Replicate
    );
}

#[test]
fn lost_snapshot_chunks_are_resent() {
    let (mut net, snap) = lagging_follower(100);
    let mut n = 0;
    net.filter = Some(Box::new(move |m| {
        if m.body.kind_name() == "Snapshot" {
            n += 1;
            return n % 3 != 0;
        }
        true
    }));
    net.tick(40);
    assert_eq!(
        net.node(3)
            .store
            .snapshot(LogIndex::ZERO)
            .unwrap()
            .meta
            .index,
        snap
    );
    assert_eq!(net.node(3).raw.last_index(), net.node(1).raw.last_index());
}

#[test]
fn restart_from_snapshot_and_compacted_log() {
    let (mut net, snap) = lagging_follower(4096);
    net.tick(3);
    net.crash(3);
    net.restart(3);
    assert_eq!(
        net.node(3).raw.commit(),
        net.node(1).raw.commit().min(net.node(3).raw.commit())
    );
    assert!(net.node(3).raw.commit() >= snap);
    net.propose(1, "post-restart").unwrap();
    net.tick(2);
    assert!(net.applied_data(3).contains(&"post-restart".to_string()));
}

#[test]
fn report_snapshot_failure_returns_to_probe() {
    let (mut net, _) = lagging_follower(8);
    net.filter = Some(Box::new(|m| m.body.kind_name() != "SnapshotResp"));
    net.tick(1);
    assert_eq!(
        net.raw(1).progress(NodeId(3)).unwrap().state,
        ProgressState::Snapshot
    );
    net.raw(1).report_snapshot(NodeId(3), false);
    assert_eq!(
        net.raw(1).progress(NodeId(3)).unwrap().state,
        ProgressState::Probe
    );
    net.filter = None;
    net.tick(60);
    assert_eq!(net.node(3).raw.last_index(), net.node(1).raw.last_index());
}

#[test]
fn snapshot_carries_membership() {
    let mut net = Network::with_members(&[1, 2, 3], &[4], |c| c.max_snapshot_chunk = 128);
    elect(&mut net, 1);
    net.isolate(4);
    for i in 0..10 {
        net.propose(1, &format!("{i}")).unwrap();
    }
    snapshot_leader(&mut net, 1, 300);
    net.heal();
    net.tick(5);
    let cs = net.node(4).raw.conf_state();
    assert_eq!(cs.learners, vec![NodeId(4)]);
    assert_eq!(cs.voters.len(), 3);
}

#[test]
fn duplicate_first_chunk_mid_transfer_does_not_stall() {
    let (mut net, snap) = lagging_follower(64);
    net.raw(1).tick(); // heartbeat -> response -> snapshot starts
    let mut replayed = false;
    for _ in 0..400 {
        // One network hop at a time, so the transfer is really in progress.
        net.deliver_only(|_| true);
        let chunks = net
            .sent
            .iter()
            .filter(|m| m.body.kind_name() == "Snapshot")
            .count();
        if chunks == 4 && !replayed {
            // A delayed duplicate of the first chunk arrives mid-transfer.
            let first = net
                .sent
                .iter()
                .find(|m| m.body.kind_name() == "Snapshot")
                .cloned()
                .unwrap();
            net.queue.push_back(first);
            replayed = true;
        }
        if net.queue.is_empty() {
            net.tick(1);
        }
        if net
            .node(3)
            .store
            .snapshot(LogIndex::ZERO)
            .unwrap()
            .meta
            .index
            == snap
        {
            break;
        }
    }
    assert!(replayed);
    assert_eq!(
        net.node(3)
            .store
            .snapshot(LogIndex::ZERO)
            .unwrap()
            .meta
            .index,
        snap
    );
    net.tick(3);
    assert_eq!(net.node(3).raw.last_index(), net.node(1).raw.last_index());
}
