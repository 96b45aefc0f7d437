//! The `time` module (stdlib.md §7.1): Durations, Times, sleeping, and the time channels
//! (`after`, `timer`, `ticker`).
//!
//! A sleep or a time channel is a time entry of the process (`proc/local.rs`) with a place in
//! the worker's timer heap (`sched/timer.rs`): adding, stopping and firing one costs O(log n)
//! and touches no other entry. A due entry wakes its sleeping task, or puts the current time in
//! its channel (a ticker's tick that finds the previous one unreceived is dropped). Entries die
//! with their process, and with their channel when the collector frees it.

use std::cell::Cell;
use std::ffi::c_int;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::args::{at_most, fail, invalid, type_name};
use super::channel::{Owner, current_owner, push_time_channel};
use super::objects;
use super::raw::{self, Kind, LuaRef, Object, Raise, Stack, lua_cont, lua_fn};
use super::run::{core, take_delivery, yield_task};
use crate::duration::Duration;
use crate::error::ErrorValue;
use crate::proc::{ChanId, Item, TimeId, TimeKind, Wait};

/// A Duration object: signed nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct DurationObject(pub i64);

impl Object for DurationObject {
    const TAG: c_int = objects::DURATION;
    const NAME: &'static str = "Duration";
}

/// A Time object: nanoseconds since the Unix epoch (a double: exact to about 0.25 µs now).
#[derive(Debug, Clone, Copy)]
pub struct TimeObject(pub f64);

impl Object for TimeObject {
    const TAG: c_int = objects::TIME;
    const NAME: &'static str = "Time";
}

/// A Timer object: its pending time entry, its channel's id and object.
#[derive(Debug)]
pub struct TimerObject {
    owner: Option<Owner>,
    entry: Cell<Option<TimeId>>,
    id: ChanId,
    channel: LuaRef,
}

impl Object for TimerObject {
    const TAG: c_int = objects::TIMER;
    const NAME: &'static str = "Timer";
}

/// A Ticker object: its time entry and its channel.
#[derive(Debug)]
pub struct TickerObject {
    owner: Option<Owner>,
    entry: Option<TimeId>,
    channel: LuaRef,
}

impl Object for TickerObject {
    const TAG: c_int = objects::TICKER;
    const NAME: &'static str = "Ticker";
}

/// Nanoseconds since the Unix epoch on the wall clock.
pub fn wall_ns() -> f64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as f64,
        Err(e) => -(e.duration().as_nanos() as f64),
    }
}

/// Reads a duration argument: a Duration object, a whole number of milliseconds or a duration
/// string.
pub fn duration_at(stack: Stack<'_>, index: c_int) -> Result<Duration, ErrorValue> {
    if let Some(d) = stack.object::<DurationObject>(index) {
        return Ok(Duration(d.0));
    }
    let parsed = match stack.kind(index) {
        Kind::Number => Duration::from_millis(stack.number(index).unwrap_or(f64::NAN)),
        Kind::String => match std::str::from_utf8(stack.bytes(index).unwrap_or_default()) {
            Ok(text) => Duration::parse(text),
            Err(_) => {
                return Err(invalid("a duration string must be text such as \"250ms\""));
            }
        },
        _ => {
            return Err(invalid(format!(
                "a duration must be a Duration, a string or milliseconds, got {}",
                type_name(stack, index)
            )));
        }
    };
    parsed.map_err(|e| invalid(e.to_string()))
}

/// `std::time::Duration` of a positive `d`, saturating far in the future.
fn ahead(d: Duration) -> Instant {
    let now = Instant::now();
    let span = std::time::Duration::from_nanos(d.0.max(0) as u64);
    now.checked_add(span)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(100 * 365 * 86_400))
}

// ---- sleep -----------------------------------------------------------------------------------

lua_fn! {
    fn sleep(stack) {
        at_most(stack, 1, "time.sleep")?;
        let d = match duration_at(stack, 1) {
            Ok(d) => d,
            Err(e) => return fail(stack, e),
        };
        if d.0 <= 0 {
            return yield_task(stack);
        }
        super::run::block_then(stack, Wait::Local, |core, task, seq| {
            core.add_time_entry(ahead(d), TimeKind::Sleep { task, seq });
        })
    }
}

lua_cont! {
    fn sleep_continue(stack) {
        let core = core()?;
        let _ = take_delivery(&core);
        stack.push_bool(true);
        raw::values(1)
    }
}

// ---- time channels ---------------------------------------------------------------------------

/// Pushes a time channel fed `d` from now (and every `period` after, for a ticker); its time
/// entry, or none when `d ≤ 0` (the current time is in the channel at once).
fn time_channel(
    stack: Stack<'_>,
    d: Duration,
    period: Option<std::time::Duration>,
) -> Result<(ChanId, Option<TimeId>), Raise> {
    let core = core()?;
    let channel = push_time_channel(stack, &core)?;
    if d.0 <= 0 && period.is_none() {
        core.with_current(|p| p.local.tasks.offer(channel, Item::Time(wall_ns())));
        return Ok((channel, None));
    }
    let entry = core
        .add_time_entry(ahead(d), TimeKind::Channel { channel, period })
        .ok_or_else(|| Raise::Text("outside a process".into()))?;
    Ok((channel, Some(entry)))
}

lua_fn! {
    fn after(stack) {
        at_most(stack, 1, "time.after")?;
        let d = match duration_at(stack, 1) {
            Ok(d) => d,
            Err(e) => return fail(stack, e),
        };
        time_channel(stack, d, None)?;
        raw::values(1)
    }
}

lua_fn! {
    fn timer(stack) {
        at_most(stack, 1, "time.timer")?;
        let d = match duration_at(stack, 1) {
            Ok(d) => d,
            Err(e) => return fail(stack, e),
        };
        let (id, entry) = time_channel(stack, d, None)?;
        let channel = stack.make_ref(-1);
        stack.pop(1);
        let owner = current_owner(&*core()?);
        stack.push_object(TimerObject { owner, entry: Cell::new(entry), id, channel });
        raw::values(1)
    }
}

lua_fn! {
    fn ticker(stack) {
        at_most(stack, 1, "time.ticker")?;
        let d = match duration_at(stack, 1) {
            Ok(d) => d,
            Err(e) => return fail(stack, e),
        };
        if d.0 <= 0 {
            return fail(stack, invalid(format!("time.ticker: the period must be positive, got {d}")));
        }
        let period = std::time::Duration::from_nanos(d.0 as u64);
        let (_, entry) = time_channel(stack, d, Some(period))?;
        let channel = stack.make_ref(-1);
        stack.pop(1);
        let owner = current_owner(&*core()?);
        stack.push_object(TickerObject { owner, entry, channel });
        raw::values(1)
    }
}

/// Raises unless `owner` is the running process: a timer's entry and channel are its own.
fn check_owner(owner: Option<Owner>, object: &str, what: &str) -> Result<(), Raise> {
    match current_owner(&*core()?) == owner {
        true => Ok(()),
        false => raw::raise(format!(
            "{object}:{what}: the {object} belongs to another process"
        )),
    }
}

fn timer_this<'a>(stack: Stack<'a>, what: &str) -> Result<&'a TimerObject, Raise> {
    let timer = stack
        .object::<TimerObject>(1)
        .ok_or_else(|| Raise::Object(invalid(format!("Timer:{what} must be called on a Timer"))))?;
    check_owner(timer.owner, "Timer", what)?;
    Ok(timer)
}

lua_fn! {
    fn timer_channel(stack) {
        let timer = timer_this(stack, "channel")?;
        stack.push_ref(&timer.channel);
        raw::values(1)
    }
}

lua_fn! {
    fn timer_stop(stack) {
        let timer = timer_this(stack, "stop")?;
        let core = core()?;
        let pending = timer.entry.take().is_some_and(|e| core.remove_time_entry(e));
        stack.push_bool(pending);
        raw::values(1)
    }
}

lua_fn! {
    fn timer_reset(stack) {
        let timer = timer_this(stack, "reset")?;
        let d = match duration_at(stack, 2) {
            Ok(d) => d,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        let pending = timer.entry.take().is_some_and(|e| core.remove_time_entry(e));
        if d.0 <= 0 {
            core.with_current(|p| p.local.tasks.offer(timer.id, Item::Time(wall_ns())));
        } else {
            let kind = TimeKind::Channel { channel: timer.id, period: None };
            timer.entry.set(core.add_time_entry(ahead(d), kind));
        }
        stack.push_bool(pending);
        raw::values(1)
    }
}

fn ticker_this<'a>(stack: Stack<'a>, what: &str) -> Result<&'a TickerObject, Raise> {
    let ticker = stack.object::<TickerObject>(1).ok_or_else(|| {
        Raise::Object(invalid(format!("Ticker:{what} must be called on a Ticker")))
    })?;
    check_owner(ticker.owner, "Ticker", what)?;
    Ok(ticker)
}

lua_fn! {
    fn ticker_channel(stack) {
        let ticker = ticker_this(stack, "channel")?;
        stack.push_ref(&ticker.channel);
        raw::values(1)
    }
}

lua_fn! {
    fn ticker_stop(stack) {
        let ticker = ticker_this(stack, "stop")?;
        let core = core()?;
        if let Some(entry) = ticker.entry {
            core.remove_time_entry(entry);
        }
        raw::values(0)
    }
}

// ---- now, parse_duration, Duration and Time --------------------------------------------------

lua_fn! {
    fn now(stack) {
        stack.push_object(TimeObject(wall_ns()));
        raw::values(1)
    }
}

lua_fn! {
    fn parse_duration(stack) {
        match duration_at(stack, 1) {
            Ok(d) => {
                stack.push_object(DurationObject(d.0));
                raw::values(1)
            }
            Err(e) => fail(stack, e),
        }
    }
}

fn duration_this(stack: Stack<'_>, index: c_int, what: &str) -> Result<f64, Raise> {
    stack
        .object::<DurationObject>(index)
        .map(|d| d.0 as f64)
        .ok_or_else(|| {
            Raise::Object(invalid(format!(
                "Duration:{what} must be called on a Duration"
            )))
        })
}

fn whole(x: f64) -> f64 {
    x.trunc()
}

macro_rules! duration_method {
    ($name:ident, $what:literal, |$ns:ident| $value:expr) => {
        lua_fn! {
            fn $name(stack) {
                let $ns = duration_this(stack, 1, $what)?;
                stack.push_number($value);
                raw::values(1)
            }
        }
    };
}

duration_method!(d_hours, "hours", |ns| ns / 3.6e12);
duration_method!(d_minutes, "minutes", |ns| ns / 6e10);
duration_method!(d_seconds, "seconds", |ns| ns / 1e9);
duration_method!(d_milliseconds, "milliseconds", |ns| ns / 1e6);
duration_method!(d_microseconds, "microseconds", |ns| whole(ns / 1e3));
duration_method!(d_nanoseconds, "nanoseconds", |ns| ns);

lua_fn! {
    fn d_to_string(stack) {
        let ns = duration_this(stack, 1, "__tostring")?;
        stack.push_bytes(Duration(ns as i64).to_string().as_bytes());
        raw::values(1)
    }
}

/// Compares two objects of one kind read by `read` (`==`, `<`, `<=`).
fn compare(
    stack: Stack<'_>,
    read: impl Fn(c_int) -> Option<f64>,
    op: fn(f64, f64) -> bool,
) -> raw::Result {
    match (read(1), read(2)) {
        (Some(a), Some(b)) => {
            stack.push_bool(op(a, b));
            raw::values(1)
        }
        _ => raw::raise(format!(
            "attempt to compare {} with {}",
            type_name(stack, 1),
            type_name(stack, 2)
        )),
    }
}

fn duration_of(stack: Stack<'_>) -> impl Fn(c_int) -> Option<f64> + '_ {
    move |i| stack.object::<DurationObject>(i).map(|d| d.0 as f64)
}

fn time_of(stack: Stack<'_>) -> impl Fn(c_int) -> Option<f64> + '_ {
    move |i| stack.object::<TimeObject>(i).map(|t| t.0)
}

lua_fn! { fn d_eq(stack) { compare(stack, duration_of(stack), |a, b| a == b) } }
lua_fn! { fn d_lt(stack) { compare(stack, duration_of(stack), |a, b| a < b) } }
lua_fn! { fn d_le(stack) { compare(stack, duration_of(stack), |a, b| a <= b) } }
lua_fn! { fn t_eq(stack) { compare(stack, time_of(stack), |a, b| a == b) } }
lua_fn! { fn t_lt(stack) { compare(stack, time_of(stack), |a, b| a < b) } }
lua_fn! { fn t_le(stack) { compare(stack, time_of(stack), |a, b| a <= b) } }

fn time_this(stack: Stack<'_>, what: &str) -> Result<f64, Raise> {
    stack
        .object::<TimeObject>(1)
        .map(|t| t.0)
        .ok_or_else(|| Raise::Object(invalid(format!("Time:{what} must be called on a Time"))))
}

/// The RFC 3339 text of Unix nanoseconds.
fn rfc3339(ns: f64) -> String {
    let time = if ns >= 0.0 {
        UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - std::time::Duration::from_nanos((-ns) as u64)
    };
    crate::log::rfc3339(time)
}

lua_fn! {
    fn t_unix(stack) {
        let ns = time_this(stack, "unix")?;
        stack.push_number((ns / 1e9).floor());
        raw::values(1)
    }
}

lua_fn! {
    fn t_unix_nano(stack) {
        let ns = time_this(stack, "unix_nano")?;
        stack.push_number(ns);
        raw::values(1)
    }
}

lua_fn! {
    fn t_format(stack) {
        let ns = time_this(stack, "format_rfc3339")?;
        stack.push_bytes(rfc3339(ns).as_bytes());
        raw::values(1)
    }
}

lua_fn! {
    fn t_sub(stack) {
        let ns = time_this(stack, "sub")?;
        let Some(other) = stack.object::<TimeObject>(2) else {
            return Err(Raise::Object(invalid("Time:sub expects a Time")));
        };
        stack.push_object(DurationObject((ns - other.0) as i64));
        raw::values(1)
    }
}

lua_fn! {
    fn t_add(stack) {
        let ns = time_this(stack, "add")?;
        match duration_at(stack, 2) {
            Ok(d) => {
                stack.push_object(TimeObject(ns + d.0 as f64));
                raw::values(1)
            }
            Err(e) => fail(stack, e),
        }
    }
}

/// Registers the object types of the time module.
pub fn register(stack: Stack<'_>) {
    raw::register::<DurationObject>(
        stack,
        &[
            raw::method(c"hours", d_hours),
            raw::method(c"minutes", d_minutes),
            raw::method(c"seconds", d_seconds),
            raw::method(c"milliseconds", d_milliseconds),
            raw::method(c"microseconds", d_microseconds),
            raw::method(c"nanoseconds", d_nanoseconds),
        ],
        &[
            raw::method(c"__tostring", d_to_string),
            raw::method(c"__eq", d_eq),
            raw::method(c"__lt", d_lt),
            raw::method(c"__le", d_le),
        ],
    );
    raw::register::<TimeObject>(
        stack,
        &[
            raw::method(c"unix", t_unix),
            raw::method(c"unix_nano", t_unix_nano),
            raw::method(c"format_rfc3339", t_format),
            raw::method(c"sub", t_sub),
            raw::method(c"add", t_add),
        ],
        &[
            raw::method(c"__tostring", t_format),
            raw::method(c"__eq", t_eq),
            raw::method(c"__lt", t_lt),
            raw::method(c"__le", t_le),
        ],
    );
    raw::register::<TimerObject>(
        stack,
        &[
            raw::method(c"channel", timer_channel),
            raw::method(c"stop", timer_stop),
            raw::method(c"reset", timer_reset),
        ],
        &[],
    );
    raw::register::<TickerObject>(
        stack,
        &[
            raw::method(c"channel", ticker_channel),
            raw::method(c"stop", ticker_stop),
        ],
        &[],
    );
}

/// Builds the `time` module (frozen) and returns a reference to it.
pub fn module(stack: Stack<'_>) -> LuaRef {
    raw::push_table(
        stack,
        &[
            raw::blocking(c"sleep", sleep, sleep_continue),
            raw::method(c"after", after),
            raw::method(c"timer", timer),
            raw::method(c"ticker", ticker),
            raw::method(c"now", now),
            raw::method(c"parse_duration", parse_duration),
        ],
    );
    let table = stack.top();
    for (name, value) in [
        (c"MILLISECOND", 1.0),
        (c"SECOND", 1000.0),
        (c"MINUTE", 60_000.0),
        (c"HOUR", 3_600_000.0),
    ] {
        stack.push_number(value);
        stack.raw_set_field(table, name);
    }
    stack.freeze(table);
    let r = stack.make_ref(table);
    stack.pop(1);
    r
}
