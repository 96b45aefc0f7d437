//! Logging (embedding.md §6): the runtime's own lines (crashed processes with their traceback,
//! service restarts and give-ups) and the Lua `logger` module's lines are `tracing` events,
//! target `moonweave` and `moonweave::lua`, with the process PID and entry as fields. Nothing
//! is printed without a subscriber; [`StderrLines`] is the one the command line installs,
//! which writes `<UTC time> <LEVEL> <pid> <entry>: <message>` lines to stderr.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ErrorValue;

/// Formats a time as RFC 3339 UTC with milliseconds, e.g. `2026-11-26T07:16:03.250Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Details for whoever debugs.
    Debug = 0,
    /// The normal course of things.
    Info = 1,
    /// Something went wrong and was handled (a service restarts).
    Warn = 2,
    /// Something failed (a process nobody watched, a service that gave up).
    Error = 3,
}

impl Level {
    /// `debug`, `info`, `warn` or `error` (anything else is `info`).
    pub fn from_name(name: &str) -> Level {
        match name {
            "debug" => Level::Debug,
            "warn" => Level::Warn,
            "error" => Level::Error,
            _ => Level::Info,
        }
    }

    /// The name written in log lines: `DEBUG`, `INFO`, `WARN`, `ERROR`.
    pub fn label(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    fn of(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        }
    }

    fn filter(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter;
        match self {
            Level::Debug => LevelFilter::DEBUG,
            Level::Info => LevelFilter::INFO,
            Level::Warn => LevelFilter::WARN,
            Level::Error => LevelFilter::ERROR,
        }
    }
}

/// The target of the runtime's own events.
pub const TARGET: &str = "moonweave";
/// The target of the Lua `logger` module's events.
pub const LUA_TARGET: &str = "moonweave::lua";

/// Which of the two targets an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Runtime,
    Lua,
}

/// `tracing::$mac!(target: <target of $source>, <tracing level of $level>, $args…)`: tracing's
/// callsites need the target and the level as constants, so every pair is written out.
macro_rules! at_level {
    ($mac:ident, $level:expr, $source:expr $(, $($args:tt)*)?) => {
        match ($level, $source) {
            (Level::Debug, Source::Runtime) => tracing::$mac!(target: "moonweave", tracing::Level::DEBUG $(, $($args)*)?),
            (Level::Debug, Source::Lua) => tracing::$mac!(target: "moonweave::lua", tracing::Level::DEBUG $(, $($args)*)?),
            (Level::Info, Source::Runtime) => tracing::$mac!(target: "moonweave", tracing::Level::INFO $(, $($args)*)?),
            (Level::Info, Source::Lua) => tracing::$mac!(target: "moonweave::lua", tracing::Level::INFO $(, $($args)*)?),
            (Level::Warn, Source::Runtime) => tracing::$mac!(target: "moonweave", tracing::Level::WARN $(, $($args)*)?),
            (Level::Warn, Source::Lua) => tracing::$mac!(target: "moonweave::lua", tracing::Level::WARN $(, $($args)*)?),
            (Level::Error, Source::Runtime) => tracing::$mac!(target: "moonweave", tracing::Level::ERROR $(, $($args)*)?),
            (Level::Error, Source::Lua) => tracing::$mac!(target: "moonweave::lua", tracing::Level::ERROR $(, $($args)*)?),
        }
    };
}

/// Whether an event of `level` from `source` would be seen by the subscriber (callers skip
/// building a line nobody reads).
pub(crate) fn enabled(level: Level, source: Source) -> bool {
    at_level!(enabled, level, source)
}

/// Emits one event: fields `pid` and `entry` (empty when none), `message` (the text; bytes
/// that are not UTF-8 replaced), and `raw` (the exact bytes) only when the text is not UTF-8.
pub(crate) fn line(
    level: Level,
    source: Source,
    pid: Option<&str>,
    entry: Option<&str>,
    message: &[u8],
) {
    let (pid, entry) = (pid.unwrap_or(""), entry.unwrap_or(""));
    match std::str::from_utf8(message) {
        Ok(text) => at_level!(event, level, source, pid, entry, message = text),
        Err(_) => {
            let text = String::from_utf8_lossy(message);
            at_level!(
                event,
                level,
                source,
                pid,
                entry,
                message = &*text,
                raw = message
            )
        }
    }
}

/// Logs that the runtime cannot go on (a worker failed outside any process).
pub(crate) fn runtime_failed(reason: &str) {
    let message = format!("runtime failed: {reason}");
    line(
        Level::Error,
        Source::Runtime,
        None,
        None,
        message.as_bytes(),
    );
}

/// Logs a process that exited with an error, with its traceback: at `level` (ERROR when
/// nobody else was told, DEBUG when a monitor or link was).
pub(crate) fn process_failed(pid: &str, entry: &str, error: &ErrorValue, level: Level) {
    if !enabled(level, Source::Runtime) {
        return;
    }
    let mut message = format!("process failed: [{}] ", error.kind).into_bytes();
    message.extend_from_slice(&error.message);
    if let Some(stack) = error.stack.as_deref().filter(|s| !s.trim().is_empty()) {
        message.push(b'\n');
        message.extend_from_slice(stack.trim_end().as_bytes());
    }
    line(level, Source::Runtime, Some(pid), Some(entry), &message);
}

/// A `tracing` subscriber that writes moonweave's events to stderr in the line format of
/// stdlib.md: `<UTC time> <LEVEL> <pid> <entry>: <message>`, byte for byte (what the command
/// line installs; an embedding program may install it too, or use any subscriber of its own).
///
/// ```
/// let _ = tracing::subscriber::set_global_default(
///     moonweave::log::StderrLines::new(moonweave::log::Level::Warn),
/// );
/// ```
pub struct StderrLines {
    lowest: Level,
    rewrite: Option<Box<Rewrite>>,
}

/// What [`StderrLines::rewriting`] applies to each message.
type Rewrite = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;

impl std::fmt::Debug for StderrLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StderrLines")
            .field("lowest", &self.lowest)
            .finish_non_exhaustive()
    }
}

impl StderrLines {
    /// Writes events of `lowest` and above.
    pub fn new(lowest: Level) -> StderrLines {
        StderrLines {
            lowest,
            rewrite: None,
        }
    }

    /// Passes every message through `rewrite` before writing it (the command line uses it to
    /// name source files relative to the current directory instead of the app's root).
    pub fn rewriting(
        mut self,
        rewrite: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    ) -> StderrLines {
        self.rewrite = Some(Box::new(rewrite));
        self
    }
}

/// The fields of one event.
#[derive(Default)]
struct Fields {
    pid: String,
    entry: String,
    message: String,
    raw: Option<Vec<u8>>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "pid" => self.pid = value.to_string(),
            "entry" => self.entry = value.to_string(),
            "message" => self.message = value.to_string(),
            _ => {}
        }
    }

    fn record_bytes(&mut self, field: &tracing::field::Field, value: &[u8]) {
        if field.name() == "raw" {
            self.raw = Some(value.to_vec());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for StderrLines {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with(TARGET) && Level::of(metadata.level()) >= self.lowest
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.lowest.filter())
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = Level::of(event.metadata().level()).label();
        let mut line = format!("{} {level}", rfc3339(SystemTime::now())).into_bytes();
        for part in [&fields.pid, &fields.entry] {
            if !part.is_empty() {
                line.push(b' ');
                line.extend_from_slice(part.as_bytes());
            }
        }
        line.extend_from_slice(b": ");
        let message = match &fields.raw {
            Some(raw) => raw.as_slice(),
            None => fields.message.as_bytes(),
        };
        match &self.rewrite {
            Some(rewrite) => line.extend_from_slice(&rewrite(message)),
            None => line.extend_from_slice(message),
        }
        line.push(b'\n');
        let _ = std::io::stderr().lock().write_all(&line);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_rfc3339_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_677_363_250);
        assert_eq!(rfc3339(t), "2026-11-26T07:16:03.250Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
