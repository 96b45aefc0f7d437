//! Model of closing the process table at shutdown (src/proc/table.rs): a spawn racing the
//! shutdown either withdraws its process or the shutdown lists it (and cancels it); no process
//! escapes.

use loom::sync::Arc;
use loom::thread;
use moonweave_loom_tests::model;
use moonweave_loom_tests::proc::pid::Pid;
use moonweave_loom_tests::proc::table::ProcessTable;
use moonweave_loom_tests::proc::{Process, Watchers};

#[test]
fn a_spawn_racing_the_shutdown_is_cancelled_or_refused() {
    model(|| {
        let table = Arc::new(ProcessTable::new());
        let spawner = {
            let table = table.clone();
            thread::spawn(move || {
                let process = Process::new(
                    Pid(7),
                    std::sync::Arc::from("{a:b|0x00007}"),
                    0,
                    Watchers::default(),
                );
                table.insert(std::sync::Arc::new(process))
            })
        };
        table.close();
        let listed = table.all().iter().any(|p| p.pid == Pid(7));
        let admitted = spawner.join().unwrap();
        assert!(
            !admitted || listed,
            "a process was admitted after the shutdown listed the table"
        );
        assert!(
            admitted || table.get(Pid(7)).is_none(),
            "a refused process stayed in the table"
        );
    });
}
