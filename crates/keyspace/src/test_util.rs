//! Test helpers: run commands written as one line (`set k 'a b' ''`,
//! `\xHH` byte escapes) and compare replies in a compact text form.

use crate::{ExecCtx, Keyspace, Outcome};
use bytes::Bytes;
use slotraft_resp::Reply;

/// Fixed start time of test keyspaces (unix ms).
pub const T0: u64 = 1_700_000_000_000;

/// Splits a command line into arguments.
pub fn parse(line: &str) -> Vec<Bytes> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut cur = Vec::new();
        let quoted = b[i] == b'\'';
        if quoted {
            i += 1;
        }
        while i < b.len() && (if quoted { b[i] != b'\'' } else { b[i] != b' ' }) {
            if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
                let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                cur.push(u8::from_str_radix(h, 16).unwrap());
                i += 4;
            } else {
                cur.push(b[i]);
                i += 1;
            }
        }
        if quoted {
            i += 1;
        }
        out.push(Bytes::from(cur));
    }
    out
}

/// Compact text form of a reply.
pub fn show(r: &Reply) -> String {
    match r {
        Reply::Simple(s) => String::from_utf8_lossy(s).into_owned(),
        Reply::Error(e) => format!("ERROR:{}", String::from_utf8_lossy(e)),
        Reply::Int(i) => i.to_string(),
        Reply::Bulk(b) | Reply::BigNumber(b) | Reply::Verbatim(_, b) => b
            .iter()
            .map(|&c| {
                if (0x20..0x7f).contains(&c) {
                    (c as char).to_string()
                } else {
                    format!("\\x{c:02x}")
                }
            })
            .collect(),
        Reply::Null | Reply::NullArray => "(nil)".into(),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
            format!("[{}]", v.iter().map(show).collect::<Vec<_>>().join(","))
        }
        // Pairs are shown in their RESP2 (flat) shape.
        Reply::Pairs(v) => format!(
            "[{}]",
            v.iter()
                .flat_map(|(k, x)| [show(k), show(x)])
                .collect::<Vec<_>>()
                .join(",")
        ),
        Reply::Map(v) => format!(
            "{{{}}}",
            v.iter()
                .map(|(k, x)| format!("{}:{}", show(k), show(x)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Reply::Double(d) => slotraft_resp::Reply::Double(*d)
            .to_bytes(slotraft_resp::Protocol::Resp2)
            .split(|&c| c == b'\n')
            .nth(1)
            .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
            .unwrap_or_default(),
        Reply::Bool(b) => (*b as i64).to_string(),
    }
}

/// A keyspace with a manual clock.
pub struct T {
    pub ks: Keyspace,
    pub now: u64,
    pub seed: u64,
}

impl T {
    pub fn new() -> T {
        T {
            ks: Keyspace::new(),
            now: T0,
            seed: 7,
        }
    }

    pub fn ctx(&self) -> ExecCtx {
        ExecCtx {
            now_ms: self.now,
            seed: self.seed,
            may_block: true,
        }
    }

    /// Runs through the write path (like a log entry).
    pub fn run(&mut self, line: &str) -> Outcome {
        self.seed += 1;
        let ctx = self.ctx();
        self.ks.execute(&parse(line), &ctx)
    }

    pub fn reply(&mut self, line: &str) -> Reply {
        match self.run(line) {
            Outcome::Reply(r) => r,
            Outcome::Block(b) => panic!("{line}: unexpectedly blocked on {b:?}"),
        }
    }

    /// Asserts a non-error reply, compared in `show` form.
    #[track_caller]
    pub fn ok(&mut self, line: &str, want: &str) {
        let r = self.reply(line);
        assert_eq!(show(&r), want, "command: {line}");
    }

    /// Asserts an error reply with exactly this text.
    #[track_caller]
    pub fn err(&mut self, line: &str, want: &str) {
        let r = self.reply(line);
        assert_eq!(show(&r), format!("ERROR:{want}"), "command: {line}");
    }

    /// The read path (must not change anything).
    pub fn read(&self, line: &str) -> Reply {
        self.ks.execute_read(&parse(line), self.now)
    }
}
