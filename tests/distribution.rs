//! Distribution (docs/src/distribution.md): moonweave nodes and real Erlang/OTP nodes on
//! loopback, started by each test with its own names and a shared cookie.
//!
//! These tests need `erl` and `epmd` (Debian's `erlang-base`, which `.ci/run` installs); where
//! they are missing each test prints a SKIP line and passes.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, app, moonweave};

const COOKIE: &str = "moonweave-test-cookie";
/// How long a node may take to print what a test waits for before the test fails: a bound
/// on a hang, not a measure of speed.
const PATIENCE: Duration = Duration::from_secs(60);

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether Erlang/OTP is here; prints the skip line when it is not.
fn erlang_here(test: &str) -> bool {
    let here = on_path("erl") && on_path("epmd");
    if !here {
        eprintln!("SKIP {test}: needs Erlang/OTP (erl and epmd; apt-get install erlang-base)");
    }
    here
}

/// A node name unique to this test run.
fn node_name(tag: &str) -> String {
    format!("{tag}{}@127.0.0.1", std::process::id())
}

/// A running node (Erlang or moonweave) whose output lines the test reads.
struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    fn start(mut command: Command) -> Node {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the node starts");
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let collected = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Node {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// An Erlang node `name` running `eval` (Erlang expressions, as `erl -eval`).
    fn erlang(name: &str, eval: &str, ticktime: Option<u32>) -> Node {
        let mut command = Command::new("erl");
        command.args(["-name", name, "-setcookie", COOKIE, "-noshell", "-hidden"]);
        if let Some(seconds) = ticktime {
            command.args(["-kernel", "net_ticktime", &seconds.to_string()]);
        }
        command.args(["-eval", eval]);
        Node::start(command)
    }

    /// `moonweave run --name name <app>` with `extra` options.
    fn moonweave(name: &str, app: &TestApp, extra: &[&str]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_moonweave"));
        command.args(["run", "--name", name, "--cookie", COOKIE]);
        command.args(extra);
        command.arg(&app.dir);
        Node::start(command)
    }

    /// The next line containing `needle` (earlier lines are kept for the failure message).
    fn expect(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?}\nstdout:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Sends the signal `name` (`KILL`, `STOP`, `CONT`) to the node's OS process.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the node to exit; its exit code and everything it wrote to stderr.
    fn wait_with_stderr(mut self) -> (i32, String) {
        let reader = self.stderr_reader.take();
        let stderr = self.stderr.clone();
        let code = self.wait();
        if let Some(reader) = reader {
            let _ = reader.join(); // the pipe ends with the process
        }
        let text = stderr.lock().unwrap().clone();
        (code, text)
    }

    /// Waits for the node to exit; its exit code.
    fn wait(mut self) -> i32 {
        let (send, done) = mpsc::channel();
        let mut child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("true runs"),
        );
        std::thread::spawn(move || {
            let _ = send.send(child.wait().map(|s| s.code().unwrap_or(-1)));
        });
        match done.recv_timeout(PATIENCE) {
            Ok(Ok(code)) => code,
            _ => panic!(
                "the node did not exit\nstdout:\n{}\nstderr:\n{}",
                self.seen.join("\n"),
                self.stderr.lock().unwrap()
            ),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Lua module for the watching tests (`require("watch").watch`): monitors and links `pid`
/// (trapping links), calls `trigger`, then prints its two events, one line each:
/// `<kind> <from is pid> <error kind> <error message>`.
const WATCH_LUA: &str = r#"local M = {}
function M.watch(pid, trigger)
    process.set_options({trap_links = true})
    assert(process.monitor(pid))
    assert(process.link(pid))
    trigger()
    local events = process.events()
    for _ = 1, 2 do
        local ev = events:receive()
        print(ev.kind, ev.from == pid, ev.result.error:kind(), ev.result.error:message())
    end
end
return M
"#;

/// Reads the two lines `watch.lua` prints: EXIT, then LINK_DOWN, both from the watched
/// process, with the error `kind` and `message`.
fn expect_watch_events(node: &mut Node, kind: &str, message: &str) {
    for event in ["pid.exit", "pid.link.down"] {
        assert_eq!(
            node.expect(event),
            format!("{event}\ttrue\t{kind}\t{message}")
        );
    }
}

/// An Erlang node that serves `echo` (`{ping, From, X}` → `{pong, X, self()}`) and `maker`
/// (`{victim, From}` → `{victim, P}` for a new process P that exits with `boom` on `{go}`),
/// and prints `ready`.
fn erlang_peer(name: &str, ticktime: Option<u32>) -> Node {
    let eval = "
        register(echo, spawn(fun Loop() ->
            receive {ping, From, X} -> From ! {pong, X, self()}, Loop() end end)),
        register(maker, spawn(fun Loop() ->
            receive {victim, From} ->
                P = spawn(fun() -> receive {go} -> exit(boom) end end),
                From ! {victim, P},
                Loop()
            end end)),
        io:format(\"ready~n\").";
    let mut node = Node::erlang(name, eval, ticktime);
    node.expect("ready");
    node
}

#[test]
fn a_lua_process_sends_to_an_erlang_name_and_gets_the_answer() {
    if !erlang_here("a_lua_process_sends_to_an_erlang_name_and_gets_the_answer") {
        return;
    }
    let beam = node_name("beamecho");
    let _erlang = erlang_peer(&beam, None);
    let source = format!(
        r#"return function()
            process.send("echo@{beam}", "ping", process.pid(), {{n = 42, list = {{1, 2, 3}}, s = "bytes\0here", f = 1.5, yes = true}})
            local msg = process.inbox():receive()
            local x, from = msg:payload()
            print(msg:topic(), x.n, x.list[3], x.s == "bytes\0here", x.f, x.yes, from == msg:from(), from)
            return 0
        end"#
    );
    let app = app(&[("main.lua", &source)]);
    let mut node = Node::moonweave(&node_name("mwecho"), &app, &[]);
    let line = node.expect("pong");
    assert!(
        line.starts_with(&format!("pong\t42\t3\ttrue\t1.5\ttrue\ttrue\t{{{beam}|<0.")),
        "{line}"
    );
    assert_eq!(node.wait(), 0);
}

#[test]
fn an_erlang_node_sends_to_a_lua_name_and_calls_it_like_a_gen_server() {
    if !erlang_here("an_erlang_node_sends_to_a_lua_name_and_calls_it_like_a_gen_server") {
        return;
    }
    let mw = node_name("mwcalc");
    let app = app(&[(
        "main.lua",
        r#"return function()
            process.registry.register("calc")
            print("ready")
            while true do
                local msg = process.inbox():receive()
                if msg:topic() == "$gen_call" then
                    local from, request = msg:payload()
                    assert(request["$tuple"] and request[1] == "add")
                    -- gen_server's reply: {Tag, Reply} to the caller.
                    process.send(from[1], "$term", {from[2], request[2] + request[3], ["$tuple"] = true})
                elseif msg:topic() == "hello" then
                    process.send(msg:from(), "ack", "got " .. msg:payload())
                    return 0
                end
            end
        end"#,
    )]);
    let mut lua = Node::moonweave(&mw, &app, &[]);
    lua.expect("ready");
    let eval = format!(
        "N = '{mw}',
         R = gen_server:call({{calc, N}}, {{add, 20, 22}}, 30000),
         io:format(\"reply ~p~n\", [R]),
         {{calc, N}} ! {{hello, <<\"from erlang\">>}},
         receive {{ack, T}} -> io:format(\"ack ~s~n\", [T]) end,
         init:stop()."
    );
    let mut erlang = Node::erlang(&node_name("beamcall"), &eval, None);
    assert_eq!(erlang.expect("reply"), "reply 42");
    assert_eq!(erlang.expect("ack"), "ack got from erlang");
    assert_eq!(lua.wait(), 0);
}

#[test]
fn a_lua_process_linked_to_an_erlang_process_hears_its_exit_reason() {
    if !erlang_here("a_lua_process_linked_to_an_erlang_process_hears_its_exit_reason") {
        return;
    }
    let beam = node_name("beamlink");
    let _erlang = erlang_peer(&beam, None);
    let source = format!(
        r#"local watch = require("watch").watch
        return function()
            process.send("maker@{beam}", "victim", process.pid())
            local victim = process.inbox():receive():payload()
            watch(victim, function() process.send(victim, "go") end)
            return 0
        end"#
    );
    let app = app(&[("main.lua", &source), ("watch.lua", WATCH_LUA)]);
    let mut node = Node::moonweave(&node_name("mwlink"), &app, &[]);
    expect_watch_events(&mut node, "UNKNOWN", "boom");
    assert_eq!(node.wait(), 0);
}

#[test]
fn an_erlang_monitor_and_link_of_a_lua_process_get_the_lua_error() {
    if !erlang_here("an_erlang_monitor_and_link_of_a_lua_process_get_the_lua_error") {
        return;
    }
    let mw = node_name("mwdown");
    let app = app(&[
        (
            "main.lua",
            r#"return function()
                local victim = assert(process.spawn_monitored("app:victim", "app:processes"))
                assert(process.registry.register("victim", victim))
                print("ready")
                process.events():receive()
                return 0
            end"#,
        ),
        (
            "victim.lua",
            r#"return function()
                local hello = process.inbox():receive()
                process.send(hello:payload(), "me", process.pid())
                process.inbox():receive()
                error(errors.new({kind = errors.INVALID, message = "lua says no"}))
            end"#,
        ),
    ]);
    let mut lua = Node::moonweave(&mw, &app, &["--log-level", "error"]);
    lua.expect("ready");
    // Erlang monitors the Lua process by name and links it by PID, trapping exits.
    let eval = format!(
        "N = '{mw}',
         process_flag(trap_exit, true),
         Ref = erlang:monitor(process, {{victim, N}}),
         {{victim, N}} ! {{hello, self()}},
         Pid = receive {{me, P}} -> P end,
         link(Pid),
         {{victim, N}} ! {{go}},
         receive {{'DOWN', Ref, process, _, Reason}} -> io:format(\"down ~p~n\", [Reason]) end,
         receive {{'EXIT', Pid, Why}} -> io:format(\"exit ~p~n\", [Why]) end,
         init:stop()."
    );
    let mut erlang = Node::erlang(&node_name("beamdown"), &eval, None);
    assert_eq!(
        erlang.expect("down"),
        "down {moonweave_error,'INVALID',<<\"lua says no\">>}"
    );
    assert_eq!(
        erlang.expect("exit"),
        "exit {moonweave_error,'INVALID',<<\"lua says no\">>}"
    );
    assert_eq!(lua.wait(), 0);
}

/// A Lua process that monitors and links (trapping) a process of `beam`, prints `watching`,
/// then prints its two events.
fn watcher_of(beam: &str) -> TestApp {
    let source = format!(
        r#"local watch = require("watch").watch
        return function()
            process.send("maker@{beam}", "victim", process.pid())
            local victim = process.inbox():receive():payload()
            watch(victim, function() print("watching") end)
            return 0
        end"#
    );
    app(&[("main.lua", &source), ("watch.lua", WATCH_LUA)])
}

#[test]
fn a_killed_node_turns_links_and_monitors_into_noconnection() {
    if !erlang_here("a_killed_node_turns_links_and_monitors_into_noconnection") {
        return;
    }
    let beam = node_name("beamkill");
    let erlang = erlang_peer(&beam, None);
    let app = watcher_of(&beam);
    let mut node = Node::moonweave(&node_name("mwkill"), &app, &[]);
    node.expect("watching");
    erlang.signal("KILL");
    expect_watch_events(&mut node, "UNAVAILABLE", "noconnection");
    assert_eq!(node.wait(), 0);
}

#[test]
fn a_stopped_node_is_found_down_by_its_missing_ticks() {
    if !erlang_here("a_stopped_node_is_found_down_by_its_missing_ticks") {
        return;
    }
    let beam = node_name("beamstop");
    let erlang = erlang_peer(&beam, Some(2));
    let app = watcher_of(&beam);
    let mut node = Node::moonweave(&node_name("mwstop"), &app, &["--net-ticktime", "2"]);
    node.expect("watching");
    // The connection stays open but the peer says nothing: only the ticks can tell.
    erlang.signal("STOP");
    expect_watch_events(&mut node, "UNAVAILABLE", "noconnection");
    assert_eq!(node.wait(), 0);
    erlang.signal("CONT");
}

#[test]
fn two_moonweave_nodes_send_by_name_and_watch_each_other() {
    if !erlang_here("two_moonweave_nodes_send_by_name_and_watch_each_other") {
        return;
    }
    let server = node_name("mwserver");
    let server_app = app(&[(
        "main.lua",
        r#"return function()
            process.registry.register("calc")
            print("ready")
            while true do
                local msg = process.inbox():receive()
                if msg:topic() == "add" then
                    local a, b = msg:payload()
                    process.send(msg:from(), "sum", a + b, {nested = {"x", "y"}})
                elseif msg:topic() == "fail" then
                    error(errors.new({kind = errors.CONFLICT, message = "asked to fail"}))
                end
            end
        end"#,
    )]);
    let mut serving = Node::moonweave(&server, &server_app, &["--log-level", "error"]);
    serving.expect("ready");
    let client_source = format!(
        r#"local watch = require("watch").watch
        return function()
            process.send("calc@{server}", "add", 20, 22)
            local msg = process.inbox():receive()
            local sum, t = msg:payload()
            print(msg:topic(), sum, t.nested[2], msg:from():find("{{{server}|<0.", 1, true) == 1)
            local calc = msg:from()
            watch(calc, function() process.send(calc, "fail") end)
            return 0
        end"#
    );
    let client_app = app(&[("main.lua", &client_source), ("watch.lua", WATCH_LUA)]);
    let mut client = Node::moonweave(&node_name("mwclient"), &client_app, &[]);
    assert_eq!(client.expect("sum"), "sum\t42\ty\ttrue");
    expect_watch_events(&mut client, "CONFLICT", "asked to fail");
    assert_eq!(client.wait(), 0);
}

#[test]
fn node_options_are_checked_before_anything_starts() {
    let app = app(&[("main.lua", "return function() return 0 end")]);
    let dir = app.dir.to_str().unwrap();
    let no_name = moonweave(&["run", "--cookie", "c", dir]);
    assert_eq!(no_name.code, 2, "{no_name:?}");
    assert!(
        no_name.stderr.contains("need --name or --sname"),
        "{no_name:?}"
    );
    let both = moonweave(&["run", "--name", "a@h", "--sname", "b", dir]);
    assert_eq!(both.code, 2, "{both:?}");
    for bad in ["@127.0.0.1", "a b@127.0.0.1", "a@b@c"] {
        let out = moonweave(&["run", "--name", bad, "--cookie", "c", dir]);
        assert_eq!(out.code, 1, "{bad}: {out:?}");
        assert!(out.stderr.contains("must be name@host"), "{bad}: {out:?}");
    }
}

#[test]
fn hostile_terms_cost_one_message_not_the_node() {
    if !erlang_here("hostile_terms_cost_one_message_not_the_node") {
        return;
    }
    let mw = node_name("mwhostile");
    let app = app(&[(
        "main.lua",
        r#"return function()
            process.registry.register("sink")
            print("ready")
            local inbox, counted = process.inbox(), 0
            while true do
                local msg = inbox:receive()
                local topic = msg:topic()
                if topic == "big" then
                    local value = msg:payload()
                    print("big", typeof(value), value:kind())
                elseif topic == "count" then
                    counted = counted + 1
                elseif topic == "done" then
                    print("counted", counted)
                    return 0
                else
                    print("unexpected", topic)
                end
            end
        end"#,
    )]);
    let mut lua = Node::moonweave(&mw, &app, &[]);
    lua.expect("ready");
    // A term nested 200,000 levels deep (dropped), an integer beyond 2^53 (an INVALID value),
    // then 8 processes sending 1,000 messages each at once, then one `done` after them all.
    let eval = format!(
        "N = '{mw}',
         Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 200000)),
         {{sink, N}} ! {{deep, Deep}},
         {{sink, N}} ! {{big, 1 bsl 70}},
         Me = self(),
         Senders = [spawn(fun() -> [{{sink, N}} ! {{count, I}} || I <- lists:seq(1, 1000)], Me ! sent end)
                    || _ <- lists:seq(1, 8)],
         [receive sent -> ok end || _ <- Senders],
         {{sink, N}} ! {{done}},
         io:format(\"all sent~n\")."
    );
    let mut erlang = Node::erlang(&node_name("beamhostile"), &eval, None);
    erlang.expect("all sent");
    assert_eq!(lua.expect("big"), "big\terror\tINVALID");
    assert_eq!(lua.expect("counted"), "counted\t8000");
    assert_eq!(lua.wait(), 0);
}

#[test]
fn a_killed_moonweave_node_turns_links_and_monitors_into_noconnection() {
    if !erlang_here("a_killed_moonweave_node_turns_links_and_monitors_into_noconnection") {
        return;
    }
    let holder = node_name("mwholder");
    let holder_app = app(&[(
        "main.lua",
        r#"return function()
            process.registry.register("maker")
            print("ready")
            while true do
                local msg = process.inbox():receive()
                process.send(msg:payload(), "victim", process.pid())
            end
        end"#,
    )]);
    let mut holding = Node::moonweave(&holder, &holder_app, &[]);
    holding.expect("ready");
    let app = watcher_of(&holder);
    let mut node = Node::moonweave(&node_name("mwwatcher"), &app, &[]);
    node.expect("watching");
    holding.signal("KILL");
    expect_watch_events(&mut node, "UNAVAILABLE", "noconnection");
    assert_eq!(node.wait(), 0);
}

#[test]
fn the_builder_checks_node_options() {
    use moonweave::{ErrorKind, Runtime};
    let kind = |builder: moonweave::RuntimeBuilder| builder.build().err().map(|e| e.kind);
    assert_eq!(
        kind(Runtime::builder().cookie("c")),
        Some(ErrorKind::Invalid)
    );
    assert_eq!(
        kind(Runtime::builder().net_ticktime(Duration::from_secs(5))),
        Some(ErrorKind::Invalid)
    );
    assert_eq!(
        kind(Runtime::builder().node("a b@127.0.0.1").cookie("c")),
        Some(ErrorKind::Invalid)
    );
    assert_eq!(
        kind(
            Runtime::builder()
                .node("ok@127.0.0.1")
                .cookie("c")
                .net_ticktime(Duration::from_millis(10))
        ),
        Some(ErrorKind::Invalid)
    );
}

#[test]
fn a_rust_process_of_an_embedded_node_talks_to_erlang() {
    if !erlang_here("a_rust_process_of_an_embedded_node_talks_to_erlang") {
        return;
    }
    use moonweave::{Received, Runtime, Value};
    let beam = node_name("beamembed");
    let _erlang = erlang_peer(&beam, None);
    let runtime = Runtime::builder()
        .node(&node_name("mwembed"))
        .cookie(COOKIE)
        .build()
        .expect("the node starts");
    let handle = runtime.handle();
    let mut me = handle.mailbox().unwrap();
    let echo = format!("echo@{beam}");
    let payload = Value::Table(vec![(Value::string("k"), Value::from(7))]);
    // One payload value from Rust: the whole term {ping, Me, Payload} through the topic $term.
    let ping = Value::Table(vec![(Value::string("$atom"), Value::string("ping"))]);
    let term = Value::Table(vec![
        (Value::from(1), ping),
        (Value::from(2), Value::string(me.pid().as_str())),
        (Value::from(3), payload),
        (Value::string("$tuple"), Value::Boolean(true)),
    ]);
    me.send(echo.as_str(), "$term", term).unwrap();
    let Some(Received::Message(reply)) = me.recv_timeout(PATIENCE) else {
        panic!("no answer from the Erlang node");
    };
    assert_eq!(reply.topic(), "pong");
    let from = reply.from().expect("a sender").clone();
    assert!(
        from.as_str().starts_with(&format!("{{{beam}|<0.")),
        "{from}"
    );
    let Value::Table(pairs) = &reply.payloads()[0] else {
        panic!("{:?}", reply.payloads());
    };
    assert_eq!(pairs, &vec![(Value::string("k"), Value::from(7))]);
    // Monitoring the Erlang echo by PID, then unmonitoring: no EXIT arrives for it later.
    me.monitor(&from).unwrap();
    me.unmonitor(&from).unwrap();
    drop(me);
    runtime.shutdown();
}

#[test]
fn term_bytes_written_in_lua_are_checked_before_they_are_decoded() {
    if !erlang_here("term_bytes_written_in_lua_are_checked_before_they_are_decoded") {
        return;
    }
    // The destination's node need not exist: a value is converted before anything is sent.
    let app = app(&[(
        "main.lua",
        r#"return function()
            local dest = "sink@nowhere@127.0.0.1"
            local bad = {
                "\131" .. ("l\0\0\0\1"):rep(200000) .. ("j"):rep(200001), -- deep
                "\131D\0",                                               -- unknown tag
                "\131h\1R\0",                                            -- atom cache ref
                "\131l\255\255\255\255j",                                -- a lying length
                "not a term",
            }
            for _, bytes in ipairs(bad) do
                local ok, err = process.send(dest, "$term", {["$term"] = bytes})
                print("refused", ok, err:kind())
            end
            print("fine", process.send(dest, "$term", {["$term"] = "\131j"}))
            return 0
        end"#,
    )]);
    let mut node = Node::moonweave(&node_name("mwtermbytes"), &app, &["--log-level", "error"]);
    for _ in 0..5 {
        assert_eq!(node.expect("refused"), "refused\tnil\tINVALID");
    }
    assert_eq!(node.expect("fine"), "fine\ttrue");
    assert_eq!(node.wait(), 0);
}

#[test]
fn names_from_other_nodes_are_looked_up_here_only() {
    if !erlang_here("names_from_other_nodes_are_looked_up_here_only") {
        return;
    }
    let mw = node_name("mwrelay");
    let app = app(&[(
        "main.lua",
        r#"return function()
            process.registry.register("sink")
            print("ready")
            while true do
                local msg = process.inbox():receive()
                print("got", msg:topic())
                if msg:topic() == "done" then return 0 end
            end
        end"#,
    )]);
    let mut lua = Node::moonweave(&mw, &app, &[]);
    lua.expect("ready");
    // `sink@<mw>` names a process on the moonweave node in Lua; from Erlang it is just a name
    // that is not registered there, and must not be relayed.
    let eval = format!(
        "N = '{mw}',
         {{list_to_atom(\"sink@\" ++ atom_to_list(N)), N}} ! {{relayed}},
         {{sink, N}} ! {{done}},
         io:format(\"sent~n\")."
    );
    let mut erlang = Node::erlang(&node_name("beamrelay"), &eval, None);
    erlang.expect("sent");
    assert_eq!(lua.expect("got"), "got\tdone");
    assert_eq!(lua.wait(), 0);
}

#[test]
fn two_nodes_dialling_each_other_at_once_both_deliver() {
    if !erlang_here("two_nodes_dialling_each_other_at_once_both_deliver") {
        return;
    }
    let (a, b) = (node_name("mwcrossa"), node_name("mwcrossb"));
    let source = |other: &str| {
        format!(
            r#"return function()
                process.registry.register("peer")
                print("ready")
                -- "go" says both nodes are up; the other's hellos may come before it.
                local got, started = 0, false
                while not started or got < 3 do
                    local topic = process.inbox():receive():topic()
                    if topic == "go" then
                        started = true
                        for i = 1, 3 do process.send("peer@{other}", "hello", i) end
                    elseif topic == "hello" then
                        got = got + 1
                    end
                end
                print("got", got)
                return 0
            end"#
        )
    };
    let (app_a, app_b) = (
        app(&[("main.lua", &source(&b))]),
        app(&[("main.lua", &source(&a))]),
    );
    let mut node_a = Node::moonweave(&a, &app_a, &[]);
    let mut node_b = Node::moonweave(&b, &app_b, &[]);
    node_a.expect("ready");
    node_b.expect("ready");
    // One Erlang process tells both to start as close together as it can.
    let eval = format!("{{peer, '{a}'}} ! {{go}}, {{peer, '{b}'}} ! {{go}}, init:stop().");
    let _erlang = Node::erlang(&node_name("beamcross"), &eval, None);
    assert_eq!(node_a.expect("got"), "got\t3");
    assert_eq!(node_b.expect("got"), "got\t3");
    assert_eq!(node_a.wait(), 0);
    assert_eq!(node_b.wait(), 0);
}

#[test]
fn a_node_that_reads_nothing_makes_sends_to_it_unavailable_not_memory_grow() {
    if !erlang_here("a_node_that_reads_nothing_makes_sends_to_it_unavailable_not_memory_grow") {
        return;
    }
    let beam = node_name("beamslow");
    let erlang = erlang_peer(&beam, None);
    let mw = node_name("mwslow");
    let source = format!(
        r#"return function()
            process.registry.register("main")
            local dest = "echo@{beam}"
            process.send(dest, "ping", process.pid(), 0)
            process.inbox():receive() -- connected
            print("connected")
            process.inbox():receive() -- "go": the peer is stopped now
            local chunk = ("x"):rep(4096)
            for i = 1, 100000 do
                local ok, err = process.send(dest, "data", chunk)
                if not ok then
                    print("refused", err:kind(), i > 1000)
                    return 0
                end
            end
            print("never refused")
            return 1
        end"#
    );
    let app = app(&[("main.lua", &source)]);
    let mut node = Node::moonweave(&mw, &app, &[]);
    node.expect("connected");
    erlang.signal("STOP");
    // The stopped node reads nothing from now on; another node says go.
    let eval = format!("{{main, '{mw}'}} ! {{go}}, init:stop().");
    let _go = Node::erlang(&node_name("beamgo"), &eval, None);
    assert_eq!(node.expect("refused"), "refused\tUNAVAILABLE\ttrue");
    assert_eq!(node.wait(), 0);
    erlang.signal("CONT");
}

#[test]
fn exit_signals_from_erlang_cancel_or_terminate_a_lua_process() {
    if !erlang_here("exit_signals_from_erlang_cancel_or_terminate_a_lua_process") {
        return;
    }
    let mw = node_name("mwexit2");
    let app = app(&[(
        "main.lua",
        r#"return function()
            process.registry.register("target")
            print("ready")
            local hello = process.inbox():receive()
            process.send(hello:from(), "me", process.pid())
            local events = process.events()
            local ev = events:receive() -- exit(P, normal) is ignored: the first event is CANCEL
            print("event", ev.kind, ev.from == hello:from())
            process.send(hello:from(), "cancelled")
            process.inbox():receive() -- waits until killed
        end"#,
    )]);
    let mut lua = Node::moonweave(&mw, &app, &["--log-level", "error"]);
    lua.expect("ready");
    let eval = format!(
        "N = '{mw}',
         {{target, N}} ! {{hello}},
         Pid = receive {{me, P}} -> P end,
         Ref = erlang:monitor(process, Pid),
         exit(Pid, normal),
         exit(Pid, shutdown),
         receive {{cancelled}} -> ok end,
         exit(Pid, kill),
         receive {{'DOWN', Ref, process, _, Reason}} -> io:format(\"down ~p~n\", [Reason]) end,
         init:stop()."
    );
    let mut erlang = Node::erlang(&node_name("beamexit2"), &eval, None);
    assert_eq!(lua.expect("event"), "event\tpid.cancel\ttrue");
    assert_eq!(
        erlang.expect("down"),
        "down {moonweave_error,'CANCELED',<<\"terminated\">>}"
    );
    assert_eq!(lua.wait(), 1);
}

#[test]
fn a_taken_name_and_a_wrong_cookie_are_reported_clearly() {
    if !erlang_here("a_taken_name_and_a_wrong_cookie_are_reported_clearly") {
        return;
    }
    let beam = node_name("beamcookie");
    let _erlang = erlang_peer(&beam, None);
    // The Erlang node's name is registered with epmd: a second node cannot take it.
    let app = app(&[(
        "main.lua",
        &format!(
            r#"return function()
                assert(process.monitor("echo@{beam}"))
                local ev = process.events():receive()
                print("event", ev.kind, ev.result.error:kind(), ev.result.error:message())
                return 0
            end"#
        ),
    )]);
    let taken = moonweave(&[
        "run",
        "--name",
        &beam,
        "--cookie",
        COOKIE,
        app.dir.to_str().unwrap(),
    ]);
    assert_eq!(taken.code, 1, "{taken:?}");
    assert!(taken.stderr.contains("is taken"), "{taken:?}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_moonweave"));
    command.args([
        "run",
        "--name",
        &node_name("mwcookie"),
        "--cookie",
        "not-the-cookie",
    ]);
    command.arg(&app.dir);
    let mut node = Node::start(command);
    assert_eq!(
        node.expect("event"),
        "event\tpid.exit\tUNAVAILABLE\tnoconnection"
    );
    let (code, stderr) = node.wait_with_stderr();
    assert_eq!(code, 0);
    assert!(stderr.contains("is the cookie the same?"), "{stderr}");
}
