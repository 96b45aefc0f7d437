//! Unit and property tests of the decision (security.md §3) and the conditions (§2).

use std::sync::Arc;

use proptest::prelude::*;

use super::*;

fn rule(effect: Effect, actions: &[&str], resources: &[&str], conditions: Vec<Condition>) -> Rule {
    Rule {
        effect,
        actions: actions.iter().map(|a| Pattern::new(a.as_bytes())).collect(),
        resources: resources
            .iter()
            .map(|r| Pattern::new(r.as_bytes()))
            .collect(),
        conditions,
    }
}

fn policy(id: &str, rules: Vec<Rule>) -> Arc<Policy> {
    Arc::new(Policy {
        id: id.to_string(),
        rules,
    })
}

fn table(pairs: &[(&str, Value)]) -> Value {
    Value::Table(
        pairs
            .iter()
            .map(|(k, v)| (Value::string(k), v.clone()))
            .collect(),
    )
}

fn identity(meta: Value, policies: Vec<Arc<Policy>>) -> Identity {
    Identity {
        actor: Some(Arc::new(Actor {
            id: Bytes::new(b"user:ada"),
            meta,
        })),
        scope: Some(Arc::new(Scope::new(policies))),
    }
}

const PID: &[u8] = b"{app:processes|0x00010}";

fn can(identity: &Identity, action: &str, resource: &str) -> bool {
    decide(
        identity,
        false,
        action.as_bytes(),
        resource.as_bytes(),
        &Attributes::of_caller(PID),
    )
}

#[test]
fn without_actor_or_scope_everything_is_allowed_unless_strict() {
    let none = Identity::default();
    assert!(decide(
        &none,
        false,
        b"process.spawn",
        b"app:x",
        &Attributes::of_caller(PID)
    ));
    assert!(!decide(
        &none,
        true,
        b"process.spawn",
        b"app:x",
        &Attributes::of_caller(PID)
    ));
    let mut actor_only = identity(table(&[]), vec![]);
    actor_only.scope = None;
    assert!(can(&actor_only, "process.spawn", "app:x"));
    assert!(!actor_only.guarded(false) && actor_only.guarded(true));
}

#[test]
fn an_empty_scope_denies_everything_and_strict_changes_nothing_with_an_identity() {
    let empty = identity(table(&[]), vec![]);
    assert!(!can(&empty, "process.send", "{app:x|0x00001}"));
    let allow = identity(
        table(&[]),
        vec![policy(
            "app:all",
            vec![rule(Effect::Allow, &["*"], &["*"], vec![])],
        )],
    );
    assert!(decide(
        &allow,
        true,
        b"process.send",
        b"x",
        &Attributes::of_caller(PID)
    ));
}

#[test]
fn deny_overrides_allow_in_any_order_of_policies_and_rules() {
    let allow = policy(
        "app:allow",
        vec![rule(Effect::Allow, &["process.*"], &["*"], vec![])],
    );
    let deny = policy(
        "app:deny",
        vec![rule(
            Effect::Deny,
            &["process.terminate", "process.registry.unregister"],
            &["*"],
            vec![],
        )],
    );
    for policies in [vec![allow.clone(), deny.clone()], vec![deny, allow]] {
        let id = identity(table(&[]), policies);
        assert!(can(&id, "process.spawn", "app.jobs:report"));
        assert!(!can(&id, "process.terminate", "{app:processes|0x00010}"));
        assert!(!can(&id, "process.registry.unregister", "cache"));
        assert!(!can(&id, "other.thing", "x"), "no matching rule denies");
    }
}

#[test]
fn a_rule_needs_its_action_its_resource_and_every_condition() {
    let cond =
        |field: &str, op: &str, value: Option<Value>| Condition::new(field, op, value).unwrap();
    let rules = vec![rule(
        Effect::Allow,
        &["process.send"],
        &["{app:audit|*}"],
        vec![
            cond("actor.meta.role", "eq", Some(Value::string("operator"))),
            cond("actor.id", "glob", Some(Value::string("user:*"))),
        ],
    )];
    let operator = identity(
        table(&[("role", Value::string("operator"))]),
        vec![policy("app:p", rules.clone())],
    );
    assert!(can(&operator, "process.send", "{app:audit|0x00001}"));
    assert!(!can(&operator, "process.send", "{app:other|0x00001}"));
    assert!(!can(&operator, "process.spawn", "{app:audit|0x00001}"));
    let guest = identity(
        table(&[("role", Value::string("guest"))]),
        vec![policy("app:p", rules)],
    );
    assert!(!can(&guest, "process.send", "{app:audit|0x00001}"));
}

/// A condition as written: field, operator, value.
type Written<'a> = (&'a str, &'a str, Option<Value>);

fn holds(condition: Written<'_>, meta: Value, extra: &[(Bytes, Value)]) -> bool {
    let (field, op, value) = condition;
    let condition = Condition::new(field, op, value).unwrap();
    let actor = Actor {
        id: Bytes::new(b"user:ada"),
        meta,
    };
    condition.holds(&actor, &Attributes { pid: PID, extra })
}

#[test]
fn every_operator_compares_like_the_contract_says() {
    let meta = table(&[
        ("level", Value::Number(3.0)),
        ("team", Value::string("storage")),
        ("one", Value::string("1")),
        (
            "deep",
            table(&[("inner", table(&[("x", Value::Boolean(true))]))]),
        ),
        (
            "list",
            Value::Table(vec![(Value::Number(1.0), Value::string("first"))]),
        ),
        (
            "pair",
            table(&[("x", Value::Number(1.0)), ("y", Value::Number(2.0))]),
        ),
    ]);
    let num = |n: f64| Some(Value::Number(n));
    let s = |t: &str| Some(Value::string(t));
    let list = |items: &[Value]| {
        Some(Value::Table(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Number(i as f64 + 1.0), v.clone()))
                .collect(),
        ))
    };
    let cases: Vec<(Written<'_>, bool)> = vec![
        (("actor.meta.level", "eq", num(3.0)), true),
        (("actor.meta.level", "eq", s("3")), false),
        (("actor.meta.one", "eq", num(1.0)), false),
        (("actor.meta.one", "ne", num(1.0)), true),
        (("actor.meta.level", "lt", num(4.0)), true),
        (("actor.meta.level", "lte", num(3.0)), true),
        (("actor.meta.level", "gt", num(3.0)), false),
        (("actor.meta.level", "gte", num(3.0)), true),
        (("actor.meta.level", "lt", s("9")), false),
        (("actor.meta.team", "lt", s("t")), true),
        (("actor.meta.team", "gt", s("storagf")), false),
        (
            (
                "actor.meta.team",
                "in",
                list(&[Value::string("ops"), Value::string("storage")]),
            ),
            true,
        ),
        (
            ("actor.meta.team", "nin", list(&[Value::string("ops")])),
            true,
        ),
        (("actor.meta.team", "in", list(&[])), false),
        (("actor.meta.team", "glob", s("stor*")), true),
        (("actor.meta.level", "glob", s("*")), false),
        (
            ("actor.meta.deep.inner.x", "eq", Some(Value::Boolean(true))),
            true,
        ),
        (("actor.meta.list.1", "eq", s("first")), true),
        (("actor.meta.list.01", "eq", s("first")), false),
        (("actor.meta.list.+1", "eq", s("first")), false),
        (
            (
                "actor.meta.pair",
                "eq",
                Some(table(&[
                    ("y", Value::Number(2.0)),
                    ("x", Value::Number(1.0)),
                ])),
            ),
            true,
        ),
        (
            (
                "actor.meta.pair",
                "eq",
                Some(table(&[("x", Value::Number(1.0))])),
            ),
            false,
        ),
        (("actor.meta.team", "exists", None), true),
        (("actor.meta.team", "nexists", None), false),
        (("actor.id", "eq", s("user:ada")), true),
        (("attributes.pid", "eq", s("{app:processes|0x00010}")), true),
        (("attributes.pid", "glob", s("{app:processes|*}")), true),
        (("attributes.region", "eq", s("eu")), true),
    ];
    let extra = [(Bytes::new(b"region"), Value::string("eu"))];
    for (condition, expected) in cases {
        let shown = format!("{condition:?}");
        assert_eq!(holds(condition, meta.clone(), &extra), expected, "{shown}");
    }
}

#[test]
fn an_absent_field_fails_every_operator_except_nexists() {
    let meta = table(&[("team", Value::string("storage"))]);
    for op in ["eq", "ne", "lt", "lte", "gt", "gte", "glob"] {
        let condition = ("actor.meta.missing", op, Some(Value::string("x")));
        assert!(!holds(condition, meta.clone(), &[]), "{op}");
    }
    for op in ["in", "nin"] {
        let condition = ("actor.meta.team.deeper", op, Some(Value::Table(vec![])));
        assert!(!holds(condition, meta.clone(), &[]), "{op}");
    }
    assert!(!holds(
        ("attributes.nothing", "exists", None),
        meta.clone(),
        &[]
    ));
    assert!(holds(
        ("attributes.nothing", "nexists", None),
        meta.clone(),
        &[]
    ));
    assert!(holds(("actor.meta.missing", "nexists", None), meta, &[]));
}

#[test]
fn malformed_conditions_are_refused_with_a_reason() {
    let bad = [
        ("actor.name", "eq", Some(Value::string("x"))),
        ("actor.meta.", "eq", Some(Value::string("x"))),
        ("attributes.", "eq", Some(Value::string("x"))),
        ("actor.id", "like", Some(Value::string("x"))),
        ("actor.id", "eq", None),
        ("actor.id", "exists", Some(Value::string("x"))),
        ("actor.id", "lt", Some(Value::Boolean(true))),
        ("actor.id", "in", Some(Value::string("x"))),
        ("actor.id", "glob", Some(Value::Number(1.0))),
    ];
    for (field, op, value) in bad {
        assert!(
            Condition::new(field, op, value.clone()).is_err(),
            "{field} {op} {value:?}"
        );
    }
}

#[test]
fn scopes_keep_the_order_added_and_hold_each_policy_once() {
    let a = policy("app:a", vec![]);
    let b = policy("app:b", vec![]);
    let scope = Scope::new([a.clone(), b.clone(), a.clone()]);
    let ids: Vec<&str> = scope.policies().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["app:a", "app:b"]);
    assert!(scope.contains("app:b"));
    let without = scope.without("app:a");
    assert!(!without.contains("app:a") && without.contains("app:b"));
    assert_eq!(scope.with(b).policies().len(), 2);
}

fn arb_pattern() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ab.*?]{0,4}").unwrap()
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        any::<bool>(),
        proptest::collection::vec(arb_pattern(), 1..3),
        proptest::collection::vec(arb_pattern(), 1..3),
    )
        .prop_map(|(deny, actions, resources)| Rule {
            effect: if deny { Effect::Deny } else { Effect::Allow },
            actions: actions.iter().map(|a| Pattern::new(a.as_bytes())).collect(),
            resources: resources
                .iter()
                .map(|r| Pattern::new(r.as_bytes()))
                .collect(),
            conditions: Vec::new(),
        })
}

proptest! {
    #[test]
    fn random_policy_sets_never_allow_what_a_deny_rule_matches(
        policies in proptest::collection::vec(proptest::collection::vec(arb_rule(), 0..4), 0..4),
        action in "[ab.]{0,4}",
        resource in "[ab.]{0,4}",
    ) {
        let policies: Vec<Arc<Policy>> = policies
            .into_iter()
            .enumerate()
            .map(|(i, rules)| policy(&format!("app:p{i}"), rules))
            .collect();
        let id = identity(table(&[]), policies.clone());
        let actor = id.actor.clone().unwrap();
        let attributes = Attributes::of_caller(PID);
        let matching: Vec<&Rule> = policies
            .iter()
            .flat_map(|p| &p.rules)
            .filter(|r| r.matches(action.as_bytes(), resource.as_bytes(), &actor, &attributes))
            .collect();
        let allowed = can(&id, &action, &resource);
        if matching.iter().any(|r| r.effect == Effect::Deny) {
            prop_assert!(!allowed);
        } else {
            prop_assert_eq!(allowed, !matching.is_empty());
        }
    }
}

fn arb_permission_rule() -> impl Strategy<Value = Rule> {
    let actions = proptest::sample::select(vec![
        "*",
        "process.*",
        "process.spawn*",
        "process.send",
        "process.registry.*",
        "*.link",
        "process.?nlink",
        "other.*",
    ]);
    (
        any::<bool>(),
        proptest::collection::vec(actions, 1..3),
        proptest::collection::vec(arb_pattern(), 1..3),
    )
        .prop_map(|(deny, actions, resources)| Rule {
            effect: if deny { Effect::Deny } else { Effect::Allow },
            actions: actions.iter().map(|a| Pattern::new(a.as_bytes())).collect(),
            resources: resources
                .iter()
                .map(|r| Pattern::new(r.as_bytes()))
                .collect(),
            conditions: Vec::new(),
        })
}

proptest! {
    #[test]
    fn the_rules_a_scope_keeps_per_permission_decide_like_all_its_rules(
        policies in proptest::collection::vec(proptest::collection::vec(arb_permission_rule(), 0..4), 0..4),
        resource in "[ab.]{0,4}",
    ) {
        let policies: Vec<Arc<Policy>> = policies
            .into_iter()
            .enumerate()
            .map(|(i, rules)| policy(&format!("app:p{i}"), rules))
            .collect();
        let id = identity(table(&[]), policies.clone());
        let actor = id.actor.clone().unwrap();
        let attributes = Attributes::of_caller(PID);
        for permission in Permission::ALL {
            let action = permission.action().as_bytes();
            let matching: Vec<&Rule> = policies
                .iter()
                .flat_map(|p| &p.rules)
                .filter(|r| r.matches(action, resource.as_bytes(), &actor, &attributes))
                .collect();
            let expected = !matching.is_empty() && matching.iter().all(|r| r.effect == Effect::Allow);
            let got = decide_permission(&id, false, permission, resource.as_bytes(), &attributes);
            prop_assert_eq!(got, expected, "{:?}", permission);
        }
    }
}
