//! Redis's glob matching (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`,
//! `\x`. Used for `CONFIG GET` patterns (case-insensitive) and `CLIENT LIST`
//! style filters.
//!
//! Why iterative with one backtrack point: the classic recursive form is
//! exponential on patterns like `a*a*a*a*b`; remembering only the last `*`
//! keeps matching linear-ish in pattern × text and bounded.

/// Case-insensitive glob match.
pub fn glob_match_nocase(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1].eq_ignore_ascii_case(&text[t]) {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if c.eq_ignore_ascii_case(&text[t]) {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[start] == '['`.
/// Returns (matched, index after the class) or None if unterminated (then
/// `[` is treated as a literal that did not match).
fn class_match(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let c = c.to_ascii_lowercase();
    let mut matched = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            matched |= pattern[i + 1].to_ascii_lowercase() == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (mut lo, mut hi) = (
                pattern[i].to_ascii_lowercase(),
                pattern[i + 2].to_ascii_lowercase(),
            );
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= pattern[i].to_ascii_lowercase() == c;
            i += 1;
        }
    }
    if i >= pattern.len() {
        return None;
    }
    Some((matched != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::glob_match_nocase as m;

    #[test]
    fn basics() {
        assert!(m(b"*", b"anything"));
        assert!(m(b"max*", b"maxclients"));
        assert!(m(b"MAX*", b"maxclients"));
        assert!(!m(b"max*", b"hz"));
        assert!(m(b"h?", b"hz"));
        assert!(m(b"[a-c]x", b"bx"));
        assert!(!m(b"[^a-c]x", b"bx"));
        assert!(m(b"a\\*", b"a*"));
        assert!(!m(b"a\\*", b"ab"));
        assert!(m(b"*-limit", b"client-query-buffer-limit"));
        assert!(!m(b"", b"a"));
        assert!(m(b"", b""));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = vec![b'a'; 200];
        let mut pat = b"a*".repeat(20);
        pat.push(b'b');
        assert!(!m(&pat, &text));
    }
}
