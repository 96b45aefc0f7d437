//! The tags of the runtime's object types (see `raw::Object`), in one place so that they stay
//! unique, and their names for messages.

use std::ffi::c_int;

pub const ERROR: c_int = 10;
pub const MESSAGE: c_int = 11;
pub const CHANNEL: c_int = 12;
pub const CASE: c_int = 13;
pub const DURATION: c_int = 14;
pub const TIME: c_int = 15;
pub const TIMER: c_int = 16;
pub const TICKER: c_int = 17;
pub const BUILDER: c_int = 18;
/// A pending `io.readline` (lives only on the stack of the blocked call).
pub const LINE: c_int = 19;
pub const ACTOR: c_int = 20;
pub const SCOPE: c_int = 21;

/// The type name of a runtime object's tag.
pub fn name_of_tag(tag: c_int) -> Option<&'static str> {
    Some(match tag {
        ERROR => "error",
        MESSAGE => "Message",
        CHANNEL => "channel",
        CASE => "case",
        DURATION => "Duration",
        TIME => "Time",
        TIMER => "Timer",
        TICKER => "Ticker",
        BUILDER => "SpawnBuilder",
        LINE => "userdata",
        ACTOR => "Actor",
        SCOPE => "Scope",
        _ => return None,
    })
}
