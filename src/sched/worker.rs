//! The worker loop: find work, run it, park when there is none.
//!
//! Order of looking for work (ARCHITECTURE.md, "Scheduling"): the ready queue, the wake-up
//! queue, the local spawn deque, the host's injector, then stealing from siblings. Every
//! [`FAIRNESS_INTERVAL`] runs the wake-up queue and the deque are looked at first, so that a
//! process that keeps itself runnable cannot starve processes woken from other threads.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_deque::{Steal, Worker};
use crossbeam_utils::sync::Parker;

use super::context::{Local, WorkerContext};
use super::slab::Slab;
use super::{Shared, SpawnRequest};
use crate::error::{ErrorKind, ErrorValue};
use crate::log;
use crate::lua::{Resumed, Vm};
use crate::proc::{Exit, Signal};

/// Runs between two looks at the wake-up queue and deque ahead of the ready queue. Picked, not
/// tuned (tokio uses 61 for the same purpose).
const FAIRNESS_INTERVAL: u32 = 61;

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
    parker: Parker,
    started: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let ctx = Rc::new(WorkerContext {
        shared,
        host,
        index,
        deque,
        ready: RefCell::default(),
        procs: RefCell::new(Slab::new()),
        current: Cell::new(None),
        timers: RefCell::default(),
    });
    let vm = match Vm::new(ctx.clone()) {
        Ok(vm) => {
            let _ = started.send(Ok(()));
            vm
        }
        Err(e) => {
            let _ = started.send(Err(format!("cannot create the Lua VM of a worker: {e}")));
            return;
        }
    };
    let mut tick: u32 = 0;
    while !ctx.shared.is_stopping() {
        tick = tick.wrapping_add(1);
        let next_timer = if ctx.timers.borrow().is_empty() {
            None
        } else {
            ctx.fire_due_timers()
        };
        match next_work(&ctx, tick.is_multiple_of(FAIRNESS_INTERVAL)) {
            Some(work) => execute(&ctx, &vm, work),
            None => park(&ctx, &parker, next_timer),
        }
    }
    // Shutdown: processes still alive are dropped with the VM.
    let remaining: Vec<Local> = ctx.procs.borrow_mut().drain().collect();
    for local in remaining {
        local.process.mailbox.close();
        ctx.shared.table.remove(local.process.pid);
    }
}

fn next_work(ctx: &WorkerContext, fair: bool) -> Option<Work> {
    let remote = &ctx.shared.hosts[ctx.host].workers[ctx.index];
    if fair {
        if let Steal::Success(slot) = remote.wakeups.steal() {
            return Some(Work::Resume(slot));
        }
        if let Some(request) = ctx.deque.pop() {
            return Some(Work::Start(request));
        }
    }
    if let Some(slot) = ctx.ready.borrow_mut().pop_front() {
        return Some(Work::Resume(slot));
    }
    if let Steal::Success(slot) = remote.wakeups.steal() {
        return Some(Work::Resume(slot));
    }
    if let Some(request) = ctx.deque.pop() {
        return Some(Work::Start(request));
    }
    steal(ctx).map(Work::Start)
}

/// Takes spawn requests from the host's injector, then from siblings.
fn steal(ctx: &WorkerContext) -> Option<SpawnRequest> {
    let host = &ctx.shared.hosts[ctx.host];
    loop {
        let mut retry = false;
        match host.injector.steal_batch_and_pop(&ctx.deque) {
            Steal::Success(request) => return Some(request),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        let count = host.workers.len();
        for offset in 1..count {
            let sibling = &host.workers[(ctx.index + offset) % count];
            match sibling.stealer.steal_batch_and_pop(&ctx.deque) {
                Steal::Success(request) => return Some(request),
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
fn has_work(ctx: &WorkerContext) -> bool {
    let host = &ctx.shared.hosts[ctx.host];
    !ctx.ready.borrow().is_empty()
        || !host.workers[ctx.index].wakeups.is_empty()
        || !ctx.deque.is_empty()
        || !host.injector.is_empty()
        || host.workers.iter().any(|w| !w.stealer.is_empty())
}

/// Looks for work this many times, with a spin hint between looks, before parking. A message
/// to a process on a worker that is still spinning costs no futex wake-up; an idle worker stops
/// spinning after roughly 20–50 µs. Picked by measuring spawn and skynet (0.56 → 0.94 M spawns/s,
/// 2.62 → 2.32 s); not tuned further.
const SPIN_LOOKS: u32 = 400;

/// Parks until woken, or until `next_timer` is due.
fn park(ctx: &WorkerContext, parker: &Parker, next_timer: Option<Instant>) {
    for _ in 0..SPIN_LOOKS {
        if has_work(ctx)
            || ctx.shared.is_stopping()
            || next_timer.is_some_and(|t| t <= Instant::now())
        {
            return;
        }
        for _ in 0..16 {
            std::hint::spin_loop();
        }
    }
    let remote = &ctx.shared.hosts[ctx.host].workers[ctx.index];
    remote.parked.store(true, Ordering::SeqCst);
    std::sync::atomic::fence(Ordering::SeqCst);
    if !has_work(ctx) && !ctx.shared.is_stopping() {
        match next_timer {
            Some(deadline) => parker.park_deadline(deadline),
            None => parker.park(),
        }
    }
    remote.parked.store(false, Ordering::SeqCst);
}

fn execute(ctx: &WorkerContext, vm: &Vm, work: Work) {
    let (slot, outcome) = match work {
        Work::Resume(slot) => {
            let Some(process) = ctx.procs.borrow().get(slot).map(|l| l.process.clone()) else {
                return;
            };
            process.mailbox.start_running();
            // A signal that stops the process (a linked failure) is acted on before it runs
            // any more Lua code.
            if let Some(reason) = take_kill(ctx, slot) {
                vm.discard(slot);
                finish(ctx, slot, Exit::Failed(reason));
                return;
            }
            ctx.current.set(Some(slot));
            (slot, catch_unwind(AssertUnwindSafe(|| vm.resume(slot))))
        }
        Work::Start(request) => {
            let SpawnRequest {
                process,
                entry,
                args,
                linked_to,
            } = request;
            let mut local = Local::new(process.clone(), entry.clone());
            local.links.extend(linked_to);
            let slot = ctx.procs.borrow_mut().insert(local);
            process.place(ctx.index, slot);
            process.mailbox.start_running();
            // Signals sent before the process started did not notify it: sort them now (a
            // cancel deadline must start its timer even if the process never receives).
            if let Some(reason) = take_kill(ctx, slot) {
                finish(ctx, slot, Exit::Failed(reason));
                return;
            }
            ctx.current.set(Some(slot));
            (
                slot,
                catch_unwind(AssertUnwindSafe(|| vm.start(slot, &entry, &args))),
            )
        }
    };
    ctx.current.set(None);
    let mut resumed = contain_panic(vm, slot, outcome);
    // process.upgrade: the old code is dropped and the new entry starts in the same slot, with
    // the same PID, mailbox, links, monitors, names and options.
    while !matches!(resumed, Resumed::Exited(_)) {
        let Some((entry, args)) = ctx
            .procs
            .borrow_mut()
            .get_mut(slot)
            .and_then(|l| l.upgrade.take())
        else {
            break;
        };
        vm.discard(slot);
        let pending_calls = match ctx.procs.borrow_mut().get_mut(slot) {
            Some(local) => {
                local.entry = entry.clone();
                local.timer = None;
                local.listening.clear();
                std::mem::take(&mut local.calls)
            }
            None => break,
        };
        for (child, exit) in pending_calls {
            if exit.is_none()
                && let Some(child) = ctx.shared.table.get(child)
            {
                ctx.terminate_process(&child);
            }
        }
        ctx.current.set(Some(slot));
        let outcome = catch_unwind(AssertUnwindSafe(|| vm.start(slot, &entry, &args)));
        ctx.current.set(None);
        resumed = contain_panic(vm, slot, outcome);
    }
    // A linked failure noticed while the process was receiving stops it now.
    let killed = match resumed {
        Resumed::Blocked | Resumed::Yielded => ctx
            .procs
            .borrow_mut()
            .get_mut(slot)
            .and_then(|l| l.kill.take()),
        Resumed::Exited(_) => None,
    };
    if let Some(reason) = killed {
        vm.discard(slot);
        finish(ctx, slot, Exit::Failed(reason));
        return;
    }
    match resumed {
        Resumed::Blocked => {
            let parked = match ctx.procs.borrow().get(slot) {
                Some(local) => local.process.mailbox.park(),
                None => true,
            };
            if !parked {
                ctx.ready.borrow_mut().push_back(slot);
            }
        }
        Resumed::Yielded => ctx.ready.borrow_mut().push_back(slot),
        Resumed::Exited(exit) => finish(ctx, slot, exit),
    }
}

/// Sorts what the mailbox of `slot` holds; returns why the process must stop, if it must.
fn take_kill(ctx: &WorkerContext, slot: u32) -> Option<ErrorValue> {
    ctx.procs.borrow_mut().get_mut(slot).and_then(|l| {
        let kill = l.drain();
        ctx.arm_deadline(slot, l);
        kill
    })
}

/// A panic while resuming ends only that process, with an INTERNAL error.
fn contain_panic(vm: &Vm, slot: u32, outcome: std::thread::Result<Resumed>) -> Resumed {
    outcome.unwrap_or_else(|panic| {
        vm.discard(slot);
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Resumed::Exited(Exit::Failed(ErrorValue::new(
            ErrorKind::Internal,
            format!("runtime panic: {what}"),
        )))
    })
}

/// Releases everything an exited process held and reports its exit.
fn finish(ctx: &WorkerContext, slot: u32, exit: Exit) {
    let Some(local) = ctx.procs.borrow_mut().remove(slot) else {
        return;
    };
    let process = local.process;
    // process.md §10: a call's child is terminated when its caller dies while waiting.
    for (child, exit) in &local.calls {
        if exit.is_none()
            && let Some(child) = ctx.shared.table.get(*child)
        {
            ctx.terminate_process(&child);
        }
    }
    let farewell = process.watchers.exit().unwrap_or_default();
    process.mailbox.close();
    ctx.shared.table.remove(process.pid);
    ctx.shared.hosts[ctx.host]
        .live
        .fetch_sub(1, Ordering::Relaxed);
    // process.md §6: the names are released first, then each monitor gets its EXIT.
    for name in &farewell.names {
        ctx.shared.registry.release(name, process.pid);
    }
    if let Exit::Failed(error) = &exit
        && !process.watched
    {
        log::process_failed(&process.pid_text, &local.entry.id, error);
    }
    let exit = Arc::new(exit);
    for monitor in farewell.monitors {
        let signal = Signal::Exit {
            from: process.pid_text.clone(),
            pid: process.pid,
            exit: exit.clone(),
        };
        ctx.deliver(monitor, signal);
    }
    // A process that both monitors and links gets EXIT before LINK_DOWN. Every linked process
    // forgets the link (its shared set here, its own set through the signal), so that links
    // to exited processes do not pile up.
    let failed = matches!(*exit, Exit::Failed(_));
    for linked in farewell.links {
        if let Some(other) = ctx.shared.table.get(linked) {
            other.watchers.remove_link(process.pid);
        }
        let signal = match failed {
            true => Signal::LinkDown {
                from: process.pid_text.clone(),
                pid: process.pid,
                exit: exit.clone(),
            },
            false => Signal::LinkGone { pid: process.pid },
        };
        ctx.deliver(linked, signal);
    }
    if process.watched {
        ctx.shared.notify_exit(process.pid, &exit);
    }
}
