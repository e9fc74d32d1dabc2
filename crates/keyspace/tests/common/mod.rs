//! Helpers shared by the keyspace's differential tests.

pub mod oracle;
