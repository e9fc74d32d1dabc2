//! Workload generators and the client threads that run them.
//!
//! Why keys rotate: the linearizability search is exponential in the
//! concurrency on one key and list reads grow with the list, so register and
//! list keys are used for a bounded number of writes ([`REG_WRITES_PER_KEY`],
//! [`LIST_APPENDS_PER_KEY`]) and then replaced by fresh keys. Key names
//! carry no hash tag, so they spread over every shard (bank accounts share a
//! tag per bank, so a transfer stays in one slot).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use slotraft_resp::Reply;

use crate::client::{int_or_nil, nanos_since, ClusterClient, Cmd, Res};
use crate::cmd;
use crate::history::{Call, Op, Outcome, Ret, Workload};
use crate::rng::Rng;

/// Register keys in use at a time.
pub const REG_KEYS: u64 = 8;
/// Writes per register key before it is retired.
pub const REG_WRITES_PER_KEY: u64 = 60;
/// List keys in use at a time.
pub const LIST_KEYS: u64 = 6;
/// Appends per list key before it is retired.
pub const LIST_APPENDS_PER_KEY: u64 = 150;
/// Counter keys.
pub const COUNTER_KEYS: u64 = 4;
/// Banks (hash tags) and accounts per bank.
pub const BANKS: u64 = 3;
pub const ACCOUNTS: u64 = 5;
/// Initial balance of every account.
pub const INITIAL_BALANCE: i64 = 100;
/// Hard cap on one client's operations.
pub const MAX_OPS_PER_CLIENT: u64 = 1_000_000;
/// Attempts of a final read before giving up.
pub const FINAL_READ_ATTEMPTS: usize = 40;
/// Wall-clock bound on all final reads together (an unreachable key must
/// not stall the run: its verdict becomes undecided instead).
pub const FINAL_READS_BUDGET: std::time::Duration = std::time::Duration::from_secs(90);

/// State shared by all client threads of a run.
pub struct Shared {
    pub start: Instant,
    pub until: Instant,
    pub stop: AtomicBool,
    /// Operations left in the run's budget.
    pub ops_left: AtomicU64,
    /// Unique values (also the key generation counters).
    pub reg_values: AtomicU64,
    pub list_values: AtomicU64,
    /// Pause between one client's invocations (rate limiting); zero = as
    /// fast as possible.
    pub pace: std::time::Duration,
}

impl Shared {
    fn take_op(&self) -> bool {
        self.ops_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Register key `k` of generation `g`.
pub fn reg_key(g: u64, k: u64) -> String {
    format!("r{g}:{k}")
}
pub fn list_key(g: u64, k: u64) -> String {
    format!("l{g}:{k}")
}
pub fn counter_key(k: u64) -> String {
    format!("c:{k}")
}
pub fn bank_accounts(b: u64) -> Vec<String> {
    (0..ACCOUNTS).map(|a| format!("{{bank{b}}}a{a}")).collect()
}

/// Picks the next operation of workload `w`.
pub fn generate(w: Workload, sh: &Shared, rng: &mut Rng) -> Call {
    let p = rng.below(100);
    match w {
        Workload::Register => {
            let g = sh.reg_values.load(Ordering::Relaxed) / (REG_KEYS * REG_WRITES_PER_KEY);
            let key = reg_key(g, rng.below(REG_KEYS));
            match p {
                0..40 => Call::Get { key },
                40..80 => Call::Set {
                    key,
                    value: sh.reg_values.fetch_add(1, Ordering::Relaxed),
                },
                _ => Call::SetGet {
                    key,
                    value: sh.reg_values.fetch_add(1, Ordering::Relaxed),
                },
            }
        }
        Workload::ListAppend => {
            let g = sh.list_values.load(Ordering::Relaxed) / (LIST_KEYS * LIST_APPENDS_PER_KEY);
            let key = list_key(g, rng.below(LIST_KEYS));
            if p < 30 {
                Call::ReadList {
                    key,
                    final_read: false,
                }
            } else {
                let value = sh.list_values.fetch_add(1, Ordering::Relaxed);
                Call::Append {
                    key,
                    value,
                    multi: p < 55,
                }
            }
        }
        Workload::Counter => {
            let key = counter_key(rng.below(COUNTER_KEYS));
            if p < 25 {
                Call::ReadCounter {
                    key,
                    final_read: false,
                }
            } else {
                Call::Incr {
                    key,
                    by: 1 + rng.below(5) as i64,
                }
            }
        }
        Workload::Bank => {
            let acc = bank_accounts(rng.below(BANKS));
            if p < 40 {
                Call::ReadBank {
                    accounts: acc,
                    multi: p < 20,
                }
            } else {
                let from = rng.below(ACCOUNTS) as usize;
                let to = (from + 1 + rng.below(ACCOUNTS - 1) as usize) % ACCOUNTS as usize;
                Call::Transfer {
                    from: acc[from].clone(),
                    to: acc[to].clone(),
                    amount: 1 + rng.below(10) as i64,
                }
            }
        }
    }
}

/// The commands of a call and whether they run inside MULTI/EXEC.
fn commands(call: &Call) -> (Vec<Cmd>, bool) {
    match call {
        Call::Get { key } | Call::ReadCounter { key, .. } => (vec![cmd!["GET", key]], false),
        Call::Set { key, value } => (vec![cmd!["SET", key, value]], false),
        Call::SetGet { key, value } => (vec![cmd!["SET", key, value, "GET"]], false),
        Call::Append {
            key,
            value,
            multi: false,
        } => (vec![cmd!["RPUSH", key, value]], false),
        Call::Append {
            key,
            value,
            multi: true,
        } => (
            vec![cmd!["RPUSH", key, value], cmd!["LRANGE", key, 0, -1]],
            true,
        ),
        Call::ReadList { key, .. } => (vec![cmd!["LRANGE", key, 0, -1]], false),
        Call::Incr { key, by } => (vec![cmd!["INCRBY", key, by]], false),
        Call::Transfer { from, to, amount } => (
            vec![cmd!["DECRBY", from, amount], cmd!["INCRBY", to, amount]],
            true,
        ),
        Call::ReadBank {
            accounts,
            multi: true,
        } => (accounts.iter().map(|a| cmd!["GET", a]).collect(), true),
        Call::ReadBank {
            accounts,
            multi: false,
        } => {
            let mut c = cmd!["MGET"];
            c.extend(accounts.iter().map(|a| a.clone().into_bytes()));
            (vec![c], false)
        }
    }
}

fn as_u64(r: &Reply) -> Result<Option<u64>, String> {
    match int_or_nil(r)? {
        None => Ok(None),
        Some(i) => u64::try_from(i).map(Some).map_err(|e| e.to_string()),
    }
}

fn as_list(r: &Reply) -> Result<Vec<u64>, String> {
    match r {
        Reply::Array(v) => v
            .iter()
            .map(|x| as_u64(x)?.ok_or("nil element".into()))
            .collect(),
        other => Err(format!("not a list: {other:?}")),
    }
}

/// Interprets a successful reply; `Err` for a shape that does not fit (then
/// the outcome is unknown: something executed, we cannot tell what).
fn interpret(call: &Call, r: &Reply) -> Result<Ret, String> {
    let items = |r: &Reply| match r {
        Reply::Array(v) => Ok(v.clone()),
        other => Err(format!("not an array: {other:?}")),
    };
    match call {
        Call::Get { .. } | Call::SetGet { .. } => Ok(Ret::Value(as_u64(r)?)),
        Call::Set { .. } | Call::Append { multi: false, .. } => Ok(Ret::Done),
        Call::Append { multi: true, .. } => {
            let v = items(r)?;
            Ok(Ret::List(as_list(v.get(1).ok_or("short EXEC reply")?)?))
        }
        Call::ReadList { .. } => Ok(Ret::List(as_list(r)?)),
        Call::Incr { .. } | Call::ReadCounter { .. } => Ok(Ret::Int(int_or_nil(r)?.unwrap_or(0))),
        Call::Transfer { .. } => match r {
            Reply::Array(v) if v.len() == 2 => Ok(Ret::Done),
            other => Err(format!("transfer EXEC: {other:?}")),
        },
        Call::ReadBank { .. } => {
            let v = items(r)?;
            Ok(Ret::Balances(
                v.iter().map(int_or_nil).collect::<Result<_, _>>()?,
            ))
        }
    }
}

/// Executes one call and records it.
pub fn execute(client: &mut ClusterClient, id: u32, call: Call, start: Instant) -> Op {
    let (cmds, multi) = commands(&call);
    let invoke_ns = nanos_since(start);
    let res = client.exec(call.key().as_bytes(), &cmds, multi);
    let complete_ns = nanos_since(start);
    let outcome = match res {
        Res::Ok(Reply::NullArray) if multi => Outcome::Fail {
            error: "EXEC aborted".into(),
        },
        Res::Ok(r) => match interpret(&call, &r) {
            Ok(ret) => Outcome::Ok { ret },
            Err(error) => Outcome::Unknown { error },
        },
        Res::Fail(error) => Outcome::Fail { error },
        Res::Unknown(error) => Outcome::Unknown { error },
    };
    Op {
        client: id,
        call,
        invoke_ns,
        complete_ns,
        outcome,
    }
}

/// One client thread's life: ops until the deadline, the stop flag or the
/// op budget.
pub fn run_client(
    w: Workload,
    id: u32,
    mut client: ClusterClient,
    sh: &Shared,
    seed: u64,
) -> Vec<Op> {
    let mut rng = Rng::new(seed ^ u64::from(id).wrapping_mul(0x1000_0001));
    let mut ops = Vec::new();
    let mut next = Instant::now();
    for _ in 0..MAX_OPS_PER_CLIENT {
        if sh.stop.load(Ordering::Relaxed)
            || crate::signal::interrupted()
            || Instant::now() >= sh.until
            || !sh.take_op()
        {
            break;
        }
        next += sh.pace;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now; // behind schedule (slow op): do not burst to catch up
        }
        let call = generate(w, sh, &mut rng);
        ops.push(execute(&mut client, id, call, sh.start));
    }
    ops
}

/// Reads `call` until it succeeds (bounded), recording every attempt.
fn read_until_ok(
    client: &mut ClusterClient,
    id: u32,
    call: Call,
    start: Instant,
    deadline: Instant,
    out: &mut Vec<Op>,
) {
    for _ in 0..FINAL_READ_ATTEMPTS {
        if Instant::now() >= deadline || crate::signal::interrupted() {
            return;
        }
        let op = execute(client, id, call.clone(), start);
        let ok = op.outcome.is_ok();
        out.push(op);
        if ok {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Final reads of every list and counter key, after healing.
pub fn final_reads(client: &mut ClusterClient, id: u32, sh: &Shared, ws: &[Workload]) -> Vec<Op> {
    let mut out = Vec::new();
    let deadline = Instant::now() + FINAL_READS_BUDGET;
    if ws.contains(&Workload::ListAppend) {
        let gens = sh.list_values.load(Ordering::Relaxed) / (LIST_KEYS * LIST_APPENDS_PER_KEY);
        for g in 0..=gens {
            for k in 0..LIST_KEYS {
                let call = Call::ReadList {
                    key: list_key(g, k),
                    final_read: true,
                };
                read_until_ok(client, id, call, sh.start, deadline, &mut out);
            }
        }
    }
    if ws.contains(&Workload::Counter) {
        for k in 0..COUNTER_KEYS {
            let call = Call::ReadCounter {
                key: counter_key(k),
                final_read: true,
            };
            read_until_ok(client, id, call, sh.start, deadline, &mut out);
        }
    }
    if ws.contains(&Workload::Bank) {
        for b in 0..BANKS {
            let call = Call::ReadBank {
                accounts: bank_accounts(b),
                multi: true,
            };
            read_until_ok(client, id, call, sh.start, deadline, &mut out);
        }
    }
    out
}

/// Writes the initial balances of every bank; the expected total per bank.
/// Tries of one bank's initial MSET: a cluster that just reported
/// `cluster_state:ok` may still be electing or moving leaders.
const INIT_ATTEMPTS: usize = 20;

/// Pause between two tries of the initial MSET.
const INIT_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// One initial MSET, retried only while it certainly did not execute
/// (`Fail`): an unknown MSET could still apply later, in the middle of the
/// run, so it ends the run instead.
fn init_one(client: &mut ClusterClient, key: &[u8], c: Cmd) -> Result<(), String> {
    let mut last = Res::Fail("no attempt".into());
    for _ in 0..INIT_ATTEMPTS {
        match client.exec(key, std::slice::from_ref(&c), false) {
            Res::Ok(_) => return Ok(()),
            Res::Fail(e) => {
                last = Res::Fail(e);
                std::thread::sleep(INIT_PAUSE);
            }
            unknown => return Err(format!("bank init: {unknown:?}")),
        }
    }
    Err(format!("bank init: {last:?}"))
}

pub fn init_banks(client: &mut ClusterClient) -> Result<i64, String> {
    for b in 0..BANKS {
        let mut c = cmd!["MSET"];
        for a in bank_accounts(b) {
            c.push(a.into_bytes());
            c.push(INITIAL_BALANCE.to_string().into_bytes());
        }
        let key = bank_accounts(b).remove(0);
        init_one(client, key.as_bytes(), c)?;
    }
    Ok(INITIAL_BALANCE * ACCOUNTS as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotraft_types::key_slot;

    #[test]
    fn bank_accounts_share_a_slot_and_keys_spread() {
        let a = bank_accounts(1);
        assert!(a
            .iter()
            .all(|k| key_slot(k.as_bytes()) == key_slot(a[0].as_bytes())));
        let slots: std::collections::HashSet<_> = (0..REG_KEYS)
            .map(|k| key_slot(reg_key(0, k).as_bytes()))
            .collect();
        assert!(slots.len() > 4);
    }

    #[test]
    fn interprets_replies() {
        let call = Call::Append {
            key: "l".into(),
            value: 3,
            multi: true,
        };
        let r = Reply::Array(vec![
            Reply::Int(2),
            Reply::Array(vec![Reply::Bulk("1".into()), Reply::Bulk("3".into())]),
        ]);
        assert_eq!(interpret(&call, &r), Ok(Ret::List(vec![1, 3])));
        let get = Call::Get { key: "k".into() };
        assert_eq!(interpret(&get, &Reply::Null), Ok(Ret::Value(None)));
        assert!(interpret(&get, &Reply::Bulk("x".into())).is_err());
    }
}
