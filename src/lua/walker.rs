//! The process boundary, checked by walking: two processes run on one worker VM, each holding
//! one of every runtime object; everything reachable from each one's globals is enumerated
//! (table keys and values, metatables even when hidden, function upvalues and environments,
//! userdata metatables, the string metatable). The walk fails on a writable table, a thread or
//! a runtime object that both processes reach, and on a runtime object whose metatable is not
//! hidden and frozen.

use std::collections::HashMap;
use std::ffi::c_int;

use super::raw::{Kind, Stack};

/// What the walk found at one address.
#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// How the walk got there first (for messages).
    path: String,
    /// Tables: read-only.
    readonly: bool,
    /// Userdata: the runtime object tag (0 for none).
    tag: c_int,
    /// Userdata: its metatable is frozen and hidden (`__metatable` set).
    sealed: bool,
}

fn visit(stack: Stack<'_>, index: c_int, path: &str, seen: &mut HashMap<usize, Node>) {
    let index = if index < 0 {
        stack.top() + index + 1
    } else {
        index
    };
    let kind = stack.kind(index);
    if kind == Kind::String {
        if !seen.contains_key(&0) && stack.raw_metatable(index) {
            seen.insert(0, node(Kind::String, path, false, 0));
            visit(stack, -1, &format!("{path}<string metatable>"), seen);
            stack.pop(1);
        }
        return;
    }
    if !matches!(
        kind,
        Kind::Table | Kind::Function | Kind::Userdata | Kind::Thread
    ) {
        return;
    }
    let pointer = stack.pointer(index);
    if seen.contains_key(&pointer) {
        return;
    }
    let readonly = stack.is_readonly(index);
    let mut found = node(kind, path, readonly, stack.tag(index));
    if kind == Kind::Userdata && stack.raw_metatable(index) {
        stack.raw_get_field(-1, c"__metatable");
        found.sealed = stack.is_readonly(-2) && stack.kind(-1) != Kind::Nil;
        stack.pop(2);
    }
    seen.insert(pointer, found);
    match kind {
        Kind::Table => {
            stack.push_nil();
            while stack.next(index) {
                let key = match stack.bytes(-2) {
                    Some(k) => String::from_utf8_lossy(k).into_owned(),
                    None => format!("[{}]", stack.kind(-2).name()),
                };
                visit(stack, -2, &format!("{path}.<key {key}>"), seen);
                visit(stack, -1, &format!("{path}.{key}"), seen);
                stack.pop(1);
            }
        }
        Kind::Function => {
            let mut n = 1;
            while stack.push_upvalue(index, n) {
                visit(stack, -1, &format!("{path}<upvalue {n}>"), seen);
                stack.pop(1);
                n += 1;
            }
            stack.push_environment(index);
            visit(stack, -1, &format!("{path}<environment>"), seen);
            stack.pop(1);
        }
        _ => {}
    }
    if stack.raw_metatable(index) {
        visit(stack, -1, &format!("{path}<metatable>"), seen);
        stack.pop(1);
    }
}

fn node(kind: Kind, path: &str, readonly: bool, tag: c_int) -> Node {
    Node {
        kind,
        path: path.to_string(),
        readonly,
        tag,
        sealed: false,
    }
}

/// Checks the metatables reachable in `seen`: every one is frozen, and every runtime object's
/// is hidden.
fn object_metatables(seen: &HashMap<usize, Node>, problems: &mut Vec<String>) {
    for node in seen.values() {
        if node.kind == Kind::Table && node.path.ends_with("<metatable>") && !node.readonly {
            problems.push(format!("a writable metatable at {}", node.path));
        }
        if node.kind == Kind::Userdata && node.tag != 0 && !node.sealed {
            problems.push(format!(
                "the metatable of the runtime object at {} is not frozen and hidden",
                node.path
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::sched::testing::TestWorker;

    const HOLDER: &str = r#"
local time = require("time")
local json = require("json")
local logger = require("logger")
local ctx = require("ctx")
local io = require("io")
return function()
    held = {
        inbox = process.inbox(), events = process.events(), topic = process.listen("t"),
        ch = channel.new(1), case = channel.new():case_send({}), receive_case = process.inbox():case_receive(),
        duration = time.parse_duration("1s"), now = time.now(),
        timer = time.timer("1h"), ticker = time.ticker("1h"), after = time.after("1h"),
        builder = process.with_context({k = {1}}):with_message("m", {2}),
        err = errors.new{message = "m", details = {a = {}}},
        modules = {time, json, logger, ctx, io, logger:with({f = 1}), require("process"), require("channel"), require("errors")},
        running = coroutine.running(),
        wrapped = coroutine.wrap(function() end),
        created = coroutine.create(function() end),
    }
    process.send(process.pid(), "m", {1, {2}})
    held.msg = process.inbox():receive()
    held.payload = {held.msg:payload()}
    coroutine.spawn(function() process.events():receive() end)
    process.inbox():receive()
end
"#;

    fn app() -> App {
        let dir = std::env::temp_dir().join(format!(
            "moonweave-walker-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.lua"), HOLDER).unwrap();
        let app = App::load(&dir).expect("the app loads");
        let _ = std::fs::remove_dir_all(&dir);
        app
    }

    #[test]
    fn nothing_writable_or_runtime_owned_is_shared_between_two_processes() {
        let worker = TestWorker::new(app());
        for _ in 0..2 {
            worker
                .scheduler
                .spawn("app:main", crate::app::DEFAULT_HOST, Vec::new())
                .expect("spawns");
        }
        worker.run_until_idle();
        let main = worker.vm.main();
        let mut walks = Vec::new();
        for slot in 0..2 {
            let pushed = worker.core.with_proc(slot, |p| {
                let env = p.lua.env.as_ref().expect("the process started");
                main.push_ref(env);
            });
            assert!(
                pushed.is_some(),
                "process {slot} is gone: it must still wait"
            );
            let mut seen = HashMap::new();
            visit(main, -1, &format!("process{slot}._G"), &mut seen);
            main.pop(1);
            walks.push(seen);
        }
        let (a, b) = (&walks[0], &walks[1]);
        // The walk reached what each process holds.
        for wanted in [
            "held.inbox",
            "held.timer",
            "held.msg",
            "held.builder",
            "held.err",
        ] {
            assert!(
                a.values().any(|n| n.path.ends_with(wanted)),
                "the walk missed {wanted}"
            );
        }
        let mut problems = Vec::new();
        for (pointer, node) in a {
            let Some(other) = b.get(pointer) else {
                continue;
            };
            match node.kind {
                Kind::Table if !node.readonly => problems.push(format!(
                    "a writable table shared by two processes: {} and {}",
                    node.path, other.path
                )),
                Kind::Thread => problems.push(format!("a shared coroutine: {}", node.path)),
                Kind::Userdata if node.tag != 0 => problems.push(format!(
                    "a runtime object shared by two processes: {} and {}",
                    node.path, other.path
                )),
                _ => {}
            }
        }
        object_metatables(a, &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(a.len() > 100, "the walk saw too little: {}", a.len());
    }
}
