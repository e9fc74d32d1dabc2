//! Network partitions with nftables, between loopback addresses only.
//!
//! Why nftables and one table: every rule the tool adds lives in the table
//! [`TABLE`], so healing is one atomic `nft delete table`, which also cleans
//! up after a crashed earlier run ([`Firewall::new`] deletes it first).
//! Packets are dropped in the *input* hook, so senders see silence (as in a
//! real partition), not an immediate error. Clients connect from 127.0.0.1,
//! which is never cut: like Jepsen's clients, they can reach both sides.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The only nftables table this tool ever creates or deletes.
pub const TABLE: &str = "slotraft_chaos";

/// Most address pairs in one partition.
pub const MAX_RULES: usize = 256;

/// Owns the nftables table; deletes it when dropped.
pub struct Firewall {
    active: bool,
}

/// Runs `nft -f -` with `script`.
fn nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|e| format!("nft: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Checks that nftables can be used here (root, kernel support).
pub fn available() -> Result<(), String> {
    nft(&format!(
        "add table inet {TABLE}\ndelete table inet {TABLE}\n"
    ))
}

/// Deletes the table if it exists (idempotent).
pub fn delete_table() {
    let _ = nft(&format!(
        "add table inet {TABLE}\ndelete table inet {TABLE}\n"
    ));
}

impl Firewall {
    pub fn new() -> Firewall {
        delete_table();
        Firewall { active: false }
    }

    /// Drops every packet from an address in `from` to an address in `to`
    /// (one direction; call twice for a symmetric cut). Adds to what is
    /// already cut.
    pub fn drop_between(&mut self, from: &[Ipv4Addr], to: &[Ipv4Addr]) -> Result<(), String> {
        assert!(from.len() * to.len() <= MAX_RULES, "partition too large");
        for ip in from.iter().chain(to) {
            // Invariant: never cut anything but loopback.
            assert!(ip.is_loopback(), "refusing to partition {ip}");
        }
        let mut s = format!(
            "add table inet {TABLE}\nadd chain inet {TABLE} input {{ type filter hook input priority -10 ; policy accept ; }}\n"
        );
        for a in from {
            for b in to {
                if a != b {
                    s.push_str(&format!(
                        "add rule inet {TABLE} input ip saddr {a} ip daddr {b} drop\n"
                    ));
                }
            }
        }
        self.active = true;
        nft(&s)
    }

    /// Removes every rule.
    pub fn heal(&mut self) {
        if self.active {
            delete_table();
            self.active = false;
        }
    }
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall::new()
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        delete_table();
    }
}
