//! The YAML form: definition files with `namespace` and `entries`, validated field by field.
//!
//! Files are parsed into a tree of [`Node`]s that remember their line, so that every problem
//! (unknown key, wrong type, bad reference) is reported where it is written.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

mod policy;
mod service;

use crate::value::Value;

use super::{
    App, DEFAULT_HOST, Entry, EntryKind, HostConfig, MODULES, Problem, ProcessEntry, is_name,
    is_namespace, read_source, relative_name, walk,
};

/// A YAML value with the line of every node below it.
#[derive(Debug, Clone)]
enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an integer.
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

type Node = Spanned<Yaml>;

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct YamlVisitor;
        impl<'de> Visitor<'de> for YamlVisitor {
            type Value = Yaml;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Yaml, E> {
                Ok(Yaml::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Yaml, E> {
                Ok(Yaml::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
                Yaml::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Yaml, E> {
                Ok(Yaml::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Yaml, E> {
                Ok(Yaml::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Yaml, E> {
                Ok(i64::try_from(v).map_or(Yaml::Float(v as f64), Yaml::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Yaml, E> {
                Ok(Yaml::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Yaml, E> {
                Ok(Yaml::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Yaml, E> {
                Ok(Yaml::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Yaml::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
                let mut items = Vec::new();
                while let Some(pair) = map.next_entry::<Node, Node>()? {
                    items.push(pair);
                }
                Ok(Yaml::Map(items))
            }
        }
        deserializer.deserialize_any(YamlVisitor)
    }
}

impl Yaml {
    fn type_name(&self) -> &'static str {
        match self {
            Yaml::Null => "null",
            Yaml::Bool(_) => "a boolean",
            Yaml::Int(_) => "an integer",
            Yaml::Float(_) => "a number",
            Yaml::Str(_) => "a string",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a map",
        }
    }
}

/// A YAML value as a Lua value: maps → tables with string keys, lists → arrays, `null` → nil.
fn value_of(node: &Node) -> Value {
    match &node.value {
        Yaml::Null => Value::Nil,
        Yaml::Bool(b) => Value::Boolean(*b),
        Yaml::Int(n) => Value::Number(*n as f64),
        Yaml::Float(n) => Value::Number(*n),
        Yaml::Str(s) => Value::string(s),
        Yaml::Seq(items) => Value::Table(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (Value::Number(i as f64 + 1.0), value_of(item)))
                .filter(|(_, v)| *v != Value::Nil)
                .collect(),
        ),
        Yaml::Map(pairs) => Value::Table(
            pairs
                .iter()
                .filter_map(|(k, v)| {
                    let key = match &k.value {
                        Yaml::Str(s) => s.clone(),
                        Yaml::Int(n) => n.to_string(),
                        Yaml::Float(n) => n.to_string(),
                        Yaml::Bool(b) => b.to_string(),
                        _ => return None,
                    };
                    Some((Value::string(key), value_of(v)))
                })
                .filter(|(_, v)| *v != Value::Nil)
                .collect(),
        ),
    }
}

fn line(node: &Node) -> Option<usize> {
    match node.referenced.line() {
        0 => None,
        n => Some(n as usize),
    }
}

/// Every `*.yaml` / `*.yml` file below `dir`.
pub fn definition_candidates(dir: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    walk(
        dir,
        &|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"),
        problems,
    )
}

/// One definition file being read: where problems go and how references resolve.
struct FileReader<'a> {
    root: &'a Path,
    file: &'a Path,
    namespace: String,
    problems: &'a mut Vec<Problem>,
}

/// An entry before references are checked.
struct Pending {
    entry: Entry,
    /// (referenced id, expected kind, line) — none yet for process and host entries.
    references: Vec<(String, &'static str, Option<usize>)>,
}

/// Loads the definition files among `files`. `None` with no problem recorded means there was no
/// definition file, and the directory is a zero-config app.
pub fn load_definitions(
    root: &Path,
    files: &[PathBuf],
    problems: &mut Vec<Problem>,
) -> Option<App> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut any_definition = false;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Problem::new(file, None, format!("cannot read: {e}")));
                continue;
            }
        };
        // YAML 1.2 booleans only: `no`, `off`, `y` stay strings (a country code `NO` in a
        // policy condition must not turn into `false`).
        let options = serde_saphyr::options! { strict_booleans: true };
        let doc: Node = match serde_saphyr::from_str_with_options(&text, options) {
            Ok(doc) => doc,
            Err(e) => {
                let line = e.location().map(|l| l.line() as usize).filter(|&l| l > 0);
                let message = e.to_string();
                let message = message.lines().next().unwrap_or("invalid YAML").to_string();
                problems.push(Problem::new(file, line, format!("invalid YAML: {message}")));
                any_definition = true;
                continue;
            }
        };
        let Yaml::Map(top) = &doc.value else { continue };
        let has = |key: &str| {
            top.iter()
                .any(|(k, _)| matches!(&k.value, Yaml::Str(s) if s == key))
        };
        // A file with either key is a definition file: a typo in the other is reported, not
        // taken for some other YAML file of the app.
        if !(has("namespace") || has("entries")) {
            continue;
        }
        any_definition = true;
        let mut reader = FileReader {
            root,
            file,
            namespace: String::new(),
            problems,
        };
        reader.read_file(top, &mut pending);
    }
    if !any_definition {
        return None;
    }
    let mut app = App {
        root: root.to_path_buf(),
        entries: BTreeMap::new(),
        default_exec: None,
        zero_config: false,
    };
    let mut references = Vec::new();
    for item in pending {
        let Pending {
            entry,
            references: refs,
        } = item;
        if let Some(previous) = app.entries.get(&entry.id) {
            problems.push(Problem::new(
                &entry.file,
                Some(entry.line),
                format!(
                    "duplicate entry id '{}' (first defined in {}:{})",
                    entry.id,
                    previous.file.display(),
                    previous.line
                ),
            ));
            continue;
        }
        references.extend(refs.into_iter().map(|r| (entry.file.clone(), r)));
        app.entries.insert(entry.id.clone(), entry);
    }
    // The default host exists whatever the files say: references may name it. (An entry of
    // another kind with its id is reported below.)
    app.add_default_host(root);
    for (file, (id, kind, line)) in references {
        match app.entries.get(&id) {
            None => problems.push(Problem::new(
                &file,
                line,
                format!("reference to missing entry '{id}'"),
            )),
            Some(e) if e.kind.name() != kind => problems.push(Problem::new(
                &file,
                line,
                format!("'{id}' is a {}, expected a {kind}", e.kind.name()),
            )),
            Some(_) => {}
        }
    }
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for entry in app.entries.values() {
        let EntryKind::Service(service) = &entry.kind else {
            continue;
        };
        let Some(name) = &service.register_as else {
            continue;
        };
        if let Some(first) = names.insert(name, &service.id) {
            problems.push(Problem::new(
                &entry.file,
                Some(entry.line),
                format!(
                    "{}: register_as '{name}' is also the name of service {first}",
                    service.id
                ),
            ));
        }
    }
    if let Some(cycle) = app.import_cycle()
        && let Some(first) = app.entries.get(&cycle[0])
    {
        problems.push(Problem::new(
            &first.file,
            Some(first.line),
            format!("import cycle: {}", cycle.join(" → ")),
        ));
    }
    if let Some(e) = app.entries.get(DEFAULT_HOST)
        && !matches!(e.kind, EntryKind::Host(_))
    {
        problems.push(Problem::new(
            &e.file,
            Some(e.line),
            format!("'{DEFAULT_HOST}' must be a process.host entry"),
        ));
    }
    if app.entries.contains_key("app:main") {
        app.default_exec = Some("app:main".to_string());
    }
    Some(app)
}

impl FileReader<'_> {
    fn problem(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.problems.push(Problem::new(self.file, line, message));
    }

    fn read_file(&mut self, top: &[(Node, Node)], pending: &mut Vec<Pending>) {
        let mut entries = None;
        for (key, value) in top {
            match &key.value {
                Yaml::Str(k) if k == "namespace" => match &value.value {
                    Yaml::Str(ns) if is_namespace(ns) => self.namespace = ns.clone(),
                    Yaml::Str(ns) => {
                        self.problem(line(value), format!("'{ns}' is not a valid namespace"))
                    }
                    other => self.problem(
                        line(value),
                        format!("namespace must be a string, not {}", other.type_name()),
                    ),
                },
                Yaml::Str(k) if k == "entries" => entries = Some(value),
                Yaml::Str(k) if k == "version" => {}
                Yaml::Str(k) => self.problem(line(key), format!("unknown top-level key '{k}'")),
                other => self.problem(
                    line(key),
                    format!("top-level keys must be strings, not {}", other.type_name()),
                ),
            }
        }
        if self.namespace.is_empty() {
            if !top
                .iter()
                .any(|(k, _)| matches!(&k.value, Yaml::Str(s) if s == "namespace"))
            {
                self.problem(Some(1), "a definition file needs a 'namespace'");
            }
            return;
        }
        if entries.is_none() {
            self.problem(Some(1), "a definition file needs 'entries' (a list)");
            return;
        }
        match entries.map(|e| &e.value) {
            Some(Yaml::Seq(items)) => {
                for item in items {
                    if let Some(p) = self.read_entry(item) {
                        pending.push(p);
                    }
                }
            }
            Some(Yaml::Null) => {}
            Some(other) => {
                let l = entries.and_then(line);
                self.problem(
                    l,
                    format!("entries must be a list, not {}", other.type_name()),
                );
            }
            None => {}
        }
    }

    fn read_entry(&mut self, node: &Node) -> Option<Pending> {
        let at = line(node);
        let Yaml::Map(fields) = &node.value else {
            self.problem(
                at,
                format!("an entry must be a map, not {}", node.value.type_name()),
            );
            return None;
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| matches!(&k.value, Yaml::Str(s) if s == name))
                .map(|(_, v)| v)
        };
        let name = match get("name").map(|n| (&n.value, line(n))) {
            Some((Yaml::Str(name), _)) if is_name(name) => name.clone(),
            Some((Yaml::Str(name), l)) => {
                self.problem(l, format!("'{name}' is not a valid entry name"));
                return None;
            }
            Some((other, l)) => {
                self.problem(
                    l,
                    format!("name must be a string, not {}", other.type_name()),
                );
                return None;
            }
            None => {
                self.problem(at, "entry has no name");
                return None;
            }
        };
        let id = format!("{}:{name}", self.namespace);
        let kind = match get("kind").map(|k| (&k.value, line(k))) {
            Some((Yaml::Str(kind), _)) => kind.clone(),
            Some((other, l)) => {
                self.problem(
                    l,
                    format!("{id}: kind must be a string, not {}", other.type_name()),
                );
                return None;
            }
            None => {
                self.problem(at, format!("{id}: entry has no kind"));
                return None;
            }
        };
        let allowed: &[&str] = match kind.as_str() {
            "process.lua" => &["source", "method", "modules", "imports"],
            "library.lua" => &["source", "modules", "imports"],
            "process.host" => &["host", "lifecycle"],
            "security.policy" => &["rules", "policy"],
            "process.service" => &[
                "process",
                "host",
                "register_as",
                "input",
                "lifecycle",
                "security",
            ],
            _ => {
                self.problem(
                    get("kind").and_then(line),
                    format!("{id}: unknown entry kind '{kind}'"),
                );
                return None;
            }
        };
        let mut ok = true;
        for (key, _) in fields {
            match &key.value {
                Yaml::Str(k)
                    if k == "name"
                        || k == "kind"
                        || k == "meta"
                        || allowed.contains(&k.as_str()) => {}
                Yaml::Str(k) => {
                    self.problem(
                        line(key),
                        format!("{id}: unknown field '{k}' for a {kind} entry"),
                    );
                    ok = false;
                }
                other => {
                    self.problem(
                        line(key),
                        format!(
                            "{id}: field names must be strings, not {}",
                            other.type_name()
                        ),
                    );
                    ok = false;
                }
            }
        }
        let mut references = Vec::new();
        let kind = match kind.as_str() {
            "process.lua" => self
                .read_process(&id, &get, &mut references)
                .map(EntryKind::Process),
            "library.lua" => self
                .read_process(&id, &get, &mut references)
                .map(EntryKind::Library),
            "security.policy" => self.read_policy(&id, &get, at).map(EntryKind::Policy),
            "process.service" => self
                .read_service(&id, &get, at, &mut references)
                .map(EntryKind::Service),
            _ => self.read_host(&id, &get).map(EntryKind::Host),
        };
        let kind = kind.filter(|_| ok)?;
        Some(Pending {
            entry: Entry {
                id,
                kind,
                file: self.file.to_path_buf(),
                line: at.unwrap_or(0),
            },
            references,
        })
    }

    /// The fields of a `process.lua` or `library.lua` entry; each import is added to
    /// `references` for checking once every entry is known.
    fn read_process<'n>(
        &mut self,
        id: &str,
        get: &dyn Fn(&str) -> Option<&'n Node>,
        references: &mut Vec<(String, &'static str, Option<usize>)>,
    ) -> Option<Arc<ProcessEntry>> {
        let source_node = match get("source") {
            Some(node) => node,
            None => {
                self.problem(None, format!("{id}: process.lua needs a source"));
                return None;
            }
        };
        let path = self.file_path(id, source_node)?;
        let method = match get("method").map(|m| (&m.value, line(m))) {
            None => "main".to_string(),
            Some((Yaml::Str(m), _)) if !m.is_empty() => m.clone(),
            Some((other, l)) => {
                self.problem(
                    l,
                    format!(
                        "{id}: method must be a non-empty string, not {}",
                        other.type_name()
                    ),
                );
                return None;
            }
        };
        let mut modules = Vec::new();
        match get("modules").map(|m| (&m.value, line(m))) {
            None | Some((Yaml::Null, _)) => {}
            Some((Yaml::Seq(items), _)) => {
                for item in items {
                    match &item.value {
                        Yaml::Str(m) if MODULES.contains(&m.as_str()) => modules.push(m.clone()),
                        Yaml::Str(m) => {
                            self.problem(line(item), format!("{id}: unknown module '{m}'"))
                        }
                        other => self.problem(
                            line(item),
                            format!("{id}: module names are strings, not {}", other.type_name()),
                        ),
                    }
                }
            }
            Some((other, l)) => self.problem(
                l,
                format!("{id}: modules must be a list, not {}", other.type_name()),
            ),
        }
        let mut imports = BTreeMap::new();
        match get("imports").map(|m| (&m.value, line(m))) {
            None | Some((Yaml::Null, _)) => {}
            Some((Yaml::Map(items), _)) => {
                for (key, target) in items {
                    match (&key.value, &target.value) {
                        (Yaml::Str(alias), Yaml::Str(target_id)) if !alias.is_empty() => {
                            let target_id = self.reference(target_id);
                            references.push((target_id.clone(), "library.lua", line(target)));
                            imports.insert(alias.clone(), target_id);
                        }
                        _ => self.problem(
                            line(target),
                            format!("{id}: an import maps an alias to a library.lua entry id"),
                        ),
                    }
                }
            }
            Some((other, l)) => self.problem(
                l,
                format!(
                    "{id}: imports must be a map of alias: library, not {}",
                    other.type_name()
                ),
            ),
        }
        let source = read_source(&path, self.problems)?;
        Some(Arc::new(ProcessEntry {
            id: id.to_string(),
            source,
            chunk_name: relative_name(self.root, &path),
            path,
            method,
            modules,
            imports,
        }))
    }

    /// A reference as written (a full id, or a bare name in this file's namespace) → a full id.
    fn reference(&self, text: &str) -> String {
        if text.contains(':') {
            text.to_string()
        } else {
            format!("{}:{text}", self.namespace)
        }
    }

    /// Resolves a `file://` path relative to this file, inside the app directory.
    fn file_path(&mut self, id: &str, node: &Node) -> Option<PathBuf> {
        let Yaml::Str(text) = &node.value else {
            self.problem(
                line(node),
                format!(
                    "{id}: source must be a file:// path, not {}",
                    node.value.type_name()
                ),
            );
            return None;
        };
        let Some(rel) = text.strip_prefix("file://") else {
            self.problem(line(node), format!("{id}: source must start with file://"));
            return None;
        };
        let dir = self.file.parent().unwrap_or(self.root);
        let normal = normalize(&dir.join(rel));
        let root = normalize(self.root);
        if !normal.starts_with(&root) {
            self.problem(
                line(node),
                format!("{id}: source '{text}' leaves the app directory"),
            );
            return None;
        }
        if !normal.is_file() {
            self.problem(
                line(node),
                format!("{id}: source file '{text}' does not exist"),
            );
            return None;
        }
        let inside = match (
            std::fs::canonicalize(&normal),
            std::fs::canonicalize(self.root),
        ) {
            (Ok(real), Ok(root)) => real.starts_with(root),
            _ => false,
        };
        if !inside {
            self.problem(
                line(node),
                format!("{id}: source '{text}' is a link that leads outside the app directory"),
            );
            return None;
        }
        Some(normal)
    }

    fn read_host<'n>(
        &mut self,
        id: &str,
        get: &dyn Fn(&str) -> Option<&'n Node>,
    ) -> Option<HostConfig> {
        let mut config = HostConfig::default();
        let Some(host) = get("host") else {
            return Some(config);
        };
        let fields = match &host.value {
            Yaml::Map(fields) => fields,
            Yaml::Null => return Some(config),
            other => {
                self.problem(
                    line(host),
                    format!("{id}: host must be a map, not {}", other.type_name()),
                );
                return None;
            }
        };
        let mut ok = true;
        for (key, value) in fields {
            let Yaml::Str(k) = &key.value else {
                self.problem(line(key), format!("{id}: host settings have string keys"));
                ok = false;
                continue;
            };
            let int = |min: i64| match value.value {
                Yaml::Int(n) if n >= min => Some(n),
                _ => None,
            };
            let boolean = match value.value {
                Yaml::Bool(b) => Some(b),
                _ => None,
            };
            let valid = match k.as_str() {
                "workers" => int(1)
                    .filter(|&n| n <= crate::sched::MAX_WORKERS as i64)
                    .map(|n| config.workers = Some(n as usize))
                    .is_some(),
                "memory_limit" => match &value.value {
                    Yaml::Int(n) if *n >= 0 => {
                        config.memory_limit = *n as u64;
                        true
                    }
                    Yaml::Str(text) => match super::parse_size(text) {
                        Some(n) => {
                            config.memory_limit = n;
                            true
                        }
                        None => false,
                    },
                    _ => false,
                },
                "mailbox_limit" => int(0).map(|n| config.mailbox_limit = n as u64).is_some(),
                "max_processes" => int(0).map(|n| config.max_processes = n as u64).is_some(),
                "preemption_budget" => int(0)
                    .filter(|&n| n <= i64::from(u32::MAX))
                    .map(|n| config.preemption_budget = n as u32)
                    .is_some(),
                "io" => boolean.map(|b| config.io = b).is_some(),
                "strict" => boolean.map(|b| config.strict = b).is_some(),
                "native" => boolean.map(|b| config.native = b).is_some(),
                _ => {
                    self.problem(line(key), format!("{id}: unknown host setting '{k}'"));
                    ok = false;
                    continue;
                }
            };
            if !valid {
                let expected = match k.as_str() {
                    "io" | "strict" | "native" => "a boolean",
                    "workers" => "an integer from 1 to 1024",
                    "memory_limit" => "a number of bytes or a size such as \"512MB\"",
                    _ => "an integer >= 0",
                };
                self.problem(
                    line(value),
                    format!(
                        "{id}: host.{k} must be {expected}, not {}",
                        value.value.type_name()
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(config)
    }
}

/// `path` with `.` and `..` components resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            // `a/..` is nothing; a leading `..` (an app given as `../app`) stays.
            Component::ParentDir => match normal.components().next_back() {
                Some(Component::Normal(_)) => {
                    normal.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => normal.push(".."),
            },
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}
