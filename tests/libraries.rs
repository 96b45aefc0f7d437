//! Shared Lua code (app-format.md §2.5): `library.lua` entries with `imports`, and in
//! zero-config apps `require` of sibling files — one instance per process.

mod common;

use common::{app, moonweave};

const DEFINITIONS: &str = "namespace: app
entries:
  - {name: main, kind: process.lua, source: file://main.lua, imports: {counter: counter, fmt: app.util:format}}
  - {name: counter, kind: library.lua, source: file://lib/counter.lua, imports: {fmt: app.util:format}}
  - {name: plain, kind: process.lua, source: file://plain.lua}
";

const UTIL: &str = "namespace: app.util
entries:
  - {name: format, kind: library.lua, source: file://format.lua, modules: [json]}
";

#[test]
fn libraries_import_libraries_and_use_their_own_modules() {
    let app = app(&[
        ("app.yaml", DEFINITIONS),
        ("util/defs.yaml", UTIL),
        (
            "main.lua",
            r##"return function()
                local counter = require("counter")
                print(counter.next(), counter.next(), counter.label())
                print(require("fmt").show({b = 2, a = 1}), loaded_counter)
                local ok, err = pcall(require, "json") -- the library may, main may not
                print(ok, err:kind())
            end"##,
        ),
        (
            "lib/counter.lua",
            r##"local fmt = require("fmt")
            local n = 0
            loaded_counter = (loaded_counter or 0) + 1 -- a global of the process
            return {
                next = function() n += 1 return n end,
                label = function() return fmt.show({loads = loaded_counter}) end,
            }"##,
        ),
        (
            "util/format.lua",
            r##"local json = require("json")
            return {show = function(v) return json.encode(v) end}"##,
        ),
        ("plain.lua", "return function() end"),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "1\t2\t{\"loads\":1}\n{\"a\":1,\"b\":2}\t1\nfalse\tNOT_FOUND\n"
    );
}

#[test]
fn each_process_gets_its_own_instance_and_errors_name_the_library() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app
entries:
  - {name: main, kind: process.lua, source: file://main.lua, imports: {counter: counter, broken: broken, notable: notable}}
  - {name: counter, kind: library.lua, source: file://counter.lua}
  - {name: broken, kind: library.lua, source: file://broken.lua}
  - {name: notable, kind: library.lua, source: file://notable.lua, modules: [json]}
",
        ),
        (
            "main.lua",
            r##"return {
            main = function(role)
                local counter = require("counter")
                if role == "child" then return counter.next() end
                print(require("counter") == counter, counter.next(), counter.next(), shared_global)
                process.spawn_monitored("app:main", "app:processes", "child")
                print("child", process.events():receive().result.value)
                local ok, err = pcall(require, "broken")
                print(ok, err:kind(), err:message())
                ok, err = pcall(require, "notable")
                print(ok, err:kind(), err:message())
                ok, err = pcall(require, "json")
                print(ok, err:kind(), err:message())
                local pid, e = process.spawn("app:counter", "app:processes")
                print(pid, e:kind())
            end,
        }"##,
        ),
        (
            "counter.lua",
            r##"local n = 0
            shared_global = "set by the library"
            return {next = function() n += 1 return n end}"##,
        ),
        ("broken.lua", "error('no luck')"),
        ("notable.lua", "return 42"),
    ]);
    // The child runs app:main too: its own instance counts from 1 again.
    assert_eq!(
        app.run(&[]).ok(),
        "true\t1\t2\tset by the library\n\
         child\t1\n\
         false\tUNKNOWN\tlibrary 'app:broken' failed: broken.lua:1: no luck\n\
         false\tINVALID\tlibrary 'app:notable' returned number, not a table\n\
         false\tNOT_FOUND\tmodule 'json' is not available to app:main\n\
         nil\tINVALID\n"
    );
}

#[test]
fn import_problems_are_load_errors() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app
entries:
  - {name: main, kind: process.lua, source: file://main.lua, imports: {a: a, gone: missing, host: processes}}
  - {name: a, kind: library.lua, source: file://main.lua, imports: {b: b}}
  - {name: b, kind: library.lua, source: file://main.lua, imports: {a: a}}
  - {name: processes, kind: process.host}
",
        ),
        ("main.lua", "return {}"),
    ]);
    let out = moonweave(&["check", app.path("").to_str().unwrap()]);
    assert_eq!(out.code, 1);
    let problems: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(problems.len(), 3, "{}", out.stderr);
    assert!(
        problems[0].ends_with("app.yaml:3: reference to missing entry 'app:missing'"),
        "{}",
        out.stderr
    );
    assert!(
        problems[1]
            .ends_with("app.yaml:3: 'app:processes' is a process.host, expected a library.lua"),
        "{}",
        out.stderr
    );
    assert!(
        problems[2].ends_with("app.yaml:4: import cycle: app:a → app:b → app:a"),
        "{}",
        out.stderr
    );
}

#[test]
fn zero_config_apps_require_sibling_files() {
    let app = app(&[
        (
            "main.lua",
            r##"local util = require("util")
            local deep = require("lib.strings")
            return function()
                print(util.double(21), deep.shout("hi"), require("util") == util)
                local ok, err = pcall(require, "missing")
                print(ok, err:kind(), err:message())
            end"##,
        ),
        ("util.lua", "return {double = function(x) return x * 2 end}"),
        (
            "lib/strings.lua",
            "local util = require('util') return {shout = function(s) return s:upper() .. util.double(1) end}",
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "42\tHI2\ttrue\nfalse\tNOT_FOUND\tmodule 'missing' is not available to app:main\n"
    );
}
