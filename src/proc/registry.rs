//! The name registry: node-local names standing for PIDs (process.md §13).
//!
//! One read-mostly map. Sends by name take its read lock; registering, unregistering and exits
//! of processes that hold names take the write lock. Sends by PID never touch it.

use crate::sync::RwLock;
use std::collections::HashMap;

use super::pid::Pid;
use crate::bytes::Bytes;

/// Names → PIDs.
#[derive(Debug)]
pub struct Registry {
    names: RwLock<HashMap<Bytes, Pid, ahash::RandomState>>,
}

/// Whether `name` may be registered: non-empty and not starting with `{` (that is a PID).
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name[0] != b'{'
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            names: RwLock::new(HashMap::default()),
        }
    }
}

impl Registry {
    /// The PID registered as `name`.
    pub fn lookup(&self, name: &[u8]) -> Option<Pid> {
        self.names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    /// Registers `name` for `pid`. `Err(holder)` when another PID holds it; registering the
    /// same name for the same PID again succeeds.
    pub fn insert(&self, name: &[u8], pid: Pid) -> Result<(), Pid> {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        match names.get(name) {
            Some(&holder) if holder != pid => Err(holder),
            Some(_) => Ok(()),
            None => {
                names.insert(Bytes::new(name), pid);
                Ok(())
            }
        }
    }

    /// Removes `name`; returns the PID that held it.
    pub fn remove(&self, name: &[u8]) -> Option<Pid> {
        self.names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
    }

    /// Removes `name` if `pid` still holds it (an exiting process releasing its names).
    pub fn release(&self, name: &[u8], pid: Pid) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        if names.get(name) == Some(&pid) {
            names.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_maps_to_one_pid() {
        let registry = Registry::default();
        assert_eq!(registry.insert(b"cache", Pid(1)), Ok(()));
        assert_eq!(registry.insert(b"cache", Pid(1)), Ok(()));
        assert_eq!(registry.insert(b"cache", Pid(2)), Err(Pid(1)));
        assert_eq!(registry.lookup(b"cache"), Some(Pid(1)));
        registry.release(b"cache", Pid(2));
        assert_eq!(registry.lookup(b"cache"), Some(Pid(1)));
        registry.release(b"cache", Pid(1));
        assert_eq!(registry.lookup(b"cache"), None);
        assert!(!is_valid_name(b"") && !is_valid_name(b"{x") && is_valid_name(b"x{"));
        registry.insert(b"\xff", Pid(4)).unwrap();
        assert_eq!(
            registry.lookup(b"\xfe"),
            None,
            "names are bytes, not lossy text"
        );
    }
}
