//! The embedding API (embedding.md): a Rust program starting runtimes, talking to Lua
//! processes through a `Handle`, Rust processes (`Mailbox`) on the same signal path as Lua
//! processes, values both ways, native modules, stats and shutdown.

use std::sync::Arc;
use std::time::Duration;

use moonweave::{ErrorKind, ErrorValue, Pid, Received, Runtime, Value};

/// Long enough for anything here to happen on a loaded machine; a receive that waits this
/// long means the behaviour is broken (it is a guard against hanging, not a synchronisation).
const PATIENCE: Duration = Duration::from_secs(20);

fn runtime(files: &[(&str, &str)]) -> Runtime {
    let mut builder = Runtime::builder().workers(2);
    for (name, source) in files {
        builder = builder.app_file(name, source);
    }
    builder.build().expect("the runtime starts")
}

fn next(mailbox: &mut moonweave::Mailbox) -> Received {
    mailbox.recv_timeout(PATIENCE).expect("something arrives")
}

fn message(mailbox: &mut moonweave::Mailbox) -> moonweave::Message {
    match next(mailbox) {
        Received::Message(msg) => msg,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// A Lua process that sends back every message it receives with the topic "echo"; it ends
/// when cancelled (so that shutting a test's runtime down does not wait for a deadline).
const ECHO: &str = r#"return function()
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select({inbox:case_receive(), events:case_receive()})
        if r.channel == events then return "cancelled" end
        local msg = r.value
        if msg:topic() == "stop" then return "stopped" end
        if msg:topic() == "fail" then error("asked to fail") end
        process.send(msg:from(), "echo", msg:payload())
    end
end"#;

#[test]
fn run_spawns_and_returns_the_exit_value_or_error() {
    let rt = runtime(&[
        ("add.lua", "return function(a, b) return a + b end"),
        (
            "fail.lua",
            "return function() error(errors.new({kind = errors.CONFLICT, message = 'no'})) end",
        ),
        ("nothing.lua", "return function() end"),
        (
            "lib/strings.lua",
            "return function(s) return string.upper(s) end",
        ),
    ]);
    let h = rt.handle();
    assert_eq!(h.run("app:add", (40, 2)).unwrap(), Value::from(42));
    assert_eq!(h.run("app:nothing", ()).unwrap(), Value::Nil);
    assert_eq!(
        h.run("app.lib:strings", ("shout",)).unwrap().as_str(),
        Some("SHOUT")
    );
    let err = h.run("app:fail", ()).unwrap_err();
    assert_eq!((err.kind, &*err.message), (ErrorKind::Conflict, &b"no"[..]));
    assert_eq!(
        h.run("app:ghost", ()).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        h.spawn_on("app:add", "app:nohost", ()).unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn a_rust_process_and_a_lua_process_exchange_messages_with_pids_and_names() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let echo = h.spawn("app:echo", ()).unwrap();
    me.send(&echo, "ping", "hello").unwrap();
    let reply = message(&mut me);
    assert_eq!(reply.topic(), "echo");
    assert_eq!(reply.from(), Some(&echo));
    assert_eq!(reply.payload().as_str(), Some("hello"));
    assert_eq!(reply.payloads().len(), 1);
    // A name for the Rust process: Lua finds it in the registry.
    me.register("rusty").unwrap();
    assert_eq!(h.lookup("rusty").as_ref(), Some(me.pid()));
    assert_eq!(me.register("").unwrap_err().kind, ErrorKind::Invalid);
    let other = h.mailbox().unwrap();
    assert_eq!(
        other.register("rusty").unwrap_err().kind,
        ErrorKind::AlreadyExists
    );
    // From no process: `msg:from()` is nil, and the reply cannot go anywhere.
    h.send("rusty", "direct", Value::table([("n".into(), 1.into())]))
        .unwrap();
    let direct = message(&mut me);
    assert_eq!(direct.from(), None);
    assert_eq!(
        direct.payload().get("n").and_then(Value::as_integer),
        Some(1)
    );
    assert_eq!(
        h.send("nobody", "x", ()).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(h.send(&echo, "", ()).unwrap_err().kind, ErrorKind::Invalid);
    assert_eq!(
        h.send(&echo, "@x", ()).unwrap_err().kind,
        ErrorKind::Invalid
    );
    // The name goes with the process.
    drop(me);
    assert_eq!(h.lookup("rusty"), None);
    other.register("rusty").unwrap();
}

#[test]
fn lua_monitors_a_rust_process_through_a_normal_drop_and_a_failed_exit() {
    let rt = runtime(&[(
        "watcher.lua",
        r#"return function(report, a, b)
            local events = process.events()
            assert(process.monitor(a))
            assert(process.monitor(b))
            process.send(report, "watching")
            for _ = 1, 2 do
                local ev = events:receive()
                local what = ev.result.error and ev.result.error:kind() .. " " .. ev.result.error:message()
                    or "normal " .. tostring(ev.result.value)
                process.send(report, ev.from == a and "a" or "b", what)
            end
        end"#,
    )]);
    let h = rt.handle();
    let mut report = h.mailbox().unwrap();
    let a = h.mailbox().unwrap();
    let b = h.mailbox().unwrap();
    let (a_pid, b_pid) = (a.pid().clone(), b.pid().clone());
    h.spawn(
        "app:watcher",
        (
            report.pid().to_string(),
            a_pid.to_string(),
            b_pid.to_string(),
        ),
    )
    .unwrap();
    assert_eq!(message(&mut report).topic(), "watching");
    drop(a);
    let first = message(&mut report);
    assert_eq!(
        (first.topic(), first.payload().as_str()),
        ("a", Some("normal nil"))
    );
    b.exit(Err(ErrorValue::new(ErrorKind::Conflict, "rust gave up")));
    let second = message(&mut report);
    assert_eq!(
        (second.topic(), second.payload().as_str()),
        ("b", Some("CONFLICT rust gave up"))
    );
    // Both are gone: sends to them fail.
    assert_eq!(
        h.send(&a_pid, "x", ()).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        h.send(&b_pid, "x", ()).unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn a_rust_process_monitors_and_links_a_failing_lua_process_and_is_never_killed_by_it() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let lua = h.spawn("app:echo", ()).unwrap();
    me.monitor(&lua).unwrap();
    assert_eq!(me.monitor(&lua).unwrap_err().kind, ErrorKind::AlreadyExists);
    me.link(&lua).unwrap();
    me.send(&lua, "fail", ()).unwrap();
    match next(&mut me) {
        Received::Exit { from, result } => {
            assert_eq!(from, lua);
            let error = result.unwrap_err();
            assert!(error.message.to_string_lossy().contains("asked to fail"));
        }
        other => panic!("expected EXIT first, got {other:?}"),
    }
    match next(&mut me) {
        Received::LinkDown { from, error } => {
            assert_eq!(from, lua);
            assert!(error.message.to_string_lossy().contains("asked to fail"));
        }
        other => panic!("expected LINK_DOWN, got {other:?}"),
    }
    // Still alive: it can go on.
    let echo = h.spawn("app:echo", ()).unwrap();
    me.send(&echo, "ping", 1).unwrap();
    assert_eq!(message(&mut me).payload(), &Value::from(1));
    // Monitoring a dead process is NOT_FOUND; unmonitor and unlink are idempotent.
    assert_eq!(me.monitor(&lua).unwrap_err().kind, ErrorKind::NotFound);
    me.unmonitor(&lua).unwrap();
    me.unlink(&lua).unwrap();
}

#[test]
fn unmonitor_and_unlink_drop_what_is_already_queued() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let watcher = h.mailbox().unwrap();
    let lua = h.spawn("app:echo", ()).unwrap();
    me.monitor(&lua).unwrap();
    me.link(&lua).unwrap();
    // The Lua process fails; `watcher` learns it, after which `me` has its EXIT and
    // LINK_DOWN queued: unmonitor and unlink drop them.
    let mut watcher = watcher;
    watcher.monitor(&lua).unwrap();
    h.send(&lua, "fail", ()).unwrap();
    assert!(matches!(next(&mut watcher), Received::Exit { .. }));
    me.unmonitor(&lua).unwrap();
    me.unlink(&lua).unwrap();
    h.send(me.pid(), "marker", ()).unwrap();
    assert_eq!(message(&mut me).topic(), "marker");
    assert!(me.try_recv().is_none());
}

#[test]
fn a_lua_process_linked_to_a_rust_process_that_fails_is_stopped() {
    let rt = runtime(&[(
        "linked.lua",
        r#"return function(rust)
            assert(process.link(rust))
            process.send(rust, "linked")
            process.inbox():receive()
        end"#,
    )]);
    let h = rt.handle();
    let mut rust = h.mailbox().unwrap();
    let mut observer = h.mailbox().unwrap();
    let lua = h.spawn("app:linked", (rust.pid().to_string(),)).unwrap();
    observer.monitor(&lua).unwrap();
    assert_eq!(message(&mut rust).topic(), "linked");
    rust.exit(Err(ErrorValue::new(ErrorKind::Internal, "rust failed")));
    match next(&mut observer) {
        Received::Exit { from, result } => {
            assert_eq!(from, lua);
            assert_eq!(result.unwrap_err().kind, ErrorKind::Canceled);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn eight_threads_sending_ten_thousand_messages_each_lose_nothing() {
    let rt = runtime(&[(
        "count.lua",
        r#"return function(report, expected)
            local inbox, seen, sums = process.inbox(), 0, {}
            while seen < expected do
                local msg = inbox:receive()
                local sender, n = msg:payload()[1], msg:payload()[2]
                -- per sender, the messages arrive in order
                if n ~= (sums[sender] or 0) + 1 then error(`out of order: {sender} {n}`) end
                sums[sender] = n
                seen += 1
            end
            process.send(report, "counted", seen)
        end"#,
    )]);
    let h = rt.handle();
    let mut report = h.mailbox().unwrap();
    let counter = h
        .spawn("app:count", (report.pid().to_string(), 80_000))
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let h = h.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                for n in 1..=10_000 {
                    let payload = Value::from(vec![Value::from(t), Value::from(n)]);
                    h.send(&counter, "n", payload).expect("sent");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let done = message(&mut report);
    assert_eq!(done.payload(), &Value::from(80_000));
    assert!(h.stats().messages >= 80_001);
}

/// A minimal executor: polls a future on this thread, parking until its waker is called.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn recv_async_works_under_a_hand_rolled_executor() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let echo = h.spawn("app:echo", ()).unwrap();
    for i in 0..100 {
        me.send(&echo, "ping", i).unwrap();
        match block_on(me.recv_async()) {
            Some(Received::Message(msg)) => assert_eq!(msg.payload(), &Value::from(i)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn recv_async_works_in_a_tokio_task() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let total = tokio.block_on(async move {
        let mut me = h.mailbox().unwrap();
        let echo = h.spawn("app:echo", ()).unwrap();
        let task = tokio::spawn(async move {
            let mut total = 0;
            for i in 1..=50 {
                me.send(&echo, "ping", i).unwrap();
                if let Some(Received::Message(msg)) = me.recv_async().await {
                    total += msg.payload().as_integer().unwrap();
                }
            }
            total
        });
        task.await.unwrap()
    });
    assert_eq!(total, (1..=50).sum::<i64>());
}

#[test]
fn shutdown_cancels_processes_and_every_later_call_is_unavailable() {
    let rt = runtime(&[(
        "stubborn.lua",
        r#"return function(report)
            process.send(report, "up")
            process.events():receive()
            process.send(report, "cancelled")
        end"#,
    )]);
    let h = rt.handle();
    let mut report = h.mailbox().unwrap();
    h.spawn("app:stubborn", (report.pid().to_string(),))
        .unwrap();
    assert_eq!(message(&mut report).topic(), "up");
    // The Rust process sees the runtime's CANCEL and the Lua process's last message, does
    // not exit, and is ended by the deadline: then its receive returns None.
    let waiting = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Some(received) = report.recv_timeout(PATIENCE) {
            seen.push(match received {
                Received::Cancel { from, .. } => format!("CANCEL from {from}"),
                Received::Message(msg) => msg.topic().to_string(),
                other => format!("{other:?}"),
            });
        }
        seen
    });
    rt.shutdown_timeout(Duration::from_millis(300));
    let mut seen = waiting.join().unwrap();
    seen.sort();
    assert_eq!(seen, ["CANCEL from {runtime|0x00000}", "cancelled"]);
    assert_eq!(
        h.spawn("app:stubborn", ()).unwrap_err().kind,
        ErrorKind::Unavailable
    );
    assert_eq!(
        h.send("x", "y", ()).unwrap_err().kind,
        ErrorKind::Unavailable
    );
    assert_eq!(h.mailbox().unwrap_err().kind, ErrorKind::Unavailable);
    assert_eq!(
        h.run("app:stubborn", ()).unwrap_err().kind,
        ErrorKind::Unavailable
    );
    assert_eq!(h.lookup("anything"), None);
    assert_eq!(h.stats().live, 0);
}

#[test]
fn dropping_the_runtime_shuts_it_down_and_a_handle_outlives_it() {
    let h = runtime(&[("echo.lua", ECHO)]).handle();
    assert_eq!(
        h.spawn("app:echo", ()).unwrap_err().kind,
        ErrorKind::Unavailable
    );
}

#[test]
fn terminate_and_cancel_stop_lua_and_rust_processes() {
    let rt = runtime(&[
        ("echo.lua", ECHO),
        (
            "deaf.lua",
            "return function() process.inbox():receive() end",
        ),
    ]);
    let h = rt.handle();
    let mut watcher = h.mailbox().unwrap();
    let lua = h.spawn("app:echo", ()).unwrap();
    let mut rust = h.mailbox().unwrap();
    let rust_pid = rust.pid().clone();
    watcher.monitor(&lua).unwrap();
    watcher.monitor(&rust_pid).unwrap();
    assert!(h.terminate(&lua).unwrap());
    assert_eq!(h.terminate(&lua).unwrap_err().kind, ErrorKind::NotFound);
    assert!(h.terminate(&rust_pid).unwrap());
    assert!(
        rust.recv_timeout(PATIENCE).is_none(),
        "a terminated Rust process receives nothing"
    );
    let mut ended = vec![];
    for _ in 0..2 {
        match next(&mut watcher) {
            Received::Exit { from, result } => ended.push((from, result.unwrap_err().kind)),
            other => panic!("{other:?}"),
        }
    }
    ended.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(ended.contains(&(lua.clone(), ErrorKind::Canceled)));
    assert!(ended.contains(&(rust_pid.clone(), ErrorKind::Canceled)));
    // cancel: a Lua process that does not look at its events is stopped by the deadline.
    let lua = h.spawn("app:deaf", ()).unwrap();
    watcher.monitor(&lua).unwrap();
    h.cancel(&lua, Duration::from_millis(50)).unwrap();
    match next(&mut watcher) {
        Received::Exit { result, .. } => {
            let error = result.unwrap_err();
            assert_eq!(error.kind, ErrorKind::Canceled);
            assert!(error.message.to_string_lossy().contains("deadline"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.cancel(&lua, Duration::from_millis(1)).unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn a_cancelled_rust_process_sees_cancel_and_ends_at_its_deadline() {
    let rt = runtime(&[]);
    let h = rt.handle();
    let mut rust = h.mailbox().unwrap();
    h.cancel(rust.pid(), Duration::from_millis(30)).unwrap();
    match rust.recv_timeout(PATIENCE) {
        Some(Received::Cancel { from, deadline }) => {
            assert_eq!(from.to_string(), "{runtime|0x00000}");
            assert!(deadline > std::time::SystemTime::now() - Duration::from_secs(60));
        }
        other => panic!("{other:?}"),
    }
    // Waiting past the deadline ends the process.
    assert!(rust.recv_timeout(PATIENCE).is_none());
    assert_eq!(
        h.send(rust.pid(), "x", ()).unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn run_from_a_worker_thread_refuses_instead_of_deadlocking() {
    let handle_slot: Arc<std::sync::OnceLock<moonweave::Handle>> = Arc::default();
    let slot = handle_slot.clone();
    let rt = Runtime::builder()
        .workers(1)
        .module("nested", move |lua| {
            let slot = slot.clone();
            let t = lua.create_table()?;
            t.set(
                "run",
                lua.create_function(move |_, ()| {
                    let handle = slot.get().expect("set before any process runs");
                    Ok(match handle.run("app:main", ()) {
                        Ok(_) => "ran".to_string(),
                        Err(e) => e.kind.to_string(),
                    })
                })?,
            )?;
            Ok(t)
        })
        .app_file("main.lua", "return function() return 1 end")
        .app_file(
            "try.lua",
            "return function() return require('nested').run() end",
        )
        .build()
        .unwrap();
    let _ = handle_slot.set(rt.handle());
    assert_eq!(
        rt.handle().run("app:try", ()).unwrap().as_str(),
        Some("INVALID")
    );
}

#[test]
fn native_modules_are_frozen_tables_whose_errors_are_lua_errors_and_panics_end_only_the_caller() {
    let rt = Runtime::builder()
        .workers(2)
        .module("kv", |lua| {
            let t = lua.create_table()?;
            t.set(
                "double",
                lua.create_function(|_, n: f64| Ok(n * 2.0))?,
            )?;
            t.set(
                "fail",
                lua.create_function(|_, ()| -> mlua::Result<()> {
                    Err(mlua::Error::RuntimeError("kv is down".into()))
                })?,
            )?;
            t.set(
                "panic",
                lua.create_function(|_, ()| -> mlua::Result<()> { panic!("kv exploded") })?,
            )?;
            t.set(
                "whoami",
                lua.create_function(|lua, ()| {
                    Ok(moonweave::current_pid(lua).map(|p| p.to_string()))
                })?,
            )?;
            Ok(t)
        })
        .app_file(
            "main.lua",
            r#"return function()
                local kv = require("kv")
                local frozen = not pcall(function() kv.double = nil end)
                local ok, err = pcall(kv.fail)
                return `{kv.double(21)} {frozen} {ok} {string.find(tostring(err), "kv is down", 1, true) ~= nil} {kv.whoami() == process.pid()}`
            end"#,
        )
        .app_file("boom.lua", "return function() require('kv').panic() end")
        .build()
        .unwrap();
    let h = rt.handle();
    assert_eq!(
        h.run("app:main", ()).unwrap().as_str(),
        Some("42 true false true true")
    );
    let panicked = h.run("app:boom", ()).unwrap_err();
    assert_eq!(panicked.kind, ErrorKind::Internal, "{panicked:?}");
    // The runtime goes on.
    assert_eq!(
        h.run("app:main", ()).unwrap().as_str(),
        Some("42 true false true true")
    );
    assert_eq!(moonweave::current_pid(&mlua::Lua::new()), None);
}

#[test]
fn build_refuses_bad_apps_bad_modules_and_mixed_sources() {
    let syntax = Runtime::builder()
        .app_file("main.lua", "return function(")
        .build()
        .unwrap_err();
    assert_eq!(syntax.kind, ErrorKind::Invalid);
    assert!(
        syntax.message.to_string_lossy().starts_with("main.lua:"),
        "{syntax:?}"
    );
    let mixed = Runtime::builder()
        .app_path("examples/hello")
        .app_file("main.lua", "return function() end")
        .build()
        .unwrap_err();
    assert_eq!(mixed.kind, ErrorKind::Invalid);
    let standard = Runtime::builder()
        .module("time", |lua| lua.create_table())
        .build()
        .unwrap_err();
    assert_eq!(standard.kind, ErrorKind::Invalid);
    let failing = Runtime::builder()
        .workers(1)
        .module("broken", |_| Err(mlua::Error::RuntimeError("no".into())))
        .build()
        .unwrap_err();
    assert_eq!(failing.kind, ErrorKind::Invalid, "{failing:?}");
    let bad_name = Runtime::builder()
        .app_file("../escape.lua", "return function() end")
        .build()
        .unwrap_err();
    assert_eq!(bad_name.kind, ErrorKind::Invalid);
    let missing = Runtime::builder()
        .app_path("no/such/app")
        .build()
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Invalid);
    // No app at all: only Rust processes.
    let empty = Runtime::builder().workers(1).build().unwrap();
    let mut a = empty.handle().mailbox().unwrap();
    let b = empty.handle().mailbox().unwrap();
    b.send(a.pid(), "hi", ()).unwrap();
    assert_eq!(message(&mut a).from(), Some(b.pid()));
}

#[test]
fn pids_round_trip_through_text_and_values_through_lua() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let text = me.pid().to_string();
    assert_eq!(text.parse::<Pid>().unwrap(), *me.pid());
    assert!(text.starts_with("{app:processes|0x"));
    assert_eq!(
        "nonsense".parse::<Pid>().unwrap_err().kind,
        ErrorKind::Invalid
    );
    let echo = h.spawn("app:echo", ()).unwrap();
    let values = vec![
        Value::Nil,
        Value::from(true),
        Value::from(-3),
        Value::from(2.5),
        Value::from("text"),
        Value::from(vec![0xffu8, 0x00]),
        Value::from(vec![Value::from(1), Value::from("two")]),
        Value::table([
            ("nested".into(), Value::table([("deep".into(), 1.into())])),
            (Value::from(7), Value::from(false)),
        ]),
        Value::from(ErrorValue::new(ErrorKind::Timeout, "slow")),
        Value::try_from(1i64 << 53).unwrap(),
    ];
    for value in values {
        me.send(&echo, "v", value.clone()).unwrap();
        let back = message(&mut me);
        match (&value, back.payload()) {
            (Value::Error(a), Value::Error(b)) => {
                assert_eq!((a.kind, &a.message), (b.kind, &b.message))
            }
            (a, b) => assert_eq!(a, b),
        }
    }
    let bad = Value::Table(vec![(Value::Nil, Value::from(1))]);
    assert_eq!(
        h.send(&echo, "v", bad).unwrap_err().kind,
        ErrorKind::Invalid
    );
    assert!(Value::try_from(i64::MAX).is_err());
}

#[test]
fn stats_count_processes_messages_and_workers() {
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let echo = h.spawn("app:echo", ()).unwrap();
    for i in 0..10 {
        me.send(&echo, "ping", i).unwrap();
        message(&mut me);
    }
    h.send(&echo, "stop", ()).unwrap();
    me.monitor(&echo).ok();
    let stats = h.stats();
    assert!(stats.spawned >= 2, "{stats:?}");
    assert!(stats.messages >= 20, "{stats:?}");
    assert_eq!(stats.workers.len(), 2);
    assert!(
        stats.workers.iter().map(|w| w.runs).sum::<u64>() >= 10,
        "{stats:?}"
    );
    assert!(stats.workers.iter().all(|w| w.host == "app:processes"));
    assert!(stats.live >= 1);
    assert!(stats.to_string().contains("messages:"));
}

#[cfg(feature = "serde")]
#[test]
fn serde_types_round_trip_through_a_lua_process() {
    use std::collections::BTreeMap;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Status {
        Open,
        Held { by: String },
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Order {
        id: u64,
        items: Vec<String>,
        note: Option<String>,
        prices: BTreeMap<String, f64>,
        status: Status,
        held: Status,
        empty: Vec<u8>,
        pair: (i32, bool),
    }
    let order = Order {
        id: 9_007_199_254_740_992,
        items: vec!["tea".into(), "cake".into()],
        note: None,
        prices: BTreeMap::from([("tea".into(), 2.5)]),
        status: Status::Open,
        held: Status::Held { by: "ada".into() },
        empty: vec![],
        pair: (-1, true),
    };
    let rt = runtime(&[("echo.lua", ECHO)]);
    let h = rt.handle();
    let mut me = h.mailbox().unwrap();
    let echo = h.spawn("app:echo", ()).unwrap();
    me.send(&echo, "order", moonweave::to_value(&order).unwrap())
        .unwrap();
    let back = message(&mut me);
    assert_eq!(
        moonweave::from_value::<Order>(back.payload()).unwrap(),
        order
    );
    // What does not fit is INVALID.
    assert_eq!(
        moonweave::to_value(&u64::MAX).unwrap_err().kind,
        ErrorKind::Invalid
    );
    assert_eq!(
        moonweave::from_value::<Order>(&Value::from("no"))
            .unwrap_err()
            .kind,
        ErrorKind::Invalid
    );
}

#[test]
fn a_rust_process_hears_of_a_link_the_lua_side_made() {
    let rt = runtime(&[(
        "linker.lua",
        r#"return function(rust)
            assert(process.link(rust))
            process.send(rust, "linked")
            error("linker failed")
        end"#,
    )]);
    let h = rt.handle();
    let mut rust = h.mailbox().unwrap();
    let lua = h.spawn("app:linker", (rust.pid().to_string(),)).unwrap();
    assert_eq!(message(&mut rust).topic(), "linked");
    match next(&mut rust) {
        Received::LinkDown { from, error } => {
            assert_eq!(from, lua);
            assert!(error.message.to_string_lossy().contains("linker failed"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rust_process_that_ignores_its_cancel_is_ended_at_the_deadline_without_receiving() {
    let rt = runtime(&[]);
    let h = rt.handle();
    let mut watcher = h.mailbox().unwrap();
    let busy = h.mailbox().unwrap(); // its owner never receives
    watcher.monitor(busy.pid()).unwrap();
    h.cancel(busy.pid(), Duration::from_millis(20)).unwrap();
    match next(&mut watcher) {
        Received::Exit { from, result } => {
            assert_eq!(&from, busy.pid());
            let error = result.unwrap_err();
            assert_eq!(error.kind, ErrorKind::Canceled);
            assert!(error.message.to_string_lossy().contains("deadline"));
        }
        other => panic!("{other:?}"),
    }
    drop(busy);
    // Out-of-range durations are clamped, not a panic; a zero deadline is INVALID.
    let other = h.mailbox().unwrap();
    h.cancel(other.pid(), Duration::MAX).unwrap();
    assert_eq!(
        h.cancel(other.pid(), Duration::ZERO).unwrap_err().kind,
        ErrorKind::Invalid
    );
    h.send(watcher.pid(), "queued", ()).unwrap();
    assert!(matches!(
        watcher.recv_timeout(Duration::MAX),
        Some(Received::Message(_))
    ));
}

#[test]
fn messages_still_flow_during_the_graceful_shutdown() {
    let rt = runtime(&[(
        "flusher.lua",
        r#"return function(store, report)
            process.send(report, "up")
            process.events():receive() -- the shutdown's CANCEL
            process.send(store, "flush")
            local reply = process.inbox():receive()
            process.send(report, "flushed", reply:payload())
        end"#,
    )]);
    let h = rt.handle();
    let mut store = h.mailbox().unwrap();
    let mut report = h.mailbox().unwrap();
    h.spawn(
        "app:flusher",
        (store.pid().to_string(), report.pid().to_string()),
    )
    .unwrap();
    assert_eq!(message(&mut report).topic(), "up");
    let serving = std::thread::spawn(move || {
        while let Some(received) = store.recv_timeout(PATIENCE) {
            if let Received::Message(msg) = received
                && msg.topic() == "flush"
            {
                store.send(msg.from().unwrap(), "done", "ok").unwrap();
            }
        }
    });
    let reporting = std::thread::spawn(move || {
        let mut topics = Vec::new();
        while let Some(received) = report.recv_timeout(PATIENCE) {
            if let Received::Message(msg) = received {
                topics.push(format!("{} {:?}", msg.topic(), msg.payload().as_str()));
            }
        }
        topics
    });
    rt.shutdown_timeout(Duration::from_millis(500));
    serving.join().unwrap();
    assert_eq!(reporting.join().unwrap(), ["flushed Some(\"ok\")"]);
}

#[test]
fn pid_text_is_canonical_and_big_tables_build_in_linear_time() {
    let long: Pid = "{app:processes|0x000001f}".parse().unwrap();
    let short: Pid = "{app:processes|0x0001f}".parse().unwrap();
    assert_eq!(long, short);
    assert_eq!(long.to_string(), short.to_string());
    let n = 200_000;
    let array = Value::from((0..n).map(Value::from).collect::<Vec<_>>());
    assert_eq!(
        array.index(n as usize).and_then(Value::as_integer),
        Some(i64::from(n - 1))
    );
    let map = Value::table((0..n).map(|i| (Value::from(format!("k{i}")), Value::from(i))));
    assert_eq!(map.get("k7").and_then(Value::as_integer), Some(7));
    let dup = Value::table([("k".into(), 1.into()), ("k".into(), 2.into())]);
    assert_eq!(dup.get("k"), Some(&Value::from(2)));
}

#[test]
fn a_native_module_may_not_hide_a_file_of_the_app() {
    let clash = Runtime::builder()
        .module("util", |lua| lua.create_table())
        .app_file("main.lua", "return function() end")
        .app_file("util.lua", "return {}")
        .build()
        .unwrap_err();
    assert_eq!(clash.kind, ErrorKind::Invalid);
    assert!(
        clash.message.to_string_lossy().contains("util"),
        "{clash:?}"
    );
}

#[cfg(feature = "serde")]
#[test]
fn serde_keeps_non_finite_numbers_and_number_keys() {
    use std::collections::BTreeMap;
    let v = moonweave::to_value(&vec![1.0, f64::NAN, f64::INFINITY]).unwrap();
    assert!(v.index(2).and_then(Value::as_f64).is_some_and(f64::is_nan));
    assert_eq!(v.index(3).and_then(Value::as_f64), Some(f64::INFINITY));
    let m: BTreeMap<i32, String> = [(1, "one".to_string()), (-5, "minus".to_string())].into();
    let v = moonweave::to_value(&m).unwrap();
    assert_eq!(v.index(1).and_then(Value::as_str), Some("one"));
    assert_eq!(
        moonweave::from_value::<BTreeMap<i32, String>>(&v).unwrap(),
        m
    );
    let b: BTreeMap<bool, i32> = [(true, 3)].into();
    assert_eq!(
        moonweave::to_value(&b).unwrap_err().kind,
        ErrorKind::Invalid
    );
}

#[cfg(feature = "serde")]
#[test]
fn serde_refuses_integers_a_lua_number_cannot_hold() {
    assert!(moonweave::to_value(&(1u64 << 53)).is_ok());
    assert_eq!(
        moonweave::to_value(&((1u64 << 53) + 1)).unwrap_err().kind,
        ErrorKind::Invalid
    );
}
