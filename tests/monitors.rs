//! process.md §5–§9 and §13 as built so far: spawn_monitored, EXIT events, monitor/unmonitor,
//! options, and the name registry.

mod common;

use common::{app, run_main};

const SQUARE: (&str, &str) = ("square.lua", "return function(n) return n * n end");
const FAIL: (&str, &str) = (
    "fail.lua",
    "return function() error(errors.new{message = 'bad', kind = errors.CONFLICT}) end",
);

#[test]
fn spawn_monitored_delivers_exit_with_the_value_or_the_error() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local events = process.events()
                assert(events == process.events() and events ~= process.inbox())
                local pid = assert(process.spawn_monitored("app:square", "app:processes", 12))
                local ev = events:receive()
                print(ev.kind == process.event.EXIT, ev.kind, ev.from == pid, ev.result.value, ev.result.error)
                local bad = process.spawn_monitored("app:fail", "app:processes")
                local ev2 = events:receive()
                print(ev2.from == bad, ev2.result.error:kind(), tostring(ev2.result.error), ev2.result.value)
            end"##,
        ),
        SQUARE,
        FAIL,
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "true\tpid.exit\ttrue\t144\tnil\ntrue\tCONFLICT\tbad\tnil\n"
    );
}

#[test]
fn a_child_failing_at_start_still_produces_its_exit() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn_monitored("app:nomethod", "app:processes")
                process.spawn_monitored("app:toplevel", "app:processes")
                for _ = 1, 2 do
                    local ev = process.events():receive()
                    print(ev.result.error:kind())
                end
            end"##,
        ),
        ("nomethod.lua", "return {}"),
        ("toplevel.lua", "error('at load')"),
    ]);
    let out = app.run(&[]);
    let mut kinds: Vec<&str> = out.ok().lines().collect();
    kinds.sort();
    assert_eq!(kinds, ["INVALID", "UNKNOWN"]);
}

#[test]
fn messages_sent_before_an_exit_arrive_before_its_exit() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn_monitored("app:chatty", "app:processes", process.pid())
                process.events():receive()
                process.send(process.pid(), "marker")
                local inbox, seen = process.inbox(), {}
                for _ = 1, 4 do table.insert(seen, inbox:receive():topic()) end
                print(table.concat(seen, " "))
            end"##,
        ),
        (
            "chatty.lua",
            "return function(p) for i = 1, 3 do process.send(p, 'm' .. i) end end",
        ),
    ]);
    for workers in ["1", "2"] {
        assert_eq!(app.run(&["--workers", workers]).ok(), "m1 m2 m3 marker\n");
    }
}

#[test]
fn monitor_rules_dead_targets_duplicates_self_and_unmonitor() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local function kind(ok, err) return ok and "ok" or err:kind() end
                local me = process.pid()
                local waiter = process.spawn("app:waiter", "app:processes")
                print(kind(process.monitor(waiter)), kind(process.monitor(waiter)), kind(process.monitor(me)))
                local child = process.spawn_monitored("app:waiter", "app:processes")
                print(kind(process.monitor(child)))
                print(kind(process.monitor("{app:processes|0xfffff}")), kind(process.monitor("nobody")))
                print(kind(process.monitor("{bad")), kind(process.monitor(42)), kind(process.monitor()))
                -- unmonitor discards an EXIT already queued
                process.send(waiter, "stop")
                process.send(child, "stop")
                while process.send(waiter, "ping") or process.send(child, "ping") do coroutine.yield() end
                print(kind(process.unmonitor(waiter)), kind(process.unmonitor(waiter)))
                print(kind(process.unmonitor("nobody")), kind(process.unmonitor("{app:processes|0xfffff}")), kind(process.unmonitor("{bad")))
                local ev = process.events():receive()
                print(ev.from == child)
                print(kind(process.monitor(child)))
            end"##,
        ),
        (
            "waiter.lua",
            "return function() process.inbox():receive() end",
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "ok\tALREADY_EXISTS\tok\n\
         ALREADY_EXISTS\n\
         NOT_FOUND\tNOT_FOUND\n\
         INVALID\tINVALID\tINVALID\n\
         ok\tok\n\
         ok\tok\tINVALID\n\
         true\n\
         NOT_FOUND\n"
    );
}

#[test]
fn a_supervisor_gets_exactly_one_exit_per_monitored_process() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pids = {}
                for i = 1, 10000 do
                    pids[assert(process.spawn_monitored("app:w", "app:processes", i))] = true
                end
                local events, count = process.events(), 0
                for _ = 1, 10000 do
                    local ev = events:receive()
                    assert(pids[ev.from], "EXIT twice or from a stranger")
                    pids[ev.from] = nil
                    count += 1
                end
                assert(next(pids) == nil)
                -- nothing more arrives: a marker message comes next, and no event is left
                print(count)
            end"##,
        ),
        (
            "w.lua",
            "return function(i) if i % 2 == 0 then error('even') end return i end",
        ),
    ]);
    for workers in ["1", "2"] {
        let out = app.run(&["--workers", workers]);
        assert_eq!(out.ok(), "10000\n");
    }
}

#[test]
fn options_hold_trap_links_and_reject_anything_else() {
    let out = run_main(
        r##"return function()
            local o = process.get_options()
            print(o.trap_links, o ~= process.get_options())
            print(process.set_options({trap_links = true}), process.get_options().trap_links)
            local function try(t) local ok, err = process.set_options(t) return tostring(ok) .. ":" .. (err and err:kind() or "") end
            print(try({trap_exits = true}), try({trap_links = 1}), try(nil), try("x"))
            print(process.get_options().trap_links)
            print(pcall(function() process.event.EXIT = "x" end))
            print(pcall(function() process.registry.lookup = nil end))
            print(process.event.EXIT, process.event.LINK_DOWN, process.event.CANCEL)
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "false\ttrue");
    assert_eq!(lines[1], "true\ttrue");
    assert_eq!(
        lines[2],
        "false:INVALID\tfalse:INVALID\tfalse:INVALID\tfalse:INVALID"
    );
    assert_eq!(lines[3], "true");
    assert!(
        lines[4].starts_with("false\t") && lines[4].contains("readonly"),
        "{stdout}"
    );
    assert!(
        lines[5].starts_with("false\t") && lines[5].contains("readonly"),
        "{stdout}"
    );
    assert_eq!(lines[6], "pid.exit\tpid.link.down\tpid.cancel");
}

#[test]
fn registry_names_stand_for_pids_and_are_released_before_exit() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local r = process.registry
                local function kind(ok, err) return tostring(ok) .. ":" .. (err and err:kind() or "") end
                print(r.register("cache"), r.register("cache"), r.lookup("cache") == process.pid())
                assert(process.send("cache", "put", "k"))
                print(process.inbox():receive():payload())
                local worker = process.spawn_monitored("app:holder", "app:processes", process.pid())
                assert(process.inbox():receive():topic() == "registered")
                print(r.lookup("held") == worker, kind(r.register("held")), kind(r.register("cache", worker)))
                print(kind(r.register("")), kind(r.register("{x")), kind(r.register(5)), kind(r.register("n", "{bad")))
                print(kind(r.register("n", "{app:processes|0xfffff}")), kind(r.lookup("nobody")), kind(r.lookup("")))
                print(r.unregister("cache"), r.unregister("cache"), kind(r.unregister("")))
                print(kind(process.send("cache", "x")))
                assert(process.send("held", "stop"))
                local ev = process.events():receive()
                print(ev.from == worker, kind(r.lookup("held")), kind(process.send("held", "x")))
                print(r.register("held"), r.lookup("held") == process.pid())
            end"##,
        ),
        (
            "holder.lua",
            r##"return function(parent)
                assert(process.registry.register("held"))
                process.send(parent, "registered")
                process.inbox():receive()
            end"##,
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "true\ttrue\ttrue\n\
         k\n\
         true\tnil:ALREADY_EXISTS\tnil:ALREADY_EXISTS\n\
         nil:INVALID\tnil:INVALID\tnil:INVALID\tnil:INVALID\n\
         nil:NOT_FOUND\tnil:NOT_FOUND\tnil:INVALID\n\
         true\tfalse\tfalse:INVALID\n\
         nil:NOT_FOUND\n\
         true\tnil:NOT_FOUND\tnil:NOT_FOUND\n\
         true\ttrue\n"
    );
}

#[test]
fn a_host_at_max_processes_refuses_spawns_until_one_exits() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: wait, kind: process.lua, source: file://wait.lua}\n  - {name: small, kind: process.host, host: {max_processes: 2}}\n",
        ),
        (
            "main.lua",
            r##"return function()
                local a = assert(process.spawn_monitored("app:wait", "app:small"))
                assert(process.spawn("app:wait", "app:small"))
                local pid, err = process.spawn("app:wait", "app:small")
                print(pid, err:kind())
                assert(process.terminate(a))
                process.events():receive()
                print(process.spawn("app:wait", "app:small") ~= nil)
            end"##,
        ),
        (
            "wait.lua",
            "return function() process.inbox():receive() end",
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "nil\tUNAVAILABLE\ntrue\n");
}

#[test]
fn a_result_that_cannot_be_copied_is_an_invalid_exit() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn_monitored("app:bad", "app:processes")
                local e = process.events():receive().result.error
                print(e:kind(), e:message())
            end"##,
        ),
        ("bad.lua", "return function() return function() end end"),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "INVALID\texit value: cannot copy a value of type function\n"
    );
}
