//! process.md §8: links, LINK_DOWN, trap_links and failure cascades.

mod common;

use common::app;

const CRASH: (&str, &str) = (
    "crash.lua",
    "return function() error('crashed on purpose') end",
);
const OK: (&str, &str) = ("ok.lua", "return function() return 'fine' end");
const WAIT: (&str, &str) = (
    "wait.lua",
    "return function() process.inbox():receive() end",
);

#[test]
fn a_linked_failure_stops_a_process_that_does_not_trap() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local middle = process.spawn_monitored("app:middle", "app:processes")
                local ev = process.events():receive()
                print(ev.from == middle, ev.result.error:kind(), ev.result.error:message())
            end"##,
        ),
        (
            "middle.lua",
            r##"return function()
                process.spawn_linked("app:crash", "app:processes")
                process.inbox():receive()
                return "not reached"
            end"##,
        ),
        CRASH,
    ]);
    assert_eq!(app.run(&[]).ok(), "true\tCANCELED\tlinked process failed\n");
}

#[test]
fn a_busy_process_is_stopped_by_a_linked_failure() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn_monitored("app:busy", "app:processes")
                print(process.events():receive().result.error:message())
            end"##,
        ),
        (
            "busy.lua",
            r##"return function()
                process.spawn_linked("app:crash", "app:processes")
                while true do end
            end"##,
        ),
        CRASH,
    ]);
    for workers in ["1", "2"] {
        assert_eq!(
            app.run(&["--workers", workers]).ok(),
            "linked process failed\n"
        );
    }
}

#[test]
fn trapping_turns_link_down_into_an_event_after_the_exit() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                assert(process.set_options({trap_links = true}))
                local child = process.spawn_linked_monitored("app:crash", "app:processes")
                local events = process.events()
                local first, second = events:receive(), events:receive()
                print(first.kind, second.kind, second.from == child)
                print(second.result.error:kind(), second.result.value)
                return "survived"
            end"##,
        ),
        CRASH,
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "pid.exit\tpid.link.down\ttrue\nUNKNOWN\tnil\n"
    );
}

#[test]
fn normal_exits_send_no_link_down() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                assert(process.set_options({trap_links = true}))
                local linked = process.spawn_linked_monitored("app:ok", "app:processes")
                assert(process.events():receive().from == linked)
                local other = process.spawn_monitored("app:ok", "app:processes")
                local ev = process.events():receive()
                print(ev.kind, ev.from == other)
            end"##,
        ),
        OK,
    ]);
    assert_eq!(app.run(&[]).ok(), "pid.exit\ttrue\n");
}

#[test]
fn a_failure_cascades_along_a_chain_of_three() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local a = process.spawn_monitored("app:chain", "app:processes", 3)
                local ev = process.events():receive()
                print(ev.from == a, ev.result.error:message())
            end"##,
        ),
        (
            "chain.lua",
            r##"return function(n)
                if n == 1 then
                    process.spawn_linked("app:crash", "app:processes")
                else
                    process.spawn_linked("app:chain", "app:processes", n - 1)
                end
                process.inbox():receive()
            end"##,
        ),
        CRASH,
    ]);
    assert_eq!(app.run(&[]).ok(), "true\tlinked process failed\n");
}

#[test]
fn a_star_of_ten_linked_children() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                -- with trap_links the hub sees ten LINK_DOWN events and survives
                assert(process.set_options({trap_links = true}))
                for _ = 1, 10 do process.spawn_linked("app:crash", "app:processes") end
                local downs = 0
                for _ = 1, 10 do
                    if process.events():receive().kind == process.event.LINK_DOWN then downs += 1 end
                end
                print(downs)
                -- without it, one failure takes the hub down, and the hub takes its other children
                local hub = process.spawn_monitored("app:hub", "app:processes", process.pid())
                local children = {process.inbox():receive():payload()}
                for _, child in children do assert(process.monitor(child)) end
                assert(process.send(children[1], "crash"))
                local reasons = {}
                for _ = 1, 11 do
                    local ev = process.events():receive()
                    local m = ev.result.error:message()
                    reasons[m] = (reasons[m] or 0) + 1
                end
                print(reasons["linked process failed"], reasons["wait.lua:1: told to crash"])
            end"##,
        ),
        (
            "hub.lua",
            r##"return function(parent)
                local children = {}
                for i = 1, 10 do children[i] = process.spawn_linked("app:wait", "app:processes") end
                process.send(parent, "children", table.unpack(children))
                process.inbox():receive()
            end"##,
        ),
        CRASH,
        (
            "wait.lua",
            "return function() if process.inbox():receive():topic() == 'crash' then error('told to crash') end end",
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "10\n10\t1\n");
}

#[test]
fn link_and_unlink_rules() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local function kind(ok, err) return ok and "ok" or err:kind() end
                assert(process.set_options({trap_links = true}))
                local waiter = process.spawn("app:wait", "app:processes")
                print(kind(process.link(waiter)), kind(process.link(waiter)), kind(process.link(process.pid())))
                print(kind(process.link("{app:processes|0xfffff}")), kind(process.link("nobody")), kind(process.link("{bad")), kind(process.link()))
                print(kind(process.unlink(waiter)), kind(process.unlink(waiter)), kind(process.unlink("nobody")), kind(process.unlink(7)))
                -- unlink drops a LINK_DOWN that is already queued
                local crasher = process.spawn_linked_monitored("app:crash", "app:processes")
                assert(process.events():receive().kind == process.event.EXIT)
                assert(process.unlink(crasher))
                local other = process.spawn_monitored("app:ok", "app:processes")
                local ev = process.events():receive()
                print(ev.kind, ev.from == other)
                -- an unlinked waiter that fails sends nothing: it is not linked any more
                print(kind(process.link(crasher)))
            end"##,
        ),
        CRASH,
        OK,
        WAIT,
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "ok\tok\tok\n\
         NOT_FOUND\tNOT_FOUND\tINVALID\tINVALID\n\
         ok\tok\tok\tINVALID\n\
         pid.exit\ttrue\n\
         NOT_FOUND\n"
    );
}

#[test]
fn a_link_made_by_the_other_process_carries_its_failure_both_ways() {
    // B links A (A made nothing); B fails: A, trapping links, gets LINK_DOWN; a second A that
    // does not trap links is stopped.
    let out = common::run_main(
        r#"return function(role, a)
            if role == "b" then
                assert(process.link(a))
                process.send(a, "linked")
                error("b fails")
            end
            if role == "plain" then
                process.spawn("app:main", "app:processes", "b", process.pid())
                process.inbox():receive()
                process.inbox():receive() -- stopped before anything arrives
                return
            end
            process.set_options({trap_links = true})
            process.spawn("app:main", "app:processes", "b", process.pid())
            process.inbox():receive()
            local ev = process.events():receive()
            print(ev.kind, string.find(tostring(ev.result.error), "b fails", 1, true) ~= nil)
            local plain = process.spawn_monitored("app:main", "app:processes", "plain")
            local exit = process.events():receive()
            print(exit.from == plain, exit.result.error:kind(), exit.result.error:message())
        end"#,
        &[],
    );
    assert_eq!(
        out.ok(),
        "pid.link.down\ttrue\ntrue\tCANCELED\tlinked process failed\n"
    );
}
