//! Ctrl+C and SIGTERM: `run` shuts the runtime down and exits 130 / 143.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::app;

/// Runs an app whose main prints "ready" and then waits forever; sends `signal` once it is
/// ready and returns the exit code and stderr.
fn interrupt_with(signal: &str) -> (i32, String) {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn("app:spin", "app:processes")
                print("ready")
                process.inbox():receive()
            end"##,
        ),
        ("spin.lua", "return function() while true do end end"),
    ]);
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
