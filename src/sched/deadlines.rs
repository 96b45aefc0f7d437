//! Cancel deadlines of Rust processes (embedding.md §3): a Lua process's deadline is a timer of
//! the worker that runs it, but nothing runs a Rust process, so one thread (started on the
//! first such deadline) sleeps until the earliest one and ends the process if it is still
//! alive then, as `cancel deadline exceeded`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

use super::Shared;
use crate::proc::{Exit, Pid};

/// The armed deadlines, shared by the runtime and the thread that enforces them.
#[derive(Default)]
pub(crate) struct NativeDeadlines {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    started: bool,
    closed: bool,
}

impl NativeDeadlines {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the Rust process `pid` at `at` unless it has exited by then.
    pub(crate) fn arm(self: &Arc<Self>, shared: &Weak<Shared>, pid: Pid, at: Instant) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.due.push(Reverse((at, pid.0)));
        if !state.started {
            state.started = true;
            let (deadlines, shared) = (self.clone(), shared.clone());
            let spawned = std::thread::Builder::new()
                .name("moonweave-deadlines".into())
                .spawn(move || deadlines.run(shared));
            if spawned.is_err() {
                // Without the thread the deadline is still enforced by the owner's receive.
                state.started = false;
            }
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The runtime stops: the thread ends.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    fn run(&self, shared: Weak<Shared>) {
        let mut state = self.lock();
        loop {
            if state.closed {
                return;
            }
            let now = Instant::now();
            match state.due.peek().map(|Reverse((at, _))| *at) {
                Some(at) if at <= now => {
                    let Some(Reverse((_, pid))) = state.due.pop() else {
                        continue;
                    };
                    drop(state);
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    if let Some(process) = shared.table.get(Pid(pid)) {
                        shared.exit_native(&process, Exit::Failed(super::deadline_exceeded()));
                    }
                    drop(shared);
                    state = self.lock();
                }
                Some(at) => {
                    state = self
                        .changed
                        .wait_timeout(state, at - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => {
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}
