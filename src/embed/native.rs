//! Native modules (embedding.md §4): each worker VM runs a module's factory once; the table
//! it returns is frozen and `require(name)` gives it to every process. `current_pid` tells a
//! native function which process called it.

use super::Pid;

/// The process whose Lua code called the native function running now; `None` outside a
/// process (or on a thread that is not a worker of a runtime).
///
/// ```
/// use moonweave::Runtime;
/// let runtime = Runtime::builder()
///     .module("whoami", |lua| {
///         let t = lua.create_table()?;
///         t.set("pid", lua.create_function(|lua, ()| {
///             Ok(moonweave::current_pid(lua).map(|p| p.to_string()))
///         })?)?;
///         Ok(t)
///     })
///     .app_file("main.lua", "return function() return require('whoami').pid() == process.pid() end")
///     .build()
///     .unwrap();
/// assert_eq!(runtime.handle().run("app:main", ()).unwrap().as_bool(), Some(true));
/// ```
pub fn current_pid(_lua: &mlua::Lua) -> Option<Pid> {
    let core = crate::sched::current_core()?;
    let process = core.current_process()?;
    Some(Pid::from_runtime(process.pid_text.clone()))
}
