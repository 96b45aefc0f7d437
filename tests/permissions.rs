//! Permissions (security.md): every check allowed and denied with no effect when denied,
//! inheritance, strict mode, `security.can` and the `security` module's objects.

mod common;

use common::{app, moonweave};

#[test]
fn every_permission_is_allowed_by_an_allow_rule_and_a_denied_operation_has_no_effect() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/permissions");
    let out = moonweave(&["run", dir, "--workers", "1"]);
    // After `|`: what main observed of the operation's effect (a child occupying host app:one,
    // a message or event that arrived, a name held). A denied send leaves the probe count
    // where the allowed one put it.
    let expected = "\
spawn allowed: ok <pid> | one full
spawn denied: denied PERMISSION_DENIED permission denied: process.spawn on app:idle | one free
spawn.monitored allowed: ok <pid> | one full
spawn.monitored denied: denied PERMISSION_DENIED permission denied: process.spawn.monitored on app:idle | one free
spawn.linked allowed: ok <pid> | one full
spawn.linked denied: denied PERMISSION_DENIED permission denied: process.spawn.linked on app:idle | one free
host allowed: ok <pid> | one full
host denied: denied PERMISSION_DENIED permission denied: process.host on app:one | one free
order allowed: ok <pid> | one full
order denied: denied PERMISSION_DENIED permission denied: process.spawn.monitored on app:idle | one free
call allowed: ok 42 | answered
call denied: denied PERMISSION_DENIED permission denied: process.call on app:answer | none
send allowed: ok true | probes 1
send denied: denied PERMISSION_DENIED permission denied: process.send on <pid> | probes 1
terminate allowed: ok true | terminated
terminate denied: denied PERMISSION_DENIED permission denied: process.terminate on <pid> | alive
cancel allowed: ok true | target saw pid.cancel
cancel denied: denied PERMISSION_DENIED permission denied: process.cancel on <pid> | target saw none
monitor allowed: ok true | pid.exit
monitor denied: denied PERMISSION_DENIED permission denied: process.monitor on <pid> | none
unmonitor allowed: ok true | none
unmonitor denied: denied PERMISSION_DENIED permission denied: process.unmonitor on <pid> | pid.exit
link allowed: ok true | pid.link.down
link denied: denied PERMISSION_DENIED permission denied: process.link on <pid> | none
unlink allowed: ok true | none
unlink denied: denied PERMISSION_DENIED permission denied: process.unlink on <pid> | pid.link.down
context allowed: ok
context denied: raised PERMISSION_DENIED permission denied: process.context on context
security (actor) allowed: ok
security (actor) denied: raised PERMISSION_DENIED permission denied: process.security on security
security (scope) allowed: ok
security (scope) denied: raised PERMISSION_DENIED permission denied: process.security on security
register allowed: ok true | mine
register denied: denied PERMISSION_DENIED permission denied: process.registry.register on probe_name | free
with_name allowed: ok <pid> | taken | one full
with_name denied: denied PERMISSION_DENIED permission denied: process.registry.register on named | free | one free
unregister allowed: ok true | free
unregister denied: denied PERMISSION_DENIED permission denied: process.registry.unregister on held_name | still held
";
    let stdout = out.ok();
    for (got, want) in stdout.lines().zip(expected.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(stdout.lines().count(), expected.lines().count(), "{stdout}");
}

/// An app with `policies` (YAML entries), a main entry and more files.
fn security_app(policies: &str, files: &[(&str, &str)]) -> common::TestApp {
    let yaml = format!(
        "namespace: app\nentries:\n  - {{ name: main, kind: process.lua, source: file://main.lua, modules: [security] }}\n  - {{ name: child, kind: process.lua, source: file://child.lua, modules: [security] }}\n{policies}"
    );
    let mut all = vec![("app.yaml", yaml.as_str())];
    all.extend_from_slice(files);
    app(&all)
}

#[test]
fn children_and_grandchildren_inherit_the_actor_and_scope_and_an_upgrade_keeps_them() {
    let app = security_app(
        "  - { name: all, kind: security.policy, policy: { effect: allow, actions: \"*\" } }\n",
        &[
            (
                "main.lua",
                r##"local security = require("security")
                return function()
                    print(security.actor(), security.scope())
                    local actor = assert(security.new_actor("svc:worker", {team = "ops"}))
                    local scope = assert(security.new_scope({"app:all"}))
                    local b = process.with_context({}):with_actor(actor):with_scope(scope)
                    assert(b:spawn("app:child", "app:processes", process.pid(), 2))
                    for _ = 1, 4 do
                        print(process.inbox():receive():payload())
                    end
                end"##,
            ),
            (
                "child.lua",
                r##"local security = require("security")
                return function(main, depth, upgraded)
                    local a, s = security.actor(), security.scope()
                    local policies = table.concat(s:policies(), ",")
                    process.send(main, "me", `{depth} {a:id()} {a:meta().team} {policies}{upgraded and " upgraded" or ""}`)
                    if depth > 0 and not upgraded then
                        assert(process.spawn("app:child", "app:processes", main, depth - 1))
                    end
                    if depth == 2 and not upgraded then
                        process.upgrade(nil, main, depth, true)
                    end
                end"##,
            ),
        ],
    );
    let out = app.run(&["--workers", "1"]);
    let stdout = out.ok();
    let mut lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.remove(0), "nil\tnil", "the exec entry has neither");
    lines.sort();
    assert_eq!(
        lines,
        [
            "0 svc:worker ops app:all",
            "1 svc:worker ops app:all",
            "2 svc:worker ops app:all",
            "2 svc:worker ops app:all upgraded",
        ]
    );
}

#[test]
fn strict_mode_denies_processes_without_an_actor_or_a_scope() {
    let app = security_app(
        "  - { name: locked, kind: process.host, host: { strict: true } }\n  - { name: all, kind: security.policy, policy: { effect: allow, actions: \"*\" } }\n",
        &[
            (
                "main.lua",
                r##"local security = require("security")
                return function(mode)
                    if mode == "flag" then
                        -- --strict: the exec entry itself has no identity.
                        local pid, err = process.spawn("app:child", "app:processes")
                        print(pid, err:kind(), err:message())
                        return
                    end
                    local events = process.events()
                    -- Without identity on the strict host: denied.
                    local bare = assert(process.spawn_monitored("app:child", "app:locked", process.pid()))
                    print(events:receive().result.value)
                    -- With both: the scope decides, strict or not.
                    local b = process.with_context({})
                        :with_actor(assert(security.new_actor("a")))
                        :with_scope(assert(security.new_scope({"app:all"})))
                    assert(b:spawn_monitored("app:child", "app:locked", process.pid()))
                    print(events:receive().result.value)
                    -- An actor alone is not enough on a strict host.
                    local actor_only = process.with_context({}):with_actor(assert(security.new_actor("a")))
                    assert(actor_only:spawn_monitored("app:child", "app:locked", process.pid()))
                    print(events:receive().result.value)
                end"##,
            ),
            (
                "child.lua",
                r##"return function(main)
                    local ok, err = process.send(main, "hello")
                    return ok and "sent" or `{err:kind()} {err:message():gsub("{[^}]*}", "<pid>")}`
                end"##,
            ),
        ],
    );
    let out = app.run(&["--workers", "1"]);
    assert_eq!(
        out.ok(),
        "PERMISSION_DENIED permission denied: process.send on <pid>\nsent\nPERMISSION_DENIED permission denied: process.send on <pid>\n"
    );
    let out = app.run(&["--strict", "--", "flag"]);
    assert_eq!(
        out.ok(),
        "nil\tPERMISSION_DENIED\tpermission denied: process.spawn on app:child\n"
    );
}

#[test]
fn security_can_applies_deny_overrides_conditions_and_the_callers_pid() {
    let app = security_app(
        r#"  - name: operator_tools
    kind: security.policy
    rules:
      - effect: allow
        actions: "process.*"
        resources: "*"
        conditions: [{field: actor.meta.role, operator: eq, value: operator}]
      - effect: deny
        actions: [process.terminate, process.registry.unregister]
        resources: "*"
  - name: by_attributes
    kind: security.policy
    rules:
      - effect: allow
        actions: "report.*"
        conditions:
          - {field: attributes.region, operator: in, value: [eu, us]}
          - {field: attributes.pid, operator: glob, value: "{app:processes|*}"}
          - {field: actor.meta.level, operator: gte, value: 2}
"#,
        &[
            (
                "main.lua",
                r##"local security = require("security")
                return function()
                    print(security.can("process.spawn", "anything"))
                    local scope = assert(security.new_scope({"app:operator_tools", "app:by_attributes"}))
                    for _, role in {"operator", "guest"} do
                        local actor = assert(security.new_actor("u", {role = role, level = 2}))
                        local b = process.with_context({}):with_actor(actor):with_scope(scope)
                        -- The child reports by its exit value: a guest may not even send.
                        assert(b:spawn_monitored("app:child", "app:processes"))
                        print(process.events():receive().result.value)
                    end
                end"##,
            ),
            (
                "child.lua",
                r##"local security = require("security")
                return function()
                    local results = {
                        security.can("process.spawn", "app.jobs:report"),
                        security.can("process.terminate", "{app:processes|0x00010}"),
                        security.can("report.read", "r", {region = "eu"}),
                        security.can("report.read", "r", {region = "asia"}),
                        security.can("report.read", "r", {region = "eu", pid = "{other:host|0x00001}"}),
                        security.can("report.read", "r"),
                    }
                    local shown = {}
                    for i, r in results do shown[i] = tostring(r) end
                    return table.concat(shown, " ")
                end"##,
            ),
        ],
    );
    let out = app.run(&["--workers", "1"]);
    assert_eq!(
        out.ok(),
        "true\ntrue false true false true false\nfalse false true false true false\n"
    );
}

#[test]
fn actors_and_scopes_validate_their_arguments_and_cannot_be_sent() {
    let app = security_app(
        "  - { name: all, kind: security.policy, policy: { effect: allow, actions: \"*\" } }\n  - { name: other, kind: security.policy, rules: [{ effect: deny, actions: x }] }\n",
        &[
            (
                "main.lua",
                r##"local security = require("security")
                local function show(v, e)
                    if e then return `{e:kind()}: {e:message()}` end
                    return tostring(v)
                end
                return function()
                    print(show(security.new_actor("")))
                    print(show(security.new_actor(5)))
                    print(show(security.new_actor("a", "meta")))
                    print(show(security.new_actor("a", {f = function() end})))
                    print(show(security.new_scope({"app:nope"})))
                    print(show(security.new_scope({"app:main"})))
                    print(show(security.new_scope({42})))
                    print(show(security.new_scope("app:all")))
                    local actor = assert(security.new_actor("a", {nested = {x = 1}}))
                    local meta = actor:meta()
                    meta.nested.x = 2
                    print(actor:id(), actor:meta().nested.x, typeof(actor), tostring(actor))
                    local scope = assert(security.new_scope({"app:all", "app:all"}))
                    print(table.concat(scope:policies(), ","), scope:contains("app:all"), scope:contains("app:other"))
                    local wider = assert(scope:with("app:other"))
                    print(table.concat(wider:policies(), ","), table.concat(scope:policies(), ","))
                    print(table.concat(wider:without("app:all"):policies(), ","))
                    print(show(scope:with("app:nope")))
                    print(show(process.send(process.pid(), "t", actor)))
                    print(show(process.send(process.pid(), "t", {scope})))
                    print(show(security.can("x")))
                    print(show(security.can("x", "y", "attrs")))
                    local ok, e = pcall(function() return process.with_context({}):with_actor("not an actor") end)
                    print(ok, e:kind())
                    ok, e = pcall(function() return process.with_context({}):with_scope(actor) end)
                    print(ok, e:kind(), e:message())
                end"##,
            ),
            ("child.lua", "return function() end"),
        ],
    );
    let out = app.run(&["--workers", "1"]);
    let stdout = out.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "INVALID: new_actor: id must be a non-empty string"
    );
    assert_eq!(
        lines[1],
        "INVALID: new_actor: id must be a non-empty string"
    );
    assert_eq!(
        lines[2],
        "INVALID: new_actor: meta must be a table, got string"
    );
    assert!(
        lines[3].starts_with("INVALID: new_actor: meta:"),
        "{stdout}"
    );
    assert_eq!(
        lines[4],
        "NOT_FOUND: new_scope: no security.policy entry 'app:nope'"
    );
    assert_eq!(
        lines[5],
        "INVALID: new_scope: 'app:main' is a process.lua, not a security.policy entry"
    );
    assert!(
        lines[6].starts_with("INVALID: new_scope: a policy id"),
        "{stdout}"
    );
    assert_eq!(
        lines[7],
        "INVALID: new_scope: policy ids must be a list, got string"
    );
    assert_eq!(lines[8], "a\t1\tActor\tActor(a)");
    assert_eq!(lines[9], "app:all\ttrue\tfalse");
    assert_eq!(lines[10], "app:all,app:other\tapp:all");
    assert_eq!(lines[11], "app:other");
    assert_eq!(
        lines[12],
        "NOT_FOUND: Scope:with: no security.policy entry 'app:nope'"
    );
    assert!(lines[13].starts_with("INVALID: "), "{stdout}");
    assert!(lines[14].starts_with("INVALID: "), "{stdout}");
    assert_eq!(
        lines[15],
        "INVALID: can: action and resource must be strings"
    );
    assert_eq!(lines[16], "INVALID: can: attrs must be a table, got string");
    assert_eq!(lines[17], "false\tINVALID");
    assert_eq!(
        lines[18],
        "false\tINVALID\twith_scope: expected a Scope, got Actor"
    );
}

#[test]
fn check_reports_every_malformed_policy_with_its_file_and_line() {
    let app = app(&[(
        "app.yaml",
        r#"namespace: app
entries:
  - name: bad_effect
    kind: security.policy
    policy: { effect: permit, actions: "*" }
  - name: empty_actions
    kind: security.policy
    rules:
      - effect: allow
        actions: []
  - name: bad_operator
    kind: security.policy
    rules:
      - effect: deny
        actions: process.send
        conditions:
          - { field: actor.id, operator: like, value: x }
  - name: both
    kind: security.policy
    rules: [{ effect: allow, actions: x }]
    policy: { effect: allow, actions: x }
  - name: unknown_key
    kind: security.policy
    policy: { effect: allow, actions: x, scope: y }
  - name: bad_field
    kind: security.policy
    policy:
      effect: allow
      actions: x
      conditions: [{ field: actor.name, operator: eq, value: x }]
  - name: no_rules
    kind: security.policy
  - name: good
    kind: security.policy
    rules:
      - { effect: allow, actions: [a, b], resources: "{app:x|*}" }
      - { effect: deny, actions: c, conditions: [{ field: attributes.pid, operator: exists }] }
"#,
    )]);
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let file = app.path("app.yaml");
    let file = file.display();
    let expected = [
        format!("{file}:5: app:bad_effect: effect must be allow or deny, not 'permit'"),
        format!("{file}:10: app:empty_actions: actions must not be empty"),
        format!("{file}:17: app:bad_operator: unknown condition operator 'like'"),
        format!("{file}:21: app:both: a security.policy has rules or policy, not both"),
        format!("{file}:24: app:unknown_key: unknown rule field 'scope'"),
        format!("{file}:30: app:bad_field: unknown condition field 'actor.name'"),
        format!(
            "{file}:31: app:no_rules: a security.policy needs rules (a list) or policy (one rule)"
        ),
    ];
    for want in &expected {
        assert!(
            out.stderr
                .lines()
                .any(|line| line.starts_with(want.as_str())),
            "missing: {want}\nstderr:\n{}",
            out.stderr
        );
    }
    assert_eq!(out.stderr.lines().count(), expected.len(), "{}", out.stderr);
}

#[test]
fn a_denied_unlink_cannot_be_dodged_by_writing_another_host_into_the_pid() {
    let app = security_app(
        r#"  - name: keep_parent_link
    kind: security.policy
    rules:
      - { effect: allow, actions: "*" }
      - { effect: deny, actions: [process.unlink, process.unmonitor], resources: "{app:processes|*}" }
"#,
        &[
            (
                "main.lua",
                r##"local security = require("security")
                return function()
                    process.set_options({trap_links = true})
                    local me = process.pid()
                    local serial = string.match(me, "|(0x%x+)}")
                    local b = process.with_context({})
                        :with_actor(assert(security.new_actor("plugin")))
                        :with_scope(assert(security.new_scope({"app:keep_parent_link"})))
                    assert(b:spawn_linked("app:child", "app:processes", me, serial))
                    print(process.events():receive().kind)
                end"##,
            ),
            (
                "child.lua",
                r##"return function(parent, serial)
                    local _, err = process.unlink(parent)
                    print(err:kind())
                    -- The same serial on another host names no process: nothing to unlink.
                    print(process.unlink("{app:nohost|" .. serial .. "}"))
                    print(process.unlink("{other:host|" .. serial .. "}"))
                    error("child fails")
                end"##,
            ),
        ],
    );
    let out = app.run(&["--workers", "1"]);
    assert_eq!(out.ok(), "PERMISSION_DENIED\ntrue\ntrue\npid.link.down\n");
}

#[test]
fn policy_values_are_yaml_1_2_and_formats_are_checked_before_permissions() {
    let app = security_app(
        r#"  - name: p
    kind: security.policy
    rules:
      - { effect: allow, actions: "*" }
      - { effect: deny, actions: country.check, conditions: [{ field: actor.meta.country, operator: eq, value: NO }] }
      - { effect: deny, actions: map.check, conditions: [{ field: actor.meta.t, operator: eq, value: { x: 1, y: 2 } }] }
      - { effect: deny, actions: [process.registry.register] }
"#,
        &[
            (
                "main.lua",
                r##"local security = require("security")
                return function()
                    local actor = assert(security.new_actor("u", {country = "NO", t = {y = 2, x = 1}}))
                    local b = process.with_context({})
                        :with_actor(actor)
                        :with_scope(assert(security.new_scope({"app:p"})))
                    assert(b:spawn_monitored("app:child", "app:processes"))
                    print(process.events():receive().result.value)
                    print(select(2, security.new_scope({key = "app:p"})):message())
                end"##,
            ),
            (
                "child.lua",
                r##"local security = require("security")
                return function()
                    local kinds = {}
                    for _, pid in {"zz", "{app:processes|0xfffff}", process.pid()} do
                        local _, err = process.registry.register("n", pid)
                        table.insert(kinds, err:kind())
                    end
                    return `{security.can("country.check", "r")} {security.can("map.check", "r")} {table.concat(kinds, " ")}`
                end"##,
            ),
        ],
    );
    let out = app.run(&["--workers", "1"]);
    assert_eq!(
        out.ok(),
        "false false INVALID NOT_FOUND PERMISSION_DENIED\nnew_scope: policy ids must be a list\n"
    );
}
