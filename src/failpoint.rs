//! Fault injection for tests of failure handling: in debug builds, the environment variable
//! `MOONWEAVE_FAILPOINT` names one point where the runtime panics on purpose, so a test can
//! check that such a panic is contained (a process fails alone, or the runtime fails loudly).
//! Release builds compile every point to nothing.

/// Whether the failpoint `name` is armed.
#[cfg(debug_assertions)]
pub fn armed(name: &str) -> bool {
    static ARMED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var("MOONWEAVE_FAILPOINT").ok())
        .as_deref()
        == Some(name)
}

/// Whether the failpoint `name` is armed (never, in release builds).
#[cfg(not(debug_assertions))]
pub fn armed(_name: &str) -> bool {
    false
}

/// Panics when the failpoint `name` is armed.
pub fn hit(name: &str) {
    if armed(name) {
        panic!("failpoint {name}");
    }
}
