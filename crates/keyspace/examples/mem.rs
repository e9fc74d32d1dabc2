//! Memory per key: loads N string keys (`key:%012d`, 100-byte values, like
//! `redis-benchmark -r`) through `Keyspace::execute` and prints the RSS
//! growth per key from /proc/self/status.
//!
//! Run: `cargo run --release -p slotraft-keyspace --example mem -- 1000000 [ttl]`
//! Compare with Redis: load the same keys with `redis-cli --pipe` and read
//! `used_memory_rss` (see the crate README section in lib.rs docs).

use bytes::Bytes;
use slotraft_keyspace::{ExecCtx, Keyspace};

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("linux /proc");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("N"));
    // `mem N ttl`: every key also gets `EX 100000` (measures the expiry index).
    let ttl = std::env::args().nth(2).is_some_and(|a| a == "ttl");
    let mut ks = Keyspace::new();
    let before = rss_kb();
    let started = std::time::Instant::now();
    let value = Bytes::from(vec![b'x'; 100]);
    let set = Bytes::from_static(b"set");
    let ctx = ExecCtx {
        now_ms: 1,
        seed: 1,
        may_block: false,
    };
    for i in 0..n {
        let mut argv = vec![
            set.clone(),
            Bytes::from(format!("key:{i:012}")),
            value.clone(),
        ];
        if ttl {
            argv.push(Bytes::from_static(b"ex"));
            argv.push(Bytes::from_static(b"100000"));
        }
        ks.execute(&argv, &ctx);
    }
    let load_secs = started.elapsed().as_secs_f64();
    assert_eq!(ks.len() as u64, n);
    assert_eq!(ks.db().expires_count() as u64, if ttl { n } else { 0 });
    let get = Bytes::from_static(b"get");
    let started = std::time::Instant::now();
    for i in 0..n {
        let argv = [get.clone(), Bytes::from(format!("key:{i:012}"))];
        let r = ks.execute_read(&argv, 1);
        assert!(matches!(r, slotraft_resp::Reply::Bulk(_)));
    }
    let get_secs = started.elapsed().as_secs_f64();
    println!(
        "set_ops_per_sec={:.0} get_ops_per_sec={:.0} (single thread, incl. argv building)",
        n as f64 / load_secs,
        n as f64 / get_secs
    );
    let after = rss_kb();
    let per_key = (after - before) as f64 * 1024.0 / n as f64;
    println!("keys={n} rss_before_kb={before} rss_after_kb={after} bytes_per_key={per_key:.1}");
}
