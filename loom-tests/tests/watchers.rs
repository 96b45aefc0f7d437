//! Model of the exit protocol of src/proc/watchers.rs: a monitor, link or name added while the
//! process exits is either refused or notified, exactly once.

use loom::sync::Arc;
use loom::thread;
use moonweave_loom_tests::pid::Pid;
use moonweave_loom_tests::watchers::Watchers;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn a_monitor_added_during_exit_is_notified_once_or_refused() {
    model(|| {
        let watchers = Arc::new(Watchers::new(Some(Pid(1)), None));
        let adders: Vec<_> = [2u64, 3]
            .into_iter()
            .map(|n| {
                let watchers = watchers.clone();
                thread::spawn(move || (n, watchers.add_monitor(Pid(n))))
            })
            .collect();
        let farewell = watchers.exit().expect("the first exit takes the watchers");
        assert!(watchers.exit().is_none(), "an exit was taken twice");
        assert!(
            farewell.monitors.contains(&Pid(1)),
            "the spawn monitor was lost"
        );
        for adder in adders {
            let (n, added) = adder.join().unwrap();
            let notified = farewell.monitors.iter().filter(|&&m| m == Pid(n)).count();
            match added {
                true => assert_eq!(
                    notified, 1,
                    "monitor {n} was accepted but not notified once"
                ),
                false => assert_eq!(notified, 0, "monitor {n} was refused but notified"),
            }
        }
    });
}

#[test]
fn a_name_held_during_exit_is_released_or_refused() {
    model(|| {
        let watchers = Arc::new(Watchers::new(None, None));
        let holder = {
            let watchers = watchers.clone();
            thread::spawn(move || watchers.hold_name("svc", || true))
        };
        let farewell = watchers.exit().unwrap();
        match holder.join().unwrap() {
            Some(true) => assert_eq!(farewell.names, vec!["svc".to_string()]),
            None => assert!(farewell.names.is_empty()),
            Some(false) => unreachable!("registration always succeeds in this model"),
        }
    });
}
