//! Model of the placement protocol of src/proc/process.rs: signals sent while a process starts
//! are either among the pending signals the starting worker takes, or routed to the worker it
//! starts on; each exactly once, and each sender's in order.

use loom::sync::Arc;
use loom::thread;
use moonweave_loom_tests::model;
use moonweave_loom_tests::proc::pid::Pid;
use moonweave_loom_tests::proc::{Process, Route, Signal, Watchers};

fn marker(n: u64) -> Signal {
    Signal::LinkGone { pid: Pid(n) }
}

fn number(signal: &Signal) -> u64 {
    match signal {
        Signal::LinkGone { pid } => pid.0,
        _ => unreachable!("only markers are sent"),
    }
}

#[test]
fn a_signal_racing_the_start_arrives_once_and_in_order() {
    model(|| {
        let process = Arc::new(Process::new(
            Pid(1),
            std::sync::Arc::from("{a:b|0x00001}"),
            0,
            Watchers::default(),
        ));
        let sender = {
            let process = process.clone();
            thread::spawn(move || {
                let mut routed = Vec::new();
                for n in [10, 11] {
                    match process.route(marker(n)) {
                        Route::Placed {
                            worker,
                            slot,
                            signal,
                        } => {
                            assert_eq!((worker, slot), (3, 7), "routed to the wrong place");
                            routed.push(number(&signal));
                        }
                        Route::Pending => {}
                        Route::Native { .. } => panic!("a Lua process has no native inbox"),
                    }
                }
                routed
            })
        };
        let pending: Vec<u64> = process.place(3, 7).iter().map(number).collect();
        let routed = sender.join().unwrap();
        // The worker handles the pending signals first, then the routed ones.
        let received: Vec<u64> = pending.into_iter().chain(routed).collect();
        assert_eq!(
            received,
            vec![10, 11],
            "a signal was lost, duplicated or reordered"
        );
        assert!(matches!(process.route(marker(12)), Route::Placed { .. }));
    });
}

#[test]
fn the_mailbox_limit_is_never_exceeded_and_never_goes_below_zero() {
    model(|| {
        let process = Arc::new(Process::new(
            Pid(1),
            std::sync::Arc::from("{a:b|0x00001}"),
            0,
            Watchers::default(),
        ));
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let process = process.clone();
                thread::spawn(move || process.reserve_message(1))
            })
            .collect();
        // The owner receives (releases) whatever is there, once.
        process.release_message();
        let reserved = senders
            .into_iter()
            .map(|s| s.join().unwrap())
            .filter(|&r| r)
            .count();
        let waiting = process.waiting_messages();
        assert!(
            waiting <= 1,
            "{waiting} messages counted under a limit of 1"
        );
        assert!(reserved >= 1, "no sender got room in an empty mailbox");
        assert!(
            reserved <= 2 && waiting <= reserved,
            "the count went below the messages sent"
        );
    });
}
