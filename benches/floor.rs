//! The floor of a message round trip on one Luau VM: what the process contract costs before
//! any runtime machinery.
//!
//! `cargo bench --bench floor` runs the ping-pong of `benches/apps/ping_pong` on a bare Luau
//! VM with the least a runtime of moonweave's design must do per message (process.md: a send
//! copies the topic and payload; a receive returns a Message object whose methods give them;
//! a receiver with nothing waiting is suspended and resumed when a message arrives):
//!
//! - `send(dest, topic, payload)` is a C function that copies the two strings into the
//!   destination's mailbox (a fixed-size record: no allocation) and marks it ready;
//! - `receive()` is a C function that pops a message into a new tagged userdata (no
//!   destructor), or yields when the mailbox is empty;
//! - a driver resumes each ready coroutine with its message as the value `receive()` returns;
//! - `m:topic()` and `m:payload()` are C methods that push the copied bytes as strings.
//!
//! Left out: PIDs (destinations are numbers), tables in payloads, the sender's identity,
//! permissions, preemption (no interrupt but in the `_interrupt` row), tasks, selective
//! receive, other workers and every check a real runtime makes. So the figure is the floor of
//! this design as bytecode with Luau's default flags (moonweave turns on a few bounds-checking
//! flags and, for `native` hosts, native code); reusing Message objects instead of allocating
//! one per message, or returning values (the `_values` row), would lower it. Like the
//! workloads' rows it is the best of a few runs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, c_int};
use std::time::Instant;

use mlua::ffi;

/// The userdata tag of a message.
const MESSAGE: c_int = 1;
const ROUND_TRIPS: u32 = 1_000_000;
const ROUNDS: usize = 5;

const PING: &str = r#"
local n = ...
for _ = 1, n do
    send(1, "ping", "{app:processes|0x00001}")
    receive()
end
send(1, "stop", "")
"#;

// As benches/apps/ping_pong/pong.lua: the payload names where to answer (here the answer
// goes to coroutine 0 whatever it says), and the answer has no payload.
const PONG: &str = r#"
while true do
    local msg = receive()
    if msg:topic() == "stop" then return end
    local _ = msg:payload()
    send(0, "pong")
end
"#;

/// The pong side when `receive()` returns the topic and payload as values, not an object.
const PONG_VALUES: &str = r#"
while true do
    local topic, _ = receive()
    if topic == "stop" then return end
    send(0, "pong")
end
"#;

/// What one run measures.
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    /// `receive()` returns a Message object (else the topic and payload as two values).
    objects: bool,
    /// An interrupt callback that does nothing (the least preemption adds).
    interrupt: bool,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        name: "ping_pong_floor",
        objects: true,
        interrupt: false,
    },
    Variant {
        name: "ping_pong_floor_interrupt",
        objects: true,
        interrupt: true,
    },
    Variant {
        name: "ping_pong_floor_values",
        objects: false,
        interrupt: false,
    },
];

/// A copied message: short strings inline, as a lean runtime keeps small payloads.
#[derive(Clone, Copy)]
struct Message {
    topic: [u8; 16],
    topic_len: u8,
    payload: [u8; 32],
    payload_len: u8,
}

struct World {
    threads: [*mut ffi::lua_State; 2],
    mailboxes: [VecDeque<Message>; 2],
    waiting: [bool; 2],
    ready: VecDeque<usize>,
    objects: bool,
}

thread_local! {
    static WORLD: RefCell<World> = RefCell::new(World {
        threads: [std::ptr::null_mut(); 2],
        mailboxes: [VecDeque::with_capacity(16), VecDeque::with_capacity(16)],
        waiting: [false; 2],
        ready: VecDeque::with_capacity(4),
        objects: true,
    });
}

/// The bytes of the string at `index` (none when there is no string), copied into `out`;
/// their length.
///
/// # Safety
/// `state` is a valid Luau state.
unsafe fn copy_string(state: *mut ffi::lua_State, index: c_int, out: &mut [u8]) -> u8 {
    let mut len = 0usize;
    // SAFETY: valid state (the caller's contract); Luau returns null for a value that is not a
    // string or number, else a pointer to `len` bytes that live while the value is on the
    // stack.
    let bytes = unsafe { ffi::lua_tolstring(state, index, &mut len) };
    if bytes.is_null() {
        return 0;
    }
    let len = len.min(out.len());
    // SAFETY: `bytes` points to at least `len` bytes (see above).
    out[..len].copy_from_slice(unsafe { std::slice::from_raw_parts(bytes as *const u8, len) });
    len as u8
}

/// Pushes `message` as a new userdata (or as its topic and payload when the run has no
/// message objects); the number of values pushed.
///
/// # Safety
/// `state` is a valid Luau state whose VM has the message metatable registered.
unsafe fn push_message(state: *mut ffi::lua_State, message: Message) -> c_int {
    if !WORLD.with_borrow(|world| world.objects) {
        // SAFETY: valid state; both slices are readable for their lengths.
        unsafe {
            push_bytes(state, &message.topic[..message.topic_len as usize]);
            push_bytes(state, &message.payload[..message.payload_len as usize]);
        }
        return 2;
    }
    // SAFETY: valid state; the userdata is sized and (8-byte) aligned for a `Message`, a plain
    // `Copy` record with no destructor, written before any other call.
    unsafe {
        let data =
            ffi::lua_newuserdatataggedwithmetatable(state, std::mem::size_of::<Message>(), MESSAGE)
                as *mut Message;
        data.write(message);
    }
    1
}

/// Pushes `bytes` as a string.
///
/// # Safety
/// `state` is a valid Luau state.
unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    // SAFETY: valid state; `bytes` is readable for its length.
    unsafe { ffi::lua_pushlstring(state, bytes.as_ptr() as *const c_char, bytes.len()) };
}

unsafe extern "C-unwind" fn no_interrupt(_: *mut ffi::lua_State, _: c_int) {}

unsafe extern "C-unwind" fn send(state: *mut ffi::lua_State) -> c_int {
    let mut message = Message {
        topic: [0; 16],
        topic_len: 0,
        payload: [0; 32],
        payload_len: 0,
    };
    // SAFETY: called by Luau with `dest, topic, payload` (the benchmark's own code).
    let dest = unsafe { ffi::lua_tonumber(state, 1) } as usize;
    // SAFETY: as above.
    message.topic_len = unsafe { copy_string(state, 2, &mut message.topic) };
    // SAFETY: as above.
    message.payload_len = unsafe { copy_string(state, 3, &mut message.payload) };
    WORLD.with_borrow_mut(|world| {
        world.mailboxes[dest].push_back(message);
        if std::mem::take(&mut world.waiting[dest]) {
            world.ready.push_back(dest);
        }
    });
    0
}

unsafe extern "C-unwind" fn receive(state: *mut ffi::lua_State) -> c_int {
    let taken = WORLD.with_borrow_mut(|world| {
        let me = usize::from(world.threads[1] == state);
        let taken = world.mailboxes[me].pop_front();
        if taken.is_none() {
            world.waiting[me] = true;
        }
        taken
    });
    match taken {
        // SAFETY: called by Luau on one of the two benchmark threads.
        Some(message) => unsafe { push_message(state, message) },
        // SAFETY: a C function called from a coroutine may yield; the driver resumes it with
        // the message as the call's result.
        None => unsafe { ffi::lua_yield(state, 0) },
    }
}

/// The message `self` of a method call.
///
/// # Safety
/// `state` is a valid Luau state.
unsafe fn this<'a>(state: *mut ffi::lua_State) -> &'a Message {
    // SAFETY: valid state; a userdata with the message tag holds a `Message` (push_message).
    let data = unsafe { ffi::lua_touserdatatagged(state, 1, MESSAGE) } as *const Message;
    assert!(!data.is_null(), "not a message");
    // SAFETY: checked non-null above; the userdata lives while it is on the stack.
    unsafe { &*data }
}

unsafe extern "C-unwind" fn topic(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Luau as a method of a message.
    let message = unsafe { this(state) };
    // SAFETY: valid state.
    unsafe { push_bytes(state, &message.topic[..message.topic_len as usize]) };
    1
}

unsafe extern "C-unwind" fn payload(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Luau as a method of a message.
    let message = unsafe { this(state) };
    // SAFETY: valid state.
    unsafe { push_bytes(state, &message.payload[..message.payload_len as usize]) };
    1
}

/// Compiles `source` and pushes it as a function on `state`.
///
/// # Safety
/// `state` is a valid Luau state.
unsafe fn load(state: *mut ffi::lua_State, source: &str) {
    let bytecode = mlua::chunk::Compiler::new()
        .compile(source)
        .expect("the benchmark's code compiles");
    // SAFETY: valid state; the name is NUL-terminated and the bytecode came from the compiler.
    let status = unsafe {
        ffi::luau_load(
            state,
            c"floor".as_ptr(),
            bytecode.as_ptr() as *const c_char,
            bytecode.len(),
            0,
        )
    };
    assert_eq!(status, 0, "the benchmark's code loads");
}

/// One run of `variant`: `n` round trips; the time per round trip in ns.
fn run(variant: Variant, n: u32) -> f64 {
    // SAFETY: the whole block drives one fresh Luau VM on this thread: every state passed to
    // the API is the main state or one of the two threads created on it (anchored in the
    // registry, so the collector keeps them), and the VM is closed at the end.
    unsafe {
        let main = ffi::luaL_newstate();
        ffi::luaL_openlibs(main);
        if variant.interrupt {
            (*ffi::lua_callbacks(main)).interrupt = Some(no_interrupt);
        }
        ffi::lua_pushcfunction(main, send);
        ffi::lua_setglobal(main, c"send".as_ptr());
        ffi::lua_pushcfunction(main, receive);
        ffi::lua_setglobal(main, c"receive".as_ptr());
        // The message metatable: { __index = { topic = …, payload = … } }.
        ffi::lua_createtable(main, 0, 1);
        ffi::lua_createtable(main, 0, 2);
        ffi::lua_pushcfunction(main, topic);
        ffi::lua_setfield(main, -2, c"topic".as_ptr());
        ffi::lua_pushcfunction(main, payload);
        ffi::lua_setfield(main, -2, c"payload".as_ptr());
        ffi::lua_setfield(main, -2, c"__index".as_ptr());
        ffi::lua_setuserdatametatable(main, MESSAGE);

        let mut threads = [std::ptr::null_mut(); 2];
        let pong = if variant.objects { PONG } else { PONG_VALUES };
        for (i, source) in [PING, pong].into_iter().enumerate() {
            let thread = ffi::lua_newthread(main);
            ffi::lua_ref(main, -1);
            ffi::lua_settop(main, -2);
            load(thread, source);
            threads[i] = thread;
        }
        WORLD.with_borrow_mut(|world| {
            world.threads = threads;
            world.waiting = [false; 2];
            world.mailboxes.iter_mut().for_each(VecDeque::clear);
            world.ready.clear();
            world.objects = variant.objects;
        });

        let started = Instant::now();
        // First resumes: ping with its argument, pong until it waits.
        ffi::lua_pushnumber(threads[0], f64::from(n));
        let mut status = ffi::lua_resume_(threads[0], std::ptr::null_mut(), 1);
        assert_eq!(status, ffi::LUA_YIELD);
        status = ffi::lua_resume_(threads[1], std::ptr::null_mut(), 0);
        assert_eq!(status, ffi::LUA_YIELD);
        loop {
            let next = WORLD.with_borrow_mut(|world| {
                let p = world.ready.pop_front()?;
                Some((p, world.threads[p], world.mailboxes[p].pop_front()?))
            });
            let Some((p, thread, message)) = next else {
                break;
            };
            let pushed = push_message(thread, message);
            status = ffi::lua_resume_(thread, std::ptr::null_mut(), pushed);
            assert!(
                status == ffi::LUA_YIELD || status == ffi::LUA_OK,
                "coroutine {p} failed"
            );
        }
        let elapsed = started.elapsed();
        ffi::lua_close(main);
        elapsed.as_secs_f64() * 1e9 / f64::from(n)
    }
}

fn main() {
    let mut best = [f64::INFINITY; VARIANTS.len()];
    // Rounds interleave the variants, so a slow moment of the machine touches them all.
    for _ in 0..ROUNDS {
        for (i, variant) in VARIANTS.into_iter().enumerate() {
            best[i] = best[i].min(run(variant, ROUND_TRIPS));
        }
    }
    println!("| floor | unit | bare Luau VM (best of {ROUNDS}) |");
    println!("|---|---|---|");
    for (variant, ns) in VARIANTS.iter().zip(best) {
        println!(
            "| {} | ns per round trip, one thread | {ns:.0} |",
            variant.name
        );
    }
}
