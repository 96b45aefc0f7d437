//! Models of the exit protocol of src/proc/watchers.rs: a monitor, link or name added while the
//! process exits is either refused or notified, exactly once; `terminate` racing the process's
//! own exit releases its names once; a link made while the other side exits leaves nothing
//! behind.

use loom::sync::Arc;
use loom::thread;
use moonweave_loom_tests::model;
use moonweave_loom_tests::proc::pid::Pid;
use moonweave_loom_tests::proc::registry::Registry;
use moonweave_loom_tests::proc::watchers::{self, Watchers};

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

/// Two processes race to register one name while the first of them exits: the registry ends
/// with the name held by the live process or by nobody, never by the exited one. (The old
/// model held the name with a closure that always succeeded, so the conflict was never
/// explored.)
#[test]
fn a_name_registered_during_exit_is_released_or_refused() {
    model(|| {
        let registry = Arc::new(Registry::default());
        let exiting = Arc::new(Watchers::new(None, None));
        let other = Arc::new(Watchers::new(None, None));
        let registrars: Vec<_> = [(exiting.clone(), Pid(1)), (other.clone(), Pid(2))]
            .into_iter()
            .map(|(watchers, pid)| {
                let registry = registry.clone();
                thread::spawn(move || {
                    let held = watchers.hold_name(b"svc", || registry.insert(b"svc", pid).is_ok());
                    (pid, held)
                })
            })
            .collect();
        let farewell = exiting.exit().unwrap();
        for name in &farewell.names {
            registry.release(name, Pid(1));
        }
        let outcomes: Vec<_> = registrars.into_iter().map(|r| r.join().unwrap()).collect();
        // Both may have held it in turn (the first exits and releases it), never at once: a
        // live holder keeps it.
        if outcomes.contains(&(Pid(2), Some(true))) {
            assert_eq!(
                registry.lookup(b"svc"),
                Some(Pid(2)),
                "a live holder lost its name"
            );
        }
        assert_ne!(
            registry.lookup(b"svc"),
            Some(Pid(1)),
            "the name outlived the process that held it"
        );
        if let Some(holder) = registry.lookup(b"svc") {
            assert_eq!(holder, Pid(2));
            assert!(outcomes.contains(&(Pid(2), Some(true))));
        }
    });
}

#[test]
fn terminate_racing_the_exit_releases_the_names_once_and_notifies_once() {
    model(|| {
        let watchers = Arc::new(Watchers::new(Some(Pid(9)), None));
        assert_eq!(watchers.hold_name(b"svc", || true), Some(true));
        let terminator = {
            let watchers = watchers.clone();
            thread::spawn(move || watchers.terminate())
        };
        let farewell = watchers
            .exit()
            .expect("the owner's exit takes the watchers");
        let terminated = terminator.join().unwrap();
        let released_by_terminate = terminated.as_ref().map_or(0, Vec::len);
        assert_eq!(
            released_by_terminate + farewell.names.len(),
            1,
            "the name was released {} times",
            released_by_terminate + farewell.names.len()
        );
        assert_eq!(
            farewell.monitors,
            vec![Pid(9)],
            "the monitor must get one EXIT"
        );
        assert!(watchers.exit().is_none());
    });
}

#[test]
fn a_link_made_while_the_other_side_exits_leaves_no_link_behind() {
    model(|| {
        let mine = Arc::new(Watchers::new(None, None));
        let theirs = Arc::new(Watchers::new(None, None));
        let linker = {
            let (mine, theirs) = (mine.clone(), theirs.clone());
            thread::spawn(move || watchers::link(&mine, Pid(1), &theirs, Pid(2)))
        };
        // The other side exits: every process in its links forgets the link.
        let farewell = theirs.exit().unwrap();
        for &linked in &farewell.links {
            assert_eq!(linked, Pid(1));
            mine.remove_link(Pid(2));
        }
        let linked = linker.join().unwrap();
        assert!(
            !mine.is_linked(Pid(2)),
            "a link to an exited process was left behind (link returned {linked})"
        );
        assert_eq!(
            linked,
            farewell.links.contains(&Pid(1)),
            "the link was reported made but the exit did not see it, or the reverse"
        );
    });
}
