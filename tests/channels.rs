//! The `channel` global (stdlib.md §5): rendezvous, buffers, close, select, process channels
//! in select, and the errors of each call.

mod common;

use common::{app, run_main};

#[test]
fn rendezvous_send_waits_for_its_receiver() {
    let out = run_main(
        r##"return function()
            local ch, log = channel.new(), {}
            coroutine.spawn(function()
                table.insert(log, "receiver starts")
                local v, ok = ch:receive()
                table.insert(log, `received {v} {ok}`)
            end)
            table.insert(log, "sending")
            local sent = ch:send("x")
            table.insert(log, `send returned {sent}`)
            coroutine.yield()
            print(table.concat(log, ", "))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "sending, receiver starts, received x true, send returned true\n"
    );
}

#[test]
fn buffered_channels_are_fifo_and_block_when_full() {
    let out = run_main(
        r##"return function()
            local ch, log = channel.new(2), {}
            coroutine.spawn(function()
                for i = 1, 4 do ch:send(i); table.insert(log, "sent " .. i) end
            end)
            coroutine.yield()
            table.insert(log, "main wakes")
            for _ = 1, 4 do table.insert(log, "got " .. ch:receive()) end
            print(table.concat(log, ", "))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "sent 1, sent 2, main wakes, got 1, got 2, got 3, sent 3, sent 4, got 4\n"
    );
}

#[test]
fn close_wakes_receivers_and_buffered_values_still_drain() {
    let out = run_main(
        r##"return function()
            local ch = channel.new(3)
            ch:send("a"); ch:send(nil); ch:send("c")
            ch:close()
            ch:close() -- closing again does nothing
            local got = {}
            for _ = 1, 5 do
                local v, ok = ch:receive()
                table.insert(got, tostring(v) .. "/" .. tostring(ok))
            end
            print(table.concat(got, " "))
            local waiting = channel.new()
            local woke = {}
            for i = 1, 2 do
                coroutine.spawn(function() table.insert(woke, {waiting:receive()}) end)
            end
            coroutine.yield()
            waiting:close()
            coroutine.yield()
            print(#woke, woke[1][1], woke[1][2], woke[2][2])
            print(pcall(ch.send, ch, 1))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "a/true nil/true c/true nil/false nil/false\n2\tnil\tfalse\tfalse\nfalse\tsend on closed channel\n"
    );
}

#[test]
fn a_blocked_sender_fails_when_the_channel_closes() {
    let out = run_main(
        r##"return function()
            local ch = channel.new()
            local result
            coroutine.spawn(function() result = {pcall(ch.send, ch, 1)} end)
            coroutine.yield()
            ch:close()
            coroutine.yield()
            print(result[1], result[2])
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "false\tsend on closed channel\n");
}

#[test]
fn waiting_tasks_are_served_first_come_first_served() {
    let out = run_main(
        r##"return function()
            local ch, order = channel.new(), {}
            for i = 1, 3 do
                coroutine.spawn(function() ch:receive(); table.insert(order, i) end)
            end
            coroutine.yield()
            for _ = 1, 3 do ch:send(true) end
            coroutine.yield()
            local senders = channel.new()
            for i = 1, 3 do coroutine.spawn(function() senders:send(i) end) end
            coroutine.yield()
            for _ = 1, 3 do table.insert(order, (senders:receive())) end
            print(table.concat(order, " "))
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "1 2 3 1 2 3\n");
}

#[test]
fn select_takes_the_first_ready_case_in_array_order() {
    let out = run_main(
        r##"return function()
            local a, b = channel.new(1), channel.new(1)
            a:send("from a"); b:send("from b")
            local r = channel.select{b:case_receive(), a:case_receive()}
            print(r.channel == b, r.value, r.ok, r.default)
            local r2 = channel.select{a:case_receive(), b:case_send("again")}
            print(r2.channel == a, r2.value)
            local r3 = channel.select{b:case_send("x"), a:case_receive(), default = true}
            print(r3.channel == b, r3.value, r3.ok)
            local r4 = channel.select{a:case_receive(), default = true}
            print(r4.channel, r4.default, r4.value)
            a:close()
            local r5 = channel.select{a:case_receive()}
            print(r5.channel == a, r5.value, r5.ok)
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "true\tfrom b\ttrue\tnil\ntrue\tfrom a\ntrue\tx\ttrue\nnil\ttrue\tnil\ntrue\tnil\tfalse\n"
    );
}

#[test]
fn select_wakes_on_a_send_from_another_task() {
    let out = run_main(
        r##"return function()
            local a, b, c = channel.new(), channel.new(), channel.new()
            coroutine.spawn(function() b:send(42) end)
            coroutine.spawn(function() print("c got", c:receive()) end)
            local r = channel.select{a:case_receive(), b:case_receive()}
            print(r.channel == b, r.value)
            local r2 = channel.select{a:case_receive(), c:case_send("hello")}
            print(r2.channel == c, r2.value)
            coroutine.yield()
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "true\t42\ntrue\thello\nc got\thello\ttrue\n");
}

#[test]
fn process_channels_work_in_select() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
            local local_ch = channel.new()
            local me = process.pid()
            assert(process.spawn_monitored("app:child", "app:processes", me))
            local seen = {}
            while #seen < 2 do
                local r = channel.select{local_ch:case_receive(), process.inbox():case_receive(),
                                         process.events():case_receive()}
                if r.channel == process.inbox() then
                    table.insert(seen, "message " .. r.value:topic())
                elseif r.channel == process.events() then
                    table.insert(seen, "event " .. r.value.kind)
                end
            end
            print(table.concat(seen, ", "))
            local r = channel.select{process.inbox():case_receive(), default = true}
            print(r.default)
        end"##,
        ),
        (
            "child.lua",
            r##"return function(parent) process.send(parent, "hi", 7) end"##,
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "message hi, event pid.exit\ntrue\n");
}

#[test]
fn receive_only_channels_refuse_send_and_close() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            for _, ch in {process.inbox(), process.events(), process.listen("t"), time.after(10)} do
                local a = pcall(ch.send, ch, 1)
                local b = pcall(ch.close, ch)
                local c = pcall(ch.case_send, ch, 1)
                print(a, b, c)
            end
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "false\tfalse\tfalse\n".repeat(4));
}

#[test]
fn bad_arguments_raise_invalid() {
    let out = run_main(
        r##"return function()
            for _, size in {-1, 1.5, "3", true} do
                local ok, e = pcall(channel.new, size)
                print(ok, errors.is(e, errors.INVALID))
            end
            local ok, e = pcall(channel.select, {})
            print(ok, errors.is(e, errors.INVALID))
            ok, e = pcall(channel.select, {"not a case"})
            print(ok, errors.is(e, errors.INVALID))
            ok, e = pcall(channel.select, 5)
            print(ok, errors.is(e, errors.INVALID))
            local closed = channel.new(1)
            closed:close()
            print(pcall(channel.select, {closed:case_send(1)}))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "false\ttrue\n".repeat(7) + "false\tsend on closed channel\n"
    );
}

#[test]
fn channels_cannot_be_sent_to_another_process() {
    let out = run_main(
        r##"local time = require("time")
        return function()
            for _, v in {channel.new(), channel.new():case_receive(), time.now(),
                         time.parse_duration("1s"), time.timer(100), time.ticker(100)} do
                local ok, e = process.send(process.pid(), "t", v)
                print(ok, e:kind(), e:message())
            end
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "nil\tINVALID\tcannot copy a value of type channel\n\
         nil\tINVALID\tcannot copy a value of type case\n\
         nil\tINVALID\tcannot copy a value of type Time\n\
         nil\tINVALID\tcannot copy a value of type Duration\n\
         nil\tINVALID\tcannot copy a value of type Timer\n\
         nil\tINVALID\tcannot copy a value of type Ticker\n"
    );
}

#[test]
fn extra_arguments_to_receive_send_and_select_raise_invalid() {
    let out = run_main(
        r#"return function()
            local ch = channel.new(1)
            local results = {}
            for _, call in {
                function() return process.inbox():receive(100) end,
                function() return ch:receive(1) end,
                function() return ch:send(1, 2) end,
                function() return channel.select({ch:case_receive()}, true) end,
            } do
                local ok, err = pcall(call)
                table.insert(results, tostring(ok) .. " " .. (typeof(err) == "error" and err:kind() or tostring(err)))
            end
            print(table.concat(results, ", "))
        end"#,
        &[],
    );
    assert_eq!(
        out.ok(),
        "false INVALID, false INVALID, false INVALID, false INVALID\n"
    );
}
