//! The six workloads of the moonweave benchmark, run through the real runtime.
//!
//! `cargo bench --bench workloads` runs each Lua app in `benches/apps/` once per round (three
//! rounds, best kept) and prints a Markdown table next to Erlang/OTP 25 figures measured on the
//! same 2-core machine (benches/compare.sh, 2026-12-01; compare.sh measures them again beside
//! moonweave) and the project's targets, then the cost breakdown of the message path.
//! `cargo bench --bench workloads -- ring` runs only the workloads whose name contains `ring`.
//! `benches/compare.sh` runs each workload in a fresh process next to Erlang/OTP.

mod common;

use common::rss_kb;
use std::path::Path;
use std::time::{Duration, Instant};

use moonweave::{Runtime, Value};

const ROUNDS: usize = 3;

struct Workload {
    name: &'static str,
    /// What the number means.
    unit: &'static str,
    erlang: &'static str,
    target: &'static str,
    /// Lower is better?
    lower_is_better: bool,
    measure: fn(&Runtime) -> f64,
}

/// Starts the app of workload `name`: `cpu_*` share the cpu app, `*_1w` run on one worker.
fn start(name: &str) -> Runtime {
    let (app, workers) = match name.strip_suffix("_1w") {
        Some(app) => (app, Some(1)),
        None => (name, None),
    };
    let app = match app {
        "cpu_native" => "cpu_native",
        _ => app.strip_prefix("cpu_").map_or(app, |_| "cpu"),
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/apps")
        .join(app);
    let mut builder = Runtime::builder().app_path(&path);
    if let Some(n) = workers {
        builder = builder.workers(n);
    }
    builder
        .build()
        .unwrap_or_else(|e| panic!("{app}: {}", e.message))
}

fn run_main(runtime: &Runtime) -> Duration {
    let started = Instant::now();
    match runtime.handle().run("app:main", ()) {
        Ok(_) => started.elapsed(),
        other => panic!("benchmark main failed: {other:?}"),
    }
}

fn spawn(runtime: &Runtime) -> f64 {
    let started = Instant::now();
    run_main(runtime);
    // Wait until every child has exited: part of the workload.
    while runtime.handle().stats().live > 0 {
        std::thread::sleep(Duration::from_micros(200));
    }
    1_000_000.0 / started.elapsed().as_secs_f64() / 1e6
}

fn skynet(runtime: &Runtime) -> f64 {
    run_main(runtime).as_secs_f64()
}

fn ring(runtime: &Runtime) -> f64 {
    10_000_000.0 / run_main(runtime).as_secs_f64() / 1e6
}

fn ping_pong(runtime: &Runtime) -> f64 {
    run_main(runtime).as_secs_f64() * 1e9 / 1_000_000.0
}

fn fan_in(runtime: &Runtime) -> f64 {
    1_000_000.0 / run_main(runtime).as_secs_f64() / 1e6
}

fn idle(runtime: &Runtime) -> f64 {
    let before = rss_kb();
    run_main(runtime);
    (rss_kb() - before) / 100_000.0
}

fn cpu_chunk() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/apps/cpu/main.lua"))
        .expect("cpu app")
}

/// Seconds the cpu app's function takes in a plain mlua Luau VM, optionally with moonweave's
/// preemption interrupt installed (budget: the default 10,000 checks).
fn plain_vm_seconds(with_interrupt: bool) -> f64 {
    let lua = mlua::Lua::new();
    // Bytecode, as moonweave runs code unless a host or a file asks for native code.
    lua.enable_jit(false);
    if with_interrupt {
        moonweave::__bench::install_preemption(&lua, 10_000).expect("interrupt");
    }
    let main: mlua::Function = lua.load(cpu_chunk()).eval().expect("compiles");
    let started = Instant::now();
    main.call::<()>(()).expect("runs");
    started.elapsed().as_secs_f64()
}

/// Cost of preemption alone, in percent: the same VM and loop with and without the interrupt.
fn preemption(_: &Runtime) -> f64 {
    (plain_vm_seconds(true) / plain_vm_seconds(false) - 1.0) * 100.0
}

/// Everything a process adds on CPU-bound Lua (interrupt, coroutine, per-process globals), in
/// percent, against the same loop in a plain VM without interrupt.
fn process_overhead(runtime: &Runtime) -> f64 {
    let plain = plain_vm_seconds(false);
    (run_main(runtime).as_secs_f64() / plain - 1.0) * 100.0
}

/// Seconds the cpu loop takes as a moonweave process (bytecode, or native code for the
/// `cpu_native` app, whose host sets `native: true`).
fn cpu_seconds(runtime: &Runtime) -> f64 {
    run_main(runtime).as_secs_f64()
}

/// The costs of the message path (benches/apps/breakdown), in ns, measured on one worker.
fn breakdown() -> Vec<(String, f64)> {
    let runtime = start("breakdown_1w");
    let costs = match runtime.handle().run("app:main", ()) {
        Ok(Value::Table(pairs)) => pairs
            .into_iter()
            .filter_map(|(k, v)| match (k, v) {
                (Value::String(k), Value::Number(n)) => Some((k.to_string(), n)),
                _ => None,
            })
            .collect(),
        other => panic!("the breakdown failed: {other:?}"),
    };
    runtime.shutdown_timeout(Duration::ZERO);
    costs
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // idle runs first and once: memory freed by an earlier run would be reused and hide the
    // real cost (RSS does not shrink when the allocator keeps freed pages).
    let workloads = [
        Workload {
            name: "idle",
            unit: "KB per process",
            erlang: "2.65",
            target: "≤ 1.4",
            lower_is_better: true,
            measure: idle,
        },
        Workload {
            name: "spawn",
            unit: "M processes/s",
            erlang: "0.49",
            target: "≥ 2× Erlang",
            lower_is_better: false,
            measure: spawn,
        },
        Workload {
            name: "skynet",
            unit: "s",
            erlang: "2.39",
            target: "≤ ½ Erlang",
            lower_is_better: true,
            measure: skynet,
        },
        Workload {
            name: "ring",
            unit: "M messages/s",
            erlang: "4.20",
            target: "≥ 2× Erlang",
            lower_is_better: false,
            measure: ring,
        },
        Workload {
            name: "ring_1w",
            unit: "M messages/s, one worker",
            erlang: "—",
            target: "—",
            lower_is_better: false,
            measure: ring,
        },
        Workload {
            name: "ping_pong_1w",
            unit: "ns per round trip, one worker",
            erlang: "—",
            target: "—",
            lower_is_better: true,
            measure: ping_pong,
        },
        Workload {
            name: "ping_pong",
            unit: "ns per round trip",
            erlang: "484",
            target: "≤ ½ Erlang",
            lower_is_better: true,
            measure: ping_pong,
        },
        Workload {
            name: "fan_in",
            unit: "M messages/s",
            erlang: "4.77",
            target: "≥ 2× Erlang",
            lower_is_better: false,
            measure: fan_in,
        },
        Workload {
            name: "cpu_preemption",
            unit: "% slowdown from the interrupt",
            erlang: "—",
            target: "≤ 15",
            lower_is_better: true,
            measure: preemption,
        },
        Workload {
            name: "cpu_process",
            unit: "% slowdown as a process",
            erlang: "—",
            target: "—",
            lower_is_better: true,
            measure: process_overhead,
        },
        Workload {
            name: "cpu_bytecode",
            unit: "s for the cpu loop as a process, bytecode",
            erlang: "—",
            target: "—",
            lower_is_better: true,
            measure: cpu_seconds,
        },
        Workload {
            name: "cpu_native",
            unit: "s for the cpu loop as a process, native code",
            erlang: "—",
            target: "—",
            lower_is_better: true,
            measure: cpu_seconds,
        },
    ];
    println!(
        "| workload | unit | moonweave (best of {ROUNDS}; idle: first run) | Erlang/OTP 25 | target |"
    );
    println!("|---|---|---|---|---|");
    for w in workloads
        .iter()
        .filter(|w| filter.as_deref().is_none_or(|f| w.name.contains(f)))
    {
        let mut best: Option<f64> = None;
        let rounds = if w.name == "idle" { 1 } else { ROUNDS };
        for _ in 0..rounds {
            let runtime = start(w.name);
            let value = (w.measure)(&runtime);
            runtime.shutdown_timeout(Duration::ZERO);
            best = Some(match best {
                None => value,
                Some(b) if w.lower_is_better => b.min(value),
                Some(b) => b.max(value),
            });
        }
        let best = best.unwrap_or(f64::NAN);
        let shown = if best >= 100.0 {
            format!("{best:.0}")
        } else {
            format!("{best:.2}")
        };
        println!(
            "| {} | {} | {shown} | {} | {} |",
            w.name, w.unit, w.erlang, w.target
        );
    }
    if filter.as_deref().is_none_or(|f| "breakdown".contains(f)) {
        // Best of three for each cost.
        let mut best: Vec<(String, f64)> = Vec::new();
        for _ in 0..ROUNDS {
            for (name, ns) in breakdown() {
                match best.iter_mut().find(|(n, _)| *n == name) {
                    Some(entry) => entry.1 = entry.1.min(ns),
                    None => best.push((name, ns)),
                }
            }
        }
        best.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ns) in best {
            println!("| breakdown_{name} | ns per operation, one worker | {ns:.0} | — | — |");
        }
    }
}
