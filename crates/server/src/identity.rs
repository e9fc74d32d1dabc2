//! The node's persisted cluster identity: `<dir>/cluster.state`.
//!
//! Why a file of its own (like Redis's `nodes.conf`): the WAL holds the Raft
//! groups, but to *open* them a node must first know who it is (node id),
//! which cluster it belongs to (cluster id, checked in every bus handshake)
//! and which groups it hosts with which peers — all of which come from the
//! cluster map. The file holds the node id and the newest map this node has
//! seen; the metadata group remains the authority on the map, this is its
//! cached copy, so a restarted node can reopen its groups before any peer
//! answers.
//!
//! Format (version 1, little endian):
//! `magic "SLRFTID1" | u64 node id | u32 map length | map (ClusterMap
//! snapshot encoding) | u32 CRC32C of everything before it`.
//! Written to a temp file, fsynced, renamed over the old one, directory
//! fsynced: a crash leaves either the old or the new file, never a mix.

use std::io::Write;
use std::path::{Path, PathBuf};

use slotraft_cluster::ClusterMap;
use slotraft_types::NodeId;

const MAGIC: &[u8; 8] = b"SLRFTID1";
/// File name inside the data directory.
pub const FILE_NAME: &str = "cluster.state";
/// Upper bound of the file's size (a map of the largest cluster fits).
pub const MAX_STATE_BYTES: usize = 64 << 20;

/// Who this node is and the cluster maps it knows.
#[derive(Clone, Debug)]
pub struct Identity {
    pub node: NodeId,
    /// The map `cluster create` gave every node: the metadata group's
    /// initial state.
    pub bootstrap: ClusterMap,
    /// The newest map seen (epoch >= the bootstrap's).
    pub latest: ClusterMap,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

fn encode(id: &Identity) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&id.node.get().to_le_bytes());
    for map in [&id.bootstrap, &id.latest] {
        let bytes = map.encode_snapshot();
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn corrupt(why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{FILE_NAME} is corrupt: {why}"),
    )
}

fn decode(b: &[u8]) -> std::io::Result<Identity> {
    if b.len() < 24 || &b[..8] != MAGIC {
        return Err(corrupt("bad magic or too short"));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch"));
    }
    let node = NodeId(u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")));
    let mut rest = &body[16..];
    let mut maps = Vec::with_capacity(2);
    for _ in 0..2 {
        if rest.len() < 4 {
            return Err(corrupt("truncated"));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() < 4 + len {
            return Err(corrupt("length mismatch"));
        }
        let map = ClusterMap::decode_snapshot(&rest[4..4 + len])
            .map_err(|e| corrupt(&format!("{e:?}")))?;
        maps.push(map);
        rest = &rest[4 + len..];
    }
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    let latest = maps.pop().expect("two maps");
    let bootstrap = maps.pop().expect("two maps");
    if latest.node(node).is_none() || bootstrap.node(node).is_none() {
        return Err(corrupt("the node is not in its own map"));
    }
    Ok(Identity {
        node,
        bootstrap,
        latest,
    })
}

/// Reads the identity; `Ok(None)` when the node was never part of a cluster.
pub fn load(dir: &Path) -> std::io::Result<Option<Identity>> {
    let p = path(dir);
    let meta = match std::fs::metadata(&p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.len() as usize > MAX_STATE_BYTES {
        return Err(corrupt("larger than the limit"));
    }
    decode(&std::fs::read(&p)?).map(Some)
}

/// Writes the identity durably (temp file, fsync, rename, directory fsync).
pub fn store(dir: &Path, id: &Identity) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = encode(id);
    assert!(
        bytes.len() <= MAX_STATE_BYTES,
        "cluster state over its limit"
    );
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotraft_cluster::{plan_cluster, ClusterId, MetaCommand, NodeSpec};

    fn map() -> ClusterMap {
        let nodes: Vec<NodeSpec> = (1..=3)
            .map(|i| NodeSpec {
                id: NodeId(i),
                ip: "127.0.0.1".parse().unwrap(),
                port: 7000 + i as u16,
                bus_port: 17000 + i as u16,
            })
            .collect();
        let b = plan_cluster(ClusterId(42), &nodes, None, 3).unwrap();
        let mut m = ClusterMap::new();
        m.apply(&MetaCommand::Bootstrap(b)).unwrap();
        m
    }

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = std::env::temp_dir().join(format!("slotraft-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(load(&dir).unwrap().is_none());
        let id = Identity {
            node: NodeId(2),
            bootstrap: map(),
            latest: map(),
        };
        store(&dir, &id).unwrap();
        let back = load(&dir).unwrap().unwrap();
        assert_eq!(back.node, NodeId(2));
        assert_eq!(back.latest.encode_snapshot(), id.latest.encode_snapshot());
        assert_eq!(
            back.bootstrap.encode_snapshot(),
            id.bootstrap.encode_snapshot()
        );
        let mut bytes = std::fs::read(path(&dir)).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(path(&dir), &bytes).unwrap();
        assert!(load(&dir).is_err(), "a flipped bit must not load");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_node_outside_its_map_is_rejected() {
        let bytes = encode(&Identity {
            node: NodeId(9),
            bootstrap: map(),
            latest: map(),
        });
        assert!(decode(&bytes).is_err());
    }
}
