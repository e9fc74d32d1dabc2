//! Bank workload checker: transfers inside MULTI/EXEC between accounts of
//! one hash tag; every read must see the same total.
//!
//! Why: a transaction applied partially, twice, or a lost account shows up as
//! a total that differs from the initial one, whatever the interleaving.

use super::{secs, Findings, Verdict};
use crate::history::{Call, Op, Ret, Workload};

/// Checks every successful bank read against `total`.
pub fn check_bank(ops: &[&Op], total: i64) -> Verdict {
    let mut f = Findings::default();
    let mut reads = 0u64;
    for o in ops {
        let (Call::ReadBank { accounts, .. }, Some(Ret::Balances(b))) = (&o.call, o.outcome.ret())
        else {
            continue;
        };
        reads += 1;
        let bank = accounts.first().map(String::as_str).unwrap_or("");
        if let Some(i) = b.iter().position(Option::is_none) {
            f.add(
                0,
                "lost-account",
                format!(
                    "{bank}: read at {} found {} missing",
                    secs(o.invoke_ns),
                    accounts[i]
                ),
            );
            continue;
        }
        let sum: i64 = b.iter().flatten().sum();
        if sum != total {
            f.add(
                0,
                "wrong-total",
                format!(
                    "{bank}: read at {} totals {sum}, expected {total} ({b:?})",
                    secs(o.invoke_ns)
                ),
            );
        }
    }
    if reads == 0 {
        f.undecided("no successful bank read".into());
    }
    f.into_verdict(Workload::Bank, ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testutil::*;
    use crate::check::Status;

    fn read(b: &[Option<i64>]) -> Op {
        let accounts = (0..b.len()).map(|i| format!("{{b}}a{i}")).collect();
        op(
            1,
            Call::ReadBank {
                accounts,
                multi: true,
            },
            0,
            1,
            ok(Ret::Balances(b.to_vec())),
        )
    }
    fn transfer() -> Op {
        let call = Call::Transfer {
            from: "{b}a0".into(),
            to: "{b}a1".into(),
            amount: 3,
        };
        op(2, call, 0, 1, unknown())
    }

    #[test]
    fn conserved_total_is_valid() {
        let h = [
            transfer(),
            read(&[Some(10), Some(10)]),
            read(&[Some(7), Some(13)]),
        ];
        let v = check_bank(&h.iter().collect::<Vec<_>>(), 20);
        assert_eq!(v.status, Status::Valid);
        assert_eq!(v.unknown, 1);
    }

    #[test]
    fn partial_transfer_or_lost_account_is_invalid() {
        let h = [read(&[Some(7), Some(10)]), read(&[None, Some(10)])];
        let v = check_bank(&h.iter().collect::<Vec<_>>(), 20);
        assert_eq!(v.status, Status::Invalid);
        assert_eq!(v.anomaly_counts.len(), 2);
        assert!(
            v.summary().starts_with("INVALID: wrong-total"),
            "{}",
            v.summary()
        );
    }
}
