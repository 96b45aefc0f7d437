//! Running a process: its tasks' coroutines, resumed one at a time until every task waits, the
//! process is preempted, or it exits; and how a Lua function blocks the running task.
//!
//! # One run
//!
//! The worker calls [`Vm::run`] for a process it took from its ready queue. Before every resume
//! the run looks at the process's owner state: a kill or an upgrade stops it before any more of
//! its Lua code runs; a process that has not started yet is started; signals that arrived make
//! the tasks that wait for the world look again. Then the task scheduler (`proc::tasks`) names
//! the task to resume and what it will find (its *delivery*), which is kept here for the
//! continuation of the call that blocked it. The run goes on, within one preemption budget,
//! until no task is ready (the process waits), the budget is spent (the process goes to the back
//! of the queue and resumes the same task next time), a plain `coroutine.yield()` lets others
//! run, or the main task ends (the process exits; its other tasks die with it).
//!
//! # Blocking
//!
//! A blocking call checks that it can yield, registers what its task waits for with the task
//! scheduler, and yields the block token ([`block`]). Its continuation runs when the task is
//! resumed: it takes the delivery ([`take_delivery`]) and returns the results, or blocks again
//! (a spurious wake-up). Whether a yield was a block is decided by the task's state in Rust,
//! not by what was yielded.

use std::ffi::c_int;
use std::rc::Rc;
use std::sync::Arc;

use super::errors::exit_error;
use super::raw::{self, LuaRef, Raise, Stack, Status, Thread, lua_fn};
use super::vm::Chunk;
use super::{convert, preempt};
use crate::app::ProcessEntry;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Delivery, Exit, Next, TaskId, Wait};
use crate::sched::{Core, current_core};
use crate::value::Value;

/// A task's coroutine, and the number of arguments waiting on its stack for its first resume.
struct TaskThread {
    thread: Rc<Thread>,
    first: Option<c_int>,
}

/// A coroutine a task waits inside. The reference keeps it alive while it is listed, so its
/// address (the identity `rt.thread_use` compares) cannot name another coroutine meanwhile.
struct WaitedIn {
    thread: usize,
    task: TaskId,
    _anchor: LuaRef,
}

/// The Lua state of one process, owned by its worker.
#[derive(Default)]
pub struct ProcessLua {
    /// The process's global table.
    pub(crate) env: Option<LuaRef>,
    /// Task coroutines by task index.
    threads: Vec<Option<TaskThread>>,
    /// The main task: when it ends, the process exits.
    main: Option<TaskId>,
    /// A task that was preempted: it resumes first, whatever else is ready.
    preempted: Option<TaskId>,
    /// The arguments of a start that has not happened yet (a new process, an upgrade), until
    /// the main task takes them (`rt.arguments`).
    pub(crate) start: Option<Vec<Value>>,
    /// The entry chunk of a started main task that has not made its globals yet
    /// (`rt.entry`): set by [`Vm::start`], taken on the task's first resume.
    chunk: Option<Rc<Chunk>>,
    /// What the running task finds when it resumes, for its blocked call's continuation.
    delivery: Option<Delivery<LuaRef>>,
    /// Objects every call returns the same one of (`process.pid()`, `inbox()`, `events()`).
    pub(crate) pid: Option<LuaRef>,
    pub(crate) inbox: Option<LuaRef>,
    pub(crate) events: Option<LuaRef>,
    /// Library instances by id (a Lua table), created on the first `require` of a library.
    pub(crate) libraries: Option<LuaRef>,
    /// Coroutines a task waits inside: their block was passed up to the task, so nothing else
    /// may resume or close them until it returns. Boxed: 8 bytes in every process instead of a
    /// `Vec`'s 24, and most processes never have one.
    #[allow(clippy::box_collection)]
    waited_in: Option<Box<Vec<WaitedIn>>>,
}

impl ProcessLua {
    /// The Lua state of a process about to start with `args`.
    pub fn starting(args: Vec<Value>) -> ProcessLua {
        ProcessLua {
            start: Some(args),
            ..ProcessLua::default()
        }
    }

    fn thread(&self, task: TaskId) -> Option<Rc<Thread>> {
        self.threads
            .get(task.index())?
            .as_ref()
            .map(|t| t.thread.clone())
    }

    fn first_args(&mut self, task: TaskId) -> c_int {
        self.threads
            .get_mut(task.index())
            .and_then(Option::as_mut)
            .and_then(|t| t.first.take())
            .unwrap_or(0)
    }

    fn add_thread(&mut self, task: TaskId, thread: Thread, nargs: c_int) {
        let index = task.index();
        if self.threads.len() <= index {
            self.threads.reserve_exact(index + 1 - self.threads.len());
            self.threads.resize_with(index + 1, || None);
        }
        self.threads[index] = Some(TaskThread {
            thread: Rc::new(thread),
            first: Some(nargs),
        });
    }

    fn drop_thread(&mut self, task: TaskId) {
        if let Some(slot) = self.threads.get_mut(task.index()) {
            *slot = None;
        }
        self.forget_waited_in(task);
    }

    /// Unlists every coroutine `task` waits inside (its wait was withdrawn, or it ended).
    fn forget_waited_in(&mut self, task: TaskId) {
        if let Some(list) = &mut self.waited_in {
            list.retain(|w| w.task != task);
        }
    }

    /// What user code may do with the coroutine `thread_id` (see [`ThreadUse`]).
    fn thread_use(&self, thread_id: usize) -> ThreadUse {
        if self
            .threads
            .iter()
            .flatten()
            .any(|t| t.thread.id() == thread_id)
        {
            return ThreadUse::Task;
        }
        match &self.waited_in {
            Some(list) if list.iter().any(|w| w.thread == thread_id) => ThreadUse::WaitedIn,
            _ => ThreadUse::Free,
        }
    }

    fn set_waited_in(&mut self, thread_id: usize, task: TaskId, anchor: Option<LuaRef>) {
        let list = self.waited_in.get_or_insert_with(Box::default);
        match anchor {
            Some(anchor) => list.push(WaitedIn {
                thread: thread_id,
                task,
                _anchor: anchor,
            }),
            None => {
                if let Some(at) = list.iter().rposition(|w| w.thread == thread_id) {
                    list.swap_remove(at);
                }
            }
        }
    }

    /// Hands the task coroutines of a process that has exited back for reuse
    /// ([`Thread::recycle`]).
    pub(crate) fn recycle(&mut self) {
        for task in self.threads.drain(..).flatten() {
            if let Ok(thread) = Rc::try_unwrap(task.thread) {
                thread.recycle();
            }
        }
    }

    /// Drops everything of the running code (upgrade): tasks, globals, cached channels.
    pub(crate) fn reset(&mut self, args: Vec<Value>) {
        *self = ProcessLua {
            pid: self.pid.take(),
            ..ProcessLua::starting(args)
        };
    }
}

/// What user code may do with a coroutine of its process (`rt.thread_use`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadUse {
    /// Resume and close it as it likes.
    Free = 0,
    /// Nothing: it is a task, run by the runtime.
    Task = 1,
    /// Nothing for now: a task waits inside it.
    WaitedIn = 2,
}

/// What a run of a process ended with.
#[derive(Debug)]
pub enum Outcome {
    /// Every task waits: the process waits for a signal or a timer.
    Waiting,
    /// A task yielded (`coroutine.yield()`, `time.sleep(0)`): others run first.
    Yielded,
    /// The preemption budget was spent: the same task resumes on the next run.
    Preempted,
    /// The process exited.
    Exited(Exit),
    /// `process.upgrade` was called: start the new code.
    Upgrade,
}

/// What to do next in a run.
enum Step {
    Stop(Exit),
    Upgrade,
    Start(Arc<ProcessEntry>),
    Resume(TaskId, Rc<Thread>, c_int),
    Wait,
    Deadlock,
}

impl super::Vm {
    /// Runs the process in `slot` until it waits, yields or exits.
    pub fn run(&self, core: &Core, slot: u32) -> Outcome {
        crate::failpoint::hit("run");
        preempt::enter();
        loop {
            let step = core.with_proc(slot, |p| {
                if let Some(reason) = p.local.kill.take() {
                    return Step::Stop(Exit::Failed(*reason));
                }
                if p.upgrade.is_some() {
                    return Step::Upgrade;
                }
                if p.lua.main.is_none() {
                    return Step::Start(p.entry.clone());
                }
                if let Some(task) = p.lua.preempted.take()
                    && let Some(thread) = p.lua.thread(task)
                {
                    return Step::Resume(task, thread, 0);
                }
                if std::mem::take(&mut p.local.signaled) {
                    p.local.tasks.wake_external();
                }
                match p.local.tasks.next(p.local.time.can_wake()) {
                    Next::Run(task, delivery) => {
                        p.lua.delivery = Some(delivery);
                        let nargs = p.lua.first_args(task);
                        match p.lua.thread(task) {
                            Some(thread) => Step::Resume(task, thread, nargs),
                            None => Step::Stop(Exit::Failed(ErrorValue::new(
                                ErrorKind::Internal,
                                "a task has no coroutine",
                            ))),
                        }
                    }
                    Next::Wait => Step::Wait,
                    Next::Deadlock => Step::Deadlock,
                }
            });
            let Some(step) = step else {
                return Outcome::Exited(Exit::Failed(ErrorValue::new(
                    ErrorKind::Internal,
                    "the process is gone",
                )));
            };
            core.arm_pending_deadline(slot);
            match step {
                Step::Stop(exit) => return Outcome::Exited(exit),
                Step::Upgrade => return Outcome::Upgrade,
                Step::Wait => {
                    // A signal absorbed while deciding (a task sent to its own process) must
                    // not be missed.
                    if core.with_proc(slot, |p| p.local.signaled) == Some(true) {
                        continue;
                    }
                    return Outcome::Waiting;
                }
                Step::Deadlock => {
                    return Outcome::Exited(Exit::Failed(ErrorValue::new(
                        ErrorKind::Internal,
                        "deadlock: all tasks are blocked",
                    )));
                }
                Step::Start(entry) => {
                    if let Err(error) = self.start(core, slot, &entry) {
                        return Outcome::Exited(Exit::Failed(error));
                    }
                }
                Step::Resume(task, thread, nargs) => {
                    if let Some(outcome) = self.resume_task(core, slot, task, &thread, nargs) {
                        return outcome;
                    }
                }
            }
        }
    }

    /// Creates the main task of the process in `slot` running `entry`: a coroutine (a spare
    /// one when there is one) with bootstrap's `start` on it. The task's first resume makes the
    /// rest (`rt.entry`, `rt.arguments`) on the coroutine itself, under the protection of that
    /// resume: no protected call of its own (about 700 instructions a spawn), and a failure there
    /// is the process's, with its traceback.
    fn start(&self, core: &Core, slot: u32, entry: &ProcessEntry) -> Result<(), ErrorValue> {
        let chunk = self.chunk(entry)?;
        let main = self.main();
        let thread = match main.spare_thread() {
            Some(thread) => thread,
            None => {
                let mut made = None;
                if raw::protect(main, &mut |stack| made = Some(stack.new_empty_thread())).is_err() {
                    let error = exit_error(main, -1, None);
                    main.pop(1);
                    return Err(error);
                }
                made.ok_or_else(|| {
                    ErrorValue::new(ErrorKind::Internal, "the process did not start")
                })?
            }
        };
        // A spare or new coroutine has its whole initial stack free: this push needs no room
        // made, so it cannot raise outside a protected call.
        thread.stack().push_ref(&self.start);
        core.with_proc(slot, |p| {
            let task = p.local.tasks.spawn();
            p.lua.main = Some(task);
            p.lua.chunk = Some(chunk);
            p.lua.add_thread(task, thread, 0);
        });
        Ok(())
    }

    /// Resumes one task; `Some` when the run is over.
    fn resume_task(
        &self,
        core: &Core,
        slot: u32,
        task: TaskId,
        thread: &Thread,
        nargs: c_int,
    ) -> Option<Outcome> {
        let status = thread.resume(nargs);
        let stack = thread.stack();
        // A native function panicked during this run (even if Lua caught the error): the
        // process ends, with INTERNAL (embedding.md §4).
        if let Some(panic) = super::native_panic::take() {
            let trace = super::errors::clean_traceback(&stack.traceback());
            let mut error = ErrorValue::new(
                ErrorKind::Internal,
                format!("a native function panicked: {panic}"),
            );
            error.stack = Some(trace);
            return Some(Outcome::Exited(Exit::Failed(error)));
        }
        match status {
            Status::Yielded(n) => {
                stack.pop(n);
                if preempt::take_preempted() {
                    core.with_proc(slot, |p| p.lua.preempted = Some(task));
                    return Some(Outcome::Preempted);
                }
                let blocked = core.with_proc(slot, |p| {
                    p.lua.delivery = None;
                    if p.local.tasks.is_running(task) {
                        // A plain `coroutine.yield()`: others run first.
                        p.local.tasks.yield_running();
                        false
                    } else {
                        true
                    }
                });
                match blocked {
                    Some(true) => None,
                    _ => Some(Outcome::Yielded),
                }
            }
            Status::Finished => {
                let main = core.with_proc(slot, |p| p.lua.main == Some(task)) == Some(true);
                if main {
                    // Read outside a protected call: no limit error may unwind from here (a
                    // function that returned nothing has nothing to read).
                    let exit = match stack.top() {
                        0 => Exit::Normal(Value::Nil),
                        _ => self.without_memory_limit(|| finish(stack)),
                    };
                    return Some(Outcome::Exited(exit));
                }
                // A spawned task's results are dropped.
                stack.set_top(0);
                core.with_proc(slot, |p| {
                    p.local.tasks.finish(task);
                    p.lua.drop_thread(task);
                });
                None
            }
            Status::Failed => {
                // The failed coroutine keeps its frames: the traceback is where it raised.
                // Read outside a protected call, often just after a limit error.
                let error = self.without_memory_limit(|| {
                    let trace = super::errors::clean_traceback(&stack.traceback());
                    exit_error(stack, -1, Some(trace))
                });
                Some(Outcome::Exited(Exit::Failed(error)))
            }
        }
    }
}

/// Interprets what the main task returned: `v, e…` (process.md §6).
fn finish(stack: Stack<'_>) -> Exit {
    // Only `v, e` count; dropping the rest leaves the stack room for the reads below.
    stack.set_top(stack.top().min(2));
    if stack.top() >= 2 && stack.truthy(2) {
        return Exit::Failed(exit_error(stack, 2, None));
    }
    match convert::to_value(stack, 1) {
        Ok(value) => Exit::Normal(value),
        Err(e) => Exit::Failed(ErrorValue::new(
            ErrorKind::Invalid,
            format!("exit value: {}", e.message.to_string_lossy()),
        )),
    }
}

/// Blocks the running task on `wait` and yields it; the call's continuation runs when the task
/// is resumed. Raises when the task cannot wait here.
pub fn block(stack: Stack<'_>, wait: Wait<'_, LuaRef>) -> raw::Result {
    block_then(stack, wait, |_, _, _| {})
}

/// [`block`], then `then` with the task and the number of its wait (a sleep's timer wakes
/// that wait only).
pub fn block_then(
    stack: Stack<'_>,
    wait: Wait<'_, LuaRef>,
    then: impl FnOnce(&Core, TaskId, u32),
) -> raw::Result {
    if !stack.can_yield() {
        return cannot_block();
    }
    let core = core()?;
    // The push can raise (the stack cannot grow): before the task is marked blocked.
    stack.push_token();
    let Some((task, seq)) = core.with_current(|p| p.local.tasks.block(wait)).flatten() else {
        return raw::raise("no task is running");
    };
    then(&core, task, seq);
    Ok(raw::Ret::Yield(1))
}

/// Yields the running task without blocking it (`time.sleep(0)`): other tasks and processes
/// run first.
pub fn yield_task(stack: Stack<'_>) -> raw::Result {
    if !stack.can_yield() {
        return cannot_block();
    }
    stack.push_token();
    Ok(raw::Ret::Yield(1))
}

/// The error of a blocking call where the task cannot wait.
pub fn cannot_block() -> raw::Result {
    raw::raise(
        "cannot block here: blocking calls are not allowed inside metamethods, sort comparators \
         and other callbacks from native code",
    )
}

/// The delivery of the running task (its blocked call's continuation takes it).
pub fn take_delivery(core: &Core) -> Option<Delivery<LuaRef>> {
    core.with_current(|p| p.lua.delivery.take()).flatten()
}

/// The worker running this thread.
pub fn core() -> Result<Rc<Core>, Raise> {
    current_core()
        .ok_or_else(|| Raise::Object(ErrorValue::new(ErrorKind::Invalid, "no process is running")))
}

lua_fn! {
    /// `rt.thread_use(co)`: 0 when user code may resume or close the coroutine `co`, 1 when
    /// it is a task of the running process, 2 when a task waits inside it.
    pub fn thread_use(stack) {
        let id = match stack.kind(1) {
            raw::Kind::Thread => stack.pointer(1),
            _ => 0,
        };
        let core = core()?;
        let found = match id {
            0 => ThreadUse::Free,
            id => core
                .with_current(|p| p.lua.thread_use(id))
                .unwrap_or(ThreadUse::Free),
        };
        stack.push_number(found as u8 as f64);
        raw::values(1)
    }
}

lua_fn! {
    /// `rt.waited_in(co, waited)`: marks (or unmarks) the coroutine `co` as one a task waits
    /// inside.
    pub fn waited_in(stack) {
        if stack.kind(1) != raw::Kind::Thread {
            return raw::raise("rt.waited_in: expected a coroutine");
        }
        let id = stack.pointer(1);
        let anchor = stack.truthy(2).then(|| stack.make_ref(1));
        let core = core()?;
        core.with_current(|p| {
            if let Some(task) = p.local.tasks.running() {
                p.lua.set_waited_in(id, task, anchor);
            }
        });
        raw::values(0)
    }
}

lua_fn! {
    /// `rt.unblock()`: withdraws the block of the running task (it could not be passed up),
    /// with the upgrade a blocked `process.upgrade` requested and the list of coroutines the
    /// task waited inside.
    pub fn unblock(_stack) {
        let core = core()?;
        core.with_current(|p| {
            p.local.tasks.unblock();
            p.upgrade = None;
            // The whole chain of coroutines that passed the block up is withdrawn with it.
            if let Some(task) = p.local.tasks.running() {
                p.lua.forget_waited_in(task);
            }
        });
        raw::values(0)
    }
}

lua_fn! {
    /// `rt.entry()`: the first act of a process's main task (bootstrap's `start`). Returns the
    /// entry chunk as a closure over the process's own new globals, and the entry's method
    /// name. Once per start: the chunk is taken from the process.
    pub fn entry(stack) {
        let core = core()?;
        let vm = super::vm::current_vm().ok_or_else(|| Raise::Text("no VM".into()))?;
        let Some(chunk) = core.with_current(|p| p.lua.chunk.take()).flatten() else {
            return raw::raise("the process has started");
        };
        stack.push_ref(&chunk.function);
        stack.clone_function(-1);
        stack.remove(-2);
        // The process's own globals: a table whose metatable reads the shared ones. Always a
        // new one: a reused table would keep its grown size (slow to clear, visible in the
        // order `pairs` walks it) and, until reused, the exited process's values. Room for
        // `_G` alone: most processes keep their state in locals, and every byte here is in
        // every waiting process.
        stack.new_table(0, 1);
        stack.push_copy(-1);
        stack.raw_set_field(-2, c"_G");
        stack.push_ref(&vm.env_metatable);
        stack.set_metatable(-2);
        stack.set_safe_environment(-1);
        let env = stack.make_ref(-1);
        stack.set_environment(-2);
        stack.push_ref(&chunk.method);
        core.with_current(|p| p.lua.env = Some(env));
        raw::values(2)
    }
}

lua_fn! {
    /// `rt.arguments()`: the spawn's (or upgrade's) arguments, once.
    pub fn arguments(stack) {
        let core = core()?;
        let Some(args) = core.with_current(|p| p.lua.start.take()).flatten() else {
            return raw::raise("the process has started");
        };
        for arg in &args {
            convert::push_value(stack, arg);
        }
        raw::values(args.len() as c_int)
    }
}

lua_fn! {
    /// `rt.preempted()`: whether the last yield was a preemption.
    pub fn preempted(stack) {
        stack.push_bool(preempt::preempted());
        raw::values(1)
    }
}

lua_fn! {
    /// `rt.absorb_preemption()`: forgets a preemption that could not be passed up.
    pub fn absorb_preemption(_stack) {
        preempt::take_preempted();
        raw::values(0)
    }
}

lua_fn! {
    /// `coroutine.spawn(fn, ...)`: a new task of the running process; it first runs when the
    /// current task blocks or yields.
    pub fn spawn_task(stack) {
        if stack.kind(1) != raw::Kind::Function {
            return raw::raise(format!(
                "bad argument #1 to 'spawn' (function expected, got {})",
                super::args::type_name(stack, 1)
            ));
        }
        let core = core()?;
        let nargs = stack.top() - 1;
        let thread = stack.new_thread(nargs);
        core.with_current(|p| {
            let task = p.local.tasks.spawn();
            p.lua.add_thread(task, thread, nargs);
        });
        raw::values(0)
    }
}
