//! The `moonweave` command line: `run`, `check` and `list` an application.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, mpsc};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use clap::{Parser, Subcommand};
use moonweave::app::{App, Problem};
use moonweave::{Exit, Options, Runtime, Value};

/// Run Lua programs as Erlang-style processes.
#[derive(Parser)]
#[command(name = "moonweave", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an application: its exec entry's result becomes the exit code.
    Run {
        /// A .lua file, a directory of .lua files, or a directory with YAML definition files.
        path: PathBuf,
        /// The entry to run (an id, or a bare name meaning app:<name>).
        #[arg(short = 'x', long = "exec", value_name = "ID")]
        exec: Option<String>,
        /// Worker threads of every host that does not set `workers`.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        workers: Option<u32>,
        /// Deny permission checks of processes without actor or scope.
        #[arg(long)]
        strict: bool,
        /// Lowest level of log lines written to stderr.
        #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
        log_level: String,
        /// Arguments passed to the exec entry's function, as strings.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Load an application without running it and report every problem with file and line.
    Check {
        /// The application path.
        path: PathBuf,
    },
    /// Print every entry of an application: `<id><TAB><kind>`, sorted by id.
    List {
        /// The application path.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run {
            path,
            exec,
            workers,
            strict,
            args,
            log_level,
        } => {
            moonweave::log::set_level(moonweave::log::Level::from_name(&log_level));
            run(&path, exec, workers, strict, args)
        }
        Command::Check { path } => check(&path),
        Command::List { path } => list(&path),
    }
}

/// Loads the app and compiles every source; all problems found.
fn load(path: &Path) -> Result<App, Vec<Problem>> {
    let app = App::load(path).map_err(|e| e.problems)?;
    let problems: Vec<Problem> = app
        .sources()
        .filter_map(|entry| {
            moonweave::lua::compile_check(&entry.chunk_name, &entry.source)
                .err()
                .map(|message| syntax_problem(&entry.path, &entry.chunk_name, &message))
        })
        .collect();
    if problems.is_empty() {
        Ok(app)
    } else {
        Err(problems)
    }
}

/// Turns Luau's `chunk:line: message` into a problem on the source file.
fn syntax_problem(path: &Path, chunk_name: &str, message: &str) -> Problem {
    let rest = message
        .strip_prefix(chunk_name)
        .and_then(|r| r.strip_prefix(':'));
    if let Some((line, text)) = rest.and_then(|r| r.split_once(':'))
        && let Ok(line) = line.parse::<usize>()
    {
        return Problem::new(path, Some(line), format!("syntax error:{text}"));
    }
    Problem::new(path, None, format!("syntax error: {message}"))
}

fn report(problems: &[Problem]) {
    for problem in problems {
        eprintln!("{problem}");
    }
}

fn run(
    path: &Path,
    exec: Option<String>,
    workers: Option<u32>,
    strict: bool,
    args: Vec<String>,
) -> ExitCode {
    let app = match load(path) {
        Ok(app) => app,
        Err(problems) => {
            report(&problems);
            return ExitCode::from(2);
        }
    };
    // Without an exec entry, the auto-start services run until nothing is left.
    let exec = match exec {
        Some(id) if id.contains(':') => Some(id),
        Some(name) => Some(format!("app:{name}")),
        None => app.default_exec.clone(),
    };
    if exec.is_none() && !app.services().any(|s| s.auto_start) {
        eprintln!("nothing to run");
        return ExitCode::from(2);
    }
    if let Some(exec) = exec.as_deref()
        && app.process(exec).is_none()
    {
        match app.entry(exec) {
            Some(entry) => eprintln!("{exec} is a {}, not a process.lua entry", entry.kind.name()),
            None => eprintln!("no entry '{exec}' to run"),
        }
        return ExitCode::from(2);
    }
    let options = Options {
        workers: workers.map(|n| n as usize),
        strict,
    };
    let runtime = match Runtime::start(Arc::new(app), options) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let args = args.into_iter().map(Value::string).collect();
    let exit = match wait_for_exit_or_signal(&runtime, exec.as_deref(), args) {
        Ending::Exit(exit) => exit,
        Ending::Signal(signal) => {
            eprintln!(
                "moonweave: {}, shutting down (again to exit at once)",
                signal_name(signal)
            );
            runtime.shutdown();
            return ExitCode::from(128 + signal as u8);
        }
    };
    runtime.shutdown();
    match exit {
        Ok(Exit::Normal(value)) => match value.as_integer() {
            Some(n) => ExitCode::from(n.rem_euclid(256) as u8),
            None => ExitCode::SUCCESS,
        },
        Ok(Exit::Failed(error)) => {
            // The message is written byte for byte: Lua strings need not be UTF-8.
            let mut text = b"error: ".to_vec();
            text.extend_from_slice(&error.message);
            text.push(b'\n');
            if let Some(stack) = error.stack.as_deref().filter(|s| !s.trim().is_empty()) {
                text.extend_from_slice(stack.trim_end().as_bytes());
                text.push(b'\n');
            }
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &text);
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {}", error.message);
            ExitCode::from(1)
        }
    }
}

/// How `run` ends: the exec entry exited, or a signal asked to stop.
enum Ending {
    Exit(Result<Exit, moonweave::ErrorValue>),
    Signal(i32),
}

/// Spawns the exec entry and waits for its exit or for SIGINT/SIGTERM. After the first signal a
/// second one ends the command at once, with the same exit code.
/// Waits for the exec entry's exit (or, without one, until nothing is left to run), or for
/// the first SIGINT/SIGTERM.
fn wait_for_exit_or_signal(runtime: &Runtime, exec: Option<&str>, args: Vec<Value>) -> Ending {
    let (events, ending) = mpsc::channel();
    let signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => Some(signals),
        Err(e) => {
            eprintln!("moonweave: cannot handle signals ({e}); Ctrl+C stops at once");
            None
        }
    };
    if let Some(mut signals) = signals {
        let events = events.clone();
        std::thread::spawn(move || {
            let mut seen = false;
            for signal in signals.forever() {
                if seen {
                    std::process::exit(128 + signal);
                }
                seen = true;
                let _ = events.send(Ending::Signal(signal));
            }
        });
    }
    let Some(exec) = exec else {
        // Services only: look every few milliseconds whether anything is left (no process
        // alive, no restart pending).
        loop {
            match ending.recv_timeout(std::time::Duration::from_millis(10)) {
                Ok(ending) => return ending,
                Err(_) if runtime.is_idle() => return Ending::Exit(Ok(Exit::Normal(Value::Nil))),
                Err(_) => {}
            }
        }
    };
    match runtime.spawn_watched(exec, moonweave::app::DEFAULT_HOST, args) {
        Ok((_, exit)) => {
            std::thread::spawn(move || {
                let result = exit.recv().map_err(|_| {
                    moonweave::ErrorValue::new(
                        moonweave::ErrorKind::Internal,
                        "the runtime stopped before the process exited",
                    )
                });
                let _ = events.send(Ending::Exit(result));
            });
        }
        Err(e) => return Ending::Exit(Err(e)),
    }
    ending.recv().unwrap_or_else(|_| {
        Ending::Exit(Err(moonweave::ErrorValue::new(
            moonweave::ErrorKind::Internal,
            "lost the exit",
        )))
    })
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "interrupted (SIGINT)",
        SIGTERM => "terminated (SIGTERM)",
        _ => "signal",
    }
}

fn check(path: &Path) -> ExitCode {
    if !path.exists() {
        eprintln!("{}: no such file or directory", path.display());
        return ExitCode::from(2);
    }
    match load(path) {
        Ok(app) => {
            println!("ok: {} entries", app.entries.len());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            report(&problems);
            ExitCode::from(1)
        }
    }
}

/// A service's settings as `list` shows them, e.g.
/// `process=app:worker host=app:processes register_as=pool auto_start=true restart=1s..30s x2`.
fn service_settings(service: &moonweave::app::ServiceEntry) -> String {
    let shown = |d: std::time::Duration| moonweave::duration::Duration(d.as_nanos() as i64);
    let restart = &service.restart;
    let mut text = format!("process={} host={}", service.process, service.host);
    if let Some(name) = &service.register_as {
        text.push_str(&format!(" register_as={name}"));
    }
    text.push_str(&format!(
        " auto_start={} restart={}..{} x{}",
        service.auto_start,
        shown(restart.initial_delay),
        shown(restart.max_delay),
        restart.backoff_factor
    ));
    if restart.max_attempts > 0 {
        text.push_str(&format!(" max_attempts={}", restart.max_attempts));
    }
    if let Some(security) = &service.security {
        text.push_str(&format!(" actor={}", security.actor_id));
        if let Some(policies) = &security.policies {
            text.push_str(&format!(" policies=[{}]", policies.join(",")));
        }
    }
    text
}

fn list(path: &Path) -> ExitCode {
    if !path.exists() {
        eprintln!("{}: no such file or directory", path.display());
        return ExitCode::from(2);
    }
    match App::load(path) {
        Ok(app) => {
            for (id, entry) in &app.entries {
                match &entry.kind {
                    moonweave::app::EntryKind::Service(service) => {
                        println!("{id}\t{}\t{}", entry.kind.name(), service_settings(service))
                    }
                    kind => println!("{id}\t{}", kind.name()),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e.problems);
            ExitCode::from(1)
        }
    }
}
