//! `print`: one whole line on stdout per call, never interleaved with other output.

use std::io::Write;

use super::raw::{self, Stack, lua_fn};

/// The line `print` writes: each argument through `tostring`, tab-separated, with `\n`.
pub fn line(stack: Stack<'_>) -> Vec<u8> {
    let n = stack.top();
    let mut line = Vec::with_capacity(64);
    for i in 1..=n {
        if i > 1 {
            line.push(b'\t');
        }
        line.extend_from_slice(stack.to_display(i));
        stack.pop(1);
    }
    line.push(b'\n');
    line
}

lua_fn! {
    /// `print(...)`.
    pub fn print(stack) {
        write_stdout(&line(stack));
        raw::values(0)
    }
}

/// Writes `bytes` to stdout in one locked write. Errors (a closed pipe) are ignored: printing
/// never fails.
pub fn write_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}
