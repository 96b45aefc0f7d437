//! The process boundary (issue 8): what one process can reach gives it no hold on another, and
//! runtime objects cannot be opened, changed or forged. Each test is an attack that worked
//! before the runtime's objects moved to Rust.

mod common;

use common::{app, run_main};

#[test]
fn a_case_exposes_no_state_to_index_or_replace() {
    let out = run_main(
        r##"return function()
            local case = process.inbox():case_receive()
            print(type(case), typeof(case))
            print(pcall(function() return case[2] end))
            print(pcall(function() return case.P end))
            print(pcall(function() case[2] = {} end))
            print(getmetatable(case))
            print(pcall(setmetatable, case, {}))
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "userdata\tcase");
    for line in &lines[1..4] {
        assert!(
            line.starts_with("false\t"),
            "indexing a case worked: {line}"
        );
    }
    assert_eq!(lines[4], "locked", "the metatable of a case must be hidden");
    assert!(lines[5].starts_with("false\t"), "{}", lines[5]);
}

#[test]
fn runtime_metatables_are_hidden_and_their_method_tables_frozen() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local objects = {
                process.inbox(), process.events(), process.listen("t"), channel.new(),
                channel.new():case_send(1), time.parse_duration("1s"), time.now(),
                time.timer("1h"), time.ticker("1h"), time.after("1h"),
                process.with_context({a = 1}), errors.new("x"),
            }
            process.send(process.pid(), "m", 1)
            table.insert(objects, (process.inbox():receive()))
            for i, o in objects do
                local mt = getmetatable(o)
                if mt ~= "locked" then print("visible metatable", i, typeof(o)) end
                local ok = pcall(function() o.receive = print end)
                if ok then print("writable object", i, typeof(o)) end
                local ok2 = pcall(function() rawset(o, "x", 1) end)
                if ok2 then print("rawset worked", i) end
            end
            -- The method table behind a channel is out of reach, and so are its functions' state.
            local recv = process.inbox().receive
            print(type(recv), pcall(function() recv.x = 1 end))
            print("done")
        end"##,
        &[],
    );
    let stdout = out.ok();
    assert!(
        stdout.ends_with("function\tfalse\tattempt to index function with 'x'\ndone\n")
            || stdout.lines().last() == Some("done"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("visible") && !stdout.contains("writable") && !stdout.contains("worked"),
        "{stdout}"
    );
}

#[test]
fn objects_cannot_be_forged_from_tables_or_proxies() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            local fake = setmetatable({0/0}, {__type = "Duration"})
            print(time.sleep(fake))
            print(time.sleep(newproxy(true)))
            local msg = setmetatable({"topic", nil, 0}, {__index = {payload = function() return "forged" end}})
            print(pcall(process.inbox().receive, msg))
            print(pcall(process.unlisten, channel.new()))
            print(process.set_options(channel.new()))
        end"##,
        &["--workers", "1"],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("nil\t"),
        "a forged Duration was accepted: {}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("nil\t"),
        "a proxy was accepted as a duration: {}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("false\t"),
        "a forged channel was used: {}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        "true\tfalse\tunlisten: not a channel returned by process.listen"
    );
    assert!(
        lines[4].starts_with("false\t"),
        "set_options accepted a channel: {}",
        lines[4]
    );
}

#[test]
fn a_process_cannot_take_over_another_process_on_its_worker() {
    // The attack of issue 8, finding 3: a victim waits for mail; an attacker on the same worker
    // tries every way it had to reach the victim's tasks and inbox. The victim must get its
    // own message, from the real sender.
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local victim = process.spawn("app:victim", "app:processes", process.pid())
                local attacker = process.spawn("app:attacker", "app:processes", process.pid())
                process.inbox():receive() -- the attacker is done
                process.send(victim, "secret", "for the victim")
                local reply = process.inbox():receive()
                print(reply:topic(), reply:payload())
            end"##,
        ),
        (
            "victim.lua",
            r##"secret_global = "victim's"
            return function(parent)
                local msg = process.inbox():receive()
                process.send(parent, "got", msg:topic() .. "/" .. tostring(msg:payload()) .. "/" .. tostring(msg:from() == parent))
            end"##,
        ),
        (
            "attacker.lua",
            r##"return function(parent)
                local tried = 0
                local function try(f) if pcall(f) then tried += 1 end end
                local case = channel.new():case_receive()
                try(function() case[2].P.slot = 1 end)
                try(function() getmetatable(process.inbox()).__index = {} end)
                try(function() getmetatable(getmetatable(process.inbox()).__index).__index = {} end)
                try(function() process.inbox():case_receive()[2].poll = function() return true, "forged", true end end)
                try(function() rawset(_G, "process", {}) end)
                try(function() rawset(process, "send", print) end)
                try(function() collectgarbage("stop") end)
                print("attacks that did not raise:", tried)
                process.send(parent, "attacker done")
            end"##,
        ),
    ]);
    let out = app.run(&["--workers", "1"]);
    let stdout = out.ok();
    assert!(
        stdout.contains("attacks that did not raise:\t0"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("got\tsecret/for the victim/true\n"),
        "{stdout}"
    );
}

#[test]
fn collectgarbage_accepts_only_count() {
    let out = run_main(
        r##"return function()
            print(type(collectgarbage("count")))
            for _, option in {"stop", "collect", "step", "restart", "isrunning", "setpause"} do
                local ok, err = pcall(collectgarbage, option)
                print(option, ok, (string.find(tostring(err), "only \"count\"", 1, true) ~= nil))
            end
            print(pcall(collectgarbage))
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "number");
    for line in &lines[1..7] {
        assert!(line.ends_with("\tfalse\ttrue"), "{line}");
    }
    assert!(lines[7].starts_with("false\t"), "{}", lines[7]);
}

#[test]
fn rawset_cannot_assign_a_built_in_global() {
    let out = run_main(
        r##"return function()
            print(pcall(rawset, _G, "print", function() end))
            print(pcall(function() rawset(_G, "print", function() end) end))
            print(pcall(rawset, _G, "mine", 1), mine)
            local t = {}
            print(rawset(t, "print", 1) == t, t.print)
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("false\t")
            && lines[0].contains("cannot assign built-in global 'print'"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("false\t") && lines[1].contains("cannot assign built-in global"),
        "a direct call must not bypass the guard: {}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("true\t") && lines[2].ends_with("\t1"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "true\t1");
}

#[test]
fn errors_from_runtime_functions_name_the_callers_file_not_the_runtimes() {
    let out = run_main(
        r##"return function()
            process.send(process.pid(), "m", 1)
            local msg = process.inbox():receive()
            print(pcall(msg.payload, msg, 5))
            print(pcall(process.inbox().receive, process.inbox(), 100))
            print(pcall(channel.new, "x"))
            print(pcall(coroutine.resume, {}))
            print(pcall(coroutine.close, 1))
            local ok, err = pcall(function() return msg:payload() + {} end)
            print(ok, err)
        end"##,
        &[],
    );
    let stdout = out.ok();
    assert!(
        !stdout.contains("moonweave."),
        "runtime chunk names leaked:\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("false\t"),
        "extra arguments must be refused: {}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("false\t"),
        "receive(100) must raise: {}",
        lines[1]
    );
    assert_eq!(
        lines[3],
        "false\tinvalid argument #1 to 'resume' (thread expected, got table)"
    );
    assert_eq!(
        lines[4],
        "false\tinvalid argument #1 to 'close' (thread expected, got number)"
    );
    assert!(lines[5].starts_with("false\tmain.lua:"), "{}", lines[5]);
}

#[test]
fn a_task_of_the_process_cannot_be_resumed_or_closed_by_user_code() {
    let out = run_main(
        r##"return function()
            local main = coroutine.running()
            local done = channel.new(1)
            coroutine.spawn(function()
                print(pcall(coroutine.resume, main, "forged"))
                print(pcall(coroutine.close, main))
                done:send(true)
            end)
            print(done:receive())
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("false\t") && lines[0].contains("cannot resume a task"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("false\t") && lines[1].contains("cannot close a task"),
        "{stdout}"
    );
    assert_eq!(lines[2], "true\ttrue");
}

#[test]
fn a_coroutine_another_task_waits_in_cannot_be_resumed_wrapped_or_closed() {
    // Task A waits inside `co` (its receive's block is passed up); task B must not continue
    // that receive (it would take A's delivery) nor kill it (A's value would be lost).
    let out = run_main(
        r##"return function()
            local ch = channel.new()
            local co = coroutine.create(function() return ch:receive() end)
            local wrapped = coroutine.wrap(function() return ch:receive() end)
            local results = channel.new(2)
            coroutine.spawn(function() results:send({coroutine.resume(co)}) end)
            coroutine.spawn(function() results:send({pcall(wrapped)}) end)
            coroutine.spawn(function()
                print(pcall(coroutine.resume, co))
                print(pcall(coroutine.close, co))
                print(pcall(wrapped))
                ch:send("one")
                ch:send("two")
            end)
            local a, b = results:receive(), results:receive()
            print(a[1], a[2], b[1], b[2])
            print(coroutine.status(co))
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    for (line, what) in lines.iter().take(3).zip(["resume", "close", "resume"]) {
        assert!(
            line.starts_with("false\t")
                && line.contains(&format!(
                    "cannot {what} a coroutine while another task waits"
                )),
            "{stdout}"
        );
    }
    assert_eq!(lines[3], "true\tone\ttrue\ttwo", "{stdout}");
    assert_eq!(lines[4], "dead", "{stdout}");
}

#[test]
fn a_select_keeps_the_cases_it_was_given_when_another_task_edits_the_table() {
    let out = run_main(
        r##"return function()
            local first, second = channel.new(), channel.new()
            local cases = {first:case_receive(), second:case_receive()}
            coroutine.spawn(function()
                cases[1], cases[2] = cases[2], cases[1]
                cases[3] = "not a case"
                first:send("to first")
            end)
            local r = channel.select(cases)
            print(r.channel == first, r.value, r.ok)
            print(pcall(channel.select, {}))
            local many = {}
            for i = 1, 5000 do many[i] = first:case_receive() end
            print(pcall(channel.select, many))
        end"##,
        &[],
    );
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "true\tto first\ttrue", "{stdout}");
    assert!(lines[1].contains("no cases and no default"), "{stdout}");
    assert!(lines[2].contains("5000 cases, at most 4096"), "{stdout}");
}

#[test]
fn a_block_withdrawn_where_it_cannot_wait_leaves_no_coroutine_refused() {
    // `inner` blocks inside `outer`, resumed from a metamethod: the block is withdrawn with an
    // error. Nothing waits in `inner` any more, so resuming it again is the program's right.
    let out = run_main(
        r##"return function()
            local ch = channel.new()
            local inner = coroutine.create(function() return ch:receive() end)
            local outer = coroutine.create(function() return coroutine.resume(inner) end)
            local t = setmetatable({}, {__index = function() return coroutine.resume(outer) end})
            local ok, err = pcall(function() return t.x end)
            print(ok, string.find(tostring(err), "cannot block here", 1, true) ~= nil)
            coroutine.spawn(function() ch:send("v") end)
            print(coroutine.resume(inner))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "false\ttrue\ntrue\tv\ttrue\n");
}
