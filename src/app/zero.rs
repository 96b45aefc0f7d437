//! The zero-config forms: a single `.lua` file, or a directory of `.lua` files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{
    App, Entry, EntryKind, MODULES, Problem, ProcessEntry, is_name, is_segment, read_source,
    relative_name, walk,
};

/// `path/to/x.lua` → an app with the one entry `app:x`, which is also the exec entry.
pub fn load_single_file(path: &Path, problems: &mut Vec<Problem>) -> Option<App> {
    let root = path.parent().unwrap_or(Path::new("."));
    let stem = path.file_stem()?.to_string_lossy().to_string();
    if !is_name(&stem) {
        problems.push(Problem::new(
            path,
            None,
            format!("'{stem}' is not a valid entry name"),
        ));
        return None;
    }
    let id = format!("app:{stem}");
    let source = read_source(path, problems)?;
    let entry = process_entry(&relative_name(root, path), path, &id, source);
    let mut app = App {
        root: root.to_path_buf(),
        entries: BTreeMap::from([(id.clone(), entry)]),
        default_exec: Some(id),
        zero_config: true,
    };
    app.add_default_host(path);
    Some(app)
}

/// Every `.lua` file below `dir` → an entry: `x.lua` → `app:x`, `sub/dir/y.lua` → `app.sub.dir:y`.
pub fn load_directory(dir: &Path, problems: &mut Vec<Problem>) -> Option<App> {
    let files = walk(
        dir,
        &|p| p.extension().is_some_and(|e| e == "lua" || e == "luau"),
        problems,
    );
    if files.is_empty() {
        problems.push(Problem::new(
            dir,
            None,
            "no .lua files and no definition files",
        ));
        return None;
    }
    let mut entries = BTreeMap::new();
    for file in files {
        let rel = relative_name(dir, &file);
        if let Some(id) = entry_id(&rel, &file, problems)
            && let Some(source) = read_source(&file, problems)
        {
            if let Some(Entry { file: other, .. }) = entries.get(&id) {
                problems.push(Problem::new(
                    &file,
                    None,
                    format!(
                        "'{id}' is both {} and {}: keep one",
                        other.display(),
                        file.display()
                    ),
                ));
                continue;
            }
            entries.insert(id.clone(), process_entry(&rel, &file, &id, source));
        }
    }
    Some(directory_app(dir, entries))
}

/// The in-memory form of a directory (the embedding API's `app_file`): `(name, source)` pairs
/// named as files below the app directory would be (`"lib/strings.lua"` → `app.lib:strings`).
pub fn load_files(files: &[(String, Vec<u8>)], problems: &mut Vec<Problem>) -> Option<App> {
    let mut entries = BTreeMap::new();
    for (name, source) in files {
        let file = Path::new(name);
        let rel = relative_name(Path::new(""), file);
        if source_stem(&rel).is_none() || rel.split('/').any(|p| p.is_empty() || p == "..") {
            problems.push(Problem::new(
                file,
                None,
                "an app file must be a relative path ending in .lua or .luau",
            ));
            continue;
        }
        if let Some(id) = entry_id(&rel, file, problems) {
            if let Some(Entry { file: other, .. }) = entries.get(&id) {
                problems.push(Problem::new(
                    file,
                    None,
                    format!("'{id}' is both {} and {}: keep one", other.display(), name),
                ));
                continue;
            }
            entries.insert(id.clone(), process_entry(&rel, file, &id, source.clone()));
        }
    }
    if !problems.is_empty() {
        return None;
    }
    Some(directory_app(Path::new(""), entries))
}

/// The entry id of the file `rel` (relative to the app directory, `/`-separated).
fn entry_id(rel: &str, file: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    let mut parts: Vec<&str> = rel.split('/').collect();
    let file_name = parts.pop().unwrap_or_default();
    let stem = source_stem(file_name).unwrap_or(file_name);
    if let Some(bad) = parts.iter().find(|p| !is_segment(p)) {
        problems.push(Problem::new(
            file,
            None,
            format!("directory '{bad}' is not a valid namespace segment"),
        ));
        return None;
    }
    if !is_name(stem) {
        problems.push(Problem::new(
            file,
            None,
            format!("'{stem}' is not a valid entry name"),
        ));
        return None;
    }
    let namespace = std::iter::once("app")
        .chain(parts)
        .collect::<Vec<_>>()
        .join(".");
    Some(format!("{namespace}:{stem}"))
}

/// A zero-config app of `entries` whose files lie below `root`; `app:main` is its exec entry.
fn directory_app(root: &Path, entries: BTreeMap<String, Entry>) -> App {
    let mut app = App {
        root: root.to_path_buf(),
        default_exec: entries
            .contains_key("app:main")
            .then(|| "app:main".to_string()),
        entries,
        zero_config: true,
    };
    app.add_default_host(root);
    app
}

/// An app with only the default host (the embedding API's builder without an app).
pub fn empty() -> App {
    directory_app(Path::new(""), BTreeMap::new())
}

/// The name of a Luau source file without its extension (`.lua` or `.luau`).
pub fn source_stem(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".luau")
        .or_else(|| file_name.strip_suffix(".lua"))
}

/// A zero-config entry: method `main`, every module allowed; `chunk_name` is the file's path
/// relative to the app directory.
fn process_entry(chunk_name: &str, file: &Path, id: &str, source: Vec<u8>) -> Entry {
    Entry {
        id: id.to_string(),
        kind: EntryKind::Process(Arc::new(ProcessEntry {
            id: id.to_string(),
            source,
            chunk_name: chunk_name.to_string(),
            path: file.to_path_buf(),
            method: "main".to_string(),
            modules: MODULES.iter().map(|m| m.to_string()).collect(),
            imports: BTreeMap::new(),
        })),
        file: file.to_path_buf(),
        line: 1,
    }
}
