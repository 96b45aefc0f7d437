//! A Rust program that embeds moonweave: it starts a runtime from in-memory Lua, runs a
//! key-value store as a Rust process (a `Mailbox`), spawns Lua workers that put and get
//! keys through it, waits for them, and shuts down cleanly.
//!
//! `cargo run --example embed_kv`

use std::collections::HashMap;

use moonweave::{Received, Runtime, Value};

/// A worker: stores `n` keys, reads them back, returns their sum.
const WORKER: &str = r#"
return function(id, n)
    local kv, inbox = "kv", process.inbox()
    local function ask(op, key, value)
        process.send(kv, op, { key = key, value = value })
        return inbox:receive():payload()
    end
    for i = 1, n do
        ask("put", `w{id}:{i}`, i * id)
    end
    local sum = 0
    for i = 1, n do
        sum += ask("get", `w{id}:{i}`)
    end
    return sum
end
"#;

fn main() -> Result<(), moonweave::ErrorValue> {
    let runtime = Runtime::builder()
        .workers(2)
        .app_file("worker.lua", WORKER)
        .build()?;
    let handle = runtime.handle();

    // The store: a process whose code is this Rust thread, registered as "kv".
    let mut store = handle.mailbox()?;
    store.register("kv")?;
    let server = std::thread::spawn(move || {
        let mut data: HashMap<String, Value> = HashMap::new();
        while let Some(received) = store.recv() {
            let msg = match received {
                Received::Message(msg) => msg,
                // The runtime shuts down: stop serving (dropping `store` ends the process).
                Received::Cancel { .. } => break,
                _ => continue,
            };
            let key = msg
                .payload()
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("");
            let reply = match msg.topic() {
                "put" => {
                    let value = msg.payload().get("value").cloned().unwrap_or(Value::Nil);
                    data.insert(key.to_string(), value);
                    Value::from(true)
                }
                "get" => data.get(key).cloned().unwrap_or(Value::Nil),
                _ => Value::Nil,
            };
            if let Some(from) = msg.from() {
                let _ = store.send(from, "reply", reply);
            }
        }
        data.len()
    });

    // Four workers at once, each waited for on its own thread.
    let workers: Vec<_> = (1..=4)
        .map(|id| {
            let handle = handle.clone();
            std::thread::spawn(move || handle.run("app:worker", (id, 100)))
        })
        .collect();
    for (i, worker) in workers.into_iter().enumerate() {
        let sum = worker.join().expect("the thread ends")?;
        println!(
            "worker {} summed {}",
            i + 1,
            sum.as_f64().unwrap_or(f64::NAN)
        );
    }

    let stats = handle.stats();
    println!(
        "{} messages, {} processes spawned",
        stats.messages, stats.spawned
    );
    // Shutting down cancels the store's process: it stops serving and the thread ends.
    runtime.shutdown();
    println!(
        "the store held {} keys",
        server.join().expect("the store ends")
    );
    Ok(())
}
