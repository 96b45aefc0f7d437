//! process.md §11: process.upgrade.

mod common;

use common::app;

#[test]
fn upgrade_keeps_pid_messages_names_links_monitors_and_options() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pid = process.spawn_monitored("app:counter", "app:processes", process.pid())
                assert(process.inbox():receive():topic() == "ready")
                for _ = 1, 3 do process.send("counter", "tick") end
                process.send(pid, "reload")
                process.send(pid, "tick")
                process.send(pid, "stop")
                print(process.inbox():receive():payload())
                local ev = process.events():receive()
                print(ev.from == pid, ev.result.value)
            end"##,
        ),
        (
            "counter.lua",
            r##"return function(parent, state)
                if not state then
                    assert(process.registry.register("counter"))
                    assert(process.set_options({trap_links = true}))
                    process.send(parent, "ready")
                end
                state = state or {count = 0, pid = process.pid(), upgrades = 0}
                assert(state.pid == process.pid(), "same PID after upgrade")
                local inbox = process.inbox()
                while true do
                    local msg = inbox:receive()
                    if msg:topic() == "tick" then
                        state.count += 1
                    elseif msg:topic() == "reload" then
                        state.upgrades += 1
                        process.upgrade(nil, parent, state)
                        error("upgrade returned")
                    else
                        process.send(parent, "report", state.count, state.upgrades,
                            process.registry.lookup("counter") == process.pid(),
                            process.get_options().trap_links, process.id())
                        return state.count
                    end
                end
            end"##,
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "4\t1\ttrue\ttrue\tapp:counter\ntrue\t4\n"
    );
}

#[test]
fn upgrade_to_another_entry_changes_the_id_and_resets_globals() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pid = process.spawn_monitored("app:v1", "app:processes")
                print(process.events():receive().result.value)
            end"##,
        ),
        (
            "v1.lua",
            r##"return function()
                leftover = "v1 global"
                process.upgrade("app:v2", "from v1")
            end"##,
        ),
        (
            "v2.lua",
            r##"return function(arg) return `{process.id()} got {arg}, leftover = {tostring(leftover)}` end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "app:v2 got from v1, leftover = nil\n");
}

#[test]
fn upgrade_argument_errors_leave_the_process_untouched_and_load_errors_end_it() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local function kind(_, err) return err:kind() end
                print(kind(process.upgrade(42)), kind(process.upgrade("app:missing")), kind(process.upgrade("app:processes")),
                      kind(process.upgrade(nil, function() end)), kind(process.upgrade("bad id")))
                process.spawn_monitored("app:breaks", "app:processes")
                local ev = process.events():receive()
                print(ev.result.error:kind(), ev.result.error:message())
            end"##,
        ),
        (
            "breaks.lua",
            "return function() process.upgrade('app:broken') end",
        ),
        ("broken.lua", "return {}"),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "INVALID\tNOT_FOUND\tINVALID\tINVALID\tINVALID\nINVALID\tentry has no function 'main'\n"
    );
}
