//! Channel and case objects, the `channel` module and `channel.select` (stdlib.md §5).
//!
//! A channel object is a tagged userdata naming a channel of its process: one of the process
//! channels (inbox, events, a topic listener), read from the process's buffers, or a channel
//! of the task scheduler (`channel.new`, and the time channels of `time.after`, `timer`,
//! `ticker`, which are receive-only). Its state lives in Rust (`proc::tasks`); when the
//! collector frees the object, the channel is dropped with it (see [`release_dropped`]).

use std::cell::RefCell;
use std::ffi::c_int;

use super::args::{at_most, invalid, type_name};
use super::message;
use super::objects;
use super::raw::{self, Kind, LuaRef, Object, Raise, Stack, lua_cont, lua_fn};
use super::run::{block, core, take_delivery};
use super::time::TimeObject;
use crate::proc::{ChanId, ChannelError, Delivery, Item, Pid, Wait};
use crate::sched::Core;

/// The process a channel belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub slot: u32,
    pub pid: Pid,
}

/// Which channel an object names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A channel between tasks (`channel.new`).
    Local(ChanId),
    /// A time channel: receive-only, fed by a time entry.
    Time(ChanId),
    Inbox,
    Events,
    /// A `process.listen` channel, by listener id.
    Topic(u32),
}

/// A channel object.
#[derive(Debug)]
pub struct ChannelObject {
    pub owner: Owner,
    pub kind: ChannelKind,
}

impl Object for ChannelObject {
    const TAG: c_int = objects::CHANNEL;
    const NAME: &'static str = "channel";
}

thread_local! {
    /// Channels of the task scheduler whose objects were collected.
    static DROPPED: RefCell<Vec<(Owner, ChanId)>> = const { RefCell::new(Vec::new()) };
}

impl Drop for ChannelObject {
    fn drop(&mut self) {
        if let ChannelKind::Local(id) | ChannelKind::Time(id) = self.kind {
            let owner = self.owner;
            let _ = DROPPED.try_with(|d| {
                if let Ok(mut d) = d.try_borrow_mut() {
                    d.push((owner, id));
                }
            });
        }
    }
}

/// Drops the channels whose objects were collected (the worker calls this between runs).
pub fn release_dropped(core: &Core) {
    let dropped = DROPPED.with(|d| std::mem::take(&mut *d.borrow_mut()));
    for (owner, id) in dropped {
        let entry = core.with_proc(owner.slot, |p| {
            if p.local.process.pid != owner.pid {
                return None;
            }
            p.local.tasks.drop_channel(id);
            p.local.time.remove_for_channel(id)
        });
        if let Some(Some(entry)) = entry {
            core.cancel_time_entries([entry.seq]);
        }
    }
}

/// A case object of `select`: its channel (the object), and the value of a send case.
#[derive(Debug)]
pub struct CaseObject {
    channel: LuaRef,
    owner: Owner,
    kind: ChannelKind,
    send: Option<LuaRef>,
}

impl Object for CaseObject {
    const TAG: c_int = objects::CASE;
    const NAME: &'static str = "case";
}

/// The owner of the running process.
pub fn current_owner(core: &Core) -> Option<Owner> {
    let (slot, pid) = core.current_identity()?;
    Some(Owner { slot, pid })
}

/// The channel object at `index`, which must belong to the running process.
fn channel<'a>(stack: Stack<'a>, index: c_int, what: &str) -> Result<&'a ChannelObject, Raise> {
    let Some(ch) = stack.object::<ChannelObject>(index) else {
        return Err(Raise::Object(invalid(format!(
            "channel {what}: expected a channel, got {}",
            type_name(stack, index)
        ))));
    };
    let core = core()?;
    if current_owner(&core) != Some(ch.owner) {
        return raw::raise(format!(
            "channel {what}: the channel belongs to another process"
        ));
    }
    Ok(ch)
}

fn writable(stack: Stack<'_>, what: &str) -> Result<ChanId, Raise> {
    match channel(stack, 1, what)?.kind {
        ChannelKind::Local(id) => Ok(id),
        _ => raw::raise(format!("cannot {what} on a receive-only channel")),
    }
}

/// Pushes a received item and `true`.
fn push_item(stack: Stack<'_>, item: Item<LuaRef>) {
    match item {
        Item::Value(value) => stack.push_ref(&value),
        Item::Time(ns) => stack.push_object(TimeObject(ns)),
    }
}

/// Pushes the result of a receive: `v, true`, or `nil, false` when closed.
fn push_received(stack: Stack<'_>, item: Option<Item<LuaRef>>) -> raw::Result {
    match item {
        Some(item) => {
            push_item(stack, item);
            stack.push_bool(true);
        }
        None => {
            stack.push_nil();
            stack.push_bool(false);
        }
    }
    raw::values(2)
}

fn gone() -> Raise {
    Raise::Text("the channel is gone".into())
}

// ---- ch:receive() ----------------------------------------------------------------------------

fn receive_now(stack: Stack<'_>, core: &Core, kind: ChannelKind) -> Result<Option<c_int>, Raise> {
    match kind {
        ChannelKind::Local(id) | ChannelKind::Time(id) => {
            let got = core
                .with_current(|p| p.local.tasks.recv(id))
                .ok_or_else(gone)?
                .map_err(|_| gone())?;
            Ok(match got {
                Some(item) => {
                    push_received(stack, item)?;
                    Some(2)
                }
                None => None,
            })
        }
        process => Ok(message::poll(stack, core, process)),
    }
}

lua_fn! {
    fn receive(stack) {
        at_most(stack, 1, "receive")?;
        let kind = channel(stack, 1, "receive")?.kind;
        let core = core()?;
        if let Some(n) = receive_now(stack, &core, kind)? {
            return raw::values(n);
        }
        match kind {
            ChannelKind::Local(id) | ChannelKind::Time(id) => block(stack, Wait::Receive(id)),
            _ => block(stack, Wait::External),
        }
    }
}

lua_cont! {
    fn receive_continue(stack) {
        let kind = channel(stack, 1, "receive")?.kind;
        let core = core()?;
        match take_delivery(&core) {
            Some(Delivery::Received(item)) => push_received(stack, item),
            _ => match receive_now(stack, &core, kind)? {
                Some(n) => raw::values(n),
                None => match kind {
                    ChannelKind::Local(id) | ChannelKind::Time(id) => block(stack, Wait::Receive(id)),
                    _ => block(stack, Wait::External),
                },
            },
        }
    }
}

// ---- ch:send(v), ch:close() ------------------------------------------------------------------

fn closed() -> raw::Result {
    raw::raise("send on closed channel")
}

/// Sends the value at index 2 on channel `id`, or blocks the task until it can.
fn send_or_block(stack: Stack<'_>, core: &Core, id: ChanId) -> raw::Result {
    stack.set_top(2);
    let value = stack.make_ref(2);
    let sent = core
        .with_current(|p| p.local.tasks.send(id, Item::Value(value)))
        .ok_or_else(gone)?;
    match sent {
        Ok(None) => {
            stack.push_bool(true);
            raw::values(1)
        }
        Ok(Some(item)) => block(stack, Wait::Send(id, item)),
        Err(ChannelError::Closed) => closed(),
        Err(ChannelError::Gone) => Err(gone()),
    }
}

lua_fn! {
    fn send(stack) {
        at_most(stack, 2, "send")?;
        let id = writable(stack, "send")?;
        let core = core()?;
        send_or_block(stack, &core, id)
    }
}

lua_cont! {
    fn send_continue(stack) {
        let core = core()?;
        match take_delivery(&core) {
            Some(Delivery::Sent) => {
                stack.push_bool(true);
                raw::values(1)
            }
            Some(Delivery::SendOnClosed) => closed(),
            // Woken without an outcome: wait again where the task was.
            _ => {
                let id = writable(stack, "send")?;
                send_or_block(stack, &core, id)
            }
        }
    }
}

lua_fn! {
    fn close(stack) {
        at_most(stack, 1, "close")?;
        let id = writable(stack, "close")?;
        let core = core()?;
        core.with_current(|p| p.local.tasks.close(id));
        raw::values(0)
    }
}

// ---- cases and select ------------------------------------------------------------------------

lua_fn! {
    fn case_receive(stack) {
        at_most(stack, 1, "case_receive")?;
        let ch = channel(stack, 1, "case_receive")?;
        let (owner, kind) = (ch.owner, ch.kind);
        let channel = stack.make_ref(1);
        stack.push_object(CaseObject { channel, owner, kind, send: None });
        raw::values(1)
    }
}

lua_fn! {
    fn case_send(stack) {
        at_most(stack, 2, "case_send")?;
        writable(stack, "case_send")?;
        let ch = channel(stack, 1, "case_send")?;
        let (owner, kind) = (ch.owner, ch.kind);
        stack.set_top(2);
        let channel = stack.make_ref(1);
        let value = stack.make_ref(2);
        stack.push_object(CaseObject { channel, owner, kind, send: Some(value) });
        raw::values(1)
    }
}

lua_fn! {
    fn to_string(stack) {
        let label = match stack.object::<ChannelObject>(1).map(|c| c.kind) {
            Some(ChannelKind::Local(_)) => "channel".to_string(),
            Some(ChannelKind::Time(_)) => "channel(time)".to_string(),
            Some(ChannelKind::Inbox) => "channel(inbox)".to_string(),
            Some(ChannelKind::Events) => "channel(events)".to_string(),
            Some(ChannelKind::Topic(_)) => "channel(listen)".to_string(),
            None => "channel".to_string(),
        };
        stack.push_bytes(label.as_bytes());
        raw::values(1)
    }
}

/// Pushes a select result table `{channel = ch, value = v, ok = ok}`.
fn push_result(stack: Stack<'_>, case: &CaseObject, push_value: impl FnOnce(Stack<'_>), ok: bool) {
    stack.new_table(0, 3);
    let table = stack.top();
    stack.push_ref(&case.channel);
    stack.raw_set_field(table, c"channel");
    push_value(stack);
    stack.raw_set_field(table, c"value");
    stack.push_bool(ok);
    stack.raw_set_field(table, c"ok");
}

/// The most cases one select takes (each is a stack slot for the call; Luau's stack holds
/// 8,000).
const MAX_CASES: usize = 4096;

/// Stack slot of the number of cases; the cases themselves follow it.
const CASE_COUNT: c_int = 2;

/// Checks the cases of the select table at index 1 and copies them onto the stack after their
/// count (slot [`CASE_COUNT`]): the stack keeps them alive for the whole call, and the
/// continuation reads them there, whatever other tasks do to the table meanwhile.
fn collect_cases(stack: Stack<'_>) -> Result<(Vec<&CaseObject>, bool), Raise> {
    if stack.kind(1) != Kind::Table {
        return Err(Raise::Object(invalid(
            "channel.select: expected a table of cases",
        )));
    }
    stack.raw_get_field(1, c"default");
    let default = match stack.kind(-1) {
        Kind::Nil => false,
        Kind::Boolean => stack.truthy(-1),
        _ => {
            stack.pop(1);
            return Err(Raise::Object(invalid(
                "channel.select: default must be a boolean",
            )));
        }
    };
    stack.pop(1);
    let n = stack.raw_len(1);
    if n == 0 && !default {
        return Err(Raise::Object(invalid(
            "channel.select: no cases and no default",
        )));
    }
    if n > MAX_CASES {
        return Err(Raise::Object(invalid(format!(
            "channel.select: {n} cases, at most {MAX_CASES}"
        ))));
    }
    let core = core()?;
    let owner = current_owner(&core);
    stack.set_top(1);
    stack.push_number(n as f64);
    for i in 1..=n {
        stack.raw_get_index(1, i);
        match stack.object::<CaseObject>(-1) {
            Some(case) if Some(case.owner) == owner => {}
            Some(_) => {
                return raw::raise("channel.select: a case belongs to another process");
            }
            None => {
                return Err(Raise::Object(invalid(format!(
                    "channel.select: case {i} is not a case_send or case_receive"
                ))));
            }
        }
    }
    Ok((stored_cases(stack), default))
}

/// The cases [`collect_cases`] left on the stack (dropping anything above them).
fn stored_cases<'a>(stack: Stack<'a>) -> Vec<&'a CaseObject> {
    let n = stack.number(CASE_COUNT).unwrap_or(0.0) as c_int;
    stack.set_top(CASE_COUNT + n);
    (1..=n)
        .filter_map(|i| stack.object::<CaseObject>(CASE_COUNT + i))
        .collect()
}

/// Performs the first ready case; the number of values pushed (the result table), or `None`.
fn select_now(
    stack: Stack<'_>,
    core: &Core,
    cases: &[&CaseObject],
) -> Result<Option<c_int>, Raise> {
    for case in cases {
        match (case.kind, &case.send) {
            (ChannelKind::Local(id), Some(value)) => {
                stack.push_ref(value);
                let item = Item::Value(stack.make_ref(-1));
                stack.pop(1);
                let sent = core
                    .with_current(|p| p.local.tasks.send(id, item))
                    .ok_or_else(gone)?;
                match sent {
                    Ok(None) => {
                        push_result(stack, case, |s| s.push_ref(value), true);
                        return Ok(Some(1));
                    }
                    Ok(Some(_item)) => {}
                    Err(_) => return Err(Raise::Text("send on closed channel".into())),
                }
            }
            (ChannelKind::Local(id) | ChannelKind::Time(id), None) => {
                let got = core
                    .with_current(|p| p.local.tasks.recv(id))
                    .ok_or_else(gone)?
                    .map_err(|_| gone())?;
                if let Some(item) = got {
                    let ok = item.is_some();
                    push_result(
                        stack,
                        case,
                        |s| match item {
                            Some(item) => push_item(s, item),
                            None => s.push_nil(),
                        },
                        ok,
                    );
                    return Ok(Some(1));
                }
            }
            (process, None) => {
                if message::poll(stack, core, process).is_some() {
                    // poll pushed `value, ok`.
                    let ok = stack.truthy(-1);
                    stack.pop(1);
                    let value = stack.make_ref(-1);
                    stack.pop(1);
                    push_result(stack, case, |s| s.push_ref(&value), ok);
                    return Ok(Some(1));
                }
            }
            (_, Some(_)) => return raw::raise("cannot send on a receive-only channel"),
        }
    }
    Ok(None)
}

/// Blocks the running task on every case.
fn select_block(stack: Stack<'_>, cases: &[&CaseObject]) -> raw::Result {
    let mut local = Vec::new();
    let mut external = false;
    for (i, case) in cases.iter().enumerate() {
        match (case.kind, &case.send) {
            (ChannelKind::Local(id), Some(value)) => {
                stack.push_ref(value);
                let item = Item::Value(stack.make_ref(-1));
                stack.pop(1);
                local.push((i, id, Some(item)));
            }
            (ChannelKind::Local(id) | ChannelKind::Time(id), None) => local.push((i, id, None)),
            _ => external = true,
        }
    }
    block(
        stack,
        Wait::Select {
            cases: &mut local,
            external,
        },
    )
}

fn select_or_block(stack: Stack<'_>, cases: &[&CaseObject], default: bool) -> raw::Result {
    let core = core()?;
    if let Some(n) = select_now(stack, &core, cases)? {
        return raw::values(n);
    }
    if default {
        stack.new_table(0, 2);
        stack.push_bool(true);
        stack.raw_set_field(-2, c"default");
        stack.push_bool(true);
        stack.raw_set_field(-2, c"ok");
        return raw::values(1);
    }
    select_block(stack, cases)
}

lua_fn! {
    fn select(stack) {
        at_most(stack, 1, "channel.select")?;
        let (cases, default) = collect_cases(stack)?;
        select_or_block(stack, &cases, default)
    }
}

lua_cont! {
    fn select_continue(stack) {
        let core = core()?;
        let cases = stored_cases(stack);
        match take_delivery(&core) {
            Some(Delivery::Selected { case, item, ok }) => {
                let Some(chosen) = cases.get(case) else {
                    return Err(gone());
                };
                match (&chosen.send, item) {
                    (Some(value), _) => push_result(stack, chosen, |s| s.push_ref(value), true),
                    (None, item) => push_result(
                        stack,
                        chosen,
                        |s| match item {
                            Some(item) => push_item(s, item),
                            None => s.push_nil(),
                        },
                        ok,
                    ),
                }
                raw::values(1)
            }
            Some(Delivery::SelectSendOnClosed) => closed(),
            // Woken without a case (a process message arrived): try again; a task that
            // blocked had no default.
            _ => select_or_block(stack, &cases, false),
        }
    }
}

lua_fn! {
    /// `channel.new(size?)`.
    fn new(stack) {
        at_most(stack, 1, "channel.new")?;
        let size = match stack.kind(1) {
            Kind::None | Kind::Nil => 0.0,
            Kind::Number => stack.number(1).unwrap_or(-1.0),
            _ => -1.0,
        };
        if !(0.0..2f64.powi(31)).contains(&size) || size.fract() != 0.0 {
            return Err(Raise::Object(invalid("channel.new: size must be a whole number >= 0")));
        }
        let core = core()?;
        let owner = current_owner(&core).ok_or_else(|| Raise::Text("channel.new outside a process".into()))?;
        let id = core.with_current(|p| p.local.tasks.open(size as usize)).ok_or_else(gone)?;
        stack.push_object(ChannelObject { owner, kind: ChannelKind::Local(id) });
        raw::values(1)
    }
}

/// Pushes a new time channel of the running process (room for one timestamp).
pub fn push_time_channel(stack: Stack<'_>, core: &Core) -> Result<ChanId, Raise> {
    let owner = current_owner(core).ok_or_else(|| Raise::Text("outside a process".into()))?;
    let id = core
        .with_current(|p| p.local.tasks.open(1))
        .ok_or_else(gone)?;
    stack.push_object(ChannelObject {
        owner,
        kind: ChannelKind::Time(id),
    });
    Ok(id)
}

/// Registers the channel and case object types.
pub fn register(stack: Stack<'_>) {
    raw::register::<ChannelObject>(
        stack,
        &[
            raw::blocking(c"receive", receive, receive_continue),
            raw::blocking(c"send", send, send_continue),
            raw::method(c"close", close),
            raw::method(c"case_receive", case_receive),
            raw::method(c"case_send", case_send),
        ],
        &[raw::method(c"__tostring", to_string)],
    );
    raw::register::<CaseObject>(stack, &[], &[]);
}

/// Pushes the `channel` module table (frozen).
pub fn push_module(stack: Stack<'_>) {
    raw::push_table(
        stack,
        &[
            raw::method(c"new", new),
            raw::blocking(c"select", select, select_continue),
        ],
    );
    stack.freeze(-1);
}
