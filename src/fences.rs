//! The compositor's side of `crate::sync`: each output's frame clock and
//! deadlines, and each surface's commits waiting for their acquire fences.
//! Here because it needs `Core` (the space, the event loop, the stats) and
//! `State` (a signalled fence releases the commit and the import pin),
//! which `crate::sync` itself does not know.

use std::{os::fd::OwnedFd, sync::Arc, time::Duration};

use smithay::{
    backend::allocator::dmabuf::Dmabuf,
    reexports::{
        calloop::{generic::Generic, Interest, Mode, PostAction, RegistrationToken},
        wayland_server::{protocol::wl_surface::WlSurface, Resource},
    },
    wayland::{compositor::CompositorHandler, drm_syncobj::DrmSyncPoint},
};
use tracing::{debug, warn};

use crate::{
    state::Core,
    sync::{
        export_implicit_read_fence, fence_pin, registry::Fence, Acquire, Blocker, BlockerSource,
        FenceBlocker, FrameClock, Pending, SyncFile,
    },
    State,
};

/// The fds a commit held on its acquire fence makes Quay hold, charged to
/// its client until the commit applies or is dropped: the wait's source
/// (a dup of the sync_file, or the syncobj's eventfd) and the sync_file
/// kept for deadline hints.
pub const HELD_COMMIT_FDS: u64 = 2;

fn now_ns(core: &Core) -> u64 {
    let now: Duration = core.now();
    now.as_nanos() as u64
}

impl Core {
    /// An output presented a frame at `at` (its clock's vblank).
    pub fn frame_clock_presented(&mut self, output: &str, refresh: Duration, at: Duration) {
        self.frame_clock(output, refresh).presented(at);
        self.dispatch_deadlines(output);
    }

    /// Quay rendered a frame for `output` in `took` (see
    /// [`FrameClock::rendered_in`]).
    pub fn frame_clock_rendered(&mut self, output: &str, refresh: Duration, took: Option<Duration>) {
        self.frame_clock(output, refresh).rendered_in(took);
    }

    /// The lead of a frame queued on `output` ([`FrameClock::sample`]).
    pub fn frame_clock_lead(&mut self, output: &str, refresh: Duration, took: Duration) {
        self.frame_clock(output, refresh).sample(took);
    }

    fn frame_clock(&mut self, output: &str, refresh: Duration) -> &mut FrameClock {
        self.sync
            .clocks
            .entry(output.to_owned())
            .or_insert_with(|| FrameClock::new(refresh))
    }

    /// A frame for `output` was queued to KMS and ends in `fence` (a GLES
    /// render's native fence): tell the kernel it is wanted by the vblank
    /// the frame targets, as KWin does on what it commits. One ioctl, with
    /// no lock held.
    pub fn render_fence_deadline(&mut self, output: &str, fence: OwnedFd) {
        if !self.sync.deadline_hints {
            return;
        }
        let now = self.now();
        let Some(vblank) = self.sync.clocks.get(output).and_then(|c| c.next_vblank(now)) else {
            return;
        };
        match SyncFile(fence).set_deadline(vblank.as_nanos() as u64) {
            Ok(()) => self.stats.render_deadlines_set_total += 1,
            Err(e) => {
                if self.stats.render_deadline_errors_total == 0 {
                    warn!("SYNC_IOC_SET_DEADLINE on a render fence failed: {e}");
                }
                self.stats.render_deadline_errors_total += 1;
            }
        }
    }

    /// The first vblank of `output` after now, if its clock has run: the one
    /// a frame started now is for.
    pub fn next_vblank(&self, output: &str) -> Option<Duration> {
        self.sync.clocks.get(output)?.next_vblank(self.now())
    }

    /// When `output`'s next frame should start (see
    /// [`FrameClock::repaint_slot`]; `idle`: [`FrameClock::next_repaint_slot`]),
    /// if its clock has run.
    pub fn repaint_slot(&self, output: &str, idle: bool) -> Option<Duration> {
        let clock = self.sync.clocks.get(output)?;
        let margin = Duration::from_millis(self.config.render.repaint_margin_ms.0 as u64);
        if idle {
            clock.next_repaint_slot(self.now(), margin)
        } else {
            clock.repaint_slot(margin)
        }
    }

    /// The predicted deadline for `output`, if its clock has run.
    pub fn output_deadline(&self, output: &str) -> Option<Duration> {
        self.sync.clocks.get(output)?.deadline(self.now())
    }

    /// Send the current deadline of `output` to its pending fences.
    fn dispatch_deadlines(&mut self, output: &str) {
        if !self.sync.deadline_hints {
            return;
        }
        let Some(deadline) = self.output_deadline(output) else {
            return;
        };
        let group = self.sync.group(output);
        self.sync.registry.set_deadline(group, deadline.as_nanos() as u64);
        self.warn_deadline_errors_once();
    }

    fn warn_deadline_errors_once(&mut self) {
        if !self.sync.warned && self.sync.registry.stats().deadline_errors_total > 0 {
            self.sync.warned = true;
            warn!("SYNC_IOC_SET_DEADLINE failed (the kernel may predate it); deadline hints are best effort");
        }
    }

    /// Hold the commit of `surface` that attaches `dmabuf` until its acquire
    /// fence signals: the syncobj point or sync_file if the client set one,
    /// else the dma-buf's implicit fences. Called from the pre-commit hook.
    pub fn wait_for_acquire(
        &mut self,
        surface: &WlSurface,
        acquire: Acquire,
        release: Option<DrmSyncPoint>,
        dmabuf: &Dmabuf,
    ) -> Option<u64> {
        let client = surface.client()?;
        // The blocker and its source, and the sync_file to hint.
        let (blocker_source, sync_file) = acquire_blocker(acquire, dmabuf)?;
        // A client committing in a loop on a point that never signals
        // would otherwise grow Quay's fds without limit.
        if !crate::handlers::budget::charge_core_with(self, &client, |b| {
            b.try_charge("a commit held on its acquire fence", HELD_COMMIT_FDS, 0)
        }) {
            return None;
        }
        let client_id = client.id();
        let fence = sync_file.map(|fd| self.register_acquire_fence(surface, fd));
        let serial = self.sync.next_serial;
        self.sync.next_serial += 1;
        let surface_id = surface.id();
        let key = surface_id.clone();
        let on_ready = move |state: &mut State| {
            let now = now_ns(&state.core);
            if let Some(list) = state.core.sync.pending.get_mut(&key) {
                if let Some(i) = list.iter().position(|p| p.serial == serial) {
                    let p = list.swap_remove(i);
                    if let Some(id) = p.fence {
                        state.core.sync.registry.signalled(id, now);
                    }
                }
                if list.is_empty() {
                    state.core.sync.pending.remove(&key);
                }
            }
            state.backend.imports().unpin(&fence_pin(serial));
            let dh = state.core.display_handle.clone();
            crate::handlers::budget::release_by_id(&dh, &client.id(), HELD_COMMIT_FDS, 0);
            state.client_compositor_state(&client).blocker_cleared(state, &dh);
        };
        let (blocker, token) = self.watch_acquire(blocker_source, on_ready);
        let token = match token {
            Ok(t) => t,
            Err(e) => {
                warn!("cannot register an acquire wait: {e}; applying the commit");
                if let Some(id) = fence {
                    self.sync.registry.destroy(id);
                }
                crate::handlers::budget::release_by_id(&self.display_handle, &client_id, HELD_COMMIT_FDS, 0);
                return None;
            }
        };
        match blocker {
            Blocker::Syncobj(b) => smithay::wayland::compositor::add_blocker(surface, b),
            Blocker::Implicit(b) => smithay::wayland::compositor::add_blocker(surface, b),
            Blocker::SyncFile(b) => smithay::wayland::compositor::add_blocker(surface, b),
        }
        self.sync.registry.note_acquire_wait();
        debug!(
            serial,
            hinted = fence.is_some(),
            "commit waits for its acquire fence"
        );
        self.sync.pending.entry(surface_id).or_default().push(Pending {
            serial,
            fence,
            token,
            release,
            client: client_id,
        });
        Some(serial)
    }

    /// Put an acquire fence in the registry, in the group of the output
    /// `surface` is shown on, with that output's next deadline as its hint.
    fn register_acquire_fence(&mut self, surface: &WlSurface, fd: OwnedFd) -> crate::sync::registry::FenceId {
        let output = self.output_of_surface(surface).map(|o| o.name());
        let group = output.as_deref().map_or(u64::MAX, |o| self.sync.group(o));
        let id = self.sync.registry.register(Arc::new(SyncFile(fd)), group);
        if let (Some(out), true) = (output.as_deref(), self.sync.deadline_hints) {
            if let Some(deadline) = self.output_deadline(out) {
                self.sync.registry.set_deadline_of(id, deadline.as_nanos() as u64);
                self.warn_deadline_errors_once();
            }
        }
        id
    }

    /// Register `source` with the loop, `on_ready` to run when it fires.
    fn watch_acquire(
        &mut self,
        source: BlockerSource,
        mut on_ready: impl FnMut(&mut State) + 'static,
    ) -> (Blocker, Result<RegistrationToken, String>) {
        match source {
            BlockerSource::Syncobj(blocker, source) => {
                let token = self.loop_handle.insert_source(source, move |_, _, state| {
                    on_ready(state);
                    Ok(())
                });
                (Blocker::Syncobj(blocker), token.map_err(|e| e.error.to_string()))
            }
            BlockerSource::Implicit(blocker, source) => {
                let token = self.loop_handle.insert_source(source, move |_, _, state| {
                    on_ready(state);
                    Ok(())
                });
                (Blocker::Implicit(blocker), token.map_err(|e| e.error.to_string()))
            }
            BlockerSource::SyncFile(blocker, source, signal) => {
                let token = self.loop_handle.insert_source(source, move |_, _, state| {
                    // A sync_file polls readable once its fences signalled.
                    signal.store(true, std::sync::atomic::Ordering::SeqCst);
                    on_ready(state);
                    Ok(PostAction::Remove)
                });
                (Blocker::SyncFile(blocker), token.map_err(|e| e.error.to_string()))
            }
        }
    }

    /// `surface` is gone: stop waiting for its blocked commits, forget their
    /// fences, and signal the release points of commits that never applied
    /// (the client may reuse those buffers: Quay never read them).
    ///
    /// Returns the serials of the waits dropped (their import pins go too).
    pub fn surface_sync_destroyed(&mut self, surface: &WlSurface) -> Vec<u64> {
        let Some(list) = self.sync.pending.remove(&surface.id()) else {
            return Vec::new();
        };
        let serials = list.iter().map(|p| p.serial).collect();
        for p in list {
            self.loop_handle.remove(p.token);
            crate::handlers::budget::release_by_id(&self.display_handle, &p.client, HELD_COMMIT_FDS, 0);
            if let Some(id) = p.fence {
                self.sync.registry.destroy(id);
            }
            if let Some(release) = p.release {
                if let Err(e) = release.signal() {
                    debug!("signalling the release point of a dropped commit: {e}");
                }
            }
        }
        serials
    }
}

/// The blocker that holds a commit until `acquire` signals, its event
/// source, and the sync_file to give deadline hints to (none for a syncobj
/// point not materialized yet). `None`: nothing to wait for, or nothing
/// that can be waited on (the commit applies now).
fn acquire_blocker(acquire: Acquire, dmabuf: &Dmabuf) -> Option<(BlockerSource, Option<OwnedFd>)> {
    Some(match acquire {
        Acquire::SyncFile(fd) => {
            let (watch, hint) = match (fd.try_clone(), fd.try_clone()) {
                (Ok(a), Ok(b)) => (a, b),
                _ => {
                    warn!("cannot dup an acquire fence; applying the commit");
                    return None;
                }
            };
            let signal = Arc::new(std::sync::atomic::AtomicBool::new(false));
            (
                BlockerSource::SyncFile(
                    FenceBlocker(signal.clone()),
                    Generic::new(watch, Interest::READ, Mode::OneShot),
                    signal,
                ),
                Some(hint),
            )
        }
        Acquire::Syncobj(point) => match point.generate_blocker() {
            Ok((blocker, source)) => {
                // An unmaterialized point has no fence to export yet:
                // it is waited for, without a hint.
                (
                    BlockerSource::Syncobj(blocker, source),
                    point.export_sync_file().ok(),
                )
            }
            Err(e) => {
                warn!("cannot wait on an acquire point: {e}; applying the commit");
                return None;
            }
        },
        Acquire::Implicit => match dmabuf.generate_blocker(Interest::READ) {
            Ok((blocker, source)) => (
                BlockerSource::Implicit(blocker, source),
                export_implicit_read_fence(dmabuf).ok(),
            ),
            // Nothing to wait for: the dma-buf is readable now.
            Err(_) => return None,
        },
    })
}
