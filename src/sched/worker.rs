//! The worker loop: take signals in, fire timers, find work, run it, park when there is none.
//!
//! Order of looking for work (ARCHITECTURE.md, "Scheduling"): the spawn waiting in `next`, the
//! ready queue (processes, and turns for the spawns a process queued before it yielded or was
//! preempted), the local spawn deque, the host's injector, then stealing from siblings. Every
//! [`FAIRNESS_INTERVAL`] runs the deque and the injector are looked at first, so that processes
//! that keep each other runnable cannot starve new spawns.
//!
//! # Containing failures
//!
//! A panic while a process runs ends that process with an INTERNAL error. A panic anywhere else
//! in the loop (timers, stealing, parking) means the worker cannot be trusted any more: the
//! runtime fails loudly (the reason is logged, everyone waiting for an exit learns it, the
//! command line exits non-zero) instead of leaving a dead worker behind and hanging.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_deque::{Steal, Worker};

use super::core::{Core, Proc, Turn};
use super::park::Parking;
use super::{Shared, SpawnRequest};
use crate::error::{ErrorKind, ErrorValue};
use crate::lua::{Outcome, ProcessLua, Vm};
use crate::proc::{Exit, Local};

/// Runs between two looks at the deque and injector ahead of the ready queue. Picked, not
/// tuned (tokio uses 61 for the same purpose).
const FAIRNESS_INTERVAL: u32 = 61;

/// Looks at the sibling queues this many times, with a spin hint between looks, before parking.
/// A message or spawn for a worker that is still searching costs no futex wake-up; an idle
/// worker stops after roughly 20–50 µs. Picked by measuring spawn and skynet; not tuned further.
const SEARCH_LOOKS: u32 = 400;

/// On a node of a cluster, a searching worker yields its core once in this many looks (its
/// connections' reader and writer threads need the cores too: a remote round trip between
/// two moonweave nodes on 2 cores took 180 µs with pure spinning, 30 µs with this). Local
/// runtimes spin without yielding (yielding cost 2–5 % in ring and ping-pong). Picked by
/// measuring benches/distribution.sh; not tuned further.
const YIELD_EVERY: u32 = 10;

enum Work {
    Resume(u32),
    Start(SpawnRequest),
}

/// The body of one worker thread.
pub(super) fn run(
    shared: Arc<Shared>,
    host: usize,
    index: usize,
    deque: Worker<SpawnRequest>,
    parking: Parking,
    started: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let core = Core::new(shared, host, index, deque);
    let vm = match catch_unwind(AssertUnwindSafe(|| Vm::new(&core))) {
        Ok(Ok(vm)) => {
            let _ = started.send(Ok(()));
            vm
        }
        Ok(Err(e)) => {
            let _ = started.send(Err(format!("cannot create the Lua VM of a worker: {e}")));
            return;
        }
        Err(_) => {
            let _ = started.send(Err("creating the Lua VM of a worker panicked".into()));
            return;
        }
    };
    crate::lua::preempt::set_stop_check(must_stop_running);
    let looped = catch_unwind(AssertUnwindSafe(|| work(&core, &vm, &parking)));
    if let Err(panic) = looped {
        core.shared.fail(format!(
            "worker {index} of host {} panicked: {}",
            core.host_id(host),
            panic_text(&panic)
        ));
    }
    // Shutdown: processes still alive are dropped with the VM.
    let remaining: Vec<Proc> = core.procs.borrow_mut().drain().collect();
    for proc in remaining {
        proc.local.process.set_gone();
        core.remove_from_table(proc.local.process.pid);
    }
    drop(vm);
}

/// On a host without preemption: whether the running process must give the worker back for a
/// moment: it was terminated, a timer (a cancel deadline) is due, or signals wait to be sorted
/// (one may be a kill or a deadline). It then resumes first (`Outcome::Preempted`).
fn must_stop_running() -> bool {
    let Some(core) = super::current_core() else {
        return false;
    };
    let remote = &core.shared.hosts[core.host].workers[core.index];
    core.current_process().is_some_and(|p| p.is_gone())
        || !remote.inbound.is_empty()
        || core.shared.is_stopping()
        || core
            .timers
            .try_borrow_mut()
            .is_ok_and(|mut t| t.next_deadline().is_some_and(|d| d <= Instant::now()))
}

fn work(core: &Rc<Core>, vm: &Vm, parking: &Parking) {
    let mut tick: u32 = 0;
    while !core.shared.is_stopping() {
        tick = tick.wrapping_add(1);
        crate::failpoint::hit("worker-loop");
        take_inbound(core);
        let next_timer = core.fire_due_timers();
        let fair = tick.is_multiple_of(FAIRNESS_INTERVAL);
        if fair {
            publish_queue(core);
        }
        match next_work(core, fair) {
            Some(work) => {
                execute(core, vm, work);
                vm.release_dropped(core);
            }
            None => idle(core, parking, next_timer),
        }
    }
}

/// Publishes how many processes wait for this worker (for `stats`; every few runs and
/// before parking, not on every run).
fn publish_queue(core: &Core) {
    // Turns for spawns are not processes: their spawns are counted in the deque.
    let queued = core
        .ready
        .borrow()
        .len()
        .saturating_sub(core.spawn_turns.get())
        + core.deque.len();
    core.counters()
        .queue
        .store(queued as u64, Ordering::Relaxed);
}

/// Sorts the signals other threads sent to this worker's processes into them.
fn take_inbound(core: &Core) {
    let remote = &core.shared.hosts[core.host].workers[core.index];
    // Most turns find nothing: a look at the indices is cheaper than a steal attempt.
    if remote.inbound.is_empty() {
        return;
    }
    loop {
        match remote.inbound.steal() {
            Steal::Success(inbound) => core.absorb(inbound.slot, inbound.pid, inbound.signal),
            Steal::Empty => return,
            Steal::Retry => {}
        }
    }
}

fn next_work(core: &Core, fair: bool) -> Option<Work> {
    if fair {
        if let Some(request) = core.deque.pop() {
            return Some(Work::Start(request));
        }
        if let Some(request) = steal(core) {
            return Some(Work::Start(request));
        }
    }
    if let Some(request) = core.next.borrow_mut().take() {
        return Some(Work::Start(request));
    }
    loop {
        let turn = core.ready.borrow_mut().pop_front();
        match turn {
            Some(Turn::Resume(slot)) => return Some(Work::Resume(slot)),
            Some(Turn::Spawns(owed)) => {
                if let Some(request) = core.deque.pop() {
                    if owed > 1 {
                        core.ready.borrow_mut().push_front(Turn::Spawns(owed - 1));
                    } else {
                        core.spawn_turns.set(core.spawn_turns.get() - 1);
                    }
                    return Some(Work::Start(request));
                }
                // Siblings took them: nothing is owed any more.
                core.spawn_turns.set(core.spawn_turns.get() - 1);
            }
            None => break,
        }
    }
    if let Some(request) = core.deque.pop() {
        return Some(Work::Start(request));
    }
    steal(core).map(Work::Start)
}

/// Takes spawn requests from the host's injector, then from siblings.
fn steal(core: &Core) -> Option<SpawnRequest> {
    let host = &core.shared.hosts[core.host];
    loop {
        let mut retry = false;
        match host.injector.steal_batch_and_pop(&core.deque) {
            Steal::Success(request) => {
                super::stats::bump(&core.counters().steals);
                return Some(request);
            }
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        let count = host.workers.len();
        for offset in 1..count {
            let sibling = &host.workers[(core.index + offset) % count];
            match sibling.stealer.steal_batch_and_pop(&core.deque) {
                Steal::Success(request) => {
                    super::stats::bump(&core.counters().steals);
                    return Some(request);
                }
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    }
}

/// Whether any queue this worker may take from holds something.
fn has_work(core: &Core) -> bool {
    let host = &core.shared.hosts[core.host];
    !core.ready.borrow().is_empty()
        || core.next.borrow().is_some()
        || !host.workers[core.index].inbound.is_empty()
        || !core.deque.is_empty()
        || !host.injector.is_empty()
        || host.workers.iter().any(|w| !w.stealer.is_empty())
}

/// Nothing to do: search the siblings for a while (when few workers already do), then park
/// until woken or until the next timer is due.
fn idle(core: &Core, parking: &Parking, next_timer: Option<Instant>) {
    let host = &core.shared.hosts[core.host];
    let searchers = host.searching.load(Ordering::SeqCst);
    if searchers * 2 < host.workers.len().max(2) {
        host.searching.fetch_add(1, Ordering::SeqCst);
        let mut found = false;
        let yields = core.shared.dist.get().is_some();
        for look in 0..SEARCH_LOOKS {
            if yields && look % YIELD_EVERY == YIELD_EVERY - 1 {
                // A node's connection threads deliver work to this worker: let them run on
                // this core rather than spin past them.
                std::thread::yield_now();
            }
            if has_work(core)
                || core.shared.is_stopping()
                || next_timer.is_some_and(|t| t <= Instant::now())
            {
                found = true;
                break;
            }
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
        host.searching.fetch_sub(1, Ordering::SeqCst);
        if found {
            return;
        }
    }
    let idle = &host.workers[core.index].idle;
    idle.prepare();
    if !has_work(core) && !core.shared.is_stopping() {
        publish_queue(core);
        super::stats::bump(&core.counters().parks);
        parking.park(next_timer);
    }
    idle.cancel();
}

fn execute(core: &Core, vm: &Vm, work: Work) {
    let slot = match work {
        Work::Resume(slot) => slot,
        Work::Start(request) => start(core, request),
    };
    let running = core.with_proc(slot, |p| {
        (slot, p.local.process.pid, p.local.process.guarded)
    });
    core.set_current(running);
    core.slice_spawns.set(0);
    super::stats::bump(&core.counters().runs);
    let outcome = catch_unwind(AssertUnwindSafe(|| vm.run(core, slot)));
    core.set_current(None);
    let outcome = outcome.unwrap_or_else(|panic| {
        // A panic of the runtime's own code while the process ran: not a native function's,
        // and not to be blamed on the next process.
        crate::lua::forget_native_panic();
        Outcome::Exited(Exit::Failed(ErrorValue::new(
            ErrorKind::Internal,
            format!("runtime panic: {}", panic_text(&panic)),
        )))
    });
    match outcome {
        Outcome::Waiting => {
            core.with_proc(slot, |p| {
                // A signal that arrived during the run may have readied a task.
                if p.local.tasks.has_ready() || p.local.kill.is_some() {
                    core.ready.borrow_mut().push_back(Turn::Resume(slot));
                } else {
                    p.local.scheduled = false;
                }
            });
        }
        // A process that gives its worker back waits behind the children it spawned in this
        // run, as a preempted one does (below).
        Outcome::Yielded => queue_behind_children(core, slot),
        // Preempted: to the back of the queue, so that others run. On a host without
        // preemption the process only stopped so that signals and timers are seen: it goes on
        // first.
        Outcome::Preempted if core.config().preemption_budget == 0 => {
            core.ready.borrow_mut().push_front(Turn::Resume(slot))
        }
        // With preemption: to the back of the queue, behind its children (see below).
        Outcome::Preempted => queue_behind_children(core, slot),
        Outcome::Upgrade => {
            upgrade(core, slot);
            core.ready.borrow_mut().push_back(Turn::Resume(slot));
        }
        Outcome::Exited(exit) => core.finish(slot, exit),
    }
}

/// Queues the process in `slot`, which gave its worker back or was preempted, at the back of the
/// ready queue, behind a turn for the spawns it queued here during this run: they start before
/// it goes on and after the processes that were ready before them, as in Erlang's run queue.
/// Without that turn a process spawning in a loop outran its children and piled up pending
/// processes (a million in the spawn benchmark: 688 MB on one worker). Only this run's spawns: a receiver
/// preempted long after it spawned its senders goes on before they all start (and flood its
/// mailbox).
fn queue_behind_children(core: &Core, slot: u32) {
    let owed = core.slice_spawns.get().min(core.deque.len());
    let mut ready = core.ready.borrow_mut();
    if owed > 0 {
        ready.push_back(Turn::Spawns(owed as u32));
        core.spawn_turns.set(core.spawn_turns.get() + 1);
    }
    ready.push_back(Turn::Resume(slot));
}

/// Places a new process on this worker.
fn start(core: &Core, request: SpawnRequest) -> u32 {
    let SpawnRequest {
        process,
        entry,
        args,
        linked_to,
    } = request;
    let counted = core.shared.hosts[core.host].config.mailbox_limit > 0;
    // The request's reference moves into the owner state: no count to raise and drop again.
    let mut local = Local::new(process, counted);
    if let Some(linked) = linked_to {
        local.add_link(linked);
    }
    let proc = Proc {
        local,
        entry,
        lua: ProcessLua::starting(args),
        upgrade: None,
    };
    let slot = core.procs.borrow_mut().insert(proc);
    // Signals sent before the start (builder messages, a cancel) come first.
    core.with_proc(slot, |p| {
        for signal in p.local.process.place(core.index, slot) {
            p.local.absorb(signal);
        }
    });
    slot
}

/// `process.upgrade`: the old code is dropped and the new entry starts in the same slot (on the
/// process's next run), with the same PID, messages, links, monitors, names and options.
fn upgrade(core: &Core, slot: u32) {
    let outcome = core.with_proc(slot, |p| {
        let (entry, args) = *p.upgrade.take()?;
        p.entry = entry;
        p.local.tasks.clear();
        p.local.clear_listeners();
        p.lua.reset(args);
        let calls = p.local.take_running_calls();
        let seqs: Vec<u64> = p.local.time.clear();
        Some((calls, seqs))
    });
    if let Some(Some((calls, seqs))) = outcome {
        core.cancel_time_entries(seqs);
        core.terminate_calls(calls);
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// A worker run on the calling thread, for unit tests that need a real VM and real processes.
#[cfg(test)]
pub(crate) mod testing {
    use std::rc::Rc;
    use std::sync::Arc;

    use super::*;
    use crate::app::App;

    /// One host with one worker whose loop the test drives.
    pub struct TestWorker {
        pub scheduler: super::super::Scheduler,
        pub core: Rc<Core>,
        pub vm: Rc<Vm>,
    }

    impl TestWorker {
        /// A runtime for `app` with no worker threads, and a worker on this thread.
        pub fn new(app: App) -> TestWorker {
            let scheduler =
                super::super::Scheduler::without_threads(Arc::new(app)).expect("a scheduler");
            let (shared, deque) = scheduler.test_worker_parts();
            let core = Core::new(shared, 0, 0, deque);
            let vm = Vm::new(&core).expect("the VM is built");
            TestWorker {
                scheduler,
                core,
                vm,
            }
        }

        /// Runs until no process can run (every one waits or has exited).
        pub fn run_until_idle(&self) {
            let mut tick = 0u32;
            loop {
                tick = tick.wrapping_add(1);
                take_inbound(&self.core);
                self.core.fire_due_timers();
                match next_work(&self.core, false) {
                    Some(work) => {
                        execute(&self.core, &self.vm, work);
                        self.vm.release_dropped(&self.core);
                    }
                    None => return,
                }
                assert!(tick < 1_000_000, "the processes never went idle");
            }
        }
    }
}
