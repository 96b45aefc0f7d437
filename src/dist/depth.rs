//! A look at a frame's terms before they are decoded: the decoder recurses once per level
//! of nesting, so a peer's term nested a million levels deep (a few megabytes) would overflow
//! the reader's stack and abort the runtime. This walk is iterative; it checks that each term
//! is well-formed as far as the nesting goes and no deeper than [`MAX_NESTING`].

/// The deepest nesting a term from another node may have (values keep 128 levels; the control
/// tuple and a message's tuple add two).
pub const MAX_NESTING: usize = 160;

const VERSION: u8 = 131;
/// An atom by its index in the distribution header's list of atom cache references.
const ATOM_CACHE_REF: u8 = 82;
/// The tag of a normal distribution header (after `131`).
const DIST_HEADER: u8 = 68;

/// Why a frame's terms were not decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    TooDeep,
    Malformed,
}

/// Checks the terms of a frame body (after the pass-through tag): a control message and an
/// optional payload, each `131` and a term.
pub fn check_frame(mut body: &[u8]) -> Result<(), Refused> {
    let mut terms = 0;
    while !body.is_empty() {
        if body[0] != VERSION || terms == 2 {
            return Err(Refused::Malformed);
        }
        body = &body[1..];
        let used = term_len(body)?;
        body = &body[used..];
        terms += 1;
    }
    if terms == 0 {
        return Err(Refused::Malformed);
    }
    Ok(())
}

/// Checks one term in the external term format (`131` and the term, nothing after): the
/// bytes of a `{["$term"] = …}` value, which Lua code writes.
pub fn check_term(bytes: &[u8]) -> Result<(), Refused> {
    match bytes.split_first() {
        Some((&VERSION, term)) if term_len(term)? == term.len() => Ok(()),
        _ => Err(Refused::Malformed),
    }
}

/// The atom cache of one connection (DFLAG_DIST_HDR_ATOM_CACHE): 8 segments of 256 atoms,
/// filled by the new entries of the peer's distribution headers.
pub struct AtomCache {
    entries: Vec<Option<Vec<u8>>>,
}

impl Default for AtomCache {
    fn default() -> Self {
        AtomCache {
            entries: vec![None; 2048],
        }
    }
}

/// Whether a frame body starts with a normal distribution header (`131, 68`).
pub fn has_header(body: &[u8]) -> bool {
    body.starts_with(&[VERSION, DIST_HEADER])
}

/// The terms of a frame that starts with a normal distribution header, as a pass-through
/// frame's (`131` before each term, the atom cache references replaced by the atoms): what the
/// decoder takes. The cache is updated with the header's new entries.
pub fn expand_header(body: &[u8], cache: &mut AtomCache) -> Result<Vec<u8>, Refused> {
    let count = *body.get(2).ok_or(Refused::Malformed)? as usize;
    let mut at = 3;
    let mut atoms: Vec<Vec<u8>> = Vec::with_capacity(count);
    if count > 0 {
        let flags = take(body, at, count / 2 + 1)?;
        at += count / 2 + 1;
        let nibble = |i: usize| (flags[i / 2] >> ((i % 2) * 4)) & 0x0f;
        let long_atoms = nibble(count) & 1 == 1;
        for i in 0..count {
            let flag = nibble(i);
            let index =
                (flag & 0x07) as usize * 256 + *body.get(at).ok_or(Refused::Malformed)? as usize;
            at += 1;
            if flag & 0x08 != 0 {
                let len = if long_atoms {
                    let len = u16_at(body, at)?;
                    at += 2;
                    len
                } else {
                    let len = *body.get(at).ok_or(Refused::Malformed)? as usize;
                    at += 1;
                    len
                };
                let text = take(body, at, len)?.to_vec();
                at += len;
                cache.entries[index] = Some(text);
            }
            atoms.push(cache.entries[index].clone().ok_or(Refused::Malformed)?);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut terms = 0;
    while at < body.len() {
        if terms == 2 {
            return Err(Refused::Malformed);
        }
        let mut refs = Vec::new();
        let len = walk(&body[at..], Some(&mut refs))?;
        out.push(VERSION);
        let mut copied = at;
        for position in refs {
            let tag_at = at + position;
            out.extend_from_slice(&body[copied..tag_at]);
            let atom = atoms
                .get(body[tag_at + 1] as usize)
                .ok_or(Refused::Malformed)?;
            match u8::try_from(atom.len()) {
                Ok(short) => out.extend_from_slice(&[119, short]), // SMALL_ATOM_UTF8
                Err(_) => {
                    out.push(118); // ATOM_UTF8
                    out.extend_from_slice(&(atom.len() as u16).to_be_bytes());
                }
            }
            out.extend_from_slice(atom);
            copied = tag_at + 2;
        }
        out.extend_from_slice(&body[copied..at + len]);
        at += len;
        terms += 1;
    }
    if terms == 0 {
        return Err(Refused::Malformed);
    }
    Ok(out)
}

fn take(bytes: &[u8], at: usize, n: usize) -> Result<&[u8], Refused> {
    bytes
        .get(at..at.checked_add(n).ok_or(Refused::Malformed)?)
        .ok_or(Refused::Malformed)
}

fn u16_at(bytes: &[u8], at: usize) -> Result<usize, Refused> {
    let b = take(bytes, at, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<usize, Refused> {
    let b = take(bytes, at, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// The length of the atom at `at` (the node of a PID, port or reference).
fn atom_len(bytes: &[u8], at: usize) -> Result<usize, Refused> {
    match *bytes.get(at).ok_or(Refused::Malformed)? {
        100 | 118 => Ok(3 + u16_at(bytes, at + 1)?),
        115 | 119 => Ok(2 + *bytes.get(at + 1).ok_or(Refused::Malformed)? as usize),
        _ => Err(Refused::Malformed),
    }
}

/// The length of the term at the start of `bytes`, walked without recursion.
pub fn term_len(bytes: &[u8]) -> Result<usize, Refused> {
    walk(bytes, None)
}

/// [`term_len`], also taking atom cache references (after a distribution header), whose
/// positions it records in `cache_refs`.
fn walk(bytes: &[u8], mut cache_refs: Option<&mut Vec<usize>>) -> Result<usize, Refused> {
    // Terms still to read at each open level of nesting.
    let mut open: Vec<usize> = vec![1];
    let mut at = 0;
    while let Some(left) = open.last_mut() {
        if *left == 0 {
            open.pop();
            continue;
        }
        *left -= 1;
        let tag = *bytes.get(at).ok_or(Refused::Malformed)?;
        if tag == ATOM_CACHE_REF
            && let Some(refs) = cache_refs.as_deref_mut()
        {
            refs.push(at);
            at += 2;
            if at > bytes.len() {
                return Err(Refused::Malformed);
            }
            continue;
        }
        at += 1;
        // Leaf terms advance `at`; containers push how many terms they hold.
        let inner = match tag {
            70 => {
                at += 8;
                0
            } // NEW_FLOAT
            97 => {
                at += 1;
                0
            } // SMALL_INTEGER
            98 => {
                at += 4;
                0
            } // INTEGER
            99 => {
                at += 31;
                0
            } // FLOAT (text)
            106 => 0, // NIL
            100 | 118 => {
                at += 2 + u16_at(bytes, at)?;
                0
            } // ATOM, ATOM_UTF8
            115 | 119 => {
                at += 1 + *bytes.get(at).ok_or(Refused::Malformed)? as usize;
                0
            } // SMALL_ATOM, SMALL_ATOM_UTF8
            107 => {
                at += 2 + u16_at(bytes, at)?;
                0
            } // STRING
            109 => {
                at += 4 + u32_at(bytes, at)?;
                0
            } // BINARY
            77 => {
                at += 5 + u32_at(bytes, at)?;
                0
            } // BIT_BINARY
            110 => {
                at += 2 + *bytes.get(at).ok_or(Refused::Malformed)? as usize;
                0
            } // SMALL_BIG
            111 => {
                at += 5 + u32_at(bytes, at)?;
                0
            } // LARGE_BIG
            112 => {
                // NEW_FUN: its size counts itself.
                at += u32_at(bytes, at)?
                    .checked_sub(1)
                    .ok_or(Refused::Malformed)?;
                0
            }
            // Node-qualified identifiers: an atom (walked as a term), then fixed fields that
            // are skipped after it.
            88 | 89 | 101 | 102 | 103 | 120 | 90 | 114 => {
                let (before, after) = match tag {
                    88 => (0, 12),  // NEW_PID
                    89 => (0, 12),  // NEW_PORT
                    101 => (0, 5),  // REFERENCE
                    102 => (0, 5),  // PORT
                    103 => (0, 9),  // PID
                    120 => (0, 12), // V4_PORT
                    90 => {
                        let n = u16_at(bytes, at)?;
                        (2, 4 + 4 * n) // NEWER_REFERENCE
                    }
                    _ => {
                        let n = u16_at(bytes, at)?;
                        (2, 1 + 4 * n) // NEW_REFERENCE
                    }
                };
                at += before;
                if bytes.get(at) == Some(&ATOM_CACHE_REF)
                    && let Some(refs) = cache_refs.as_deref_mut()
                {
                    refs.push(at);
                    at += 2;
                } else {
                    at += atom_len(bytes, at)?;
                }
                at += after;
                0
            }
            113 => 3, // EXPORT: module, function, arity
            104 => {
                let n = *bytes.get(at).ok_or(Refused::Malformed)? as usize;
                at += 1;
                n
            } // SMALL_TUPLE
            105 => {
                let n = u32_at(bytes, at)?;
                at += 4;
                n
            } // LARGE_TUPLE
            108 => {
                let n = u32_at(bytes, at)?;
                at += 4;
                n.checked_add(1).ok_or(Refused::Malformed)? // LIST: elements and tail
            }
            116 => {
                let n = u32_at(bytes, at)?;
                at += 4;
                n.checked_mul(2).ok_or(Refused::Malformed)? // MAP: keys and values
            }
            // Compressed terms (80), atom cache references (82: no atom cache is negotiated)
            // and anything else are not taken from a peer.
            _ => return Err(Refused::Malformed),
        };
        if at > bytes.len() {
            return Err(Refused::Malformed);
        }
        if inner > 0 {
            // Each element takes at least one byte: a count beyond what is left is a lie.
            if inner > bytes.len() - at {
                return Err(Refused::Malformed);
            }
            open.push(inner);
            if open.len() > MAX_NESTING {
                return Err(Refused::TooDeep);
            }
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eetf::{Atom, List, Term, Tuple};

    fn frame(terms: &[Term]) -> Vec<u8> {
        let mut out = Vec::new();
        for term in terms {
            term.encode(&mut out).unwrap();
        }
        out
    }

    fn nested(depth: usize) -> Term {
        let mut term = Term::from(List::nil());
        for _ in 0..depth {
            term = Term::from(List::from(vec![term]));
        }
        term
    }

    #[test]
    fn ordinary_frames_pass() {
        let control = Term::from(Tuple::from(vec![
            Term::from(eetf::FixInteger::from(6)),
            Term::from(eetf::Pid::new("a@b", 1, 2, 3)),
            Term::from(Atom::from("")),
            Term::from(Atom::from("echo")),
        ]));
        let payload = Term::from(Tuple::from(vec![
            Term::from(Atom::from("ping")),
            Term::from(eetf::Binary::from(&b"bytes"[..])),
            Term::from(eetf::Float { value: 1.5 }),
            Term::from(eetf::BigInteger::from(i64::MAX)),
            Term::from(eetf::Reference::from(("a@b", vec![1, 2, 3]))),
            nested(100),
        ]));
        assert_eq!(check_frame(&frame(&[control, payload])), Ok(()));
    }

    #[test]
    fn deep_terms_are_refused_without_recursion() {
        assert_eq!(check_frame(&frame(&[nested(MAX_NESTING - 2)])), Ok(()));
        // [[[…]]] a million levels deep, written by hand: building it as a Term would
        // overflow the test's own stack.
        let depth = 1_000_000;
        let mut bytes = vec![131];
        for _ in 0..depth {
            bytes.extend_from_slice(&[108, 0, 0, 0, 1]);
        }
        bytes.extend(std::iter::repeat_n(106, depth + 1));
        assert_eq!(check_frame(&bytes), Err(Refused::TooDeep));
    }

    #[test]
    fn a_distribution_header_expands_to_plain_terms() {
        let mut cache = AtomCache::default();
        // Two references: a new entry 'echo' at segment 1 index 5, and a new entry 'ping' at
        // segment 0 index 9; short atoms.
        let mut body = vec![131, 68, 2];
        body.push(0x08 | 0x01 | (0x08 << 4)); // ref 0: new, segment 1; ref 1: new, segment 0
        body.push(0x00); // the LongAtoms half byte: short
        body.extend_from_slice(&[5, 4]);
        body.extend_from_slice(b"echo");
        body.extend_from_slice(&[9, 4]);
        body.extend_from_slice(b"ping");
        // Control {6, ''} as a tuple with a cache ref, then the message {ping}.
        body.extend_from_slice(&[104, 2, 97, 6, 82, 0]);
        body.extend_from_slice(&[104, 1, 82, 1]);
        let plain = expand_header(&body, &mut cache).unwrap();
        let mut reader = &plain[..];
        let control = Term::decode(&mut reader).unwrap();
        let message = Term::decode(&mut reader).unwrap();
        assert_eq!(
            control,
            Term::from(Tuple::from(vec![
                Term::from(eetf::FixInteger::from(6)),
                Term::from(Atom::from("echo"))
            ]))
        );
        assert_eq!(
            message,
            Term::from(Tuple::from(vec![Term::from(Atom::from("ping"))]))
        );
        // The next frame refers to the cached entries without repeating them.
        let again = [131, 68, 1, 0x01, 5, 104, 1, 82, 0];
        let plain = expand_header(&again, &mut cache).unwrap();
        assert_eq!(
            Term::decode(&plain[..]).unwrap(),
            Term::from(Tuple::from(vec![Term::from(Atom::from("echo"))]))
        );
        // A reference to an entry never filled is malformed.
        assert_eq!(
            expand_header(&[131, 68, 1, 0x02, 7, 82, 0], &mut cache),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn truncated_and_lying_frames_are_malformed() {
        let whole = frame(&[Term::from(Tuple::from(vec![Term::from(Atom::from("x"))]))]);
        for cut in 0..whole.len() {
            assert_eq!(
                check_frame(&whole[..cut]),
                Err(Refused::Malformed),
                "cut {cut}"
            );
        }
        // A list claiming four billion elements in a few bytes.
        assert_eq!(
            check_frame(&[131, 108, 255, 255, 255, 255, 106]),
            Err(Refused::Malformed)
        );
        assert_eq!(check_frame(&[131, 80, 0, 0, 0, 1]), Err(Refused::Malformed));
        // Tags the decoder does not implement (it panics on them).
        assert_eq!(check_frame(&[131, 68, 0]), Err(Refused::Malformed));
        assert_eq!(check_frame(&[131, 104, 1, 82, 0]), Err(Refused::Malformed));
        assert_eq!(check_term(&[131, 106, 106]), Err(Refused::Malformed));
        assert_eq!(check_term(&[131, 106]), Ok(()));
    }
}
