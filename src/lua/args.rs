//! Reading arguments of the runtime's Lua functions and returning the spec's results
//! (`value`, or `nil, err` with an error object; process.md §1). Entry ids are validated once
//! per worker thread and kept (the last two), since a spawning loop names the same ones.

use std::cell::RefCell;
use std::ffi::c_int;
use std::rc::Rc;

use super::errors::ErrorObject;
use super::raw::{self, Kind, Stack};
use crate::error::{ErrorKind, ErrorValue};

/// `nil, err`.
pub fn fail(stack: Stack<'_>, error: ErrorValue) -> raw::Result {
    stack.push_nil();
    stack.push_object(ErrorObject(error));
    raw::values(2)
}

/// `false, err` (the functions whose failure result is `false`).
pub fn fail_false(stack: Stack<'_>, error: ErrorValue) -> raw::Result {
    stack.push_bool(false);
    stack.push_object(ErrorObject(error));
    raw::values(2)
}

/// `true`.
pub fn done(stack: Stack<'_>) -> raw::Result {
    stack.push_bool(true);
    raw::values(1)
}

/// `true`, or `nil, err`.
pub fn outcome(stack: Stack<'_>, result: Result<(), ErrorValue>) -> raw::Result {
    match result {
        Ok(()) => done(stack),
        Err(e) => fail(stack, e),
    }
}

/// An `INVALID` error.
pub fn invalid(message: impl Into<crate::bytes::Bytes>) -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, message)
}

/// The name of the value at `index` as messages give it: runtime objects by their type
/// (`channel`, `Message`, …), other values by `type()`.
pub fn type_name(stack: Stack<'_>, index: c_int) -> &'static str {
    match stack.kind(index) {
        Kind::Userdata => super::objects::name_of_tag(stack.tag(index)).unwrap_or("userdata"),
        kind => kind.name(),
    }
}

/// A non-empty string argument.
pub fn non_empty<'a>(stack: Stack<'a>, index: c_int) -> Option<&'a [u8]> {
    stack.bytes(index).filter(|b| !b.is_empty())
}

thread_local! {
    /// The last entry ids [`entry_id`] validated on this thread, newest first.
    static RECENT_IDS: RefCell<[Option<Rc<str>>; 2]> = const { RefCell::new([None, None]) };
}

/// A full entry id argument `namespace:name`. A spawning loop names the same entry and host
/// each time, so the last two ids validated are kept and a hit only compares bytes (validating
/// UTF-8 and the id's form again was about 270 instructions an id).
pub fn entry_id(stack: Stack<'_>, index: c_int) -> Option<Rc<str>> {
    let bytes = stack.bytes(index)?;
    RECENT_IDS.with_borrow_mut(|recent| {
        if let Some(id) = recent.iter().flatten().find(|id| id.as_bytes() == bytes) {
            return Some(id.clone());
        }
        let text = std::str::from_utf8(bytes).ok()?;
        if !crate::app::is_entry_id(text) {
            return None;
        }
        let id: Rc<str> = text.into();
        recent.rotate_right(1);
        recent[0] = Some(id.clone());
        Some(id)
    })
}

/// A topic: a non-empty string that does not start with `@` (the rule every sender shares).
pub fn topic<'a>(stack: Stack<'a>, index: c_int) -> Option<&'a [u8]> {
    stack.bytes(index).filter(|t| crate::sched::valid_topic(t))
}

/// Raises "too many arguments" when the call got more than `most` arguments (a mistake such
/// as `inbox:receive(100)` would otherwise be ignored silently).
pub fn at_most(stack: Stack<'_>, most: c_int, function: &str) -> Result<(), raw::Raise> {
    if stack.top() > most {
        return Err(raw::Raise::Object(invalid(format!(
            "{function}: expected at most {most} argument{}, got {}",
            if most == 1 { "" } else { "s" },
            stack.top()
        ))));
    }
    Ok(())
}
