//! moonweave inside a tokio program: a tokio task owns a Rust process and awaits its messages
//! with `recv_async` (no thread blocked), while Lua processes compute and report to it.
//!
//! `cargo run --example embed_tokio`

use moonweave::{Received, Runtime};

const SQUARE: &str = r#"
return function(collector, n)
    process.send(collector, "square", n * n)
end
"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), moonweave::ErrorValue> {
    let runtime = Runtime::builder()
        .workers(2)
        .app_file("square.lua", SQUARE)
        .build()?;
    let handle = runtime.handle();
    let mut collector = handle.mailbox()?;
    for n in 1..=10 {
        handle.spawn("app:square", (collector.pid().to_string(), n))?;
    }
    let total = tokio::spawn(async move {
        let mut total = 0.0;
        for _ in 0..10 {
            match collector.recv_async().await {
                Some(Received::Message(msg)) => total += msg.payload().as_f64().unwrap_or(0.0),
                _ => break,
            }
        }
        total
    })
    .await
    .expect("the task ends");
    println!("sum of squares 1..10 = {total}");
    // Shutdown blocks: off the async threads.
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await
        .expect("shut down");
    Ok(())
}
