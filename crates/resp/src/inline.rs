//! Inline commands (`SET k v\r\n` typed into telnet): splitting a line into
//! arguments with exactly the quoting rules of Redis's `sdssplitargs`.
//!
//! Why a faithful copy of the rules rather than a "nicer" tokenizer: clients
//! and scripts that use inline commands were written against Redis, and the
//! differential tests compare our replies byte for byte with redis-server's,
//! including which lines are rejected as `unbalanced quotes`.
//!
//! The rules: arguments are separated by whitespace; `"..."` understands
//! `\n \r \t \b \a`, `\xHH` and `\<any>`; `'...'` understands only `\'`;
//! a closing quote must be followed by whitespace or the end of the line; a
//! quote may open in the middle of an unquoted word (`a"b c"` is `ab c`).
//! A NUL byte ends the line (Redis works on C strings here).

use bytes::Bytes;

/// C's `isspace` in the "C" locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The quoting state while reading one argument.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Splits one inline line (without its line terminator) into arguments.
/// `None` means unbalanced quotes (Redis: `Protocol error: unbalanced quotes
/// in request`).
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    // Reading past the end (or at a NUL) yields 0, like the C string does.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0usize;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(args);
        }
        let (arg, next) = read_arg(line, p)?;
        // Every argument consumes at least one byte, so this loop is bounded
        // by the line length.
        debug_assert!(next > p);
        args.push(Bytes::from(arg));
        p = next;
    }
}

/// Reads one argument starting at `p` (not whitespace, not the end).
/// Returns the argument and the position after it.
fn read_arg(line: &[u8], mut p: usize) -> Option<(Vec<u8>, usize)> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut cur = Vec::new();
    let mut quote = Quote::None;
    loop {
        let c = at(p);
        match quote {
            Quote::Double => {
                let hex = (at(p + 1) == b'x')
                    .then(|| Some(hex_value(at(p + 2))? * 16 + hex_value(at(p + 3))?))
                    .flatten();
                if let (b'\\', Some(byte)) = (c, hex) {
                    cur.push(byte);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    return closing_quote(at(p + 1)).then_some((cur, p + 1));
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            }
            Quote::Single => {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    return closing_quote(at(p + 1)).then_some((cur, p + 1));
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            }
            Quote::None => match c {
                b' ' | b'\n' | b'\r' | b'\t' | 0 => return Some((cur, p)),
                b'"' => quote = Quote::Double,
                b'\'' => quote = Quote::Single,
                _ => cur.push(c),
            },
        }
        p += 1;
    }
}

/// A closing quote must be followed by whitespace or the end of the line.
fn closing_quote(next: u8) -> bool {
    next == 0 || is_space(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &[u8]) -> Option<Vec<Vec<u8>>> {
        split_args(s).map(|v| v.into_iter().map(|b| b.to_vec()).collect())
    }

    fn v(items: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
        Some(items.iter().map(|s| s.to_vec()).collect())
    }

    #[test]
    fn plain_words_and_whitespace() {
        assert_eq!(split(b"SET k v"), v(&[b"SET", b"k", b"v"]));
        assert_eq!(split(b"  PING  "), v(&[b"PING"]));
        assert_eq!(split(b""), v(&[]));
        assert_eq!(split(b" \t "), v(&[]));
        // \v does not end an unquoted word but is skipped between words.
        assert_eq!(split(b"ECHO\ta\x0bb"), v(&[b"ECHO", b"a\x0bb"]));
        assert_eq!(split(b"PING\rPING"), v(&[b"PING", b"PING"]));
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(split(br#"ECHO "a\x41b\n""#), v(&[b"ECHO", b"aAb\n"]));
        assert_eq!(split(br#""\xzz""#), v(&[b"xzz"]));
        assert_eq!(split(br#""\x4""#), v(&[b"x4"]));
        assert_eq!(split(br#""a\"b""#), v(&[b"a\"b"]));
        assert_eq!(split(br#""a\\b""#), v(&[b"a\\b"]));
        assert_eq!(split(br#""a\qb""#), v(&[b"aqb"]));
        assert_eq!(split(br#""""#), v(&[b""]));
        assert_eq!(split(b"\"a\"\x0b"), v(&[b"a"]));
    }

    #[test]
    fn single_quotes() {
        assert_eq!(split(br"'c\'d'"), v(&[b"c'd"]));
        assert_eq!(split(br"'a\nb'"), v(&[b"a\\nb"]));
        assert_eq!(split(b"''"), v(&[b""]));
    }

    #[test]
    fn quote_inside_word() {
        assert_eq!(split(br#"abc"def""#), v(&[b"abcdef"]));
        assert_eq!(split(br#"a"b c"d"#), None);
    }

    #[test]
    fn unbalanced() {
        assert_eq!(split(br#"ECHO "abc"#), None);
        assert_eq!(split(br#""abc"x"#), None);
        assert_eq!(split(br#""x"'y'"#), None);
        assert_eq!(split(br#"""""#), None);
        assert_eq!(split(br#""\"#), None);
        assert_eq!(split(b"'abc"), None);
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split(b"ECHO a\0b c"), v(&[b"ECHO", b"a"]));
    }
}
