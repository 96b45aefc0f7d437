//! Permission checks from the running process (security.md §3–4): the caller's actor and
//! scope, the attribute `pid`, strict mode of its host.
//!
//! Most processes have no actor or scope and run on hosts without strict mode: for them a
//! check is one test of a flag the worker set when it resumed the process, and nothing else.

use super::core::Core;
use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::security::{self, Attributes, Permission};
use crate::value::Value;

impl Core {
    /// `Ok` when the running process may perform `permission` on `resource`, else the
    /// `PERMISSION_DENIED` error (`permission denied: <action> on <resource>`).
    #[inline]
    pub fn permit(&self, permission: Permission, resource: &[u8]) -> Result<(), ErrorValue> {
        if !self.current_guarded() {
            return Ok(());
        }
        self.evaluate(permission, resource)
    }

    /// [`Core::permit`] for a guarded process: the decision of its actor and scope.
    #[inline(never)]
    fn evaluate(&self, permission: Permission, resource: &[u8]) -> Result<(), ErrorValue> {
        let allowed = self.with_current(|p| {
            let process = &p.local.process;
            let strict = self.shared.hosts[process.host].config.strict;
            let attributes = Attributes::of_caller(process.pid_text.as_bytes());
            security::decide_permission(
                &process.identity,
                strict,
                permission,
                resource,
                &attributes,
            )
        });
        match allowed {
            Some(true) | None => Ok(()),
            Some(false) => Err(ErrorValue::new(
                ErrorKind::PermissionDenied,
                security::denial_message(permission.action(), resource),
            )),
        }
    }

    /// The decision the running process gets for `action` on `resource` with `extra`
    /// attributes besides its PID (`security.can`).
    pub fn can(&self, action: &[u8], resource: &[u8], extra: &[(Bytes, Value)]) -> bool {
        self.with_current(|p| {
            let process = &p.local.process;
            let strict = self.shared.hosts[process.host].config.strict;
            let attributes = Attributes {
                pid: process.pid_text.as_bytes(),
                extra,
            };
            security::decide(&process.identity, strict, action, resource, &attributes)
        })
        .unwrap_or(false)
    }
}
