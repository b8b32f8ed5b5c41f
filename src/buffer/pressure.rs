//! Linux pressure stall information (PSI) as an event-loop source.
//!
//! A trigger is registered by writing `some <stall µs> <window µs>` to
//! `/proc/pressure/memory` (or a cgroup's `memory.pressure`); the kernel then
//! reports `POLLPRI` on that fd, at most once per window, whenever tasks
//! stalled on memory for longer than the threshold within the window
//! (Documentation/accounting/psi.rst).
//!
//! calloop's sources wait for readable/writable only, and the kernel signals
//! a trigger with `EPOLLPRI` alone, so a helper thread blocks in `poll(2)`
//! and sends one message per event into the loop over a calloop channel.
//! The thread never touches compositor state: the import cache is `!Send`,
//! so it could not if it tried. Eviction runs in the channel's callback on
//! the event-loop thread.

use std::{
    fs::OpenOptions,
    io::Write,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
};

use smithay::reexports::calloop::{channel, LoopHandle};
use tracing::{info, warn};

/// The default PSI file: the whole system's memory pressure.
pub const SYSTEM_PSI: &str = "/proc/pressure/memory";

/// Register a PSI trigger on `path` and call `evict` (which returns the
/// bytes it freed) on every event. Failing to register (no PSI in the
/// kernel, window rules, permissions) is logged and leaves Quay running on
/// its byte budget alone.
pub fn watch<D: 'static>(
    handle: &LoopHandle<'static, D>,
    memory: &quay_config::Memory,
    mut evict: impl FnMut(&mut D) -> u64 + 'static,
) {
    let path = memory
        .psi_file
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SYSTEM_PSI));
    let stall_us = u64::from(memory.psi_stall_ms.0) * 1000;
    let window_us = u64::from(memory.psi_window_ms.0) * 1000;
    let fd = match register(&path, stall_us, window_us) {
        Ok(fd) => fd,
        Err(e) => {
            warn!(
                "memory pressure: cannot register a PSI trigger on {}: {e}; \
                 only the byte budget applies",
                path.display()
            );
            return;
        }
    };
    let (tx, rx) = channel::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("quay-psi".into())
        .spawn(move || wait_events(fd, tx));
    if let Err(e) = spawned {
        warn!("memory pressure: cannot start the PSI thread: {e}");
        return;
    }
    let res = handle.insert_source(rx, move |event, _, state: &mut D| {
        if let channel::Event::Msg(()) = event {
            let freed = evict(state);
            info!(
                freed_bytes = freed,
                "memory pressure: evicted imports not on screen"
            );
        }
    });
    match res {
        Ok(_) => info!(
            path = %path.display(),
            stall_us, window_us, "memory pressure: PSI trigger registered"
        ),
        Err(e) => warn!("memory pressure: cannot register the PSI channel: {e}"),
    }
}

/// Open `path` and write the trigger. The trigger lives as long as the fd.
pub fn register(path: &Path, stall_us: u64, window_us: u64) -> std::io::Result<OwnedFd> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    // The kernel parses a NUL-terminated string (psi.rst's example writes
    // strlen + 1 bytes).
    file.write_all(format!("some {stall_us} {window_us}\0").as_bytes())?;
    Ok(file.into())
}

/// Block until the trigger fires; forward each event. Ends when the loop
/// is gone (send fails) or the trigger is broken (POLLERR: the cgroup went
/// away).
fn wait_events(fd: OwnedFd, tx: channel::Sender<()>) {
    // SIGINT/SIGTERM are for the event loop's signalfd; a thread with them
    // unblocked would take them with the default action (exit).
    // SAFETY: plain libc calls on a local, initialised sigset.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if pfd.revents & libc::POLLERR != 0 {
            return;
        }
        if pfd.revents & libc::POLLPRI != 0 && tx.send(()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host kernel has PSI: a trigger registers with the default
    /// config's values (unprivileged rules included: 2 s window).
    #[test]
    fn default_trigger_registers_where_psi_exists() {
        if !Path::new(SYSTEM_PSI).exists() {
            panic!("{SYSTEM_PSI} is missing: this kernel has no PSI (CONFIG_PSI)");
        }
        let m = quay_config::Memory::default();
        let fd = register(
            Path::new(SYSTEM_PSI),
            u64::from(m.psi_stall_ms.0) * 1000,
            u64::from(m.psi_window_ms.0) * 1000,
        );
        assert!(fd.is_ok(), "{fd:?}");
        // A threshold above the window is refused by the kernel.
        assert!(register(Path::new(SYSTEM_PSI), 3_000_000, 2_000_000).is_err());
    }
}
