//! ReadIndex bookkeeping at the leader (thesis §6.4), batched.
//!
//! Why rounds: confirming leadership costs one heartbeat round trip to a
//! quorum. At most one round is in flight; every read arriving meanwhile
//! joins the next round, so one round confirms arbitrarily many reads
//! (bounded by `max_pending_reads`).
