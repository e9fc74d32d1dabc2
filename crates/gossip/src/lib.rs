//! First-version cluster-bus gossip for slotraft, in the spirit of Redis
//! Cluster's bus (PING / PONG / MEET / FAIL), as a sans-IO state machine.
//!
//! Why it exists: the cluster map is decided by the metadata Raft group, but
//! nodes still need a cheap, always-on way to learn (a) which peers are
//! unreachable (PFAIL → FAIL by majority, shown in `CLUSTER NODES` and
//! `CLUSTER INFO`), (b) that a newer config epoch exists (then they pull the
//! map from the metadata group), and (c) who leads each shard (so `-MOVED`
//! points at the right node without asking Raft groups a node does not host).
//! Gossip only ever carries hints; nothing here changes the map.
//!
//! Why sans-IO: time is passed in (`now_ms`), randomness comes from an
//! injected seed, and messages go out through [`Gossip::drain_outgoing`]; the
//! server's transport delivers them. Tests run whole networks of nodes in one
//! thread, deterministically.
//!
//! Modules: [`message`] (wire format with named limits), [`node`] (the state
//! machine), [`rng`] (a seeded PRNG).

#![forbid(unsafe_code)]

pub mod message;
pub mod node;
pub mod rng;

pub use message::{GossipEntry, LeaderHint, Message, MessageKind};
pub use node::{Config, Event, Gossip, Outgoing, Reject};
