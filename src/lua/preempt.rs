//! Preemption: a raw Luau interrupt with a per-worker budget.
//!
//! Luau calls the interrupt at loop back-edges and function calls. Each call spends one unit of
//! the running process's budget. When the budget is spent and the running Lua thread can yield,
//! the interrupt yields it with zero values and raises the preemption flag: a task goes back to
//! the worker, which requeues the process; a coroutine the task created goes to the `resume`
//! wrapper of `bootstrap.luau`, which passes the preemption on up.
//! Code that cannot yield (inside `table.sort` comparators and other C calls) keeps running;
//! after [`HARD_LIMIT`] further checks it is stopped with an error.
//!
//! mlua's `set_interrupt` wraps the callback in enough machinery to double the cost of a tight
//! loop; the raw callback with thread-local state costs about 14 % (see README, "Preemption").

use std::cell::Cell;

use mlua::{Lua, ffi};

/// Interrupt checks a process may run past its budget without being able to yield before it is
/// stopped with an error. At a few nanoseconds per check this is a fraction of a second.
pub const HARD_LIMIT: u32 = 50_000_000;

/// On a host without preemption, checks between two looks at whether the running process must
/// stop anyway (it was terminated, or a deadline passed). Picked so that the look costs
/// nothing measurable and a stop takes well under a second.
const STOP_CHECK_INTERVAL: u32 = 100_000;

thread_local! {
    /// Checks left before the running process should yield.
    static BUDGET: Cell<u32> = const { Cell::new(u32::MAX) };
    /// The budget a process gets each time it is resumed; 0 disables preemption.
    static SLICE: Cell<u32> = const { Cell::new(0) };
    /// Checks since the budget ran out while the process could not yield.
    static OVERRUN: Cell<u32> = const { Cell::new(0) };
    /// Whether the last yield of the running process was a preemption.
    static PREEMPTED: Cell<bool> = const { Cell::new(false) };
    /// Whether the running process must stop (set by the worker; see [`set_stop_check`]).
    static STOP_CHECK: Cell<Option<fn() -> bool>> = const { Cell::new(None) };
}

/// Sets how a host without preemption finds out that the running process must stop.
pub fn set_stop_check(check: fn() -> bool) {
    STOP_CHECK.with(|c| c.set(Some(check)));
}

/// Installs the interrupt on this worker's VM.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: `exec_raw` gives a valid state of this VM; `lua_callbacks` returns the VM's
    // callback table, which lives as long as the VM, and we only store a function pointer in it.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            (*ffi::lua_callbacks(state)).interrupt = Some(interrupt);
        })
    }
}

/// Sets the budget processes get on this worker (the host's `preemption_budget`).
pub fn set_slice(slice: u32) {
    SLICE.with(|s| s.set(slice));
}

/// A process is about to run: refills its budget.
pub fn enter() {
    let slice = SLICE.with(Cell::get);
    BUDGET.with(|b| {
        b.set(if slice == 0 {
            STOP_CHECK_INTERVAL
        } else {
            slice
        })
    });
    OVERRUN.with(|o| o.set(0));
    PREEMPTED.with(|p| p.set(false));
}

/// Whether the last yield was a preemption, without forgetting it (for the Lua wrappers that
/// pass a preemption of a created coroutine on up to the worker).
pub fn preempted() -> bool {
    PREEMPTED.with(Cell::get)
}

/// Whether the last yield was a preemption (and forgets it).
pub fn take_preempted() -> bool {
    PREEMPTED.with(|p| p.replace(false))
}

/// The hot path: one thread-local decrement. Everything else is in [`budget_spent`], kept out
/// of line so that this function needs no stack frame (measured: the inlined slow path cost a
/// prologue of five pushes on every loop back-edge).
unsafe extern "C-unwind" fn interrupt(state: *mut ffi::lua_State, gc: std::ffi::c_int) {
    if gc >= 0 {
        return; // a GC step, not a code check
    }
    let left = BUDGET.with(Cell::get);
    if left > 0 {
        BUDGET.with(|b| b.set(left - 1));
        return;
    }
    // SAFETY: forwarding the state the VM passed to its own interrupt callback.
    unsafe { budget_spent(state) }
}

#[cold]
#[inline(never)]
unsafe fn budget_spent(state: *mut ffi::lua_State) {
    if SLICE.with(Cell::get) == 0 {
        BUDGET.with(|b| b.set(STOP_CHECK_INTERVAL));
        let must_stop = STOP_CHECK.with(Cell::get).is_some_and(|check| check());
        if !must_stop {
            return;
        }
    }
    // Every yieldable thread is either the running task or a coroutine it created, resumed
    // through the wrappers of `bootstrap.luau`, which pass a preemption on up to the worker.
    // SAFETY: `state` is the running Lua thread the VM passed to its own interrupt callback.
    if unsafe { ffi::lua_isyieldable(state) } != 0 {
        let slice = SLICE.with(Cell::get);
        BUDGET.with(|b| {
            b.set(if slice == 0 {
                STOP_CHECK_INTERVAL
            } else {
                slice
            })
        });
        PREEMPTED.with(|p| p.set(true));
        // SAFETY: the thread is yieldable; yielding zero values from an interrupt is supported
        // by Luau and returns control to its resumer.
        unsafe {
            ffi::lua_yield(state, 0);
        }
        return;
    }
    let overrun = OVERRUN.with(Cell::get) + 1;
    OVERRUN.with(|o| o.set(overrun));
    if overrun > HARD_LIMIT {
        OVERRUN.with(|o| o.set(0));
        // SAFETY: raising from the interrupt is how Luau stops runaway code; the message is a
        // NUL-terminated literal without format directives.
        unsafe {
            ffi::luaL_error(
                state,
                c"process ran too long without yielding (preemption hard limit)".as_ptr(),
            );
        }
    }
}
