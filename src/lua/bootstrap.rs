//! The Lua half of a worker VM, loaded in this order with the Rust primitives (`rt`) and a
//! shared table of parts (`M`).

/// Names and sources of the chunks.
pub const SOURCES: [(&str, &str); 3] = [
    ("tasks", include_str!("tasks.luau")),
    ("bootstrap", include_str!("bootstrap.luau")),
    ("time", include_str!("time.luau")),
];
