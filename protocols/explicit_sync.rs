//! `zwp_linux_explicit_synchronization_v1` (version 2), which smithay lacks
//! and `weston-simple-dmabuf-egl -e` speaks.
//!
//! This module is the protocol half: objects, double-buffered state and
//! every protocol error of the XML. The compositor half (waiting for the
//! acquire fence with a blocker, deadline hints) is `crate::sync`, called
//! from Quay's pre-commit hook with [`pending_acquire`].
//!
//! - `get_synchronization` on a surface that already has a live
//!   synchronization object: `synchronization_exists`.
//! - `set_acquire_fence` with an fd that is not a sync_file
//!   (`SYNC_IOC_FILE_INFO` fails): `invalid_fence`; twice in one commit
//!   cycle: `duplicate_fence`; after the surface died: `no_surface`.
//! - `get_release` twice in one cycle: `duplicate_release`; after the
//!   surface died: `no_surface`.
//! - At commit ([`check_commit`], from the pre-commit hook): a fence or a
//!   release with no buffer attached: `no_buffer`; a fence with a buffer
//!   that is not a dma-buf: `unsupported_buffer`.
//!
//! Release: Quay reads client buffers on the CPU (pixman) and is done with
//! a buffer once a later commit replaces it, so a release object gets
//! `immediate_release` when the state it belongs to is replaced, or dropped
//! with its surface (including a commit that never applied). Dropping the
//! holder is what sends it ([`Release`]), so no path can forget it.

use std::{
    os::fd::{AsRawFd, OwnedFd},
    sync::{Arc, Mutex},
};

use smithay::{
    reexports::{
        wayland_protocols::wp::linux_explicit_synchronization::zv1::server::{
            zwp_linux_buffer_release_v1::ZwpLinuxBufferReleaseV1,
            zwp_linux_explicit_synchronization_v1::{self, ZwpLinuxExplicitSynchronizationV1},
            zwp_linux_surface_synchronization_v1::{self, ZwpLinuxSurfaceSynchronizationV1},
        },
        wayland_server::{
            backend::GlobalId, protocol::wl_surface::WlSurface, Client, DataInit, Dispatch, DisplayHandle,
            GlobalDispatch, New, Resource, Weak,
        },
    },
    wayland::compositor::{with_states, BufferAssignment, Cacheable, SurfaceAttributes},
};

/// The global.
#[derive(Debug)]
pub struct ExplicitSyncState {
    global: GlobalId,
}

impl ExplicitSyncState {
    pub fn new<D>(dh: &DisplayHandle) -> ExplicitSyncState
    where
        D: GlobalDispatch<ZwpLinuxExplicitSynchronizationV1, ()>
            + Dispatch<ZwpLinuxExplicitSynchronizationV1, ()>
            + Dispatch<ZwpLinuxSurfaceSynchronizationV1, Weak<WlSurface>>
            + Dispatch<ZwpLinuxBufferReleaseV1, ()>
            + 'static,
    {
        ExplicitSyncState {
            global: dh.create_global::<D, ZwpLinuxExplicitSynchronizationV1, _>(2, ()),
        }
    }

    pub fn global(&self) -> GlobalId {
        self.global.clone()
    }
}

/// A release object; sends `immediate_release` when dropped.
#[derive(Debug)]
pub struct Release(ZwpLinuxBufferReleaseV1);

impl Drop for Release {
    fn drop(&mut self) {
        if self.0.is_alive() {
            self.0.immediate_release();
        }
    }
}

/// Double-buffered per-surface state.
#[derive(Debug, Default)]
pub struct ExplicitSyncCachedState {
    /// The acquire fence (a sync_file).
    pub acquire: Option<Arc<OwnedFd>>,
    pub release: Option<Release>,
    /// Whether this commit changes the buffer: attaches a new one or
    /// attaches NULL (set by [`check_commit`]).
    buffer_changed: bool,
}

impl Cacheable for ExplicitSyncCachedState {
    fn commit(&mut self, _dh: &DisplayHandle) -> Self {
        ExplicitSyncCachedState {
            acquire: self.acquire.take(),
            release: self.release.take(),
            buffer_changed: std::mem::take(&mut self.buffer_changed),
        }
    }

    fn merge_into(self, into: &mut Self, _dh: &DisplayHandle) {
        // A commit that attaches a buffer, or NULL, replaces the current
        // release (dropping it sends `immediate_release`: its buffer is no
        // longer current) with its own, possibly none. [`check_commit`]
        // rejects a fence or release without a buffer.
        into.acquire = self.acquire;
        if self.buffer_changed {
            into.release = self.release;
        }
    }
}

/// The live synchronization object of a surface, for `synchronization_exists`
/// and for posting commit-time errors on it.
#[derive(Debug, Default)]
struct SurfaceSync(Mutex<Option<ZwpLinuxSurfaceSynchronizationV1>>);

fn live_sync_object(surface: &WlSurface) -> Option<ZwpLinuxSurfaceSynchronizationV1> {
    with_states(surface, |data| {
        data.data_map
            .get::<SurfaceSync>()
            .and_then(|s| s.0.lock().ok().and_then(|g| g.clone()))
            .filter(|o| o.is_alive())
    })
}

/// Whether `fd` is a sync_file: `SYNC_IOC_FILE_INFO` with no fence array.
fn is_sync_file(fd: &OwnedFd) -> bool {
    // <linux/sync_file.h>: struct sync_file_info { char name[32]; __s32 status;
    // __u32 flags; __u32 num_fences; __u32 pad; __u64 sync_fence_info; }
    #[repr(C)]
    struct SyncFileInfo {
        name: [u8; 32],
        status: i32,
        flags: u32,
        num_fences: u32,
        pad: u32,
        sync_fence_info: u64,
    }
    const SYNC_IOC_FILE_INFO: libc::c_ulong = crate::sync::iowr(b'>', 4, std::mem::size_of::<SyncFileInfo>());
    let mut info = SyncFileInfo {
        name: [0; 32],
        status: 0,
        flags: 0,
        num_fences: 0,
        pad: 0,
        sync_fence_info: 0,
    };
    // SAFETY: a valid fd and the struct the ioctl is defined with; with
    // num_fences 0 the kernel writes nothing through sync_fence_info.
    unsafe { libc::ioctl(fd.as_raw_fd(), SYNC_IOC_FILE_INFO, &mut info) == 0 }
}

/// The pre-commit check: post the commit-time errors. Returns the acquire
/// fence to wait for when the commit is valid and has one.
pub fn check_commit(surface: &WlSurface) -> Option<Arc<OwnedFd>> {
    let object = live_sync_object(surface);
    with_states(surface, |data| {
        let mut attrs = data.cached_state.get::<SurfaceAttributes>();
        let buffer_changed = matches!(
            attrs.pending().buffer,
            Some(BufferAssignment::NewBuffer(_) | BufferAssignment::Removed)
        );
        let mut sync = data.cached_state.get::<ExplicitSyncCachedState>();
        let pending = sync.pending();
        pending.buffer_changed = buffer_changed;
        let object = object?;
        if pending.acquire.is_none() && pending.release.is_none() {
            return None;
        }
        let dmabuf = match attrs.pending().buffer.as_ref() {
            Some(BufferAssignment::NewBuffer(buffer)) => {
                Some(smithay::wayland::dmabuf::get_dmabuf(buffer).is_ok())
            }
            _ => None,
        };
        match dmabuf {
            None => {
                object.post_error(
                    zwp_linux_surface_synchronization_v1::Error::NoBuffer,
                    "a fence or release was set with no buffer attached",
                );
                None
            }
            Some(false) if pending.acquire.is_some() => {
                object.post_error(
                    zwp_linux_surface_synchronization_v1::Error::UnsupportedBuffer,
                    "explicit synchronization needs a linux-dmabuf buffer",
                );
                None
            }
            _ => pending.acquire.clone(),
        }
    })
}

/// The surface died: send the releases of its current and pending state now.
/// (Its data lives on while anything holds a handle to it, keyboard focus
/// for one, and a release must not wait for that.)
pub fn surface_destroyed(surface: &WlSurface) {
    let releases = with_states(surface, |data| {
        let mut sync = data.cached_state.get::<ExplicitSyncCachedState>();
        [sync.current().release.take(), sync.pending().release.take()]
    });
    drop(releases);
}

impl<D> GlobalDispatch<ZwpLinuxExplicitSynchronizationV1, (), D> for ExplicitSyncState
where
    D: GlobalDispatch<ZwpLinuxExplicitSynchronizationV1, ()>
        + Dispatch<ZwpLinuxExplicitSynchronizationV1, ()>
        + Dispatch<ZwpLinuxSurfaceSynchronizationV1, Weak<WlSurface>>
        + Dispatch<ZwpLinuxBufferReleaseV1, ()>
        + 'static,
{
    fn bind(
        _state: &mut D,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwpLinuxExplicitSynchronizationV1>,
        _global_data: &(),
        data_init: &mut DataInit<'_, D>,
    ) {
        data_init.init(resource, ());
    }
}

impl<D> Dispatch<ZwpLinuxExplicitSynchronizationV1, (), D> for ExplicitSyncState
where
    D: Dispatch<ZwpLinuxExplicitSynchronizationV1, ()>
        + Dispatch<ZwpLinuxSurfaceSynchronizationV1, Weak<WlSurface>>
        + Dispatch<ZwpLinuxBufferReleaseV1, ()>
        + 'static,
{
    fn request(
        _state: &mut D,
        _client: &Client,
        resource: &ZwpLinuxExplicitSynchronizationV1,
        request: zwp_linux_explicit_synchronization_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, D>,
    ) {
        match request {
            zwp_linux_explicit_synchronization_v1::Request::GetSynchronization { id, surface } => {
                if live_sync_object(&surface).is_some() {
                    resource.post_error(
                        zwp_linux_explicit_synchronization_v1::Error::SynchronizationExists,
                        "the surface already has a synchronization object",
                    );
                    return;
                }
                let object = data_init.init(id, surface.downgrade());
                with_states(&surface, |data| {
                    data.data_map.insert_if_missing_threadsafe(SurfaceSync::default);
                    if let Some(slot) = data.data_map.get::<SurfaceSync>() {
                        if let Ok(mut slot) = slot.0.lock() {
                            *slot = Some(object);
                        }
                    }
                });
            }
            zwp_linux_explicit_synchronization_v1::Request::Destroy => {}
            _ => {}
        }
    }
}

impl<D> Dispatch<ZwpLinuxSurfaceSynchronizationV1, Weak<WlSurface>, D> for ExplicitSyncState
where
    D: Dispatch<ZwpLinuxSurfaceSynchronizationV1, Weak<WlSurface>>
        + Dispatch<ZwpLinuxBufferReleaseV1, ()>
        + 'static,
{
    fn request(
        _state: &mut D,
        _client: &Client,
        resource: &ZwpLinuxSurfaceSynchronizationV1,
        request: zwp_linux_surface_synchronization_v1::Request,
        surface: &Weak<WlSurface>,
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, D>,
    ) {
        use zwp_linux_surface_synchronization_v1::{Error, Request};
        let Ok(surface) = surface.upgrade() else {
            // Creating the release object first keeps the id consistent for
            // the client; the error kills it anyway.
            if let Request::GetRelease { release } = request {
                data_init.init(release, ());
            }
            resource.post_error(Error::NoSurface, "the wl_surface was destroyed");
            return;
        };
        match request {
            Request::SetAcquireFence { fd } => {
                if !is_sync_file(&fd) {
                    resource.post_error(Error::InvalidFence, "the fd is not a sync_file");
                    return;
                }
                let duplicate = with_states(&surface, |data| {
                    let mut sync = data.cached_state.get::<ExplicitSyncCachedState>();
                    let pending = sync.pending();
                    if pending.acquire.is_some() {
                        true
                    } else {
                        pending.acquire = Some(Arc::new(fd));
                        false
                    }
                });
                if duplicate {
                    resource.post_error(Error::DuplicateFence, "a fence was already set for this commit");
                }
            }
            Request::GetRelease { release } => {
                let release = data_init.init(release, ());
                let duplicate = with_states(&surface, |data| {
                    let mut sync = data.cached_state.get::<ExplicitSyncCachedState>();
                    let pending = sync.pending();
                    if pending.release.is_some() {
                        true
                    } else {
                        pending.release = Some(Release(release.clone()));
                        false
                    }
                });
                if duplicate {
                    resource.post_error(
                        Error::DuplicateRelease,
                        "a release was already requested for this commit",
                    );
                }
            }
            Request::Destroy => {
                // Fences set since the last commit are discarded; released
                // objects already committed are not affected.
                with_states(&surface, |data| {
                    let mut sync = data.cached_state.get::<ExplicitSyncCachedState>();
                    sync.pending().acquire = None;
                    if let Some(slot) = data.data_map.get::<SurfaceSync>() {
                        if let Ok(mut slot) = slot.0.lock() {
                            *slot = None;
                        }
                    }
                });
            }
            _ => {}
        }
    }
}

impl<D> Dispatch<ZwpLinuxBufferReleaseV1, (), D> for ExplicitSyncState
where
    D: Dispatch<ZwpLinuxBufferReleaseV1, ()> + 'static,
{
    fn request(
        _state: &mut D,
        _client: &Client,
        _resource: &ZwpLinuxBufferReleaseV1,
        _request: <ZwpLinuxBufferReleaseV1 as Resource>::Request,
        _data: &(),
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, D>,
    ) {
        // zwp_linux_buffer_release_v1 has no requests.
    }
}
