//! `process.service` entries (app-format.md §2.3), as the loader checked them: what to run,
//! where, under which name, and how to restart it. The supervision itself is `crate::supervise`.

use std::time::Duration;

use crate::value::Value;

/// A supervised, long-running process.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEntry {
    /// `namespace:name`.
    pub id: String,
    /// The `process.lua` entry it runs.
    pub process: String,
    /// The `process.host` entry it runs on.
    pub host: String,
    /// The registry name held by each run.
    pub register_as: Option<String>,
    /// The arguments of the entry function.
    pub input: Vec<Value>,
    /// Started at boot (`lifecycle.auto_start`).
    pub auto_start: bool,
    /// How failures are restarted (`lifecycle.restart`).
    pub restart: Restart,
    /// The actor and scope of its process (`security`).
    pub security: Option<ServiceSecurity>,
}

/// `lifecycle.restart`.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    /// The delay before the first restart.
    pub initial_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Each delay is the previous one times this.
    pub backoff_factor: f64,
    /// Restarts allowed after consecutive failures; 0: no limit.
    pub max_attempts: u64,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            backoff_factor: 2.0,
            max_attempts: 0,
        }
    }
}

impl Restart {
    /// The wait before the restart after the `n`-th consecutive failure (n ≥ 1):
    /// `min(initial_delay × backoff_factor^(n−1), max_delay)`.
    pub fn delay(&self, n: u64) -> Duration {
        let exponent = n.saturating_sub(1).min(i32::MAX as u64) as i32;
        let seconds = self.initial_delay.as_secs_f64() * self.backoff_factor.powi(exponent);
        let max = self.max_delay.as_secs_f64();
        if !seconds.is_finite() || seconds >= max {
            return self.max_delay;
        }
        Duration::from_secs_f64(seconds)
    }

    /// Whether the `n`-th consecutive failure leaves the service down.
    pub fn gives_up(&self, n: u64) -> bool {
        self.max_attempts > 0 && n > self.max_attempts
    }
}

/// A service's `security` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSecurity {
    /// The id of its actor.
    pub actor_id: String,
    /// A table (possibly empty).
    pub actor_meta: Value,
    /// The `security.policy` ids of its scope; `None`: no scope.
    pub policies: Option<Vec<String>>,
}

impl ServiceEntry {
    /// Its settings as `moonweave list` shows them, e.g.
    /// `process=app:worker host=app:processes register_as=pool auto_start=true restart=1s..30s x2`.
    pub fn settings(&self) -> String {
        let shown = |d: Duration| crate::duration::Duration(d.as_nanos() as i64);
        let restart = &self.restart;
        let mut text = format!("process={} host={}", self.process, self.host);
        if let Some(name) = &self.register_as {
            text.push_str(&format!(" register_as={name}"));
        }
        text.push_str(&format!(
            " auto_start={} restart={}..{} x{}",
            self.auto_start,
            shown(restart.initial_delay),
            shown(restart.max_delay),
            restart.backoff_factor
        ));
        if restart.max_attempts > 0 {
            text.push_str(&format!(" max_attempts={}", restart.max_attempts));
        }
        if let Some(security) = &self.security {
            text.push_str(&format!(" actor={}", security.actor_id));
            if let Some(policies) = &security.policies {
                text.push_str(&format!(" policies=[{}]", policies.join(",")));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_by_the_factor_up_to_the_maximum() {
        let restart = Restart {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            backoff_factor: 2.0,
            max_attempts: 3,
        };
        let delays: Vec<u128> = (1..=5).map(|n| restart.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(restart.delay(u64::MAX), Duration::from_millis(500));
        assert!(!restart.gives_up(3) && restart.gives_up(4));
        assert!(!Restart::default().gives_up(1_000_000));
        let flat = Restart {
            backoff_factor: 1.0,
            ..restart
        };
        assert_eq!(flat.delay(10), Duration::from_millis(100));
    }
}
