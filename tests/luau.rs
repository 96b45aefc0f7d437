//! Luau as Luau users know it: `.luau` files, sources as bytes, and Luau's own chunk names and
//! error positions. The reference is plain Luau (mlua with nothing of moonweave) running the
//! same code.

mod common;

use common::{app, run_main};

/// What plain Luau (mlua, nothing of moonweave) says for a chunk named `name`: its syntax
/// error, or the error it raises when called (its first line: mlua adds a traceback).
fn plain_luau(source: &str, name: &str) -> String {
    let lua = mlua::Lua::new();
    let message = match lua.load(source).set_name(name).into_function() {
        Err(mlua::Error::SyntaxError { message, .. }) => message,
        Err(other) => panic!("{other:?}"),
        Ok(f) => match f.call::<()>(()) {
            Err(mlua::Error::RuntimeError(message)) => message,
            Err(mlua::Error::CallbackError { cause, .. }) => cause.to_string(),
            other => panic!("{other:?}"),
        },
    };
    message.lines().next().unwrap_or_default().to_string()
}

/// `load(source, name)` in a moonweave process: its syntax error, or the error the chunk
/// raises, one line per case.
fn moonweave_load(cases: &[(String, Option<&str>)]) -> Vec<String> {
    let mut lua_cases = String::new();
    for (source, name) in cases {
        let name = match name {
            Some(n) => format!("{n:?}"),
            None => "nil".to_string(),
        };
        lua_cases.push_str(&format!("    {{ {source:?}, {name} }},\n"));
    }
    let program = format!(
        r#"local cases = {{
{lua_cases}}}
return function()
    for _, case in cases do
        local f, e = load(case[1], case[2])
        if not f then
            print(e)
        else
            local ok, err = pcall(f)
            print(tostring(err))
        end
    end
end"#
    );
    let out = run_main(&program, &[]);
    out.ok().lines().map(str::to_string).collect()
}

#[test]
fn load_with_a_name_positions_errors_as_plain_luau() {
    let cases = [
        ("x = ".to_string(), Some("=named")),
        ("\n\nerror('third line')".to_string(), Some("=named")),
        ("error('at file')".to_string(), Some("@lib/file.luau")),
        ("local a = 1\nx = ".to_string(), Some("@lib/file.luau")),
    ];
    let expected: Vec<String> = cases
        .iter()
        .map(|(s, n)| plain_luau(s, n.unwrap()))
        .collect();
    assert_eq!(moonweave_load(&cases), expected);
}

#[test]
fn load_without_a_name_names_the_chunk_by_its_source_as_luau_does() {
    // Luau's loadstring: the chunk name is the source, shown as [string "<first line>"]
    // (cut at the first newline or after 241 bytes, with "..." when cut).
    let long = format!("error('deep') -- {}", "y".repeat(300));
    let cases = [
        ("x = ".to_string(), None),
        ("error('boom')".to_string(), None),
        ("local a = 1\nerror('second line')".to_string(), None),
        (long.clone(), None),
        ("x = ".to_string(), Some("plain name")),
    ];
    let cut = &long[..241];
    assert_eq!(
        moonweave_load(&cases),
        [
            "[string \"x = \"]:1: Expected identifier when parsing expression, got <eof>"
                .to_string(),
            "[string \"error('boom')\"]:1: boom".to_string(),
            "[string \"local a = 1...\"]:2: second line".to_string(),
            format!("[string \"{cut}...\"]:1: deep"),
            "[string \"plain name\"]:1: Expected identifier when parsing expression, got <eof>"
                .to_string(),
        ]
    );
}

#[test]
fn an_error_in_a_file_has_the_position_plain_luau_gives_it() {
    let source = "local function f()\n    error('in f')\nend\nreturn function() f() end\n";
    let out = run_main(source, &[]);
    let lua = mlua::Lua::new();
    let main: mlua::Function = lua.load(source).set_name("@main.lua").eval().unwrap();
    let expected = match main.call::<()>(()) {
        Err(mlua::Error::RuntimeError(message)) => message,
        Err(mlua::Error::CallbackError { cause, .. }) => cause.to_string(),
        other => panic!("{other:?}"),
    };
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.ends_with(expected.lines().next().unwrap()),
        "{first} / {expected}"
    );
    assert!(expected.starts_with("main.lua:2: in f"), "{expected}");
}

#[test]
fn luau_files_are_sources_everywhere_and_a_name_in_both_forms_is_an_error() {
    let dir = app(&[
        (
            "main.luau",
            "return function() return require('util').n + require('lib.more').n end",
        ),
        ("util.lua", "return { n = 40 }"),
        ("lib/more.luau", "return { n = 2 }"),
    ]);
    assert_eq!(dir.run(&[]).code, 42);
    let single = app(&[("solo.luau", "return function() return 7 end")]);
    let out = common::moonweave(&["run", single.path("solo.luau").to_str().unwrap()]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    let yaml = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://main.luau }\n",
        ),
        ("main.luau", "return function() return 5 end"),
    ]);
    assert_eq!(yaml.run(&[]).code, 5);
    let listed = common::moonweave(&["list", dir.dir.to_str().unwrap()]);
    assert!(
        listed.ok().contains("app.lib:more\tprocess.lua\n"),
        "{}",
        listed.stdout
    );
    let both = app(&[
        ("main.lua", "return function() end"),
        ("x.lua", "return {}"),
        ("x.luau", "return {}"),
    ]);
    let out = common::moonweave(&["check", both.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("'app:x' is both")
            && out.stderr.contains("x.lua")
            && out.stderr.contains("x.luau"),
        "{}",
        out.stderr
    );
}

#[test]
fn sources_are_bytes_raw_bytes_in_literals_and_patterns_work() {
    // Latin-1 bytes, not UTF-8: a string literal and a pattern class hold them as they are.
    let mut source = b"return function()\n    local s = \"caf".to_vec();
    source.push(0xe9);
    source.extend_from_slice(b"\"\n    local i = string.find(s, \"[");
    source.push(0xe9);
    source.extend_from_slice(b"]\")\n    print(#s, i, string.byte(s, 4))\nend\n");
    let dir = app(&[]);
    std::fs::create_dir_all(&dir.dir).unwrap();
    std::fs::write(dir.path("main.lua"), &source).unwrap();
    let out = dir.run(&[]);
    assert_eq!(out.ok(), "4\t4\t233\n");
    // `check` reads bytes too.
    let out = common::moonweave(&["check", dir.dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A syntax error in such a file is still reported with its line.
    let mut bad = source.clone();
    bad.extend_from_slice(b"local = \n");
    std::fs::write(dir.path("main.lua"), &bad).unwrap();
    let out = common::moonweave(&["check", dir.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("main.lua:6: syntax error"),
        "{}",
        out.stderr
    );
}

#[test]
fn table_move_over_a_wide_sparse_range_moves_the_elements_there_are() {
    // Without LuauTableMoveTimeoutFix this visits all 2^30 indices.
    let out = run_main(
        r#"return function()
            local t = table.move({ "a", [1000] = "b" }, 1, 2 ^ 30, 3)
            print(t[3], t[1002], t[4])
        end"#,
        &[],
    );
    assert_eq!(out.ok(), "a\tb\tnil\n");
}

#[test]
fn native_code_is_preempted_like_bytecode() {
    // One worker: main gets the worker back only if the native busy loop is preempted.
    let out = common::app(&[(
        "main.lua",
        r#"--!native
return function(role)
    if role == "spinner" then
        local x = 0
        while true do x += 1 end
    end
    local spinner = process.spawn("app:main", "app:processes", "spinner")
    require("time").sleep(20)
    process.terminate(spinner)
    print("preempted")
end"#,
    )])
    .run(&["--workers", "1"]);
    assert_eq!(out.ok(), "preempted\n");
}

#[test]
fn a_native_host_runs_its_code_natively_with_the_same_results() {
    let source =
        "return function() local t = 0 for i = 1, 1000 do t += i % 7 end return t % 256 end";
    let native = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - { name: processes, kind: process.host, host: { native: true } }\n  - { name: main, kind: process.lua, source: file://main.lua }\n",
        ),
        ("main.lua", source),
    ]);
    let bytecode = run_main(source, &[]);
    assert_eq!(native.run(&[]).code, bytecode.code);
    let bad = app(&[(
        "app.yaml",
        "namespace: app\nentries:\n  - { name: processes, kind: process.host, host: { native: \"yes\" } }\n",
    )]);
    let out = common::moonweave(&["check", bad.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("app.yaml:3: app:processes: host.native must be a boolean"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_traceback_shows_the_frames_plain_luau_shows() {
    let source = "local function inner()\n    error('deep')\nend\nlocal function outer()\n    inner()\nend\nreturn function() outer() end\n";
    // Plain Luau: the same functions, the traceback taken where the error is handled.
    let lua = mlua::Lua::new();
    let main: mlua::Function = lua.load(source).set_name("@main.lua").eval().unwrap();
    lua.globals().set("main", main).unwrap();
    let plain: String = lua
        .load("return select(2, xpcall(main, debug.traceback))")
        .eval()
        .unwrap();
    let frames = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| l.starts_with("main.lua:") && !l.contains(": deep"))
            .collect()
    };
    let out = run_main(source, &[]);
    let shown: String = out
        .stderr
        .lines()
        .map(|l| l.rsplit_once('/').map_or(l, |(_, file)| file))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(frames(&shown), frames(&plain), "{shown}\n---\n{plain}");
    assert_eq!(frames(&plain).len(), 3, "{plain}");
}
