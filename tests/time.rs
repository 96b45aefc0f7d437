//! The worker timer heap as processes see it: `time.sleep`, and `require` of modules.

mod common;

use std::time::{Duration, Instant};

use common::{app, run_main};

#[test]
fn sleep_waits_at_least_its_duration() {
    let started = Instant::now();
    let out = run_main(
        r##"local time = require("time")
        return function() print(time.sleep("150ms"), time.sleep(50)) end"##,
        &[],
    );
    assert_eq!(out.ok(), "true\ttrue\n");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "slept {:?}",
        started.elapsed()
    );
}

#[test]
fn shorter_sleeps_wake_first() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                for _, ms in {160, 0, 120, 40, 80} do
                    process.spawn("app:sleeper", "app:processes", process.pid(), ms)
                end
                local order = {}
                for _ = 1, 5 do table.insert(order, process.inbox():receive():payload()) end
                print(table.concat(order, " "))
            end"##,
        ),
        (
            "sleeper.lua",
            r##"local time = require("time")
            return function(parent, ms) time.sleep(ms) process.send(parent, "woke", ms) end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "0 40 80 120 160\n");
}

#[test]
fn a_message_does_not_end_a_sleep_early() {
    let app = app(&[
        (
            "main.lua",
            r##"local time = require("time")
            return function()
                local me = process.pid()
                local sleeper = process.spawn("app:sleeper", "app:processes", me)
                assert(process.send(sleeper, "ping"))
                process.spawn("app:ticker", "app:processes", me)
                local inbox = process.inbox()
                print(inbox:receive():topic(), inbox:receive():topic())
            end"##,
        ),
        (
            "sleeper.lua",
            r##"local time = require("time")
            return function(parent)
                time.sleep(200)
                process.send(parent, process.inbox():receive():topic() .. "-after-sleep")
            end"##,
        ),
        (
            "ticker.lua",
            r##"local time = require("time")
            return function(parent) time.sleep(20) process.send(parent, "tick") end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "tick\tping-after-sleep\n");
}

#[test]
fn ten_thousand_sleepers_all_wake() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                for i = 1, 10000 do process.spawn("app:sleeper", "app:processes", process.pid(), i % 50) end
                for _ = 1, 10000 do process.inbox():receive() end
                print("all woke")
            end"##,
        ),
        (
            "sleeper.lua",
            r##"local time = require("time")
            return function(parent, ms) time.sleep(ms) process.send(parent, "woke") end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "all woke\n");
}

#[test]
fn bad_durations_are_invalid() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local kinds = {}
            for _, d in {"bogus", "5", "1.5", 1.5, 0/0, math.huge, {}, true} do
                local ok, err = time.sleep(d)
                table.insert(kinds, if ok == nil then err:kind() else "ok")
            end
            print(table.concat(kinds, " ") .. " ")
            print(time.sleep(0), time.sleep(-10), time.SECOND, time.MINUTE)
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "INVALID INVALID INVALID INVALID INVALID INVALID INVALID INVALID \ntrue\ttrue\t1000\t60000\n"
    );
}

#[test]
fn require_gives_only_listed_modules() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: timed, kind: process.lua, source: file://timed.lua, modules: [time]}\n",
        ),
        (
            "main.lua",
            r##"return function()
                print(require("process") == process, require("errors") == errors)
                local ok, err = pcall(require, "time")
                print(ok, err:kind(), err:message())
                local ok2, err2 = pcall(require, "util")
                print(ok2, err2:kind(), err2:message())
                local ok3, err3 = pcall(require, 42)
                print(ok3, err3:kind())
                process.spawn("app:timed", "app:processes", process.pid())
                print(process.inbox():receive():payload())
            end"##,
        ),
        (
            "timed.lua",
            r##"return function(parent) process.send(parent, "t", require("time").SECOND, require("time") == require("time")) end"##,
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "true\ttrue\n\
         false\tNOT_FOUND\tmodule 'time' is not available to app:main\n\
         false\tNOT_FOUND\tmodule 'util' is not available to app:main\n\
         false\tINVALID\n\
         1000\ttrue\n"
    );
}

#[test]
fn sleep_is_accurate_by_the_process_clock() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local t0 = time.now()
            time.sleep("120ms")
            local slept = time.now():sub(t0)
            print(slept:milliseconds() >= 120, slept:seconds() < 30)
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "true\ttrue\n");
}

#[test]
fn after_fires_once_with_a_time_and_stays_open() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local t0 = time.now()
            local ch = time.after("30ms")
            local t, ok = ch:receive()
            print(string.sub(tostring(t), -1), ok, t:sub(t0):milliseconds() >= 30)
            local r = channel.select{ch:case_receive(), time.after(60):case_receive()}
            print(r.channel == ch)
            local now = time.after(0)
            print(channel.select{now:case_receive(), default = true}.default)
            print(time.after("bogus"))
        end"##,
        &[],
    );
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["Z\ttrue\ttrue", "false", "nil"]);
    assert!(
        lines[3].starts_with("nil\tinvalid duration 'bogus'"),
        "{text}"
    );
}

#[test]
fn timers_stop_and_reset() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local t = time.timer("20ms")
            print(t:channel() == t:channel(), t:stop(), t:stop())
            local r = channel.select{t:channel():case_receive(), time.after(60):case_receive()}
            print("stopped timer fired:", r.channel == t:channel())
            print(t:reset("10ms"))
            local fired, ok = t:channel():receive()
            print(string.sub(tostring(fired), -1), ok, t:stop(), t:reset(5))
            print(string.sub(tostring((t:channel():receive())), -1))
            print(t:reset("nope"))
        end"##,
        &[],
    );
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "true\ttrue\tfalse",
            "stopped timer fired:\tfalse",
            "false",
            "Z\ttrue\tfalse\tfalse",
            "Z"
        ]
    );
    assert!(lines[5].starts_with("nil\tinvalid duration"), "{text}");
}

#[test]
fn a_ticker_ticks_and_drops_unreceived_ticks() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local tk = time.ticker("15ms")
            local ticks, last = 0, nil
            for _ = 1, 4 do
                local t = tk:channel():receive()
                assert(last == nil or last < t)
                last = t
                ticks += 1
            end
            print("ticks", ticks)
            time.sleep(100) -- six periods pass unreceived: one tick is kept
            local waiting = 0
            while channel.select{tk:channel():case_receive(), default = true}.default ~= true do
                waiting += 1
            end
            print("kept", waiting)
            tk:stop()
            local r = channel.select{tk:channel():case_receive(), time.after(50):case_receive()}
            print("after stop", r.channel == tk:channel())
            local zero, e0 = time.ticker(0)
            print(zero, e0:kind(), time.ticker("-1s"))
        end"##,
        &[],
    );
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["ticks\t4", "kept\t1", "after stop\tfalse"]);
    assert!(
        lines[3].starts_with("nil\tINVALID\tnil\ttime.ticker: the period must be positive"),
        "{text}"
    );
}

#[test]
fn durations_parse_print_and_compare() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local d = time.parse_duration("1h2m3.5s")
            print(tostring(d), d:hours() > 1.03, d:minutes(), d:seconds(), d:milliseconds())
            local us = time.parse_duration("10us")
            print(tostring(us), us:microseconds(), us:nanoseconds(), tostring(time.parse_duration(250)))
            print(tostring(time.parse_duration("0")), tostring(time.parse_duration("-1.5h")))
            print(time.parse_duration("1500ms") == time.parse_duration("1.5s"),
                  time.parse_duration("1s") < time.parse_duration("2s"),
                  time.parse_duration("2s") <= time.parse_duration("1s"),
                  time.parse_duration(time.parse_duration("3m")):seconds())
            local none, err = time.parse_duration("1x")
            print(none, err:kind())
            print(tostring(time.parse_duration("1.5µs")), time.parse_duration("-1500ns"):microseconds())
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "1h2m3.5s\ttrue\t62.05833333333333\t3723.5\t3723500\n\
         10µs\t10\t10000\t250ms\n\
         0s\t-1h30m0s\n\
         true\ttrue\tfalse\t180\n\
         nil\tINVALID\n\
         1.5µs\t-1\n"
    );
}

#[test]
fn times_format_compare_and_do_arithmetic() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local t = time.now()
            print(math.abs(t:unix() - os.time()) <= 2, t:unix_nano() > 1.7e18)
            local text = t:format_rfc3339()
            print(string.match(text, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$") ~= nil,
                  tostring(t) == text)
            local later = t:add("1m30s")
            print(later:sub(t):seconds(), t < later, later <= t, t == t:add(0))
            print(t:add("nope"))
            print(pcall(t.sub, t, 5))
        end"##,
        &[],
    );
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        ["true\ttrue", "true\ttrue", "90\ttrue\tfalse\ttrue"]
    );
    assert!(
        lines[3].starts_with("nil\tinvalid duration 'nope'"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("false\tTime:sub expects a Time"),
        "{text}"
    );
}

#[test]
fn a_hundred_thousand_sleepers_wake() {
    let app = app(&[
        (
            "main.lua",
            r##"local time = require("time")
            return function()
                local t0 = time.now()
                for i = 1, 100000 do
                    process.spawn("app:sleeper", "app:processes", process.pid(), 200 + i % 100)
                end
                for _ = 1, 100000 do process.inbox():receive() end
                print("all woke", time.now():sub(t0):milliseconds() >= 200)
            end"##,
        ),
        (
            "sleeper.lua",
            r##"local time = require("time")
            return function(parent, ms) time.sleep(ms) process.send(parent, "woke") end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "all woke\ttrue\n");
}
