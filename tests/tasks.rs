//! Tasks (stdlib.md §6): `coroutine.spawn`, blocking inside coroutines the process creates,
//! blocking where Luau cannot yield, and deadlock detection.

mod common;

use common::{app, run_main};

#[test]
fn a_task_first_runs_when_the_current_task_blocks_or_yields() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local log = {}
            local r = coroutine.spawn(function(a, b)
                table.insert(log, `task {a} {b}`)
                return "discarded"
            end, "x", "y")
            table.insert(log, "main " .. tostring(r))
            coroutine.yield()
            table.insert(log, "main again")
            coroutine.spawn(function() table.insert(log, "second task") end)
            time.sleep(5)
            print(table.concat(log, ", "))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "main nil, task x y, main again, second task\n");
}

#[test]
fn tasks_block_independently_on_timers_and_receives() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local done = channel.new()
            for _, ms in {60, 20, 40} do
                coroutine.spawn(function() time.sleep(ms); done:send(ms) end)
            end
            coroutine.spawn(function()
                local msg = process.inbox():receive()
                done:send(msg:topic())
            end)
            process.send(process.pid(), "mail")
            local got = {}
            for _ = 1, 4 do table.insert(got, tostring(done:receive())) end
            print(table.concat(got, " "))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "mail 20 40 60\n");
}

#[test]
fn an_error_in_any_task_ends_the_process() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn_monitored("app:failing", "app:processes")
                local ev = process.events():receive()
                print(ev.result.error:kind(), ev.result.error:message())
            end"##,
        ),
        (
            "failing.lua",
            r##"return function()
                coroutine.spawn(function()
                    error(errors.new{message = "task broke", kind = errors.CONFLICT})
                end)
                process.inbox():receive()
                print("never printed")
            end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "CONFLICT\ttask broke\n");
}

#[test]
fn when_the_main_task_returns_the_other_tasks_stop() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            coroutine.spawn(function()
                while true do time.sleep(1) end
            end)
            coroutine.spawn(function()
                process.inbox():receive()
                print("never printed")
            end)
            coroutine.yield()
            return "main done"
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "");
}

#[test]
fn preemption_resumes_the_same_task() {
    let out = run_main(
        r##"return function()
            local log = {}
            coroutine.spawn(function() table.insert(log, "other task") end)
            local x = 0
            for i = 1, 3000000 do x += i % 7 end
            table.insert(log, "busy loop done")
            coroutine.yield()
            print(table.concat(log, ", "))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "busy loop done, other task\n");
}

#[test]
fn blocking_inside_created_coroutines_waits_for_the_whole_task() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local me = process.pid()
            process.send(me, "one"); process.send(me, "two")
            local gen = coroutine.wrap(function()
                while true do
                    local msg = process.inbox():receive()
                    coroutine.yield(msg:topic())
                end
            end)
            print(gen(), gen())
            local co = coroutine.create(function(a)
                local b = coroutine.yield(a + 1)
                time.sleep(10)
                local ch = channel.new(1)
                ch:send(b * 2)
                return ch:receive()
            end)
            print(coroutine.resume(co, 1))
            print(coroutine.resume(co, 5))
            print(coroutine.status(co), coroutine.resume(co))
            local ok, v = pcall(function() time.sleep(1); return "inside pcall" end)
            print(ok, v)
            local nested = coroutine.wrap(function()
                local inner = coroutine.wrap(function() time.sleep(1); coroutine.yield("deep") end)
                coroutine.yield(inner())
            end)
            print(nested())
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "one\ttwo\ntrue\t2\ntrue\t10\ttrue\ndead\tfalse\tcannot resume dead coroutine\ntrue\tinside pcall\ndeep\n"
    );
}

#[test]
fn blocking_where_luau_cannot_yield_raises_a_clear_error() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local cases = {
                metamethod = function()
                    local t = setmetatable({}, {__index = function() return time.sleep(1) end})
                    return t.x
                end,
                sort = function()
                    local t = {3, 1, 2}
                    table.sort(t, function(a, b) channel.new():send(1) return a < b end)
                end,
                gsub = function()
                    return string.gsub("abc", "%w", function() return process.inbox():receive() end)
                end,
            }
            for _, name in {"metamethod", "sort", "gsub"} do
                local ok, err = pcall(cases[name])
                print(name, ok, string.find(tostring(err), "cannot block here", 1, true) ~= nil)
            end
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "metamethod\tfalse\ttrue\nsort\tfalse\ttrue\ngsub\tfalse\ttrue\n"
    );
}

#[test]
fn a_process_whose_tasks_can_never_wake_exits_with_deadlock() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                for _, entry in {"app:alone", "app:pair"} do
                    process.spawn_monitored(entry, "app:processes")
                    local ev = process.events():receive()
                    print(entry, ev.result.error:kind(), ev.result.error:message())
                end
                -- not a deadlock: one task waits for mail that does arrive
                process.spawn_monitored("app:mail", "app:processes", process.pid())
                local ev = process.events():receive()
                print("app:mail", ev.result.value)
            end"##,
        ),
        ("alone.lua", "return function() channel.new():receive() end"),
        (
            "pair.lua",
            r##"return function()
                local a, b = channel.new(), channel.new()
                coroutine.spawn(function() a:receive() end)
                b:send(1)
            end"##,
        ),
        (
            "mail.lua",
            r##"local time = require("time")
            return function()
                local ch = channel.new()
                coroutine.spawn(function() ch:send(process.inbox():receive():topic()) end)
                coroutine.spawn(function() time.sleep(20) process.send(process.pid(), "late") end)
                return (ch:receive())
            end"##,
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "app:alone\tINTERNAL\tdeadlock: all tasks are blocked\n\
         app:pair\tINTERNAL\tdeadlock: all tasks are blocked\n\
         app:mail\tlate\n"
    );
}

#[test]
fn spawn_checks_its_argument() {
    let out = run_main(
        r##"return function()
            print(pcall(coroutine.spawn, 42))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "false\tbad argument #1 to 'spawn' (function expected, got number)\n"
    );
}

#[test]
fn long_computations_inside_created_coroutines_are_preempted_not_stopped() {
    // Past the hard limit of checks a process that cannot yield is stopped; a coroutine the
    // process created can yield, so its preemption goes up to the worker instead.
    let out = run_main(
        r##"return function()
            local gen = coroutine.wrap(function()
                local x = 0
                for i = 1, 80000000 do x += i % 3 end
                coroutine.yield(x)
            end)
            local co = coroutine.create(function() for _ = 1, 1000000 do end return "plain" end)
            print(gen(), coroutine.resume(co))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "80000001\ttrue\tplain\n");
}

#[test]
fn a_select_woken_by_its_local_case_leaves_nothing_behind() {
    // A select with a process channel waits for the world too; when a local channel wakes it
    // instead, the task must not pile up in the list of external waiters.
    let out = run_main(
        r##"return function()
            local ch = channel.new()
            coroutine.spawn(function()
                for i = 1, 60000 do ch:send(i) end
                ch:close()
            end)
            local function run(rounds)
                for _ = 1, rounds do
                    local r = channel.select{process.inbox():case_receive(), ch:case_receive()}
                    assert(r.ok and r.channel == ch)
                end
            end
            run(10000)
            collectgarbage("count")
            local before = collectgarbage("count")
            run(50000)
            local grown = collectgarbage("count") - before
            print(grown < 300, select(2, ch:receive()))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "true\tfalse\n");
}

#[test]
fn preemption_in_the_middle_of_a_wait_loses_no_wake_up() {
    // A tiny budget preempts tasks everywhere, also between deciding to wait and waiting. The
    // parent turns a lost wake-up (a hang) into a failure with a timeout.
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://main.lua, modules: [time]}\n  - {name: busy, kind: process.host, host: {preemption_budget: 7}}\n  - {name: worker, kind: process.lua, source: file://worker.lua, modules: [time]}\n",
        ),
        (
            "main.lua",
            r##"local time = require("time")
            return function()
                process.spawn_monitored("app:worker", "app:busy", 3000)
                local r = channel.select{process.events():case_receive(), time.after("60s"):case_receive()}
                if r.channel == process.events() then
                    print(r.value.result.value, r.value.result.error)
                else
                    print("lost a wake-up")
                end
            end"##,
        ),
        (
            "worker.lua",
            r##"local time = require("time")
            return function(n)
                local ch, sum = channel.new(), 0
                coroutine.spawn(function()
                    for i = 1, n do
                        ch:send(i)
                        if i % 500 == 0 then time.sleep(1) end
                    end
                    ch:close()
                end)
                while true do
                    local r = channel.select{process.inbox():case_receive(), ch:case_receive()}
                    if not r.ok then break end
                    sum += r.value
                end
                return sum
            end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "4501500\tnil\n");
}

#[test]
fn a_created_coroutine_resumed_from_a_native_callback_may_run_long() {
    // The coroutine is preempted, but its resumer (inside gsub) cannot pass the preemption on:
    // it keeps running instead of failing.
    let out = run_main(
        r##"return function()
            local gen = coroutine.wrap(function()
                while true do
                    local x = 0
                    for i = 1, 30000000 do x += 1 end
                    coroutine.yield(x)
                end
            end)
            print((string.gsub("ab", "%a", function(c) return c .. gen() end)))
            local co = coroutine.wrap(function() coroutine.yield() return "after a plain yield" end)
            co()
            print(co())
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "a30000000b30000000\nafter a plain yield\n");
}

#[test]
fn a_deadlock_is_reported_once_the_last_timer_that_could_wake_it_has_fired() {
    // The time.after channel fires with nobody receiving it; after that nothing can wake the
    // blocked task.
    let out = common::run_main(
        r#"return function()
            local ch = channel.new()
            local _timeout = require("time").after(10)
            ch:receive()
        end"#,
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("deadlock: all tasks are blocked"),
        "{}",
        out.stderr
    );
}
