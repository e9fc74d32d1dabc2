//! The recorded history of a run: every operation with its invocation and
//! completion time and its outcome, plus the fault windows.
//!
//! Why a plain serializable record: the checkers are pure functions of this
//! data, so a saved `history.json` can be re-checked offline (`slotraft-chaos
//! check DIR`) and a failing run is never lost. Times are nanoseconds since
//! the start of the run (monotonic clock).

use serde::{Deserialize, Serialize};

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum Call {
    /// `GET key`.
    Get { key: String },
    /// `SET key value`.
    Set { key: String, value: u64 },
    /// `SET key value GET`: writes and returns the previous value.
    SetGet { key: String, value: u64 },
    /// `RPUSH key value`, alone or inside MULTI/EXEC (then with an `LRANGE`
    /// of the same key in the same transaction).
    Append {
        key: String,
        value: u64,
        multi: bool,
    },
    /// `LRANGE key 0 -1`.
    ReadList { key: String, final_read: bool },
    /// `INCRBY key by`.
    Incr { key: String, by: i64 },
    /// `GET key` of a counter.
    ReadCounter { key: String, final_read: bool },
    /// MULTI; DECRBY from; INCRBY to; EXEC.
    Transfer {
        from: String,
        to: String,
        amount: i64,
    },
    /// MULTI; MGET accounts...; EXEC (or plain GETs), of one bank.
    ReadBank { accounts: Vec<String>, multi: bool },
}

impl Call {
    /// The key the operation is about (the first account for bank ops).
    pub fn key(&self) -> &str {
        match self {
            Call::Get { key }
            | Call::Set { key, .. }
            | Call::SetGet { key, .. }
            | Call::Append { key, .. }
            | Call::ReadList { key, .. }
            | Call::Incr { key, .. }
            | Call::ReadCounter { key, .. } => key,
            Call::Transfer { from, .. } => from,
            Call::ReadBank { accounts, .. } => accounts.first().map(String::as_str).unwrap_or(""),
        }
    }

    /// The workload this call belongs to.
    pub fn workload(&self) -> Workload {
        match self {
            Call::Get { .. } | Call::Set { .. } | Call::SetGet { .. } => Workload::Register,
            Call::Append { .. } | Call::ReadList { .. } => Workload::ListAppend,
            Call::Incr { .. } | Call::ReadCounter { .. } => Workload::Counter,
            Call::Transfer { .. } | Call::ReadBank { .. } => Workload::Bank,
        }
    }
}

/// The four workloads of issue 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Register,
    ListAppend,
    Counter,
    Bank,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Register,
        Workload::ListAppend,
        Workload::Counter,
        Workload::Bank,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::ListAppend => "list-append",
            Workload::Counter => "counter",
            Workload::Bank => "bank",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }
}

/// The value an operation returned when it succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "kebab-case")]
pub enum Ret {
    /// A write acknowledged with no interesting value.
    Done,
    /// A register/counter read or a SET..GET previous value (`None` = nil).
    Value(Option<u64>),
    /// A counter value (INCRBY result or counter read).
    Int(i64),
    /// A list read (LRANGE), possibly returned by an append transaction.
    List(Vec<u64>),
    /// Balances of a bank read (`None` = nil key).
    Balances(Vec<Option<i64>>),
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Outcome {
    /// Acknowledged, with its result.
    Ok { ret: Ret },
    /// A definite error: the operation certainly did not take effect.
    Fail { error: String },
    /// Timeout, dropped connection after sending, `-UNCERTAIN`: it may take
    /// effect at any time after its invocation, or never.
    Unknown { error: String },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Outcome::Unknown { .. })
    }
    pub fn ret(&self) -> Option<&Ret> {
        match self {
            Outcome::Ok { ret } => Some(ret),
            _ => None,
        }
    }
}

/// One completed (or abandoned) operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Client thread that issued it (one outstanding op per client).
    pub client: u32,
    pub call: Call,
    /// Nanoseconds since the run started, at invocation.
    pub invoke_ns: u64,
    /// Nanoseconds since the run started, at completion (for unknown ops:
    /// when the client gave up).
    pub complete_ns: u64,
    pub outcome: Outcome,
}

/// A fault the nemesis injected, from injection to heal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// e.g. `kill`, `pause`, `partition-leader`, `failover`.
    pub kind: String,
    /// Which nodes, which rules.
    pub detail: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Everything a run recorded; what `history.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Target name from the config file.
    pub target: String,
    pub duration_ns: u64,
    pub ops: Vec<Op>,
    pub faults: Vec<FaultWindow>,
    /// The bank's expected total per bank (hash tag), from its setup.
    pub bank_total: i64,
    /// Shard index per key's slot owner at the start: `(first_slot,
    /// last_slot)` ranges, index = shard number (for unavailability windows).
    pub shards: Vec<Vec<(u16, u16)>>,
}
