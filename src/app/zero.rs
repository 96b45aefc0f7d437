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
    let entry = process_entry(root, path, &id, problems)?;
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
        &|p| p.extension().is_some_and(|e| e == "lua"),
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
        let mut parts: Vec<&str> = rel.split('/').collect();
        let file_name = parts.pop().unwrap_or_default();
        let stem = file_name.strip_suffix(".lua").unwrap_or(file_name);
        if let Some(bad) = parts.iter().find(|p| !is_segment(p)) {
            problems.push(Problem::new(
                &file,
                None,
                format!("directory '{bad}' is not a valid namespace segment"),
            ));
            continue;
        }
        if !is_name(stem) {
            problems.push(Problem::new(
                &file,
                None,
                format!("'{stem}' is not a valid entry name"),
            ));
            continue;
        }
        let namespace = std::iter::once("app")
            .chain(parts)
            .collect::<Vec<_>>()
            .join(".");
        let id = format!("{namespace}:{stem}");
        if let Some(entry) = process_entry(dir, &file, &id, problems) {
            entries.insert(id, entry);
        }
    }
    let mut app = App {
        root: dir.to_path_buf(),
        default_exec: entries
            .contains_key("app:main")
            .then(|| "app:main".to_string()),
        entries,
        zero_config: true,
    };
    app.add_default_host(dir);
    Some(app)
}

/// A zero-config entry: method `main`, every module allowed.
fn process_entry(root: &Path, file: &Path, id: &str, problems: &mut Vec<Problem>) -> Option<Entry> {
    let source = read_source(file, problems)?;
    Some(Entry {
        id: id.to_string(),
        kind: EntryKind::Process(Arc::new(ProcessEntry {
            id: id.to_string(),
            source,
            chunk_name: relative_name(root, file),
            path: file.to_path_buf(),
            method: "main".to_string(),
            modules: MODULES.iter().map(|m| m.to_string()).collect(),
            imports: BTreeMap::new(),
        })),
        file: file.to_path_buf(),
        line: 1,
    })
}
