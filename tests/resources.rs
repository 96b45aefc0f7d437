//! Resources are bounded per VM and per copy (issue 8, findings 5-8 and 14): no input takes the
//! runtime down or makes a worker spend unbounded time outside Lua, and nothing a process
//! leaves behind outlives it.

mod common;

use common::{app, run_main};

#[test]
fn a_process_that_allocates_without_bound_fails_alone_with_not_enough_memory() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: processes, kind: process.host, host: {memory_limit: \"48MB\", workers: 1}}\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: hog, kind: process.lua, source: file://hog.lua}\n  - {name: echo, kind: process.lua, source: file://echo.lua}\n",
        ),
        (
            "main.lua",
            r##"return function()
                local events = process.events()
                local hog = process.spawn_monitored("app:hog", "app:processes")
                local ev = events:receive()
                print(ev.from == hog, ev.result.error:message())
                -- The runtime and this process go on.
                local echo = process.spawn("app:echo", "app:processes", process.pid())
                process.send(echo, "ping", "still here")
                print(process.inbox():receive():payload())
                local caught = pcall(function()
                    local t = {}
                    for i = 1, 1e9 do t[i] = string.rep("y", 4096) .. i end
                end)
                print("caught", caught)
            end"##,
        ),
        (
            "hog.lua",
            r##"return function()
                local t = {}
                for i = 1, 1e9 do t[i] = string.rep("x", 10000) .. i end
            end"##,
        ),
        (
            "echo.lua",
            "return function(p) process.send(p, 'pong', process.inbox():receive():payload()) end",
        ),
    ]);
    let out = app.run(&[]);
    let stdout = out.ok();
    assert_eq!(
        stdout, "true\tnot enough memory\nstill here\ncaught\tfalse\n",
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn an_exponentially_large_payload_is_refused_at_once() {
    let out = run_main(
        r##"return function()
            local t = {}
            for _ = 1, 40 do t = {t, t} end
            local ok, err = process.send(process.pid(), "x", t)
            print(ok, err:kind(), err:message())
            print(process.spawn("app:main", "app:processes", t))
            print(require("json").encode(t))
            -- Shared subtables within the budget are copied once per path: a tree arrives.
            local s = {}
            for _ = 1, 10 do s = {s, s} end
            assert(process.send(process.pid(), "y", s))
            local got = process.inbox():receive():payload()
            print(got[1] ~= got[2], got[1][1] ~= got[1][2])
            return t
        end"##,
        &[],
    );
    assert_eq!(
        out.code, 1,
        "returning it is an INVALID exit: {}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "nil\tINVALID\tpayload too large: a copy may hold at most 16777216 values"
    );
    assert!(
        lines[1].starts_with("nil\tpayload too large"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("nil\tjson.encode: a value that would encode more than"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "true\ttrue");
    assert!(out.stderr.contains("payload too large"), "{}", out.stderr);
}

#[test]
fn timers_channels_and_their_entries_do_not_outlive_their_process() {
    let out = run_main(
        r##"local time = require("time")
        return function(child)
            if child then
                local t, k, a = time.timer("1h"), time.ticker("1h"), time.after("1h")
                local ch = channel.new(4)
                ch:send({t, k, a})
                return
            end
            local events = process.events()
            local function wave(n)
                for _ = 1, n do process.spawn_monitored("app:main", "app:processes", true) end
                for _ = 1, n do assert(events:receive().result.value == nil) end
            end
            local function churn()
                -- Garbage to let the collector finish its cycles.
                for _ = 1, 20 do
                    local junk = {}
                    for i = 1, 20000 do junk[i] = {i} end
                end
            end
            wave(2000)
            churn()
            local before = collectgarbage("count")
            for _ = 1, 10 do wave(2000) end
            churn()
            local grown = collectgarbage("count") - before
            -- 20,000 exits that each left 1.3 KB behind would grow the heap by 26 MB.
            print(grown < 8000, math.floor(grown))
        end"##,
        &["--workers", "1"],
    );
    let stdout = out.ok();
    assert!(stdout.starts_with("true\t"), "the heap grew: {stdout}");
}

#[test]
fn select_with_a_fresh_time_after_per_message_stays_correct_over_many_messages() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local inbox = process.inbox()
            local got = 0
            for i = 1, 50000 do
                process.send(process.pid(), "m", i)
                local r = channel.select{inbox:case_receive(), time.after("10s"):case_receive()}
                if r.channel == inbox and r.value:payload() == i then got += 1 end
            end
            print(got)
        end"##,
        &["--workers", "1"],
    );
    assert_eq!(out.ok(), "50000\n");
}

#[test]
fn pending_time_after_channels_are_dropped_with_their_objects_not_kept_until_due() {
    // The idiom of finding 8: a fresh `time.after("10s")` per message. Each one the select
    // did not take is garbage at once; its timer entry must go with it (kept until due, 40,000
    // of them held at least 20 MB of heap and every wake-up scanned them all).
    let out = run_main(
        r##"local time = require("time")
        return function()
            local inbox = process.inbox()
            local function run(n)
                for i = 1, n do
                    process.send(process.pid(), "m", i)
                    local r = channel.select{inbox:case_receive(), time.after("10s"):case_receive()}
                    assert(r.channel == inbox and r.value:payload() == i)
                end
            end
            run(2000)
            local before = collectgarbage("count")
            run(40000)
            local grown = collectgarbage("count") - before
            print(grown < 8192, grown)
        end"##,
        &["--workers", "1"],
    );
    let stdout = out.ok();
    assert!(stdout.starts_with("true\t"), "the heap grew (KB): {stdout}");
}

#[test]
fn an_upgrade_loop_is_preempted_and_can_be_terminated() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local events = process.events()
                local looper = process.spawn_monitored("app:looper", "app:processes", 0)
                -- With one worker this only runs again if the loop gives the worker up.
                process.send(process.pid(), "tick")
                process.inbox():receive()
                assert(process.terminate(looper))
                local ev = events:receive()
                print(ev.from == looper, ev.result.error:kind(), ev.result.error:message())
            end"##,
        ),
        (
            "looper.lua",
            "return function(n) return process.upgrade(nil, n + 1) end",
        ),
    ]);
    let out = app.run(&["--workers", "1"]);
    assert_eq!(out.ok(), "true\tCANCELED\tterminated\n");
}

#[test]
fn messages_queued_by_a_builder_count_against_the_mailbox_limit_and_are_given_back() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: processes, kind: process.host, host: {mailbox_limit: 2}}\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: child, kind: process.lua, source: file://child.lua}\n",
        ),
        (
            "main.lua",
            r##"return function()
                local pid = process.with_context({})
                    :with_message("a", 1):with_message("b", 2):with_message("c", 3)
                    :spawn_monitored("app:child", "app:processes", process.pid())
                print(process.inbox():receive():payload())
                -- The child received all three: its mailbox is empty, sends work again.
                print(process.send(pid, "d", 4), process.send(pid, "e", 5))
                local _, err = process.send(pid, "f", 6)
                print(err and err:kind())
                process.cancel(pid)
                print(process.events():receive().result.value)
            end"##,
        ),
        (
            "child.lua",
            r##"return function(parent)
                local inbox = process.inbox()
                local sum = 0
                for _ = 1, 3 do sum += inbox:receive():payload() end
                process.send(parent, "sum", sum)
                process.events():receive() -- the parent's CANCEL: d and e are waiting now
                return inbox:receive():payload() + inbox:receive():payload()
            end"##,
        ),
    ]);
    let out = app.run(&[]);
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "6");
    assert_eq!(
        lines[1], "true\ttrue",
        "the counter went wrong after builder messages"
    );
    assert_eq!(lines[2], "UNAVAILABLE");
    assert_eq!(lines[3], "9");
}

#[test]
fn a_process_whose_arguments_do_not_fit_its_host_fails_at_its_start_and_says_so() {
    // 20 MB of spawn arguments into a host whose VM may hold 8 MB: the copy into the child
    // fails, the child alone fails (with where), and the spawner goes on.
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: small, kind: process.host, host: {memory_limit: \"8MB\", workers: 1}}\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: sink, kind: process.lua, source: file://sink.lua}\n",
        ),
        (
            "main.lua",
            r##"return function()
                local big, args = string.rep("z", 400000), {}
                for i = 1, 50 do args[i] = big .. i end
                local events = process.events()
                assert(process.spawn_monitored("app:sink", "app:small", table.unpack(args)))
                local failed = events:receive().result.error
                print(failed:kind(), failed:message())
                print((string.find(failed:stack(), "(process start: arguments)", 1, true)) ~= nil)
                assert(process.spawn_monitored("app:sink", "app:small", "small"))
                print(events:receive().result.value)
            end"##,
        ),
        (
            "sink.lua",
            "return function(...) return select('#', ...) end",
        ),
    ]);
    let out = app.run(&[]);
    assert_eq!(
        out.ok(),
        "UNKNOWN\tnot enough memory\ntrue\n1\n",
        "stderr:\n{}",
        out.stderr
    );
}
