//! The mailbox of a process whose code is Rust (the embedding API's `Mailbox`, embedding.md
//! §3): its signals wait in a queue under the process's own lock, and a signal wakes the one
//! thread parked in `recv` or the one task that polled `recv_async`.
//!
//! # Wake-ups
//!
//! A sender pushes under the lock and, still under it, takes the registered waker; it notifies
//! the condition variable and wakes the waker after unlocking. A receiver looks at the queue
//! and parks (waits on the condition variable, or stores its waker) under the same lock. So a
//! signal pushed before the receiver's look is seen by the look, and one pushed after it finds
//! the receiver parked or its waker stored: no wake-up is lost. The loom model
//! `loom-tests/tests/native.rs` checks both the parked thread and the polled task.
//!
//! Unlike a worker's processes, nothing here is lock-free: a Rust process is reached from any
//! thread, and its owner is a thread the runtime does not run, so a per-process lock (never
//! a global one) is the simple correct tool.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::sync::{Condvar, Mutex, MutexGuard};

use std::sync::Arc;

use super::process::{Envelope, Process, Signal};
use crate::error::ErrorValue;

/// The queue of a Rust process's signals, shared by its senders and its owner.
pub struct NativeInbox {
    state: Mutex<State>,
    ready: Condvar,
    /// Set for a process that stands for a process of another node: its signals go there
    /// instead of into the queue.
    forward: Option<Arc<dyn Forward>>,
}

/// Where the signals of a process that stands for a process on another node go (`dist`).
pub trait Forward: Send + Sync {
    /// A message for the remote process; `Err` when it cannot go (a value with no Erlang
    /// form): the sender's `send` returns it.
    fn message(&self, proxy: &Process, envelope: Envelope) -> Result<(), ErrorValue>;
    /// Any other signal for the remote process.
    fn signal(&self, proxy: &Process, signal: Signal);
    /// The local process `watcher` begins or stops watching the remote process; `Err` refuses
    /// a change the remote side cannot take (a link to a name).
    fn watch(&self, proxy: &Process, watcher: &Process, change: Watch) -> Result<(), ErrorValue>;
}

/// A change of a local process's watch over a remote one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    Monitor,
    Unmonitor,
    Link,
    Unlink,
}

#[derive(Default)]
struct State {
    signals: VecDeque<Signal>,
    /// The task that polled last and found nothing.
    waker: Option<Waker>,
    /// The process has exited (or the runtime stopped): nothing more arrives.
    closed: bool,
}

/// What a look at the queue found.
#[derive(Debug)]
pub enum Taken {
    Signal(Signal),
    /// Nothing now; more may come.
    Empty,
    /// Nothing, and nothing more will come.
    Closed,
}

impl std::fmt::Debug for NativeInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeInbox").finish_non_exhaustive()
    }
}

impl Default for NativeInbox {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            forward: None,
        }
    }
}

impl NativeInbox {
    /// The inbox of a process whose signals all go to `forward`.
    pub fn forwarding(forward: Arc<dyn Forward>) -> NativeInbox {
        NativeInbox {
            forward: Some(forward),
            ..NativeInbox::default()
        }
    }

    /// Where its signals go instead of the queue, if anywhere.
    pub fn forward(&self) -> Option<&Arc<dyn Forward>> {
        self.forward.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `signal` and wakes the owner; `false` (and the signal dropped) once closed.
    pub fn push(&self, signal: Signal) -> bool {
        let waker = {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            state.signals.push_back(signal);
            state.waker.take()
        };
        self.ready.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Nothing more arrives; a parked owner wakes up and finds the queue closed once it has
    /// taken what is queued.
    pub fn close(&self) {
        let waker = {
            let mut state = self.lock();
            state.closed = true;
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    #[allow(dead_code)] // for the loom models (loom-tests/)
    /// Whether [`NativeInbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The oldest signal, without waiting.
    pub fn try_take(&self) -> Taken {
        Self::look(&mut self.lock())
    }

    fn look(state: &mut State) -> Taken {
        match state.signals.pop_front() {
            Some(signal) => Taken::Signal(signal),
            None if state.closed => Taken::Closed,
            None => Taken::Empty,
        }
    }

    /// The oldest signal, waiting for one until `until` (forever when `None`); `Empty` when
    /// the time passed first.
    pub fn take(&self, until: Option<std::time::Instant>) -> Taken {
        let mut state = self.lock();
        loop {
            match Self::look(&mut state) {
                Taken::Empty => {}
                taken => return taken,
            }
            state = match until {
                None => self.ready.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(until) => {
                    let now = std::time::Instant::now();
                    if now >= until {
                        return Taken::Empty;
                    }
                    self.ready
                        .wait_timeout(state, until - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The oldest signal for an async receiver: `Pending` (with `cx`'s waker stored, replacing
    /// an earlier one) while there is none.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Taken> {
        let mut state = self.lock();
        match Self::look(&mut state) {
            Taken::Empty => {
                match &mut state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            taken => Poll::Ready(taken),
        }
    }

    /// Takes every queued signal (the process exits: they are dropped by the caller, after
    /// the lock is released).
    pub fn drain(&self) -> VecDeque<Signal> {
        std::mem::take(&mut self.lock().signals)
    }
}
