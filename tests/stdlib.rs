//! The modules of stdlib.md §7 besides `time`: `json`, `logger`, `ctx`, `io`.

mod common;

use common::{app, moonweave_with_input, run_main};

#[test]
fn json_encodes_with_the_spec_rules() {
    let out = run_main(
        r##"local json = require("json")
        return function()
            for _, v in {
                {b = 1, a = {1, 2.5, "x\n\"q\""}, c = {}},
                true, 0, -3, 2^53, 2^60, 0.1, 1e300, -1.5e-7, "é\0",
                {["b"] = 1, ["a"] = 2, ["B"] = 3},
            } do
                print(json.encode(v))
            end
            print(json.encode(nil))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "{\"a\":[1,2.5,\"x\\n\\\"q\\\"\"],\"b\":1,\"c\":{}}\ntrue\n0\n-3\n9007199254740992\n\
         1.152921504606847e18\n0.1\n1e300\n-1.5e-7\n\"é\\u0000\"\n{\"B\":3,\"a\":2,\"b\":1}\nnull\n"
    );
}

#[test]
fn json_encode_refuses_what_json_cannot_hold() {
    let out = run_main(
        r##"local json = require("json")
        return function()
            local cyclic = {} cyclic.me = cyclic
            local deep = {} local t = deep
            for _ = 1, 128 do t[1] = {} t = t[1] end
            local ok128 = {} t = ok128
            for _ = 1, 127 do t[1] = {} t = t[1] end
            for _, v in {{1, nil, 3}, {1, x = 2}, {[true] = 1}, {[1.5] = 1}, cyclic, deep,
                         print, 0/0, math.huge, "\255", errors.new("e")} do
                local s, err = json.encode(v)
                print(s, err:kind(), err:message())
            end
            print(json.encode(ok128) ~= nil)
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "nil\tINVALID\tjson.encode: an array with holes at $\n\
         nil\tINVALID\tjson.encode: a table with both array and string keys at $\n\
         nil\tINVALID\tjson.encode: a table key of type boolean at $\n\
         nil\tINVALID\tjson.encode: the table key 1.5 at $\n\
         nil\tINVALID\tjson.encode: a table that contains itself at $.me\n\
         nil\tINVALID\tjson.encode: tables nested deeper than 128 levels at $"
            .to_string()
            + &"[1]".repeat(128)
            + "\n\
         nil\tINVALID\tjson.encode: a value of type function at $\n\
         nil\tINVALID\tjson.encode: the number NaN, which JSON cannot represent at $\n\
         nil\tINVALID\tjson.encode: the number inf, which JSON cannot represent at $\n\
         nil\tINVALID\tjson.encode: a string that is not valid UTF-8 at $\n\
         nil\tINVALID\tjson.encode: a value of type error at $\n\
         true\n"
    );
}

#[test]
fn json_decodes_and_round_trips() {
    let out = run_main(
        r##"local json = require("json")
        return function()
            local v = json.decode('{"a":[1,null,3],"b":{"c":true,"d":"\\u00e9"},"n":-2.5e3}')
            print(v.a[1], v.a[2], v.a[3], v.b.c, v.b.d, v.n)
            print(json.decode("null"), select("#", json.decode("null")))
            local original = {list = {1, 2, {x = "y"}}, flag = false, text = "tab\there"}
            local text = json.encode(original)
            print(text == json.encode(json.decode(text)), text)
            print(json.decode(string.rep("[", 128) .. string.rep("]", 128)) ~= nil)
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "1\tnil\t3\ttrue\té\t-2500\nnil\t1\n\
         true\t{\"flag\":false,\"list\":[1,2,{\"x\":\"y\"}],\"text\":\"tab\\there\"}\ntrue\n"
    );
}

#[test]
fn json_decode_reports_malformed_input() {
    let out = run_main(
        r##"local json = require("json")
        return function()
            for _, s in {"[1,2] x", "{bad", "", "[1,]", string.rep("[", 129) .. string.rep("]", 129), 42} do
                local v, err = json.decode(s)
                print(v, err:kind(), err:message())
            end
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "nil\tINVALID\tjson.decode: trailing characters at line 1 column 7\n\
         nil\tINVALID\tjson.decode: key must be a string at line 1 column 2\n\
         nil\tINVALID\tjson.decode: EOF while parsing a value at line 1 column 0\n\
         nil\tINVALID\tjson.decode: trailing comma at line 1 column 4\n\
         nil\tINVALID\tjson.decode: arrays and objects nested deeper than 128 levels\n\
         nil\tINVALID\tjson.decode: expected a string, got number\n"
    );
}

/// The log lines of stderr without their timestamps.
fn log_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|line| {
            let (time, rest) = line.split_once(' ').expect("a timestamp");
            assert!(time.ends_with('Z') && time.len() == 24, "{line}");
            rest.to_string()
        })
        .collect()
}

#[test]
fn logger_writes_structured_lines_above_the_level() {
    let source = r##"local logger = require("logger")
        return function()
            logger:debug("details", {n = 1})
            logger:info("started", {slot = 2, name = "w", f = print, list = {1, 2}})
            logger.warn("dot call works")
            local scoped = logger:with({request = 7})
            scoped:error(42, {b = true})
            scoped.info("inherits", {request = 8})
            print(logger:info("returns nothing"))
        end"##;
    let app = app(&[("main.lua", source)]);
    let out = app.run(&[]);
    assert_eq!(out.ok(), "\n");
    assert_eq!(
        log_lines(&out.stderr),
        [
            "INFO {app:processes|0x00001} app:main: started {\"f\":\"<function>\",\"list\":[1,2],\"name\":\"w\",\"slot\":2}",
            "WARN {app:processes|0x00001} app:main: dot call works",
            "ERROR {app:processes|0x00001} app:main: 42 {\"b\":true,\"request\":7}",
            "INFO {app:processes|0x00001} app:main: inherits {\"request\":8}",
            "INFO {app:processes|0x00001} app:main: returns nothing",
        ]
    );
    let debug = app.run(&["--log-level", "debug"]);
    assert_eq!(
        log_lines(&debug.stderr)[0],
        "DEBUG {app:processes|0x00001} app:main: details {\"n\":1}"
    );
    let errors_only = app.run(&["--log-level", "error"]);
    assert_eq!(
        log_lines(&errors_only.stderr),
        ["ERROR {app:processes|0x00001} app:main: 42 {\"b\":true,\"request\":7}"]
    );
}

#[test]
fn ctx_without_context_values() {
    let out = run_main(
        r##"local ctx = require("ctx")
        return function()
            local v, err = ctx.get("user")
            print(v, err:kind(), err:message())
            for _, key in {"", 5} do
                local _, e = ctx.get(key)
                print(e:kind())
            end
            print(next(ctx.all()))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "nil\tNOT_FOUND\tctx.get: no context value 'user'\nINVALID\nINVALID\nnil\n"
    );
}

#[test]
fn io_reads_lines_from_a_pipe_and_writes_whole() {
    let app = app(&[(
        "main.lua",
        r##"local io = require("io")
        return function()
            local lines = channel.new(10)
            -- two concurrent readers get one line each, in call order
            for i = 1, 2 do
                coroutine.spawn(function() lines:send(i .. ":" .. io.readline()) end)
            end
            print((lines:receive()), (lines:receive()))
            print(io.readline(), io.readline(), io.readline())
            print(io.write("a", 1, 2.5, "\n"))
            local ok, err = io.write("x", {})
            print(ok, err:kind())
            print(io.print("p", nil, true))
        end"##,
    )]);
    let dir = app.path("");
    let out = moonweave_with_input(
        &["run", dir.to_str().unwrap()],
        "first\r\nsecond\nthird\né bytes".as_bytes(),
    );
    assert_eq!(
        out.ok(),
        "1:first\t2:second\nthird\té bytes\tnil\na12.5\ntrue\nnil\tINVALID\np\tnil\ttrue\ntrue\n"
    );
}

#[test]
fn io_is_unavailable_on_hosts_without_io() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://main.lua, modules: [io]}\n  - {name: quiet, kind: process.host, host: {io: false}}\n  - {name: boxed, kind: process.lua, source: file://main.lua, method: boxed, modules: [io]}\n",
        ),
        (
            "main.lua",
            r##"local io = require("io")
            return {
                main = function()
                    process.spawn("app:boxed", "app:quiet", process.pid())
                    print(process.inbox():receive():payload())
                end,
                boxed = function(parent)
                    local results = {}
                    for _, f in {io.write, io.print, io.readline} do
                        local ok, err = f("x")
                        table.insert(results, tostring(ok) .. " " .. err:kind())
                    end
                    process.send(parent, "r", table.concat(results, ", "))
                end,
            }"##,
        ),
    ]);
    let out = app.run(&[]);
    assert_eq!(
        out.ok(),
        "nil UNAVAILABLE, nil UNAVAILABLE, nil UNAVAILABLE\n"
    );
}

#[test]
fn assert_raises_its_message_as_it_is_error_objects_included() {
    let out = run_main(
        r##"return function()
            print(pcall(assert, false))
            print(pcall(assert, nil, "plain message"))
            local ok, e = pcall(function() return assert(process.spawn("app:nope", "app:processes")) end)
            print(ok, typeof(e), e:kind(), e:message())
            print(assert(1, 2, 3))
            local t = {}
            print(select(2, pcall(assert, false, t)) == t)
            local ok2, e2 = pcall(function() assert(false, "in a statement") end)
            print(ok2, e2)
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "false\tassertion failed!\n\
         false\tplain message\n\
         false\terror\tNOT_FOUND\tno entry 'app:nope'\n\
         1\t2\t3\n\
         true\n\
         false\tin a statement\n"
    );
}
