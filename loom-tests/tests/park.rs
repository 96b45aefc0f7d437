//! Model of the park/unpark handshake of src/sched/park.rs: work pushed for a worker that is
//! going to sleep is never left unseen (the worker either finds it on its last look, or is
//! woken). A lost wake-up would leave the worker parked forever, which loom reports.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use moonweave_loom_tests::model;
use moonweave_loom_tests::park::Idle;

#[test]
fn work_pushed_while_the_worker_parks_is_never_missed() {
    model(|| {
        let (idle, parking) = Idle::new();
        let idle = Arc::new(idle);
        let queue = Arc::new(AtomicUsize::new(0));
        let pusher = {
            let (idle, queue) = (idle.clone(), queue.clone());
            thread::spawn(move || {
                queue.fetch_add(1, Ordering::SeqCst);
                idle.notify();
            })
        };
        // The worker: look, prepare, look again, park; until it has taken the work.
        let mut taken = 0;
        while taken == 0 {
            taken += queue.swap(0, Ordering::SeqCst);
            if taken > 0 {
                break;
            }
            idle.prepare();
            taken += queue.swap(0, Ordering::SeqCst);
            if taken == 0 {
                parking.park(None);
            }
            idle.cancel();
        }
        pusher.join().unwrap();
        assert_eq!(taken, 1);
    });
}
