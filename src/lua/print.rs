//! `print`: one whole line on stdout per call, never interleaved with other output.

use std::io::Write;

use mlua::{Function, Lua, MultiValue};

/// Builds `print`, converting arguments with the VM's `tostring`.
pub fn create(lua: &Lua, tostring: Function) -> mlua::Result<Function> {
    lua.create_function(move |_, args: MultiValue| {
        write_stdout(&line(&tostring, args)?);
        Ok(())
    })
}

/// The line `print` writes: each argument through `tostring`, tab-separated, with `\n`.
pub fn line(tostring: &Function, args: MultiValue) -> mlua::Result<Vec<u8>> {
    let mut line = Vec::with_capacity(64);
    for (i, arg) in args.into_iter().enumerate() {
        if i > 0 {
            line.push(b'\t');
        }
        let text: mlua::LuaString = tostring.call(arg)?;
        line.extend_from_slice(&text.as_bytes());
    }
    line.push(b'\n');
    Ok(line)
}

/// Writes `bytes` to stdout in one locked write. Errors (a closed pipe) are ignored: printing
/// never fails.
pub fn write_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}
