//! The owner's half of a process: everything only the worker that runs it touches.
//!
//! Signals reach a running process two ways, both ending here: from its own worker directly
//! ([`Local::absorb`], no atomic operation), and from other threads through the worker's
//! inbound queue, which the worker drains into the process the same way. `absorb` sorts a
//! signal at once: messages wait in [`Local::messages`] in arrival order, lifecycle events in the
//! events buffer, a kill or a cancel deadline is recorded. So a receive only looks at buffers.
//!
//! Scheduling state is owner-only too: `scheduled` says whether the process is in its worker's
//! ready queue or running, so a signal schedules a waiting process at most once without any
//! compare-and-swap.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::pid::Pid;
use super::process::{Envelope, Exit, Process, Signal};
use super::tasks::{ChanId, TaskId, Tasks};
use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};

/// A lifecycle event waiting for `process.events()`.
#[derive(Debug)]
pub enum Event {
    /// A monitored process exited.
    Exit {
        from: Arc<str>,
        pid: Pid,
        exit: Arc<Exit>,
    },
    /// A linked process failed and this process traps links.
    LinkDown {
        from: Arc<str>,
        pid: Pid,
        exit: Arc<Exit>,
    },
    /// Someone asked this process to stop.
    Cancel {
        from: Arc<str>,
        deadline: Option<SystemTime>,
    },
}

/// What a time entry does when it is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeKind {
    /// Wakes a sleeping task if it still waits the same wait (the number [`Tasks::block`]
    /// returned).
    ///
    /// [`Tasks::block`]: crate::proc::tasks::Tasks::block
    Sleep { task: TaskId, seq: u32 },
    /// Puts the current time in a time channel (`time.after`, `timer`), and again every
    /// `period` milliseconds (`ticker`).
    Channel {
        channel: ChanId,
        period: Option<std::time::Duration>,
    },
    /// A cancel deadline: the process is stopped.
    Deadline,
}

/// A pending time entry of the process; `seq` is the key of its place in the worker's heap.
#[derive(Debug, Clone, Copy)]
pub struct TimeEntry {
    pub at: Instant,
    pub seq: u64,
    pub kind: TimeKind,
}

/// A time entry of one process; the generation tells it from a later one in the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeId {
    index: u32,
    generation: u32,
}

/// The pending time entries of one process (allocated on first use: most processes never
/// start a timer).
#[derive(Debug, Default)]
pub struct TimeEntries {
    inner: Option<Box<Entries>>,
}

#[derive(Debug, Default)]
struct Entries {
    entries: Vec<Option<(u32, TimeEntry)>>,
    free: Vec<u32>,
    next_generation: u32,
    /// The entry feeding each time channel, so that a channel nobody can reach takes its
    /// entry with it.
    by_channel: HashMap<ChanId, TimeId, ahash::RandomState>,
}

impl TimeEntries {
    /// Adds an entry; the caller puts `entry.seq` in the worker's heap.
    pub fn add(&mut self, entry: TimeEntry) -> TimeId {
        let inner = self.inner.get_or_insert_with(Box::default);
        inner.next_generation = inner.next_generation.wrapping_add(1);
        let generation = inner.next_generation;
        let index = match inner.free.pop() {
            Some(index) => {
                inner.entries[index as usize] = Some((generation, entry));
                index
            }
            None => {
                inner.entries.push(Some((generation, entry)));
                (inner.entries.len() - 1) as u32
            }
        };
        let id = TimeId { index, generation };
        if let TimeKind::Channel { channel, .. } = entry.kind {
            inner.by_channel.insert(channel, id);
        }
        id
    }

    /// The entry `id`, if it is still pending.
    pub fn get(&self, id: TimeId) -> Option<&TimeEntry> {
        match self.inner.as_ref()?.entries.get(id.index as usize)? {
            Some((generation, entry)) if *generation == id.generation => Some(entry),
            _ => None,
        }
    }

    /// The pending entry `id`, to move it (a ticker's next tick, a timer reset).
    pub fn get_mut(&mut self, id: TimeId) -> Option<&mut TimeEntry> {
        match self.inner.as_mut()?.entries.get_mut(id.index as usize)? {
            Some((generation, entry)) if *generation == id.generation => Some(entry),
            _ => None,
        }
    }

    /// Removes `id`; returns the entry (its `seq` is now stale in the worker's heap).
    pub fn remove(&mut self, id: TimeId) -> Option<TimeEntry> {
        self.get(id)?;
        let inner = self.inner.as_mut()?;
        let (_, entry) = inner.entries[id.index as usize].take()?;
        inner.free.push(id.index);
        if let TimeKind::Channel { channel, .. } = entry.kind
            && inner.by_channel.get(&channel) == Some(&id)
        {
            inner.by_channel.remove(&channel);
        }
        Some(entry)
    }

    /// Removes the entry feeding `channel` (the channel is gone); returns it.
    pub fn remove_for_channel(&mut self, channel: ChanId) -> Option<TimeEntry> {
        let id = *self.inner.as_ref()?.by_channel.get(&channel)?;
        self.remove(id)
    }

    fn pending(&self) -> impl Iterator<Item = &TimeEntry> {
        self.inner
            .iter()
            .flat_map(|inner| inner.entries.iter().flatten().map(|(_, e)| e))
    }

    /// Whether an entry that can wake a task (a sleep or a time channel) is pending.
    pub fn can_wake(&self) -> bool {
        self.pending()
            .any(|e| !matches!(e.kind, TimeKind::Deadline))
    }

    /// The heap keys of every pending entry (the process exits: they all become stale).
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending().map(|e| e.seq)
    }

    /// Removes every entry of the running code (upgrade), keeping cancel deadlines (they
    /// belong to the process, process.md §11); returns the heap keys of the removed ones.
    pub fn clear(&mut self) -> Vec<u64> {
        let mut seqs = Vec::new();
        let Some(inner) = self.inner.as_mut() else {
            return seqs;
        };
        for (index, slot) in inner.entries.iter_mut().enumerate() {
            if let Some((_, entry)) = slot
                && !matches!(entry.kind, TimeKind::Deadline)
            {
                seqs.push(entry.seq);
                *slot = None;
                inner.free.push(index as u32);
            }
        }
        inner.by_channel.clear();
        seqs
    }
}

/// A `process.listen` channel of the process.
#[derive(Debug)]
pub struct Listener<V> {
    pub topic: Bytes,
    /// Deliver Message objects (`listen(t, {message = true})`) instead of the first payload.
    pub as_message: bool,
    /// The channel object the Lua layer returns for every `listen(topic)`.
    pub object: V,
    /// Identifies the listener in its channel object.
    pub id: u32,
}

/// What a receive on a process channel looks for.
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    /// The oldest message whose topic has no listener.
    Inbox,
    /// The oldest message with this topic.
    Topic(&'a [u8]),
}

/// The less common parts of the owner state, allocated on first use so that a process that
/// only sends and receives stays small.
#[derive(Debug)]
struct Extra<V> {
    /// Lifecycle events taken out of arrival order with the messages, oldest first.
    events: VecDeque<Event>,
    /// Processes this one monitors. An EXIT from a process not in here (unmonitored since)
    /// is dropped, which is how `unmonitor` also discards an EXIT already queued.
    monitoring: HashSet<Pid, ahash::RandomState>,
    /// Processes this one is linked with; a LINK_DOWN from one not in here is dropped.
    links: HashSet<Pid, ahash::RandomState>,
    /// Children started by `process.call`, with their exit once it arrived. Their EXIT goes
    /// here instead of to `events()`.
    calls: HashMap<Pid, Option<Arc<Exit>>, ahash::RandomState>,
    /// Active `process.listen` channels.
    listeners: Vec<Listener<V>>,
    next_listener: u32,
    /// The earliest armed cancel deadline.
    deadline: Option<Instant>,
}

impl<V> Default for Extra<V> {
    fn default() -> Self {
        Self {
            events: VecDeque::new(),
            monitoring: HashSet::default(),
            links: HashSet::default(),
            calls: HashMap::default(),
            listeners: Vec::new(),
            next_listener: 0,
            deadline: None,
        }
    }
}

/// A process as its owner worker sees it. `V` is the handle of a Lua value (see
/// `proc::tasks`).
#[derive(Debug)]
pub struct Local<V> {
    pub process: Arc<Process>,
    /// In the worker's ready queue, or running: a signal need not schedule it.
    pub scheduled: bool,
    /// A signal arrived since its tasks last looked: waits for the world must look again.
    pub signaled: bool,
    /// Messages not received yet, in arrival order.
    messages: VecDeque<Envelope>,
    /// Whether the host limits mailboxes (received messages give their room back).
    counted: bool,
    pub tasks: Tasks<V>,
    pub time: TimeEntries,
    /// Why the process must stop before it runs any more Lua code (a linked failure,
    /// `terminate`, a passed cancel deadline).
    pub kill: Option<Box<ErrorValue>>,
    /// `process.set_options{trap_links = …}`.
    pub trap_links: bool,
    /// A cancel deadline found while sorting, which the worker must put in its heap.
    pub to_arm: Option<Instant>,
    extra: Option<Box<Extra<V>>>,
}

impl<V> Local<V> {
    /// The owner state of a process about to start. `counted`: its host has a
    /// `mailbox_limit`.
    pub fn new(process: Arc<Process>, counted: bool) -> Self {
        Self {
            process,
            scheduled: true,
            signaled: false,
            messages: VecDeque::new(),
            counted,
            tasks: Tasks::new(),
            time: TimeEntries::default(),
            kill: None,
            trap_links: false,
            to_arm: None,
            extra: None,
        }
    }

    fn extra(&mut self) -> &mut Extra<V> {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Sorts one signal into the buffers.
    pub fn absorb(&mut self, signal: Signal) {
        self.signaled = true;
        match signal {
            Signal::Message(envelope) => self.messages.push_back(envelope),
            Signal::Wake => {}
            Signal::Exit { from, pid, exit } => {
                let Some(extra) = self.extra.as_deref_mut() else {
                    return;
                };
                if let Some(waiting) = extra.calls.get_mut(&pid) {
                    *waiting = Some(exit);
                } else if extra.monitoring.remove(&pid) {
                    extra.events.push_back(Event::Exit { from, pid, exit });
                }
            }
            Signal::LinkDown { from, pid, exit } => {
                // The shared set knows links either side made; a link undone by `unlink`
                // is gone from it, so its LINK_DOWN (queued or in flight) is dropped.
                let linked = self.process.watchers.take_link(pid);
                if let Some(extra) = self.extra.as_deref_mut() {
                    extra.links.remove(&pid);
                }
                if linked {
                    if self.trap_links {
                        self.extra()
                            .events
                            .push_back(Event::LinkDown { from, pid, exit });
                    } else if self.kill.is_none() {
                        self.kill = Some(Box::new(ErrorValue::new(
                            ErrorKind::Canceled,
                            "linked process failed",
                        )));
                    }
                }
            }
            Signal::LinkGone { pid } => {
                self.process.watchers.remove_link(pid);
                if let Some(extra) = self.extra.as_deref_mut() {
                    extra.links.remove(&pid);
                }
            }
            Signal::Kill(reason) => {
                self.kill.get_or_insert_with(|| Box::new(reason));
            }
            Signal::Cancel { from, deadline } => {
                let extra = self.extra();
                extra.events.push_back(Event::Cancel {
                    from,
                    deadline: deadline.map(|d| d.wall),
                });
                if let Some(d) = deadline
                    && extra.deadline.is_none_or(|at| d.at < at)
                    && self.to_arm.is_none_or(|at| d.at < at)
                {
                    self.to_arm = Some(d.at);
                }
            }
        }
    }

    /// Records that the cancel deadline `at` is armed (the earliest wins).
    pub fn armed_deadline(&mut self, at: Instant) {
        self.extra().deadline = Some(at);
    }

    /// Whether a signal should schedule this waiting process: it must stop, or a task waits
    /// for the world, or a deadline must be armed.
    pub fn wants_run(&self) -> bool {
        self.kill.is_some() || self.tasks.has_external() || self.to_arm.is_some()
    }

    /// Takes the oldest waiting message `wanted` accepts.
    pub fn take_message(&mut self, wanted: Wanted<'_>) -> Option<Envelope> {
        let listeners = self.extra.as_deref().map_or(&[][..], |e| &e.listeners[..]);
        let envelope = match wanted {
            Wanted::Inbox if listeners.is_empty() => self.messages.pop_front(),
            Wanted::Inbox => {
                let at = self
                    .messages
                    .iter()
                    .position(|m| !listeners.iter().any(|l| l.topic == m.topic))?;
                self.messages.remove(at)
            }
            Wanted::Topic(topic) => {
                let at = self.messages.iter().position(|m| m.topic == *topic)?;
                self.messages.remove(at)
            }
        };
        if envelope.is_some() && self.counted {
            self.process.release_message();
        }
        envelope
    }

    /// Takes the oldest message from `sender` with `topic`, whatever listens (a reply the
    /// runtime's own code waits for).
    pub fn take_message_from(&mut self, sender: Pid, topic: &[u8]) -> Option<Envelope> {
        let at = self
            .messages
            .iter()
            .position(|m| m.from.is_some_and(|f| f.pid == sender) && m.topic.as_bytes() == topic)?;
        let envelope = self.messages.remove(at);
        if envelope.is_some() && self.counted {
            self.process.release_message();
        }
        envelope
    }

    /// Takes the oldest lifecycle event.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.extra.as_deref_mut()?.events.pop_front()
    }

    // ---- monitors, links, calls --------------------------------------------------------------

    /// Whether this process monitors `pid`.
    pub fn monitors(&self, pid: Pid) -> bool {
        self.extra
            .as_deref()
            .is_some_and(|e| e.monitoring.contains(&pid))
    }

    /// The processes this one monitors.
    pub fn monitored(&self) -> Vec<Pid> {
        self.extra
            .as_deref()
            .map(|e| e.monitoring.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Records a monitor of `pid`.
    pub fn add_monitor(&mut self, pid: Pid) {
        self.extra().monitoring.insert(pid);
    }

    /// Forgets the monitor of `pid` and drops an EXIT from it already waiting.
    pub fn remove_monitor(&mut self, pid: Pid) {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.monitoring.remove(&pid);
            extra
                .events
                .retain(|e| !matches!(e, Event::Exit { pid: p, .. } if *p == pid));
        }
    }

    /// Records a link with `pid`.
    pub fn add_link(&mut self, pid: Pid) {
        self.extra().links.insert(pid);
    }

    /// Forgets the link with `pid` and drops a LINK_DOWN from it already waiting.
    pub fn remove_link(&mut self, pid: Pid) {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.links.remove(&pid);
            extra
                .events
                .retain(|e| !matches!(e, Event::LinkDown { pid: p, .. } if *p == pid));
        }
    }

    /// Records a `process.call` child whose exit this process waits for.
    pub fn add_call(&mut self, child: Pid) {
        self.extra().calls.insert(child, None);
    }

    /// The exit of the call child `child` once it arrived (the call is then over).
    pub fn take_call_exit(&mut self, child: Pid) -> Option<Arc<Exit>> {
        let calls = &mut self.extra.as_deref_mut()?.calls;
        match calls.get(&child) {
            Some(Some(_)) => calls.remove(&child).flatten(),
            _ => None,
        }
    }

    /// Forgets the call child `child` (the waiting task was killed).
    pub fn forget_call(&mut self, child: Pid) {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.calls.remove(&child);
        }
    }

    /// The call children still running: they are terminated when the process exits or
    /// upgrades. Forgets all calls.
    pub fn take_running_calls(&mut self) -> Vec<Pid> {
        match self.extra.as_deref_mut() {
            Some(extra) => extra
                .calls
                .drain()
                .filter(|(_, exit)| exit.is_none())
                .map(|(pid, _)| pid)
                .collect(),
            None => Vec::new(),
        }
    }

    // ---- topic listeners ---------------------------------------------------------------------

    /// The listener of `topic`, if any.
    pub fn listener(&self, topic: &[u8]) -> Option<&Listener<V>> {
        self.extra
            .as_deref()?
            .listeners
            .iter()
            .find(|l| l.topic == *topic)
    }

    /// The listener with channel id `id`, if it is still active.
    pub fn listener_by_id(&self, id: u32) -> Option<&Listener<V>> {
        self.extra.as_deref()?.listeners.iter().find(|l| l.id == id)
    }

    /// Adds a listener of `topic` whose channel object is made by `object(id)`.
    pub fn listen(
        &mut self,
        topic: Bytes,
        as_message: bool,
        object: impl FnOnce(u32) -> V,
    ) -> &Listener<V> {
        let extra = self.extra();
        let mut id = extra.next_listener;
        while extra.listeners.iter().any(|l| l.id == id) {
            id = id.wrapping_add(1);
        }
        extra.next_listener = id.wrapping_add(1);
        extra.listeners.push(Listener {
            topic,
            as_message,
            object: object(id),
            id,
        });
        let last = extra.listeners.len() - 1;
        &extra.listeners[last]
    }

    /// Removes the listener with channel id `id`; its messages go to the inbox again.
    pub fn unlisten(&mut self, id: u32) -> Option<Listener<V>> {
        let listeners = &mut self.extra.as_deref_mut()?.listeners;
        let at = listeners.iter().position(|l| l.id == id)?;
        Some(listeners.remove(at))
    }

    /// Removes every listener (upgrade: the new code gets new channels).
    pub fn clear_listeners(&mut self) {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.listeners.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::Watchers;
    use crate::value::Payload;

    fn local() -> Local<u32> {
        let process = Process::new(Pid(1), Arc::from("{a:b|0x00001}"), 0, Watchers::default());
        Local::new(Arc::new(process), false)
    }

    fn message(topic: &str) -> Signal {
        Signal::Message(Envelope {
            from: None,
            topic: topic.into(),
            payload: Payload::Empty,
        })
    }

    #[test]
    fn the_inbox_skips_topics_with_a_listener_and_keeps_their_order() {
        let mut local = local();
        for topic in ["a", "b", "a", "c"] {
            local.absorb(message(topic));
        }
        local.listen("a".into(), false, |id| id);
        let topics: Vec<String> = std::iter::from_fn(|| local.take_message(Wanted::Inbox))
            .map(|m| m.topic.to_string())
            .collect();
        assert_eq!(topics, ["b", "c"]);
        assert!(local.take_message(Wanted::Topic(b"a")).is_some());
        let id = local.listener(b"a").unwrap().id;
        local.unlisten(id);
        assert_eq!(local.take_message(Wanted::Inbox).unwrap().topic, "a");
    }

    #[test]
    fn an_exit_from_an_unmonitored_process_is_dropped() {
        let mut local = local();
        let exit = Arc::new(Exit::Normal(crate::value::Value::Nil));
        local.add_monitor(Pid(2));
        local.remove_monitor(Pid(2));
        local.absorb(Signal::Exit {
            from: Arc::from("x"),
            pid: Pid(2),
            exit,
        });
        assert!(local.pop_event().is_none());
    }

    #[test]
    fn a_link_down_kills_a_process_that_does_not_trap_links() {
        let mut local = local();
        // A link lives in both sets, as `process.link` makes it.
        local.add_link(Pid(3));
        local.process.watchers.add_link(Pid(3));
        local.absorb(Signal::LinkDown {
            from: Arc::from("x"),
            pid: Pid(3),
            exit: Arc::new(Exit::Failed(ErrorValue::new(ErrorKind::Unknown, "boom"))),
        });
        assert_eq!(
            local.kill.as_ref().unwrap().message,
            "linked process failed"
        );
    }
}
