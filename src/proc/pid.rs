//! Process identifiers: `{<host id>|0x<hex>}`, unique for the life of a runtime.

use std::fmt;

/// The serial number of a process. Serials come from one counter per runtime and are never
/// reused, so a serial alone identifies a process; the host in the text form is for people and
/// for routing checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u64);

impl Pid {
    /// The PID text for this serial on `host`, e.g. `{app:processes|0x0001f}`.
    pub fn format(self, host: &str) -> String {
        format!("{{{host}|0x{:05x}}}", self.0)
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
