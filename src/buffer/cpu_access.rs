//! CPU access to a client's dma-buf that never waits for the client's fences.
//!
//! `DMA_BUF_IOCTL_SYNC` START waits, uninterruptibly by anything but a
//! signal and with no timeout, for the fences the access must follow
//! (`dma_buf_begin_cpu_access` → `dma_resv_wait_timeout(..,
//! MAX_SCHEDULE_TIMEOUT)`, drivers/dma-buf/dma-buf.c): a reader waits for
//! the buffer's write fences, a writer for all of them. A client owns those
//! fences (a GPU job, `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` of any sync_file), so
//! a fence that never signals would stop Quay's event loop inside that
//! ioctl, and every other client with it. The rule here, as for acquire
//! fences (`crate::sync`): the loop never waits on a client's fence.
//!
//! - [`is_dmabuf`] tells a dma-buf from any other fd without touching its
//!   fences: dma-bufs live on the kernel's `dmabuf` pseudo file system, whose
//!   magic is `DMA_BUF_MAGIC` (include/uapi/linux/magic.h).
//! - [`CpuAccess::begin`] first asks, with a zero-timeout `poll`, whether the
//!   fences of that access have signalled (`dma_buf_poll`: `POLLIN` for a
//!   read, `POLLOUT` for a write, the same fence sets `DMA_BUF_IOCTL_SYNC`
//!   waits for). Only then does it issue the ioctl, and it bounds even that:
//!   a fence added between the `poll` and the ioctl (a client racing Quay on
//!   purpose) is cut off after [`SYNC_BOUND`] by a thread-directed timer
//!   signal, which makes the kernel's interruptible wait return `EINTR`.
//!   Either way the answer is [`Ready::NotYet`] and the caller uses what it
//!   already has: the last upload or conversion (GLES, YUYV), or the mapping
//!   as it stands, read without the bracket (pixman reading in place; only
//!   the client's own pixels can tear). The next commit of the buffer waits
//!   for its fences as a loop source (`crate::fences`), so a well-behaved
//!   client never meets [`Ready::NotYet`].
//!
//! Everything here runs on the event-loop thread (the timer is per thread).

use std::{
    cell::Cell,
    os::fd::{AsFd, BorrowedFd},
    sync::{
        atomic::{AtomicU64, Ordering},
        Once,
    },
    time::Duration,
};

use smithay::backend::allocator::dmabuf::{Dmabuf, DmabufSyncFlags};

/// `DMA_BUF_MAGIC` from include/uapi/linux/magic.h ("DMAB").
const DMA_BUF_MAGIC: i64 = 0x444d_4142;

/// The longest a `DMA_BUF_IOCTL_SYNC` may take once `poll` said the fences
/// had signalled: cache maintenance on a large buffer, never a fence wait.
pub const SYNC_BOUND: Duration = Duration::from_millis(4);

/// Accesses answered [`Ready::NotYet`] by `poll` (fences pending) and by
/// the bound (a fence that came after `poll`), for `quay msg stats`.
static NOT_READY_TOTAL: AtomicU64 = AtomicU64::new(0);
static INTERRUPTED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// What [`CpuAccess::begin`] refused so far.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CpuAccessStats {
    /// Accesses not made in sync because the buffer's fences were pending.
    pub cpu_access_not_ready_total: u64,
    /// ... of which the ioctl itself was cut off by [`SYNC_BOUND`].
    pub cpu_access_interrupted_total: u64,
}

pub fn stats() -> CpuAccessStats {
    CpuAccessStats {
        cpu_access_not_ready_total: NOT_READY_TOTAL.load(Ordering::Relaxed),
        cpu_access_interrupted_total: INTERRUPTED_TOTAL.load(Ordering::Relaxed),
    }
}

/// Whether `fd` is a dma-buf (and not, say, a memfd posing as one).
// `f_type` is an i64 on x86_64 and narrower elsewhere: the conversion is
// useless only here.
#[allow(clippy::useless_conversion)]
pub fn is_dmabuf(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|s| i64::from(s.f_type) == DMA_BUF_MAGIC)
}

/// What a CPU access wants of the buffer's fences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading: the buffer's write fences must have signalled.
    Read,
    /// Writing: every fence (readers too) must have signalled.
    Write,
}

impl Access {
    fn poll_flags(self) -> rustix::event::PollFlags {
        match self {
            Access::Read => rustix::event::PollFlags::IN,
            Access::Write => rustix::event::PollFlags::OUT,
        }
    }

    fn sync_flags(self) -> DmabufSyncFlags {
        match self {
            Access::Read => DmabufSyncFlags::READ,
            Access::Write => DmabufSyncFlags::WRITE,
        }
    }
}

/// Whether every plane of `dmabuf` is ready for `access` now (no fence of
/// that access pending). Never waits.
pub fn ready_now(dmabuf: &Dmabuf, access: Access) -> bool {
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    dmabuf.handles().all(|fd| {
        let mut fds = [rustix::event::PollFd::new(&fd, access.poll_flags())];
        matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(1))
            && fds[0].revents().intersects(access.poll_flags())
    })
}

/// The outcome of [`CpuAccess::begin`].
#[derive(Debug)]
pub enum Ready {
    /// The access is open (`DMA_BUF_IOCTL_SYNC` START done); END is issued
    /// when the guard drops.
    Now(CpuAccess),
    /// A fence of this access has not signalled: do not read (or write) in
    /// sync now; nothing waited.
    NotYet,
}

/// An open CPU access to plane 0 of a dma-buf: `DMA_BUF_IOCTL_SYNC` END on
/// drop.
#[derive(Debug)]
pub struct CpuAccess {
    dmabuf: Dmabuf,
    access: Access,
}

impl CpuAccess {
    /// Open a CPU access to `dmabuf` if its fences allow it now. `Err` only
    /// for an fd that refuses the ioctl (not a dma-buf).
    pub fn begin(dmabuf: &Dmabuf, access: Access) -> std::io::Result<Ready> {
        if !ready_now(dmabuf, access) {
            NOT_READY_TOTAL.fetch_add(1, Ordering::Relaxed);
            return Ok(Ready::NotYet);
        }
        let flags = DmabufSyncFlags::START | access.sync_flags();
        match bounded(|| dmabuf.sync_plane(0, flags)) {
            Ok(()) => Ok(Ready::Now(CpuAccess {
                dmabuf: dmabuf.clone(),
                access,
            })),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                tracing::debug!("DMA_BUF_IOCTL_SYNC outlived its bound: a fence came after poll");
                NOT_READY_TOTAL.fetch_add(1, Ordering::Relaxed);
                INTERRUPTED_TOTAL.fetch_add(1, Ordering::Relaxed);
                Ok(Ready::NotYet)
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for CpuAccess {
    fn drop(&mut self) {
        let flags = DmabufSyncFlags::END | self.access.sync_flags();
        // END does not wait for fences; bounded all the same, like START.
        if let Err(e) = bounded(|| self.dmabuf.sync_plane(0, flags)) {
            tracing::debug!("dma-buf sync end: {e}");
        }
    }
}

/// Run `ioctl` with a timer armed to interrupt it after [`SYNC_BOUND`].
/// Where the timer cannot be made, the ioctl runs unbounded (the `poll`
/// before it still keeps every honest case from waiting).
fn bounded(
    ioctl: impl FnOnce() -> Result<(), smithay::backend::allocator::dmabuf::DmabufSyncFailed>,
) -> std::io::Result<()> {
    let timer = interrupt_timer();
    if let Some(t) = timer {
        arm(t, SYNC_BOUND);
    }
    let result = ioctl();
    if let Some(t) = timer {
        arm(t, Duration::ZERO);
    }
    result.map_err(|e| match e {
        smithay::backend::allocator::dmabuf::DmabufSyncFailed::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    })
}

/// The signal the interrupt timer sends: a real-time one Quay uses for
/// nothing else, with a handler that does nothing and no `SA_RESTART`, so
/// the interrupted ioctl returns `EINTR` instead of being restarted.
fn interrupt_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

extern "C" fn on_interrupt(_: libc::c_int) {}

thread_local! {
    /// This thread's interrupt timer; `None` inside: it could not be made.
    static TIMER: Cell<Option<Option<libc::timer_t>>> = const { Cell::new(None) };
}

/// This thread's interrupt timer, made on first use.
fn interrupt_timer() -> Option<libc::timer_t> {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| {
        // SAFETY: a handler that does nothing is async-signal-safe; the
        // struct is zeroed (empty mask, no flags) before the fields are set.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_interrupt as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(interrupt_signal(), &sa, std::ptr::null_mut()) != 0 {
                tracing::warn!(
                    "cannot install the dma-buf sync interrupt handler: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    });
    TIMER.with(|cell| {
        if let Some(t) = cell.get() {
            return t;
        }
        // SAFETY: `sev` is zeroed and filled in before use; `timer` is
        // written by timer_create on success only.
        let made = unsafe {
            let mut sev: libc::sigevent = std::mem::zeroed();
            sev.sigev_notify = libc::SIGEV_THREAD_ID;
            sev.sigev_signo = interrupt_signal();
            sev.sigev_notify_thread_id = libc::gettid();
            let mut timer: libc::timer_t = std::ptr::null_mut();
            if libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer) == 0 {
                Some(timer)
            } else {
                tracing::warn!(
                    "cannot make the dma-buf sync interrupt timer: {}",
                    std::io::Error::last_os_error()
                );
                None
            }
        };
        cell.set(Some(made));
        made
    })
}

/// Arm `timer` to fire once after `after` (zero: disarm).
fn arm(timer: libc::timer_t, after: Duration) {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: `timer` was made by timer_create on this thread and is never
    // deleted (one per thread, for the thread's life).
    unsafe {
        libc::timer_settime(timer, 0, &spec, std::ptr::null_mut());
    }
}

/// Whether `dmabuf`'s plane 0 fd is a dma-buf (see [`is_dmabuf`]).
pub fn plane0_is_dmabuf(dmabuf: &Dmabuf) -> bool {
    dmabuf.handles().next().is_some_and(|fd| is_dmabuf(fd.as_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memfd_is_not_a_dmabuf() {
        let fd = rustix::fs::memfd_create("quay-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        assert!(!is_dmabuf(fd.as_fd()));
    }

    /// The bound interrupts a syscall that would block: a read of a pipe
    /// nobody writes returns EINTR after about SYNC_BOUND.
    #[test]
    fn the_bound_interrupts_a_blocking_call() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let t0 = std::time::Instant::now();
        let res = bounded(|| {
            let mut b = [0u8; 1];
            match rustix::io::read(&r, &mut b) {
                Ok(_) => Ok(()),
                Err(e) => Err(smithay::backend::allocator::dmabuf::DmabufSyncFailed::Io(
                    e.into(),
                )),
            }
        });
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINTR));
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }
}
