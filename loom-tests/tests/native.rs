//! Model of the inbox of a Rust process (src/proc/native.rs): a receiver parked on its own
//! thread (not a worker), or an async receiver that stored its waker, racing a sender. A lost
//! wake-up would leave the receiver parked forever (loom reports a deadlock) or the task
//! never woken (the model's check fails).

use std::sync::atomic::{AtomicBool, Ordering as StdOrdering};
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::Arc;
use loom::thread;
use moonweave_loom_tests::model;
use moonweave_loom_tests::proc::native::{NativeInbox, Taken};
use moonweave_loom_tests::process::{Envelope, Signal};

fn message(n: u8) -> Signal {
    Signal::Message(Envelope {
        from: None,
        topic: moonweave_loom_tests::bytes::Bytes::new(&[n]),
        payload: Default::default(),
    })
}

fn topic(taken: Taken) -> Option<u8> {
    match taken {
        Taken::Signal(Signal::Message(envelope)) => Some(envelope.topic.as_bytes()[0]),
        _ => None,
    }
}

#[test]
fn a_receiver_parked_on_its_thread_gets_every_signal_in_order() {
    model(|| {
        let inbox = Arc::new(NativeInbox::default());
        let sender = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                assert!(inbox.push(message(1)));
                assert!(inbox.push(message(2)));
            })
        };
        assert_eq!(topic(inbox.take(None)), Some(1));
        assert_eq!(topic(inbox.take(None)), Some(2));
        sender.join().unwrap();
    });
}

#[test]
fn closing_wakes_a_parked_receiver_and_refuses_later_signals() {
    model(|| {
        let inbox = Arc::new(NativeInbox::default());
        let closer = {
            let inbox = inbox.clone();
            thread::spawn(move || inbox.close())
        };
        assert!(matches!(inbox.take(None), Taken::Closed));
        closer.join().unwrap();
        assert!(!inbox.push(message(1)));
        assert!(inbox.is_closed());
    });
}

/// Records whether it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, StdOrdering::SeqCst);
    }
}

#[test]
fn an_async_receiver_that_found_nothing_is_woken_by_the_push() {
    model(|| {
        let inbox = Arc::new(NativeInbox::default());
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let sender = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                inbox.push(message(7));
            })
        };
        let first = inbox.poll_take(&mut cx);
        sender.join().unwrap();
        match first {
            Poll::Ready(taken) => assert_eq!(topic(taken), Some(7)),
            // Pending: the push came after the look, so it must have woken the task, and
            // the next poll finds the signal.
            Poll::Pending => {
                assert!(
                    flag.0.load(StdOrdering::SeqCst),
                    "the push did not wake the task"
                );
                match inbox.poll_take(&mut cx) {
                    Poll::Ready(taken) => assert_eq!(topic(taken), Some(7)),
                    Poll::Pending => panic!("woken, but nothing there"),
                }
            }
        }
    });
}
