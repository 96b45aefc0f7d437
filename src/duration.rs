//! Durations as the spec writes them: `"1h2m3.5s"`, `"250ms"`, `"-1.5h"`, `"0"`, or a whole
//! number of milliseconds (stdlib.md §7.1). Plain Rust, shared by `time`, cancel deadlines and
//! the app loader.

use std::fmt;

/// A signed duration in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration '{0}'")]
    Malformed(String),
    #[error("duration '{0}' is out of range")]
    OutOfRange(String),
    #[error("a duration in milliseconds must be a whole number, got {0}")]
    NotWhole(f64),
}

const UNITS: [(&str, f64); 7] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

impl Duration {
    /// `ms` whole milliseconds; fractions, NaN and infinities are rejected.
    pub fn from_millis(ms: f64) -> Result<Duration, DurationError> {
        if !ms.is_finite() || ms.fract() != 0.0 {
            return Err(DurationError::NotWhole(ms));
        }
        let nanos = ms * 1e6;
        if nanos.abs() >= i64::MAX as f64 {
            return Err(DurationError::OutOfRange(format!("{ms}")));
        }
        Ok(Duration(nanos as i64))
    }

    /// Parses the string form.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let malformed = || DurationError::Malformed(text.to_string());
        let (negative, mut rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if rest == "0" {
            return Ok(Duration(0));
        }
        if rest.is_empty() {
            return Err(malformed());
        }
        let mut total = 0f64;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(malformed)?;
            let number = &rest[..number_len];
            if number.is_empty() || number == "." || number.matches('.').count() > 1 {
                return Err(malformed());
            }
            let value: f64 = number.parse().map_err(|_| malformed())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let scale = UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .ok_or_else(malformed)?
                .1;
            total += value * scale;
            rest = &rest[unit_len..];
        }
        if total >= i64::MAX as f64 {
            return Err(DurationError::OutOfRange(text.to_string()));
        }
        let nanos = total.round() as i64;
        Ok(Duration(if negative { -nanos } else { nanos }))
    }

    /// The non-negative part as a `std::time::Duration` (negative durations are zero).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.max(0) as u64)
    }
}

impl fmt::Display for Duration {
    /// The canonical form: `1h2m3.5s`, `250ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut nanos = self.0.unsigned_abs();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            let (scale, unit) = match nanos {
                n if n < 1_000 => (1u64, "ns"),
                n if n < 1_000_000 => (1_000, "µs"),
                _ => (1_000_000, "ms"),
            };
            return write!(f, "{}{unit}", trim(nanos as f64 / scale as f64));
        }
        let hours = nanos / 3_600_000_000_000;
        nanos %= 3_600_000_000_000;
        let minutes = nanos / 60_000_000_000;
        nanos %= 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", trim(nanos as f64 / 1e9))
    }
}

/// A number without trailing zeros: `3.5`, `2`.
fn trim(n: f64) -> String {
    let text = format!("{n:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn parses_the_spec_examples() {
        assert_eq!(Duration::parse("250ms"), Ok(Duration(250 * MS)));
        assert_eq!(Duration::parse("1h2m3.5s"), Ok(Duration(3_723_500 * MS)));
        assert_eq!(Duration::parse("10us"), Ok(Duration(10_000)));
        assert_eq!(Duration::parse("10µs"), Ok(Duration(10_000)));
        assert_eq!(Duration::parse("-1.5h"), Ok(Duration(-5_400_000 * MS)));
        assert_eq!(Duration::parse("0"), Ok(Duration(0)));
        assert_eq!(Duration::parse("1m30s"), Ok(Duration(90_000 * MS)));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "", "5", "ms", "1x", "1.2.3s", "s5", "-", "1 s", "0.s5", "1ms2",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn milliseconds_must_be_whole() {
        assert_eq!(Duration::from_millis(1500.0), Ok(Duration(1500 * MS)));
        assert!(Duration::from_millis(1.5).is_err());
        assert!(Duration::from_millis(f64::NAN).is_err());
        assert!(Duration::from_millis(f64::INFINITY).is_err());
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(Duration(3_723_500 * MS).to_string(), "1h2m3.5s");
        assert_eq!(Duration(0).to_string(), "0s");
        assert_eq!(Duration(250 * MS).to_string(), "250ms");
        assert_eq!(Duration(-90_000 * MS).to_string(), "-1m30s");
    }
}
