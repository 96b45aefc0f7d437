//! process.md §7: terminate and cancel, with enforced deadlines.

mod common;

use common::app;

const WAIT: (&str, &str) = (
    "wait.lua",
    "return function() process.inbox():receive() return 'done' end",
);
const SPIN: (&str, &str) = ("spin.lua", "return function() while true do end end");

#[test]
fn terminate_stops_blocked_and_busy_processes_and_they_are_gone_at_once() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local function kind(ok, err) return ok and "ok" or err:kind() end
                for _, id in {"app:wait", "app:spin"} do
                    local pid = process.spawn_monitored(id, "app:processes")
                    assert(process.registry.register("victim", pid))
                    print(kind(process.terminate(pid)))
                    -- gone for everyone as soon as terminate returns
                    print(kind(process.send(pid, "x")), kind(process.monitor(pid)), kind(process.link(pid)),
                          kind(process.cancel(pid)), kind(process.terminate(pid)), kind(process.registry.lookup("victim")))
                    local ev = process.events():receive()
                    print(ev.from == pid, ev.result.error:kind(), ev.result.error:message())
                end
                print(kind(process.terminate("{app:processes|0xfffff}")), kind(process.terminate("nobody")), kind(process.terminate("{x")), kind(process.terminate()))
            end"##,
        ),
        WAIT,
        SPIN,
    ]);
    let expected = "ok\nNOT_FOUND\tNOT_FOUND\tNOT_FOUND\tNOT_FOUND\tNOT_FOUND\tNOT_FOUND\ntrue\tCANCELED\tterminated\n";
    assert_eq!(
        app.run(&["--workers", "1"]).ok(),
        format!("{expected}{expected}NOT_FOUND\tNOT_FOUND\tINVALID\tINVALID\n")
    );
}

#[test]
fn a_terminated_process_sends_link_down() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                assert(process.set_options({trap_links = true}))
                local pid = process.spawn_linked("app:wait", "app:processes")
                assert(process.terminate(pid))
                local ev = process.events():receive()
                print(ev.kind, ev.result.error:message())
            end"##,
        ),
        WAIT,
    ]);
    assert_eq!(app.run(&[]).ok(), "pid.link.down\tterminated\n");
}

#[test]
fn terminating_yourself_does_not_return() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn_monitored("app:suicide", "app:processes")
                print(process.events():receive().result.error:message())
            end"##,
        ),
        (
            "suicide.lua",
            "return function() process.terminate(process.pid()) print('still here') end",
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "terminated\n");
}

#[test]
fn cancel_queues_an_event_and_a_cooperative_target_exits_normally() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pid = process.spawn_monitored("app:polite", "app:processes", process.pid())
                assert(process.cancel(pid, "2s"))
                local ev = process.events():receive()
                print(ev.result.value, ev.result.error)
                local info = process.inbox():receive()
                local from, deadline = info:payload()
                print(from == process.pid(), string.match(deadline, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$") ~= nil)
                local pid2 = process.spawn_monitored("app:polite", "app:processes", process.pid())
                assert(process.cancel(pid2))
                process.events():receive()
                print(select(2, process.inbox():receive():payload()))
            end"##,
        ),
        (
            "polite.lua",
            r##"return function(parent)
                local ev = process.events():receive()
                assert(ev.kind == process.event.CANCEL)
                process.send(parent, "cancel", ev.from, ev.deadline)
                return "stopped"
            end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "stopped\tnil\ntrue\ttrue\nnil\n");
}

#[test]
fn an_ignored_cancel_deadline_is_enforced_even_on_busy_and_sleeping_processes() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                for _, id in {"app:spin", "app:sleepy", "app:wait"} do
                    local pid = process.spawn_monitored(id, "app:processes")
                    assert(process.cancel(pid, 50))
                    local ev = process.events():receive()
                    print(id, ev.result.error:kind(), ev.result.error:message())
                end
                -- the earliest of several deadlines is enforced
                local pid = process.spawn_monitored("app:wait", "app:processes")
                assert(process.cancel(pid, "1h"))
                assert(process.cancel(pid, "20ms"))
                print(process.events():receive().result.error:message())
            end"##,
        ),
        SPIN,
        WAIT,
        (
            "sleepy.lua",
            "local time = require('time') return function() time.sleep('1h') end",
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "app:spin\tCANCELED\tcancel deadline exceeded\n\
         app:sleepy\tCANCELED\tcancel deadline exceeded\n\
         app:wait\tCANCELED\tcancel deadline exceeded\n\
         cancel deadline exceeded\n"
    );
}

#[test]
fn cancel_validates_its_deadline() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pid = process.spawn("app:wait", "app:processes")
                local function kind(ok, err) return ok and "ok" or err:kind() end
                print(kind(process.cancel(pid, 0)), kind(process.cancel(pid, -5)), kind(process.cancel(pid, "0")),
                      kind(process.cancel(pid, 1.5)), kind(process.cancel(pid, "soon")), kind(process.cancel(pid, {})))
                print(kind(process.cancel(nil)), kind(process.cancel("{app:processes|0xfffff}")), kind(process.cancel(pid, "1m30s")))
                process.terminate(pid)
            end"##,
        ),
        WAIT,
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "INVALID\tINVALID\tINVALID\tINVALID\tINVALID\tINVALID\nINVALID\tNOT_FOUND\tok\n"
    );
}

#[test]
fn shutdown_cancels_every_process_and_waits_for_them() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                process.spawn("app:cleaner", "app:processes")
                process.spawn("app:stubborn", "app:processes")
                return 3
            end"##,
        ),
        (
            "cleaner.lua",
            r##"return function()
                local ev = process.events():receive()
                local pid, err = process.spawn("app:cleaner", "app:processes")
                print(ev.kind, ev.from, ev.deadline ~= nil, pid, err:kind())
                local ok, err2 = process.send(ev.from, "bye")
                print("cleaned up", ok, err2:kind())
            end"##,
        ),
        ("stubborn.lua", "return function() while true do end end"),
    ]);
    let started = std::time::Instant::now();
    let out = app.run(&[]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(
        out.stdout,
        "pid.cancel\t{runtime|0x00000}\ttrue\tnil\tUNAVAILABLE\ncleaned up\tnil\tNOT_FOUND\n"
    );
    // The stubborn process was stopped by the 5 s shutdown deadline, not dropped at once.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stderr
            .contains("app:stubborn: process failed: [CANCELED] cancel deadline exceeded"),
        "{}",
        out.stderr
    );
}
