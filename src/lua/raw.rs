//! The Luau C API as the runtime's own Lua functions use it: a safe view of a thread's stack
//! ([`Stack`]), runtime objects as tagged userdata ([`Object`]), registry references
//! ([`LuaRef`]), and the adapter that turns a safe Rust function into a C function
//! ([`lua_fn!`]).
//!
//! This module and `preempt.rs` hold the `unsafe` code of the Lua layer: every call into the C
//! API is made here, behind methods whose preconditions the types guarantee.
//!
//! # Why raw functions
//!
//! mlua's callbacks convert every argument through its own value handles; on the message path
//! (send, receive, `msg:payload()`) that bookkeeping costs more than the work. A function made
//! with [`lua_fn!`] reads its arguments straight from the stack. It also can *yield*: a blocking
//! call registers what its task waits for and returns [`Ret::Yield`]; its continuation runs when
//! the worker resumes the task and pushes the results, inside the resumed coroutine, so that
//! even an allocation failure there is an ordinary Lua error of that process.
//!
//! # Errors and unwinding
//!
//! Luau is built with C++ exceptions. A Lua error raised inside an API call made here (an
//! allocation beyond the memory limit, a failing `lua_call`) unwinds through the Rust frames of
//! the running function, running their destructors, to the nearest protected call in Luau.
//! Nothing in this layer catches unwinds (a foreign exception reaching `catch_unwind` aborts).
//! A function raises its own errors by returning `Err`: [`finish`] pushes the error after every
//! Rust value of the function has been dropped, then calls `lua_error`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::marker::PhantomData;

use mlua::ffi;
pub use mlua::ffi::lua_State;

use crate::error::ErrorValue;

/// A value on the stack that needs no traversal to copy, read with one type check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Nil,
    Boolean(bool),
    Number(f64),
    String(&'a [u8]),
}

/// The type of a Lua value on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    None,
    Nil,
    Boolean,
    LightUserdata,
    Number,
    /// Luau's 64-bit integer (the `integer` library).
    Integer,
    Vector,
    String,
    Table,
    Function,
    Userdata,
    Thread,
    Buffer,
}

impl Kind {
    fn of(code: c_int) -> Kind {
        match code {
            ffi::LUA_TNIL => Kind::Nil,
            ffi::LUA_TBOOLEAN => Kind::Boolean,
            ffi::LUA_TLIGHTUSERDATA => Kind::LightUserdata,
            ffi::LUA_TNUMBER => Kind::Number,
            ffi::LUA_TINTEGER => Kind::Integer,
            ffi::LUA_TVECTOR => Kind::Vector,
            ffi::LUA_TSTRING => Kind::String,
            ffi::LUA_TTABLE => Kind::Table,
            ffi::LUA_TFUNCTION => Kind::Function,
            ffi::LUA_TUSERDATA => Kind::Userdata,
            ffi::LUA_TTHREAD => Kind::Thread,
            ffi::LUA_TBUFFER => Kind::Buffer,
            _ => Kind::None,
        }
    }

    /// The name `type()` gives.
    pub fn name(self) -> &'static str {
        match self {
            Kind::None => "no value",
            Kind::Nil => "nil",
            Kind::Boolean => "boolean",
            Kind::LightUserdata | Kind::Userdata => "userdata",
            Kind::Number => "number",
            Kind::Integer => "integer",
            Kind::Vector => "vector",
            Kind::String => "string",
            Kind::Table => "table",
            Kind::Function => "function",
            Kind::Thread => "thread",
            Kind::Buffer => "buffer",
        }
    }
}

/// What a raw function returns to Luau.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// The top `n` values of the stack are the results.
    Values(c_int),
    /// Yield the coroutine with the top `n` values; the continuation runs on resume.
    Yield(c_int),
}

/// An error a raw function raises.
#[derive(Debug)]
pub enum Raise {
    /// A string error; the position of the Lua caller is put in front, as Luau's own library
    /// functions do.
    Text(String),
    /// An error object.
    Object(ErrorValue),
    /// The value at this stack index, as it is (`assert(false, value)`).
    Value(c_int),
}

impl From<ErrorValue> for Raise {
    fn from(error: ErrorValue) -> Raise {
        Raise::Object(error)
    }
}

/// The result of a raw function.
pub type Result = std::result::Result<Ret, Raise>;

/// A protected call raised: its error value is on top of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised;

/// A C function of the runtime (made with [`lua_fn!`]).
pub type CFunction = ffi::lua_CFunction;

/// A continuation of a C function that yields (made with [`lua_cont!`]).
pub type Continuation = ffi::lua_Continuation;

/// The pseudo-index of the globals table.
pub const GLOBALS: c_int = ffi::LUA_GLOBALSINDEX;

/// The pseudo-index of upvalue `i` of the running C closure.
pub const fn upvalue(i: c_int) -> c_int {
    ffi::LUA_GLOBALSINDEX - i
}

/// Returns `n` results.
pub fn values(n: c_int) -> Result {
    Ok(Ret::Values(n))
}

/// Raises `message` as a string error.
pub fn raise<T>(message: impl Into<String>) -> std::result::Result<T, Raise> {
    Err(Raise::Text(message.into()))
}

/// A runtime object: a Rust value stored in a tagged userdata. Its tag is its identity: Lua code
/// cannot make a userdata with a tag, so an object cannot be forged, only obtained from the
/// runtime. Its metatable is frozen and hidden (`__metatable` is set).
pub trait Object: Sized + 'static {
    /// Userdata tag, unique per type (mlua uses tag 1; 0 is untagged).
    const TAG: c_int;
    /// What `typeof` and error messages call it.
    const NAME: &'static str;
}

/// Whether `T` fits Luau's userdata alignment.
const fn fits<T>() -> bool {
    std::mem::align_of::<T>() <= 8
}

/// The address the block token points to.
static BLOCK_TOKEN: u8 = 0;

thread_local! {
    /// Registry references and objects dropped on this worker, released by the worker between
    /// two runs (see [`release_dropped`]). A destructor may run inside Luau's collector, where
    /// the C API must not be called, so dropping only records.
    static DROPPED: RefCell<Vec<c_int>> = const { RefCell::new(Vec::new()) };
    /// The buffer [`release_dropped`] swaps with `DROPPED`, kept so that releasing does not
    /// allocate a new list every time.
    static RELEASING: RefCell<Vec<c_int>> = const { RefCell::new(Vec::new()) };
    /// What exited processes leave for the next ones this worker starts (see [`Spares`]).
    static SPARES: RefCell<Spares> = const { RefCell::new(Spares { main: 0, threads: Vec::new() }) };
}

/// Coroutines of exited processes, reset, kept for the next processes a worker starts:
/// creating a coroutine and collecting it again cost about 1,000 instructions of every spawn.
/// Only what no code can reach any more is kept, which holds for the task coroutines of a
/// process that has exited: no other process can hold them (messages cannot carry a coroutine,
/// processes share no writable tables) and the exited process's own objects are garbage. A
/// reset coroutine keeps nothing of its process: its stack and call frames are cleared and
/// shrunk back to their initial sizes, its upvalues closed. (Global tables are not reused: a
/// cleared table keeps its grown size, which the next process could see in the order `pairs`
/// walks it, and a kept table keeps the exited process's values alive until it is reused.)
struct Spares {
    /// The main thread of the VM they belong to (a worker has one VM).
    main: usize,
    /// Reset coroutines ([`Thread::recycle`]).
    threads: Vec<Thread>,
}

impl Spares {
    /// Runs `f` on the spares of the VM whose main thread is `main` (emptied first when they
    /// belong to another VM); `None` when they are in use or this thread is ending.
    fn with<R>(main: usize, f: impl FnOnce(&mut Spares) -> R) -> Option<R> {
        SPARES
            .try_with(|spares| {
                let mut spares = spares.try_borrow_mut().ok()?;
                if spares.main != main {
                    spares.main = main;
                    // Coroutines of another VM (gone, or not this worker's): their references
                    // mean nothing here, and dropping them would queue their numbers for
                    // release in this VM's registry.
                    spares.threads.drain(..).for_each(std::mem::forget);
                }
                Some(f(&mut spares))
            })
            .ok()
            .flatten()
    }
}

/// Spare coroutines a worker keeps at most (about 1.3 KB each).
const MAX_SPARES: usize = 256;

/// A value kept alive in the registry (`lua_ref`). Dropping it releases the value later, on the
/// same worker.
#[derive(Debug, PartialEq, Eq)]
pub struct LuaRef(c_int);

impl Drop for LuaRef {
    fn drop(&mut self) {
        let id = self.0;
        let _ = DROPPED.try_with(|d| {
            if let Ok(mut d) = d.try_borrow_mut() {
                d.push(id);
            }
        });
    }
}

/// Releases the references dropped since the last call (the worker calls this between runs);
/// whether there were any.
pub fn release_dropped(state: Stack<'_>) -> bool {
    // Most runs drop nothing: one look before touching the buffers.
    if DROPPED.with(|d| d.borrow().is_empty()) {
        return false;
    }
    let mut any = false;
    let mut releasing = RELEASING.with(|r| std::mem::take(&mut *r.borrow_mut()));
    loop {
        DROPPED.with(|d| std::mem::swap(&mut *d.borrow_mut(), &mut releasing));
        if releasing.is_empty() {
            RELEASING.with(|r| *r.borrow_mut() = releasing);
            return any;
        }
        any = true;
        for id in releasing.drain(..) {
            // SAFETY: `id` came from `lua_ref` on this worker's VM and is released once (each
            // `LuaRef` is dropped once).
            unsafe { ffi::lua_unref(state.state, id) };
        }
    }
}

/// A Lua thread the runtime resumes (a task's coroutine), anchored by a registry reference.
#[derive(Debug)]
pub struct Thread {
    state: *mut lua_State,
    _anchor: LuaRef,
}

/// What a resume of a thread ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The function returned; its results are on the thread's stack.
    Finished,
    /// It yielded the top `n` values of its stack.
    Yielded(c_int),
    /// It raised; the error value is on top of the thread's stack.
    Failed,
}

impl Thread {
    /// The thread's stack. Use it only while the thread is not running.
    pub fn stack(&self) -> Stack<'_> {
        Stack::borrowed(self.state)
    }

    /// Resumes the thread with the top `nargs` values of its stack.
    pub fn resume(&self, nargs: c_int) -> Status {
        // SAFETY: the thread is anchored by `_anchor`, belongs to this worker's VM, and is
        // suspended or new (the runtime resumes only its own task threads, and never one that
        // is running). `lua_resume` runs it in protected mode: errors come back as a status.
        let status = unsafe { ffi::lua_resume_(self.state, std::ptr::null_mut(), nargs) };
        match status {
            ffi::LUA_OK => Status::Finished,
            // SAFETY: as above; reading the stack top of a suspended thread.
            ffi::LUA_YIELD => Status::Yielded(unsafe { ffi::lua_gettop(self.state) }),
            _ => Status::Failed,
        }
    }

    /// An identity for this thread, to compare with [`Stack::pointer`] of a thread value.
    pub fn id(&self) -> usize {
        self.state as usize
    }

    /// Resets this coroutine and keeps it for a later [`Stack::spare_thread`] (a process's
    /// main task) or [`Stack::new_thread`] (a spawned task) on this worker:
    /// creating a coroutine and collecting it again cost about 1,000 instructions of every
    /// spawn. Only for a coroutine no code can reach any more, which holds for every task
    /// coroutine of a process that has exited: no other process can hold a process's
    /// coroutine (messages cannot carry one, processes share no writable tables), and the
    /// exited process's own objects are garbage.
    pub fn recycle(self) {
        // SAFETY: valid state of this worker's VM; `lua_mainthread` and `lua_costatus` only
        // read the states.
        let (main, status) = unsafe {
            let main = ffi::lua_mainthread(self.state);
            (main, ffi::lua_costatus(main, self.state))
        };
        // Only a coroutine that stopped at a yield, a return or an error: one a runtime panic
        // unwound out of is left in the middle of a call, which a reset may not undo.
        if !matches!(status, ffi::LUA_COSUS | ffi::LUA_COFIN | ffi::LUA_COERR) {
            return;
        }
        Spares::with(main as usize, |spares| {
            if spares.threads.len() < MAX_SPARES {
                // SAFETY: the thread is not running (its process exited; the runtime resumes
                // only task threads of live processes) and stopped at a yield, a return or an
                // error (checked above). `lua_resetthread` closes its upvalues and clears its
                // stack and call frames, leaving a fresh coroutine.
                unsafe { ffi::lua_resetthread(self.state) };
                spares.threads.push(self);
            }
        });
    }
}

/// A spare coroutine of the VM whose main thread is `main`, if one is kept.
fn spare_thread(main: usize) -> Option<Thread> {
    Spares::with(main, |spares| spares.threads.pop()).flatten()
}

/// The stack of a Lua thread during a call of one of the runtime's functions, or of a thread
/// the runtime holds. Indices are Lua's: 1 is the first argument, -1 the top.
///
/// Luau (0.740) grows a thread's stack in every API call that pushes (`ensure_stack` in
/// `lapi.cpp`), raising "stack overflow" when it cannot: a push never writes past the stack.
#[derive(Clone, Copy)]
pub struct Stack<'a> {
    state: *mut lua_State,
    _call: PhantomData<&'a ()>,
}

impl std::fmt::Debug for Stack<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stack({:p})", self.state)
    }
}

/// How Luau shows a chunk name in messages (`luaO_chunkid`): `=name` and `@file` without
/// their mark, anything else (the source text, when `load` is given no name) as
/// `[string "first line..."]`, within Luau's 256 bytes.
pub fn chunk_id(name: &[u8]) -> Vec<u8> {
    const ID_SIZE: usize = 256;
    // luau_load's name stops at a NUL: the same name shows the same way here.
    let name: Vec<u8> = name.iter().copied().filter(|&b| b != 0).collect();
    let name = name.as_slice();
    match name.first() {
        Some(b'=') => name[1..].iter().take(ID_SIZE - 1).copied().collect(),
        Some(b'@') if name.len() <= ID_SIZE => name[1..].to_vec(),
        Some(b'@') => {
            let mut shown = b"...".to_vec();
            shown.extend_from_slice(&name[name.len() - (ID_SIZE - 1 - 3)..]);
            shown
        }
        _ => {
            // `[string "` + at most this much + `..."]`, stopping at the first newline.
            let room = ID_SIZE - "[string \"...\"]".len() - 1;
            let newline = name.iter().position(|&b| b == b'\n' || b == b'\r');
            let end = name.len().min(room).min(newline.unwrap_or(usize::MAX));
            let mut shown = b"[string \"".to_vec();
            shown.extend_from_slice(&name[..end]);
            if end < name.len() {
                shown.extend_from_slice(b"...");
            }
            shown.extend_from_slice(b"\"]");
            shown
        }
    }
}

impl<'a> Stack<'a> {
    /// The stack of `state`.
    ///
    /// # Safety
    /// `state` must be a valid thread of a VM created on this thread, used only for the
    /// lifetime `'a` (one call of a C function, or while the caller holds the thread).
    pub unsafe fn new(state: *mut lua_State) -> Stack<'a> {
        Stack {
            state,
            _call: PhantomData,
        }
    }

    fn borrowed(state: *mut lua_State) -> Stack<'a> {
        Stack {
            state,
            _call: PhantomData,
        }
    }

    /// The stack of the VM's main thread (for setup and for releasing references).
    pub fn main_of(lua: &mlua::Lua) -> Stack<'static> {
        let mut main = std::ptr::null_mut();
        // SAFETY: `exec_raw` passes a valid state of `lua`; `lua_mainthread` of it is the main
        // thread, which lives as long as the VM (the worker keeps the VM for its whole life).
        let _ = unsafe {
            lua.exec_raw::<()>((), |state| {
                main = ffi::lua_mainthread(state);
            })
        };
        Stack::borrowed(main)
    }

    /// Number of values on the stack (the arguments, at the start of a call).
    pub fn top(self) -> c_int {
        // SAFETY: valid state (type invariant).
        unsafe { ffi::lua_gettop(self.state) }
    }

    /// Sets the number of values (drops the values above, pads with nils).
    pub fn set_top(self, n: c_int) {
        // SAFETY: valid state; `n` is not negative (the index of a value below the frame's
        // base); Luau grows the stack when `n` is above the top.
        unsafe { ffi::lua_settop(self.state, n.max(0)) }
    }

    /// Whether `index` names a value on the stack (not a pseudo-index), for the operations
    /// that move values.
    fn on_stack(self, index: c_int) -> bool {
        let top = self.top();
        (index > 0 && index <= top) || (index < 0 && -index <= top)
    }

    fn valid(self, index: c_int) -> bool {
        if index > 0 {
            // Luau reads a positive index above the top as "none", within the C function's
            // reserved stack; no need to ask for the top.
            return true;
        }
        // SAFETY: valid state.
        let top = unsafe { ffi::lua_gettop(self.state) };
        (index > 0 && index <= top)
            || (index < 0 && index > ffi::LUA_REGISTRYINDEX && -index <= top)
            || index == ffi::LUA_REGISTRYINDEX
            || index == ffi::LUA_GLOBALSINDEX
            || (ffi::LUA_GLOBALSINDEX - 255..ffi::LUA_GLOBALSINDEX).contains(&index)
    }

    /// The type of the value at `index` (`None` past the top).
    pub fn kind(self, index: c_int) -> Kind {
        if !self.valid(index) {
            return Kind::None;
        }
        // SAFETY: valid state and index.
        Kind::of(unsafe { ffi::lua_type(self.state, index) })
    }

    /// The value at `index` when it is nil, a boolean, a number or a string (an index past the
    /// top reads as nil, as [`Stack::kind`]'s `None` does in copies): one type check instead of
    /// one per question (the copy of every message and spawn argument asks).
    pub fn scalar(self, index: c_int) -> Option<Scalar<'a>> {
        if !self.valid(index) {
            return Some(Scalar::Nil);
        }
        // SAFETY: valid state and index. Each accessor is called only for its own type, so
        // `lua_tolstring` does not convert a number in place; a string's bytes live while it
        // stays on the stack for the call.
        unsafe {
            match ffi::lua_type(self.state, index) {
                ffi::LUA_TNIL => Some(Scalar::Nil),
                ffi::LUA_TBOOLEAN => {
                    Some(Scalar::Boolean(ffi::lua_toboolean(self.state, index) != 0))
                }
                ffi::LUA_TNUMBER => Some(Scalar::Number(ffi::lua_tonumberx(
                    self.state,
                    index,
                    std::ptr::null_mut(),
                ))),
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let data = ffi::lua_tolstring(self.state, index, &mut len);
                    Some(Scalar::String(std::slice::from_raw_parts(
                        data as *const u8,
                        len,
                    )))
                }
                _ => None,
            }
        }
    }

    /// The boolean value of `index` (`nil` and `false` are false).
    pub fn truthy(self, index: c_int) -> bool {
        // SAFETY: valid state and index (checked).
        self.valid(index) && unsafe { ffi::lua_toboolean(self.state, index) } != 0
    }

    /// The number at `index`, only if it is a number.
    pub fn number(self, index: c_int) -> Option<f64> {
        match self.kind(index) {
            // SAFETY: valid state and index; the value is a number.
            Kind::Number => {
                Some(unsafe { ffi::lua_tonumberx(self.state, index, std::ptr::null_mut()) })
            }
            _ => None,
        }
    }

    /// The bytes of the string at `index`, only if it is a string. They live as long as the
    /// string stays where it is on the stack.
    pub fn bytes(self, index: c_int) -> Option<&'a [u8]> {
        if self.kind(index) != Kind::String {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: valid state and index; the value is a string, so `lua_tolstring` does not
        // convert it and returns a pointer to its bytes, valid while the string is alive, which
        // it is while it stays on the stack for the call.
        unsafe {
            let data = ffi::lua_tolstring(self.state, index, &mut len);
            Some(std::slice::from_raw_parts(data as *const u8, len))
        }
    }

    /// An identity for the value at `index` (tables, functions, threads, userdata).
    pub fn pointer(self, index: c_int) -> usize {
        if !self.valid(index) {
            return 0;
        }
        // SAFETY: valid state and index.
        unsafe { ffi::lua_topointer(self.state, index) as usize }
    }

    /// The object of type `T` at `index`, if it is one.
    pub fn object<T: Object>(self, index: c_int) -> Option<&'a T> {
        if !self.valid(index) {
            return None;
        }
        // SAFETY: valid state and index. A userdata with `T::TAG` was made by `push_object::<T>`
        // and holds an initialised, suitably aligned `T` that lives while the userdata does
        // (it stays on the stack for the call).
        unsafe {
            let data = ffi::lua_touserdatatagged(self.state, index, T::TAG) as *const T;
            data.as_ref()
        }
    }

    /// The tag of the userdata at `index` (0 for other values).
    pub fn tag(self, index: c_int) -> c_int {
        if self.kind(index) != Kind::Userdata {
            return 0;
        }
        // SAFETY: valid state and index; the value is a userdata.
        unsafe { ffi::lua_userdatatag(self.state, index) }
    }

    /// Pushes nil.
    pub fn push_nil(self) {
        // SAFETY: valid state.
        unsafe { ffi::lua_pushnil(self.state) }
    }

    /// Pushes a boolean.
    pub fn push_bool(self, value: bool) {
        // SAFETY: valid state.
        unsafe { ffi::lua_pushboolean(self.state, value as c_int) }
    }

    /// Pushes a number.
    pub fn push_number(self, value: f64) {
        // SAFETY: valid state.
        unsafe { ffi::lua_pushnumber(self.state, value) }
    }

    /// Pushes a string with these bytes.
    pub fn push_bytes(self, bytes: &[u8]) {
        // SAFETY: valid state, Luau copies the bytes.
        unsafe { ffi::lua_pushlstring_(self.state, bytes.as_ptr() as *const c_char, bytes.len()) }
    }

    /// Pushes a copy of the value at `index`.
    pub fn push_copy(self, index: c_int) {
        if self.valid(index) {
            // SAFETY: valid state and index.
            unsafe { ffi::lua_pushvalue(self.state, index) }
        } else {
            self.push_nil();
        }
    }

    /// Pushes `value` as a new object of type `T`.
    pub fn push_object<T: Object>(self, value: T) {
        const { assert!(fits::<T>(), "object alignment above 8") };
        // SAFETY: valid state. The userdata is created with `T::TAG` and the
        // metatable registered for that tag (`register`), sized for `T`; Luau aligns userdata
        // memory to 8 bytes, enough for `T` (checked above). The value is written before any
        // other API call, so the destructor (which drops a `T`) never sees uninitialised
        // memory; if the allocation raises, `value` is dropped by the unwind.
        unsafe {
            let data = ffi::lua_newuserdatataggedwithmetatable(
                self.state,
                std::mem::size_of::<T>(),
                T::TAG,
            ) as *mut T;
            data.write(value);
        }
    }

    /// Pushes the value `reference` holds.
    pub fn push_ref(self, reference: &LuaRef) {
        // SAFETY: valid state, the reference is alive (not yet released), so its
        // registry slot holds its value.
        unsafe {
            ffi::lua_rawgeti_(self.state, ffi::LUA_REGISTRYINDEX, reference.0);
        }
    }

    /// A registry reference to the value at `index`.
    pub fn make_ref(self, index: c_int) -> LuaRef {
        if !self.valid(index) {
            self.push_nil();
            let r = self.make_ref(-1);
            self.pop(1);
            return r;
        }
        // SAFETY: valid state and index. `lua_ref` stores the value in the registry.
        LuaRef(unsafe { ffi::lua_ref(self.state, index) })
    }

    /// Pops `n` values.
    pub fn pop(self, n: c_int) {
        let top = self.top();
        self.set_top((top - n).max(0));
    }

    /// Removes the value at `index`, shifting those above down.
    pub fn remove(self, index: c_int) {
        if self.on_stack(index) {
            // SAFETY: valid state and index.
            unsafe { ffi::lua_remove(self.state, index) }
        }
    }

    /// Pushes a new table with room for `array` and `hash` entries.
    pub fn new_table(self, array: usize, hash: usize) {
        // SAFETY: valid state.
        unsafe {
            ffi::lua_createtable(
                self.state,
                array.min(1 << 24) as c_int,
                hash.min(1 << 24) as c_int,
            )
        }
    }

    /// `t[key] = v` without metamethods, for the table at `table`, key and value on top
    /// (both popped).
    pub fn raw_set(self, table: c_int) {
        if self.kind(table) == Kind::Table {
            // SAFETY: valid state; `table` is a table; key and value are on the stack.
            unsafe { ffi::lua_rawset(self.state, table) }
        } else {
            self.pop(2);
        }
    }

    /// `t[name] = v` without metamethods, value on top (popped).
    pub fn raw_set_field(self, table: c_int, name: &std::ffi::CStr) {
        if self.kind(table) == Kind::Table {
            // SAFETY: valid state; `table` is a table; the value is on the stack.
            unsafe { ffi::lua_rawsetfield(self.state, table, name.as_ptr()) }
        } else {
            self.pop(1);
        }
    }

    /// `t[i] = v` without metamethods, value on top (popped).
    pub fn raw_set_index(self, table: c_int, i: usize) {
        if self.kind(table) == Kind::Table {
            // SAFETY: valid state; `table` is a table; the value is on the stack.
            unsafe { ffi::lua_rawseti_(self.state, table, i.min(c_int::MAX as usize) as c_int) }
        } else {
            self.pop(1);
        }
    }

    /// Pushes `t[key]` without metamethods, key on top (replaced).
    pub fn raw_get(self, table: c_int) {
        if self.kind(table) == Kind::Table {
            // SAFETY: valid state; `table` is a table; the key is on the stack.
            unsafe {
                ffi::lua_rawget(self.state, table);
            }
        } else {
            self.pop(1);
            self.push_nil();
        }
    }

    /// Pushes `t[i]` without metamethods.
    pub fn raw_get_index(self, table: c_int, i: usize) {
        if self.kind(table) == Kind::Table {
            // SAFETY: valid state; `table` is a table.
            unsafe {
                ffi::lua_rawgeti_(self.state, table, i.min(c_int::MAX as usize) as c_int);
            }
        } else {
            self.push_nil();
        }
    }

    /// The length of the table or string at `index` (`#` without metamethods).
    pub fn raw_len(self, index: c_int) -> usize {
        match self.kind(index) {
            // SAFETY: valid state and index; tables and strings have a length.
            Kind::Table | Kind::String => unsafe { ffi::lua_objlen(self.state, index) },
            _ => 0,
        }
    }

    /// The number of key/value pairs of the table at `table` (absolute index).
    pub fn count_pairs(self, table: c_int) -> usize {
        let mut n = 0;
        self.push_nil();
        while self.next(table) {
            n += 1;
            self.pop(1);
        }
        n
    }

    /// Iteration over the table at `table` (absolute index): pops a key and pushes the next
    /// key and value; `false` at the end (nothing pushed). Start with a nil key.
    pub fn next(self, table: c_int) -> bool {
        if self.kind(table) != Kind::Table {
            self.pop(1);
            return false;
        }
        // SAFETY: valid state; `table` is a table and a key is on the stack.
        // `lua_next` raises only for a key that is not in the table, and the runtime's loops
        // only pass the keys `lua_next` itself returned.
        unsafe { ffi::lua_next(self.state, table) != 0 }
    }

    #[cfg(test)]
    /// Whether the table at `index` is read-only.
    pub fn is_readonly(self, index: c_int) -> bool {
        // SAFETY: valid state; only called for tables.
        self.kind(index) == Kind::Table && unsafe { ffi::lua_getreadonly(self.state, index) } != 0
    }

    /// Makes the table at `index` read-only.
    pub fn freeze(self, index: c_int) {
        if self.kind(index) == Kind::Table {
            // SAFETY: valid state; `index` is a table.
            unsafe { ffi::lua_setreadonly(self.state, index, 1) }
        }
    }

    #[cfg(test)]
    /// Pushes the metatable of the value at `index`, bypassing `__metatable`; `false` (nothing
    /// pushed) when it has none.
    pub fn raw_metatable(self, index: c_int) -> bool {
        if !self.valid(index) {
            return false;
        }
        // SAFETY: valid state and index.
        unsafe { ffi::lua_getmetatable(self.state, index) != 0 }
    }

    #[cfg(test)]
    /// Pushes upvalue `n` (1-based) of the function at `index`; `false` (nothing pushed) when
    /// it has no such upvalue. For walking what a function holds, never for changing it.
    pub fn push_upvalue(self, index: c_int, n: c_int) -> bool {
        if self.kind(index) != Kind::Function {
            return false;
        }
        // SAFETY: valid state; `index` is a function. `lua_getupvalue` pushes the
        // value only when it returns a name.
        unsafe { !ffi::lua_getupvalue(self.state, index, n).is_null() }
    }

    #[cfg(test)]
    /// Pushes the environment of the function at `index` (nil for C functions).
    pub fn push_environment(self, index: c_int) {
        if self.kind(index) != Kind::Function {
            self.push_nil();
            return;
        }
        // SAFETY: valid state; `index` is a function.
        unsafe { ffi::lua_getfenv(self.state, index) }
    }

    /// Sets the metatable of the table at `index` to the table on top (popped).
    pub fn set_metatable(self, index: c_int) {
        if self.kind(index) == Kind::Table && self.kind(-1) == Kind::Table {
            // SAFETY: valid state; a table and a metatable are on the stack.
            unsafe {
                ffi::lua_setmetatable(self.state, index);
            }
        } else {
            self.pop(1);
        }
    }

    /// Calls the function below the `nargs` arguments on top; pushes `nresults` results (all
    /// with `None`). Errors propagate as Lua errors.
    pub fn call(self, nargs: c_int, nresults: Option<c_int>) {
        // SAFETY: valid state; the caller placed a value and `nargs` arguments. Errors raise
        // through this frame (see the module docs).
        unsafe { ffi::lua_call(self.state, nargs, nresults.unwrap_or(ffi::LUA_MULTRET)) }
    }

    /// Calls like [`Stack::call`] in protected mode: `Err` with the error value on top.
    pub fn pcall(self, nargs: c_int, nresults: Option<c_int>) -> std::result::Result<(), Raised> {
        // SAFETY: valid state; function and arguments are on the stack.
        match unsafe { ffi::lua_pcall(self.state, nargs, nresults.unwrap_or(ffi::LUA_MULTRET), 0) }
        {
            ffi::LUA_OK => Ok(()),
            _ => Err(Raised),
        }
    }

    /// Whether the running thread can yield here (not inside a metamethod, a C callback or a
    /// non-yieldable call).
    pub fn can_yield(self) -> bool {
        // SAFETY: valid state.
        unsafe { ffi::lua_isyieldable(self.state) != 0 }
    }

    /// A reset coroutine of this VM kept for reuse, if there is one (nothing on its stack, its
    /// whole initial stack free).
    pub fn spare_thread(self) -> Option<Thread> {
        // SAFETY: valid state; `lua_mainthread` only reads it.
        let main = unsafe { ffi::lua_mainthread(self.state) } as usize;
        spare_thread(main)
    }

    /// A new coroutine of this VM with nothing on its stack, anchored by a registry reference.
    /// Allocates: call it in a protected call.
    pub fn new_empty_thread(self) -> Thread {
        // SAFETY: valid state. `lua_newthread` pushes a new thread of this VM; the reference
        // anchors it and the stack is left as it was.
        unsafe {
            let thread = ffi::lua_newthread(self.state);
            let anchor = LuaRef(ffi::lua_ref(self.state, -1));
            ffi::lua_settop(self.state, -2);
            Thread {
                state: thread,
                _anchor: anchor,
            }
        }
    }

    /// Makes a new thread (a spare one when there is one) that will call the function at
    /// `-(nargs + 1)` with the `nargs` values above it, and pops them all. Returns the thread,
    /// anchored by a registry reference.
    pub fn new_thread(self, nargs: c_int) -> Thread {
        let thread = self
            .spare_thread()
            .unwrap_or_else(|| self.new_empty_thread());
        // SAFETY: valid state; `thread` is a coroutine of the same VM with nothing on its
        // stack. `lua_xmove` moves the function and its arguments onto it, growing its stack
        // as needed.
        unsafe { ffi::lua_xmove(self.state, thread.state, nargs + 1) };
        thread
    }

    /// The position of the running Lua function at `level` as `chunk:line: `, or nothing.
    pub fn position(self, level: c_int) -> String {
        // SAFETY: valid state; `luaL_where` pushes one string.
        let text = unsafe {
            ffi::luaL_where(self.state, level);
            self.bytes(-1)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        self.pop(1);
        text.unwrap_or_default()
    }

    /// The traceback of the running thread.
    pub fn traceback(self) -> String {
        // SAFETY: valid state; `lua_debugtrace` returns a pointer to a static buffer holding a
        // NUL-terminated string, copied at once.
        unsafe {
            let text = ffi::lua_debugtrace(self.state);
            if text.is_null() {
                return String::new();
            }
            std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned()
        }
    }

    /// Kilobytes used by the VM's heap.
    pub fn heap_kilobytes(self) -> f64 {
        // SAFETY: valid state; `lua_gc` with COUNT/COUNTB only reads the collector's counters.
        unsafe {
            let kb = ffi::lua_gc(self.state, ffi::LUA_GCCOUNT, 0);
            let bytes = ffi::lua_gc(self.state, ffi::LUA_GCCOUNTB, 0);
            f64::from(kb) + f64::from(bytes) / 1024.0
        }
    }

    /// Pushes a C function with an optional continuation (for functions that yield).
    pub fn push_function(
        self,
        f: ffi::lua_CFunction,
        name: &'static std::ffi::CStr,
        continuation: Option<ffi::lua_Continuation>,
    ) {
        // SAFETY: valid state, `name` is a static NUL-terminated string.
        unsafe { ffi::lua_pushcclosurek(self.state, f, name.as_ptr(), 0, continuation) }
    }

    /// Pushes the token a blocking call yields (a light userdata only the runtime has).
    pub fn push_token(self) {
        // SAFETY: valid state, the pointer is only compared, never read.
        unsafe {
            ffi::lua_pushlightuserdatatagged(
                self.state,
                &BLOCK_TOKEN as *const u8 as *mut c_void,
                0,
            )
        }
    }

    /// Pushes a C closure with the `n` values on top as its upvalues (popped).
    pub fn push_closure(self, f: CFunction, name: &'static std::ffi::CStr, n: c_int) {
        // SAFETY: valid state; the `n` upvalues are on the stack (callers push them first).
        unsafe { ffi::lua_pushcclosurek(self.state, f, name.as_ptr(), n, None) }
    }

    /// Compiles the Luau function on top of the stack to native code, where the platform
    /// supports it (Luau's code generator; elsewhere it stays bytecode). Whether it was.
    pub fn compile_native(self) -> bool {
        // SAFETY: valid state and index; `lua_iscfunction` only reads the value's tag.
        if self.kind(-1) != Kind::Function || unsafe { ffi::lua_iscfunction(self.state, -1) } != 0 {
            return false;
        }
        // SAFETY: valid state; the value on top is a Luau closure (a function that is not a C
        // function), which is what the code generator compiles in place; it was created with
        // the state (mlua's `luau-jit`) wherever `luau_codegen_supported` says it can be.
        unsafe {
            if ffi::luau_codegen_supported() == 0 {
                return false;
            }
            ffi::luau_codegen_compile(self.state, -1);
        }
        true
    }

    /// Compiles Luau source text and pushes the function; `Err` with the compiler's message
    /// (`chunk:line: message`). Never loads bytecode given by a caller.
    pub fn load(self, chunk_name: &[u8], source: &[u8]) -> std::result::Result<(), String> {
        let shown = chunk_id(chunk_name);
        // `rawset` is replaced by a guarded one (vm.rs); without this the compiler would call
        // Luau's own builtin directly ("fastcall") and bypass the guard.
        let bytecode = mlua::chunk::Compiler::new()
            .add_disabled_builtin("rawset")
            .compile(source)
            .map_err(|e| match e {
                // The compiler's message starts at the line (`12: message`, or `:12: …`):
                // the chunk name goes in front, as `name:12: message`.
                mlua::Error::SyntaxError { message, .. } => {
                    let sep = if message.starts_with(':') { "" } else { ":" };
                    format!("{}{sep}{message}", String::from_utf8_lossy(&shown))
                }
                other => other.to_string(),
            })?;
        let mut name = chunk_name.to_vec();
        name.retain(|&b| b != 0);
        name.push(0);
        // SAFETY: valid state, `name` is NUL-terminated; the bytecode came from
        // the compiler just above. `luau_load` pushes the function or an error message.
        let status = unsafe {
            ffi::luau_load(
                self.state,
                name.as_ptr() as *const c_char,
                bytecode.as_ptr() as *const c_char,
                bytecode.len(),
                0,
            )
        };
        if status != 0 {
            let message = self
                .bytes(-1)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            self.pop(1);
            return Err(message);
        }
        Ok(())
    }

    /// Replaces the function at `index` by a copy of it (its own closure, same code).
    pub fn clone_function(self, index: c_int) {
        // SAFETY: valid state and index (checked first).
        let lua_function = self.kind(index) == Kind::Function
            && unsafe { ffi::lua_iscfunction(self.state, index) } == 0;
        if lua_function {
            // SAFETY: valid state and index; the value is a Lua function (not a C function,
            // whose closure `lua_clonefunction` cannot read).
            unsafe { ffi::lua_clonefunction(self.state, index) }
        } else {
            self.push_nil();
        }
    }

    /// Sets the environment of the function at `index` to the table on top (popped).
    pub fn set_environment(self, index: c_int) {
        if self.kind(index) == Kind::Function && self.kind(-1) == Kind::Table {
            // SAFETY: valid state; a function and a table are on the stack.
            unsafe {
                ffi::lua_setfenv(self.state, index);
            }
        } else {
            self.pop(1);
        }
    }

    /// Keeps Luau's fast paths on for the table at `index` used as an environment.
    pub fn set_safe_environment(self, index: c_int) {
        if self.kind(index) == Kind::Table {
            // SAFETY: valid state; `index` is a table.
            unsafe { ffi::lua_setsafeenv(self.state, index, 1) }
        }
    }

    /// Pushes `tostring(value at index)`, honouring `__tostring`, and returns its bytes.
    pub fn to_display(self, index: c_int) -> &'a [u8] {
        if !self.on_stack(index) {
            self.push_bytes(b"nil");
            return b"nil";
        }
        let index = if index < 0 {
            self.top() + index + 1
        } else {
            index
        };
        let mut len = 0usize;
        // SAFETY: valid state. `luaL_tolstring` calls `__tostring` (which may
        // raise, unwinding through here) and pushes a string whose bytes stay valid while it
        // stays on the stack.
        unsafe {
            let data = ffi::luaL_tolstring(self.state, index, &mut len);
            if data.is_null() {
                return b"";
            }
            std::slice::from_raw_parts(data as *const u8, len)
        }
    }

    /// Pushes `t[name]` without metamethods.
    pub fn raw_get_field(self, table: c_int, name: &std::ffi::CStr) {
        if self.kind(table) == Kind::Table {
            // SAFETY: valid state; `table` is a table.
            unsafe {
                ffi::lua_rawgetfield(self.state, table, name.as_ptr());
            }
        } else {
            self.push_nil();
        }
    }

    /// Applies Luau's sandbox to the VM: library tables, built-in metatables and the globals
    /// become read-only.
    pub fn sandbox(self) {
        // SAFETY: valid state of the main thread; `luaL_sandbox` only marks tables read-only
        // and enables safeenv.
        unsafe { ffi::luaL_sandbox(self.state, 1) }
    }

    /// Pushes a string error or an error object for [`Raise`].
    fn push_raise(self, raise: Raise) {
        match raise {
            Raise::Text(text) => {
                let mut message = self.position(1).into_bytes();
                message.extend_from_slice(text.as_bytes());
                self.push_bytes(&message);
            }
            Raise::Object(mut error) => {
                if error.stack.is_none() {
                    error.stack = Some(super::errors::clean_traceback(&self.traceback()));
                }
                self.push_object(super::errors::ErrorObject(error));
            }
            Raise::Value(index) => self.push_copy(index),
        }
    }
}

/// Finishes a raw function: returns its results, yields, or raises its error.
///
/// # Safety
/// `state` must be the state the C function was called with.
pub unsafe fn finish(state: *mut lua_State, result: Result) -> c_int {
    // SAFETY: the state of the running call.
    let top = unsafe { ffi::lua_gettop(state) };
    match result {
        Ok(Ret::Values(n)) => n.clamp(0, top),
        // SAFETY: a C function may yield by returning `lua_yield`; the callers that yield
        // checked `can_yield` first.
        Ok(Ret::Yield(n)) => unsafe { ffi::lua_yield(state, n.clamp(0, top)) },
        Err(raise) => {
            Stack::borrowed(state).push_raise(raise);
            // SAFETY: the error value is on top; no Rust value of this function is alive.
            unsafe { ffi::lua_error(state) }
        }
    }
}

/// Defines a C function from a safe body `fn(Stack) -> raw::Result`.
///
/// ```ignore
/// lua_fn! {
///     /// `pid()`: the running process's PID.
///     fn pid(stack) { ... }
/// }
/// ```
macro_rules! lua_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($stack:ident) $body:block) => {
        $(#[$attr])*
        ///
        /// # Safety
        /// A C function: Luau calls it with the state of the calling thread.
        $vis unsafe extern "C-unwind" fn $name(
            state: *mut $crate::lua::raw::lua_State,
        ) -> ::std::ffi::c_int {
            fn body($stack: $crate::lua::raw::Stack<'_>) -> $crate::lua::raw::Result $body
            // SAFETY: Luau calls a C function with the state of the calling thread, valid for
            // the call.
            let result = body(unsafe { $crate::lua::raw::Stack::new(state) });
            // SAFETY: the state the function was called with.
            unsafe { $crate::lua::raw::finish(state, result) }
        }
    };
}

/// Defines a continuation (run when a yielded C function is resumed) from a safe body.
macro_rules! lua_cont {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($stack:ident) $body:block) => {
        $(#[$attr])*
        ///
        /// # Safety
        /// A continuation: Luau calls it with the state of the resumed thread.
        $vis unsafe extern "C-unwind" fn $name(
            state: *mut $crate::lua::raw::lua_State,
            _status: ::std::ffi::c_int,
        ) -> ::std::ffi::c_int {
            fn body($stack: $crate::lua::raw::Stack<'_>) -> $crate::lua::raw::Result $body
            // SAFETY: Luau calls a continuation with the state of the resumed thread.
            unsafe { $crate::lua::raw::finish(state, body($crate::lua::raw::Stack::new(state))) }
        }
    };
}

pub(crate) use {lua_cont, lua_fn};

/// A method or metamethod of an object type: name, function, continuation (for methods that
/// block).
pub type Method = (&'static std::ffi::CStr, CFunction, Option<Continuation>);

/// A method that does not block.
pub const fn method(name: &'static std::ffi::CStr, f: CFunction) -> Method {
    (name, f, None)
}

/// A method that blocks, with its continuation.
pub const fn blocking(
    name: &'static std::ffi::CStr,
    f: CFunction,
    continuation: Continuation,
) -> Method {
    (name, f, Some(continuation))
}

/// Registers the metatable of object type `T`: `methods` as its `__index`, the metamethods in
/// `meta`, `__type` = `T::NAME`, `__metatable` hidden, all frozen; and the destructor that drops
/// the Rust value when the collector frees the userdata.
pub fn register<T: Object>(stack: Stack<'_>, methods: &[Method], meta: &[Method]) {
    unsafe extern "C" fn drop_object<T>(_: *mut lua_State, data: *mut c_void) {
        // SAFETY: Luau calls the tag's destructor once, when it frees a userdata of that tag,
        // which `push_object::<T>` initialised with a `T`.
        unsafe { std::ptr::drop_in_place(data as *mut T) }
    }
    let base = stack.top();
    stack.new_table(0, meta.len() + 4);
    let metatable = base + 1;
    if !methods.is_empty() {
        stack.new_table(0, methods.len());
        for (name, f, continuation) in methods {
            stack.push_function(*f, name, *continuation);
            stack.raw_set_field(metatable + 1, name);
        }
        stack.freeze(-1);
        stack.raw_set_field(metatable, c"__index");
    }
    for (name, f, continuation) in meta {
        stack.push_function(*f, name, *continuation);
        stack.raw_set_field(metatable, name);
    }
    stack.push_bytes(T::NAME.as_bytes());
    stack.raw_set_field(metatable, c"__type");
    stack.push_bytes(b"locked");
    stack.raw_set_field(metatable, c"__metatable");
    stack.freeze(metatable);
    // SAFETY: valid state; the metatable is on top and is popped by the call; the destructor
    // matches the tag's type.
    unsafe {
        ffi::lua_setuserdatametatable(stack.state, T::TAG);
        ffi::lua_setuserdatadtor(stack.state, T::TAG, Some(drop_object::<T>));
    }
    stack.set_top(base);
}

/// Pushes a frozen table of functions.
pub fn push_table(stack: Stack<'_>, functions: &[Method]) {
    stack.new_table(0, functions.len());
    let table = stack.top();
    for (name, f, continuation) in functions {
        stack.push_function(*f, name, *continuation);
        stack.raw_set_field(table, name);
    }
}

/// Runs `f` in protected mode on `stack` (a main or suspended thread): a Lua error raised
/// inside (an allocation beyond the memory limit) comes back as `Err` with the error value on
/// top, instead of unwinding into the caller.
pub fn protect(stack: Stack<'_>, f: &mut dyn FnMut(Stack<'_>)) -> std::result::Result<(), Raised> {
    unsafe extern "C-unwind" fn trampoline(state: *mut lua_State) -> c_int {
        // SAFETY: the light userdata below was pushed by `protect` from a `&mut &mut dyn
        // FnMut` that outlives this call.
        unsafe {
            let f = ffi::lua_tolightuserdata(state, 1) as *mut &mut dyn FnMut(Stack<'_>);
            ffi::lua_settop(state, 0);
            (*f)(Stack::new(state));
        }
        0
    }
    let mut f = f;
    let pointer = &mut f as *mut &mut dyn FnMut(Stack<'_>) as *mut c_void;
    // SAFETY: valid state of a thread that is not running. `lua_cpcall` makes the closure and
    // its light userdata argument inside the protected call, so even those allocations fail
    // as an error status, never as an unwind into the caller.
    let status = unsafe { ffi::lua_cpcall(stack.state, trampoline, pointer) };
    match status {
        ffi::LUA_OK => Ok(()),
        _ => Err(Raised),
    }
}
