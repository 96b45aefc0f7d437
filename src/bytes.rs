//! `Bytes`: an immutable byte string, as Lua strings are (any bytes, not only UTF-8).
//!
//! Topics, short payload strings and names are small: up to [`INLINE`] bytes are stored in the
//! value itself, so a message such as `send(pid, "ping", "x")` allocates nothing for them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes stored without an allocation: enough for a PID text on a host with a short id
/// (`{app:processes|0x00001}` is 23 bytes), the most common payload string.
pub const INLINE: usize = 30;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

/// An immutable byte string.
#[derive(Clone)]
pub struct Bytes(Repr);

impl Bytes {
    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Bytes {
        if bytes.len() <= INLINE {
            let mut data = [0; INLINE];
            data[..bytes.len()].copy_from_slice(bytes);
            Bytes(Repr::Inline {
                len: bytes.len() as u8,
                data,
            })
        } else {
            Bytes(Repr::Heap(bytes.into()))
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..*len as usize],
            Repr::Heap(bytes) => bytes,
        }
    }

    /// The text, when the bytes are UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// The text with invalid UTF-8 replaced, for log lines and messages to people.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Bytes {}

impl PartialEq<[u8]> for Bytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<str> for Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Hash for Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Bytes {
    fn partial_cmp(&self, other: &Bytes) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bytes {
    fn cmp(&self, other: &Bytes) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        Bytes::new(bytes)
    }
}

impl From<&str> for Bytes {
    fn from(text: &str) -> Bytes {
        Bytes::new(text.as_bytes())
    }
}

impl From<String> for Bytes {
    fn from(text: String) -> Bytes {
        Bytes::from(text.into_bytes())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Bytes {
        if bytes.len() <= INLINE {
            Bytes::new(&bytes)
        } else {
            Bytes(Repr::Heap(bytes.into_boxed_slice()))
        }
    }
}

impl From<Box<[u8]>> for Bytes {
    fn from(bytes: Box<[u8]>) -> Bytes {
        if bytes.len() <= INLINE {
            Bytes::new(&bytes)
        } else {
            Bytes(Repr::Heap(bytes))
        }
    }
}

impl Default for Bytes {
    fn default() -> Bytes {
        Bytes::new(b"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_strings_keep_every_byte() {
        for text in [&b""[..], b"\xff\xfe", &[7u8; INLINE], &[9u8; INLINE + 1]] {
            let bytes = Bytes::new(text);
            assert_eq!(bytes.as_bytes(), text);
            assert_eq!(Bytes::from(text.to_vec()), bytes);
        }
        assert_ne!(Bytes::from(&b"\xff"[..]), Bytes::from(&b"\xfe"[..]));
        assert_eq!(std::mem::size_of::<Bytes>(), 32);
    }
}
