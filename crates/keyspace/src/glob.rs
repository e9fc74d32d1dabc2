//! Glob-style matching exactly like Redis's `stringmatchlen` (util.c), used
//! by KEYS, SCAN MATCH, HSCAN/SSCAN/ZSCAN MATCH.
//!
//! Semantics kept on purpose, including the odd corners: `\x` escapes,
//! `[^...]` negation, ranges whose ends are swapped (`[z-a]`), an unclosed
//! `[` that matches the class built so far, `\` at the end of a class.
//! Recursion on `*` is bounded by [`MAX_NESTING`] and by Redis's
//! "skip longer matches" trick, so hostile patterns stay linear-ish.

/// Nesting bound on `*` recursion: a hostile pattern like `*a*a*a...` cannot
/// blow the stack (Redis 7.x bounds it the same way).
pub const MAX_NESTING: usize = 1000;

/// True if `string` matches `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    // C strings are NUL-terminated: reading one past the end yields 0.
    s.get(i).copied().unwrap_or(0)
}

#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn match_impl(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let (mut p, mut si) = (0usize, 0usize);
    while p < pat.len() && si < s.len() {
        match pat[p] {
            b'*' => {
                while at(pat, p + 1) == b'*' && p + 1 < pat.len() {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while si < s.len() {
                    if match_impl(&pat[p + 1..], &s[si..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    si += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => si += 1,
            b'[' => {
                p += 1;
                let not = at(pat, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let rem = pat.len().saturating_sub(p);
                    if at(pat, p) == b'\\' && rem >= 2 {
                        p += 1;
                        if pat[p] == s[si] {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' {
                        break;
                    } else if rem == 0 {
                        p -= 1;
                        break;
                    } else if rem >= 3 && pat[p + 1] == b'-' {
                        let (mut start, mut end) = (pat[p], pat[p + 2]);
                        let mut c = s[si];
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = start.to_ascii_lowercase();
                            end = end.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(pat[p], nocase) == fold(s[si], nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            c => {
                let c = if c == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pat[p]
                } else {
                    c
                };
                if fold(c, nocase) != fold(s[si], nocase) {
                    return false;
                }
                si += 1;
            }
        }
        p += 1;
        if si == s.len() {
            while at(pat, p) == b'*' && p < pat.len() {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && si == s.len()
}

#[cfg(test)]
mod tests {
    fn m(p: &[u8], s: &[u8]) -> bool {
        super::glob_match(p, s, false)
    }

    #[test]
    fn basics() {
        // Like Redis: a pattern never matches the empty string unless it is
        // empty too (KEYS/SCAN special-case a lone "*" before matching).
        assert!(!m(b"*", b""));
        assert!(!m(b"**", b""));
        assert!(m(b"*", b"abc"));
        assert!(m(b"a*", b"abc"));
        assert!(!m(b"a*", b"bc"));
        assert!(m(b"h?llo", b"hello"));
        assert!(!m(b"h?llo", b"hllo"));
        assert!(m(b"h*llo", b"hllo"));
        assert!(m(b"**a**", b"xxaxx"));
        assert!(!m(b"", b"a"));
        assert!(m(b"", b""));
        assert!(!m(b"a", b""));
        assert!(m(b"a*", b"a"));
    }

    #[test]
    fn classes_and_ranges() {
        assert!(m(b"h[ae]llo", b"hello"));
        assert!(!m(b"h[ae]llo", b"hillo"));
        assert!(m(b"h[^e]llo", b"hallo"));
        assert!(!m(b"h[^e]llo", b"hello"));
        assert!(m(b"h[a-b]llo", b"hbllo"));
        assert!(m(b"h[b-a]llo", b"hallo"), "reversed range");
        assert!(!m(b"h[a-b]llo", b"hcllo"));
        assert!(m(b"[\\]]", b"]"));
        // "[a-]": "a-]" is parsed as the range a..']' (checked against Redis 7.0)
        assert!(!m(b"[a-]", b"-"));
        assert!(m(b"[a-]", b"a"));
        // unclosed class: matches with the class so far, then pattern ends
        assert!(m(b"[ab", b"a"));
        assert!(!m(b"[ab", b"c"));
        assert!(!m(b"[]", b"]"), "empty class matches nothing");
    }

    #[test]
    fn escapes_and_case() {
        assert!(m(b"\\*", b"*"));
        assert!(!m(b"\\*", b"a"));
        assert!(m(b"a\\", b"a\\"), "trailing backslash is literal");
        assert!(m(b"\\?x", b"?x"));
        assert!(super::glob_match(b"HeL*", b"hello", true));
        assert!(!super::glob_match(b"HeL*", b"hello", false));
        assert!(super::glob_match(b"[A-C]x", b"bx", true));
    }

    #[test]
    fn hostile_pattern_is_bounded() {
        let pat: Vec<u8> = b"a*".repeat(5000).into_iter().chain(*b"b").collect();
        let s = vec![b'a'; 5000];
        assert!(!m(&pat, &s));
        let pat2 = b"*a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
        assert!(!m(&pat2, &[b'a'; 200]));
    }
}
