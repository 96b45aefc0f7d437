//! `Pid` (embedding.md §4): a process's identity as Rust code holds it, and `Dest`, whatever
//! names a process in a send (a PID or a registered name).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{ErrorKind, ErrorValue};

/// The PID of a process, Lua or Rust: its text is the one Lua sees (`{app:processes|0x0001f}`).
///
/// ```
/// let pid: moonweave::Pid = "{app:processes|0x0001f}".parse().unwrap();
/// assert_eq!(pid.to_string(), "{app:processes|0x0001f}");
/// assert!("app:processes".parse::<moonweave::Pid>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    text: Arc<str>,
}

impl Pid {
    /// A PID from text the runtime made (already well formed).
    pub(crate) fn from_runtime(text: impl Into<Arc<str>>) -> Pid {
        Pid { text: text.into() }
    }

    /// The PID's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pid({})", self.text)
    }
}

impl FromStr for Pid {
    type Err = ErrorValue;

    /// Reads a PID's text back; `INVALID` for anything else.
    fn from_str(text: &str) -> Result<Pid, ErrorValue> {
        match crate::proc::pid::parse(text) {
            // The runtime's own spelling, so that equal PIDs compare and hash equal.
            Some(parsed) => Ok(Pid::from_runtime(parsed.pid.format(parsed.host))),
            None => Err(ErrorValue::new(
                ErrorKind::Invalid,
                format!("'{text}' is not a PID"),
            )),
        }
    }
}

/// Where a message goes: a process's PID, or a name in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest(DestKind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum DestKind {
    Pid(Pid),
    Name(String),
}

impl Dest {
    /// The bytes the runtime resolves: the PID's text, or the name.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            DestKind::Pid(pid) => pid.as_str().as_bytes(),
            DestKind::Name(name) => name.as_bytes(),
        }
    }
}

impl From<Pid> for Dest {
    fn from(pid: Pid) -> Dest {
        Dest(DestKind::Pid(pid))
    }
}

impl From<&Pid> for Dest {
    fn from(pid: &Pid) -> Dest {
        Dest(DestKind::Pid(pid.clone()))
    }
}

impl From<&str> for Dest {
    /// A registered name (a text that is a PID's names that process, as in Lua).
    fn from(name: &str) -> Dest {
        Dest(DestKind::Name(name.to_string()))
    }
}

impl From<String> for Dest {
    fn from(name: String) -> Dest {
        Dest(DestKind::Name(name))
    }
}

impl From<&String> for Dest {
    fn from(name: &String) -> Dest {
        Dest(DestKind::Name(name.clone()))
    }
}
