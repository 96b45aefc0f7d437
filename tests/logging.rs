//! Log lines are `tracing` events (embedding.md §6): an embedding program sees the runtime's
//! lines (target `moonweave`) and the Lua `logger` lines (target `moonweave::lua`) through its
//! own subscriber, with the process PID and entry as fields. (Its own test binary: the
//! subscriber is global.)

use std::sync::{Arc, Mutex};

use moonweave::Runtime;

/// One event as the subscriber saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    target: String,
    level: String,
    pid: String,
    entry: String,
    message: String,
}

#[derive(Default, Clone)]
struct Collector(Arc<Mutex<Vec<Seen>>>);

struct Fields<'a>(&'a mut Seen);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "pid" => self.0.pid = value.into(),
            "entry" => self.0.entry = value.into(),
            "message" => self.0.message = value.into(),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl tracing::Subscriber for Collector {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut seen = Seen {
            target: event.metadata().target().into(),
            level: event.metadata().level().to_string(),
            ..Seen::default()
        };
        event.record(&mut Fields(&mut seen));
        self.0.lock().unwrap().push(seen);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn runtime_and_logger_lines_reach_the_embedding_programs_subscriber() {
    let collector = Collector::default();
    tracing::subscriber::set_global_default(collector.clone()).expect("the only subscriber");
    let rt = Runtime::builder()
        .workers(1)
        .app_file(
            "main.lua",
            r#"return function()
                require("logger"):warn("low on tea", {cups = 1})
                -- the crash is logged before its EXIT reaches the monitor
                local child = process.spawn_monitored("app:crash", "app:processes")
                process.events():receive()
                return child
            end"#,
        )
        .app_file(
            "crash.lua",
            "return function() error('the kettle broke') end",
        )
        .build()
        .unwrap();
    let main = rt.handle().run("app:main", ()).unwrap();
    let child: moonweave::Pid = main.as_str().unwrap().parse().unwrap();
    rt.shutdown();
    let seen = collector.0.lock().unwrap().clone();
    let lua = seen
        .iter()
        .find(|s| s.target == "moonweave::lua")
        .expect("the logger line");
    assert_eq!(lua.level, "WARN");
    assert_eq!(lua.entry, "app:main");
    assert!(lua.pid.starts_with("{app:processes|0x"), "{lua:?}");
    assert_eq!(lua.message, r#"low on tea {"cups":1}"#);
    let crash = seen
        .iter()
        .find(|s| s.target == "moonweave" && s.message.contains("the kettle broke"))
        .unwrap_or_else(|| panic!("the crash line: {seen:?}"));
    // Its monitor heard of it: DEBUG (a failure nobody hears of is an ERROR).
    assert_eq!(crash.level, "DEBUG");
    assert_eq!(crash.entry, "app:crash");
    assert_eq!(crash.pid, child.to_string());
    assert!(
        crash
            .message
            .starts_with("process failed: [UNKNOWN] crash.lua:1: the kettle broke")
    );
}
