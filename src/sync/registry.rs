//! The fence registry: pending acquire fences, their deadlines, and what to
//! run when they signal, with every fence operation dispatched outside the
//! registry's lock (the thread behind the rule: "dma-fence: Fix races of
//! fence callbacks versus destructors by locking", dri-devel, June 2026).
//!
//! The kernel thread behind the rule: `dma_fence_set_deadline` called with
//! the fence's own lock held made that lock the outermost one, and a driver
//! callback that took another lock inverted the order. Quay's version of the
//! trap: the registry lock held while calling `SYNC_IOC_SET_DEADLINE` (which
//! can call into a driver) or a signal callback (which can call back into
//! the registry: a client commits again, a surface dies). So every method
//! follows one shape:
//!
//! 1. lock; decide; move what must be called out of the shared state into a
//!    local list; unlock;
//! 2. call the fences and callbacks from the local list;
//! 3. record the outcome in lock-free counters.
//!
//! No fence and no callback is ever called, and nothing is dropped, while
//! the lock is held. A callback may re-enter any method. The loom model in
//! `tests/loom/` runs register / set-deadline / signal / destroy from
//! concurrent threads with fences and callbacks that re-enter the registry.
//!
//! This file is self-contained (std and, under `cfg(quay_loom)`, loom only)
//! so that `tests/loom/` can compile it against loom's primitives.

use std::collections::HashMap;

#[cfg(quay_loom)]
use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};
#[cfg(not(quay_loom))]
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

/// A kernel fence as the registry needs it.
pub trait Fence: Send + Sync {
    /// Hint that the fence should signal by `deadline_ns`
    /// (`CLOCK_MONOTONIC`).
    fn set_deadline(&self, deadline_ns: u64) -> std::io::Result<()>;
    /// Whether it has signalled already.
    fn is_signalled(&self) -> bool;
}

/// A registered fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FenceId(pub u64);

/// What runs when a fence signals (or is destroyed unsignalled: then with
/// `false`).
pub type Callback = Box<dyn FnOnce(bool) + Send>;

struct Entry<F> {
    fence: Arc<F>,
    /// Which frame clock this fence waits for (an output); deadlines are
    /// dispatched per group.
    group: u64,
    /// The deadline already asked for, if any. Only ever moves earlier.
    deadline: Option<u64>,
    /// Whether a deadline reached the kernel (the fence was unsignalled
    /// then): only such a fence can be late.
    hinted: bool,
    callbacks: Vec<Callback>,
}

/// Counters for `quay msg stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(quay_loom), derive(serde::Serialize))]
pub struct FenceStats {
    /// Commits held until their acquire fence signalled.
    pub acquire_waits_total: u64,
    /// `SYNC_IOC_SET_DEADLINE` calls that succeeded.
    pub deadlines_set_total: u64,
    /// Deadlines not sent because the fence had signalled already.
    pub deadlines_skipped_signalled: u64,
    /// Fences that signalled after the deadline Quay gave them.
    pub fences_late_total: u64,
    /// `SYNC_IOC_SET_DEADLINE` calls that failed.
    pub deadline_errors_total: u64,
    /// Fences pending now.
    pub fences_pending: u64,
}

#[derive(Default)]
struct Counters {
    acquire_waits: AtomicU64,
    set: AtomicU64,
    skipped: AtomicU64,
    late: AtomicU64,
    errors: AtomicU64,
}

pub struct Registry<F> {
    inner: Mutex<Inner<F>>,
    counters: Counters,
}

struct Inner<F> {
    next: u64,
    fences: HashMap<FenceId, Entry<F>>,
}

impl<F: Fence> Default for Registry<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Fence> Registry<F> {
    pub fn new() -> Self {
        Registry {
            inner: Mutex::new(Inner {
                next: 0,
                fences: HashMap::new(),
            }),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<F>> {
        // A panic while the lock was held cannot leave `Inner` half-updated
        // in a way that matters more than losing the compositor: recover.
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Register a pending fence in `group`.
    pub fn register(&self, fence: Arc<F>, group: u64) -> FenceId {
        let id = {
            let mut inner = self.lock();
            let id = FenceId(inner.next);
            inner.next += 1;
            inner.fences.insert(
                id,
                Entry {
                    fence,
                    group,
                    deadline: None,
                    hinted: false,
                    callbacks: Vec::new(),
                },
            );
            id
        };
        id
    }

    /// Count a commit held for its acquire fence (whether or not the fence
    /// could be registered: an unmaterialized syncobj point has none yet).
    pub fn note_acquire_wait(&self) {
        self.counters.acquire_waits.fetch_add(1, Ordering::Relaxed);
    }

    /// Run `cb(true)` when `id` signals, `cb(false)` if it is destroyed
    /// first. If `id` is already gone, `cb(false)` runs now (outside the lock).
    pub fn on_signal(&self, id: FenceId, cb: Callback) {
        let rejected = {
            let mut inner = self.lock();
            match inner.fences.get_mut(&id) {
                Some(e) => {
                    e.callbacks.push(cb);
                    None
                }
                None => Some(cb),
            }
        };
        if let Some(cb) = rejected {
            cb(false);
        }
    }

    /// Ask every pending fence of `group` to signal by `deadline_ns`, where
    /// that is earlier than what it was asked before. Returns how many
    /// deadlines reached the kernel.
    pub fn set_deadline(&self, group: u64, deadline_ns: u64) -> u64 {
        let work: Vec<(FenceId, Arc<F>)> = {
            let mut inner = self.lock();
            inner
                .fences
                .iter_mut()
                .filter(|(_, e)| e.group == group && e.deadline.is_none_or(|d| deadline_ns < d))
                .map(|(id, e)| {
                    e.deadline = Some(deadline_ns);
                    (*id, e.fence.clone())
                })
                .collect()
        };
        self.dispatch_deadlines(work, deadline_ns)
    }

    /// The same for one fence.
    pub fn set_deadline_of(&self, id: FenceId, deadline_ns: u64) -> u64 {
        let work: Vec<(FenceId, Arc<F>)> = {
            let mut inner = self.lock();
            match inner.fences.get_mut(&id) {
                Some(e) if e.deadline.is_none_or(|d| deadline_ns < d) => {
                    e.deadline = Some(deadline_ns);
                    vec![(id, e.fence.clone())]
                }
                _ => Vec::new(),
            }
        };
        self.dispatch_deadlines(work, deadline_ns)
    }

    fn dispatch_deadlines(&self, work: Vec<(FenceId, Arc<F>)>, deadline_ns: u64) -> u64 {
        let mut hinted = Vec::new();
        for (id, fence) in work {
            if fence.is_signalled() {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match fence.set_deadline(deadline_ns) {
                Ok(()) => {
                    hinted.push(id);
                    self.counters.set.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !hinted.is_empty() {
            let mut inner = self.lock();
            for id in &hinted {
                if let Some(e) = inner.fences.get_mut(id) {
                    e.hinted = true;
                }
            }
        }
        hinted.len() as u64
    }

    /// `id` signalled at `now_ns`: forget it and run its callbacks with
    /// `true`. A fence that signals after its deadline counts as late.
    pub fn signalled(&self, id: FenceId, now_ns: u64) {
        let entry = self.lock().fences.remove(&id);
        let Some(entry) = entry else {
            return;
        };
        if entry.hinted && entry.deadline.is_some_and(|d| now_ns > d) {
            self.counters.late.fetch_add(1, Ordering::Relaxed);
        }
        for cb in entry.callbacks {
            cb(true);
        }
        // `entry.fence` (maybe the last reference: a close(2)) drops here,
        // outside the lock.
    }

    /// `id` will never be waited for again (its surface or client is gone):
    /// forget it and run its callbacks with `false`.
    pub fn destroy(&self, id: FenceId) {
        let entry = self.lock().fences.remove(&id);
        if let Some(entry) = entry {
            for cb in entry.callbacks {
                cb(false);
            }
        }
    }

    /// Pending fences of `group`.
    pub fn pending_in(&self, group: u64) -> Vec<FenceId> {
        self.lock()
            .fences
            .iter()
            .filter(|(_, e)| e.group == group)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Move a pending fence to another group (its surface moved outputs).
    pub fn regroup(&self, id: FenceId, group: u64) {
        if let Some(e) = self.lock().fences.get_mut(&id) {
            e.group = group;
        }
    }

    pub fn stats(&self) -> FenceStats {
        let pending = self.lock().fences.len() as u64;
        FenceStats {
            acquire_waits_total: self.counters.acquire_waits.load(Ordering::Relaxed),
            deadlines_set_total: self.counters.set.load(Ordering::Relaxed),
            deadlines_skipped_signalled: self.counters.skipped.load(Ordering::Relaxed),
            fences_late_total: self.counters.late.load(Ordering::Relaxed),
            deadline_errors_total: self.counters.errors.load(Ordering::Relaxed),
            fences_pending: pending,
        }
    }
}
