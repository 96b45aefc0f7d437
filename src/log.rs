//! Runtime log lines on stderr: `<UTC time> <LEVEL> <pid> <entry>: <message>`.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
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
    Debug = 0,
    Info = 1,
    Warn = 2,
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
}

/// The lowest level written (the CLI's `--log-level`, default `info`).
static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the lowest level written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether lines of `level` are written.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Writes a line of `level` for a process, if that level is enabled.
pub fn line(level: Level, pid: Option<&str>, entry: Option<&str>, message: &[u8]) {
    if enabled(level) {
        write(level.label(), pid, entry, message);
    }
}

/// Writes one line (or several, for a traceback) to stderr in one write. The message is
/// written byte for byte (Lua strings need not be UTF-8).
fn write(level: &str, pid: Option<&str>, entry: Option<&str>, message: &[u8]) {
    let mut line = format!("{} {level}", rfc3339(SystemTime::now())).into_bytes();
    if let Some(pid) = pid {
        line.push(b' ');
        line.extend_from_slice(pid.as_bytes());
    }
    if let Some(entry) = entry {
        line.push(b' ');
        line.extend_from_slice(entry.as_bytes());
    }
    line.extend_from_slice(b": ");
    line.extend_from_slice(message);
    line.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&line);
}

/// Logs a runtime error.
pub fn error(pid: Option<&str>, entry: Option<&str>, message: &str) {
    write("ERROR", pid, entry, message.as_bytes());
}

/// Logs that the runtime cannot go on (a worker failed outside any process).
pub fn runtime_failed(reason: &str) {
    write(
        "ERROR",
        None,
        None,
        format!("runtime failed: {reason}").as_bytes(),
    );
}

/// Logs a process that exited with an error nobody else was told about, with its traceback.
pub fn process_failed(pid: &str, entry: &str, error: &ErrorValue) {
    let mut message = format!("process failed: [{}] ", error.kind).into_bytes();
    message.extend_from_slice(&error.message);
    if let Some(stack) = error.stack.as_deref().filter(|s| !s.trim().is_empty()) {
        message.push(b'\n');
        message.extend_from_slice(stack.trim_end().as_bytes());
    }
    write("ERROR", Some(pid), Some(entry), &message);
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
