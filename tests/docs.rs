//! Docs that cannot drift (issue: a newcomer's first hour): every code block fenced as
//! ```` ```lua ```` in `docs/` and `README.md` is a complete program that runs through the real
//! binary and exits 0. A block whose first line is `-- <path>` naming a file of the repository
//! is a quote of that file and must match it instead. Fragments are fenced ```` ```lua no-run ````.

mod common;

use std::path::{Path, PathBuf};

/// A ```` ```lua ```` block: where it starts and its text.
struct Block {
    file: PathBuf,
    line: usize,
    text: String,
}

/// The blocks of `path` whose info string is exactly `lua`.
fn lua_blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut open {
            None if fence.starts_with("```") => {
                open = Some((i + 1, fence.trim_end() == "```lua", String::new()));
            }
            None => {}
            Some((start, runs, body)) => {
                if fence.starts_with("```") {
                    if *runs {
                        blocks.push(Block {
                            file: path.to_path_buf(),
                            line: *start,
                            text: std::mem::take(body),
                        });
                    }
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    blocks
}

/// Every Markdown file below `dir`.
fn markdown(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown(&path, found);
        } else if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
}

#[test]
fn every_lua_block_in_the_docs_and_the_readme_runs_or_quotes_a_real_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    markdown(&root.join("docs"), &mut files);
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        for block in lua_blocks(file) {
            checked += 1;
            let place = format!("{}:{}", block.file.display(), block.line);
            let quoted = block
                .text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("-- "))
                .map(|p| root.join(p.trim()))
                .filter(|p| p.is_file());
            if let Some(source) = quoted {
                let real = std::fs::read_to_string(&source).unwrap_or_default();
                let quote: String = block.text.lines().skip(1).collect::<Vec<_>>().join("\n");
                if !real.contains(quote.trim()) {
                    failures.push(format!("{place}: differs from {}", source.display()));
                }
                continue;
            }
            let app = common::app(&[("main.lua", &block.text)]);
            let out = app.run(&[]);
            if out.code != 0 {
                failures.push(format!(
                    "{place}: exit {}\n{}{}",
                    out.code, out.stdout, out.stderr
                ));
            }
        }
    }
    assert!(checked > 0, "no lua blocks found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
