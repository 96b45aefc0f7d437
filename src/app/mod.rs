//! Loading an application: the YAML form or the zero-config form, into a registry of entries.
//!
//! The loader reads files and validates them; it never runs Lua. Every problem it finds is a
//! [`Problem`] with the file and line it concerns, and loading goes on after a problem so that
//! `moonweave check` can report all of them at once.

mod service;
mod yaml;
mod zero;

pub use service::{Restart, ServiceEntry, ServiceSecurity};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The host every app has, where the exec entry runs.
pub const DEFAULT_HOST: &str = "app:processes";

/// Modules a `process.lua` entry may list.
pub const MODULES: [&str; 10] = [
    "time",
    "ctx",
    "logger",
    "json",
    "io",
    "security",
    "supervisor",
    "process",
    "channel",
    "errors",
];

/// A loaded application.
#[derive(Debug)]
pub struct App {
    /// The directory relative to which chunk names are given.
    pub root: PathBuf,
    /// Every entry by id, including the implicit default host.
    pub entries: BTreeMap<String, Entry>,
    /// The entry `run` starts when no `-x` is given: the single file, else `app:main`.
    pub default_exec: Option<String>,
    /// Zero-config mode: every `.lua` file is also a library, `require("lib.util")` loads
    /// `lib/util.lua` (app-format.md §2.5).
    pub zero_config: bool,
}

/// One entry of an application.
#[derive(Debug)]
pub struct Entry {
    /// `namespace:name`.
    pub id: String,
    /// What it is.
    pub kind: EntryKind,
    /// Where the entry was defined (definition file, or the `.lua` file in zero-config mode).
    pub file: PathBuf,
    /// The line of its definition (1 for a zero-config file).
    pub line: usize,
}

/// What an entry is.
#[derive(Debug)]
pub enum EntryKind {
    /// A `process.lua` entry.
    Process(Arc<ProcessEntry>),
    /// A `process.host` entry.
    Host(HostConfig),
    /// A `library.lua` entry.
    Library(Arc<ProcessEntry>),
    /// A `security.policy` entry, compiled.
    Policy(Arc<crate::security::Policy>),
    /// A `process.service` entry.
    Service(Arc<ServiceEntry>),
}

impl EntryKind {
    /// The kind name as written in definition files.
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::Process(_) => "process.lua",
            EntryKind::Host(_) => "process.host",
            EntryKind::Library(_) => "library.lua",
            EntryKind::Policy(_) => "security.policy",
            EntryKind::Service(_) => "process.service",
        }
    }
}

/// A `process.lua` entry (the code of a process) or a `library.lua` entry (code that processes
/// `require`; its `method` is unused).
#[derive(Debug)]
pub struct ProcessEntry {
    /// `namespace:name`.
    pub id: String,
    /// The Luau source text.
    pub source: Vec<u8>,
    /// The source path relative to the app root, used as the chunk name in error messages.
    pub chunk_name: String,
    /// The source file on disk.
    pub path: PathBuf,
    /// Field of the returned table to run.
    pub method: String,
    /// Modules the entry may `require`.
    pub modules: Vec<String>,
    /// Libraries the entry may `require`, by alias: alias → `library.lua` id.
    pub imports: BTreeMap<String, String>,
}

/// A `process.host` entry's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// Worker threads; `None` means `--workers`, else the number of CPUs.
    pub workers: Option<usize>,
    /// Messages that may wait in one mailbox; 0 = unbounded.
    pub mailbox_limit: u64,
    /// Live processes on the host; 0 = unlimited.
    pub max_processes: u64,
    /// Whether processes may use the `io` module.
    pub io: bool,
    /// Whether permission checks deny processes without actor or scope.
    pub strict: bool,
    /// Interrupt checks a process may run before it yields its worker; 0 disables preemption.
    pub preemption_budget: u32,
    /// Bytes of Lua heap of each worker VM; 0 means automatic (see [`automatic_memory_limit`]).
    pub memory_limit: u64,
    /// Whether every source is compiled to native code (where the platform supports it);
    /// without it only files that start with `--!native` are.
    pub native: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            workers: None,
            mailbox_limit: 0,
            max_processes: 0,
            io: false,
            strict: false,
            preemption_budget: 10_000,
            native: false,
            memory_limit: 0,
        }
    }
}

/// A size in bytes: an integer, or a number with `KB`, `MB` or `GB` (1024-based), e.g.
/// `"512MB"`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// The automatic `memory_limit`: half of the machine's physical memory, divided among `vms`
/// worker VMs (app-format.md §2.2).
pub fn automatic_memory_limit(vms: usize) -> u64 {
    let physical = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30);
    (physical / 2 / vms.max(1) as u64).max(64 << 20)
}

/// One problem found while loading, tied to a file and (when known) a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in.
    pub file: PathBuf,
    /// The line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem in `file` at `line`.
    pub fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Why an application could not be loaded: every problem found.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadError {
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

impl App {
    /// Loads the application at `path` (a `.lua` file, or a directory).
    pub fn load(path: &Path) -> Result<App, LoadError> {
        let mut problems = Vec::new();
        let app = if path.is_file() {
            if path.extension().is_some_and(|e| e == "lua" || e == "luau") {
                zero::load_single_file(path, &mut problems)
            } else {
                problems.push(Problem::new(
                    path,
                    None,
                    "not a .lua or .luau file, nor a directory",
                ));
                None
            }
        } else if path.is_dir() {
            let yaml_files = yaml::definition_candidates(path, &mut problems);
            match yaml::load_definitions(path, &yaml_files, &mut problems) {
                Some(app) => Some(app),
                None if problems.is_empty() => zero::load_directory(path, &mut problems),
                None => None,
            }
        } else {
            problems.push(Problem::new(path, None, "no such file or directory"));
            None
        };
        match app {
            Some(app) if problems.is_empty() => Ok(app),
            _ => Err(LoadError { problems }),
        }
    }

    /// Loads the application at `path` and compiles every source: what `moonweave check`
    /// reports and what the embedding API's `build` refuses.
    pub fn load_checked(path: &Path) -> Result<App, LoadError> {
        App::load(path)?.compiled()
    }

    /// The in-memory zero-config app of `(name, source)` files (the embedding API's
    /// `app_file`), compiled.
    pub fn from_files(files: &[(String, Vec<u8>)]) -> Result<App, LoadError> {
        let mut problems = Vec::new();
        match zero::load_files(files, &mut problems) {
            Some(app) if problems.is_empty() => app.compiled(),
            _ => Err(LoadError { problems }),
        }
    }

    /// Every name `require` finds app code by: the import aliases of every entry, and in
    /// zero-config mode every file (`app.lib:util` is `lib.util`).
    pub fn require_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for entry in self.entries.values() {
            if let EntryKind::Process(code) | EntryKind::Library(code) = &entry.kind {
                names.extend(code.imports.keys().cloned());
                if self.zero_config
                    && let Some((namespace, name)) = entry.id.split_once(':')
                {
                    names.insert(match namespace.strip_prefix("app.") {
                        Some(dirs) => format!("{dirs}.{name}"),
                        None => name.to_string(),
                    });
                }
            }
        }
        names
    }

    /// An app with the default host and no entries.
    pub fn empty() -> App {
        zero::empty()
    }

    /// This app if every source compiles; else every syntax error, with file and line.
    fn compiled(self) -> Result<App, LoadError> {
        let problems: Vec<Problem> = self
            .sources()
            .filter_map(|entry| {
                crate::lua::compile_check(&entry.chunk_name, &entry.source)
                    .err()
                    .map(|message| syntax_problem(&entry.path, &entry.chunk_name, &message))
            })
            .collect();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(LoadError { problems })
        }
    }

    /// The entry with this id.
    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// The `process.lua` entry with this id.
    pub fn process(&self, id: &str) -> Option<&Arc<ProcessEntry>> {
        match self.entries.get(id).map(|e| &e.kind) {
            Some(EntryKind::Process(p)) => Some(p),
            _ => None,
        }
    }

    /// The code `require(name)` loads for `requirer`: an import of it, or in zero-config mode
    /// the file the name stands for (`lib.util` → `app.lib:util`).
    pub fn library(&self, requirer: &ProcessEntry, name: &str) -> Option<&Arc<ProcessEntry>> {
        if let Some(id) = requirer.imports.get(name) {
            return match self.entries.get(id).map(|e| &e.kind) {
                Some(EntryKind::Library(code)) => Some(code),
                _ => None,
            };
        }
        if !self.zero_config {
            return None;
        }
        let id = match name.rsplit_once('.') {
            Some((dirs, file)) => format!("app.{dirs}:{file}"),
            None => format!("app:{name}"),
        };
        match self.entries.get(&id).map(|e| &e.kind) {
            Some(EntryKind::Process(code)) => Some(code),
            _ => None,
        }
    }

    /// The `security.policy` entry with this id.
    pub fn policy(&self, id: &str) -> Option<&Arc<crate::security::Policy>> {
        match self.entries.get(id).map(|e| &e.kind) {
            Some(EntryKind::Policy(p)) => Some(p),
            _ => None,
        }
    }

    /// Every `process.service` entry, by id.
    pub fn services(&self) -> impl Iterator<Item = &Arc<ServiceEntry>> {
        self.entries.values().filter_map(|e| match &e.kind {
            EntryKind::Service(s) => Some(s),
            _ => None,
        })
    }

    /// Every host of the app, by id.
    pub fn hosts(&self) -> impl Iterator<Item = (&str, &HostConfig)> {
        self.entries.iter().filter_map(|(id, e)| match &e.kind {
            EntryKind::Host(h) => Some((id.as_str(), h)),
            _ => None,
        })
    }

    /// Every `process.lua` entry.
    pub fn processes(&self) -> impl Iterator<Item = &Arc<ProcessEntry>> {
        self.entries.values().filter_map(|e| match &e.kind {
            EntryKind::Process(p) => Some(p),
            _ => None,
        })
    }

    /// Every entry with Lua code: `process.lua` and `library.lua`.
    pub fn sources(&self) -> impl Iterator<Item = &Arc<ProcessEntry>> {
        self.entries.values().filter_map(|e| match &e.kind {
            EntryKind::Process(p) | EntryKind::Library(p) => Some(p),
            EntryKind::Host(_) | EntryKind::Policy(_) | EntryKind::Service(_) => None,
        })
    }

    /// A cycle of library imports, as the ids along it (`a → b → a`), if there is one.
    pub fn import_cycle(&self) -> Option<Vec<String>> {
        fn visit<'a>(
            app: &'a App,
            id: &'a str,
            path: &mut Vec<&'a str>,
            done: &mut std::collections::HashSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|p| *p == id) {
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            if !done.insert(id) {
                return None;
            }
            let Some(EntryKind::Library(code)) = app.entries.get(id).map(|e| &e.kind) else {
                return None;
            };
            path.push(id);
            for target in code.imports.values() {
                if let Some(cycle) = visit(app, target, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            None
        }
        let mut done = std::collections::HashSet::new();
        for (id, entry) in &self.entries {
            if matches!(entry.kind, EntryKind::Library(_))
                && let Some(cycle) = visit(self, id, &mut Vec::new(), &mut done)
            {
                return Some(cycle);
            }
        }
        None
    }

    /// Adds the default host when the app does not define it (with `io: true`).
    fn add_default_host(&mut self, file: &Path) {
        self.entries
            .entry(DEFAULT_HOST.to_string())
            .or_insert_with(|| Entry {
                id: DEFAULT_HOST.to_string(),
                kind: EntryKind::Host(HostConfig {
                    io: true,
                    ..HostConfig::default()
                }),
                file: file.to_path_buf(),
                line: 0,
            });
    }
}

/// Whether `s` is a valid namespace: segments of `[A-Za-z0-9_-]` joined by `.`.
pub fn is_namespace(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_segment)
}

/// Whether `s` is one namespace segment.
pub fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `s` is a valid entry name: `[A-Za-z0-9_.-]+`.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Whether `s` is a full entry id `namespace:name` (exactly one `:`, both sides non-empty).
pub fn is_entry_id(s: &str) -> bool {
    // A byte loop: every spawn checks two ids.
    let bytes = s.as_bytes();
    match bytes.iter().position(|&b| b == b':') {
        Some(at) => at > 0 && at + 1 < bytes.len() && !bytes[at + 1..].contains(&b':'),
        None => false,
    }
}

/// Reads a source file, recording a problem when it cannot be read.
/// The bytes of a source file, as they are: only the compiler decides what is valid Luau.
fn read_source(path: &Path, problems: &mut Vec<Problem>) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.push(Problem::new(path, None, format!("cannot read: {e}")));
            None
        }
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

/// `path` relative to `root` with `/` separators: the chunk name of a source file.
fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Files below `dir` (recursively, skipping directories whose name starts with `.`), sorted.
///
/// Symbolic links are followed, but a directory is walked once (a link cycle is skipped, not
/// walked forever), and a file or directory whose real path lies outside `dir` is a problem
/// (app-format.md §1: paths stay inside the app directory after links are resolved).
fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(root) = std::fs::canonicalize(dir) else {
        return found;
    };
    let mut visited = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    let outside = |path: &Path, problems: &mut Vec<Problem>| {
        problems.push(Problem::new(
            path,
            None,
            "a symbolic link leads outside the app directory",
        ));
    };
    while let Some(dir) = stack.pop() {
        let Ok(real) = std::fs::canonicalize(&dir) else {
            continue;
        };
        if !real.starts_with(&root) {
            outside(&dir, problems);
            continue;
        }
        if !visited.insert(real) {
            continue; // reached again through a link
        }
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in read.flatten() {
            let path = item.path();
            let hidden = item.file_name().to_string_lossy().starts_with('.');
            if path.is_dir() {
                if !hidden {
                    stack.push(path);
                }
            } else if keep(&path) {
                match std::fs::canonicalize(&path) {
                    Ok(real) if real.starts_with(&root) => found.push(path),
                    Ok(_) => outside(&path, problems),
                    Err(_) => {}
                }
            }
        }
    }
    found.sort();
    found
}
