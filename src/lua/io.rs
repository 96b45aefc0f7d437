//! The `io` module (stdlib.md §7.5): `write`, `print` and `readline`, only on hosts with
//! `io: true` (elsewhere every call returns `nil, err` with kind UNAVAILABLE).
//!
//! `readline` must not block the worker: one reader thread, started on first use, serves the
//! requests of every process in call order and wakes each requester when its line is there.
//! The blocking loop is Lua (it waits like any external wait, see `tasks.luau`).

use std::rc::Rc;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use mlua::{AnyUserData, Lua, MultiValue, Table, UserData, Value as LuaValue};

use super::errors::fail_with;
use super::print::{self, write_stdout};
use super::{convert, errors};
use crate::error::ErrorKind;
use crate::sched::{Waker, WorkerContext};

/// What a requested line turned into: `None` while pending, then the line (or `None` at the
/// end of input).
type Slot = Arc<Mutex<Option<Option<Vec<u8>>>>>;

/// One `readline` call waiting for its line.
struct LineRequest(Slot);

impl UserData for LineRequest {}

struct Request {
    slot: Slot,
    waker: Waker,
}

/// The queue of the reader thread, which it starts on first use.
fn reader() -> &'static Mutex<Sender<Request>> {
    static READER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    READER.get_or_init(|| {
        let (sender, receiver) = channel::<Request>();
        std::thread::Builder::new()
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
            })
            .expect("the stdin reader thread starts");
        Mutex::new(sender)
    })
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

fn unavailable(lua: &Lua, function: &str) -> mlua::Result<MultiValue> {
    fail_with(
        lua,
        ErrorKind::Unavailable,
        format!("io.{function}: this process's host does not allow io (host setting io: true)"),
    )
}

/// Builds the raw functions the Lua half of `io` uses: `write`, `print`, `readline_start`,
/// `readline_poll`.
pub fn create_parts(
    lua: &Lua,
    ctx: &Rc<WorkerContext>,
    tostring: mlua::Function,
) -> mlua::Result<Table> {
    let parts = lua.create_table()?;
    let c = ctx.clone();
    parts.set(
        "write",
        lua.create_function(move |lua, args: MultiValue| {
            if !c.io_allowed() {
                return unavailable(lua, "write");
            }
            let mut out = Vec::new();
            for (i, arg) in args.iter().enumerate() {
                match arg {
                    LuaValue::String(s) => out.extend_from_slice(&s.as_bytes()),
                    LuaValue::Number(n) => out.extend_from_slice(errors::format_number(*n).as_bytes()),
                    LuaValue::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
                    other => {
                        return fail_with(
                            lua,
                            ErrorKind::Invalid,
                            format!(
                                "io.write: argument #{} is a {}; only strings and numbers are written",
                                i + 1,
                                convert::type_name(other)
                            ),
                        );
                    }
                }
            }
            write_stdout(&out);
            Ok(MultiValue::from_iter([LuaValue::Boolean(true)]))
        })?,
    )?;
    let c = ctx.clone();
    parts.set(
        "print",
        lua.create_function(move |lua, args: MultiValue| {
            if !c.io_allowed() {
                return unavailable(lua, "print");
            }
            write_stdout(&print::line(&tostring, args)?);
            Ok(MultiValue::from_iter([LuaValue::Boolean(true)]))
        })?,
    )?;
    let c = ctx.clone();
    parts.set(
        "readline_start",
        lua.create_function(move |lua, ()| {
            if !c.io_allowed() {
                return unavailable(lua, "readline");
            }
            let Some(waker) = c.waker() else {
                return fail_with(lua, ErrorKind::Invalid, "io.readline outside a process");
            };
            let slot: Slot = Arc::default();
            let request = Request {
                slot: slot.clone(),
                waker,
            };
            let sent = reader()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(request);
            if sent.is_err() {
                return fail_with(lua, ErrorKind::Unavailable, "io.readline: stdin is gone");
            }
            Ok(MultiValue::from_iter([LuaValue::UserData(
                lua.create_userdata(LineRequest(slot))?,
            )]))
        })?,
    )?;
    // `done, line`: whether the line is there, and the line (nil at the end of input).
    parts.set(
        "readline_poll",
        lua.create_function(|lua, request: AnyUserData| {
            let request = request.borrow::<LineRequest>()?;
            let slot = request.0.lock().unwrap_or_else(|e| e.into_inner());
            Ok(match &*slot {
                None => (false, None),
                Some(None) => (true, None),
                Some(Some(line)) => (true, Some(lua.create_string(line)?)),
            })
        })?,
    )?;
    Ok(parts)
}

/// Builds the `io` module; `wait` is the task scheduler's `wait_external`.
pub fn create_module(
    lua: &Lua,
    ctx: &Rc<WorkerContext>,
    tostring: mlua::Function,
    wait: mlua::Function,
) -> mlua::Result<Table> {
    let parts = create_parts(lua, ctx, tostring)?;
    lua.load(
        r#"
local parts, wait = ...
local start, poll = parts.readline_start, parts.readline_poll
local function readline()
    local request, err = start()
    if request == nil then
        return nil, err
    end
    while true do
        local done, line = poll(request)
        if done then
            return line
        end
        wait()
    end
end
return table.freeze({ write = parts.write, print = parts.print, readline = readline })
"#,
    )
    .set_name("=moonweave.io")
    .call((parts, wait))
}
