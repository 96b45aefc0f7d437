//! The first part of the `process` global: identity, spawn, send, the inbox, Message objects,
//! and the deep copy of values between processes.

mod common;

use common::{app, run_main};

#[test]
fn pid_has_the_spec_format_and_is_stable() {
    let out = run_main(
        r##"return function()
            local pid = process.pid()
            assert(pid == process.pid())
            assert(string.match(pid, "^{app:processes|0x[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]+}$"), pid)
            print(process.id())
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "app:main\n");
}

#[test]
fn spawn_passes_arguments_and_children_get_unique_pids() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local seen = {}
                for i = 1, 50 do
                    local pid = assert(process.spawn("app:child", "app:processes", process.pid(), i, {k = "v"}))
                    assert(not seen[pid], "pid reused")
                    seen[pid] = true
                end
                local sum = 0
                for _ = 1, 50 do
                    local msg = process.inbox():receive()
                    local i, t, from = msg:payload()
                    assert(seen[msg:from()] and from == msg:from())
                    assert(t == "v")
                    sum += i
                end
                print(sum)
            end"##,
        ),
        (
            "child.lua",
            "return function(parent, i, t) process.send(parent, 'done', i, t.k, process.pid()) end",
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "1275\n");
}

#[test]
fn an_entry_table_runs_its_main_function() {
    let app = app(&[
        (
            "main.lua",
            r##"local M = {}
            function M.main() process.spawn("app:tabled", "app:processes", process.pid()); print(process.inbox():receive():topic()) end
            return M"##,
        ),
        (
            "tabled.lua",
            "return {main = function(parent) process.send(parent, 'from-main') end}",
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "from-main\n");
}

#[test]
fn a_child_without_its_method_fails_with_invalid_after_spawn_returned() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pid, err = process.spawn("app:nomethod", "app:processes")
                assert(pid and err == nil)
                local pid2 = process.spawn("app:badreturn", "app:processes")
                assert(pid2)
                -- wait until both are gone (monitors come later): sends then fail
                for _, p in {pid, pid2} do
                    while process.send(p, "ping") do coroutine.yield() end
                end
                return 0
            end"##,
        ),
        ("nomethod.lua", "return {other = function() end}"),
        ("badreturn.lua", "return 42"),
    ]);
    let out = app.run(&[]);
    assert_eq!(out.code, 0);
    assert!(
        out.stderr
            .contains("app:nomethod: process failed: [INVALID] entry has no function 'main'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("app:badreturn: process failed: [INVALID] entry must return a function or a table, not number"),
        "{}",
        out.stderr
    );
}

#[test]
fn spawn_rejects_bad_arguments_with_the_right_kind() {
    let out = run_main(
        r##"return function()
            local function kind(f, ...) local pid, err = f(...) assert(pid == nil) return err:kind() .. ":" .. err:message() end
            print(kind(process.spawn, nil, "app:processes"))
            print(kind(process.spawn, "main", "app:processes"))
            print(kind(process.spawn, "app:main", "a:b:c"))
            print(kind(process.spawn, "app:missing", "app:processes"))
            print(kind(process.spawn, "app:main", "app:nohost"))
            print(kind(process.spawn, "app:processes", "app:processes"))
            print(kind(process.spawn, "app:main", "app:main"))
            print(kind(process.spawn, "app:main", "app:processes", function() end))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "INVALID:spawn: id must be an entry id 'namespace:name'\n\
         INVALID:spawn: id must be an entry id 'namespace:name'\n\
         INVALID:spawn: host must be an entry id 'namespace:name'\n\
         NOT_FOUND:no entry 'app:missing'\n\
         NOT_FOUND:no host 'app:nohost'\n\
         INVALID:'app:processes' is a process.host, not a process.lua entry\n\
         INVALID:'app:main' is a process.lua, not a process.host entry\n\
         INVALID:cannot copy a value of type function\n"
    );
}

#[test]
fn send_validates_destination_topic_and_payload() {
    let out = run_main(
        r##"return function()
            local me = process.pid()
            local function kind(...) local ok, err = process.send(...) assert(ok == nil) return err:kind() end
            local deep = {} local t = deep for _ = 1, 128 do t.x = {} t = t.x end
            local cyc = {} cyc.a = {b = cyc}
            print(kind(nil, "t"), kind("", "t"), kind(42, "t"))
            print(kind(me, nil), kind(me, ""), kind(me, "@inbox"), kind(me, 5))
            print(kind(me, "t", function() end), kind(me, "t", coroutine.create(print)), kind(me, "t", cyc), kind(me, "t", deep))
            print(kind(me, "t", process.inbox()), kind(me, "t", {[{}] = 1}), kind(me, "t", buffer.create(1)))
            print(kind("{bad", "t"), kind("{app:processes|0x1}", "t"), kind("{nohost:x|0x00001}", "t"))
            print(kind("{app:processes|0xfffff}", "t"), kind("some-name", "t"), kind("{runtime|0x00000}", "t"))
            -- nothing was sent by the failed calls
            assert(process.send(me, "ok", 1))
            print(process.inbox():receive():topic())
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "INVALID\tINVALID\tINVALID\n\
         INVALID\tINVALID\tINVALID\tINVALID\n\
         INVALID\tINVALID\tINVALID\tINVALID\n\
         INVALID\tINVALID\tINVALID\n\
         INVALID\tINVALID\tNOT_FOUND\n\
         NOT_FOUND\tNOT_FOUND\tNOT_FOUND\n\
         ok\n"
    );
}

/// Luau's 64-bit integers (`integer.create`) are not among the values a message carries: a
/// send, a spawn argument or a table holding one is refused, not copied as `nil`.
#[test]
fn integers_are_refused_not_copied_as_nil() {
    let out = run_main(
        r##"return function()
            local me, v = process.pid(), integer.create(1)
            local ok, err = process.send(me, "t", v)
            print(ok, err:kind(), err:message())
            print(select(2, process.send(me, "t", {n = v})):kind())
            print(select(2, process.send(me, "t", 1, v)):kind())
            print(select(2, process.spawn("app:main", "app:processes", v)):kind())
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "nil\tINVALID\tcannot copy a value of type integer\nINVALID\nINVALID\nINVALID\n"
    );
}

#[test]
fn nesting_of_exactly_128_levels_is_copied() {
    let out = run_main(
        r##"return function()
            local root = {} local t = root for _ = 2, 128 do t.x = {} t = t.x end
            assert(process.send(process.pid(), "deep", root))
            local got = process.inbox():receive():payload()
            local depth = 0 while got do depth += 1 got = got.x end
            print(depth)
        end"##,
        &[],
    );
    assert_eq!(out.ok(), "128\n");
}

#[test]
fn sending_to_an_exited_process_is_not_found() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local pid = process.spawn("app:quick", "app:processes", process.pid())
                assert(process.inbox():receive():topic() == "bye")
                -- the child returns right after sending; wait until it is gone
                while true do
                    local ok, err = process.send(pid, "hello")
                    if not ok then print(err:kind()) break end
                    coroutine.yield()
                end
            end"##,
        ),
        (
            "quick.lua",
            "return function(parent) process.send(parent, 'bye') end",
        ),
    ]);
    assert_eq!(app.run(&[]).ok(), "NOT_FOUND\n");
}

#[test]
fn message_objects_have_topic_from_and_payload() {
    let out = run_main(
        r##"return function()
            local me = process.pid()
            process.send(me, "hello", "a", nil, {n = 1}, true)
            process.send(me, "empty")
            local inbox = process.inbox()
            assert(inbox == process.inbox(), "inbox() returns the same channel")
            local msg, ok = inbox:receive()
            assert(ok == true)
            print(msg:topic(), msg:from() == me, tostring(msg), (pcall(function() msg.x = 1 end)))
            local a, b, c, d = msg:payload()
            print(a, b, c.n, d, select("#", msg:payload()))
            assert(select(3, msg:payload()) == c, "payload() returns the same tables")
            local empty = inbox:receive()
            print(empty:topic(), select("#", empty:payload()))
            local ok2, err = process.send(me, "fwd", msg)
            print(ok2, err:kind())
            local _, nested = process.send(me, "fwd", {inner = {msg}})
            print(nested:message())
            print(pcall(inbox.send, inbox, 1))
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "hello\ttrue\tMessage(hello)\tfalse\n\
         a\tnil\t1\ttrue\t4\n\
         empty\t0\n\
         nil\tINVALID\n\
         cannot copy a value of type Message\n\
         false\tcannot send on a receive-only channel\n"
    );
}

#[test]
fn copies_keep_keys_values_and_error_objects_and_never_share() {
    let out = run_main(
        r##"return function()
            local shared = {1, 2}
            local e = errors.new{message = "m", kind = errors.CONFLICT, retryable = true, details = {why = "x"}}
            local sent = {a = shared, b = shared, [1] = "one", [2.5] = "half", [true] = "yes", err = e, s = "\0bin"}
            assert(process.send(process.pid(), "v", sent))
            shared[1] = 99
            local got = process.inbox():receive():payload()
            print(got.a[1], got.b[1], got.a ~= got.b, got[1], got[2.5], got[true], #got.s)
            print(got.err:kind(), got.err:message(), got.err:retryable(), got.err:details().why, got.err ~= e)
        end"##,
        &[],
    );
    assert_eq!(
        out.ok(),
        "1\t1\ttrue\tone\thalf\tyes\t4\nCONFLICT\tm\ttrue\tx\ttrue\n"
    );
}

#[test]
fn messages_from_one_sender_arrive_in_send_order() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                local me = process.pid()
                for s = 1, 4 do process.spawn("app:sender", "app:processes", me, s, 2000) end
                local last, count = {0, 0, 0, 0}, 0
                local inbox = process.inbox()
                while count < 8000 do
                    local s, i = inbox:receive():payload()
                    assert(i == last[s] + 1, `sender {s}: got {i} after {last[s]}`)
                    last[s] = i
                    count += 1
                end
                print(count)
            end"##,
        ),
        (
            "sender.lua",
            "return function(to, s, n) for i = 1, n do assert(process.send(to, 'n', s, i)) end end",
        ),
    ]);
    for workers in ["1", "2"] {
        assert_eq!(app.run(&["--workers", workers]).ok(), "8000\n");
    }
}

#[test]
fn print_writes_whole_lines_from_concurrent_processes() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                for i = 1, 8 do process.spawn("app:printer", "app:processes", process.pid(), i) end
                for _ = 1, 8 do process.inbox():receive() end
            end"##,
        ),
        (
            "printer.lua",
            r##"return function(parent, i)
                local word = string.rep(tostring(i), 200)
                for _ = 1, 200 do print(word, word, {}) end
                process.send(parent, "done")
            end"##,
        ),
    ]);
    let out = app.run(&["--workers", "2"]);
    let stdout = out.ok();
    assert_eq!(stdout.lines().count(), 1600);
    for line in stdout.lines() {
        let mut parts = line.split('\t');
        let (a, b, t) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        assert!(
            a.len() == 200 && a == b && t.starts_with("table: "),
            "torn line: {line:.80}"
        );
        assert!(
            a.bytes().all(|c| c == a.as_bytes()[0]),
            "mixed line: {line:.80}"
        );
    }
}

#[test]
fn ten_thousand_processes_fan_in_to_one() {
    let app = app(&[
        (
            "main.lua",
            r##"return function()
                for i = 1, 10000 do assert(process.spawn("app:w", "app:processes", process.pid(), i)) end
                local sum = 0
                for _ = 1, 10000 do sum += process.inbox():receive():payload() end
                return sum == 50005000 and 0 or 1
            end"##,
        ),
        ("w.lua", "return function(p, i) process.send(p, 'i', i) end"),
    ]);
    assert_eq!(app.run(&[]).code, 0);
}

#[test]
fn a_full_mailbox_refuses_messages_with_unavailable() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://main.lua}\n  - {name: processes, kind: process.host, host: {mailbox_limit: 3}}\n",
        ),
        (
            "main.lua",
            r##"return function()
                local me = process.pid()
                for i = 1, 3 do assert(process.send(me, "m", i)) end
                local ok, err = process.send(me, "m", 4)
                print(ok, err:kind())
                print(process.inbox():receive():payload())
                print(process.send(me, "m", 5))
                local _, full = process.send(me, "m", 6)
                print(full:kind())
            end"##,
        ),
    ]);
    assert_eq!(
        app.run(&[]).ok(),
        "nil\tUNAVAILABLE\n1\ntrue\nUNAVAILABLE\n"
    );
}
