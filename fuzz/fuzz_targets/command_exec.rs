//! Random command sequences, built from fuzz bytes, executed against the
//! keyspace state machine through `execute`, `execute_read` and
//! `execute_multi`.
//!
//! Checks: no panic (every input, however malformed, gets a reply), and for
//! read-only commands `execute_read` answers exactly what `execute` does.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use slotraft_keyspace::{all_commands, resolve, ExecCtx, Handler, Keyspace};
use slotraft_resp::Protocol;

/// Commands per input (bounds the work of one run).
const MAX_COMMANDS: usize = 48;
/// Arguments per command after the name.
const MAX_ARGS: usize = 10;

/// Arguments worth hitting: keys, numbers at the edges, option names.
#[rustfmt::skip]
const DICT: &[&[u8]] = &[
    b"k0", b"k1", b"k2", b"{t}k", b"", b"0", b"1", b"-1", b"2", b"3", b"10", b"100", b"-100",
    b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808", b"inf", b"-inf",
    b"+inf", b"nan", b"1.5", b"1e308", b"(1", b"[a", b"(a", b"-", b"+", b"*", b"a", b"b", b"c",
    b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL", b"GET",
    b"PERSIST", b"WITHSCORES", b"LIMIT", b"BYSCORE", b"BYLEX", b"REV", b"COUNT", b"MATCH", b"TYPE",
    b"LEFT", b"RIGHT", b"BEFORE", b"AFTER", b"MIN", b"MAX", b"WEIGHTS", b"AGGREGATE", b"SUM",
    b"RANK", b"MAXLEN", b"REPLACE", b"WITHVALUES", b"BYTE", b"BIT", b"0.01", b"string", b"list",
];

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let end = (self.pos + n).min(self.data.len());
        let s = &self.data[self.pos..end];
        self.pos = end;
        s
    }

    fn argv(&mut self) -> Option<Vec<Bytes>> {
        let table = all_commands();
        let i = usize::from(self.byte()?) << 8 | usize::from(self.byte()?);
        let name = table[i % table.len()].name;
        let mut argv: Vec<Bytes> = name
            .split('|')
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect();
        let nargs = usize::from(self.byte()?) % (MAX_ARGS + 1);
        for _ in 0..nargs {
            let tag = self.byte()?;
            let arg = if tag < 0xc0 {
                Bytes::from_static(DICT[usize::from(tag) % DICT.len()])
            } else {
                Bytes::copy_from_slice(self.bytes(usize::from(tag & 0x1f)))
            };
            argv.push(arg);
        }
        Some(argv)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data, pos: 0 };
    let mut ks = Keyspace::new();
    let mut now_ms: u64 = 1_700_000_000_000;
    let mut seed: u64 = 7;
    for _ in 0..MAX_COMMANDS {
        let Some(op) = input.byte() else { break };
        now_ms += u64::from(op & 0x0f) * 250;
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let ctx = ExecCtx {
            now_ms,
            seed,
            may_block: op & 0x10 != 0,
        };
        match op >> 5 {
            0 => {
                let Some(argv) = input.argv() else { break };
                let _ = ks.execute_read(&argv, now_ms);
            }
            1 => {
                let mut cmds = Vec::new();
                for _ in 0..3 {
                    let Some(argv) = input.argv() else { break };
                    cmds.push(argv);
                }
                let watched = vec![(Bytes::from_static(b"k0"), ks.watch_version(b"k0"))];
                let _ = ks.execute_multi(&cmds, &watched, &ctx);
            }
            2 => {
                let expired = ks.collect_expired(now_ms, 16);
                let mut argv = vec![Bytes::from_static(b"__expire")];
                argv.extend(expired);
                let _ = ks.execute(&argv, &ctx);
            }
            _ => {
                let Some(argv) = input.argv() else { break };
                let is_read =
                    matches!(resolve(&argv), Ok(spec) if matches!(spec.handler, Handler::Read(_)));
                let read = is_read.then(|| ks.execute_read(&argv, now_ms));
                let out = ks.execute(&argv, &ctx).into_reply();
                if let Some(read) = read {
                    assert_eq!(
                        read.to_bytes(Protocol::Resp3),
                        out.to_bytes(Protocol::Resp3),
                        "execute_read and execute disagree on {argv:?}"
                    );
                }
            }
        }
    }
});
