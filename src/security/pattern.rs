//! Patterns of actions, resources and `glob` conditions (security.md §2): the whole string
//! must match, `*` matches any run of characters (also empty, also `.`, `:` and `|`), `?`
//! exactly one character (a UTF-8 sequence, or one byte that is not part of one), every other
//! byte itself; there is no escape.
//!
//! Patterns are compiled once, at load time, into the cheapest matcher for their shape: most
//! policies say `*`, an exact name, or `prefix*`, which match without the general algorithm.

use crate::bytes::Bytes;

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    source: Bytes,
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// `*`: everything.
    Any,
    /// No `*` and no `?`.
    Exact,
    /// `literal*`.
    Prefix(usize),
    /// `*literal`.
    Suffix(usize),
    /// Anything else.
    General,
}

impl Pattern {
    /// Compiles `source`.
    pub fn new(source: &[u8]) -> Pattern {
        let stars = source.iter().filter(|&&b| b == b'*').count();
        let wild = stars > 0 || source.contains(&b'?');
        let shape = match (stars, wild) {
            (_, false) => Shape::Exact,
            (1, _) if source == b"*" => Shape::Any,
            (1, _) if !source.contains(&b'?') && source.last() == Some(&b'*') => {
                Shape::Prefix(source.len() - 1)
            }
            (1, _) if !source.contains(&b'?') && source.first() == Some(&b'*') => {
                Shape::Suffix(source.len() - 1)
            }
            _ if source.iter().all(|&b| b == b'*') => Shape::Any,
            _ => Shape::General,
        };
        Pattern {
            source: Bytes::new(source),
            shape,
        }
    }

    /// The pattern as written.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &[u8]) -> bool {
        let p = self.source.as_bytes();
        match self.shape {
            Shape::Any => true,
            Shape::Exact => p == text,
            Shape::Prefix(n) => text.starts_with(&p[..n]),
            Shape::Suffix(n) => text.ends_with(&p[1..=n]),
            Shape::General => glob(p, text),
        }
    }
}

/// Wildcard matching with one backtrack point: the last `*` seen. Linear in practice, at
/// worst `pattern × text` steps; never recursive.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += char_len(&text[t..]);
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again after it.
                Some((sp, st)) => {
                    let next = st + char_len(&text[st..]);
                    p = sp + 1;
                    t = next;
                    star = Some((sp, next));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Bytes of the character `text` starts with: a whole UTF-8 sequence, else one byte.
fn char_len(text: &[u8]) -> usize {
    let len = match text.first() {
        Some(b) if *b < 0x80 => 1,
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => 1,
    };
    match text.get(..len).map(std::str::from_utf8) {
        Some(Ok(_)) => len,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern.as_bytes()).matches(text.as_bytes())
    }

    #[test]
    fn star_matches_any_run_across_separators() {
        assert!(m("*", ""));
        assert!(m("*", "{app:x|0x00001}"));
        assert!(m("process.spawn*", "process.spawn"));
        assert!(m("process.spawn*", "process.spawn.linked"));
        assert!(!m("process.spawn*", "process.spaw"));
        assert!(m("process.*", "process.registry.register"));
        assert!(m("app.jobs:*", "app.jobs:report"));
        assert!(!m("app.jobs:*", "app.jobsx:report"));
        assert!(m("{app:sandbox|*}", "{app:sandbox|0x0001f}"));
        assert!(!m("{app:sandbox|*}", "{app:sandbox2|0x0001f}"));
        assert!(m("*.register", "process.registry.register"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "a-b-b-c"));
        assert!(!m("a*b*c", "a-b-b-"));
        assert!(m("**", "anything"));
    }

    #[test]
    fn question_mark_is_exactly_one_byte() {
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("?", "x"));
        assert!(!m("?", ""));
        assert!(m("*?", "x"));
        assert!(!m("*?", ""));
    }

    #[test]
    fn question_mark_and_star_count_characters_not_bytes() {
        assert!(m("slot-?", "slot-é"));
        assert!(m("slot-?", "slot-€"));
        assert!(m("?", "🦀"));
        assert!(!m("??", "é"));
        assert!(m("*?", "é"));
        assert!(!m("*??", "é"));
        assert!(m("a*?b", "aé€b"));
        // A byte that starts no valid sequence counts as one character.
        assert!(Pattern::new(b"a?b").matches(b"a\xffb"));
        assert!(Pattern::new(b"a?b").matches(b"a\xc3b"));
    }

    #[test]
    fn the_whole_string_must_match_and_case_counts() {
        assert!(m("process.send", "process.send"));
        assert!(!m("process.send", "process.sender"));
        assert!(!m("process.send", "xprocess.send"));
        assert!(!m("Process.send", "process.send"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        // No escape: a backslash is a literal byte.
        assert!(m("a\\*", "a\\xyz"));
        assert!(!m("a\\*", "a*"));
    }

    #[test]
    fn the_general_matcher_agrees_with_a_reference_on_every_small_case() {
        // Reference: the textbook recursive definition.
        fn reference(p: &[u8], t: &[u8]) -> bool {
            match (p.first(), t.first()) {
                (None, _) => t.is_empty(),
                (Some(b'*'), _) => {
                    reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..]))
                }
                (Some(_), None) => false,
                (Some(&c), Some(&x)) => (c == b'?' || c == x) && reference(&p[1..], &t[1..]),
            }
        }
        let alphabet = [b'a', b'b', b'*', b'?'];
        let texts = ["", "a", "b", "ab", "ba", "aab", "abab", "bbba", "a*b"];
        let mut patterns = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = patterns
                .iter()
                .flat_map(|p| {
                    alphabet.iter().map(move |&c| {
                        let mut q = p.clone();
                        q.push(c);
                        q
                    })
                })
                .collect();
            patterns.extend(longer);
        }
        for p in &patterns {
            for t in texts {
                assert_eq!(
                    Pattern::new(p).matches(t.as_bytes()),
                    reference(p, t.as_bytes()),
                    "pattern {:?} on {t:?}",
                    String::from_utf8_lossy(p)
                );
            }
        }
    }
}
