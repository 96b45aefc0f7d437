//! Loads `bootstrap.luau`, the Lua half of a worker VM.

/// Source of the bootstrap chunk.
pub const SOURCE: &str = include_str!("bootstrap.luau");
