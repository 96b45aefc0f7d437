//! `require("supervisor")` (supervisor.md): strategies, restart types, intensity, nested
//! supervisors, requests, ordered stops, shutdown.

mod common;

use common::app;

/// A child that tells `main` when it starts and when it is stopped, and crashes or exits when
/// told to.
const WORKER: &str = r##"return function(name, main)
    process.send(main, "started", name)
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select({inbox:case_receive(), events:case_receive()})
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then
                process.send(main, "stopped", name)
                return
            end
        elseif r.value:topic() == "crash" then
            error(name .. " crashed")
        elseif r.value:topic() == "exit" then
            return "done"
        end
    end
end"##;

/// Helpers every main of these tests uses: `expect(n)` returns the next `n` lifecycle messages
/// of the workers as one string ("started w1, stopped w2").
const HELPERS: &str = r##"local supervisor = require("supervisor")
local inbox = process.inbox()
local function expect(n)
    local seen = {}
    for _ = 1, n do
        local msg = inbox:receive()
        table.insert(seen, msg:topic() .. " " .. msg:payload())
    end
    return table.concat(seen, ", ")
end
-- The same, sorted: children are spawned in order, but which of them runs first is the
-- scheduler's choice.
local function expect_any(n)
    local seen = {}
    for _ = 1, n do
        local msg = inbox:receive()
        table.insert(seen, msg:topic() .. " " .. msg:payload())
    end
    table.sort(seen)
    return table.concat(seen, ", ")
end
-- Whether the children's PIDs grow in list order (they were spawned in that order).
local function in_order(sup)
    local list = assert(supervisor.which_children(sup))
    for i = 2, #list do
        if not (list[i - 1].pid < list[i].pid) then return false end
    end
    return true
end
local function worker(id, extra)
    local child = {id = id, entry = "app:worker", args = {id, process.pid()}}
    for k, v in extra or {} do child[k] = v end
    return child
end
local function pids(sup)
    local list = {}
    for _, c in assert(supervisor.which_children(sup)) do list[c.id] = c.pid or "-" end
    return list
end
"##;

fn run(main: &str) -> common::Outcome {
    let main = format!("{HELPERS}\n{main}");
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://main.lua, modules: [supervisor, time] }\n  - { name: worker, kind: process.lua, source: file://worker.lua }\n",
        ),
        ("main.lua", &main),
        ("worker.lua", WORKER),
    ]);
    app.run(&["--workers", "1"])
}

fn restart_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("moonweave:supervisor: restarting child"))
        .collect()
}

#[test]
fn one_for_one_restarts_only_the_failed_child_and_logs_it() {
    let out = run(r##"return function()
        local sup = assert(supervisor.start({children = {worker("w1"), worker("w2")}, name = "pool"}))
        print(expect_any(2), in_order(sup))
        local before = pids("pool")
        process.send(before.w1, "crash")
        print(expect(1))
        local after = pids(sup)
        print(after.w1 ~= before.w1, after.w2 == before.w2)
        print(supervisor.stop(sup))
        print(expect(2))
    end"##);
    assert_eq!(
        out.ok(),
        "started w1, started w2\ttrue\nstarted w1\ntrue\ttrue\ntrue\nstopped w2, stopped w1\n"
    );
    let lines = restart_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0]
            .ends_with(r#"{"child":"w1","error":"main.lua:0: w1 crashed","supervisor":"pool"}"#)
            || lines[0].contains(r#""child":"w1""#)
                && lines[0].contains("w1 crashed")
                && lines[0].contains(r#""supervisor":"pool""#),
        "{}",
        lines[0]
    );
}

#[test]
fn one_for_all_and_rest_for_one_stop_in_reverse_and_start_in_order() {
    let out = run(r##"return function()
        for _, strategy in {"one_for_all", "rest_for_one"} do
            local sup = assert(supervisor.start({strategy = strategy,
                children = {worker("w1"), worker("w2"), worker("w3")}}))
            expect(3)
            process.send(pids(sup).w2, "crash")
            if strategy == "one_for_all" then
                print(strategy, expect(2), expect_any(3), in_order(sup))
            else
                print(strategy, expect(1), expect_any(2), in_order(sup))
            end
            supervisor.stop(sup)
            expect(3)
        end
    end"##);
    assert_eq!(
        out.ok(),
        "one_for_all\tstopped w3, stopped w1\tstarted w1, started w2, started w3\ttrue\n\
         rest_for_one\tstopped w3\tstarted w2, started w3\ttrue\n"
    );
}

#[test]
fn restart_types_decide_which_exits_restart() {
    let out = run(r##"return function()
        local sup = assert(supervisor.start({max_restarts = 10, children = {
            worker("perm"), worker("trans", {restart = "transient"}), worker("temp", {restart = "temporary"}),
        }}))
        expect(3)
        local p = pids(sup)
        process.send(p.perm, "exit")     -- permanent: restarted after a normal exit too
        print(expect(1))
        process.send(p.trans, "exit")    -- transient, normal exit: not restarted
        process.send(p.temp, "crash")    -- temporary: never restarted, removed
        process.send(pids(sup).perm, "crash")
        print(expect(1))
        local list = assert(supervisor.which_children(sup))
        local shown = {}
        for _, c in list do table.insert(shown, `{c.id}:{c.pid and "running" or "down"}:{c.restart}:{c.kind}`) end
        print(table.concat(shown, " "))
        print(supervisor.restart_child(sup, "trans") ~= nil, expect(1))
        process.send(pids(sup).trans, "crash")    -- transient, error: restarted
        print(expect(1))
        supervisor.stop(sup)
        expect(2)
    end"##);
    assert_eq!(
        out.ok(),
        "started perm\nstarted perm\nperm:running:permanent:worker trans:down:transient:worker\ntrue\tstarted trans\nstarted trans\n"
    );
}

#[test]
fn too_many_restarts_stop_the_children_and_fail_the_supervisor_to_its_starter() {
    let out = run(r##"return function()
        process.set_options({trap_links = true})
        local sup = assert(supervisor.start({max_restarts = 2, period = "1m",
            children = {worker("w1"), worker("w2")}}))
        expect(2)
        for _ = 1, 2 do
            process.send(pids(sup).w1, "crash")
            expect(1)
        end
        process.send(pids(sup).w1, "crash")
        print(expect(1))
        local ev = process.events():receive()
        local e = ev.result.error
        print(ev.kind, ev.from == sup, e:kind(), string.find(e:message(), "restart intensity", 1, true) ~= nil,
            string.find(e:message(), sup, 1, true) ~= nil)
        print(supervisor.which_children(sup))
    end"##);
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "stopped w2");
    assert_eq!(lines[1], "pid.link.down\ttrue\tUNAVAILABLE\ttrue\ttrue");
    assert!(
        lines[2].starts_with("nil\tsupervisor: no supervisor"),
        "{stdout}"
    );
    assert_eq!(restart_lines(&out.stderr).len(), 2, "{}", out.stderr);
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.contains("restart intensity exceeded, giving up"))
            .count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("process failed: [UNAVAILABLE]"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_nested_supervisor_is_a_child_restarted_when_it_gives_up() {
    let out = run(r##"return function()
        local sup = assert(supervisor.start({children = {
            worker("w1"),
            {id = "sub", supervisor = {max_restarts = 0, children = {worker("inner")}}},
        }}))
        print(expect_any(2))
        local list = assert(supervisor.which_children(sup))
        print(list[2].kind)
        local sub = list[2].pid
        -- The inner worker crashes; the nested supervisor may not restart (0): it gives up,
        -- and the outer one restarts it with a new PID.
        process.send(pids(sub).inner, "crash")
        print(expect(1))
        print(pids(sup).sub ~= sub)
        -- Stopping the outer one stops the nested one's children first, then the rest.
        supervisor.stop(sup)
        print(expect(2))
    end"##);
    assert_eq!(
        out.ok(),
        "started inner, started w1\nsupervisor\nstarted inner\ntrue\nstopped inner, stopped w1\n"
    );
}

#[test]
fn requests_start_terminate_restart_and_delete_children() {
    let out = run(r##"return function()
        local sup = assert(supervisor.start({name = "req", children = {worker("w1")}}))
        expect(1)
        local function show(v, e) return e and `{e:kind()}` or tostring(v ~= nil) end
        print(show(supervisor.start_child("req", worker("w2"))), expect(1))
        print(show(supervisor.start_child(sup, worker("w2"))))
        print(show(supervisor.terminate_child(sup, "w2")), expect(1))
        print(pids(sup).w2)
        print(show(supervisor.terminate_child(sup, "nope")))
        print(show(supervisor.delete_child(sup, "w1")))
        print(show(supervisor.restart_child(sup, "w1")))
        print(show(supervisor.restart_child(sup, "w2")), expect(1))
        print(show(supervisor.terminate_child(sup, "w2")), expect(1))
        print(show(supervisor.delete_child(sup, "w2")))
        print(#assert(supervisor.which_children(sup)))
        print(show(supervisor.which_children(process.pid())))
        print(show(supervisor.which_children("nobody")))
        print(show(supervisor.start_child(sup, {id = "bad"})))
        print(show(supervisor.terminate_child(sup, 5)))
        supervisor.stop(sup)
        expect(1)
    end"##);
    assert_eq!(
        out.ok(),
        "true\tstarted w2\nALREADY_EXISTS\ntrue\tstopped w2\n-\nNOT_FOUND\nCONFLICT\nCONFLICT\ntrue\tstarted w2\ntrue\tstopped w2\ntrue\n1\nNOT_FOUND\nNOT_FOUND\nINVALID\nINVALID\n"
    );
}

#[test]
fn bad_specs_are_invalid_before_anything_starts_and_an_unknown_entry_stops_the_started() {
    let out = run(r##"return function()
        process.set_options({trap_links = true})
        local specs = {
            {colour = "red"},
            {strategy = "one_for_some"},
            {max_restarts = -1},
            {period = "soon"},
            {children = {worker("a"), worker("a")}},
            {children = {{id = "x"}}},
            {children = {{id = "x", entry = "app:worker", supervisor = {}}}},
            {children = {worker("x", {restart = "sometimes"})}},
            {children = {worker("x", {shutdown = "gently"})}},
            {children = {{id = "x", supervisor = {children = {{id = ""}}}}}},
            "not a table",
        }
        for _, spec in specs do
            local sup, err = supervisor.start(spec)
            print(sup, err:kind())
        end
        local sup, err = supervisor.start({children = {worker("w1"), {id = "ghost", entry = "app:ghost"}}})
        print(sup, err:kind(), expect(2))
        -- The supervisor exited normally: no LINK_DOWN reached this process.
        print(channel.select({process.events():case_receive(), default = true}).default)
    end"##);
    assert_eq!(
        out.ok(),
        "nil\tINVALID\n".repeat(11) + "nil\tNOT_FOUND\tstarted w1, stopped w1\ntrue\n"
    );
}

#[test]
fn the_runtime_shutdown_stops_supervised_children_without_restarting_them() {
    let out = run(r##"return function()
        local sup = assert(supervisor.start({children = {worker("w1"), worker("w2")}}))
        expect(2)
        print("leaving")
    end"##);
    assert_eq!(out.ok(), "leaving\n");
    assert!(restart_lines(&out.stderr).is_empty(), "{}", out.stderr);
    assert!(!out.stderr.contains("deadline exceeded"), "{}", out.stderr);
}
