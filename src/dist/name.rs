//! A node's name and cookie, found as Erlang finds them: `--name a@host` / `--sname a` (a
//! short name takes this machine's host name up to its first dot), the cookie from the option,
//! `MOONWEAVE_COOKIE`, or `~/.erlang.cookie`.

use std::time::Duration;

/// How a node was asked to start (the builder's `node` options, the CLI's `--name`).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `name@host`, or a name to complete with this machine's host name.
    pub name: String,
    /// Complete `name` with the whole host name (`--name`), not its first part (`--sname`).
    pub long: bool,
    /// The cookie, if given explicitly (else looked up at start).
    pub cookie: Option<String>,
    /// Erlang's `net_ticktime`: a peer silent this long is down; ticks go every quarter.
    pub ticktime: Duration,
}

/// Erlang's default `net_ticktime`.
pub const DEFAULT_TICKTIME: Duration = Duration::from_secs(60);

/// Why a node name or cookie is unusable.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error(
        "node name '{0}' must be name@host with a name of letters, digits, '_' and '-' (at most 255 bytes)"
    )]
    Malformed(String),
    #[error(
        "no cookie: pass --cookie, set MOONWEAVE_COOKIE, or create ~/.erlang.cookie (as Erlang does)"
    )]
    NoCookie,
    #[error("cannot read the cookie file {path}: {error}")]
    CookieFile { path: String, error: std::io::Error },
}

/// The full node name for `--name` (`long`) or `--sname` given `name`.
pub fn full_name(name: &str, long: bool) -> Result<String, NameError> {
    let full = if name.contains('@') {
        name.to_string()
    } else {
        let host = this_host();
        let host = if long {
            host
        } else {
            host.split('.').next().unwrap_or_default().to_string()
        };
        format!("{name}@{host}")
    };
    let (alive, host) = full
        .split_once('@')
        .ok_or_else(|| NameError::Malformed(full.clone()))?;
    let alive_ok = !alive.is_empty()
        && alive
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let host_ok = !host.is_empty()
        && !host.contains('@')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
    if !alive_ok || !host_ok || full.len() > 255 {
        return Err(NameError::Malformed(full));
    }
    Ok(full)
}

/// This machine's host name (Linux's `/proc`, else `localhost`).
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The cookie: `given`, else `MOONWEAVE_COOKIE`, else `~/.erlang.cookie`.
pub fn cookie(given: Option<&str>) -> Result<String, NameError> {
    if let Some(cookie) = given {
        return Ok(cookie.to_string());
    }
    if let Ok(cookie) = std::env::var("MOONWEAVE_COOKIE")
        && !cookie.is_empty()
    {
        return Ok(cookie);
    }
    let home = std::env::var_os("HOME").ok_or(NameError::NoCookie)?;
    let path = std::path::Path::new(&home).join(".erlang.cookie");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(NameError::NoCookie),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(NameError::NoCookie),
        Err(error) => Err(NameError::CookieFile {
            path: path.display().to_string(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_completed() {
        assert_eq!(full_name("mw1@127.0.0.1", true).unwrap(), "mw1@127.0.0.1");
        let short = full_name("mw1", false).unwrap();
        assert!(short.starts_with("mw1@") && !short[4..].contains('.'));
        for bad in ["@host", "a b@host", "a@", "a@b@c", "é@host"] {
            assert!(full_name(bad, true).is_err(), "{bad}");
        }
    }
}
