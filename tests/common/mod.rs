//! Helpers for integration tests: write a Lua app to a fresh directory and run the real
//! `moonweave` binary on it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory holding one test app; removed when dropped.
pub struct TestApp {
    pub dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `files` (relative path, contents) into a new directory.
pub fn app(files: &[(&str, &str)]) -> TestApp {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "app-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    TestApp { dir }
}

impl TestApp {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `moonweave run <dir> args…`
    pub fn run(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["run", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        moonweave(&all)
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stderr as written, for tests of bytes that are not UTF-8.
    pub stderr_bytes: Vec<u8>,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Self {
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stderr_bytes: output.stderr,
        }
    }
}

impl Outcome {
    /// Asserts a clean exit with code 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected exit 0\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }
}

/// How long a run may take before the test calls it hung. Not a performance bound: the runs
/// take well under a second; this only turns a hang into a failure instead of a stuck CI.
const HANG: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits for `child`, reading its output, and fails the test if it does not finish in [`HANG`].
fn finish(mut child: std::process::Child) -> Outcome {
    use std::io::Read;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the binary can be waited for") {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moonweave did not finish within {HANG:?}: it hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().expect("stdout was read"),
        stderr: err.join().expect("stderr was read"),
    }
    .into()
}

/// Runs the binary with `args` and no standard input.
pub fn moonweave(args: &[&str]) -> Outcome {
    moonweave_with_env(args, &[])
}

/// Runs the binary with `args`, the environment variables `env` and no standard input.
pub fn moonweave_with_env(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let child = Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the moonweave binary runs");
    finish(child)
}

/// Runs the binary with `args`, feeding `input` to its standard input through a pipe.
pub fn moonweave_with_input(args: &[&str], input: &[u8]) -> Outcome {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the moonweave binary runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let outcome = finish(child);
    feeder.join().expect("the input was written");
    outcome
}

/// Runs a single-file program `main.lua` with `source` and returns the outcome.
pub fn run_main(source: &str, args: &[&str]) -> Outcome {
    let app = app(&[("main.lua", source)]);
    app.run(args)
}

/// The repository root, for examples.
pub fn repo(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .to_string_lossy()
        .into_owned()
}
