//! The command line: `run` exit codes and arguments, `check` and `list`, app loading errors.

mod common;

use common::{app, moonweave, moonweave_with_input, repo, run_main};

#[test]
fn integer_result_becomes_the_exit_code_modulo_256() {
    assert_eq!(run_main("return function() return 7 end", &[]).code, 7);
    assert_eq!(run_main("return function() return 300 end", &[]).code, 44);
    assert_eq!(run_main("return function() return -1 end", &[]).code, 255);
}

#[test]
fn non_integer_results_exit_zero() {
    for result in ["nil", "'done'", "1.5", "{a = 1}", "false"] {
        let out = run_main(&format!("return function() return {result} end"), &[]);
        assert_eq!(out.code, 0, "result {result}: {out:?}");
    }
}

#[test]
fn an_error_exit_prints_message_and_traceback_and_exits_one() {
    let out = run_main(
        "local function deep() error('it broke') end\nreturn function() deep() end\n",
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains("/main.lua:1: it broke\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("main.lua:1 function deep"),
        "no traceback: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("main.lua:2"),
        "no traceback: {}",
        out.stderr
    );
}

#[test]
fn returning_a_second_value_is_an_error_exit() {
    let out = run_main("return function() return nil, 'bad input' end", &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("error: bad input"), "{}", out.stderr);
}

#[test]
fn arguments_after_double_dash_reach_the_entry_as_strings() {
    let out = run_main(
        "return function(a, b, c) print(type(a), a, b, c) return 0 end",
        &["--", "1", "two"],
    );
    assert_eq!(out.ok(), "string\t1\ttwo\tnil\n");
}

#[test]
fn exec_flag_picks_the_entry_by_id_or_bare_name() {
    let app = app(&[
        ("main.lua", "return function() print('main') end"),
        ("other.lua", "return function() print('other') end"),
        ("sub/deep.lua", "return function() print('deep') end"),
    ]);
    assert_eq!(app.run(&[]).ok(), "main\n");
    assert_eq!(app.run(&["-x", "other"]).ok(), "other\n");
    assert_eq!(app.run(&["--exec", "app.sub:deep"]).ok(), "deep\n");
}

#[test]
fn unknown_exec_entry_exits_two() {
    let app = app(&[("main.lua", "return function() end")]);
    let out = app.run(&["-x", "app:nope"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no entry 'app:nope'"), "{}", out.stderr);
    let out = app.run(&["-x", "app:processes"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a process.lua entry"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_directory_of_one_file_runs_it_and_of_several_without_main_names_the_choices() {
    let one = app(&[("worker.lua", "return function() return 7 end")]);
    assert_eq!(one.run(&[]).code, 7);
    let two = app(&[
        ("worker.lua", "return function() end"),
        ("helper.lua", "return function() end"),
    ]);
    let out = two.run(&[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("nothing to run")
            && out
                .stderr
                .contains("choose an entry with -x: app:helper, app:worker"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_exec_entry_names_the_closest_and_the_entries_that_exist() {
    let app = app(&[
        ("main.lua", "return function() end"),
        ("pong.lua", "return function() end"),
    ]);
    let out = app.run(&["-x", "pongg"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "no entry 'app:pongg' to run (did you mean app:pong?); the process entries are: app:main, app:pong\n"
    );
    let out = app.run(&["-x", "zzzzzzzz"]);
    assert!(!out.stderr.contains("did you mean"), "{}", out.stderr);
}

#[test]
fn a_yaml_app_given_as_a_path_through_the_parent_directory_loads() {
    let app = app(&[
        (
            "base/app.yaml",
            "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://main.lua }\n",
        ),
        ("base/main.lua", "return function() return 5 end"),
        ("other/.keep", ""),
    ]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .args(["run", "../base"])
        .current_dir(app.path("other"))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_typo_in_a_top_level_yaml_key_is_a_load_error_with_its_line() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentires:\n  - { name: main, kind: process.lua, source: file://main.lua }\n",
        ),
        ("main.lua", "return function() end"),
    ]);
    let out = common::moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("app.yaml:2: unknown top-level key 'entires'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("needs 'entries'"), "{}", out.stderr);
}

#[test]
fn workers_flag_is_validated() {
    let app = app(&[("main.lua", "return function() return 3 end")]);
    assert_eq!(app.run(&["--workers", "1"]).code, 3);
    assert_eq!(app.run(&["--workers", "0"]).code, 2);
}

#[test]
fn list_prints_entries_sorted_with_the_default_host() {
    let app = app(&[
        ("main.lua", "return function() end"),
        ("b.lua", "return function() end"),
        ("lib/util.lua", "return {}"),
    ]);
    let out = moonweave(&["list", app.dir.to_str().unwrap()]);
    assert_eq!(
        out.ok(),
        "app.lib:util\tprocess.lua\napp:b\tprocess.lua\napp:main\tprocess.lua\napp:processes\tprocess.host\n"
    );
}

#[test]
fn single_file_mode_names_the_entry_after_the_file() {
    let app = app(&[("greet.lua", "return function() print(process.id()) end")]);
    let file = app.path("greet.lua");
    let out = moonweave(&["run", file.to_str().unwrap()]);
    assert_eq!(out.ok(), "app:greet\n");
}

const YAML_APP: &str = "\
namespace: app
entries:
  - name: main
    kind: process.lua
    source: file://main.lua
    modules: [time]
  - name: pool_host
    kind: process.host
    host: {workers: 1, mailbox_limit: 10, preemption_budget: 500}
    lifecycle: {auto_start: true}
";

#[test]
fn yaml_app_runs_its_main_entry_and_other_namespaces() {
    let app = app(&[
        ("app.yaml", YAML_APP),
        (
            "main.lua",
            "return function()\n  local pid = process.spawn('app.workers:square', 'app:pool_host', process.pid(), 12)\n  print(process.inbox():receive():payload())\n  return 0\nend\n",
        ),
        (
            "workers/workers.yaml",
            "namespace: app.workers\nentries:\n  - name: square\n    kind: process.lua\n    source: file://square.lua\n    method: run\n    meta: {owner: tests}\n",
        ),
        (
            "workers/square.lua",
            "local function run(parent, n) process.send(parent, 'result', n * n) end\nreturn {run = run}\n",
        ),
        ("notes.yaml", "just: some other yaml\n"),
    ]);
    assert_eq!(app.run(&[]).ok(), "144\n");
    let out = moonweave(&["list", app.dir.to_str().unwrap()]);
    assert_eq!(
        out.ok(),
        "app.workers:square\tprocess.lua\napp:main\tprocess.lua\napp:pool_host\tprocess.host\napp:processes\tprocess.host\n"
    );
    assert_eq!(
        moonweave(&["check", app.dir.to_str().unwrap()]).ok(),
        "ok: 4 entries\n"
    );
}

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://main.lua\n    colour: blue\n  - name: h\n    kind: process.hots\n  - name: w\n    kind: process.lua\n    source: file://w.lua\n    modules: [time, nope]\n",
        ),
        ("main.lua", "return function()\n  local x = \nend\n"),
        ("w.lua", "return function() end\n"),
        (
            "broken.yaml",
            "namespace: app.b\nentries:\n  - name: [unclosed\n",
        ),
    ]);
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    let yaml = app.path("app.yaml");
    let expect = [
        format!(
            "{}:6: app:main: unknown field 'colour' for a process.lua entry",
            yaml.display()
        ),
        format!(
            "{}:8: app:h: unknown entry kind 'process.hots'",
            yaml.display()
        ),
        format!("{}:12: app:w: unknown module 'nope'", yaml.display()),
    ];
    for line in &expect {
        assert!(
            out.stderr.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            out.stderr
        );
    }
    let broken = format!("{}:", app.path("broken.yaml").display());
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&broken) && l.contains("invalid YAML")),
        "{}",
        out.stderr
    );
}

#[test]
fn check_reports_lua_syntax_errors_with_file_and_line() {
    let app = app(&[
        ("main.lua", "return function()\n  local x = \nend\n"),
        ("other.lua", "return function()\n\n\n  if then end\nend\n"),
    ]);
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    let main = format!("{}:3: syntax error:", app.path("main.lua").display());
    let other = format!("{}:4: syntax error:", app.path("other.lua").display());
    assert!(
        out.stderr.lines().any(|l| l.starts_with(&main)),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.lines().any(|l| l.starts_with(&other)),
        "{}",
        out.stderr
    );
    // `run` refuses to start such an app.
    assert_eq!(app.run(&[]).code, 2);
}

#[test]
fn yaml_load_errors_cover_references_paths_and_duplicates() {
    let app = app(&[(
        "app.yaml",
        "namespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://../outside.lua\n  - name: a\n    kind: process.lua\n    source: file://missing.lua\n  - name: h\n    kind: process.host\n    host: {workers: 0, io: yes-please}\n  - name: h\n    kind: process.host\n",
    )]);
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    let yaml = app.path("app.yaml").display().to_string();
    for (line, text) in [
        (5, "leaves the app directory"),
        (8, "does not exist"),
        (11, "host.workers must be an integer from 1 to 1024"),
        (11, "host.io must be a boolean"),
    ] {
        let prefix = format!("{yaml}:{line}: ");
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(text)),
            "missing line {line} {text:?} in\n{}",
            out.stderr
        );
    }
    let out = moonweave(&["list", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
}

#[test]
fn duplicate_entry_ids_are_a_load_error() {
    let app = app(&[
        (
            "a.yaml",
            "namespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://main.lua\n",
        ),
        (
            "b.yaml",
            "namespace: app\nentries:\n  - {name: main, kind: process.host}\n",
        ),
        ("main.lua", "return function() end"),
    ]);
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("duplicate entry id 'app:main'"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(moonweave(&["check", "/no/such/app"]).code, 2);
    assert_eq!(moonweave(&["list", "/no/such/app"]).code, 2);
    assert_eq!(moonweave(&["frobnicate"]).code, 2);
    assert_eq!(moonweave(&["run", "/no/such/app.lua"]).code, 2);
}

#[test]
fn help_is_available_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["check", "--help"],
        vec!["list", "--help"],
    ] {
        let out = moonweave(&args);
        assert_eq!(out.code, 0);
        assert!(
            out.stdout.contains("Usage: moonweave"),
            "{args:?}: {}",
            out.stdout
        );
    }
    assert!(moonweave(&["--version"]).stdout.starts_with("moonweave "));
}

#[test]
fn examples_run_as_the_readme_says() {
    let hello = moonweave(&["run", &repo("examples/hello/hello.lua"), "--", "moon"]);
    assert!(
        hello
            .ok()
            .starts_with("hello, moon! I am app:hello at {app:processes|0x"),
        "{hello:?}"
    );
    let ping = moonweave(&["run", &repo("examples/ping_pong"), "--", "2"]);
    assert_eq!(ping.ok(), "pong 1 from pong\npong 2 from pong\n");
    let supervisor = moonweave(&["run", &repo("examples/supervisor")]);
    assert_eq!(
        supervisor.ok(),
        "worker 2 crashed and was replaced: true, workers 1 and 3 kept: true\nsum of squares 1..6 = 91\n"
    );
    assert!(
        supervisor
            .stderr
            .contains(r#"restarting child {"child":"w2""#),
        "{}",
        supervisor.stderr
    );
    let fanout = moonweave(&["run", &repo("examples/fanout")]);
    assert_eq!(
        fanout.ok(),
        "10000 workers answered, sum of squares = 333383335000\n"
    );
    let pipeline = moonweave(&["run", &repo("examples/pipeline"), "--", "1000", "8"]);
    assert_eq!(
        pipeline.ok(),
        "sum of squares 1..1000 = 333833500\n8 workers, the busiest did 125 jobs\n"
    );
    let sandbox = moonweave(&["run", &repo("examples/sandbox")]);
    let stdout = sandbox.ok().replace('\t', " ");
    // The audit process prints from another worker: its line may come anywhere.
    let (audit, lines): (Vec<&str>, Vec<&str>) =
        stdout.lines().partition(|l| l.starts_with("audit: "));
    assert_eq!(audit, ["audit: plugin started"], "{stdout}");
    assert_eq!(lines[0], "plugin: true 4 denied");
    assert!(
        lines[1].starts_with("bare plugin: true cannot reach audit: permission denied: process.send on {app:audit_host|"),
        "{stdout}"
    );
    assert_eq!(lines[2], "audit still running, events: 1");
    let denials = sandbox
        .stderr
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("denied"))
        .count();
    assert_eq!(denials, 4, "{}", sandbox.stderr);
}

#[test]
fn the_echo_example_upper_cases_stdin_until_an_empty_line() {
    let echo = repo("examples/echo");
    let out = moonweave_with_input(&["run", &echo], b"hello\nworld\n\nnot read\n");
    assert_eq!(out.ok(), "HELLO\nWORLD\n");
    let to_the_end = moonweave_with_input(&["run", &echo], b"last line without newline");
    assert_eq!(to_the_end.ok(), "LAST LINE WITHOUT NEWLINE\n");
}

#[test]
fn worker_counts_above_1024_are_refused_before_anything_starts() {
    let app = app(&[
        (
            "app.yaml",
            "namespace: app\nentries:\n  - {name: processes, kind: process.host, host: {workers: 100000000}}\n  - {name: main, kind: process.lua, source: file://main.lua}\n",
        ),
        ("main.lua", "return function() return 0 end"),
    ]);
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("host.workers must be an integer from 1 to 1024"),
        "{}",
        out.stderr
    );
    assert_eq!(app.run(&[]).code, 2);
    let plain = common::app(&[("main.lua", "return function() return 0 end")]);
    let out = plain.run(&["--workers", "100000"]);
    assert_eq!(out.code, 2, "--workers 100000 must be a usage error");
    assert!(out.stderr.contains("100000"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_walked_once_and_links_outside_the_app_are_refused() {
    let app = app(&[
        ("main.lua", "return function() return 7 end"),
        ("sub/util.lua", "return {}"),
    ]);
    std::os::unix::fs::symlink(&app.dir, app.path("sub/loop")).unwrap();
    std::os::unix::fs::symlink(&app.dir, app.path("again")).unwrap();
    // A loop is skipped, not walked forever: check and run finish.
    let out = moonweave(&["check", app.dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(app.run(&[]).code, 7);

    let outside = common::app(&[("secret.lua", "return function() return 'leaked' end")]);
    let linked = common::app(&[("main.lua", "return function() return 0 end")]);
    std::os::unix::fs::symlink(outside.path("secret.lua"), linked.path("secret.lua")).unwrap();
    let out = moonweave(&["check", linked.dir.to_str().unwrap()]);
    assert_eq!(
        out.code, 1,
        "a linked file outside the app was read: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("outside the app directory"),
        "{}",
        out.stderr
    );

    let yaml = common::app(&[(
        "app.yaml",
        "namespace: app\nentries:\n  - {name: main, kind: process.lua, source: file://link.lua}\n",
    )]);
    std::os::unix::fs::symlink(outside.path("secret.lua"), yaml.path("link.lua")).unwrap();
    let out = moonweave(&["check", yaml.dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("leads outside the app directory"),
        "{}",
        out.stderr
    );
    assert_eq!(yaml.run(&[]).code, 2);
}

#[test]
fn a_failure_a_live_monitor_hears_of_is_logged_at_debug_and_an_unheard_one_at_error() {
    let app = app(&[
        (
            "main.lua",
            r#"return function()
                process.spawn_monitored("app:crash", "app:processes", "heard")
                process.events():receive()
                -- unheard: nobody monitors or links it; main waits for it through the registry
                local pid = process.spawn("app:crash", "app:processes", "unheard")
                repeat coroutine.yield() until process.send(pid, "ping") == nil
            end"#,
        ),
        (
            "crash.lua",
            "return function(what) error(what .. ' crash') end",
        ),
    ]);
    let out = app.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains(": heard crash"), "{}", out.stderr);
    assert!(out.stderr.contains("ERROR"), "{}", out.stderr);
    assert!(out.stderr.contains("unheard crash"), "{}", out.stderr);
    let out = app.run(&["--log-level", "debug"]);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains(" DEBUG ") && l.contains("crash.lua:1: heard crash")),
        "{}",
        out.stderr
    );
}

#[test]
fn eval_prints_an_expressions_values_and_fails_with_exit_1_on_an_error() {
    let out = moonweave(&["eval", "1 + 2, {1, 2, a = 'x'}"]);
    assert_eq!(out.ok(), "3\t{1, 2, a = \"x\"}\n");
    let out = moonweave(&["eval", "error('nope')"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    // With an app: its entries can be spawned.
    let out = moonweave(&[
        "eval",
        "process.spawn('app:hello', 'app:processes') ~= nil",
        &repo("examples/hello"),
    ]);
    assert!(out.ok().ends_with("true\n"), "{}", out.stdout);
}

#[test]
fn the_shell_keeps_globals_between_inputs_and_goes_on_after_an_error() {
    let out = moonweave_with_input(
        &["shell"],
        b"x = 20\nerror('bad input')\nx * 2 + 2\nprocess.pid()\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("moonweave shell: Lua in process {app:processes|0x"));
    assert!(
        lines[1].starts_with("error: shell:1: bad input"),
        "{}",
        out.stdout
    );
    assert_eq!(lines[2], "42");
    assert!(
        lines[3].starts_with("\"{app:processes|0x"),
        "{}",
        out.stdout
    );
}

#[test]
fn run_dash_reads_the_program_from_standard_input() {
    let out = moonweave_with_input(
        &["run", "-", "--", "a"],
        b"return function(arg) print('stdin says', arg) return 3 end",
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stdout, "stdin says\ta\n");
    let out = moonweave_with_input(&["run", "-"], b"return function(");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("main.lua:1: syntax error"),
        "{}",
        out.stderr
    );
}

#[test]
fn printed_errors_name_files_from_where_the_command_runs_while_lua_sees_app_relative_names() {
    let app = app(&[(
        "inner/main.lua",
        "return function()\n    local ok, err = pcall(error, 'seen by Lua')\n    print(err)\n    local x = nil\n    return x.y\nend\n",
    )]);
    let run_in = |dir: &std::path::Path, path: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_moonweave"))
            .args(["run", path])
            .current_dir(dir)
            .output()
            .expect("runs")
    };
    let out = run_in(&app.dir, "inner");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: inner/main.lua:5: attempt to index nil"),
        "{stderr}"
    );
    assert!(stderr.contains("\ninner/main.lua:5"), "{stderr}");
    let out = run_in(&app.path("inner"), ".");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: main.lua:5: attempt to index nil"),
        "{stderr}"
    );
}

#[test]
fn load_syntax_errors_name_the_chunk_and_line_as_luau_does() {
    let out = run_main(
        r#"return function()
            print(select(2, load("x = ")))
            print(select(2, load("\n\nx = ", "=chunky")))
        end"#,
        &[],
    );
    assert_eq!(
        out.ok(),
        "[string \"x = \"]:1: Expected identifier when parsing expression, got <eof>\n\
         chunky:3: Expected identifier when parsing expression, got <eof>\n"
    );
}

#[test]
fn stats_prints_the_runtimes_counters_when_the_app_exits() {
    let out = moonweave(&[
        "run",
        &repo("examples/ping_pong"),
        "--workers",
        "2",
        "--stats",
        "--",
        "5",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let counters = out
        .stderr
        .lines()
        .find(|l| l.starts_with("processes: "))
        .unwrap_or_else(|| panic!("no counters: {}", out.stderr));
    // main and pong were spawned; 5 pings, 5 pongs and a stop were sent.
    assert!(counters.contains(" 2 spawned"), "{counters}");
    assert!(counters.contains("messages: 11"), "{counters}");
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.starts_with("app:processes "))
            .count(),
        2,
        "{}",
        out.stderr
    );
}

#[test]
fn eval_survives_a_shell_process_that_dies_a_result_it_cannot_show_and_a_spoofed_answer() {
    let out = moonweave(&["eval", "process.terminate(process.pid())"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("error: the shell process exited: [CANCELED] terminated"),
        "{}",
        out.stderr
    );
    let out = moonweave(&[
        "eval",
        "error(setmetatable({}, {__tostring = function() error('boom') end}))",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = moonweave(&[
        "eval",
        "setmetatable({}, {__index = function() error('idx') end, __len = function() return 3 end})",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot show the result"),
        "{}",
        out.stderr
    );
    // Code answering in the shell's place is not taken for the answer (ids are random).
    let out = moonweave(&[
        "eval",
        "process.send('{app:processes|0x00001}', 'result', {ok = true, text = 'FAKE', id = 1}) return 'real'",
    ]);
    assert_eq!(out.ok(), "\"real\"\n");
}

#[test]
fn the_shell_starts_a_new_shell_process_when_a_linked_child_kills_it() {
    let app = app(&[
        ("main.lua", "return function() end"),
        ("crash.lua", "return function() error('child failed') end"),
    ]);
    let out = moonweave_with_input(
        &["shell", app.dir.to_str().unwrap()],
        b"x = 1\nprocess.spawn_linked('app:crash', 'app:processes') process.inbox():receive()\n1 + 1\nx\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[1].starts_with("error: the shell process exited"),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("(a new shell process: {app:processes|0x"),
        "{}",
        out.stdout
    );
    // The new process has fresh globals.
    assert_eq!(&lines[3..], ["2", "nil"], "{}", out.stdout);
}

#[test]
fn run_dash_takes_bytes_and_refuses_an_empty_program() {
    let mut source = b"return function() print(#\"".to_vec();
    source.push(0xff);
    source.extend_from_slice(b"\") return 0 end");
    let out = moonweave_with_input(&["run", "-"], &source);
    assert_eq!(out.ok(), "1\n");
    let out = moonweave_with_input(&["run", "-"], b"\n\n");
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr, "no program on standard input\n");
}

#[test]
fn only_source_positions_get_the_app_path_not_user_text() {
    let app = app(&[(
        "d/main.lua",
        "return function()\n    require('logger'):info('user said: main.lua:1: is fine', {file = 'main.lua:1'})\n    error('see main.lua:1: for details', 0)\nend\n",
    )]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .args(["run", "d"])
        .current_dir(&app.dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("user said: main.lua:1: is fine {\"file\":\"main.lua:1\"}"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: see main.lua:1: for details"),
        "{stderr}"
    );
}

#[test]
fn eval_with_an_unwritable_stdout_does_not_panic() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // no /dev/full on this system
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moonweave"))
        .args(["eval", "string.rep('x', 100000)"])
        .stdout(full)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_failure_that_kills_a_non_trapping_linked_process_keeps_its_cause_at_error() {
    let out = run_main(
        r#"return function(role)
            if role == "worker" then error("the root cause") end
            process.set_options({trap_links = false})
            local w = process.spawn_linked("app:main", "app:processes", "worker")
            process.inbox():receive()
        end"#,
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains(" ERROR ") && l.contains("the root cause")),
        "{}",
        out.stderr
    );
}
