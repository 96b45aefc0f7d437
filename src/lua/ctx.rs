//! The `ctx` module (stdlib.md §7.2): read-only context values a process inherits from its
//! ancestors (process.md §12). Every read returns a fresh copy.

use super::args::{fail, non_empty};
use super::convert;
use super::raw::{self, LuaRef, Stack, lua_fn};
use super::run::core;
use crate::error::{ErrorKind, ErrorValue};

lua_fn! {
    fn get(stack) {
        let Some(key) = non_empty(stack, 1) else {
            return fail(stack, ErrorValue::new(ErrorKind::Invalid, "ctx.get: the key must be a non-empty string"));
        };
        let core = core()?;
        let context = core.current_process().and_then(|p| p.context.clone());
        let found = context
            .as_deref()
            .and_then(|values| values.iter().rev().find(|(k, _)| k.as_bytes() == key));
        match found {
            Some((_, value)) => {
                convert::push_value(stack, value);
                raw::values(1)
            }
            None => {
                let mut message = b"ctx.get: no context value '".to_vec();
                message.extend_from_slice(key);
                message.push(b'\'');
                fail(stack, ErrorValue::new(ErrorKind::NotFound, message))
            }
        }
    }
}

lua_fn! {
    fn all(stack) {
        let core = core()?;
        let context = core.current_process().and_then(|p| p.context.clone());
        let values = context.as_deref().unwrap_or_default();
        stack.new_table(0, values.len());
        let table = stack.top();
        for (key, value) in values {
            stack.push_bytes(key);
            convert::push_value(stack, value);
            stack.raw_set(table);
        }
        raw::values(1)
    }
}

/// Builds the `ctx` module (frozen).
pub fn module(stack: Stack<'_>) -> LuaRef {
    raw::push_table(stack, &[raw::method(c"get", get), raw::method(c"all", all)]);
    stack.freeze(-1);
    let r = stack.make_ref(-1);
    stack.pop(1);
    r
}
