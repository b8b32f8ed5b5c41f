//! Dropping expensive things off the event-loop thread.
//!
//! Unmapping a drawn buffer tears down one page-table entry per page:
//! `benches/import_cache.rs` measured about 18-23 ms for a full 512 MiB
//! budget of faulted-in mappings, more than a 60 Hz frame. Eviction must fit
//! in a frame, so the cache's resident imports hold their mapping in an
//! [`OffThreadDrop`]: eviction decides and unlinks on the loop thread, and
//! the `munmap` runs on one reaper thread.
//!
//! The reaper owns what it is sent and nothing else: no compositor state, no
//! lock shared with the loop. A value is sent only after everything that
//! pointed into it is gone (the field order of the holder; see
//! `import::Mapped`), so the reaper never races a reader.

use std::sync::{
    mpsc::{self, Sender},
    Mutex, OnceLock,
};

type Job = Box<dyn FnOnce() + Send>;

fn reaper() -> Option<Sender<Job>> {
    static REAPER: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    let slot = REAPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("quay-reaper".into())
            .spawn(move || {
                // Signals belong to the event loop's signalfd.
                // SAFETY: plain libc calls on a local, initialised sigset.
                unsafe {
                    let mut all: libc::sigset_t = std::mem::zeroed();
                    libc::sigfillset(&mut all);
                    libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
                }
                for job in rx {
                    job();
                }
            });
        spawned.ok().map(|_| Mutex::new(tx))
    });
    slot.as_ref()?.lock().ok().map(|tx| tx.clone())
}

/// A value whose drop runs on the reaper thread (or in place, if the
/// thread cannot be started or is gone).
#[derive(Debug)]
pub struct OffThreadDrop<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> OffThreadDrop<T> {
    pub fn new(value: T) -> Self {
        OffThreadDrop(Some(value))
    }

    pub fn get(&self) -> &T {
        self.0.as_ref().expect("only taken in drop")
    }
}

impl<T: Send + 'static> Drop for OffThreadDrop<T> {
    fn drop(&mut self) {
        let Some(value) = self.0.take() else {
            return;
        };
        match reaper() {
            Some(tx) => {
                // If the reaper is gone the job comes back in the error and is
                // dropped here, in place.
                let _ = tx.send(Box::new(move || drop(value)));
            }
            None => drop(value),
        }
    }
}

/// Wait until everything sent to the reaper so far has been dropped.
pub fn flush() {
    let Some(tx) = reaper() else {
        return;
    };
    let (done_tx, done_rx) = mpsc::channel();
    if tx
        .send(Box::new(move || {
            let _ = done_tx.send(());
        }))
        .is_ok()
    {
        let _ = done_rx.recv();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use super::*;

    struct Noisy(Arc<AtomicUsize>, std::thread::ThreadId);
    impl Drop for Noisy {
        fn drop(&mut self) {
            assert_ne!(
                std::thread::current().id(),
                self.1,
                "dropped on the caller's thread"
            );
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn drops_happen_on_the_reaper_and_flush_waits_for_them() {
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            drop(OffThreadDrop::new(Noisy(n.clone(), std::thread::current().id())));
        }
        flush();
        assert_eq!(n.load(Ordering::SeqCst), 100);
    }
}
