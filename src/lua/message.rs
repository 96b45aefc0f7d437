//! The Lua side of messages: `process.send`, the process channels (`inbox`, `events`,
//! `listen`/`unlisten`), Message objects and lifecycle event tables (process.md §3, §4, §6).
//!
//! What happens on send is in `sched/send.rs`; here the arguments are read and the payload is
//! copied. What happens on receive: a receive on a process channel takes the oldest matching
//! message or event from the process's buffers (`proc/local.rs`) — [`poll`] — and, when there
//! is none, blocks its task as waiting for the world (`channel.rs`). A message becomes a
//! Message object holding the message itself; its payload is turned into Lua values when
//! `payload()` asks, once for tables (so repeated calls return the same tables).

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::Arc;

use super::args::{at_most, done, fail, fail_false, invalid, non_empty, topic};
use super::channel::{ChannelKind, ChannelObject, current_owner};
use super::convert;
use super::errors::ErrorObject;
use super::objects;
use super::raw::{self, Kind, LuaRef, Object, Raise, Stack, lua_fn};
use super::run::core;
use crate::proc::{Envelope, Event, Exit, Sender, Wanted};
use crate::sched::Core;
use crate::security::Permission;
use crate::value::{Payload, Value};

/// A received message.
pub struct MessageObject {
    envelope: Envelope,
    /// The payload as a Lua table of values, once `payload()` made it (only when it has
    /// tables, which must be the same on every call).
    values: Cell<Option<LuaRef>>,
}

impl Object for MessageObject {
    const TAG: c_int = objects::MESSAGE;
    const NAME: &'static str = "Message";
}

fn this<'a>(stack: Stack<'a>, method: &str) -> Result<&'a MessageObject, Raise> {
    stack.object::<MessageObject>(1).ok_or_else(|| {
        Raise::Object(invalid(format!(
            "Message:{method} must be called on a Message"
        )))
    })
}

lua_fn! {
    fn message_topic(stack) {
        at_most(stack, 1, "Message:topic")?;
        let message = this(stack, "topic")?;
        stack.push_bytes(&message.envelope.topic);
        raw::values(1)
    }
}

lua_fn! {
    fn message_from(stack) {
        at_most(stack, 1, "Message:from")?;
        let from = this(stack, "from")?.envelope.from;
        match from {
            Some(sender) => push_sender(stack, &*core()?, sender),
            None => stack.push_nil(),
        }
        raw::values(1)
    }
}

lua_fn! {
    fn message_payload(stack) {
        at_most(stack, 1, "Message:payload")?;
        let message = this(stack, "payload")?;
        let payload = &message.envelope.payload;
        let n = payload.len() as c_int;
        if !payload.has_tables() {
            for value in payload.as_slice() {
                convert::push_value(stack, value);
            }
            return raw::values(n);
        }
        let cached = message.values.take();
        let values = match cached {
            Some(values) => values,
            None => {
                stack.new_table(n as usize, 0);
                for (i, value) in payload.as_slice().iter().enumerate() {
                    convert::push_value(stack, value);
                    stack.raw_set_index(-2, i + 1);
                }
                let r = stack.make_ref(-1);
                stack.pop(1);
                r
            }
        };
        stack.push_ref(&values);
        message.values.set(Some(values));
        let table = stack.top();
        for i in 1..=n as usize {
            stack.raw_get_index(table, i);
        }
        stack.remove(table);
        raw::values(n)
    }
}

lua_fn! {
    fn message_to_string(stack) {
        let message = this(stack, "__tostring")?;
        let mut text = b"Message(".to_vec();
        text.extend_from_slice(&message.envelope.topic);
        text.push(b')');
        stack.push_bytes(&text);
        raw::values(1)
    }
}

/// Registers the Message object type.
pub fn register(stack: Stack<'_>) {
    raw::register::<MessageObject>(
        stack,
        &[
            raw::method(c"topic", message_topic),
            raw::method(c"from", message_from),
            raw::method(c"payload", message_payload),
        ],
        &[raw::method(c"__tostring", message_to_string)],
    );
}

/// Pushes the PID text of `sender`.
fn push_sender(stack: Stack<'_>, core: &Core, sender: Sender) {
    let text = if sender.host & crate::dist::REMOTE_SENDER == 0 {
        sender.pid.format(core.host_id(sender.host as usize))
    } else {
        core.shared.sender_text(sender)
    };
    stack.push_bytes(text.as_bytes());
}

/// Pushes a Message object for `envelope`.
fn push_message(stack: Stack<'_>, envelope: Envelope) {
    stack.push_object(MessageObject {
        envelope,
        values: Cell::new(None),
    });
}

/// Takes what a process channel has waiting and pushes `value, true` (or `nil, false` for a
/// listener that was closed); the number of values pushed, or `None` when nothing waits.
pub fn poll(stack: Stack<'_>, core: &Core, kind: ChannelKind) -> Option<c_int> {
    match kind {
        ChannelKind::Inbox => {
            let envelope = core
                .with_current(|p| p.local.take_message(Wanted::Inbox))
                .flatten()?;
            push_message(stack, envelope);
        }
        ChannelKind::Events => {
            let event = core.with_current(|p| p.local.pop_event()).flatten()?;
            push_event(stack, &event);
        }
        ChannelKind::Topic(id) => {
            let taken = core.with_current(|p| {
                let Some(listener) = p.local.listener_by_id(id) else {
                    return Some(None);
                };
                let (topic, as_message) = (listener.topic.clone(), listener.as_message);
                p.local
                    .take_message(Wanted::Topic(&topic))
                    .map(|e| Some((e, as_message)))
            });
            match taken.flatten() {
                None => return None,
                Some(None) => {
                    stack.push_nil();
                    stack.push_bool(false);
                    return Some(2);
                }
                Some(Some((envelope, true))) => push_message(stack, envelope),
                Some(Some((envelope, false))) => match envelope.payload.as_slice().first() {
                    Some(first) => convert::push_value(stack, first),
                    None => stack.push_nil(),
                },
            }
        }
        ChannelKind::Local(_) | ChannelKind::Time(_) => return None,
    }
    stack.push_bool(true);
    Some(2)
}

/// Pushes the Lua table of a lifecycle event.
fn push_event(stack: Stack<'_>, event: &Event) {
    stack.new_table(0, 4);
    let table = stack.top();
    let (kind, from) = match event {
        Event::Exit { from, .. } => ("pid.exit", from),
        Event::LinkDown { from, .. } => ("pid.link.down", from),
        Event::Cancel { from, .. } => ("pid.cancel", from),
    };
    stack.push_bytes(kind.as_bytes());
    stack.raw_set_field(table, c"kind");
    stack.push_bytes(from.as_bytes());
    stack.raw_set_field(table, c"from");
    match event {
        Event::Exit { exit, .. } | Event::LinkDown { exit, .. } => {
            push_result(stack, exit);
            stack.raw_set_field(table, c"result");
        }
        Event::Cancel { deadline, .. } => {
            if let Some(deadline) = deadline {
                stack.push_bytes(crate::log::rfc3339(*deadline).as_bytes());
                stack.raw_set_field(table, c"deadline");
            }
        }
    }
}

/// Pushes `{value = v}` or `{error = e}`: each receiver gets its own copy.
pub fn push_result(stack: Stack<'_>, exit: &Arc<Exit>) {
    stack.new_table(0, 1);
    match &**exit {
        Exit::Normal(value) => {
            convert::push_value(stack, value);
            stack.raw_set_field(-2, c"value");
        }
        Exit::Failed(error) => {
            stack.push_object(ErrorObject(error.clone()));
            stack.raw_set_field(-2, c"error");
        }
    }
}

/// Copies the payload at `first..=top`. A single number or string (most payloads) is built
/// straight into its `Payload`, not moved through a `Result<Value, _>` first: those moves were
/// half of `send`'s own samples (stores of the parts, then wide loads of the whole).
fn payload(stack: Stack<'_>, first: c_int) -> Result<Payload, crate::error::ErrorValue> {
    let top = stack.top();
    if top == first
        && let Some(scalar) = stack.scalar(first)
    {
        return Ok(Payload::One(Value::from(scalar)));
    }
    Ok(match top - first + 1 {
        n if n <= 0 => Payload::Empty,
        1 => Payload::One(convert::to_value(stack, first)?),
        _ => Payload::from(convert::to_values(stack, first, top)?),
    })
}

lua_fn! {
    /// `process.send(dest, topic, ...)`.
    pub fn send(stack) {
        let Some(dest) = non_empty(stack, 1) else {
            return fail(stack, invalid("send: dest must be a PID or a name"));
        };
        let Some(topic) = topic(stack, 2) else {
            return fail(stack, invalid("send: topic must be a non-empty string that does not start with '@'"));
        };
        let payload = match payload(stack, 3) {
            Ok(payload) => payload,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        let from = core.current_identity().map(|(_, pid)| Sender {
            host: core.host as u32,
            pid,
        });
        let sent = core.with_destination(dest, dest.as_ptr() as usize, |target| {
            core.permit(Permission::Send, target.pid_text.as_bytes())?;
            core.send(target, dest, Envelope { from, topic: topic.into(), payload })
        });
        match sent.and_then(|sent| sent) {
            Ok(()) => done(stack),
            Err(e) => fail(stack, e),
        }
    }
}

/// Pushes the object cached in `slot` of the running process, making it with `make` first.
fn cached(
    stack: Stack<'_>,
    core: &Core,
    get: impl Fn(&mut crate::sched::Proc) -> &mut Option<LuaRef>,
    make: impl FnOnce(Stack<'_>),
) -> raw::Result {
    let found = core.with_current(|p| get(p).as_ref().map(|r| stack.push_ref(r)));
    match found {
        Some(Some(())) => raw::values(1),
        Some(None) => {
            make(stack);
            let r = stack.make_ref(-1);
            core.with_current(|p| *get(p) = Some(r));
            raw::values(1)
        }
        None => raw::raise("no process is running"),
    }
}

lua_fn! {
    /// `process.inbox()`: the same channel object on every call.
    pub fn inbox(stack) {
        let core = core()?;
        let owner = current_owner(&core).ok_or_else(|| Raise::Text("no process is running".into()))?;
        cached(stack, &core, |p| &mut p.lua.inbox, |s| {
            s.push_object(ChannelObject { owner, kind: ChannelKind::Inbox })
        })
    }
}

lua_fn! {
    /// `process.events()`: the same channel object on every call.
    pub fn events(stack) {
        let core = core()?;
        let owner = current_owner(&core).ok_or_else(|| Raise::Text("no process is running".into()))?;
        cached(stack, &core, |p| &mut p.lua.events, |s| {
            s.push_object(ChannelObject { owner, kind: ChannelKind::Events })
        })
    }
}

lua_fn! {
    /// `process.pid()`.
    pub fn pid(stack) {
        let Some(core) = crate::sched::current_core() else {
            return fail(stack, invalid("no process is running"));
        };
        let text = core.current_process().map(|p| p.pid_text.clone());
        let Some(text) = text else {
            return fail(stack, invalid("no process is running"));
        };
        cached(stack, &core, |p| &mut p.lua.pid, |s| s.push_bytes(text.as_bytes()))
    }
}

lua_fn! {
    /// `process.listen(topic, options?)`.
    pub fn listen(stack) {
        let Some(topic) = topic(stack, 1).map(<[u8]>::to_vec) else {
            return fail(stack, invalid("listen: topic must be a non-empty string that does not start with '@'"));
        };
        let mut as_message = false;
        match stack.kind(2) {
            Kind::None | Kind::Nil => {}
            Kind::Table => {
                stack.push_nil();
                while stack.next(2) {
                    let valid = stack.bytes(-2) == Some(b"message") && stack.kind(-1) == Kind::Boolean;
                    if !valid {
                        stack.pop(2);
                        return fail(stack, invalid("listen: the only option is message = <boolean>"));
                    }
                    as_message = stack.truthy(-1);
                    stack.pop(1);
                }
            }
            _ => return fail(stack, invalid("listen: options must be a table")),
        }
        let core = core()?;
        let owner = current_owner(&core).ok_or_else(|| Raise::Text("no process is running".into()))?;
        let pushed = core.with_current(|p| {
            if let Some(listener) = p.local.listener(&topic) {
                stack.push_ref(&listener.object);
                return;
            }
            p.local.listen(topic.as_slice().into(), as_message, |id| {
                stack.push_object(ChannelObject { owner, kind: ChannelKind::Topic(id) });
                stack.make_ref(-1)
            });
            // Messages of this topic waiting in the buffer are the listener's now.
            p.local.signaled = true;
        });
        if pushed.is_none() {
            return raw::raise("no process is running");
        }
        raw::values(1)
    }
}

lua_fn! {
    /// `process.unlisten(ch)`.
    pub fn unlisten(stack) {
        let core = core()?;
        let owner = current_owner(&core);
        let id = match stack.object::<ChannelObject>(1) {
            Some(ch) if Some(ch.owner) == owner => match ch.kind {
                ChannelKind::Topic(id) => Some(id),
                _ => None,
            },
            _ => None,
        };
        let Some(id) = id else {
            return fail_false(stack, invalid("unlisten: not a channel returned by process.listen"));
        };
        core.with_current(|p| {
            if p.local.unlisten(id).is_some() {
                // Tasks blocked on it see it closed; its messages go to the inbox again.
                p.local.tasks.wake_external();
                p.local.signaled = true;
            }
        });
        done(stack)
    }
}
