//! The name registry: node-local names standing for PIDs (process.md §13).
//!
//! One read-mostly map. Sends by name take its read lock; registering, unregistering and exits
//! of processes that hold names take the write lock. Sends by PID never touch it.

use std::collections::HashMap;
use std::sync::RwLock;

use super::pid::Pid;

/// Names → PIDs.
#[derive(Debug, Default)]
pub struct Registry {
    names: RwLock<HashMap<String, Pid, ahash::RandomState>>,
}

/// Whether `name` may be registered: non-empty and not starting with `{` (that is a PID).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('{')
}

impl Registry {
    /// The PID registered as `name`.
    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    /// Registers `name` for `pid`. `Err(holder)` when another PID holds it; registering the
    /// same name for the same PID again succeeds.
    pub fn insert(&self, name: &str, pid: Pid) -> Result<(), Pid> {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        match names.get(name) {
            Some(&holder) if holder != pid => Err(holder),
            Some(_) => Ok(()),
            None => {
                names.insert(name.to_string(), pid);
                Ok(())
            }
        }
    }

    /// Removes `name`; returns the PID that held it.
    pub fn remove(&self, name: &str) -> Option<Pid> {
        self.names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
    }

    /// Removes `name` if `pid` still holds it (an exiting process releasing its names).
    pub fn release(&self, name: &str, pid: Pid) {
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
        assert_eq!(registry.insert("cache", Pid(1)), Ok(()));
        assert_eq!(registry.insert("cache", Pid(1)), Ok(()));
        assert_eq!(registry.insert("cache", Pid(2)), Err(Pid(1)));
        assert_eq!(registry.lookup("cache"), Some(Pid(1)));
        registry.release("cache", Pid(2));
        assert_eq!(registry.lookup("cache"), Some(Pid(1)));
        registry.release("cache", Pid(1));
        assert_eq!(registry.lookup("cache"), None);
        assert!(!is_valid_name("") && !is_valid_name("{x") && is_valid_name("x{"));
    }
}
