//! `Runtime`, `RuntimeBuilder` and `Handle` (embedding.md §1, §2): starting a runtime from a
//! path, in-memory files or nothing, and what any thread can do with it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Dest, IntoArgs, Mailbox, Pid};
use crate::app::{App, DEFAULT_HOST, MODULES};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Deadline, Exit, Signal};
use crate::sched::{ModuleFactory, NativeModule, Options, Scheduler, Shared, Spawn, Stats};
use crate::supervise::Services;
use crate::value::Value;

/// How long processes have to exit after the shutdown CANCEL (app-format.md §5).
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

fn invalid(message: impl Into<crate::bytes::Bytes>) -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, message)
}

/// Why a call cannot be served by a runtime that is not running: `INTERNAL` with the reason
/// when a worker could not continue, else `UNAVAILABLE` (it shut down).
fn not_running(shared: &Shared) -> ErrorValue {
    match shared.failure() {
        Some(reason) => ErrorValue::new(ErrorKind::Internal, reason),
        None => ErrorValue::new(ErrorKind::Unavailable, "the runtime has shut down"),
    }
}

/// Where the app of a builder comes from.
#[derive(Default)]
enum Source {
    #[default]
    None,
    Path(PathBuf),
    Files(Vec<(String, Vec<u8>)>),
    Both,
}

/// Configures and starts a [`Runtime`]; see [`Runtime::builder`].
#[derive(Default)]
#[must_use]
pub struct RuntimeBuilder {
    workers: Option<usize>,
    strict: bool,
    source: Source,
    modules: Vec<NativeModule>,
    node: Option<crate::dist::NodeConfig>,
    cookie: Option<String>,
    ticktime: Option<Duration>,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("workers", &self.workers)
            .field("strict", &self.strict)
            .field(
                "modules",
                &self.modules.iter().map(|m| &m.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// Starts the runtime as a hidden node of an Erlang cluster named `name`: `name@host`, or
    /// a name completed with this machine's host name (`--name` of the command line). See
    /// the distribution page of the docs.
    pub fn node(mut self, name: &str) -> Self {
        self.node = Some(self.node_config(name, true));
        self
    }

    /// [`RuntimeBuilder::node`] completing a bare name with the host name's first part
    /// (`--sname`).
    pub fn short_node(mut self, name: &str) -> Self {
        self.node = Some(self.node_config(name, false));
        self
    }

    fn node_config(&self, name: &str, long: bool) -> crate::dist::NodeConfig {
        crate::dist::NodeConfig {
            name: name.to_string(),
            long,
            cookie: None,
            ticktime: crate::dist::DEFAULT_TICKTIME,
        }
    }

    /// The node's cookie (default: `MOONWEAVE_COOKIE`, else `~/.erlang.cookie`).
    pub fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_string());
        self
    }

    /// Erlang's `net_ticktime` (default 60 s): a connected node silent this long is down.
    pub fn net_ticktime(mut self, ticktime: Duration) -> Self {
        self.ticktime = Some(ticktime);
        self
    }

    /// Worker threads of every host that does not set `workers` (default: the CPUs).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Strict mode on every host (the command line's `--strict`): permission checks of
    /// processes without an actor or a scope deny. An extension of embedding.md.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The app: a `.lua` file, a directory, or a directory with YAML definitions (as
    /// `moonweave run` takes).
    pub fn app_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = match self.source {
            Source::None => Source::Path(path.into()),
            _ => Source::Both,
        };
        self
    }

    /// Adds a file to an in-memory zero-config app: `"main.lua"` is `app:main`,
    /// `"lib/strings.lua"` is `app.lib:strings`. Repeatable; not with [`app_path`].
    ///
    /// [`app_path`]: RuntimeBuilder::app_path
    pub fn app_file(mut self, name: &str, source: impl AsRef<[u8]>) -> Self {
        // A source is bytes, as a file's would be: only the compiler decides what is valid.
        let file = (name.to_string(), source.as_ref().to_vec());
        self.source = match self.source {
            Source::None => Source::Files(vec![file]),
            Source::Files(mut files) => {
                files.push(file);
                Source::Files(files)
            }
            _ => Source::Both,
        };
        self
    }

    /// A native module: `factory` runs once in every worker VM, and `require(name)` gives
    /// every process its table (frozen, like the standard modules).
    pub fn module<F>(mut self, name: &str, factory: F) -> Self
    where
        F: Fn(&mlua::Lua) -> mlua::Result<mlua::Table> + Send + Sync + 'static,
    {
        let factory: Arc<ModuleFactory> = Arc::new(factory);
        self.modules.push(NativeModule {
            name: name.to_string(),
            factory,
        });
        self
    }

    /// Loads and checks the app, starts every host and the services, and returns once they
    /// run. A load problem is `INVALID` with the text `moonweave check` prints.
    pub fn build(self) -> Result<Runtime, ErrorValue> {
        if let Some(n) = self.workers
            && !(1..=crate::sched::MAX_WORKERS).contains(&n)
        {
            return Err(invalid(format!(
                "workers must be from 1 to {}, not {n}",
                crate::sched::MAX_WORKERS
            )));
        }
        let load_error = |e: crate::app::LoadError| invalid(e.to_string());
        let app = match self.source {
            Source::None => App::empty(),
            Source::Path(path) => App::load_checked(&path).map_err(load_error)?,
            Source::Files(files) => App::from_files(&files).map_err(load_error)?,
            Source::Both => {
                return Err(invalid(
                    "a runtime's app is a path or in-memory files, not both",
                ));
            }
        };
        let mut seen = std::collections::HashSet::new();
        let app_names = app.require_names();
        for module in &self.modules {
            let name = module.name.as_str();
            if name.is_empty() {
                return Err(invalid("a module needs a name"));
            }
            if MODULES.contains(&name) || ["process", "channel", "errors"].contains(&name) {
                return Err(invalid(format!(
                    "module '{name}' is a standard module of moonweave"
                )));
            }
            if app_names.contains(name) {
                return Err(invalid(format!(
                    "module '{name}' is also code of the app (require would be ambiguous)"
                )));
            }
            if !seen.insert(name) {
                return Err(invalid(format!("module '{name}' is defined twice")));
            }
        }
        let node = match self.node {
            Some(mut node) => {
                node.cookie = self.cookie;
                if let Some(ticktime) = self.ticktime {
                    if ticktime < Duration::from_millis(100) {
                        return Err(invalid("net_ticktime must be at least 100 ms"));
                    }
                    node.ticktime = ticktime;
                }
                Some(node)
            }
            None if self.cookie.is_some() || self.ticktime.is_some() => {
                return Err(invalid(
                    "a cookie or net_ticktime needs a node name (RuntimeBuilder::node)",
                ));
            }
            None => None,
        };
        let options = Options {
            workers: self.workers,
            strict: self.strict,
            modules: self.modules,
            node,
        };
        Runtime::start(app, options)
    }
}

/// A running moonweave runtime: every host of an app with its worker threads, and its
/// services. Dropping it shuts it down like [`Runtime::shutdown`].
///
/// ```
/// use moonweave::{Runtime, Value};
/// let runtime = Runtime::builder()
///     .workers(2)
///     .app_file("main.lua", "return function(a, b) return a + b end")
///     .build()
///     .unwrap();
/// let sum = runtime.handle().run("app:main", (20, 22)).unwrap();
/// assert_eq!(sum.as_integer(), Some(42));
/// runtime.shutdown();
/// ```
pub struct Runtime {
    handle: Handle,
    running: Option<(Scheduler, Services)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("live", &self.handle.shared.table.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A builder with the defaults: no app (only the host `app:processes`), a worker per CPU.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    fn start(app: App, options: Options) -> Result<Runtime, ErrorValue> {
        let scheduler = Scheduler::start(Arc::new(app), &options).map_err(|e| {
            // A native module whose factory failed is the caller's mistake, like a bad app.
            let message = e.to_string();
            let kind = match message.contains("native module '") {
                true => ErrorKind::Invalid,
                false => ErrorKind::Internal,
            };
            ErrorValue::new(kind, message)
        })?;
        let shared = scheduler.shared();
        if let Some(config) = &options.node {
            let node = crate::dist::Node::start(&shared, config).map_err(|e| {
                let kind = match e {
                    crate::dist::NodeError::Name(_) => ErrorKind::Invalid,
                    _ => ErrorKind::Unavailable,
                };
                ErrorValue::new(kind, e.to_string())
            })?;
            let _ = shared.dist.set(node);
        }
        let services = Services::boot(shared.clone());
        Ok(Runtime {
            handle: Handle { shared },
            running: Some((scheduler, services)),
        })
    }

    /// A handle for any thread.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Graceful shutdown: spawns are refused, every live process gets CANCEL with a 5 s
    /// deadline, and once all have exited the workers stop.
    pub fn shutdown(self) {
        self.shutdown_timeout(SHUTDOWN_DEADLINE);
    }

    /// [`Runtime::shutdown`] with the deadline `deadline`.
    pub fn shutdown_timeout(mut self, deadline: Duration) {
        self.stop(deadline);
    }

    fn stop(&mut self, deadline: Duration) {
        if let Some((mut scheduler, mut services)) = self.running.take() {
            services.stop();
            scheduler.cancel_all(deadline);
            if let Some(node) = self.handle.shared.dist.get() {
                node.stop();
            }
            scheduler.shutdown();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop(SHUTDOWN_DEADLINE);
    }
}

/// What any thread can do with a runtime: spawn, send, run, look up, stop processes, make
/// Rust processes, read the counters. Cheap to clone; after the runtime has shut down every
/// call returns `UNAVAILABLE`.
///
/// ```
/// use moonweave::{Runtime, Received};
/// let runtime = Runtime::builder()
///     .app_file("echo.lua", r#"return function()
///         local msg = process.inbox():receive()
///         process.send(msg:from(), "echo", msg:payload())
///     end"#)
///     .build()
///     .unwrap();
/// let handle = runtime.handle();
/// let mut me = handle.mailbox().unwrap();
/// let echo = handle.spawn("app:echo", ()).unwrap();
/// me.send(&echo, "ping", 7).unwrap();
/// let Some(Received::Message(reply)) = me.recv() else { panic!() };
/// assert_eq!(reply.payload().as_integer(), Some(7));
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

fn checked_args(args: impl IntoArgs) -> Result<Vec<Value>, ErrorValue> {
    let args = args.into_args();
    for arg in &args {
        arg.check_copyable()?;
    }
    Ok(args)
}

impl Handle {
    fn open(&self) -> Result<&Arc<Shared>, ErrorValue> {
        if self.shared.is_closing() {
            return Err(not_running(&self.shared));
        }
        Ok(&self.shared)
    }

    /// Spawns `entry` on the default host, as `process.spawn(entry, "app:processes", ...)`.
    pub fn spawn(&self, entry: &str, args: impl IntoArgs) -> Result<Pid, ErrorValue> {
        self.spawn_on(entry, DEFAULT_HOST, args)
    }

    /// Spawns `entry` on `host`.
    pub fn spawn_on(
        &self,
        entry: &str,
        host: &str,
        args: impl IntoArgs,
    ) -> Result<Pid, ErrorValue> {
        let args = checked_args(args)?;
        let process = self.open()?.spawn(None, Spawn::new(entry, host, args))?;
        Ok(Pid::from_runtime(process.pid_text.clone()))
    }

    /// Sends a message from no process (`msg:from()` is nil) to a PID or a registered name.
    pub fn send(
        &self,
        dest: impl Into<Dest>,
        topic: &str,
        payload: impl Into<Value>,
    ) -> Result<(), ErrorValue> {
        let dest = dest.into();
        // Messages still flow during the graceful shutdown, as between Lua processes.
        self.shared
            .send_value(None, dest.as_bytes(), topic.as_bytes(), payload.into())
            .map_err(|e| match self.shared.failure() {
                Some(_) => not_running(&self.shared),
                None => e,
            })
    }

    /// Spawns `entry` on the default host and waits for its exit: `Ok` with its first return
    /// value (`Value::Nil` when none), `Err` with its error. From a worker thread of the
    /// runtime (a native module's function) it returns `INVALID` instead of blocking it.
    pub fn run(&self, entry: &str, args: impl IntoArgs) -> Result<Value, ErrorValue> {
        if crate::sched::current_core().is_some() {
            return Err(invalid(
                "Handle::run cannot wait on a worker thread of the runtime",
            ));
        }
        let args = checked_args(args)?;
        let (sender, exit) = std::sync::mpsc::channel();
        let spawn = Spawn {
            watch: Some(Box::new(move |exit: &Exit| {
                let _ = sender.send(exit.clone());
            })),
            ..Spawn::new(entry, DEFAULT_HOST, args)
        };
        self.open()?.spawn(None, spawn)?;
        match exit.recv() {
            Ok(Exit::Normal(value)) => Ok(value),
            Ok(Exit::Failed(error)) => Err(error),
            Err(_) => Err(match self.shared.failure() {
                Some(reason) => ErrorValue::new(ErrorKind::Internal, reason),
                None => ErrorValue::new(
                    ErrorKind::Unavailable,
                    "the runtime stopped before the process exited",
                ),
            }),
        }
    }

    /// The PID registered as `name`.
    pub fn lookup(&self, name: &str) -> Option<Pid> {
        let shared = self.open().ok()?;
        let pid = shared.registry.lookup(name.as_bytes())?;
        let process = shared.table.get(pid).filter(|p| !p.is_gone())?;
        Some(Pid::from_runtime(process.pid_text.clone()))
    }

    /// `process.terminate`: the process is gone when this returns (`NOT_FOUND` when it was
    /// not alive); `Ok(false)` when it was already being terminated.
    pub fn terminate(&self, pid: &Pid) -> Result<bool, ErrorValue> {
        let shared = self.open()?;
        let target = shared.resolve_dest(pid.as_str().as_bytes())?;
        Ok(shared.terminate_outside(&target))
    }

    /// `process.cancel` with `deadline`: the process receives CANCEL (from the runtime's
    /// PID) and is stopped if it has not exited when the deadline passes.
    pub fn cancel(&self, pid: &Pid, deadline: Duration) -> Result<(), ErrorValue> {
        let shared = self.open()?;
        if deadline.is_zero() {
            return Err(invalid("cancel: the deadline must be above zero"));
        }
        let target = shared.resolve_dest(pid.as_str().as_bytes())?;
        let deadline = Deadline::after(deadline);
        let signal = Signal::Cancel {
            from: Arc::from(crate::sched::RUNTIME_PID),
            deadline: Some(deadline),
        };
        shared.deliver_remote(&target, signal);
        Ok(())
    }

    /// A new process whose code is Rust, on the default host.
    pub fn mailbox(&self) -> Result<Mailbox, ErrorValue> {
        Mailbox::new(self.open()?.clone())
    }

    /// The runtime's counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Whether nothing is left to do: no process is alive and no service runs or waits for a
    /// restart (the command line without an exec entry stops then). An extension of
    /// embedding.md.
    pub fn is_idle(&self) -> bool {
        self.shared.services_idle() && self.shared.table.is_empty()
    }
}
