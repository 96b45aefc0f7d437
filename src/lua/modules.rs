//! `require(name)`: the modules and libraries code may use (stdlib.md §7, app-format.md §2.1,
//! §2.5).
//!
//! `process`, `channel` and `errors` are always available. Other modules must be listed in the
//! requiring code's `modules` (zero-config entries may use all). Any other name is a library:
//! an alias in the code's `imports`, or in zero-config mode a file of the app. A library runs
//! once per process, the first time that process requires it, in the process's environment;
//! its own `require` answers with the library's lists.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use mlua::{Function, Lua, Table, Value as LuaValue};

use super::errors::{LuaError, error_from_mlua};
use crate::app::{MODULES, ProcessEntry};
use crate::error::{ErrorKind, ErrorValue};
use crate::sched::WorkerContext;

/// What every `require` of a worker VM shares.
pub struct Modules {
    ctx: Rc<WorkerContext>,
    always: Vec<(&'static str, Table)>,
    optional: Vec<(&'static str, Table)>,
    /// Process environments by slot (the VM's table).
    envs: Table,
    /// Library instances by slot: `{[library id] = exports}`, `false` while loading.
    instances: Table,
    /// Compiled library chunks by id; each process runs a clone.
    chunks: RefCell<HashMap<String, Function>>,
    /// The Lua wrapper that turns `ok, value` into a raised error.
    raising: Function,
}

impl Modules {
    pub fn new(
        lua: &Lua,
        ctx: &Rc<WorkerContext>,
        always: Vec<(&'static str, Table)>,
        optional: Vec<(&'static str, Table)>,
        envs: Table,
        raising: Function,
    ) -> mlua::Result<Rc<Modules>> {
        Ok(Rc::new(Modules {
            ctx: ctx.clone(),
            always,
            optional,
            envs,
            instances: lua.create_table()?,
            chunks: RefCell::default(),
            raising,
        }))
    }

    /// Forgets the library instances of an exited process.
    pub fn forget(&self, slot: u32) {
        let _ = self.instances.raw_set(slot, LuaValue::Nil);
    }

    /// Resolves `name` for `requirer` (the running process's entry when `None`).
    fn resolve(
        self: &Rc<Self>,
        lua: &Lua,
        requirer: Option<&Arc<ProcessEntry>>,
        name: &str,
    ) -> Result<LuaValue, ErrorValue> {
        if let Some((_, module)) = self.always.iter().find(|(n, _)| *n == name) {
            return Ok(LuaValue::Table(module.clone()));
        }
        let current;
        let code = match requirer {
            Some(code) => code,
            None => {
                current = self.ctx.current_entry().ok_or_else(|| {
                    ErrorValue::new(ErrorKind::Invalid, "require outside a process")
                })?;
                &current
            }
        };
        let not_available = || {
            ErrorValue::new(
                ErrorKind::NotFound,
                format!("module '{name}' is not available to {}", code.id),
            )
        };
        if MODULES.contains(&name) {
            if !code.modules.iter().any(|m| m == name) {
                return Err(not_available());
            }
            return match self.optional.iter().find(|(n, _)| *n == name) {
                Some((_, module)) => Ok(LuaValue::Table(module.clone())),
                None => Err(ErrorValue::new(
                    ErrorKind::NotFound,
                    format!("module '{name}' is not implemented yet in this version of moonweave"),
                )),
            };
        }
        match self.ctx.app().library(code, name) {
            Some(library) => self.instance(lua, library),
            None => Err(not_available()),
        }
    }

    /// The running process's instance of `library`, created on first use.
    fn instance(
        self: &Rc<Self>,
        lua: &Lua,
        library: &Arc<ProcessEntry>,
    ) -> Result<LuaValue, ErrorValue> {
        let internal = |e: mlua::Error| ErrorValue::new(ErrorKind::Internal, e.to_string());
        let slot = self
            .ctx
            .current_slot()
            .ok_or_else(|| ErrorValue::new(ErrorKind::Invalid, "require outside a process"))?;
        let mine: Table = match self.instances.raw_get(slot).map_err(internal)? {
            LuaValue::Table(t) => t,
            _ => {
                let t = lua.create_table().map_err(internal)?;
                self.instances.raw_set(slot, &t).map_err(internal)?;
                t
            }
        };
        match mine.raw_get(library.id.as_str()).map_err(internal)? {
            LuaValue::Table(exports) => return Ok(LuaValue::Table(exports)),
            LuaValue::Boolean(false) => {
                return Err(ErrorValue::new(
                    ErrorKind::Invalid,
                    format!("library '{}' requires itself (a require cycle)", library.id),
                ));
            }
            _ => {}
        }
        mine.raw_set(library.id.as_str(), false).map_err(internal)?;
        let result = self.run(lua, slot, library);
        let value = match &result {
            Ok(LuaValue::Table(exports)) => LuaValue::Table(exports.clone()),
            _ => LuaValue::Nil,
        };
        mine.raw_set(library.id.as_str(), value).map_err(internal)?;
        result
    }

    /// Runs the library's chunk in the process's environment, behind a proxy that gives the
    /// library its own `require`.
    fn run(
        self: &Rc<Self>,
        lua: &Lua,
        slot: u32,
        library: &Arc<ProcessEntry>,
    ) -> Result<LuaValue, ErrorValue> {
        let failed = |e: mlua::Error| {
            let cause = error_from_mlua(&e);
            let message = match cause.message.split_once("\nstack traceback:") {
                Some((message, _)) => message,
                None => &cause.message,
            };
            ErrorValue::new(
                cause.kind,
                format!("library '{}' failed: {message}", library.id),
            )
        };
        let chunk = self.chunk(lua, library).map_err(failed)?;
        let env: Table = self.envs.raw_get(slot).map_err(failed)?;
        let proxy = lua.create_table().map_err(failed)?;
        proxy
            .raw_set(
                "require",
                self.library_require(lua, library).map_err(failed)?,
            )
            .map_err(failed)?;
        let meta = lua.create_table().map_err(failed)?;
        meta.raw_set("__index", &env).map_err(failed)?;
        meta.raw_set("__newindex", &env).map_err(failed)?;
        proxy.set_metatable(Some(meta)).map_err(failed)?;
        chunk.set_environment(proxy).map_err(failed)?;
        match chunk.call::<LuaValue>(()).map_err(failed)? {
            LuaValue::Table(exports) => Ok(LuaValue::Table(exports)),
            other => Err(ErrorValue::new(
                ErrorKind::Invalid,
                format!(
                    "library '{}' returned {}, not a table",
                    library.id,
                    super::convert::type_name(&other)
                ),
            )),
        }
    }

    fn chunk(&self, lua: &Lua, library: &ProcessEntry) -> mlua::Result<Function> {
        if let Some(chunk) = self.chunks.borrow().get(&library.id) {
            return chunk.deep_clone();
        }
        let chunk = lua
            .load(&library.source)
            .set_name(format!("@{}", library.chunk_name))
            .into_function()?;
        self.chunks
            .borrow_mut()
            .insert(library.id.clone(), chunk.clone());
        chunk.deep_clone()
    }

    fn library_require(
        self: &Rc<Self>,
        lua: &Lua,
        library: &Arc<ProcessEntry>,
    ) -> mlua::Result<Function> {
        let this = self.clone();
        let library = library.clone();
        let raw = lua.create_function(move |lua, name: LuaValue| {
            require_result(lua, &this, Some(&library), name)
        })?;
        self.raising.call(raw)
    }
}

fn require_result(
    lua: &Lua,
    modules: &Rc<Modules>,
    requirer: Option<&Arc<ProcessEntry>>,
    name: LuaValue,
) -> mlua::Result<(bool, LuaValue)> {
    let result = match name {
        LuaValue::String(name) => modules.resolve(lua, requirer, &name.to_string_lossy()),
        _ => Err(ErrorValue::new(
            ErrorKind::Invalid,
            "require expects a module name",
        )),
    };
    Ok(match result {
        Ok(value) => (true, value),
        Err(e) => (false, LuaValue::UserData(lua.create_userdata(LuaError(e))?)),
    })
}

/// Builds the global `require` of a worker VM (raising on failure).
pub fn require(lua: &Lua, modules: &Rc<Modules>) -> mlua::Result<Function> {
    let this = modules.clone();
    let raw =
        lua.create_function(move |lua, name: LuaValue| require_result(lua, &this, None, name))?;
    modules.raising.call(raw)
}
