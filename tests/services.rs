//! `process.service` entries (app-format.md §2.3, §5): boot, restarts with backoff, give-up,
//! names, security, shutdown.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{app, moonweave};

/// The WARN/ERROR lines the service manager wrote, without their time stamps and PIDs.
fn service_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(" service app:"))
        .map(|l| {
            let level = if l.contains(" WARN ") {
                "WARN"
            } else {
                "ERROR"
            };
            let message = l.split_once(": service ").map_or(l, |(_, m)| m);
            format!("{level} service {message}")
        })
        .collect()
}

#[test]
fn services_boot_in_id_order_with_every_name_registered_before_any_runs() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - { name: a_first, kind: process.service, process: probe, host: processes, register_as: first, input: [a] }
  - { name: b_second, kind: process.service, process: probe, host: processes, register_as: second, input: [b] }
  - { name: c_dormant, kind: process.service, process: probe, host: processes, register_as: dormant, lifecycle: { auto_start: false } }
  - { name: probe, kind: process.lua, source: file://probe.lua }
"#,
        ),
        (
            "probe.lua",
            r##"return function(who)
                local seen = {}
                for _, name in {"first", "second", "dormant"} do
                    table.insert(seen, process.registry.lookup(name) and name or "-")
                end
                process.send("first", "report", `{who} sees {table.concat(seen, " ")}`)
                if who == "a" then
                    -- The first service collects both reports, then ends normally.
                    local inbox = process.inbox()
                    local lines = {}
                    for _ = 1, 2 do table.insert(lines, inbox:receive():payload()) end
                    table.sort(lines)
                    print(table.concat(lines, "\n"))
                    -- Spawned in order of entry id. PIDs are not ordered in general, but
                    -- the boot's spawns take the fresh table slots 1, 2, ... in turn, so here
                    -- a_first's PID is the smaller one (both have five hex digits).
                    print(process.pid() < process.registry.lookup("second"))
                    process.send("second", "done")
                else
                    process.inbox():receive()
                end
            end"##,
        ),
    ]);
    // Without an exec entry the services run until nothing is left; normal exits are not
    // restarted.
    let out = app.run(&[]);
    assert_eq!(
        out.ok(),
        "a sees first second -\nb sees first second -\ntrue\n",
        "{}",
        out.stderr
    );
    assert!(service_lines(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn a_failing_service_restarts_with_a_growing_delay_and_gives_up_after_max_attempts() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: flaky
    kind: process.service
    process: flaky_code
    host: processes
    register_as: flaky
    input: [7, { key: value }, null, [1, 2]]
    lifecycle:
      restart: { initial_delay: 50ms, max_delay: 200ms, backoff_factor: 2, max_attempts: 4 }
  - { name: flaky_code, kind: process.lua, source: file://flaky.lua, modules: [time] }
"#,
        ),
        (
            "flaky.lua",
            r##"local time = require("time")
            return function(n, map, none, list)
                print(time.now():unix_nano(), process.registry.lookup("flaky") == process.pid(),
                    n, map.key, none, #list)
                error("flaky fails")
            end"##,
        ),
    ]);
    let out = app.run(&[]);
    let stdout = out.ok();
    let runs: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(runs.len(), 5, "a first run and 4 restarts: {stdout}");
    for run in &runs {
        assert_eq!(&run[1..], ["true", "7", "value", "nil", "2"], "{stdout}");
    }
    // The waits between runs are at least the delays (lower bounds only: never a speed
    // threshold).
    let times: Vec<f64> = runs.iter().map(|r| r[0].parse().unwrap()).collect();
    for (gap, delay_ms) in times.windows(2).zip([50.0, 100.0, 200.0, 200.0]) {
        let waited_ms = (gap[1] - gap[0]) / 1e6;
        assert!(
            waited_ms >= delay_ms - 2.0,
            "waited {waited_ms} ms, delay {delay_ms} ms"
        );
    }
    // The command line names files from where it was run: the app's directory in front.
    let error = format!("[UNKNOWN] {}/flaky.lua:5: flaky fails", app.dir.display());
    assert_eq!(
        service_lines(&out.stderr),
        [
            format!("WARN service app:flaky failed (1 in a row), restarting in 50ms: {error}"),
            format!("WARN service app:flaky failed (2 in a row), restarting in 100ms: {error}"),
            format!("WARN service app:flaky failed (3 in a row), restarting in 200ms: {error}"),
            format!("WARN service app:flaky failed (4 in a row), restarting in 200ms: {error}"),
            format!(
                "ERROR service app:flaky gave up after 5 consecutive failures (max_attempts 4): {error}"
            ),
        ]
    );
}

#[test]
fn a_run_of_five_seconds_resets_the_count_of_failures() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: counter
    kind: process.service
    process: counter_code
    host: processes
    register_as: counter
  - name: worker
    kind: process.service
    process: worker_code
    host: processes
    lifecycle:
      restart: { initial_delay: 10ms, backoff_factor: 1, max_attempts: 2 }
  - { name: counter_code, kind: process.lua, source: file://counter.lua }
  - { name: worker_code, kind: process.lua, source: file://worker.lua, modules: [time] }
"#,
        ),
        (
            "counter.lua",
            r##"return function()
                local inbox, n = process.inbox(), 0
                while true do
                    local msg = inbox:receive()
                    if msg:topic() == "done" then return end
                    n += 1
                    process.send(msg:from(), "run", n)
                end
            end"##,
        ),
        (
            "worker.lua",
            r##"local time = require("time")
            return function()
                process.send("counter", "next")
                local run = process.inbox():receive():payload()
                -- Run 2 lasts 5 s: its failure counts as the first in a row again.
                if run == 2 then time.sleep("5100ms") end
                if run == 4 then process.send("counter", "done") end
                error(`run {run} fails`)
            end"##,
        ),
    ]);
    let out = app.run(&[]);
    out.ok();
    let counts: Vec<String> = service_lines(&out.stderr)
        .iter()
        .map(|l| {
            l.split(" (")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    // run 1: 1st; run 2 (5 s): reset, 1st; run 3: 2nd; run 4: 3rd > max_attempts 2: gives up.
    assert_eq!(
        counts,
        ["1 in a row", "1 in a row", "2 in a row", "max_attempts 2"],
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("gave up after 3 consecutive failures"),
        "{}",
        out.stderr
    );
}

/// Runs the app in `dir` with `args`, reads stderr until a line contains `until`, then sends
/// `signal` (`-INT`, `-TERM`) and returns the exit code, stdout and all of stderr.
fn run_until_logged(
    dir: &std::path::Path,
    args: &[&str],
    until: &str,
    signal: &str,
) -> (i32, String, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .arg("run")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("moonweave starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "moonweave ended before logging '{until}':\n{seen}");
        seen.push_str(&line);
        if line.contains(until) {
            break;
        }
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    seen.push_str(&rest);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        seen,
    )
}

#[test]
fn a_name_held_by_another_process_at_restart_counts_as_a_failure() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: svc
    kind: process.service
    process: svc_code
    host: processes
    register_as: shared_name
    lifecycle:
      restart: { initial_delay: 10ms, max_attempts: 1 }
  - { name: holder, kind: process.service, process: holder_code, host: processes, register_as: holder }
  - { name: svc_code, kind: process.lua, source: file://svc.lua }
  - { name: holder_code, kind: process.lua, source: file://holder.lua }
"#,
        ),
        (
            "svc.lua",
            r##"return function()
                -- Hand the service's own name to the holder, then fail: the restart finds it
                -- taken.
                assert(process.registry.unregister("shared_name"))
                process.send("holder", "take")
                process.inbox():receive()
                error("told to fail")
            end"##,
        ),
        (
            "holder.lua",
            r##"return function()
                local inbox = process.inbox()
                local msg = inbox:receive()
                assert(process.registry.register("shared_name"))
                process.send(msg:from(), "taken")
                inbox:receive()
            end"##,
        ),
    ]);
    let (code, _, stderr) = run_until_logged(&app.dir, &[], "gave up", "-TERM");
    assert_eq!(code, 143, "{stderr}");
    let lines = service_lines(&stderr);
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("WARN service app:svc failed (1 in a row)"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("ERROR service app:svc gave up after 2 consecutive failures")
            && lines[1].contains("[ALREADY_EXISTS]"),
        "{lines:?}"
    );
}

#[test]
fn a_signal_during_a_restart_delay_stops_the_app_without_restarting() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: svc
    kind: process.service
    process: svc_code
    host: processes
    lifecycle:
      restart: { initial_delay: 200ms }
  - { name: svc_code, kind: process.lua, source: file://svc.lua }
"#,
        ),
        (
            "svc.lua",
            r##"return function()
                print("run")
                error("fails")
            end"##,
        ),
    ]);
    let (code, stdout, stderr) = run_until_logged(&app.dir, &[], "restarting in 200ms", "-INT");
    assert_eq!(code, 130, "{stderr}");
    assert_eq!(stdout, "run\n", "{stderr}");
    assert_eq!(service_lines(&stderr).len(), 1, "{stderr}");
}

#[test]
fn a_service_runs_with_the_actor_and_scope_of_its_security_block() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: only_send
    kind: security.policy
    policy: { effect: allow, actions: process.send }
  - name: guarded
    kind: process.service
    process: probe
    host: processes
    input: [guarded]
    security:
      actor: { id: "svc:guarded", meta: { team: ops } }
      policies: [only_send]
  - name: locked
    kind: process.service
    process: probe
    host: processes
    input: [locked]
    security:
      actor: { id: "svc:locked" }
      policies: []
  - name: actor_only
    kind: process.service
    process: probe
    host: processes
    input: [actor_only]
    security: { actor: { id: "svc:actor-only" } }
  - { name: probe, kind: process.lua, source: file://probe.lua, modules: [security] }
  - { name: noop, kind: process.lua, source: file://noop.lua }
"#,
        ),
        ("noop.lua", "return function() end"),
        (
            "probe.lua",
            r##"local security = require("security")
            return function(who)
                local actor, scope = security.actor(), security.scope()
                local policies = scope and table.concat(scope:policies(), ",") or "no scope"
                local sent = process.send(process.pid(), "x") and "send ok" or "send denied"
                local spawned = process.spawn("app:noop", "app:processes") and "spawn ok" or "spawn denied"
                print(`{who}: {actor:id()} {actor:meta().team} [{policies}] {sent} {spawned}`)
            end"##,
        ),
    ]);
    let out = app.run(&["--workers", "1"]);
    let mut lines: Vec<&str> = out.ok().lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            // Actor only: no scope, so every check is allowed.
            "actor_only: svc:actor-only nil [no scope] send ok spawn ok",
            "guarded: svc:guarded ops [app:only_send] send ok spawn denied",
            "locked: svc:locked nil [] send denied spawn denied",
        ],
        "{}",
        out.stderr
    );
}

#[test]
fn list_shows_services_with_their_settings_and_check_reports_bad_fields() {
    let app = app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: svc
    kind: process.service
    process: code
    host: processes
    register_as: pool
    lifecycle:
      auto_start: false
      restart: { initial_delay: 500ms, max_delay: 10s, backoff_factor: 1.5, max_attempts: 5 }
    security: { actor: { id: a }, policies: [p] }
  - { name: p, kind: security.policy, policy: { effect: allow, actions: "*" } }
  - { name: code, kind: process.lua, source: file://code.lua }
"#,
        ),
        ("code.lua", "return function() end"),
    ]);
    let out = moonweave(&["list", app.dir.to_str().unwrap()]);
    assert!(
        out.ok().contains(
            "app:svc\tprocess.service\tprocess=app:code host=app:processes register_as=pool auto_start=false restart=500ms..10s x1.5 max_attempts=5 actor=a policies=[app:p]\n"
        ),
        "{}",
        out.stdout
    );
    // With auto_start false and no exec entry there is nothing to run.
    let out = app.run(&[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.starts_with("nothing to run"), "{}", out.stderr);
    assert!(out.stderr.contains("-x: app:code"), "{}", out.stderr);

    let bad = common::app(&[
        (
            "app.yaml",
            r#"namespace: app
entries:
  - name: no_process
    kind: process.service
    host: processes
  - name: wrong_kinds
    kind: process.service
    process: processes
    host: code
  - name: bad_fields
    kind: process.service
    process: code
    host: processes
    register_as: "{bad"
    input: { a: 1 }
    colour: blue
  - name: bad_lifecycle
    kind: process.service
    process: code
    host: processes
    lifecycle:
      auto_start: "yes"
      restart: { initial_delay: soon, backoff_factor: 0.5, max_attempts: -1, jitter: 1 }
  - name: bad_security
    kind: process.service
    process: code
    host: processes
    security: { actor: { meta: {} } }
  - name: missing_policy
    kind: process.service
    process: code
    host: processes
    security: { actor: { id: a }, policies: [missing] }
  - { name: twin_a, kind: process.service, process: code, host: processes, register_as: twin }
  - { name: twin_b, kind: process.service, process: code, host: processes, register_as: twin }
  - { name: code, kind: process.lua, source: file://code.lua }
"#,
        ),
        ("code.lua", "return function() end"),
    ]);
    let out = moonweave(&["check", bad.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    let file = bad.path("app.yaml");
    let file = file.display();
    for want in [
        format!("{file}:3: app:no_process: a process.service needs process (a process.lua entry)"),
        format!("{file}:8: 'app:processes' is a process.host, expected a process.lua"),
        format!("{file}:9: 'app:code' is a process.lua, expected a process.host"),
        format!("{file}:14: app:bad_fields: register_as must be a registry name"),
        format!("{file}:15: app:bad_fields: input must be a list, not a map"),
        format!("{file}:16: app:bad_fields: unknown field 'colour' for a process.service entry"),
        format!(
            "{file}:22: app:bad_lifecycle: lifecycle.auto_start must be a boolean, not a string"
        ),
        format!("{file}:23: app:bad_lifecycle: lifecycle.restart.initial_delay must be a duration"),
        format!(
            "{file}:23: app:bad_lifecycle: lifecycle.restart.backoff_factor must be a number >= 1"
        ),
        format!(
            "{file}:23: app:bad_lifecycle: lifecycle.restart.max_attempts must be an integer >= 0"
        ),
        format!("{file}:23: app:bad_lifecycle: unknown field 'jitter' in lifecycle.restart"),
        format!("{file}:28: app:bad_security: security.actor needs an id"),
        format!("{file}:33: reference to missing entry 'app:missing'"),
        format!("{file}:35: app:twin_b: register_as 'twin' is also the name of service app:twin_a"),
    ] {
        assert!(
            out.stderr.lines().any(|l| l.starts_with(&want)),
            "missing: {want}\n{}",
            out.stderr
        );
    }
}
