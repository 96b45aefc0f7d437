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
-- Whether `which_children` lists the children in start order (w1, w2, ...), each running
-- under a PID of its own. (PIDs are unique, not ordered: they say nothing about the order the
-- supervisor spawned the children in, which is not observable from here any more.)
local function in_order(sup)
    local list = assert(supervisor.which_children(sup))
    local seen = {}
    for i, child in list do
        if child.id ~= "w" .. i or not child.pid or seen[child.pid] then return false end
        seen[child.pid] = true
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
    run_with(main, "", &[])
}

/// `run` with more entries (YAML list items) and the files they need.
fn run_with(main: &str, entries: &str, files: &[(&str, &str)]) -> common::Outcome {
    run_with_args(main, entries, files, &[])
}

/// `run_with`, with more arguments for `moonweave run`.
fn run_with_args(
    main: &str,
    entries: &str,
    files: &[(&str, &str)],
    args: &[&str],
) -> common::Outcome {
    let main = format!("{HELPERS}\n{main}");
    let yaml = format!(
        "namespace: app\nentries:\n  - {{ name: main, kind: process.lua, source: file://main.lua, modules: [supervisor, time] }}\n  - {{ name: worker, kind: process.lua, source: file://worker.lua }}\n{entries}"
    );
    let mut all = vec![
        ("app.yaml", yaml.as_str()),
        ("main.lua", main.as_str()),
        ("worker.lua", WORKER),
    ];
    all.extend_from_slice(files);
    let mut run_args = vec!["--workers", "1"];
    run_args.extend_from_slice(args);
    app(&all).run(&run_args)
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

#[test]
fn forged_requests_get_errors_and_the_supervisor_keeps_serving() {
    // Any process can send a supervisor a request by hand; a malformed one is answered with an
    // error (or ignored when it names no reply topic), never a crash.
    let out = run(r##"return function()
        local sup = assert(supervisor.start({children = {worker("w1")}}))
        expect(1)
        local replies = process.listen("forged")
        local function ask(request)
            request.reply = "forged"
            process.send(sup, "supervisor.request", request)
            local answer = replies:receive()
            return answer.error and answer.error:kind() or tostring(answer.value ~= nil)
        end
        print(ask({op = "start_child", child = {id = "bad"}}))
        print(ask({op = "start_child", child = 5}))
        print(ask({op = "start_child", child = {id = "c", entry = "app:worker", args = "x"}}))
        print(ask({op = "start_child", child = {id = "c", supervisor = {children = {{id = "x"}}}}}))
        print(ask({op = "start_child", child = {id = "c", entry = "app:worker", shutdown = 0}}))
        print(ask({op = "terminate_child", id = {}}))
        print(ask({op = "launch_missiles"}))
        process.send(sup, "supervisor.request", "junk")
        process.send(sup, "supervisor.request", {op = "which_children"})
        process.send(sup, "supervisor.request", {op = "which_children", reply = 7})
        print(#assert(supervisor.which_children(sup)), supervisor.which_children(42))
        supervisor.stop(sup)
        expect(1)
    end"##);
    let stdout = out.ok();
    assert_eq!(
        stdout.lines().take(7).collect::<Vec<_>>(),
        [
            "INVALID",
            "INVALID",
            "INVALID",
            "INVALID",
            "INVALID",
            "NOT_FOUND",
            "INVALID"
        ],
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .nth(7)
            .is_some_and(|l| l.starts_with("1\tnil\tsupervisor: expected a PID or a name")),
        "{stdout}"
    );
    assert!(!out.stderr.contains("process failed"), "{}", out.stderr);
}

#[test]
fn durations_must_be_above_zero_and_may_be_duration_objects() {
    let out = run_with(
        r##"return function()
        local time = require("time")
        local cyclic = {children = {}}
        cyclic.children[1] = {id = "self", supervisor = cyclic}
        for _, spec in {
            {children = {worker("x", {shutdown = 0})}},
            {children = {worker("x", {shutdown = "0s"})}},
            {children = {worker("x", {shutdown = "-1s"})}},
            {children = {worker("x", {shutdown = 1.5})}},
            {period = 0},
            {period = time.parse_duration("-1m")},
            cyclic,
        } do
            local sup, err = supervisor.start(spec)
            print(sup, err:kind())
        end
        local _, err = supervisor.start(cyclic)
        print(string.find(err:message(), "nest more than", 1, true) ~= nil)
        -- Duration objects are durations; entry names may contain dots.
        local sup = assert(supervisor.start({period = time.parse_duration("1m"), children = {
            worker("d", {shutdown = time.parse_duration("1s")}),
            {id = "dots", entry = "app:dotted.worker", args = {"dots", process.pid()}},
        }}))
        print(expect_any(2))
        process.send(pids(sup).d, "crash")
        print(expect(1))
        supervisor.stop(sup)
        print(expect(2))
    end"##,
        "  - { name: dotted.worker, kind: process.lua, source: file://worker.lua }\n",
        &[],
    );
    assert_eq!(
        out.ok(),
        "nil\tINVALID\n".repeat(7)
            + "true\nstarted d, started dots\nstarted d\nstopped dots, stopped d\n"
    );
}

/// A child for `a_restart_that_cannot_start_is_retried_in_a_loop_until_the_intensity_ends`:
/// "a" takes, when it is cancelled, the host's free place with a "blocker", so that "b"
/// cannot start again.
const LOOPER: &str = r##"return function(role, main)
    local inbox, events = process.inbox(), process.events()
    if role == "blocker" then
        events:receive()
    elseif role == "b" then
        process.send(main, "up", "b")
        inbox:receive()
        error("b crashed")
    else
        events:receive()
        process.spawn("app:looper", "app:small", "blocker")
    end
end"##;

#[test]
fn a_restart_that_cannot_start_is_retried_in_a_loop_until_the_intensity_ends() {
    // Every restart of "b" fails to start (its host is full), which is one more failure of it:
    // the supervisor retries until max_restarts, thousands of times, without growing a stack.
    let out = run_with(
        r##"return function()
        process.set_options({trap_links = true})
        local sup = assert(supervisor.start({strategy = "one_for_all", max_restarts = 8000, period = "1h",
            children = {
                {id = "a", entry = "app:looper", host = "app:small", args = {"a"}},
                {id = "b", entry = "app:looper", host = "app:small", args = {"b", process.pid()}},
            }}))
        expect(1)
        process.send(pids(sup).b, "crash")
        local ev = process.events():receive()
        local e = ev.result.error
        print(ev.kind, ev.from == sup, e:kind(), string.find(e:message(), "restart intensity", 1, true) ~= nil)
    end"##,
        "  - { name: looper, kind: process.lua, source: file://looper.lua }\n  - { name: small, kind: process.host, host: { max_processes: 2 } }\n",
        &[("looper.lua", LOOPER)],
    );
    assert_eq!(out.ok(), "pid.link.down\ttrue\tUNAVAILABLE\ttrue\n");
    assert_eq!(restart_lines(&out.stderr).len(), 8000);
}

#[test]
fn shutting_down_is_true_once_the_runtime_shuts_down_and_nothing_restarts_then() {
    // The workers fail when they are cancelled: at shutdown, that must not restart them.
    let out = run_with(
        r##"return function()
        print(supervisor.shutting_down())
        local children = {}
        for i = 1, 20 do
            table.insert(children, {id = `w{i}`, entry = "app:crasher", args = {process.pid()}})
        end
        assert(supervisor.start({max_restarts = 100, children = children}))
        for _ = 1, 20 do inbox:receive() end
        process.spawn("app:watcher", "app:processes", process.pid())
        inbox:receive()
    end"##,
        "  - { name: crasher, kind: process.lua, source: file://crasher.lua }\n  - { name: watcher, kind: process.lua, source: file://watcher.lua, modules: [supervisor] }\n",
        &[
            (
                "crasher.lua",
                r##"return function(main)
                    process.send(main, "up")
                    process.events():receive()
                    error("failed to stop")
                end"##,
            ),
            (
                "watcher.lua",
                r##"return function(main)
                    local supervisor = require("supervisor")
                    process.send(main, "watching")
                    process.events():receive()
                    print("at shutdown", supervisor.shutting_down())
                end"##,
            ),
        ],
    );
    assert_eq!(out.ok(), "false\nat shutdown\ttrue\n");
    assert!(restart_lines(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn a_supervisor_that_fails_otherwise_than_by_giving_up_is_logged() {
    // Its starter is linked to it and alive, so the failure is logged at DEBUG.
    let out = run_with_args(
        r##"return function()
        process.set_options({trap_links = true})
        local sup = assert(supervisor.start({children = {worker("w1")}}))
        expect(1)
        process.terminate(sup)
        print(process.events():receive().kind)
    end"##,
        "",
        &[],
        &["--log-level", "debug"],
    );
    assert_eq!(out.ok(), "pid.link.down\n");
    assert!(
        out.stderr
            .contains("DEBUG {app:processes|0x00002} moonweave:supervisor: process failed"),
        "{}",
        out.stderr
    );
}
