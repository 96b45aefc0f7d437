//! One worker's Luau VM: sandbox, globals, and starting and resuming process coroutines
//! and their tasks.
//!
//! Process coroutines are kept in a Lua table keyed by the worker's slot number, not as Rust
//! handles: mlua's handle stack holds about a million entries per VM, and a process should cost
//! nothing on the Rust side of the VM while it waits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::rc::Rc;

use mlua::{
    Function, LightUserData, Lua, LuaOptions, LuaString, MultiValue, StdLib, Table, Thread,
    Value as LuaValue, ffi,
};

use super::errors::{LuaError, clean_traceback, error_from_mlua, exit_error};
use super::{
    bootstrap, convert, ctx, errors, io, json, logger, modules, preempt, print, process_api,
    spawn_builder, time,
};
use crate::app::ProcessEntry;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::process::Exit;
use crate::sched::WorkerContext;
use crate::value::Value;
use mlua::thread::ThreadStatus;

/// What a process did when the worker resumed it.
#[derive(Debug)]
pub enum Resumed {
    /// Waiting for a message: park it.
    Blocked,
    /// Preempted, or yielded at top level: requeue it.
    Yielded,
    /// Finished.
    Exited(Exit),
}

/// The private values a task yields to the worker: blocked, finished (a spawned task), failed
/// (a spawned task, with its error), and yielded without blocking (`time.sleep(0)`).
static TOKENS: [u8; 4] = [0; 4];
const BLOCK: usize = 0;
const DONE: usize = 1;
const FAIL: usize = 2;
const YIELD: usize = 3;

fn token(which: usize) -> LightUserData {
    LightUserData(&TOKENS[which] as *const u8 as *mut c_void)
}

/// What the running task of a process yielded.
enum Yield {
    /// Blocked, with the kind of wait (`local`, `sleep`; nil for a wait for the world).
    Blocked(LuaValue),
    TaskDone,
    TaskFailed(LuaValue),
    Other,
}

fn classify(values: MultiValue) -> Yield {
    let mut values = values.into_iter();
    match values.next() {
        Some(LuaValue::LightUserData(t)) if t == token(BLOCK) => {
            Yield::Blocked(values.next().unwrap_or(LuaValue::Nil))
        }
        Some(LuaValue::LightUserData(t)) if t == token(DONE) => Yield::TaskDone,
        Some(LuaValue::LightUserData(t)) if t == token(FAIL) => {
            Yield::TaskFailed(values.next().unwrap_or(LuaValue::Nil))
        }
        _ => Yield::Other,
    }
}

/// The Lua functions the worker calls on processes with tasks, channels or timers.
struct TaskScheduler {
    on_block: Function,
    on_yield: Function,
    on_wake: Function,
}

/// What the task scheduler of a managed process decided.
enum Next {
    Run,
    Wait,
    Deadlock(ErrorValue),
}

fn next_from(value: mlua::Result<LuaValue>) -> Next {
    match value {
        Ok(LuaValue::Boolean(true)) => Next::Run,
        Ok(LuaValue::Boolean(false)) => Next::Wait,
        Ok(other) => Next::Deadlock(exit_error(&other, None)),
        Err(e) => Next::Deadlock(error_from_mlua(&e)),
    }
}

/// A worker's VM.
pub struct Vm {
    lua: Lua,
    /// The process body from `bootstrap.luau`.
    body: Function,
    /// Forgets the Lua-side state of a slot.
    forget: Function,
    /// Process coroutines by slot.
    threads: Table,
    /// Process environments (global tables) by slot, for `load`.
    envs: Table,
    /// Metatable of every process environment.
    env_metatable: Table,
    /// Compiled entry chunks by entry id; each process runs a deep clone.
    chunks: RefCell<HashMap<String, Function>>,
    /// `require` and the library instances of each process.
    modules: Rc<modules::Modules>,
    /// By slot: whether the Lua task scheduler manages the process (`tasks.luau`).
    managed: Rc<RefCell<Vec<bool>>>,
    tasks: TaskScheduler,
    ctx: Rc<WorkerContext>,
}

impl Vm {
    /// Creates and sandboxes the VM of one worker.
    pub fn new(ctx: Rc<WorkerContext>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default())?;
        let globals = lua.globals();

        let make_exit_error = lua.create_function(
            |_, (kind, value, stack): (Option<String>, LuaValue, Option<String>)| {
                let error = match kind.as_deref().and_then(ErrorKind::from_name) {
                    Some(kind) => {
                        let message = value.to_string().unwrap_or_default();
                        ErrorValue::new(kind, message)
                    }
                    None => exit_error(&value, stack.map(|s| clean_traceback(&s))),
                };
                Ok(LuaError(error))
            },
        )?;
        let threads = lua.create_table()?;
        let managed: Rc<RefCell<Vec<bool>>> = Rc::default();
        let rt = lua.create_table()?;
        rt.set("TOKEN", token(BLOCK))?;
        rt.set("DONE", token(DONE))?;
        rt.set("FAIL", token(FAIL))?;
        rt.set("YIELD", token(YIELD))?;
        rt.set("threads", &threads)?;
        rt.set("make_exit_error", make_exit_error)?;
        let c = ctx.clone();
        // `count, topic, from, payload…` of the oldest message, or nothing; the bootstrap
        // builds the Message object from it.
        rt.set(
            "pop_message",
            lua.create_function(move |lua, ()| message_values(lua, c.pop_message()))?,
        )?;
        let c = ctx.clone();
        rt.set(
            "pop_topic",
            lua.create_function(move |lua, topic: LuaString| {
                message_values(lua, c.pop_topic(&topic.to_string_lossy()))
            })?,
        )?;
        let c = ctx.clone();
        rt.set(
            "listen_topic",
            lua.create_function(move |_, (topic, on): (LuaString, bool)| {
                let topic = topic.to_string_lossy();
                if on {
                    c.listen(&topic)
                } else {
                    c.unlisten(&topic)
                }
                Ok(())
            })?,
        )?;
        let c = ctx.clone();
        rt.set(
            "pop_event",
            lua.create_function(move |lua, ()| match c.pop_event() {
                Some(event) => Ok(LuaValue::Table(process_api::event_table(lua, &event)?)),
                None => Ok(LuaValue::Nil),
            })?,
        )?;
        rt.set(
            "preempted",
            lua.create_function(|_, ()| Ok(preempt::preempted()))?,
        )?;
        rt.set(
            "absorb_preemption",
            lua.create_function(|_, ()| {
                preempt::take_preempted();
                Ok(())
            })?,
        )?;
        let c = ctx.clone();
        rt.set(
            "current_slot",
            lua.create_function(move |_, ()| Ok(c.current_slot()))?,
        )?;
        let (c, m) = (ctx.clone(), managed.clone());
        rt.set(
            "manage",
            lua.create_function(move |_, ()| {
                if let Some(slot) = c.current_slot() {
                    let mut managed = m.borrow_mut();
                    let index = slot as usize;
                    if managed.len() <= index {
                        managed.resize(index + 1, false);
                    }
                    managed[index] = true;
                }
                Ok(())
            })?,
        )?;
        rt.set("errors", errors::create_module(&lua)?)?;
        time::add_primitives(&lua, &ctx, &rt)?;
        spawn_builder::add_primitives(&lua, &ctx, &rt)?;

        // The Lua half, in three chunks sharing `M`.
        let parts = lua.create_table()?;
        for (name, source) in bootstrap::SOURCES {
            lua.load(source)
                .set_name(format!("=moonweave.{name}"))
                .call::<()>((&rt, &parts))?;
        }
        let body: Function = parts.get("body")?;
        let forget: Function = parts.get("forget")?;
        let errors_table: Table = parts.get("errors")?;
        let env_metatable_fn: Function = parts.get("env_metatable")?;
        let raising: Function = parts.get("raising")?;
        let time: Table = parts.get("time")?;
        let tasks = TaskScheduler {
            on_block: parts.get("on_block")?,
            on_yield: parts.get("on_yield")?,
            on_wake: parts.get("on_wake")?,
        };
        lua.set_named_registry_value("moonweave.traceback", parts.get::<Function>("traceback")?)?;
        for (field, name) in [
            ("MessageMeta", "Message"),
            ("ChannelMeta", "channel"),
            ("CaseMeta", "case"),
            ("DurationMeta", "Duration"),
            ("TimeMeta", "Time"),
            ("TimerMeta", "Timer"),
            ("TickerMeta", "Ticker"),
            ("BuilderMeta", "SpawnBuilder"),
        ] {
            convert::register_private_metatable(&parts.get::<Table>(field)?, name);
        }
        for meta in parts
            .get::<Table>("process_metas")?
            .pairs::<LuaValue, Table>()
        {
            convert::register_private_metatable(&meta?.1, "channel");
        }
        let coroutine: Table = globals.get("coroutine")?;
        for pair in parts.get::<Table>("coroutine")?.pairs::<String, Function>() {
            let (key, value) = pair?;
            coroutine.set(key, value)?;
        }
        globals.set("channel", parts.get::<Table>("channel")?)?;

        let envs = lua.create_table()?;
        let load = loader(&lua, &ctx, &envs)?;
        globals.set("loadstring", load.clone())?;
        globals.set("load", load)?;

        let tostring: Function = globals.get("tostring")?;
        globals.set("print", print::create(&lua, tostring)?)?;
        let process = process_api::create(
            &lua,
            &ctx,
            process_api::LuaParts {
                inbox: parts.get("inbox")?,
                events: parts.get("events")?,
            },
        )?;
        // terminate(self) does not return: the wrapper yields until the worker stops it.
        let terminate_raw: Function = process.get("terminate_raw")?;
        process.raw_remove("terminate_raw")?;
        // Blocking wrappers wait through the task scheduler's `wait_external`.
        let wait: Function = parts.get("wait_external")?;
        let terminate: Function = lua
            .load(
                "local raw, wait = ...\n\
                 return function(dest)\n\
                     local ok, err = raw(dest)\n\
                     if ok == 'self' then while true do wait() end end\n\
                     return ok, err\n\
                 end",
            )
            .set_name("=moonweave.bootstrap")
            .call((terminate_raw, wait.clone()))?;
        process.set("terminate", terminate)?;
        // call blocks the calling task until the child's exit arrives.
        let call_start: Function = process.get("call_start")?;
        let call_result: Function = process.get("call_result")?;
        process.raw_remove("call_start")?;
        process.raw_remove("call_result")?;
        let call: Function = lua
            .load(
                "local start, result, wait = ...\n\
                 return function(id, host, ...)\n\
                     local child, err = start(id, host, ...)\n\
                     if not child then return nil, err end\n\
                     while true do\n\
                         local done, value, failure = result(child)\n\
                         if done then\n\
                             if failure ~= nil then return nil, failure end\n\
                             return value\n\
                         end\n\
                         wait()\n\
                     end\n\
                 end",
            )
            .set_name("=moonweave.bootstrap")
            .call((call_start, call_result, wait.clone()))?;
        process.set("call", call.clone())?;
        process.set("exec", call)?;
        // upgrade does not return on success: the worker drops this code at the yield.
        let upgrade_raw: Function = process.get("upgrade_raw")?;
        process.raw_remove("upgrade_raw")?;
        let upgrade: Function = lua
            .load(
                "local raw, wait = ...\n\
                 return function(...)\n\
                     local ok, err = raw(...)\n\
                     if not ok then return nil, err end\n\
                     while true do wait() end\n\
                 end",
            )
            .set_name("=moonweave.bootstrap")
            .call((upgrade_raw, wait))?;
        process.set("upgrade", upgrade)?;
        process.set("listen", parts.get::<Function>("listen")?)?;
        process.set("with_context", parts.get::<Function>("with_context")?)?;
        process.set("unlisten", parts.get::<Function>("unlisten")?)?;
        let tostring: Function = globals.get("tostring")?;
        let modules = modules::Modules::new(
            &lua,
            &ctx,
            vec![
                ("process", process.clone()),
                ("errors", errors_table.clone()),
                ("channel", parts.get::<Table>("channel")?),
            ],
            vec![
                ("time", time),
                ("json", json::create_module(&lua)?),
                ("logger", logger::create_module(&lua, &ctx)?),
                ("ctx", ctx::create_module(&lua, &ctx)?),
                (
                    "io",
                    io::create_module(&lua, &ctx, tostring, parts.get("wait_external")?)?,
                ),
            ],
            envs.clone(),
            raising,
        )?;
        globals.set("require", modules::require(&lua, &modules)?)?;
        globals.set("process", process)?;
        globals.set("errors", errors_table)?;
        // `_G` goes too: imports of names present at load time are resolved once, so a shared
        // `_G` would bypass the per-process environment, which holds its own `_G`.
        for name in [
            "getfenv", "setfenv", "debug", "gcinfo", "dofile", "loadfile", "_G",
        ] {
            globals.raw_remove(name)?;
        }

        // SAFETY: `exec_raw` passes a valid state of this VM; `luaL_sandbox(L, 1)` marks the
        // library tables, built-in metatables and the globals read-only and enables safeenv.
        unsafe {
            lua.exec_raw::<()>((), |state| ffi::luaL_sandbox(state, 1))?;
        }
        let env_metatable: Table = env_metatable_fn.call(globals)?;
        env_metatable.set_readonly(true);
        preempt::install(&lua)?;
        preempt::set_slice(ctx.preemption_budget());

        Ok(Vm {
            modules,
            threads,
            managed,
            tasks,
            ctx,
            envs,
            lua,
            body,
            forget,
            env_metatable,
            chunks: RefCell::default(),
        })
    }

    /// The compiled chunk of `entry`, compiling it on first use.
    fn chunk(&self, entry: &ProcessEntry) -> mlua::Result<Function> {
        if let Some(chunk) = self.chunks.borrow().get(&entry.id) {
            return Ok(chunk.clone());
        }
        let chunk = self
            .lua
            .load(&entry.source)
            .set_name(format!("@{}", entry.chunk_name))
            .into_function()?;
        self.chunks
            .borrow_mut()
            .insert(entry.id.clone(), chunk.clone());
        Ok(chunk)
    }

    /// Creates the coroutine of a new process in `slot` and runs it until it first blocks.
    pub fn start(&self, slot: u32, entry: &ProcessEntry, args: &[Value]) -> Resumed {
        match self.prepare(slot, entry, args) {
            Ok((thread, args)) => self.resume_thread(slot, &thread, args),
            Err(e) => self.exit(slot, Exit::Failed(error_from_mlua(&e))),
        }
    }

    fn prepare(
        &self,
        slot: u32,
        entry: &ProcessEntry,
        args: &[Value],
    ) -> mlua::Result<(Thread, MultiValue)> {
        let chunk = self.chunk(entry)?.deep_clone()?;
        let env = self.lua.create_table()?;
        env.raw_set("_G", &env)?;
        env.set_metatable(Some(self.env_metatable.clone()))?;
        env.set_safeenv(true);
        self.envs.raw_set(slot, &env)?;
        chunk.set_environment(env)?;
        let thread = self.lua.create_thread(self.body.clone())?;
        self.threads.raw_set(slot, &thread)?;
        let mut call = MultiValue::with_capacity(args.len() + 2);
        call.push_back(LuaValue::Function(chunk));
        call.push_back(LuaValue::String(self.lua.create_string(&entry.method)?));
        for arg in args {
            call.push_back(convert::from_value(&self.lua, arg)?);
        }
        Ok((thread, call))
    }

    /// Resumes the process in `slot`.
    pub fn resume(&self, slot: u32) -> Resumed {
        if self.is_managed(slot) {
            match next_from(self.tasks.on_wake.call(slot)) {
                Next::Run => {}
                Next::Wait => return Resumed::Blocked,
                Next::Deadlock(error) => return self.exit(slot, Exit::Failed(error)),
            }
        }
        match self.threads.raw_get::<Thread>(slot) {
            Ok(thread) => self.resume_thread(slot, &thread, MultiValue::new()),
            Err(e) => self.exit(
                slot,
                Exit::Failed(ErrorValue::new(ErrorKind::Internal, e.to_string())),
            ),
        }
    }

    fn is_managed(&self, slot: u32) -> bool {
        self.managed
            .borrow()
            .get(slot as usize)
            .copied()
            .unwrap_or(false)
    }

    /// Runs the process's current task; when a task of a managed process blocks or ends, runs
    /// the next ready one, within the same preemption budget.
    fn resume_thread(&self, slot: u32, thread: &Thread, args: MultiValue) -> Resumed {
        preempt::enter();
        self.run_tasks(slot, thread.clone(), args)
    }

    fn run_tasks(&self, slot: u32, mut thread: Thread, mut args: MultiValue) -> Resumed {
        loop {
            let values = match thread.resume::<MultiValue>(args) {
                Ok(values) if thread.status() == ThreadStatus::Finished => {
                    // Only the main task finishes; spawned tasks end by yielding DONE.
                    return self.exit(slot, finish(values));
                }
                Ok(values) => values,
                Err(e) => return self.exit(slot, Exit::Failed(error_from_mlua(&e))),
            };
            let next = match classify(values) {
                Yield::TaskFailed(error) => {
                    return self.exit(slot, Exit::Failed(exit_error(&error, None)));
                }
                Yield::Other => {
                    if !preempt::take_preempted() && self.is_managed(slot) {
                        let _ = self.tasks.on_yield.call::<()>(slot);
                    }
                    return Resumed::Yielded;
                }
                Yield::Blocked(how) => {
                    if !self.is_managed(slot) || self.ctx.must_stop() {
                        return Resumed::Blocked;
                    }
                    next_from(self.tasks.on_block.call((slot, how)))
                }
                Yield::TaskDone => {
                    if self.ctx.must_stop() {
                        return Resumed::Blocked;
                    }
                    next_from(self.tasks.on_block.call((slot, "dead")))
                }
            };
            match next {
                Next::Run => {}
                Next::Wait => return Resumed::Blocked,
                Next::Deadlock(error) => return self.exit(slot, Exit::Failed(error)),
            }
            thread = match self.threads.raw_get::<Thread>(slot) {
                Ok(thread) => thread,
                Err(e) => return self.exit(slot, Exit::Failed(error_from_mlua(&e))),
            };
            args = MultiValue::new();
        }
    }

    /// Forgets the coroutine and Lua-side state of `slot` and reports `exit`.
    fn exit(&self, slot: u32, exit: Exit) -> Resumed {
        self.discard(slot);
        Resumed::Exited(exit)
    }

    /// Drops everything the VM holds for `slot`.
    pub fn discard(&self, slot: u32) {
        if let Some(flag) = self.managed.borrow_mut().get_mut(slot as usize) {
            *flag = false;
        }
        let _ = self.threads.raw_set(slot, LuaValue::Nil);
        let _ = self.envs.raw_set(slot, LuaValue::Nil);
        self.modules.forget(slot);
        let _ = self.forget.call::<()>(slot);
    }

    /// Bytes of memory the VM's heap uses.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// `count, topic, from, payload…` of a message, or nothing; the bootstrap builds the Message
/// object (or takes the first payload value for a raw listen channel) from it.
fn message_values(lua: &Lua, envelope: Option<crate::proc::Envelope>) -> mlua::Result<MultiValue> {
    let Some(envelope) = envelope else {
        return Ok(MultiValue::new());
    };
    let mut values = MultiValue::with_capacity(envelope.payload.len() + 3);
    values.push_back(LuaValue::Number(envelope.payload.len() as f64));
    values.push_back(LuaValue::String(lua.create_string(&*envelope.topic)?));
    values.push_back(match &envelope.from {
        Some(from) => LuaValue::String(lua.create_string(&**from)?),
        None => LuaValue::Nil,
    });
    for value in &envelope.payload {
        values.push_back(convert::from_value(lua, value)?);
    }
    Ok(values)
}

/// `load(src, chunkname?)` / `loadstring`: compiles source text (never bytecode) with the
/// calling process's globals; `fn` or `nil, message` on a syntax error.
fn loader(lua: &Lua, ctx: &Rc<WorkerContext>, envs: &Table) -> mlua::Result<Function> {
    let (ctx, envs) = (ctx.clone(), envs.clone());
    lua.create_function(move |lua, (source, name): (LuaValue, Option<String>)| {
        let LuaValue::String(source) = source else {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to 'load' (string expected, got {})",
                convert::type_name(&source)
            )));
        };
        let env: Table = match ctx.current_slot() {
            Some(slot) => envs.raw_get(slot)?,
            None => return Err(mlua::Error::runtime("load called outside a process")),
        };
        let name = name.unwrap_or_else(|| "=(load)".to_string());
        let source = source.as_bytes().to_vec();
        let chunk = lua
            .load(source)
            .set_name(name)
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(env);
        Ok(match chunk.into_function() {
            Ok(f) => (Some(f), None),
            Err(mlua::Error::SyntaxError { message, .. }) => (None, Some(message)),
            Err(e) => (None, Some(e.to_string())),
        })
    })
}

/// Interprets the results of the process body: `true, v, e…` or `false, err`.
fn finish(values: MultiValue) -> Exit {
    let mut values = values.into_iter();
    let ok = matches!(values.next(), Some(LuaValue::Boolean(true)));
    let first = values.next().unwrap_or(LuaValue::Nil);
    if !ok {
        return Exit::Failed(exit_error(&first, None));
    }
    match values.next() {
        None | Some(LuaValue::Nil) | Some(LuaValue::Boolean(false)) => {}
        Some(error) => return Exit::Failed(exit_error(&error, None)),
    }
    match convert::to_value(&first) {
        Ok(value) => Exit::Normal(value),
        Err(e) => Exit::Failed(ErrorValue::new(
            ErrorKind::Invalid,
            format!("exit value: {}", e.message),
        )),
    }
}

/// Compiles `source` as Luau without running it; the error names `chunk_name` and the line.
pub fn compile_check(chunk_name: &str, source: &str) -> Result<(), String> {
    thread_local! {
        static CHECKER: Lua = Lua::new();
    }
    CHECKER.with(|lua| {
        lua.load(source)
            .set_name(format!("@{chunk_name}"))
            .into_function()
            .map(drop)
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    })
}
