//! One worker's Luau VM: the sandbox, the globals every process sees, and compiled entries.
//!
//! # What a process can reach
//!
//! The globals are frozen (`luaL_sandbox`), and so are the library tables, the built-in
//! metatables, and every table the runtime adds (`process`, `channel`, `errors`, the modules).
//! Runtime objects are tagged userdata whose state is Rust (see `raw::Object`). A process's
//! own global table is private to it; its metatable (shared, frozen, hidden) reads the shared
//! globals and refuses to shadow a built-in. The few Lua functions of the runtime
//! (`bootstrap.luau`) keep no state. So nothing one process can reach is writable by another.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_int;
use std::rc::Rc;

use mlua::{Lua, LuaOptions, StdLib};

use super::raw::{self, GLOBALS, LuaRef, Stack, lua_fn};
use super::{
    builder, channel, ctx, errors, io, json, logger, message, modules, preempt, print, process_api,
    security, supervisor, time,
};
use crate::app::ProcessEntry;
use crate::error::{ErrorKind, ErrorValue};
use crate::sched::Core;

/// A worker's VM.
pub struct Vm {
    lua: Lua,
    main: Stack<'static>,
    /// How a process's main task starts (`bootstrap.luau`).
    pub(crate) start: LuaRef,
    /// The metatable of every process's global table.
    pub(crate) env_metatable: LuaRef,
    /// Compiled chunks by entry id; each process runs a clone.
    chunks: RefCell<HashMap<String, Rc<Chunk>, ahash::RandomState>>,
    /// The modules `require` gives.
    pub(crate) modules: modules::Modules,
    /// Whether the host compiles every source to native code (`native: true`).
    native: bool,
}

thread_local! {
    static VM: std::cell::OnceCell<Rc<Vm>> = const { std::cell::OnceCell::new() };
}

/// The VM of the worker running on this thread.
pub fn current_vm() -> Option<Rc<Vm>> {
    VM.with(|v| v.get().cloned())
}

const BOOTSTRAP: &str = include_str!("bootstrap.luau");

/// A process entry compiled on this worker: its chunk (each process runs a clone) and the name
/// of its method as a Lua string, so that starting a process creates no string.
pub(crate) struct Chunk {
    pub function: LuaRef,
    pub method: LuaRef,
}

fn field(stack: Stack<'_>, table: c_int, name: &std::ffi::CStr) -> LuaRef {
    stack.raw_get_field(table, name);
    let r = stack.make_ref(-1);
    stack.pop(1);
    r
}

fn set_function(stack: Stack<'_>, table: c_int, name: &'static std::ffi::CStr, f: raw::CFunction) {
    stack.push_function(f, name, None);
    stack.raw_set_field(table, name);
}

lua_fn! {
    /// `rt.is_env(t)`: whether `t` is the running process's global table.
    fn is_env(stack) {
        let core = super::run::core()?;
        let pointer = stack.pointer(1);
        let yes = core
            .with_current(|p| {
                let env = p.lua.env.as_ref()?;
                stack.push_ref(env);
                let same = stack.pointer(-1) == pointer;
                stack.pop(1);
                Some(same)
            })
            .flatten()
            .unwrap_or(false);
        stack.push_bool(yes && pointer != 0);
        raw::values(1)
    }
}

lua_fn! {
    /// `collectgarbage(option)`: only `"count"` (stdlib.md §2); the collector is shared.
    fn collect_garbage(stack) {
        match stack.bytes(1) {
            Some(b"count") => {
                stack.push_number(stack.heap_kilobytes());
                raw::values(1)
            }
            _ => raw::raise(
                "collectgarbage: only \"count\" is available (the Lua heap is shared with other processes)",
            ),
        }
    }
}

lua_fn! {
    /// `load(src, chunkname?)` / `loadstring`: compiles source text (never bytecode) with the
    /// calling process's globals; `fn` or `nil, message` on a syntax error.
    fn load(stack) {
        let Some(source) = stack.bytes(1) else {
            return raw::raise(format!(
                "bad argument #1 to 'load' (string expected, got {})",
                super::args::type_name(stack, 1)
            ));
        };
        // As Luau: without a name, the source itself names the chunk (`[string "…"]`).
        let source = source.to_vec();
        let name = match stack.bytes(2) {
            Some(name) => name.to_vec(),
            None => source.clone(),
        };
        let core = super::run::core()?;
        if let Err(message) = stack.load(&name, &source) {
            stack.push_nil();
            stack.push_bytes(message.as_bytes());
            return raw::values(2);
        }
        let function = stack.top();
        core.with_current(|p| {
            if let Some(env) = &p.lua.env {
                stack.push_ref(env);
                stack.set_environment(function);
            }
        });
        raw::values(1)
    }
}

/// Builds the native modules in `lua` (each factory once), frozen; their tables by name.
fn native_modules(
    lua: &Lua,
    main: Stack<'static>,
    natives: &[crate::sched::NativeModule],
) -> Result<HashMap<String, LuaRef>, String> {
    let mut built = HashMap::new();
    if !natives.is_empty() {
        super::native_panic::install_hook();
    }
    for module in natives {
        let failed = |e: &dyn std::fmt::Display| format!("native module '{}': {e}", module.name);
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (module.factory)(lua)))
            .map_err(|_| failed(&"its factory panicked"))?
            .map_err(|e| failed(&e))?;
        let key = format!("moonweave.native.{}", module.name);
        lua.set_named_registry_value(&key, made)
            .map_err(|e| failed(&e))?;
        let key = std::ffi::CString::new(key).map_err(|e| failed(&e))?;
        main.raw_get_field(mlua::ffi::LUA_REGISTRYINDEX, &key);
        main.freeze(-1);
        built.insert(module.name.clone(), main.make_ref(-1));
        main.pop(1);
    }
    Ok(built)
}

/// The Luau fast flags moonweave turns on (Luau 0.740 leaves them off by default; the `luau`
/// command line turns every flag on). Each is a fix users of a long-running, memory-limited
/// runtime need; docs/architecture.md ("Luau") says why each is here.
pub const LUAU_FLAGS: &[&str] = &[
    // table.move over a wide, sparse range takes time in the elements, not in the range.
    "LuauTableMoveTimeoutFix",
    // A table that cannot grow for lack of memory fails cleanly (memory_limit).
    "LuauTableRobustOom",
    // An array part beyond the largest size is refused instead of overflowing.
    "LuauTableArrayAdjustCheck",
    // Loops that allocate let the collector step at their back-edge.
    "LuauBackedgeHeapCheck",
    // math.noise without its precision loss.
    "FixMathNoisePrecision",
];

/// Turns [`LUAU_FLAGS`] on, once per program, before the first VM is made. The names of
/// flags this Luau does not know are returned.
pub fn enable_luau_flags() -> &'static [&'static str] {
    static UNKNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    UNKNOWN.get_or_init(|| {
        LUAU_FLAGS
            .iter()
            .copied()
            .filter(|flag| Lua::set_fflag(flag, true).is_err())
            .collect()
    })
}

impl Vm {
    /// Creates and sandboxes the VM of one worker.
    pub fn new(core: &Rc<Core>) -> Result<Rc<Vm>, String> {
        enable_luau_flags();
        let lua =
            Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default()).map_err(|e| e.to_string())?;
        let main = Stack::main_of(&lua);
        let mut built: Option<Result<(LuaRef, LuaRef, modules::Modules), String>> = None;
        let protected = raw::protect(main, &mut |stack| {
            built = Some(Self::build(stack));
        });
        if protected.is_err() {
            let message = main
                .bytes(-1)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            return Err(format!("cannot set up the Lua VM: {message}"));
        }
        let (start, env_metatable, modules) = built.ok_or("the Lua VM was not set up")??;
        preempt::install(&lua).map_err(|e| e.to_string())?;
        preempt::set_slice(core.config().preemption_budget);
        let limit = core.config().memory_limit;
        if limit > 0 {
            lua.set_memory_limit(limit as usize)
                .map_err(|e| e.to_string())?;
        }
        let mut modules = modules;
        modules.native = native_modules(&lua, main, &core.shared.native_modules)?;
        let vm = Rc::new(Vm {
            lua,
            main,
            start,
            env_metatable,
            chunks: RefCell::default(),
            modules,
            native: core.config().native,
        });
        VM.with(|v| {
            let _ = v.set(vm.clone());
        });
        Ok(vm)
    }

    /// Builds the globals on the main thread `stack` (inside a protected call).
    #[allow(clippy::type_complexity)]
    fn build(stack: Stack<'_>) -> Result<(LuaRef, LuaRef, modules::Modules), String> {
        errors::register(stack);
        message::register(stack);
        channel::register(stack);
        time::register(stack);
        builder::register(stack);
        io::register(stack);
        security::register(stack);

        // The Lua half, with its primitives.
        stack.new_table(0, 8);
        let rt = stack.top();
        set_function(stack, rt, c"error_of", errors::error_of);
        set_function(stack, rt, c"preempted", super::run::preempted);
        set_function(
            stack,
            rt,
            c"absorb_preemption",
            super::run::absorb_preemption,
        );
        set_function(stack, rt, c"thread_use", super::run::thread_use);
        set_function(stack, rt, c"waited_in", super::run::waited_in);
        set_function(stack, rt, c"unblock", super::run::unblock);
        // Named for tracebacks: a process that fails while starting (out of memory making its
        // globals or copying its arguments) shows where, not an internal name.
        stack.push_function(super::run::entry, c"(process start: globals)", None);
        stack.raw_set_field(rt, c"entry");
        stack.push_function(super::run::arguments, c"(process start: arguments)", None);
        stack.raw_set_field(rt, c"arguments");
        stack.push_token();
        stack.raw_set_field(rt, c"TOKEN");
        stack.load(b"=moonweave.bootstrap", BOOTSTRAP.as_bytes())?;
        stack.push_copy(rt);
        stack.call(1, Some(1));
        let boot = stack.top();
        let start = field(stack, boot, c"start");

        // coroutine: spawn, and the wrappers that pass blocks and preemptions up.
        stack.raw_get_field(GLOBALS, c"coroutine");
        let coroutine = stack.top();
        for name in [c"resume", c"wrap", c"close"] {
            stack.raw_get_field(boot, name);
            stack.raw_set_field(coroutine, name);
        }
        set_function(stack, coroutine, c"spawn", super::run::spawn_task);
        stack.pop(1);

        errors::push_module(stack);
        stack.raw_set_field(GLOBALS, c"errors");
        channel::push_module(stack);
        stack.raw_set_field(GLOBALS, c"channel");
        process_api::push_module(stack);
        stack.raw_set_field(GLOBALS, c"process");
        set_function(stack, GLOBALS, c"print", print::print);
        set_function(stack, GLOBALS, c"assert", errors::assert);
        set_function(stack, GLOBALS, c"load", load);
        set_function(stack, GLOBALS, c"loadstring", load);
        set_function(stack, GLOBALS, c"collectgarbage", collect_garbage);
        set_function(stack, GLOBALS, c"require", modules::require);
        let time_module = time::module(stack);
        let modules = modules::Modules {
            supervisor: supervisor::module(stack, &time_module)?,
            time: time_module,
            json: json::module(stack),
            logger: logger::module(stack)?,
            ctx: ctx::module(stack),
            io: io::module(stack),
            security: security::module(stack),
            native: HashMap::new(),
        };
        // `_G` goes too: imports of names present at load time are resolved once, so a shared
        // `_G` would bypass the per-process environment, which holds its own `_G`.
        for name in [
            c"getfenv",
            c"setfenv",
            c"debug",
            c"gcinfo",
            c"dofile",
            c"loadfile",
            c"_G",
        ] {
            stack.push_nil();
            stack.raw_set_field(GLOBALS, name);
        }

        // The guard of the per-process globals, built before the globals are frozen.
        stack.raw_get_field(boot, c"guard");
        stack.push_copy(GLOBALS);
        stack.push_function(is_env, c"is_env", None);
        stack.call(2, Some(2));
        stack.raw_set_field(GLOBALS, c"rawset");
        let env_metatable = stack.make_ref(-1);
        stack.pop(1);
        stack.sandbox();
        Ok((start, env_metatable, modules))
    }

    /// The main thread's stack.
    pub(crate) fn main(&self) -> Stack<'_> {
        self.main
    }

    /// The compiled chunk of `entry`, compiling it on first use.
    pub(crate) fn chunk(&self, entry: &ProcessEntry) -> Result<Rc<Chunk>, ErrorValue> {
        if let Some(chunk) = self.chunks.borrow().get(&entry.id) {
            return Ok(chunk.clone());
        }
        let main = self.main;
        let native = self.native;
        let mut result = Err(String::new());
        let protected = raw::protect(main, &mut |stack| {
            result = stack
                .load(format!("@{}", entry.chunk_name).as_bytes(), &entry.source)
                .map(|()| {
                    if native || wants_native(&entry.source) {
                        stack.compile_native();
                    }
                    let function = stack.make_ref(-1);
                    stack.push_bytes(entry.method.as_bytes());
                    Chunk {
                        function,
                        method: stack.make_ref(-1),
                    }
                });
        });
        if protected.is_err() {
            let error = errors::exit_error(main, -1, None);
            main.pop(1);
            return Err(error);
        }
        let chunk = Rc::new(result.map_err(|m| ErrorValue::new(ErrorKind::Invalid, m))?);
        self.chunks
            .borrow_mut()
            .insert(entry.id.clone(), chunk.clone());
        Ok(chunk)
    }

    /// Runs `f` with the memory limit lifted: for the runtime's own reads of a process's
    /// values outside any protected call, where a limit error could not be caught.
    pub(crate) fn without_memory_limit<R>(&self, f: impl FnOnce() -> R) -> R {
        let limit = self.lua.set_memory_limit(0).unwrap_or(0);
        let result = f();
        if limit > 0 {
            let _ = self.lua.set_memory_limit(limit);
        }
        result
    }

    /// Releases the Lua values of objects and processes dropped since the last call, and the
    /// channels whose objects were collected.
    pub fn release_dropped(&self, core: &Core) {
        loop {
            channel::release_dropped(core);
            if !raw::release_dropped(self.main) {
                return;
            }
        }
    }
}

/// Whether a source asks for native code: a `--!native` hot comment before its code (Luau's
/// convention; only comments and blank lines may come before it).
fn wants_native(source: &[u8]) -> bool {
    for line in source.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(b"--") {
            return false;
        }
        if let Some(rest) = line.strip_prefix(b"--!native")
            && rest.first().is_none_or(u8::is_ascii_whitespace)
        {
            return true;
        }
    }
    false
}

/// Compiles `source` as Luau without running it; the error names `chunk_name` and the line.
pub fn compile_check(chunk_name: &str, source: &[u8]) -> Result<(), String> {
    enable_luau_flags();
    // Compiled, never loaded: no code is made (native or not), and a source is always text.
    mlua::chunk::Compiler::new()
        .compile(source)
        .map(drop)
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => {
                let sep = if message.starts_with(':') { "" } else { ":" };
                format!("{chunk_name}{sep}{message}")
            }
            other => other.to_string(),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_moonweave_turns_on_exists_in_this_luau() {
        assert!(super::enable_luau_flags().is_empty());
    }
}
