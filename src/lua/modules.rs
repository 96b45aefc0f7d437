//! `require(name)`: the modules and libraries code may use (stdlib.md §7, app-format.md §2.1,
//! §2.5).
//!
//! `process`, `channel` and `errors` are always available. Other modules must be listed in the
//! requiring code's `modules` (zero-config entries may use all). Any other name is a library:
//! an alias in the code's `imports`, or in zero-config mode a file of the app. A library runs
//! once per process, the first time that process requires it, in the process's environment;
//! its own `require` answers with the library's lists.

use std::sync::Arc;

use super::args::type_name;
use super::raw::{self, GLOBALS, LuaRef, Raise, Stack, lua_fn};
use super::run::core;
use super::vm::current_vm;
use crate::app::{MODULES, ProcessEntry};
use crate::error::{ErrorKind, ErrorValue};

/// The module tables of a VM (frozen, shared by every process).
pub struct Modules {
    pub time: LuaRef,
    pub json: LuaRef,
    pub logger: LuaRef,
    pub ctx: LuaRef,
    pub io: LuaRef,
    pub security: LuaRef,
    pub supervisor: LuaRef,
    /// The embedding program's native modules, by name (any process may require them).
    pub native: std::collections::HashMap<String, LuaRef>,
}

impl Modules {
    fn get(&self, name: &str) -> Option<&LuaRef> {
        Some(match name {
            "time" => &self.time,
            "json" => &self.json,
            "logger" => &self.logger,
            "ctx" => &self.ctx,
            "io" => &self.io,
            "security" => &self.security,
            "supervisor" => &self.supervisor,
            _ => return None,
        })
    }
}

fn not_found(message: String) -> Raise {
    Raise::Object(ErrorValue::new(ErrorKind::NotFound, message))
}

/// Pushes what `require(name)` gives `requirer`.
fn resolve(stack: Stack<'_>, requirer: &Arc<ProcessEntry>, name: &[u8]) -> raw::Result {
    let Ok(name) = std::str::from_utf8(name) else {
        return Err(not_found(format!(
            "module '{}' is not available to {}",
            String::from_utf8_lossy(name),
            requirer.id
        )));
    };
    match name {
        "process" => stack.raw_get_field(GLOBALS, c"process"),
        "channel" => stack.raw_get_field(GLOBALS, c"channel"),
        "errors" => stack.raw_get_field(GLOBALS, c"errors"),
        _ if MODULES.contains(&name) => {
            if !requirer.modules.iter().any(|m| m == name) {
                return Err(not_found(format!(
                    "module '{name}' is not available to {}",
                    requirer.id
                )));
            }
            let vm = current_vm().ok_or_else(|| Raise::Text("no VM".into()))?;
            match vm.modules.get(name) {
                Some(module) => stack.push_ref(module),
                None => {
                    return Err(not_found(format!(
                        "module '{name}' is not implemented yet in this version of moonweave"
                    )));
                }
            }
        }
        _ => {
            let vm = current_vm().ok_or_else(|| Raise::Text("no VM".into()))?;
            if let Some(module) = vm.modules.native.get(name) {
                stack.push_ref(module);
                return raw::values(1);
            }
            let core = core()?;
            let library = core.app().library(requirer, name).cloned();
            match library {
                Some(library) => instance(stack, &library)?,
                None => {
                    return Err(not_found(format!(
                        "module '{name}' is not available to {}",
                        requirer.id
                    )));
                }
            }
        }
    }
    raw::values(1)
}

/// Pushes the running process's instance of `library`, creating it on first use.
fn instance(stack: Stack<'_>, library: &Arc<ProcessEntry>) -> Result<(), Raise> {
    let core = core()?;
    let vm = current_vm().ok_or_else(|| Raise::Text("no VM".into()))?;
    // The process's table of instances.
    let existing = core.with_current(|p| p.lua.libraries.as_ref().map(|r| stack.push_ref(r)));
    match existing {
        Some(Some(())) => {}
        Some(None) => {
            stack.new_table(0, 4);
            let r = stack.make_ref(-1);
            core.with_current(|p| p.lua.libraries = Some(r));
        }
        None => return raw::raise("require outside a process"),
    }
    let instances = stack.top();
    stack.push_bytes(library.id.as_bytes());
    stack.raw_get(instances);
    match stack.kind(-1) {
        raw::Kind::Table => {
            stack.remove(instances);
            return Ok(());
        }
        raw::Kind::Boolean => {
            return Err(Raise::Object(ErrorValue::new(
                ErrorKind::Invalid,
                format!("library '{}' requires itself (a require cycle)", library.id),
            )));
        }
        _ => stack.pop(1),
    }
    stack.push_bytes(library.id.as_bytes());
    stack.push_bool(false);
    stack.raw_set(instances);
    let failed = |message: String, kind: ErrorKind| {
        Raise::Object(ErrorValue::new(
            kind,
            format!("library '{}' failed: {message}", library.id),
        ))
    };
    let chunk = vm
        .chunk(library)
        .map_err(|e| failed(e.message.to_string(), e.kind))?;
    stack.push_ref(&chunk.function);
    stack.clone_function(-1);
    stack.remove(-2);
    let function = stack.top();
    // The library's environment: the process's globals, with its own `require`.
    stack.new_table(0, 1);
    let proxy = stack.top();
    stack.push_bytes(library.id.as_bytes());
    stack.push_closure(library_require, c"require", 1);
    stack.raw_set_field(proxy, c"require");
    stack.new_table(0, 2);
    let meta = stack.top();
    core.with_current(|p| {
        if let Some(env) = &p.lua.env {
            stack.push_ref(env);
        }
    });
    if stack.kind(-1) != raw::Kind::Table {
        stack.set_top(meta);
        stack.push_nil();
    }
    stack.push_copy(-1);
    stack.raw_set_field(meta, c"__index");
    stack.raw_set_field(meta, c"__newindex");
    stack.set_metatable(proxy);
    stack.set_environment(function);
    if stack.pcall(0, Some(1)).is_err() {
        let cause = super::errors::exit_error(stack, -1, None);
        let message = cause.message.to_string_lossy().into_owned();
        let message = match message.split_once("\nstack traceback:") {
            Some((m, _)) => m.to_string(),
            None => message,
        };
        stack.pop(1);
        clear_loading(stack, instances, library);
        return Err(failed(message, cause.kind));
    }
    if stack.kind(-1) != raw::Kind::Table {
        let kind = type_name(stack, -1);
        stack.pop(1);
        clear_loading(stack, instances, library);
        return Err(Raise::Object(ErrorValue::new(
            ErrorKind::Invalid,
            format!("library '{}' returned {kind}, not a table", library.id),
        )));
    }
    stack.push_bytes(library.id.as_bytes());
    stack.push_copy(-2);
    stack.raw_set(instances);
    stack.remove(instances);
    Ok(())
}

fn clear_loading(stack: Stack<'_>, instances: std::ffi::c_int, library: &ProcessEntry) {
    stack.push_bytes(library.id.as_bytes());
    stack.push_nil();
    stack.raw_set(instances);
}

fn name_argument(stack: Stack<'_>) -> Result<&[u8], Raise> {
    stack.bytes(1).ok_or_else(|| {
        Raise::Object(ErrorValue::new(
            ErrorKind::Invalid,
            format!("require expects a module name, got {}", type_name(stack, 1)),
        ))
    })
}

lua_fn! {
    /// The global `require(name)`, for the running process's entry.
    pub fn require(stack) {
        let name = name_argument(stack)?.to_vec();
        let core = core()?;
        let entry = core
            .current_entry()
            .ok_or_else(|| Raise::Text("require outside a process".into()))?;
        stack.set_top(0);
        resolve(stack, &entry, &name)
    }
}

lua_fn! {
    /// A library's own `require(name)`: answers with the library's `modules` and `imports`
    /// (upvalue 1: the library id).
    fn library_require(stack) {
        let name = name_argument(stack)?.to_vec();
        let id = stack.bytes(raw::upvalue(1)).map(<[u8]>::to_vec).unwrap_or_default();
        let core = core()?;
        let library = std::str::from_utf8(&id)
            .ok()
            .and_then(|id| match core.app().entry(id).map(|e| &e.kind) {
                Some(crate::app::EntryKind::Library(l)) | Some(crate::app::EntryKind::Process(l)) => Some(l.clone()),
                _ => None,
            })
            .ok_or_else(|| Raise::Text("require of an unknown library".into()))?;
        stack.set_top(0);
        resolve(stack, &library, &name)
    }
}
