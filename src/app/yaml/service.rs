//! `process.service` entries (app-format.md §2.3): every field checked where it is written;
//! the references (process, host, policies) are checked once every entry is known.

use std::sync::Arc;
use std::time::Duration;

use super::{FileReader, Node, Yaml, line, value_of};
use crate::app::{Restart, ServiceEntry, ServiceSecurity};
use crate::proc::registry::is_valid_name;
use crate::value::Value;

/// References a service makes: (id, expected kind, line).
type References = Vec<(String, &'static str, Option<usize>)>;

impl FileReader<'_> {
    /// The fields of a `process.service` entry defined at line `at`.
    pub(super) fn read_service<'n>(
        &mut self,
        id: &str,
        get: &dyn Fn(&str) -> Option<&'n Node>,
        at: Option<usize>,
        references: &mut References,
    ) -> Option<Arc<ServiceEntry>> {
        let mut ok = true;
        let process =
            self.required_reference(id, "process", get("process"), "process.lua", at, references);
        let host = self.required_reference(id, "host", get("host"), "process.host", at, references);
        let register_as = match get("register_as").map(|n| (&n.value, line(n))) {
            None | Some((Yaml::Null, _)) => None,
            Some((Yaml::Str(name), _)) if is_valid_name(name.as_bytes()) => Some(name.clone()),
            Some((_, l)) => {
                self.problem(
                    l,
                    format!("{id}: register_as must be a registry name (a non-empty string that does not start with '{{')"),
                );
                ok = false;
                None
            }
        };
        let input = match get("input").map(|n| (&n.value, n)) {
            None | Some((Yaml::Null, _)) => Vec::new(),
            Some((Yaml::Seq(items), _)) => items.iter().map(value_of).collect(),
            Some((other, n)) => {
                self.problem(
                    line(n),
                    format!("{id}: input must be a list, not {}", other.type_name()),
                );
                ok = false;
                Vec::new()
            }
        };
        let (auto_start, restart) = match get("lifecycle") {
            Some(node) => self.lifecycle(id, node)?,
            None => (true, Restart::default()),
        };
        let security = match get("security") {
            None => None,
            Some(node) => Some(self.service_security(id, node, references)?),
        };
        Some(Arc::new(ServiceEntry {
            id: id.to_string(),
            process: process?,
            host: host?,
            register_as,
            input,
            auto_start,
            restart,
            security,
        }))
        .filter(|_| ok)
    }

    /// A required reference field: its full id, also added to `references`.
    fn required_reference(
        &mut self,
        id: &str,
        field: &str,
        node: Option<&Node>,
        kind: &'static str,
        at: Option<usize>,
        references: &mut References,
    ) -> Option<String> {
        match node.map(|n| (&n.value, line(n))) {
            Some((Yaml::Str(text), l)) if !text.is_empty() => {
                let target = self.reference(text);
                references.push((target.clone(), kind, l));
                Some(target)
            }
            Some((other, l)) => {
                self.problem(
                    l,
                    format!(
                        "{id}: {field} must name a {kind} entry, not {}",
                        other.type_name()
                    ),
                );
                None
            }
            None => {
                self.problem(
                    at,
                    format!("{id}: a process.service needs {field} (a {kind} entry)"),
                );
                None
            }
        }
    }

    /// The keys of the map `node` (`what` for messages) that are in `allowed`; the others are
    /// reported and clear `ok`. `None` when `node` is not a map.
    fn keys<'n>(
        &mut self,
        id: &str,
        what: &str,
        node: &'n Node,
        allowed: &[&str],
        ok: &mut bool,
    ) -> Option<Vec<(&'n str, &'n Node)>> {
        let fields = match &node.value {
            Yaml::Map(fields) => fields,
            Yaml::Null => return Some(Vec::new()),
            other => {
                self.problem(
                    line(node),
                    format!("{id}: {what} must be a map, not {}", other.type_name()),
                );
                return None;
            }
        };
        let mut found = Vec::with_capacity(fields.len());
        for (key, value) in fields {
            match &key.value {
                Yaml::Str(k) if allowed.contains(&k.as_str()) => found.push((k.as_str(), value)),
                Yaml::Str(k) => {
                    self.problem(
                        line(key),
                        format!(
                            "{id}: unknown field '{k}' in {what} (expected {})",
                            allowed.join(", ")
                        ),
                    );
                    *ok = false;
                }
                other => {
                    self.problem(
                        line(key),
                        format!("{id}: {what} has string keys, not {}", other.type_name()),
                    );
                    *ok = false;
                }
            }
        }
        Some(found)
    }

    fn lifecycle(&mut self, id: &str, node: &Node) -> Option<(bool, Restart)> {
        let mut auto_start = true;
        let mut restart = Restart::default();
        let mut ok = true;
        for (key, value) in self.keys(id, "lifecycle", node, &["auto_start", "restart"], &mut ok)? {
            match (key, &value.value) {
                ("auto_start", Yaml::Bool(b)) => auto_start = *b,
                ("auto_start", other) => {
                    self.problem(
                        line(value),
                        format!(
                            "{id}: lifecycle.auto_start must be a boolean, not {}",
                            other.type_name()
                        ),
                    );
                    ok = false;
                }
                _ => match self.restart(id, value) {
                    Some(r) => restart = r,
                    None => ok = false,
                },
            }
        }
        ok.then_some((auto_start, restart))
    }

    fn restart(&mut self, id: &str, node: &Node) -> Option<Restart> {
        let mut restart = Restart::default();
        let mut ok = true;
        let allowed = [
            "initial_delay",
            "max_delay",
            "backoff_factor",
            "max_attempts",
        ];
        for (key, value) in self.keys(id, "lifecycle.restart", node, &allowed, &mut ok)? {
            let valid = match (key, &value.value) {
                ("initial_delay" | "max_delay", v) => match duration(v) {
                    Some(d) if key == "initial_delay" => {
                        restart.initial_delay = d;
                        true
                    }
                    Some(d) => {
                        restart.max_delay = d;
                        true
                    }
                    None => false,
                },
                ("backoff_factor", Yaml::Int(n)) if *n >= 1 => {
                    restart.backoff_factor = *n as f64;
                    true
                }
                ("backoff_factor", Yaml::Float(f)) if f.is_finite() && *f >= 1.0 => {
                    restart.backoff_factor = *f;
                    true
                }
                ("max_attempts", Yaml::Int(n)) if *n >= 0 => {
                    restart.max_attempts = *n as u64;
                    true
                }
                _ => false,
            };
            if !valid {
                let expected = match key {
                    "backoff_factor" => "a number >= 1",
                    "max_attempts" => "an integer >= 0",
                    _ => {
                        "a duration such as \"500ms\" or \"2s\" (or whole milliseconds), not negative"
                    }
                };
                self.problem(
                    line(value),
                    format!("{id}: lifecycle.restart.{key} must be {expected}"),
                );
                ok = false;
            }
        }
        ok.then_some(restart)
    }

    fn service_security(
        &mut self,
        id: &str,
        node: &Node,
        references: &mut References,
    ) -> Option<ServiceSecurity> {
        let mut ok = true;
        let fields = self.keys(id, "security", node, &["actor", "policies"], &mut ok)?;
        let mut actor = None;
        let mut policies = None;
        for (key, value) in fields {
            if key == "actor" {
                actor = Some(value);
                continue;
            }
            match &value.value {
                Yaml::Seq(items) => {
                    let mut ids = Vec::with_capacity(items.len());
                    for item in items {
                        match &item.value {
                            Yaml::Str(p) if !p.is_empty() => {
                                let target = self.reference(p);
                                references.push((target.clone(), "security.policy", line(item)));
                                ids.push(target);
                            }
                            other => {
                                self.problem(
                                    line(item),
                                    format!("{id}: security.policies lists security.policy entries, not {}", other.type_name()),
                                );
                                ok = false;
                            }
                        }
                    }
                    policies = Some(ids);
                }
                other => {
                    self.problem(
                        line(value),
                        format!(
                            "{id}: security.policies must be a list, not {}",
                            other.type_name()
                        ),
                    );
                    ok = false;
                }
            }
        }
        let Some(actor) = actor else {
            self.problem(
                line(node),
                format!("{id}: security needs an actor with an id"),
            );
            return None;
        };
        let mut actor_id = None;
        let mut actor_meta = Value::Table(Vec::new());
        for (key, value) in self.keys(id, "security.actor", actor, &["id", "meta"], &mut ok)? {
            match (key, &value.value) {
                ("id", Yaml::Str(text)) if !text.is_empty() => actor_id = Some(text.clone()),
                ("meta", Yaml::Map(_) | Yaml::Null) => actor_meta = map_value(value),
                (_, other) => {
                    let expected = if key == "id" {
                        "a non-empty string"
                    } else {
                        "a map"
                    };
                    self.problem(
                        line(value),
                        format!(
                            "{id}: security.actor.{key} must be {expected}, not {}",
                            other.type_name()
                        ),
                    );
                    ok = false;
                }
            }
        }
        let Some(actor_id) = actor_id else {
            self.problem(line(actor), format!("{id}: security.actor needs an id"));
            return None;
        };
        ok.then_some(ServiceSecurity {
            actor_id,
            actor_meta,
            policies,
        })
    }
}

/// A duration field: a string such as `"500ms"`, or whole milliseconds; not negative.
fn duration(value: &Yaml) -> Option<Duration> {
    let parsed = match value {
        Yaml::Str(text) => crate::duration::Duration::parse(text).ok()?,
        Yaml::Int(ms) => crate::duration::Duration::from_millis(*ms as f64).ok()?,
        _ => return None,
    };
    (parsed.0 >= 0).then(|| parsed.to_std())
}

/// A map as a table (an empty table for null).
fn map_value(node: &Node) -> Value {
    match value_of(node) {
        Value::Nil => Value::Table(Vec::new()),
        value => value,
    }
}
