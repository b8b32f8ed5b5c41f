//! wl_compositor, wl_subcompositor, syncobj and explicit-sync dispatch.

use smithay::{
    backend::renderer::utils::on_commit_buffer_handler,
    delegate_compositor,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Client},
    wayland::{
        compositor::{
            add_pre_commit_hook, get_parent, is_sync_subsurface, with_states, BufferAssignment,
            CompositorClientState, CompositorHandler, CompositorState, SurfaceAttributes,
        },
        dmabuf::get_dmabuf,
        drm_syncobj::{DrmSyncobjCachedState, DrmSyncobjHandler, DrmSyncobjState},
    },
};

use crate::{protocols::explicit_sync::ExplicitSyncState, shell, state::ClientState, sync::Acquire, State};

impl CompositorHandler for State {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.core.compositor_state
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        // Every client is inserted with `ClientState` (state.rs); a client
        // without it would be a bug in Quay, not client input.
        &client
            .get_data::<ClientState>()
            .expect("every client is inserted with ClientState")
            .compositor_state
    }

    fn new_surface(&mut self, surface: &WlSurface) {
        // Before a commit applies: hold it until its acquire fence (syncobj
        // point or the dma-buf's implicit fences) has signalled.
        add_pre_commit_hook::<Self, _>(surface, |state, _dh, surface| {
            let (acquire, release, dmabuf) = with_states(surface, |data| {
                let mut sync = data.cached_state.get::<DrmSyncobjCachedState>();
                let pending = sync.pending();
                let (acquire, release) = (pending.acquire_point.clone(), pending.release_point.clone());
                let dmabuf = match data
                    .cached_state
                    .get::<SurfaceAttributes>()
                    .pending()
                    .buffer
                    .as_ref()
                {
                    Some(BufferAssignment::NewBuffer(buffer)) => get_dmabuf(buffer).ok().cloned(),
                    _ => None,
                };
                (acquire, release, dmabuf)
            });
            // zwp_linux_explicit_synchronization_v1: its commit-time errors,
            // and its acquire fence if the commit is valid.
            let sync_file = crate::protocols::explicit_sync::check_commit(surface);
            if let Some(dmabuf) = dmabuf {
                let acquire = match (acquire, sync_file) {
                    (Some(point), _) => Acquire::Syncobj(point),
                    (None, Some(fd)) => Acquire::SyncFile(fd),
                    (None, None) => Acquire::Implicit,
                };
                let waiting = state.core.wait_for_acquire(surface, acquire, release, &dmabuf);
                // While the commit waits on its fence, its import is resident
                // (it is drawn as soon as the fence signals) and pinned.
                if let (Some(serial), Some(renderer)) = (waiting, state.backend.quay_renderer()) {
                    match smithay::backend::renderer::ImportDma::import_dmabuf(renderer, &dmabuf, None) {
                        Ok(texture) => {
                            if let Some(id) = texture.entry() {
                                renderer
                                    .cache_mut()
                                    .set_pins(&crate::sync::fence_pin(serial), vec![id]);
                            }
                        }
                        Err(e) => tracing::debug!("re-importing a waiting buffer: {e:?}"),
                    }
                }
            }
        });
    }

    fn destroyed(&mut self, surface: &WlSurface) {
        let dropped = self.core.surface_sync_destroyed(surface);
        if let Some(renderer) = self.backend.quay_renderer() {
            for serial in dropped {
                renderer.cache_mut().unpin(&crate::sync::fence_pin(serial));
            }
        }
        crate::protocols::explicit_sync::surface_destroyed(surface);
    }

    fn commit(&mut self, surface: &WlSurface) {
        on_commit_buffer_handler::<Self>(surface);

        if !is_sync_subsurface(surface) {
            let mut root = surface.clone();
            while let Some(parent) = get_parent(&root) {
                root = parent;
            }
            if let Some(window) = self.core.window_for_surface(&root) {
                window.on_commit();
            }
        }
        shell::handle_commit(&mut self.core, surface);
    }
}
delegate_compositor!(State);

impl DrmSyncobjHandler for State {
    fn drm_syncobj_state(&mut self) -> Option<&mut DrmSyncobjState> {
        self.core.syncobj_state.as_mut()
    }
}
smithay::delegate_drm_syncobj!(State);

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols::wp::linux_explicit_synchronization::zv1::server::zwp_linux_explicit_synchronization_v1::ZwpLinuxExplicitSynchronizationV1: ()
] => ExplicitSyncState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols::wp::linux_explicit_synchronization::zv1::server::zwp_linux_explicit_synchronization_v1::ZwpLinuxExplicitSynchronizationV1: ()
] => ExplicitSyncState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols::wp::linux_explicit_synchronization::zv1::server::zwp_linux_surface_synchronization_v1::ZwpLinuxSurfaceSynchronizationV1: smithay::reexports::wayland_server::Weak<WlSurface>
] => ExplicitSyncState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols::wp::linux_explicit_synchronization::zv1::server::zwp_linux_buffer_release_v1::ZwpLinuxBufferReleaseV1: ()
] => ExplicitSyncState);
