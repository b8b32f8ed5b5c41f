//! loom models of the fence registry (issue #5: fence operations and
//! callbacks are dispatched outside the registry's lock). loom runs each model under every thread interleaving and fails
//! on a deadlock, so a registry that called a fence or a callback with its
//! lock held would fail here: the fences and callbacks below re-enter the
//! registry, which takes the same (non-reentrant) lock.

use std::io;

use loom::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use quay_loom::registry::{Fence, Registry};

/// A fence whose `set_deadline` re-enters the registry (like a driver
/// callback that ends up in the compositor's bookkeeping), and which
/// records what it was asked.
struct ReentrantFence {
    reg: Slot,
    deadlines: AtomicUsize,
    earliest: loom::sync::Mutex<Option<u64>>,
}

impl ReentrantFence {
    fn new(reg: Slot) -> Self {
        ReentrantFence {
            reg,
            deadlines: AtomicUsize::new(0),
            earliest: loom::sync::Mutex::new(None),
        }
    }
}

impl Fence for ReentrantFence {
    fn set_deadline(&self, deadline_ns: u64) -> io::Result<()> {
        // Re-enter: would deadlock if the registry lock were held here.
        let reg = self.reg.lock().unwrap().clone();
        if let Some(reg) = reg {
            let _ = reg.stats();
            let _ = reg.pending_in(0);
        }
        self.deadlines.fetch_add(1, Ordering::SeqCst);
        let mut e = self.earliest.lock().unwrap();
        *e = Some(e.map_or(deadline_ns, |d| d.min(deadline_ns)));
        Ok(())
    }
    fn is_signalled(&self) -> bool {
        false
    }
}

type Slot = Arc<loom::sync::Mutex<Option<Arc<Registry<ReentrantFence>>>>>;

/// Every interleaving with up to 2 preemptions per execution (loom's usual
/// bound; deadlocks and lock-order bugs show up with fewer).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

fn registry() -> (Arc<Registry<ReentrantFence>>, Slot) {
    let slot = Arc::new(loom::sync::Mutex::new(None));
    let reg = Arc::new(Registry::new());
    *slot.lock().unwrap() = Some(reg.clone());
    (reg, slot)
}

/// set-deadline and signal race on one fence; the signal callback
/// re-enters the registry (registers a new fence and sets a deadline).
#[test]
fn deadline_vs_signal_with_reentrant_callback() {
    model(|| {
        let (reg, slot) = registry();
        let fence = Arc::new(ReentrantFence::new(slot.clone()));
        let id = reg.register(fence.clone(), 0);
        let fired = Arc::new(AtomicUsize::new(0));
        {
            let reg2 = reg.clone();
            let slot2 = slot.clone();
            let fired = fired.clone();
            reg.on_signal(
                id,
                Box::new(move |signalled| {
                    assert!(signalled);
                    fired.fetch_add(1, Ordering::SeqCst);
                    // Re-enter from the callback.
                    let next = reg2.register(Arc::new(ReentrantFence::new(slot2)), 0);
                    reg2.set_deadline_of(next, 5);
                    reg2.destroy(next);
                }),
            );
        }
        let r1 = reg.clone();
        let t1 = loom::thread::spawn(move || {
            r1.set_deadline(0, 100);
        });
        let r2 = reg.clone();
        let t2 = loom::thread::spawn(move || {
            r2.signalled(id, 50);
        });
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(fired.load(Ordering::SeqCst), 1, "the callback ran exactly once");
        assert_eq!(reg.stats().fences_pending, 0);
        // Break the registry <-> fence cycle.
        *slot.lock().unwrap() = None;
    });
}

/// Two deadlines race: the fence ends up asked for the earlier one, and a
/// later deadline never follows an earlier one.
#[test]
fn deadlines_only_move_earlier() {
    model(|| {
        let (reg, slot) = registry();
        let fence = Arc::new(ReentrantFence::new(slot.clone()));
        reg.register(fence.clone(), 0);
        let r1 = reg.clone();
        let t1 = loom::thread::spawn(move || {
            r1.set_deadline(0, 200);
        });
        let r2 = reg.clone();
        let t2 = loom::thread::spawn(move || {
            r2.set_deadline(0, 100);
        });
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(*fence.earliest.lock().unwrap(), Some(100));
        let n = fence.deadlines.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "asked {n} times");
        *slot.lock().unwrap() = None;
    });
}

/// destroy races signal: exactly one of them runs the callback, with the
/// matching argument; nothing is left pending.
#[test]
fn destroy_vs_signal() {
    model(|| {
        let (reg, slot) = registry();
        let id = reg.register(Arc::new(ReentrantFence::new(slot.clone())), 0);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let r = reg.clone();
        reg.on_signal(
            id,
            Box::new(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                let _ = r.stats();
            }),
        );
        let r1 = reg.clone();
        let t1 = loom::thread::spawn(move || r1.destroy(id));
        let r2 = reg.clone();
        let t2 = loom::thread::spawn(move || r2.signalled(id, 1));
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(reg.stats().fences_pending, 0);
        *slot.lock().unwrap() = None;
    });
}
