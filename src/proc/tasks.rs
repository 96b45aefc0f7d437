//! The tasks of one process and the channels between them (stdlib.md §5, §6), without Lua.
//!
//! # Model
//!
//! A process runs one *task* at a time: its main task, plus every task started with
//! `coroutine.spawn`. A task is `Ready` (with what it will find when it resumes, a
//! [`Delivery`]), `Running` (the one the worker resumed), `Blocked`, or gone. The worker asks
//! [`Tasks::next`] for the task to resume; when none is ready the process waits for the world.
//!
//! A blocking operation first tries to complete at once (`recv`, `send`; a select tries its cases in turn). When
//! it cannot, the caller registers the running task as a *waiter* on the channels involved and
//! blocks it; the Lua layer then yields the task's coroutine. Whoever completes the operation
//! later (a sender, a receiver, a closing task, a timer) hands the result to the waiting task as
//! its delivery and makes it ready. Channels follow Go: unbuffered channels hand values over
//! directly, a buffer holds up to `size` values, blocked senders and receivers are served
//! first-come first-served, and a closed channel gives `nil, false` to every receiver once its
//! buffer is empty.
//!
//! # Waiters and sequence numbers
//!
//! A `select` registers one waiter per case. Every waiter carries the task's *wait sequence
//! number*, a new one (from one counter for all the tasks of the process, so a task that takes
//! a freed task's place never meets its numbers) each time the task blocks or is made ready; a
//! waiter, or a sleep's timer, whose number is not the task's current one is stale. When a task is made ready its other waiters are removed from
//! their channels at once (as Go's `select` dequeues its other cases), so a channel that always
//! loses a `select` does not collect waiters.
//!
//! # Waits for the world
//!
//! Receiving from a process channel (inbox, events, a topic), a `process.call` and
//! `io.readline` wait for something outside the process. Such a task is blocked as *external*;
//! [`Tasks::wake_external`] makes every external waiter ready with [`Delivery::Look`] whenever
//! the world wakes the process, and the task looks again (a spurious wake-up blocks it again).
//!
//! A process whose tasks all wait on channels of this process, with no external waiter and no
//! time entry pending, can never be woken: [`Tasks::next`] reports [`Next::Deadlock`].
//!
//! Values are opaque handles `V` owned by the process (the Lua layer stores Lua values behind
//! them); dropping a handle releases the value.

use std::collections::VecDeque;

/// A task of one process; stable while the task lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(u32);

impl TaskId {
    /// The index of the task, for tables kept beside [`Tasks`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A channel of one process. The generation tells a channel from a later one in the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChanId {
    index: u32,
    generation: u32,
}

/// What travels through a channel: a value, or a timestamp put there by a time channel (kept
/// as Unix nanoseconds, so that firing a timer needs no Lua allocation).
#[derive(Debug)]
pub enum Item<V> {
    Value(V),
    Time(f64),
}

/// What a task finds when it resumes.
#[derive(Debug)]
pub enum Delivery<V> {
    /// Nothing: its first run, the end of a sleep, a yield.
    Resume,
    /// A receive completed: the item, or `None` when the channel was closed (`nil, false`).
    Received(Option<Item<V>>),
    /// A send completed.
    Sent,
    /// The channel closed while the task waited to send on it: the send raises.
    SendOnClosed,
    /// A `select` completed with its case `case` (0-based): a received item (`None` with
    /// `ok == false` for a closed channel), or nothing for a send case.
    Selected {
        case: usize,
        item: Option<Item<V>>,
        ok: bool,
    },
    /// A send case of a `select` found its channel closed: the select raises.
    SelectSendOnClosed,
    /// The world woke the process: look again at what the task waits for.
    Look,
}

#[derive(Debug)]
enum State<V> {
    Ready(Delivery<V>),
    Running,
    /// Blocked; `external` when it waits for the world.
    Blocked {
        external: bool,
    },
}

/// Indices of ready tasks, oldest first. The oldest is kept inline: most processes have one
/// task, which a `VecDeque` would allocate room for on its first turn.
#[derive(Debug, Default)]
struct ReadyQueue {
    first: Option<u32>,
    rest: VecDeque<u32>,
}

impl ReadyQueue {
    fn push_back(&mut self, index: u32) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(index);
        } else {
            self.rest.push_back(index);
        }
    }

    fn pop_front(&mut self) -> Option<u32> {
        self.first.take().or_else(|| self.rest.pop_front())
    }

    fn iter(&self) -> impl Iterator<Item = &u32> {
        self.first.iter().chain(self.rest.iter())
    }
}

#[derive(Debug)]
struct Task<V> {
    state: State<V>,
    /// A new number each time the task blocks or is made ready; see the module docs.
    seq: u32,
    /// The channels this task is registered on as a waiter, to withdraw from.
    registered: Vec<ChanId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiter {
    task: u32,
    seq: u32,
    /// The select case (0 for a plain send or receive).
    case: u32,
    /// Whether it waits in a select (its completion is a `Selected` delivery).
    select: bool,
}

#[derive(Debug)]
struct Channel<V> {
    generation: u32,
    size: usize,
    buffer: VecDeque<Item<V>>,
    receivers: VecDeque<Waiter>,
    senders: VecDeque<(Waiter, Item<V>)>,
    closed: bool,
}

#[derive(Debug)]
struct ChannelSlab<V> {
    channels: Vec<Option<Channel<V>>>,
    free: Vec<u32>,
}

/// What a blocked operation waits on; see [`Tasks::block`].
pub enum Wait<'a, V> {
    /// Something outside the process.
    External,
    /// A receive on a channel of this process.
    Receive(ChanId),
    /// A send on a channel of this process.
    Send(ChanId, Item<V>),
    /// A select over channels of this process (`external` when it also has process channels
    /// among its cases).
    Select {
        cases: &'a mut Vec<(usize, ChanId, Option<Item<V>>)>,
        external: bool,
    },
    /// Only a time entry (a sleep), or nothing at all (a task that will be stopped).
    Local,
}

/// What the worker should do next with the process.
#[derive(Debug)]
pub enum Next<V> {
    /// Resume this task with this delivery.
    Run(TaskId, Delivery<V>),
    /// No task can run until the world wakes the process.
    Wait,
    /// Every task waits on the others and nothing can wake any of them.
    Deadlock,
}

/// Why a channel operation could not be performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelError {
    /// The channel does not exist (any more) in this process.
    Gone,
    /// `send` on a closed channel.
    Closed,
}

/// The tasks and channels of one process.
#[derive(Debug)]
pub struct Tasks<V> {
    tasks: Vec<Option<Task<V>>>,
    free_tasks: Vec<u32>,
    ready: ReadyQueue,
    running: Option<u32>,
    /// Channels, allocated on the first one (most processes have none).
    channels: Option<Box<ChannelSlab<V>>>,
    next_generation: u32,
    /// The last wait sequence number given out.
    last_seq: u32,
    /// Blocked tasks that wait for the world.
    external: usize,
}

impl<V> Default for Tasks<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Tasks<V> {
    /// No tasks and no channels.
    pub fn new() -> Self {
        Self {
            tasks: Vec::new(),
            free_tasks: Vec::new(),
            ready: ReadyQueue::default(),
            running: None,
            channels: None,
            next_generation: 0,
            last_seq: 0,
            external: 0,
        }
    }

    /// A new wait sequence number.
    fn next_seq(&mut self) -> u32 {
        self.last_seq = self.last_seq.wrapping_add(1);
        self.last_seq
    }

    // ---- tasks -------------------------------------------------------------------------------

    /// Adds a task that is ready for its first run (behind the tasks already ready).
    pub fn spawn(&mut self) -> TaskId {
        let task = Task {
            state: State::Ready(Delivery::Resume),
            seq: self.next_seq(),
            registered: Vec::new(),
        };
        let index = match self.free_tasks.pop() {
            Some(index) => {
                self.tasks[index as usize] = Some(task);
                index
            }
            None => {
                // Most processes have one task: no room for more until a second comes.
                self.tasks.reserve_exact(1);
                self.tasks.push(Some(task));
                (self.tasks.len() - 1) as u32
            }
        };
        self.ready.push_back(index);
        TaskId(index)
    }

    /// The task being resumed.
    pub fn running(&self) -> Option<TaskId> {
        self.running.map(TaskId)
    }

    fn task_mut(&mut self, index: u32) -> Option<&mut Task<V>> {
        self.tasks.get_mut(index as usize)?.as_mut()
    }

    /// Whether the running task is still running (it did not block while it ran).
    pub fn is_running(&self, task: TaskId) -> bool {
        matches!(
            self.tasks.get(task.index()).and_then(Option::as_ref),
            Some(Task {
                state: State::Running,
                ..
            })
        )
    }

    /// The next task to resume: a ready task, else `Wait` or `Deadlock`. `timers` tells whether
    /// a time entry of the process is pending (it can still wake a task).
    pub fn next(&mut self, timers: bool) -> Next<V> {
        while let Some(index) = self.ready.pop_front() {
            let Some(task) = self.task_mut(index) else {
                continue;
            };
            let State::Ready(_) = task.state else {
                continue;
            };
            let State::Ready(delivery) = std::mem::replace(&mut task.state, State::Running) else {
                unreachable!("checked above");
            };
            self.running = Some(index);
            return Next::Run(TaskId(index), delivery);
        }
        self.running = None;
        if self.external == 0 && !timers && self.any_blocked() {
            return Next::Deadlock;
        }
        Next::Wait
    }

    fn any_blocked(&self) -> bool {
        self.tasks
            .iter()
            .flatten()
            .any(|t| matches!(t.state, State::Blocked { .. }))
    }

    /// The running task yielded without blocking: it goes to the back of the ready queue.
    pub fn yield_running(&mut self) {
        if let Some(index) = self.running.take()
            && let Some(task) = self.task_mut(index)
            && matches!(task.state, State::Running)
        {
            task.state = State::Ready(Delivery::Resume);
            self.ready.push_back(index);
        }
    }

    /// The running task ended (returned, or was killed): forget it.
    pub fn finish(&mut self, task: TaskId) {
        if let Some(slot) = self.tasks.get_mut(task.index())
            && let Some(old) = slot.take()
        {
            if matches!(old.state, State::Blocked { external: true }) {
                self.external -= 1;
            }
            self.withdraw(task.0, old.seq, &old.registered);
            self.free_tasks.push(task.0);
        }
        if self.running == Some(task.0) {
            self.running = None;
        }
    }

    /// Blocks the running task on `wait`. For channel waits the task is registered as a
    /// waiter; call this only after the non-blocking attempt failed. Returns the task and the
    /// number of this wait (for [`Tasks::wake`]), or `None` when no task is running.
    pub fn block(&mut self, wait: Wait<'_, V>) -> Option<(TaskId, u32)> {
        let index = self.running?;
        let seq = self.next_seq();
        let task = self.task_mut(index)?;
        task.seq = seq;
        let external = matches!(wait, Wait::External | Wait::Select { external: true, .. });
        task.state = State::Blocked { external };
        if external {
            self.external += 1;
        }
        let waiter = |case: usize, select: bool| Waiter {
            task: index,
            seq,
            case: case as u32,
            select,
        };
        let mut registered = Vec::new();
        match wait {
            Wait::External | Wait::Local => {}
            Wait::Receive(id) => {
                if let Some(ch) = self.channel_mut(id) {
                    ch.receivers.push_back(waiter(0, false));
                    registered.push(id);
                }
            }
            Wait::Send(id, item) => {
                if let Some(ch) = self.channel_mut(id) {
                    ch.senders.push_back((waiter(0, false), item));
                    registered.push(id);
                }
            }
            Wait::Select { cases, .. } => {
                for (case, id, item) in cases.drain(..) {
                    let Some(ch) = self.channel_mut(id) else {
                        continue;
                    };
                    match item {
                        Some(item) => ch.senders.push_back((waiter(case, true), item)),
                        None => ch.receivers.push_back(waiter(case, true)),
                    }
                    if !registered.contains(&id) {
                        registered.push(id);
                    }
                }
            }
        }
        if let Some(task) = self.task_mut(index) {
            task.registered = registered;
        }
        Some((TaskId(index), seq))
    }

    /// Withdraws the block of the running task (its call could not wait after all): it is
    /// running again and registered nowhere.
    pub fn unblock(&mut self) {
        let Some(index) = self.running else {
            return;
        };
        let new_seq = self.next_seq();
        let Some(task) = self.task_mut(index) else {
            return;
        };
        let State::Blocked { external } = task.state else {
            return;
        };
        task.state = State::Running;
        let seq = std::mem::replace(&mut task.seq, new_seq);
        let registered = std::mem::take(&mut task.registered);
        if external {
            self.external -= 1;
        }
        self.withdraw(index, seq, &registered);
    }

    /// Whether some task is ready to run.
    pub fn has_ready(&self) -> bool {
        self.ready.iter().any(|&i| {
            matches!(
                self.tasks.get(i as usize).and_then(Option::as_ref),
                Some(Task {
                    state: State::Ready(_),
                    ..
                })
            )
        })
    }

    /// Forgets every task and channel (upgrade), keeping channel generations increasing so
    /// that an old channel object can never name a new channel.
    pub fn clear(&mut self) {
        let (next_generation, last_seq) = (self.next_generation, self.last_seq);
        *self = Tasks::new();
        self.next_generation = next_generation;
        self.last_seq = last_seq;
    }

    /// Makes a blocked task ready with `delivery`, withdrawing its other waiters.
    fn complete(&mut self, index: u32, delivery: Delivery<V>) {
        let new_seq = self.next_seq();
        let Some(task) = self.task_mut(index) else {
            return;
        };
        let was_external = matches!(task.state, State::Blocked { external: true });
        if !matches!(task.state, State::Blocked { .. }) {
            return;
        }
        task.state = State::Ready(delivery);
        let seq = std::mem::replace(&mut task.seq, new_seq);
        let registered = std::mem::take(&mut task.registered);
        if was_external {
            self.external -= 1;
        }
        self.withdraw(index, seq, &registered);
        self.ready.push_back(index);
    }

    /// Removes the waiters of task `index` with number `seq` from `channels`.
    fn withdraw(&mut self, index: u32, seq: u32, channels: &[ChanId]) {
        let mine = |w: &Waiter| w.task == index && w.seq == seq;
        for &id in channels {
            if let Some(ch) = self.channel_mut(id) {
                ch.receivers.retain(|w| !mine(w));
                ch.senders.retain(|(w, _)| !mine(w));
            }
        }
    }

    /// Whether the waiter is the current wait of a live blocked task.
    fn is_live(&self, w: &Waiter) -> bool {
        matches!(
            self.tasks.get(w.task as usize).and_then(Option::as_ref),
            Some(t) if t.seq == w.seq && matches!(t.state, State::Blocked { .. })
        )
    }

    /// Makes a task blocked on a time entry (a sleep) ready, if it still waits the wait
    /// numbered `seq` that [`Tasks::block`] returned.
    pub fn wake(&mut self, task: TaskId, seq: u32) {
        if self.task_mut(task.0).is_some_and(|t| t.seq == seq) {
            self.complete(task.0, Delivery::Resume);
        }
    }

    /// The world woke the process: every task waiting for it looks again.
    pub fn wake_external(&mut self) {
        if self.external == 0 {
            return;
        }
        for index in 0..self.tasks.len() {
            if matches!(
                self.tasks[index],
                Some(Task {
                    state: State::Blocked { external: true },
                    ..
                })
            ) {
                self.complete(index as u32, Delivery::Look);
            }
        }
    }

    /// Whether some task waits for the world.
    pub fn has_external(&self) -> bool {
        self.external > 0
    }

    // ---- channels ----------------------------------------------------------------------------

    /// A new channel holding up to `size` values (0: unbuffered).
    pub fn open(&mut self, size: usize) -> ChanId {
        self.next_generation = self.next_generation.wrapping_add(1);
        let channel = Channel {
            generation: self.next_generation,
            size,
            buffer: VecDeque::new(),
            receivers: VecDeque::new(),
            senders: VecDeque::new(),
            closed: false,
        };
        let slab = self.channels.get_or_insert_with(|| {
            Box::new(ChannelSlab {
                channels: Vec::new(),
                free: Vec::new(),
            })
        });
        let index = match slab.free.pop() {
            Some(index) => {
                slab.channels[index as usize] = Some(channel);
                index
            }
            None => {
                slab.channels.push(Some(channel));
                (slab.channels.len() - 1) as u32
            }
        };
        ChanId {
            index,
            generation: self.next_generation,
        }
    }

    fn channel_mut(&mut self, id: ChanId) -> Option<&mut Channel<V>> {
        self.channels
            .as_mut()?
            .channels
            .get_mut(id.index as usize)?
            .as_mut()
            .filter(|c| c.generation == id.generation)
    }

    fn channel(&self, id: ChanId) -> Option<&Channel<V>> {
        self.channels
            .as_ref()?
            .channels
            .get(id.index as usize)?
            .as_ref()
            .filter(|c| c.generation == id.generation)
    }

    /// Whether the channel exists.
    pub fn exists(&self, id: ChanId) -> bool {
        self.channel(id).is_some()
    }

    /// Forgets a channel nobody can reach any more. Tasks blocked on it stay blocked (nothing
    /// can wake them through it).
    pub fn drop_channel(&mut self, id: ChanId) {
        if self.exists(id)
            && let Some(slab) = self.channels.as_mut()
        {
            slab.channels[id.index as usize] = None;
            slab.free.push(id.index);
        }
    }

    /// The oldest live waiter among the receivers of `id`, removed.
    fn live_receiver(&mut self, id: ChanId) -> Option<Waiter> {
        loop {
            let w = self.channel_mut(id)?.receivers.pop_front()?;
            if self.is_live(&w) {
                return Some(w);
            }
        }
    }

    /// The oldest live sender of `id` with its item, removed.
    fn live_sender(&mut self, id: ChanId) -> Option<(Waiter, Item<V>)> {
        loop {
            let (w, item) = self.channel_mut(id)?.senders.pop_front()?;
            if self.is_live(&w) {
                return Some((w, item));
            }
        }
    }

    /// Completes `w` as having received `item` (`None`: closed).
    fn complete_receiver(&mut self, w: Waiter, item: Option<Item<V>>) {
        let ok = item.is_some();
        let delivery = match w.select {
            true => Delivery::Selected {
                case: w.case as usize,
                item,
                ok,
            },
            false => Delivery::Received(item),
        };
        self.complete(w.task, delivery);
    }

    /// Completes `w` as having sent (`closed`: the channel closed under it).
    fn complete_sender(&mut self, w: Waiter, closed: bool) {
        let delivery = match (w.select, closed) {
            (true, false) => Delivery::Selected {
                case: w.case as usize,
                item: None,
                ok: true,
            },
            (true, true) => Delivery::SelectSendOnClosed,
            (false, false) => Delivery::Sent,
            (false, true) => Delivery::SendOnClosed,
        };
        self.complete(w.task, delivery);
    }

    /// Sends without waiting: handed to a waiting receiver, or buffered. `Ok(None)` when sent,
    /// `Ok(Some(item))` when the caller must wait (the item comes back).
    pub fn send(&mut self, id: ChanId, item: Item<V>) -> Result<Option<Item<V>>, ChannelError> {
        let ch = self.channel_mut(id).ok_or(ChannelError::Gone)?;
        if ch.closed {
            return Err(ChannelError::Closed);
        }
        if let Some(w) = self.live_receiver(id) {
            self.complete_receiver(w, Some(item));
            return Ok(None);
        }
        let ch = self.channel_mut(id).ok_or(ChannelError::Gone)?;
        if ch.buffer.len() < ch.size {
            ch.buffer.push_back(item);
            return Ok(None);
        }
        Ok(Some(item))
    }

    /// Puts a timestamp in a time channel without waiting; dropped when nobody takes it and
    /// the buffer is full (a tick that finds the previous one unreceived).
    pub fn offer(&mut self, id: ChanId, item: Item<V>) {
        let _ = self.send(id, item);
    }

    /// Receives without waiting: `Ok(Some(Some(item)))` a value, `Ok(Some(None))` closed and
    /// empty, `Ok(None)` the caller must wait.
    #[allow(clippy::type_complexity)]
    pub fn recv(&mut self, id: ChanId) -> Result<Option<Option<Item<V>>>, ChannelError> {
        let ch = self.channel_mut(id).ok_or(ChannelError::Gone)?;
        if let Some(item) = ch.buffer.pop_front() {
            // A blocked sender moves into the freed place.
            if let Some((w, waiting)) = self.live_sender(id) {
                if let Some(ch) = self.channel_mut(id) {
                    ch.buffer.push_back(waiting);
                }
                self.complete_sender(w, false);
            }
            return Ok(Some(Some(item)));
        }
        if let Some((w, item)) = self.live_sender(id) {
            self.complete_sender(w, false);
            return Ok(Some(Some(item)));
        }
        let ch = self.channel_mut(id).ok_or(ChannelError::Gone)?;
        if ch.closed {
            return Ok(Some(None));
        }
        Ok(None)
    }

    /// Closes `id`: blocked receivers get `nil, false`, blocked senders raise. Closing twice
    /// does nothing.
    pub fn close(&mut self, id: ChanId) -> Result<(), ChannelError> {
        let ch = self.channel_mut(id).ok_or(ChannelError::Gone)?;
        if ch.closed {
            return Ok(());
        }
        ch.closed = true;
        while let Some(w) = self.live_receiver(id) {
            self.complete_receiver(w, None);
        }
        while let Some((w, _item)) = self.live_sender(id) {
            self.complete_sender(w, true);
        }
        Ok(())
    }

    #[cfg(test)]
    /// Values waiting in the buffer of `id`.
    pub fn buffered(&self, id: ChanId) -> usize {
        self.channel(id).map_or(0, |c| c.buffer.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_queue_is_first_in_first_out_across_its_inline_head() {
        let mut queue = ReadyQueue::default();
        queue.push_back(1);
        queue.push_back(2);
        assert_eq!(queue.pop_front(), Some(1));
        // The head is empty while older entries wait behind it: new ones go behind those.
        queue.push_back(3);
        assert_eq!(queue.iter().copied().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(queue.pop_front(), Some(2));
        assert_eq!(queue.pop_front(), Some(3));
        assert_eq!(queue.pop_front(), None);
        queue.push_back(4);
        assert_eq!(queue.iter().copied().collect::<Vec<_>>(), [4]);
    }

    fn run(tasks: &mut Tasks<u32>) -> (TaskId, Delivery<u32>) {
        match tasks.next(false) {
            Next::Run(task, delivery) => (task, delivery),
            other => panic!("expected a task to run, got {other:?}"),
        }
    }

    impl<V> Tasks<V> {
        /// Waiters registered on channel `id`, live or not.
        fn waiters(&mut self, id: ChanId) -> usize {
            self.channel_mut(id)
                .map_or(0, |ch| ch.receivers.len() + ch.senders.len())
        }
    }

    fn value(item: Option<Item<u32>>) -> Option<u32> {
        match item {
            Some(Item::Value(v)) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn a_sleep_timer_wakes_only_the_wait_it_was_set_for() {
        let mut tasks: Tasks<u32> = Tasks::new();
        let first = tasks.spawn();
        let other = tasks.spawn();
        assert_eq!(run(&mut tasks).0, first);
        // A sleep that could not wait after all: withdrawn, its timer left pending.
        let (task, stale) = tasks.block(Wait::Local).unwrap();
        assert_eq!(task, first);
        tasks.unblock();
        tasks.finish(first);
        // A new task in the freed place sleeps: the old timer must not wake it.
        let second = tasks.spawn();
        assert_eq!(second, first, "the test needs the freed place reused");
        assert_eq!(run(&mut tasks).0, other);
        tasks.block(Wait::Local);
        assert_eq!(run(&mut tasks).0, second);
        let (_, current) = tasks.block(Wait::Local).unwrap();
        tasks.wake(second, stale);
        assert!(matches!(tasks.next(true), Next::Wait));
        tasks.wake(second, current);
        assert_eq!(run(&mut tasks).0, second);
    }

    #[test]
    fn an_unbuffered_send_hands_the_value_to_a_waiting_receiver() {
        let mut tasks = Tasks::new();
        let receiver = tasks.spawn();
        let sender = tasks.spawn();
        let ch = tasks.open(0);
        assert_eq!(run(&mut tasks).0, receiver);
        assert!(tasks.recv(ch).unwrap().is_none());
        tasks.block(Wait::Receive(ch));
        assert_eq!(run(&mut tasks).0, sender);
        assert!(tasks.send(ch, Item::Value(7)).unwrap().is_none());
        tasks.finish(sender);
        let (task, delivery) = run(&mut tasks);
        assert_eq!(task, receiver);
        let Delivery::Received(item) = delivery else {
            panic!("expected a receive")
        };
        assert_eq!(value(item), Some(7));
    }

    #[test]
    fn an_unbuffered_send_waits_for_a_receiver() {
        let mut tasks = Tasks::new();
        let sender = tasks.spawn();
        let receiver = tasks.spawn();
        let ch = tasks.open(0);
        run(&mut tasks);
        let back = tasks.send(ch, Item::Value(1)).unwrap().expect("must wait");
        tasks.block(Wait::Send(ch, back));
        assert_eq!(run(&mut tasks).0, receiver);
        assert_eq!(value(tasks.recv(ch).unwrap().unwrap()), Some(1));
        let (task, delivery) = run(&mut tasks);
        assert_eq!(task, sender);
        assert!(matches!(delivery, Delivery::Sent));
    }

    #[test]
    fn closing_wakes_receivers_with_nothing_and_senders_with_an_error() {
        let mut tasks = Tasks::new();
        let a = tasks.spawn();
        let b = tasks.spawn();
        let c = tasks.spawn();
        let (inbound, outbound) = (tasks.open(0), tasks.open(0));
        run(&mut tasks);
        assert!(tasks.recv(inbound).unwrap().is_none());
        tasks.block(Wait::Receive(inbound));
        run(&mut tasks);
        let back = tasks
            .send(outbound, Item::Value(5))
            .unwrap()
            .expect("must wait");
        tasks.block(Wait::Send(outbound, back));
        assert_eq!(run(&mut tasks).0, c);
        tasks.close(inbound).unwrap();
        tasks.close(outbound).unwrap();
        tasks.finish(c);
        let (first, delivery) = run(&mut tasks);
        assert_eq!(first, a);
        assert!(matches!(delivery, Delivery::Received(None)));
        let (second, delivery) = run(&mut tasks);
        assert_eq!(second, b);
        assert!(matches!(delivery, Delivery::SendOnClosed));
        assert_eq!(
            tasks.send(inbound, Item::Value(1)).err(),
            Some(ChannelError::Closed)
        );
    }

    #[test]
    fn a_completed_select_leaves_no_waiter_on_its_other_channels() {
        let mut tasks = Tasks::new();
        let selector = tasks.spawn();
        let sender = tasks.spawn();
        let (x, y) = (tasks.open(0), tasks.open(0));
        run(&mut tasks);
        let mut cases = vec![(0, x, None), (1, y, None)];
        tasks.block(Wait::Select {
            cases: &mut cases,
            external: false,
        });
        run(&mut tasks);
        tasks.send(y, Item::Value(9)).unwrap();
        tasks.finish(sender);
        let (task, delivery) = run(&mut tasks);
        assert_eq!(task, selector);
        assert!(matches!(
            delivery,
            Delivery::Selected {
                case: 1,
                ok: true,
                ..
            }
        ));
        // The select's waiter on x was withdrawn, not left for a sender to skip.
        assert_eq!(tasks.waiters(x), 0);
        assert!(matches!(tasks.send(x, Item::Value(5)), Ok(Some(_))));
    }

    #[test]
    fn a_process_whose_tasks_wait_on_each_other_is_deadlocked() {
        let mut tasks: Tasks<u32> = Tasks::new();
        tasks.spawn();
        let ch = tasks.open(0);
        run(&mut tasks);
        tasks.block(Wait::Receive(ch));
        assert!(matches!(tasks.next(false), Next::Deadlock));
        assert!(
            matches!(tasks.next(true), Next::Wait),
            "a timer can still wake it"
        );
    }

    #[test]
    fn a_buffered_channel_keeps_values_in_order_and_drops_offers_when_full() {
        let mut tasks: Tasks<u32> = Tasks::new();
        tasks.spawn();
        let ch = tasks.open(1);
        run(&mut tasks);
        tasks.offer(ch, Item::Value(1));
        tasks.offer(ch, Item::Value(2));
        assert_eq!(tasks.buffered(ch), 1);
        assert_eq!(value(tasks.recv(ch).unwrap().unwrap()), Some(1));
        assert!(tasks.recv(ch).unwrap().is_none());
    }

    #[test]
    fn external_waiters_look_again_when_the_world_wakes_the_process() {
        let mut tasks: Tasks<u32> = Tasks::new();
        let t = tasks.spawn();
        run(&mut tasks);
        tasks.block(Wait::External);
        assert!(matches!(tasks.next(false), Next::Wait));
        tasks.wake_external();
        let (task, delivery) = run(&mut tasks);
        assert_eq!(task, t);
        assert!(matches!(delivery, Delivery::Look));
    }
}
