//! `--dir`: keyspace snapshot saved at shutdown and loaded at start.
//!
//! Why only this: single-node durability proper (every acknowledged write
//! on disk) comes with the shared write-ahead log of the replicated cluster
//! (issue 5). Until then a clean shutdown keeps the data, a crash loses the
//! writes since start — documented in docs/benchmarks.md and the README of
//! the server.
//!
//! The file is written to a temporary name, fsynced, then renamed, so a
//! crash during save leaves the previous snapshot intact.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::ks::Keyspace;

/// Snapshot file name inside `dir`.
pub const SNAPSHOT_FILE: &str = "slotraft.snapshot";

pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

/// Loads the snapshot in `dir` if there is one.
pub fn load(dir: &Path) -> io::Result<Option<Keyspace>> {
    let path = snapshot_path(dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut ks = Keyspace::new();
    ks.restore(&mut BufReader::new(file))?;
    Ok(Some(ks))
}

/// Saves `ks` atomically into `dir`.
pub fn save(dir: &Path, ks: &Keyspace) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = snapshot_path(dir);
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    {
        let mut w = BufWriter::new(File::create(&tmp)?);
        ks.snapshot_all(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use slotraft_keyspace::ExecCtx;

    #[test]
    fn save_then_load_roundtrips() {
        let dir = std::env::temp_dir().join(format!("slotraft-persist-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert!(load(&dir).unwrap().is_none());
        let mut ks = Keyspace::new();
        let argv: Vec<Bytes> = ["set", "k", "v"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        let ctx = ExecCtx {
            now_ms: 1,
            seed: 1,
            may_block: false,
        };
        let _ = ks.execute(&argv, &ctx);
        save(&dir, &ks).unwrap();
        let back = load(&dir).unwrap().expect("snapshot present");
        assert_eq!(back.len(), 1);
        let get: Vec<Bytes> = ["get", "k"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(back.execute_read(&get, 2), slotraft_resp::Reply::bulk("v"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
