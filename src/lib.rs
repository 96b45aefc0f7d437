//! moonweave: Lua programs as Erlang-style processes on a work-stealing multithreaded scheduler.
//!
//! The embedding API: load an [`App`], start a [`Runtime`], spawn processes and wait for them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use moonweave::{App, Runtime, Options, Exit};
//!
//! let app = Arc::new(App::load("examples/hello/hello.lua".as_ref()).expect("loads"));
//! let runtime = Runtime::start(app, Options::default()).expect("starts");
//! let exit = runtime.run("app:hello", Vec::new()).expect("spawns");
//! assert!(matches!(exit, Exit::Normal(_)));
//! ```

pub mod app;
pub mod bytes;
pub mod duration;
pub mod error;
pub mod failpoint;
pub mod log;
pub mod lua;
pub mod proc;
pub mod sched;
pub mod security;
pub mod supervise;
pub mod sync;
pub mod value;

use std::sync::Arc;

pub use app::App;
pub use error::{ErrorKind, ErrorValue};
pub use proc::Exit;
pub use sched::Options;
pub use value::Value;

/// How long processes have to exit after the shutdown CANCEL (app-format.md §5).
pub const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// A running moonweave runtime: every host of an app with its worker threads, and its
/// services.
pub struct Runtime {
    scheduler: sched::Scheduler,
    services: supervise::Services,
}

impl Runtime {
    /// Starts every host of `app`, then its auto-start services.
    pub fn start(app: Arc<App>, options: Options) -> std::io::Result<Runtime> {
        let scheduler = sched::Scheduler::start(app, &options)?;
        let services = supervise::Services::boot(scheduler.shared());
        Ok(Runtime {
            scheduler,
            services,
        })
    }

    /// Whether nothing is left to do: no process is alive and no service runs or waits for
    /// a restart (the command line without an exec entry stops then).
    pub fn is_idle(&self) -> bool {
        // Services first: once none is active none can become active again, so a process
        // table seen empty after that stays empty.
        self.services.idle() && self.scheduler.live_processes() == 0
    }

    /// Spawns `entry` on `host` with `args`; returns the PID.
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<String, ErrorValue> {
        self.scheduler
            .spawn(entry, host, args)
            .map(|pid| pid.to_string())
    }

    /// Spawns `entry` on the default host and waits for it to exit.
    pub fn run(&self, entry: &str, args: Vec<Value>) -> Result<Exit, ErrorValue> {
        let (_, exit) = self
            .scheduler
            .spawn_watched(entry, app::DEFAULT_HOST, args)?;
        exit.recv().map_err(|_| {
            let reason = self
                .scheduler
                .failure()
                .unwrap_or_else(|| "the runtime stopped before the process exited".into());
            ErrorValue::new(ErrorKind::Internal, reason)
        })
    }

    /// Spawns `entry` on `host`; returns its PID and a receiver of its exit.
    pub fn spawn_watched(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<(String, std::sync::mpsc::Receiver<Exit>), ErrorValue> {
        let (pid, exit) = self.scheduler.spawn_watched(entry, host, args)?;
        Ok((pid.to_string(), exit))
    }

    /// Number of live processes.
    pub fn live_processes(&self) -> usize {
        self.scheduler.live_processes()
    }

    /// Graceful shutdown: spawns are refused, every live process gets CANCEL from
    /// `{runtime|0x00000}` with a 5 s deadline, and once all have exited the workers stop.
    pub fn shutdown(mut self) {
        self.services.stop();
        self.scheduler.cancel_all(SHUTDOWN_DEADLINE);
        self.scheduler.shutdown();
    }

    /// Stops all workers at once; processes still alive are dropped without notice.
    pub fn stop_now(mut self) {
        self.services.stop();
        self.scheduler.shutdown();
    }
}
