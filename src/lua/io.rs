//! The `io` module (stdlib.md §7.5): `write`, `print` and `readline`, only on hosts with
//! `io: true` (elsewhere every call returns `nil, err` with kind UNAVAILABLE).
//!
//! `readline` must not block the worker: one reader thread, started on first use, serves the
//! requests of every process in call order and wakes each requester when its line is there.
//! The calling task waits for the world meanwhile, holding its request on its own stack.

use std::ffi::c_int;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use super::args::{done, fail, type_name};
use super::objects;
use super::print::{self, write_stdout};
use super::raw::{self, Kind, LuaRef, Object, Stack, lua_cont, lua_fn};
use super::run::{block, core, take_delivery};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::Wait;
use crate::sched::Waker;

/// What a requested line turned into: `None` while pending, then the line (or `None` at the
/// end of input).
type Slot = Arc<Mutex<Option<Option<Vec<u8>>>>>;

/// One `readline` call waiting for its line (lives on the stack of the blocked call).
#[derive(Debug)]
struct LineRequest(Slot);

impl Object for LineRequest {
    const TAG: c_int = objects::LINE;
    const NAME: &'static str = "userdata";
}

struct Request {
    slot: Slot,
    waker: Waker,
}

/// The queue of the reader thread, which it starts on first use.
fn reader() -> Option<&'static Mutex<Sender<Request>>> {
    static READER: OnceLock<Option<Mutex<Sender<Request>>>> = OnceLock::new();
    READER
        .get_or_init(|| {
            let (sender, receiver) = channel::<Request>();
            let started = std::thread::Builder::new()
                .name("moonweave-stdin".into())
                .spawn(move || {
                    let stdin = std::io::stdin();
                    let mut at_end = false;
                    for request in receiver {
                        let line = if at_end { None } else { read_line(&stdin) };
                        at_end = line.is_none();
                        *request.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(line);
                        request.waker.wake();
                    }
                });
            started.ok().map(|_| Mutex::new(sender))
        })
        .as_ref()
}

/// The next line without its `\n` or `\r\n`, or `None` at the end of input (or on an error).
fn read_line(stdin: &std::io::Stdin) -> Option<Vec<u8>> {
    use std::io::BufRead;
    let mut line = Vec::new();
    match stdin.lock().read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            Some(line)
        }
    }
}

fn unavailable(function: &str) -> ErrorValue {
    ErrorValue::new(
        ErrorKind::Unavailable,
        format!("io.{function}: this process's host does not allow io (host setting io: true)"),
    )
}

fn allowed() -> bool {
    crate::sched::current_core().is_some_and(|c| c.config().io)
}

lua_fn! {
    fn write(stack) {
        if !allowed() {
            return fail(stack, unavailable("write"));
        }
        let mut out = Vec::new();
        for i in 1..=stack.top() {
            match stack.kind(i) {
                Kind::String => out.extend_from_slice(stack.bytes(i).unwrap_or_default()),
                Kind::Number => out.extend_from_slice(
                    super::convert::number_text(stack.number(i).unwrap_or_default()).as_bytes(),
                ),
                _ => {
                    return fail(stack, ErrorValue::new(ErrorKind::Invalid, format!(
                        "io.write: argument #{i} is a {}; only strings and numbers are written",
                        type_name(stack, i)
                    )));
                }
            }
        }
        write_stdout(&out);
        done(stack)
    }
}

lua_fn! {
    fn io_print(stack) {
        if !allowed() {
            return fail(stack, unavailable("print"));
        }
        write_stdout(&print::line(stack));
        done(stack)
    }
}

/// Pushes the line of a finished request (or nil at the end of input); `false` while pending.
fn take_line(stack: Stack<'_>) -> bool {
    let Some(request) = stack.object::<LineRequest>(1) else {
        return false;
    };
    let slot = request.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match slot {
        None => false,
        Some(None) => {
            stack.push_nil();
            true
        }
        Some(Some(line)) => {
            stack.push_bytes(&line);
            true
        }
    }
}

lua_fn! {
    fn readline(stack) {
        if !allowed() {
            return fail(stack, unavailable("readline"));
        }
        let core = core()?;
        if !stack.can_yield() {
            return super::run::cannot_block();
        }
        let Some(waker) = core.waker() else {
            return fail(stack, ErrorValue::new(ErrorKind::Invalid, "io.readline outside a process"));
        };
        let slot: Slot = Arc::default();
        let sent = match reader() {
            Some(reader) => reader
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(Request { slot: slot.clone(), waker })
                .is_ok(),
            None => false,
        };
        if !sent {
            return fail(stack, ErrorValue::new(ErrorKind::Unavailable, "io.readline: stdin is gone"));
        }
        stack.set_top(0);
        stack.push_object(LineRequest(slot));
        block(stack, Wait::External)
    }
}

lua_cont! {
    fn readline_continue(stack) {
        let core = core()?;
        let _ = take_delivery(&core);
        if take_line(stack) {
            return raw::values(1);
        }
        block(stack, Wait::External)
    }
}

/// Registers the request object type.
pub fn register(stack: Stack<'_>) {
    raw::register::<LineRequest>(stack, &[], &[]);
}

/// Builds the `io` module (frozen).
pub fn module(stack: Stack<'_>) -> LuaRef {
    raw::push_table(
        stack,
        &[
            raw::method(c"write", write),
            raw::method(c"print", io_print),
            raw::blocking(c"readline", readline, readline_continue),
        ],
    );
    stack.freeze(-1);
    let r = stack.make_ref(-1);
    stack.pop(1);
    r
}
