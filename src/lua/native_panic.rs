//! Panics in native functions (embedding.md §4): mlua catches a panic in a function of a
//! native module and raises it as a Lua error, which Lua code could catch. A panic hook notes
//! the panic of the process running on this worker thread, and the worker ends that process
//! with `INTERNAL` when its run returns: a panic ends the caller, and only the caller.

use std::cell::{Cell, RefCell};

thread_local! {
    /// Whether `PANICKED` holds a message: the one thing a run looks at.
    static NOTED: Cell<bool> = const { Cell::new(false) };
    /// The message of a panic that happened while a process ran on this thread.
    static PANICKED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook (once per program), keeping the previous hook in the chain.
pub fn install_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let running = crate::sched::current_core().is_some_and(|c| c.is_running());
            if running {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                PANICKED.with(|p| {
                    if let Ok(mut slot) = p.try_borrow_mut() {
                        slot.get_or_insert(message);
                        NOTED.with(|n| n.set(true));
                    }
                });
            }
            previous(info);
        }));
    });
}

/// The panic noted since the last call, if any.
#[inline]
pub fn take() -> Option<String> {
    if !NOTED.with(Cell::get) {
        return None;
    }
    NOTED.with(|n| n.set(false));
    PANICKED.with(|p| p.try_borrow_mut().ok()?.take())
}
