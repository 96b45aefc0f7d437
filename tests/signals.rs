//! Ctrl+C and SIGTERM: `run` shuts the runtime down and exits 130 / 143.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::app;

/// Runs an app whose main prints "ready" and then waits forever; sends `signal` once it is
/// ready and returns the exit code and stderr.
fn interrupt_with(signal: &str) -> (i32, String) {
    interrupt_app_with(
        signal,
        &[
            (
                "main.lua",
                r##"return function()
                    process.spawn("app:spin", "app:processes")
                    print("ready")
                    process.inbox():receive()
                end"##,
            ),
            ("spin.lua", "return function() while true do end end"),
        ],
    )
}

/// Runs `files` (whose main prints "ready"), sends `signal` once it is ready and returns the
/// exit code and stderr.
fn interrupt_app_with(signal: &str, files: &[(&str, &str)]) -> (i32, String) {
    let app = app(files);
    let mut child = Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .args(["run", app.dir.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("moonweave starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn sigint_shuts_down_and_exits_130() {
    let (code, stderr) = interrupt_with("-INT");
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("interrupted (SIGINT), shutting down"),
        "{stderr}"
    );
}

#[test]
fn sigterm_shuts_down_and_exits_143() {
    let (code, stderr) = interrupt_with("-TERM");
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains("terminated (SIGTERM), shutting down"),
        "{stderr}"
    );
}

/// A busy loop on a host without preemption, and a process that upgrades itself forever, are
/// stopped by the shutdown's deadline: the binary exits instead of hanging.
#[test]
fn sigterm_stops_busy_processes_without_preemption_and_upgrade_loops() {
    let (code, stderr) = interrupt_app_with(
        "-TERM",
        &[
            (
                "app.yaml",
                "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: spin, kind: process.lua, source: file://spin.lua}\n  - {name: looper, kind: process.lua, source: file://looper.lua}\n  - {name: processes, kind: process.host, host: {workers: 2, preemption_budget: 0, io: true}}\n",
            ),
            (
                "main.lua",
                r##"return function()
                    process.spawn("app:looper", "app:processes", 0)
                    process.spawn("app:spin", "app:processes")
                    print("ready")
                    process.inbox():receive()
                end"##,
            ),
            ("spin.lua", "return function() while true do end end"),
            (
                "looper.lua",
                "return function(n) return process.upgrade(nil, n + 1) end",
            ),
        ],
    );
    assert_eq!(code, 143, "{stderr}");
}
