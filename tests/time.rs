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
