//! Fuzzing the Lua surface (issue 8): random argument lists for every function of `process`,
//! `channel`, `time`, `json`, `errors`, `ctx`, `logger` and the runtime objects' methods, and
//! random values through the deep copy. Every call must end in a result, `nil, err` or a Lua
//! error: never a panic (an INTERNAL "runtime panic" exit), an abort of the runtime or a hang.
//!
//! The cases come from proptest's deterministic generator; each run of the binary executes a
//! batch of calls, each in its own child process (so a call that blocks forever or upgrades
//! only ends its child, which the driver terminates after a short wait). The time spent is
//! `MOONWEAVE_FUZZ_SECONDS` (default 10; `.ci/run` gives it 60).

mod common;

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

const DRIVER: &str = r##"local time = require("time")
return function()
    local events = process.events()
    for _, src in calls do
        local pid = process.spawn_monitored("app:call", "app:processes", src)
        local r = channel.select{events:case_receive(), time.after(100):case_receive()}
        if r.channel ~= events then
            process.terminate(pid)
            r = {value = events:receive()}
        end
        local err = r.value.result.error
        if err and (string.find(err:message(), "panic", 1, true) or err:kind() == "INTERNAL"
            and not string.find(err:message(), "deadlock", 1, true)) then
            print("FAILED", src)
            print(err:kind(), err:message())
        end
    end
    print("done", #calls)
end
"##;

const CALL: &str = r##"time = require("time")
security = require("security")
supervisor = require("supervisor")
json = require("json")
ctx = require("ctx")
logger = require("logger")
function cyclic() local t = {} t.self = t return t end
function deep(n) local t = {} for _ = 1, n do t = {t} end return t end
function bomb() local t = {} for _ = 1, 40 do t = {t, t} end return t end
return function(src)
    local f = loadstring(src)
    if f == nil then return "syntax" end
    pcall(f)
    return "ok"
end
"##;

const ROUNDTRIP: &str = r##"local json = require("json")
local function same(a, b, seen)
    if a ~= a and b ~= b then return true end
    if typeof(a) ~= typeof(b) then return false end
    if typeof(a) == "error" then return a:kind() == b:kind() and a:message() == b:message() end
    if type(a) ~= "table" then return a == b end
    for k, v in a do if not same(v, b[k]) then return false end end
    for k in b do if a[k] == nil then return false end end
    return true
end
return function()
    local bad = 0
    for _, src in values do
        local v = assert(loadstring("return " .. src))()
        assert(process.send(process.pid(), "v", v))
        local got = process.inbox():receive():payload()
        if not same(v, got) then
            bad += 1
            print("MISMATCH", src)
        end
        local text = json.encode(v)
        if text ~= nil then
            local back = json.decode(text)
            if json.encode(back) ~= text then print("JSON", src, text) bad += 1 end
        end
    end
    print("done", bad)
end
"##;

fn lua_string(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        out.push_str(&format!("\\{b}"));
    }
    out.push('"');
    out
}

fn lua_number(n: f64) -> String {
    if n.is_nan() {
        "(0/0)".into()
    } else if n.is_infinite() {
        if n > 0.0 { "math.huge" } else { "-math.huge" }.into()
    } else {
        format!("({n:?})")
    }
}

/// Copyable values: nil, booleans, numbers, byte strings and tables of them.
fn copyable() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("nil".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<f64>().prop_map(lua_number),
        (-5i64..100).prop_map(|n| n.to_string()),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| lua_string(&b)),
        Just("\"x\"".to_string()),
        Just("errors.new(\"e\")".to_string()),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("{{{}}}", items.join(", "))),
            proptest::collection::vec(
                (
                    prop_oneof![
                        "[a-z]{1,6}".prop_map(|k| format!("[\"{k}\"]")),
                        (1i64..20).prop_map(|k| format!("[{k}]")),
                        Just("[true]".to_string()),
                        (0.5f64..10.0).prop_map(|k| format!("[{k:?}]")),
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|pairs| {
                let fields: Vec<String> = pairs
                    .into_iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    })
}

/// Any argument: copyable values, and everything a careless or hostile caller may pass.
fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => copyable(),
        1 => prop_oneof![
            Just("function() end"),
            Just("channel.new()"),
            Just("channel.new(1)"),
            Just("process.inbox()"),
            Just("process.events()"),
            Just("process.listen(\"t\")"),
            Just("channel.new():case_receive()"),
            Just("time.now()"),
            Just("time.parse_duration(\"1s\")"),
            Just("time.timer(\"1h\")"),
            Just("process.with_context({})"),
            Just("security.new_actor(\"a\", {x = 1})"),
            Just("security.new_scope()"),
            Just("{\"app:nope\", 1}"),
            Just("{children = {{id = \"t\", entry = \"app:target\"}}}"),
            Just("{id = \"c\", entry = \"app:target\", restart = \"temporary\"}"),
            Just("coroutine.create(function() end)"),
            Just("newproxy(true)"),
            Just("buffer.create(4)"),
            Just("cyclic()"),
            Just("deep(200)"),
            Just("bomb()"),
            Just("process.pid()"),
            // Not 0x00001: that is the driver, which the calls must not stop.
            Just("\"{app:processes|0x00002}\""),
            Just("\"{app:processes|0xfffff}\""),
            Just("\"{app:processes|0x0000\""),
            Just("\"app:target\""),
            Just("\"app:processes\""),
            Just("\"app:nope\""),
            Just("\"@t\""),
            Just("\"10ms\""),
            Just("\"-1s\""),
            Just("\"999999999h\""),
            Just("(\"x\"):rep(5000)"),
            Just("{trap_links = true}"),
            Just("{message = true}"),
            Just("{default = true}"),
            Just("{channel.new():case_receive(), default = true}"),
        ]
        .prop_map(str::to_string),
    ]
}

const FUNCTIONS: &[&str] = &[
    "process.pid",
    "process.id",
    "process.spawn",
    "process.spawn_monitored",
    "process.spawn_linked",
    "process.spawn_linked_monitored",
    "process.send",
    "process.inbox",
    "process.events",
    "process.listen",
    "process.unlisten",
    "process.monitor",
    "process.unmonitor",
    "process.link",
    "process.unlink",
    "process.terminate",
    "process.cancel",
    "process.call",
    "process.exec",
    "process.upgrade",
    "process.get_options",
    "process.set_options",
    "process.with_context",
    "process.registry.register",
    "process.registry.lookup",
    "process.registry.unregister",
    "channel.new",
    "channel.select",
    "time.sleep",
    "time.after",
    "time.timer",
    "time.ticker",
    "time.now",
    "time.parse_duration",
    "json.encode",
    "json.decode",
    "errors.new",
    "errors.wrap",
    "errors.is",
    "ctx.get",
    "ctx.all",
    "logger.info",
    "coroutine.spawn",
    "coroutine.resume",
    "coroutine.wrap",
    "security.actor",
    "security.scope",
    "security.new_actor",
    "security.new_scope",
    "security.can",
    "supervisor.start",
    "supervisor.which_children",
    "supervisor.start_child",
    "supervisor.terminate_child",
    "supervisor.shutting_down",
    "supervisor.restart_child",
    "supervisor.delete_child",
    "supervisor.stop",
];

/// Objects whose methods are called, and their methods.
const RECEIVERS: &[(&str, &[&str])] = &[
    (
        "channel.new(1)",
        &["send", "receive", "close", "case_send", "case_receive"],
    ),
    (
        "process.inbox()",
        &["send", "receive", "close", "case_send"],
    ),
    ("time.parse_duration(\"1s\")", &["seconds", "nanoseconds"]),
    ("time.now()", &["sub", "add", "format_rfc3339", "unix"]),
    ("time.timer(\"1h\")", &["stop", "reset", "channel"]),
    ("time.ticker(\"1h\")", &["stop", "channel"]),
    ("security.new_actor(\"a\")", &["id", "meta"]),
    (
        "security.new_scope()",
        &["policies", "contains", "with", "without"],
    ),
    (
        "errors.new(\"x\")",
        &["kind", "message", "details", "stack"],
    ),
    (
        "process.with_context({})",
        &[
            "with_context",
            "with_name",
            "with_message",
            "with_actor",
            "with_scope",
            "spawn",
            "spawn_linked_monitored",
        ],
    ),
];

fn arguments() -> impl Strategy<Value = String> {
    proptest::collection::vec(argument(), 0..4).prop_map(|a| a.join(", "))
}

fn call() -> impl Strategy<Value = String> {
    let args = arguments();
    prop_oneof![
        3 => (proptest::sample::select(FUNCTIONS), arguments())
            .prop_map(|(f, a)| format!("{f}({a})")),
        1 => (proptest::sample::select(RECEIVERS), any::<proptest::sample::Index>(), args)
            .prop_map(|((receiver, methods), which, a)| {
                let method = methods[which.index(methods.len())];
                format!("local o = {receiver}; o:{method}({a})")
            }),
    ]
}

fn budget() -> Duration {
    let seconds = std::env::var("MOONWEAVE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(seconds)
}

/// A Lua array of strings.
fn lua_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| lua_string(s.as_bytes())).collect();
    format!("{{{}}}", quoted.join(",\n"))
}

#[test]
fn random_calls_end_in_a_result_or_an_error_never_a_panic_abort_or_hang() {
    let deadline = Instant::now() + budget() / 2;
    let mut runner = TestRunner::deterministic();
    let batch = proptest::collection::vec(call(), 150);
    let mut batches = 0;
    while batches == 0 || Instant::now() < deadline {
        let calls = batch.new_tree(&mut runner).expect("a batch").current();
        let app = common::app(&[
            (
                "main.lua",
                &format!("local calls = {}\n{DRIVER}", lua_list(&calls)),
            ),
            ("call.lua", CALL),
            ("target.lua", "return function(...) return ... end"),
        ]);
        if let Ok(keep) = std::env::var("MOONWEAVE_FUZZ_KEEP") {
            let dir = std::path::Path::new(&keep).join(format!("batch{batches}"));
            std::fs::create_dir_all(&dir).expect("the kept batch directory");
            for name in ["main.lua", "call.lua", "target.lua"] {
                std::fs::copy(app.path(name), dir.join(name)).expect("the batch is kept");
            }
        }
        let out = app.run(&["--workers", "2"]);
        assert_eq!(
            out.code, 0,
            "the driver failed (batch {batches}); stdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        assert!(
            !out.stdout.contains("FAILED"),
            "a call ended in a panic or an internal error (batch {batches}):\n{}",
            out.stdout
        );
        assert!(out.stdout.ends_with("done\t150\n"), "{}", out.stdout);
        batches += 1;
    }
}

#[test]
fn random_values_cross_a_process_boundary_unchanged() {
    let deadline = Instant::now() + budget() / 2;
    let mut runner = TestRunner::deterministic();
    let batch = proptest::collection::vec(copyable(), 200);
    let mut batches = 0;
    while batches == 0 || Instant::now() < deadline {
        let values = batch.new_tree(&mut runner).expect("a batch").current();
        let app = common::app(&[(
            "main.lua",
            &format!("local values = {}\n{ROUNDTRIP}", lua_list(&values)),
        )]);
        let out = app.run(&[]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.ends_with("done\t0\n"), "{}", out.stdout);
        batches += 1;
    }
}
