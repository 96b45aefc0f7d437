//! Models of the mailbox state word (src/proc/mailbox.rs): no lost wake-up, never scheduled
//! twice, per-sender FIFO, exactly-once delivery, no wake-up after exit.
//!
//! The owner side is modelled as a worker runs a process: take it from a run queue
//! (`start_running`), drain the mailbox, try to park; when `park` reports that a message came in
//! meanwhile, drain again. A sender that gets `Push::Wake` puts the process on the run queue,
//! modelled as a counter of pending runs that the owner consumes.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use moonweave_loom_tests::mailbox::{Mailbox, Push};

/// Explores every interleaving with up to three preemptions per thread (loom's recommended
/// bound; the full space of the two-sender model does not finish in CI's time).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// One run of the process: receive everything, then park (or look again if notified).
fn run_once(mailbox: &Mailbox<u32>, received: &mut Vec<u32>) {
    mailbox.start_running();
    loop {
        while let Some(m) = mailbox.pop() {
            received.push(m);
        }
        if mailbox.park() {
            return;
        }
    }
}

/// The owner worker: runs the process until `expected` messages arrived, one run per wake-up.
fn owner(mailbox: &Mailbox<u32>, run_queue: &AtomicUsize, expected: usize) -> Vec<u32> {
    let mut received = Vec::new();
    // The first run: a new process starts SCHEDULED, it came from a spawn queue.
    run_once(mailbox, &mut received);
    while received.len() < expected {
        if run_queue.load(Ordering::Acquire) == 0 {
            // Nothing queued: the worker would park here until a sender unparks it.
            thread::yield_now();
            continue;
        }
        run_queue.fetch_sub(1, Ordering::AcqRel);
        run_once(mailbox, &mut received);
    }
    received
}

/// A sender: push, and queue the process when the push says so.
fn send(mailbox: &Mailbox<u32>, run_queue: &AtomicUsize, message: u32) -> Push {
    let push = mailbox.push(message);
    if push == Push::Wake {
        let queued = run_queue.fetch_add(1, Ordering::AcqRel);
        assert_eq!(queued, 0, "a process was put on a run queue twice");
    }
    push
}

#[test]
fn send_racing_with_park_loses_no_wake_up() {
    model(|| {
        let mailbox = Arc::new(Mailbox::new());
        let run_queue = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (mailbox, run_queue) = (mailbox.clone(), run_queue.clone());
            thread::spawn(move || send(&mailbox, &run_queue, 1))
        };
        let mut received = owner(&mailbox, &run_queue, 1);
        let push = sender.join().unwrap();
        assert_ne!(push, Push::Closed, "a live process refused a message");
        // A wake-up may still be queued when the process took the message before the sender
        // looked at the state; that run finds the mailbox empty and parks again.
        if run_queue.load(Ordering::Acquire) == 1 {
            run_once(&mailbox, &mut received);
        }
        assert_eq!(received, vec![1], "the message was lost or delivered twice");
        assert_eq!(
            mailbox.push(2),
            Push::Wake,
            "the process did not end up waiting"
        );
    });
}

#[test]
fn two_senders_keep_their_order_and_every_message_arrives_once() {
    model(|| {
        let mailbox = Arc::new(Mailbox::new());
        let run_queue = Arc::new(AtomicUsize::new(0));
        // Sender A sends 11 then 12, sender B sends 21: A's order must hold, B's message must
        // arrive, each exactly once, whatever the interleaving.
        let senders: Vec<_> = [vec![11u32, 12], vec![21]]
            .into_iter()
            .map(|messages| {
                let (mailbox, run_queue) = (mailbox.clone(), run_queue.clone());
                thread::spawn(move || {
                    for m in messages {
                        send(&mailbox, &run_queue, m);
                    }
                })
            })
            .collect();
        let received = owner(&mailbox, &run_queue, 3);
        for sender in senders {
            sender.join().unwrap();
        }
        assert_eq!(
            received.len(),
            3,
            "exactly-once delivery broken: {received:?}"
        );
        let from_a: Vec<u32> = received.iter().copied().filter(|m| m / 10 == 1).collect();
        assert_eq!(from_a, vec![11, 12], "per-sender FIFO broken: {received:?}");
        assert!(received.contains(&21), "a message was lost: {received:?}");
    });
}

#[test]
fn send_racing_with_exit_never_schedules_an_exited_process() {
    model(|| {
        let mailbox = Arc::new(Mailbox::<u32>::new());
        let run_queue = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (mailbox, run_queue) = (mailbox.clone(), run_queue.clone());
            thread::spawn(move || send(&mailbox, &run_queue, 7))
        };
        // The process runs once and exits without receiving.
        mailbox.start_running();
        mailbox.close();
        let push = sender.join().unwrap();
        assert_ne!(push, Push::Wake, "an exited process was scheduled");
        assert!(
            mailbox.is_closed(),
            "the exit was lost after a {push:?} send"
        );
        assert_eq!(run_queue.load(Ordering::Acquire), 0);
        // Once the owner has closed the mailbox, every later send is refused.
        assert_eq!(mailbox.push(8), Push::Closed);
    });
}

#[test]
fn a_timer_racing_a_send_schedules_the_process_once() {
    model(|| {
        let mailbox = Arc::new(Mailbox::new());
        let run_queue = Arc::new(AtomicUsize::new(0));
        // The process has run and waits (for a timer, say).
        let mut received = Vec::new();
        run_once(&mailbox, &mut received);
        let sender = {
            let (mailbox, run_queue) = (mailbox.clone(), run_queue.clone());
            thread::spawn(move || send(&mailbox, &run_queue, 1))
        };
        // The owner fires the timer: the same CAS as a sender's.
        if mailbox.wake() {
            let queued = run_queue.fetch_add(1, Ordering::AcqRel);
            assert_eq!(queued, 0, "a process was put on a run queue twice");
        }
        sender.join().unwrap();
        assert_eq!(
            run_queue.load(Ordering::Acquire),
            1,
            "the process was not scheduled exactly once"
        );
        run_once(&mailbox, &mut received);
        assert_eq!(received, vec![1]);
    });
}
