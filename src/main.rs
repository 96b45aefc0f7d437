//! The `moonweave` command line: `run`, `check` and `list` an application.

//!
//! It is a program on the crate's public API: `check` and `list` read the app with
//! `moonweave::app`, `run` starts a runtime with `Runtime::builder()` and waits through a
//! `Handle`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use clap::{Parser, Subcommand};

mod shell;
use moonweave::app::{App, Problem};
use moonweave::{ErrorValue, Handle, Runtime, Value};

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
        /// A .lua file, a directory of .lua files, a directory with YAML definition files, or
        /// `-` for a program read from standard input.
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
        /// Print the runtime's counters (processes, messages, per worker) when it stops.
        #[arg(long)]
        stats: bool,
        /// Lowest level of log lines written to stderr.
        #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
        log_level: String,
        #[command(flatten)]
        node: NodeArgs,
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
    /// Evaluate Lua in a process and print the result (an expression's values, as the shell).
    Eval {
        /// The Lua: an expression (`1 + 2`) or statements (`print(process.pid())`).
        code: String,
        /// An application whose entries, hosts and modules the code may use.
        path: Option<PathBuf>,
    },
    /// An interactive Lua prompt: each input runs in one shell process of a running app, so
    /// variables stay from one input to the next; Ctrl+D leaves.
    Shell {
        /// An application whose entries, hosts and modules the inputs may use.
        path: Option<PathBuf>,
    },
}

/// Starting the runtime as a node of an Erlang cluster (docs/src/distribution.md).
#[derive(clap::Args, Default)]
struct NodeArgs {
    /// Run as the hidden node NAME of an Erlang cluster: name@host, or a name completed with
    /// this machine's full host name.
    #[arg(long, value_name = "NAME", conflicts_with = "sname")]
    name: Option<String>,
    /// Run as a node with a short name: name@host, or a name completed with the host name up
    /// to its first dot (as `erl -sname`).
    #[arg(long, value_name = "NAME")]
    sname: Option<String>,
    /// The cluster's cookie (default: $MOONWEAVE_COOKIE, else ~/.erlang.cookie).
    #[arg(long, value_name = "COOKIE")]
    cookie: Option<String>,
    /// Seconds of silence after which a connected node is down (Erlang's net_ticktime).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    net_ticktime: Option<u32>,
}

impl NodeArgs {
    /// `builder` made a node as asked, or an error for options that need a node name.
    fn apply(
        &self,
        mut builder: moonweave::RuntimeBuilder,
    ) -> Result<moonweave::RuntimeBuilder, &'static str> {
        builder = match (&self.name, &self.sname) {
            (Some(name), _) => builder.node(name),
            (None, Some(name)) => builder.short_node(name),
            (None, None) if self.cookie.is_some() || self.net_ticktime.is_some() => {
                return Err("--cookie and --net-ticktime need --name or --sname");
            }
            (None, None) => return Ok(builder),
        };
        if let Some(cookie) = &self.cookie {
            builder = builder.cookie(cookie);
        }
        if let Some(seconds) = self.net_ticktime {
            builder = builder.net_ticktime(std::time::Duration::from_secs(seconds.into()));
        }
        Ok(builder)
    }
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
            stats,
            args,
            log_level,
            node,
        } => {
            let options = RunOptions {
                exec,
                workers,
                strict,
                stats,
                node,
                log_level: moonweave::log::Level::from_name(&log_level),
            };
            run(&path, options, args)
        }
        Command::Check { path } => check(&path),
        Command::List { path } => list(&path),
        Command::Eval { code, path } => shell::eval(&code, path.as_deref()),
        Command::Shell { path } => shell::interactive(path.as_deref()),
    }
}

/// Loads the app and compiles every source; all problems found.
fn load(path: &Path) -> Result<App, Vec<Problem>> {
    App::load_checked(path).map_err(|e| e.problems)
}

fn report(problems: &[Problem]) {
    for problem in problems {
        eprintln!("{problem}");
    }
}

/// What `run` was asked for besides the app and its arguments.
struct RunOptions {
    exec: Option<String>,
    workers: Option<u32>,
    strict: bool,
    stats: bool,
    log_level: moonweave::log::Level,
    node: NodeArgs,
}

/// Names source files the way the user can open them from where they stand: Lua sees chunk
/// names relative to the app's root (`worker.lua:4`); what the command line prints puts the
/// root in front (`examples/app/worker.lua:4`).
#[derive(Clone, Default)]
struct SourcePaths {
    /// (chunk name, the path to print), longest chunk names first.
    names: Vec<(String, String)>,
}

impl SourcePaths {
    fn of(app: &App) -> SourcePaths {
        let root = app.root.to_string_lossy().into_owned();
        let mut names: Vec<(String, String)> = match root.as_str() {
            "" | "." => Vec::new(),
            _ => app
                .sources()
                .map(|e| {
                    let shown = Path::new(&root).join(&e.chunk_name);
                    (e.chunk_name.clone(), shown.to_string_lossy().into_owned())
                })
                .collect(),
        };
        names.sort_by_key(|(chunk, _)| std::cmp::Reverse(chunk.len()));
        SourcePaths { names }
    }

    /// `text` with every source position `<chunk>:<line>` replaced by `<root>/<chunk>:<line>`,
    /// where the runtime puts positions: at the start of a line (messages, traceback frames)
    /// or after an error kind (`[UNKNOWN] main.lua:3: …`). Other text is left as written.
    fn rewrite(&self, text: &[u8]) -> Vec<u8> {
        if self.names.is_empty() {
            return text.to_vec();
        }
        let mut out = Vec::with_capacity(text.len() + 32);
        let mut i = 0;
        'scan: while i < text.len() {
            let position = i == 0 || text[i - 1] == b'\n' || text[..i].ends_with(b"] ");
            if position {
                for (chunk, shown) in &self.names {
                    let c = chunk.as_bytes();
                    if text[i..].starts_with(c)
                        && text.get(i + c.len()) == Some(&b':')
                        && text.get(i + c.len() + 1).is_some_and(u8::is_ascii_digit)
                    {
                        out.extend_from_slice(shown.as_bytes());
                        i += c.len();
                        continue 'scan;
                    }
                }
            }
            out.push(text[i]);
            i += 1;
        }
        out
    }
}

fn run(path: &Path, options: RunOptions, args: Vec<String>) -> ExitCode {
    // `-`: the program is standard input, run as the zero-config file main.lua.
    let stdin_source = if path == Path::new("-") {
        // Bytes, as a source file's: only the compiler decides what is valid.
        let mut source = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut source) {
            eprintln!("cannot read the program from standard input: {e}");
            return ExitCode::from(2);
        }
        if source.iter().all(u8::is_ascii_whitespace) {
            eprintln!("no program on standard input");
            return ExitCode::from(2);
        }
        Some(source)
    } else {
        None
    };
    let loaded = match &stdin_source {
        Some(source) => {
            App::from_files(&[("main.lua".to_string(), source.clone())]).map_err(|e| e.problems)
        }
        None => load(path),
    };
    let app = match loaded {
        Ok(app) => app,
        Err(problems) => {
            report(&problems);
            return ExitCode::from(2);
        }
    };
    let paths = SourcePaths::of(&app);
    let shown = paths.clone();
    let lines = moonweave::log::StderrLines::new(options.log_level)
        .rewriting(move |message| shown.rewrite(message));
    let _ = tracing::subscriber::set_global_default(lines);
    // Without an exec entry, the auto-start services run until nothing is left; a directory
    // of one file runs that file.
    let processes: Vec<&str> = app.processes().map(|e| e.id.as_str()).collect();
    let exec = match options.exec {
        Some(id) if id.contains(':') => Some(id),
        Some(name) => Some(format!("app:{name}")),
        None if app.default_exec.is_some() => app.default_exec.clone(),
        None if app.zero_config && processes.len() == 1 => Some(processes[0].to_string()),
        None => None,
    };
    if exec.is_none() && !app.services().any(|s| s.auto_start) {
        match processes.as_slice() {
            [] => eprintln!("nothing to run: {} has no process entries", path.display()),
            _ => eprintln!(
                "nothing to run: {} has no app:main and no services; choose an entry with -x: {}",
                path.display(),
                processes.join(", ")
            ),
        }
        return ExitCode::from(2);
    }
    if let Some(exec) = exec.as_deref()
        && app.process(exec).is_none()
    {
        match app.entry(exec) {
            Some(entry) => eprintln!("{exec} is a {}, not a process.lua entry", entry.kind.name()),
            None => {
                let hint = closest(exec, &processes)
                    .map(|c| format!(" (did you mean {c}?)"))
                    .unwrap_or_default();
                eprintln!(
                    "no entry '{exec}' to run{hint}; the process entries are: {}",
                    processes.join(", ")
                );
            }
        }
        return ExitCode::from(2);
    }
    let mut builder = match &stdin_source {
        Some(source) => Runtime::builder().app_file("main.lua", source),
        None => Runtime::builder().app_path(path),
    }
    .strict(options.strict);
    if let Some(n) = options.workers {
        builder = builder.workers(n as usize);
    }
    let builder = match options.node.apply(builder) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {}", e.message);
            return ExitCode::from(1);
        }
    };
    let handle = runtime.handle();
    let args = args.into_iter().map(Value::from).collect();
    let ending = wait_for_exit_or_signal(&handle, exec, args);
    runtime.shutdown();
    if options.stats {
        eprint!("{}", handle.stats());
    }
    let exit = match ending {
        Ending::Exit(exit) => exit,
        Ending::Signal(signal) => return ExitCode::from(128 + signal as u8),
    };
    match exit {
        Ok(value) => match value.as_integer() {
            Some(n) => ExitCode::from(n.rem_euclid(256) as u8),
            None => ExitCode::SUCCESS,
        },
        Err(error) => {
            // The message is written byte for byte: Lua strings need not be UTF-8.
            let mut text = b"error: ".to_vec();
            text.extend_from_slice(&paths.rewrite(&error.message));
            text.push(b'\n');
            if let Some(stack) = error.stack.as_deref().filter(|s| !s.trim().is_empty()) {
                text.extend_from_slice(&paths.rewrite(stack.trim_end().as_bytes()));
                text.push(b'\n');
            }
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &text);
            ExitCode::from(1)
        }
    }
}

/// The entry id nearest to `wanted` by edit distance, if one is near (a typo).
fn closest<'a>(wanted: &str, ids: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let substitution = previous + usize::from(ca != *cb);
                previous = row[j + 1];
                row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
            }
        }
        row[b.len()]
    }
    ids.iter()
        .map(|id| (distance(wanted, id), *id))
        .filter(|(d, id)| *d <= 2.max(id.len() / 4))
        .min()
        .map(|(_, id)| id)
}

/// How `run` ends: the exec entry exited, or a signal asked to stop.
enum Ending {
    Exit(Result<Value, ErrorValue>),
    Signal(i32),
}

/// Waits for the exec entry's exit (or, without one, until nothing is left to run), or for
/// the first SIGINT/SIGTERM. After the first signal a second one ends the command at once,
/// with the same exit code.
fn wait_for_exit_or_signal(handle: &Handle, exec: Option<String>, args: Vec<Value>) -> Ending {
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
                eprintln!(
                    "moonweave: {}, shutting down (again to exit at once)",
                    signal_name(signal)
                );
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
                Err(_) if handle.is_idle() => return Ending::Exit(Ok(Value::Nil)),
                Err(_) => {}
            }
        }
    };
    let runner = handle.clone();
    std::thread::spawn(move || {
        let _ = events.send(Ending::Exit(runner.run(&exec, args)));
    });
    ending.recv().unwrap_or(Ending::Signal(SIGTERM))
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
                        println!("{id}\t{}\t{}", entry.kind.name(), service.settings())
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
