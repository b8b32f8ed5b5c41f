//! Acquire fences, release points and deadline hints.
//!
//! - **Explicit sync** (`wp_linux_drm_syncobj_v1`, smithay's
//!   `DrmSyncobjState`, advertised by the udev backend only where the DRM
//!   device supports `DRM_IOCTL_SYNCOBJ_EVENTFD`): a commit with an acquire
//!   point waits on the point's eventfd (a calloop source; no busy waiting,
//!   no blocking) before it applies. smithay signals the release point when
//!   the buffer leaves the surface (smithay-0.7.0
//!   `src/backend/renderer/utils/wayland.rs:73`); for a commit that never
//!   applied because its surface died first, Quay signals it
//!   (`Core::surface_sync_destroyed`, `crate::fences`).
//! - **Explicit sync, the older protocol**
//!   (`zwp_linux_explicit_synchronization_v1`, `protocols/explicit_sync.rs`,
//!   on every backend): the acquire fence is a sync_file, waited for by
//!   polling it; release is `immediate_release` when Quay no longer reads
//!   the buffer.
//! - **Implicit sync**: a dma-buf commit with no acquire point waits until
//!   the dma-buf's own fences allow reading (`Dmabuf::generate_blocker`,
//!   poll on the dma-buf fd).
//! - **Deadline hints**: every acquire fence Quay waits for is exported as a
//!   sync_file (syncobj: `export_sync_file`; implicit:
//!   `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`) and registered in the
//!   [`registry::Registry`] under the output the surface is shown on. The
//!   output's [`FrameClock`] predicts when its next frame must be ready
//!   (next vblank minus Quay's own render time) and Quay sets that as the
//!   fence's deadline with `SYNC_IOC_SET_DEADLINE`: at commit, and again at
//!   every presented frame for fences still pending. A deadline only ever
//!   moves earlier; a signalled fence gets none; a failure is counted and
//!   logged once. `[sync] deadline_hints = false` turns hints off. Quay
//!   drives no VRR output, so there is no VRR case to skip yet.
//! - Quay's own KMS commits carry no fence to hint: the pixman renderer has
//!   finished on the CPU before the page flip is queued.
//!
//! The registry dispatches every ioctl and callback outside its lock; see
//! its module doc and the loom model in `tests/loom/`.
//!
//! This module is a leaf: it knows fences, clocks and smithay's blockers,
//! not `State` or `Core`. What needs the compositor (which output a surface
//! is on, the event loop, the import pins) is `crate::fences`.

pub mod registry;

use std::{
    collections::HashMap,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::Arc,
    time::Duration,
};

use smithay::{
    backend::allocator::dmabuf::Dmabuf,
    reexports::{
        calloop::{generic::Generic, RegistrationToken},
        wayland_server::backend::ObjectId,
    },
    wayland::drm_syncobj::DrmSyncPoint,
};

use self::registry::{Fence, FenceId, FenceStats, Registry};

/// A sync_file: what `SYNC_IOC_SET_DEADLINE` takes.
#[derive(Debug)]
pub struct SyncFile(pub OwnedFd);

// <linux/sync_file.h>: struct sync_set_deadline { __u64 deadline_ns; __u64 pad; }
// SYNC_IOC_SET_DEADLINE = _IOW('>', 5, struct sync_set_deadline)
#[repr(C)]
struct SyncSetDeadline {
    deadline_ns: u64,
    pad: u64,
}
const SYNC_IOC_SET_DEADLINE: libc::c_ulong = iow(b'>', 5, std::mem::size_of::<SyncSetDeadline>());

// <linux/dma-buf.h>: struct dma_buf_export_sync_file { __u32 flags; __s32 fd; }
// DMA_BUF_IOCTL_EXPORT_SYNC_FILE = _IOWR('b', 2, struct dma_buf_export_sync_file)
#[repr(C)]
struct DmaBufExportSyncFile {
    flags: u32,
    fd: i32,
}
const DMA_BUF_SYNC_READ: u32 = 1;
const DMA_BUF_IOCTL_EXPORT_SYNC_FILE: libc::c_ulong =
    iowr(b'b', 2, std::mem::size_of::<DmaBufExportSyncFile>());

const fn ioc(dir: u64, ty: u8, nr: u64, size: usize) -> libc::c_ulong {
    ((dir << 30) | ((size as u64) << 16) | ((ty as u64) << 8) | nr) as libc::c_ulong
}
/// `_IOW` of `<asm-generic/ioctl.h>`.
pub(crate) const fn iow(ty: u8, nr: u64, size: usize) -> libc::c_ulong {
    ioc(1, ty, nr, size)
}
/// `_IOWR` of `<asm-generic/ioctl.h>`.
pub(crate) const fn iowr(ty: u8, nr: u64, size: usize) -> libc::c_ulong {
    ioc(3, ty, nr, size)
}

impl Fence for SyncFile {
    fn set_deadline(&self, deadline_ns: u64) -> std::io::Result<()> {
        let arg = SyncSetDeadline { deadline_ns, pad: 0 };
        // SAFETY: a valid fd and a pointer to a correctly laid out struct
        // that lives for the call.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), SYNC_IOC_SET_DEADLINE, &arg) };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn is_signalled(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n > 0 && pfd.revents & libc::POLLIN != 0
    }
}

/// The fences a reader of `dmabuf` must wait for, as a sync_file.
pub fn export_implicit_read_fence(dmabuf: &Dmabuf) -> std::io::Result<OwnedFd> {
    let Some(fd) = dmabuf.handles().next() else {
        return Err(std::io::ErrorKind::InvalidInput.into());
    };
    let mut arg = DmaBufExportSyncFile {
        flags: DMA_BUF_SYNC_READ,
        fd: -1,
    };
    // SAFETY: a valid dma-buf fd and a correctly laid out struct; on success
    // the kernel wrote a new fd that we now own.
    let r = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &mut arg) };
    if r < 0 || arg.fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the ioctl returned a fresh fd owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(arg.fd) })
}

/// How many recent frames the render estimate looks at, and which
/// percentile of them it takes.
pub const RENDER_SAMPLES: usize = 32;
pub const RENDER_PERCENTILE: usize = 75;

/// When an output's next frame must be ready.
#[derive(Debug, Clone, Copy)]
pub struct FrameClock {
    /// The last presentation (vblank) time, `CLOCK_MONOTONIC`.
    pub last_presented: Option<Duration>,
    pub refresh: Duration,
    /// How long before a vblank Quay needs to start a frame to have it
    /// queued: the [`RENDER_PERCENTILE`] of the last [`RENDER_SAMPLES`]
    /// frames drawn, the window starting full of a 2 ms guess. A
    /// percentile over a full window, not a mean: Quay's first frames run
    /// much code for the first time (120-310 ms each on vkms under TCG,
    /// 2026-12-06); the old 1/8 moving average took 13 ms from one of them
    /// and started the next ~15 frames ~10 ms early, each a commit-to-present
    /// ~10 ms longer; a 90th percentile still took the 4th-slowest of a
    /// warm-up's frames (14 ms) for 20 frames. Slowness that lasts (9
    /// frames in 32) is followed.
    pub render_time: Duration,
    samples: [Duration; RENDER_SAMPLES],
    /// Samples taken so far (the ring's next slot is `taken % RENDER_SAMPLES`).
    taken: usize,
    /// Frames rendered and presented on this output (`quay msg outputs`):
    /// every backend moves both through `crate::render`'s frame path.
    pub frames_rendered: u64,
    pub frames_presented: u64,
}

impl FrameClock {
    pub fn new(refresh: Duration) -> FrameClock {
        FrameClock {
            last_presented: None,
            refresh,
            render_time: Duration::from_millis(2),
            samples: [Duration::from_millis(2); RENDER_SAMPLES],
            taken: 0,
            frames_rendered: 0,
            frames_presented: 0,
        }
    }

    pub fn presented(&mut self, at: Duration) {
        self.last_presented = Some(at);
        self.frames_presented += 1;
    }

    /// A frame was drawn. `took`, where given, is how long it took to draw
    /// (headless, winit). udev gives `None` here and the frame's lead to
    /// [`FrameClock::sample`] once it is queued: from when it should have
    /// started (its repaint slot) to the frame queued, so the event loop's
    /// wake-up latency counts too. A frame with nothing to draw gives `None`:
    /// it says nothing about how long drawing takes.
    pub fn rendered_in(&mut self, took: Option<Duration>) {
        self.frames_rendered += 1;
        if let Some(took) = took {
            self.sample(took);
        }
    }

    /// One frame's time to the estimate (see [`FrameClock::rendered_in`]):
    /// udev's lead from the repaint slot to the frame queued.
    pub fn sample(&mut self, took: Duration) {
        self.samples[self.taken % RENDER_SAMPLES] = took;
        self.taken += 1;
        let mut recent = self.samples;
        recent.sort_unstable();
        // The nearest-rank percentile: of 32 samples the 24th smallest, so
        // up to 8 outliers in 32 frames do not move the estimate. Quay's
        // first frames give ~4 (its own first frame, a client's first, a
        // few under 10 ms), and the margin covers a typical frame's jitter.
        let rank = (RENDER_SAMPLES * RENDER_PERCENTILE).div_ceil(100);
        self.render_time = recent[rank - 1];
    }

    /// The first vblank after `now`.
    pub fn next_vblank(&self, now: Duration) -> Option<Duration> {
        let last = self.last_presented?;
        if self.refresh.is_zero() {
            return None;
        }
        if now < last {
            return Some(last);
        }
        let periods = (now - last).as_nanos() / self.refresh.as_nanos() + 1;
        Some(last + self.refresh * periods as u32)
    }

    /// When a client buffer must be ready to make the next frame Quay can
    /// still build: the next vblank minus Quay's render time, or the one
    /// after if that is already past.
    pub fn deadline(&self, now: Duration) -> Option<Duration> {
        let mut vblank = self.next_vblank(now)?;
        while vblank.saturating_sub(self.render_time) <= now {
            vblank += self.refresh;
        }
        Some(vblank - self.render_time)
    }

    /// When to start the frame for the vblank after the last presentation:
    /// that vblank minus the render estimate and `margin`. At or before
    /// `now` means the frame is already late and starts at once.
    pub fn repaint_slot(&self, margin: Duration) -> Option<Duration> {
        let last = self.last_presented?;
        if self.refresh.is_zero() {
            return None;
        }
        Some((last + self.refresh).saturating_sub(self.render_time + margin))
    }

    /// The first repaint slot after `now`: where an output that had nothing
    /// to draw looks again, one refresh at most later and never at once
    /// (so an idle output does not spin).
    pub fn next_repaint_slot(&self, now: Duration, margin: Duration) -> Option<Duration> {
        let lead = self.render_time + margin;
        let mut vblank = self.next_vblank(now)?;
        while vblank.saturating_sub(lead) <= now {
            vblank += self.refresh;
        }
        Some(vblank - lead)
    }
}

/// One commit waiting for its acquire fence.
pub(crate) struct Pending {
    pub(crate) serial: u64,
    pub(crate) fence: Option<FenceId>,
    pub(crate) token: RegistrationToken,
    /// Signalled by Quay if the commit never applies.
    pub(crate) release: Option<DrmSyncPoint>,
    /// The client the wait's fds are charged to (`crate::fences`).
    pub(crate) client: smithay::reexports::wayland_server::backend::ClientId,
}

/// Quay's sync bookkeeping, part of `Core`; the compositor's side of it
/// (frame clocks per output, acquire waits per surface) is `crate::fences`.
pub struct SyncState {
    pub registry: Arc<Registry<SyncFile>>,
    pub(crate) pending: HashMap<ObjectId, Vec<Pending>>,
    pub(crate) clocks: HashMap<String, FrameClock>,
    groups: HashMap<String, u64>,
    pub(crate) next_serial: u64,
    pub deadline_hints: bool,
    pub(crate) warned: bool,
}

impl std::fmt::Debug for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncState")
            .field("pending_surfaces", &self.pending.len())
            .field("clocks", &self.clocks)
            .finish()
    }
}

impl SyncState {
    pub fn new(deadline_hints: bool) -> SyncState {
        SyncState {
            registry: Arc::new(Registry::new()),
            pending: HashMap::new(),
            clocks: HashMap::new(),
            groups: HashMap::new(),
            next_serial: 0,
            deadline_hints,
            warned: false,
        }
    }

    pub(crate) fn group(&mut self, output: &str) -> u64 {
        let n = self.groups.len() as u64;
        *self.groups.entry(output.to_owned()).or_insert(n)
    }

    pub fn stats(&self) -> FenceStats {
        self.registry.stats()
    }
}

/// The import-cache pin of a buffer whose commit waits for its fence: what a
/// pending fence waits on is drawn as soon as it signals, so it is never
/// evicted meanwhile.
pub fn fence_pin(serial: u64) -> crate::buffer::cache::PinSource {
    crate::buffer::cache::PinSource::Fence(serial)
}

/// What a commit's buffer must wait for before it is read.
pub enum Acquire {
    /// `wp_linux_drm_syncobj_v1`: a timeline point.
    Syncobj(DrmSyncPoint),
    /// `zwp_linux_explicit_synchronization_v1`: a sync_file.
    SyncFile(Arc<OwnedFd>),
    /// Neither: the dma-buf's own (implicit) fences.
    Implicit,
}

/// Blocks a commit until its sync_file signals.
#[derive(Debug)]
pub(crate) struct FenceBlocker(pub(crate) Arc<std::sync::atomic::AtomicBool>);

impl smithay::wayland::compositor::Blocker for FenceBlocker {
    fn state(&self) -> smithay::wayland::compositor::BlockerState {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            smithay::wayland::compositor::BlockerState::Released
        } else {
            smithay::wayland::compositor::BlockerState::Pending
        }
    }
}

pub(crate) enum BlockerSource {
    SyncFile(FenceBlocker, Generic<OwnedFd>, Arc<std::sync::atomic::AtomicBool>),
    Syncobj(
        smithay::wayland::drm_syncobj::DrmSyncPointBlocker,
        smithay::wayland::drm_syncobj::DrmSyncPointSource,
    ),
    Implicit(
        smithay::backend::allocator::dmabuf::DmabufBlocker,
        smithay::backend::allocator::dmabuf::DmabufSource,
    ),
}

pub(crate) enum Blocker {
    SyncFile(FenceBlocker),
    Syncobj(smithay::wayland::drm_syncobj::DrmSyncPointBlocker),
    Implicit(smithay::backend::allocator::dmabuf::DmabufBlocker),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_next_vblank_minus_render_time_and_skips_past_ones() {
        let ms = Duration::from_millis;
        let mut c = FrameClock::new(ms(16));
        assert_eq!(c.deadline(ms(5)), None, "no vblank seen yet");
        c.presented(ms(100));
        c.render_time = ms(3);
        // now 105: next vblank 116, deadline 113.
        assert_eq!(c.next_vblank(ms(105)), Some(ms(116)));
        assert_eq!(c.deadline(ms(105)), Some(ms(113)));
        // now 114: 116 - 3 is past; the next frame Quay can make is 132.
        assert_eq!(c.deadline(ms(114)), Some(ms(129)));
        // Several periods later.
        assert_eq!(c.next_vblank(ms(150)), Some(ms(164)));
    }

    #[test]
    fn render_estimate_is_a_high_percentile_that_outliers_do_not_move() {
        let ms = Duration::from_millis;
        let mut c = FrameClock::new(ms(16));
        assert_eq!(c.render_time, ms(2), "the guess before any frame");
        c.rendered_in(None);
        assert_eq!(
            (c.render_time, c.frames_rendered),
            (ms(2), 1),
            "nothing drawn: no sample"
        );
        // A warm-up as the VM bench saw it (Quay's first frame, a client's
        // first, a stall, a slowish one), then steady 3 ms frames: the
        // outliers never become the estimate.
        let warm_up = [230, 121, 45, 14, 6, 6, 4, 4];
        for slow in warm_up {
            c.rendered_in(Some(ms(slow)));
            assert_eq!(c.render_time, ms(2));
        }
        for _ in 0..RENDER_SAMPLES - warm_up.len() {
            c.rendered_in(Some(ms(3)));
        }
        assert_eq!(
            c.render_time,
            ms(3),
            "the guess has left the window, the outliers not yet"
        );
        // Frames that drift slower are followed: the window's 75th percentile.
        for i in 0..RENDER_SAMPLES as u64 {
            c.rendered_in(Some(ms(1 + i % 8)));
        }
        // 1..=8 ms, 4 times each: the 24th of 32 is 6 ms.
        assert_eq!(c.render_time, ms(6));
        for _ in 0..RENDER_SAMPLES {
            c.rendered_in(Some(ms(5)));
        }
        assert_eq!(c.render_time, ms(5), "old samples leave the window");
        // Eight slow frames in 32 do not move it; nine do.
        for _ in 0..8 {
            c.rendered_in(Some(ms(40)));
        }
        assert_eq!(c.render_time, ms(5));
        c.rendered_in(Some(ms(40)));
        assert_eq!(c.render_time, ms(40));
        // Slow from the start (GLES on llvmpipe under TCG): followed from
        // the ninth frame.
        let mut c = FrameClock::new(ms(16));
        for _ in 0..8 {
            c.rendered_in(Some(ms(100)));
        }
        assert_eq!(c.render_time, ms(2));
        c.rendered_in(Some(ms(100)));
        assert_eq!(c.render_time, ms(100));
    }

    #[test]
    fn repaint_slot_is_the_next_vblank_less_render_time_and_margin() {
        let ms = Duration::from_millis;
        let mut c = FrameClock::new(ms(16));
        assert_eq!(c.repaint_slot(ms(6)), None, "no vblank seen yet");
        assert_eq!(c.next_repaint_slot(ms(5), ms(6)), None);
        c.presented(ms(100));
        c.render_time = ms(2);
        // After the flip of 100: the frame for 116 starts at 108.
        assert_eq!(c.repaint_slot(ms(6)), Some(ms(108)));
        // A lead longer than the refresh: the slot is before the flip, so
        // the frame starts at once (what Quay did before frame timing).
        assert_eq!(c.repaint_slot(ms(20)), Some(ms(94)));
        // Idle at 103: the slot of 116; at 108 exactly it has passed, so the
        // slot of 132; it is always in the future.
        assert_eq!(c.next_repaint_slot(ms(103), ms(6)), Some(ms(108)));
        assert_eq!(c.next_repaint_slot(ms(108), ms(6)), Some(ms(124)));
        assert_eq!(c.next_repaint_slot(ms(150), ms(6)), Some(ms(156)));
        for now in 100..200 {
            let slot = c.next_repaint_slot(ms(now), ms(20)).unwrap();
            assert!(slot > ms(now) && slot <= ms(now + 16), "now {now}: slot {slot:?}");
        }
    }

    #[test]
    fn ioctl_numbers_match_the_uapi_headers() {
        // Values from <linux/sync_file.h> and <linux/dma-buf.h> on x86_64.
        assert_eq!(SYNC_IOC_SET_DEADLINE, 0x40103e05);
        assert_eq!(DMA_BUF_IOCTL_EXPORT_SYNC_FILE, 0xc0086202);
    }
}
