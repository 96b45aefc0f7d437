//! process.md §10: process.call / process.exec.

mod common;

use common::app;

#[test]
fn call_returns_the_child_result_or_its_error() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                print(process.call("app:sum", "app:processes", {1, 2, 3}))
                print(process.exec("app:sum", "app:processes", {}))
                local v, err = process.call("app:fail", "app:processes")
                print(v, err:kind(), err:message())
                local v2, err2 = process.call("app:nothing", "app:processes")
                print(v2, err2)
                -- validation as for spawn
                local function kind(_, err) return err:kind() end
                print(kind(process.call("bad", "app:processes")), kind(process.call("app:missing", "app:processes")),
                      kind(process.call("app:sum", "app:processes", print)))
                -- the caller gets no EXIT for the child, and its mailbox keeps filling meanwhile
                process.send(process.pid(), "during")
                assert(process.call("app:sum", "app:processes", {5}) == 5)
                process.spawn_monitored("app:nothing", "app:processes")
                print(process.events():receive().kind, process.inbox():receive():topic())
            end"##,
        ),
        (
            "sum.lua",
            "return function(t) local s = 0 for _, v in t do s += v end return s end",
        ),
        (
            "fail.lua",
            "return function() error(errors.new{message = 'nope', kind = errors.CONFLICT}) end",
        ),
        ("nothing.lua", "return function() end"),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "6\n0\nnil\tCONFLICT\tnope\nnil\tnil\nINVALID\tNOT_FOUND\tINVALID\npid.exit\tduring\n"
    );
}

#[test]
fn a_child_terminated_by_someone_else_gives_canceled() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn("app:killer", "app:processes", process.pid())
                local v, err = process.call("app:victim", "app:processes")
                print(v, err:kind(), err:message())
            end"##,
        ),
        (
            "victim.lua",
            r##"return function()
                assert(process.registry.register("victim"))
                process.inbox():receive()
            end"##,
        ),
        (
            "killer.lua",
            r##"local time = require("time")
            return function()
                while not process.registry.lookup("victim") do time.sleep(1) end
                assert(process.terminate("victim"))
            end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "nil\tCANCELED\tterminated\n");
}

#[test]
fn the_child_is_terminated_when_the_caller_dies_while_waiting() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local caller = process.spawn_monitored("app:caller", "app:processes", process.pid())
                local child = process.inbox():receive():payload()
                assert(process.monitor(child))
                assert(process.terminate(caller))
                local events = process.events()
                local reasons = {}
                for _ = 1, 2 do
                    local ev = events:receive()
                    reasons[ev.from == child and "child" or "caller"] = ev.result.error:message()
                end
                print(reasons.caller, reasons.child)
            end"##,
        ),
        (
            "caller.lua",
            r##"return function(parent)
                process.call("app:child", "app:processes", parent)
            end"##,
        ),
        (
            "child.lua",
            r##"return function(parent)
                process.send(parent, "child", process.pid())
                process.inbox():receive()
            end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "terminated\tterminated\n");
}

#[test]
fn exec_is_the_same_function_as_call() {
    let out = common::run_main(
        "return function() print(process.exec == process.call) end",
        &[],
    );
    assert_eq!(out.ok(), "true\n");
}
