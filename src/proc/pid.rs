//! Process identifiers: `{<host id>|0x<hex>}`, unique for the life of a runtime.

use std::fmt;

/// The number of a process: `generation << 32 | slot`, the slot of the process table it lives
/// in and how many processes lived in that slot before it. A slot is reused only with a higher
/// generation, so a PID is never reused and alone identifies a process; the host in the text
/// form is for people and for routing checks. PID 0 is the runtime's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u64);

/// Generations a table slot goes through before it is retired. It keeps every PID below 2^52, so
/// a PID is exact as a Lua number.
pub const GENERATIONS: u64 = 1 << 20;

impl Pid {
    /// The PID of `slot`'s occupant of `generation`.
    pub fn new(slot: u32, generation: u64) -> Pid {
        Pid(generation << 32 | u64::from(slot))
    }

    /// The process table slot this PID names.
    pub fn slot(self) -> u32 {
        self.0 as u32
    }

    /// The PID of the next occupant of this PID's slot; `None` once the slot has had its last
    /// generation.
    pub fn next_generation(self) -> Option<Pid> {
        let next = (self.0 >> 32) + 1;
        (next < GENERATIONS).then(|| Pid::new(self.slot(), next))
    }

    /// The PID text for this process on `host`, e.g. `{app:processes|0x0001f}`.
    pub fn format(self, host: &str) -> String {
        let digits = ((64 - self.0.leading_zeros()).div_ceil(4).max(5)) as usize;
        let mut text = String::with_capacity(host.len() + digits + 5);
        text.push('{');
        text.push_str(host);
        text.push_str("|0x");
        for shift in (0..digits).rev() {
            let digit = ((self.0 >> (shift * 4)) & 0xf) as u8;
            text.push(char::from(b"0123456789abcdef"[usize::from(digit)]));
        }
        text.push('}');
        text
    }

    /// The PID text as a shared string (every spawn makes one): one allocation, built with
    /// plain copies into a buffer on the stack when the host id is short (as most are).
    pub fn text(self, host: &str) -> std::sync::Arc<str> {
        let mut buffer = [0u8; 64];
        let digits = ((64 - self.0.leading_zeros()).div_ceil(4).max(5)) as usize;
        let len = host.len() + digits + 5;
        if len > buffer.len() {
            return std::sync::Arc::from(self.format(host));
        }
        buffer[0] = b'{';
        buffer[1..=host.len()].copy_from_slice(host.as_bytes());
        buffer[host.len() + 1..host.len() + 4].copy_from_slice(b"|0x");
        for (i, out) in buffer[host.len() + 4..len - 1].iter_mut().enumerate() {
            let shift = (digits - 1 - i) * 4;
            *out = b"0123456789abcdef"[((self.0 >> shift) & 0xf) as usize];
        }
        buffer[len - 1] = b'}';
        match std::str::from_utf8(&buffer[..len]) {
            Ok(text) => std::sync::Arc::from(text),
            // Unreachable: a `str` and ASCII characters.
            Err(_) => std::sync::Arc::from(self.format(host)),
        }
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:05x}", self.0)
    }
}

/// A well-formed PID string split into its parts (the host may not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedPid<'a> {
    pub host: &'a str,
    pub pid: Pid,
}

/// Parses `{host|0xhex}`; `None` when the text is not a well-formed PID.
pub fn parse(text: &str) -> Option<ParsedPid<'_>> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let (host, hex) = inner.rsplit_once("|0x")?;
    let (namespace, name) = host.split_once(':')?;
    if namespace.is_empty() || name.is_empty() || name.contains(':') || host.contains('|') {
        return None;
    }
    let well_formed_hex = hex.len() >= 5
        && hex.len() <= 16
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed_hex {
        return None;
    }
    let serial = u64::from_str_radix(hex, 16).ok()?;
    Some(ParsedPid {
        host,
        pid: Pid(serial),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_at_least_five_hex_digits() {
        assert_eq!(Pid(0x1f).format("app:processes"), "{app:processes|0x0001f}");
        assert_eq!(Pid(0x123456).format("a:b"), "{a:b|0x123456}");
        assert_eq!(Pid(0).format("a:b"), "{a:b|0x00000}");
        assert_eq!(Pid(u64::MAX).format("a:b"), "{a:b|0xffffffffffffffff}");
        assert_eq!(&*Pid::new(5, 3).text("a:b"), "{a:b|0x300000005}");
        for pid in [Pid(0), Pid(0x1f), Pid::new(7, 0xfffff), Pid(u64::MAX)] {
            for host in ["a:b", "app:processes", "ü:ß", &"h:".repeat(40)] {
                assert_eq!(&*pid.text(host), pid.format(host), "{pid} on {host}");
            }
        }
    }

    #[test]
    fn parses_what_it_formats() {
        let text = Pid(42).format("app.x:pool");
        assert_eq!(
            parse(&text),
            Some(ParsedPid {
                host: "app.x:pool",
                pid: Pid(42)
            })
        );
    }

    #[test]
    fn rejects_malformed_pids() {
        for bad in [
            "{app:processes|0x1f}",
            "{app:processes|0x0001F}",
            "app:processes|0x00001",
            "{processes|0x00001}",
            "{app:processes|00001}",
            "{:x|0x00001}",
            "{",
        ] {
            assert_eq!(parse(bad), None, "{bad} should not parse");
        }
    }
}
