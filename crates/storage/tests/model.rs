//! Property test: the store against the simple in-memory model of the
//! multi-group log (`common::Model`). Random operation sequences (appends with
//! conflicts, hard states, truncations, compactions, snapshot installs) are
//! applied to both; reads must agree at every step, after a clean reopen, and
//! after a power loss once everything was reported durable. Small segments and
//! a tiny cache force rolls, reclaims and reads from disk.

mod common;

use common::{normalize, observe, random_batch, Model};
use proptest::prelude::*;
use slotraft_storage::sim::{SimRng, SimVfs};
use slotraft_storage::{Config, Store};
use std::sync::Arc;
use std::time::Duration;

fn cfg(segment_bytes: u64, cache_bytes: usize) -> Config {
    Config {
        segment_bytes,
        max_batch_bytes: 8192,
        max_batch_wait: Duration::ZERO,
        cache_bytes,
        prealloc_bytes: 4096,
    }
}

fn run(
    seed: u64,
    steps: usize,
    groups: u64,
    segment_bytes: u64,
    cache_bytes: usize,
    wait_every: usize,
) -> Result<(), TestCaseError> {
    let disk = SimVfs::new();
    let (store, _) = Store::open(Arc::new(disk.clone()), cfg(segment_bytes, cache_bytes)).unwrap();
    let mut rng = SimRng::new(seed);
    let mut model = Model::default();
    let mut last = None;
    for step in 0..steps {
        let batch = random_batch(&mut rng, &model, groups, 64);
        for r in Model::flatten(&batch) {
            model.apply(&r);
        }
        let t = store.write(batch).expect("valid batch");
        last = Some(t);
        if step % wait_every == 0 {
            store.wait(t).unwrap();
        }
        prop_assert_eq!(
            normalize(observe(&store).unwrap()),
            normalize(model.clone()),
            "step {}",
            step
        );
    }
    if let Some(t) = last {
        store.wait(t).unwrap();
    }
    drop(store);
    let (store, _) = Store::open(Arc::new(disk.clone()), cfg(segment_bytes, cache_bytes)).unwrap();
    prop_assert_eq!(
        normalize(observe(&store).unwrap()),
        normalize(model.clone()),
        "after reopen"
    );
    drop(store);
    let after = disk.crash(&mut rng);
    let (store, _) = Store::open(Arc::new(after), cfg(segment_bytes, cache_bytes)).unwrap();
    prop_assert_eq!(
        normalize(observe(&store).unwrap()),
        normalize(model),
        "after power loss"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        seed in any::<u64>(),
        steps in 1usize..80,
        groups in 1u64..6,
        segment_bytes in prop::sample::select(vec![256u64, 1024, 4096, 1 << 20]),
        cache_bytes in prop::sample::select(vec![0usize, 200, 1 << 20]),
        wait_every in 1usize..5,
    ) {
        run(seed, steps, groups, segment_bytes, cache_bytes, wait_every)?;
    }
}
