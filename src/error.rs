//! Error values that cross process boundaries: the kinds of `errors.*` and the error object.
//!
//! These are plain Rust data (no Lua): an exit error travels to monitors and to the embedding
//! application, and an error object inside a message payload is copied like any other value.

use std::fmt;

use crate::bytes::Bytes;
use crate::value::Value;

/// The kind of an error; the Lua constants (`errors.NOT_FOUND`, …) equal these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Anything else (a string raised with `error`, an error value of no kind).
    Unknown,
    /// A bad argument, a bad value, a malformed app.
    Invalid,
    /// No such process, entry, host or name.
    NotFound,
    /// The name, child or monitor exists already.
    AlreadyExists,
    /// A permission check denied the operation.
    PermissionDenied,
    /// Cannot now: a full host or mailbox, a runtime shutting down.
    Unavailable,
    /// A failure of the runtime itself (a panic, a lost process).
    Internal,
    /// Stopped: terminated, cancelled, a passed cancel deadline, a failed link.
    Canceled,
    /// The operation contradicts the current state (a running child, a closed channel).
    Conflict,
    /// A wait ended before its answer.
    Timeout,
    /// Too many requests.
    RateLimited,
}

impl ErrorKind {
    /// Every kind, in the order the `errors` table lists them.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Unknown,
        ErrorKind::Invalid,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
        ErrorKind::Canceled,
        ErrorKind::Conflict,
        ErrorKind::Timeout,
        ErrorKind::RateLimited,
    ];

    /// The constant's name, e.g. `"NOT_FOUND"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Unknown => "UNKNOWN",
            ErrorKind::Invalid => "INVALID",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::AlreadyExists => "ALREADY_EXISTS",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::Canceled => "CANCELED",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::RateLimited => "RATE_LIMITED",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error object: what `errors.new` builds and what a failed exit carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorValue {
    /// What went wrong, broadly.
    pub kind: ErrorKind,
    /// Any bytes, as the Lua string it came from.
    pub message: Bytes,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// A copyable table, or `None`.
    pub details: Option<Box<Value>>,
    /// The traceback captured where the error was raised or created.
    pub stack: Option<String>,
}

impl ErrorValue {
    /// An error of `kind` with `message` and nothing else.
    pub fn new(kind: ErrorKind, message: impl Into<Bytes>) -> Self {
        Self {
            kind,
            message: message.into(),
            retryable: false,
            details: None,
            stack: None,
        }
    }

    /// The same error with `stack` as its traceback.
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = Some(stack.into());
        self
    }
}

impl fmt::Display for ErrorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message.to_string_lossy())
    }
}

impl std::error::Error for ErrorValue {}
