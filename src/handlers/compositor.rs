//! wl_compositor, syncobj and explicit-sync dispatch (wl_subcompositor's
//! is in `subsurface.rs`).

use smithay::{
    backend::renderer::utils::on_commit_buffer_handler,
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
        // Every client is inserted with `ClientState` (state.rs), but
        // Xwayland, whom smithay inserts with its own data
        // (smithay-0.7.0 src/xwayland/xserver.rs:207); another would be a
        // bug in Quay, not client input.
        if let Some(x) = client.get_data::<smithay::xwayland::XWaylandClientData>() {
            return &x.compositor_state;
        }
        &client
            .get_data::<ClientState>()
            .expect("every client is inserted with ClientState or XWaylandClientData")
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
            crate::handlers::xdg_shell::check_unconfigured_buffer(state, surface);
            crate::handlers::layer_shell::check_unconfigured_buffer(state, surface);
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
                if let Some(serial) = waiting {
                    let imports = state.backend.imports();
                    match imports.import_client(&dmabuf) {
                        Ok(Some(id)) => imports.set_pins(&crate::sync::fence_pin(serial), vec![id]),
                        Ok(None) => {}
                        Err(e) => tracing::debug!("re-importing a waiting buffer: {e}"),
                    }
                }
            }
        });
    }

    fn destroyed(&mut self, surface: &WlSurface) {
        let dropped = self.core.surface_sync_destroyed(surface);
        let imports = self.backend.imports();
        for serial in dropped {
            imports.unpin(&crate::sync::fence_pin(serial));
        }
        crate::protocols::explicit_sync::surface_destroyed(surface);
        smithay::wayland::compositor::with_states(surface, crate::buffer::import::surface_destroyed);
        self.release_focus_of(surface);
        self.lift_touches_on(surface);
        if self.core.popup_grab.is_some() {
            // Checked once the destruction is done: the grab's root is dead by then.
            self.core.loop_handle.insert_idle(|state| {
                if state.core.popup_grab.as_ref().is_some_and(|g| g.has_ended()) {
                    state.core.popup_grab = None;
                }
            });
        }
    }

    fn commit(&mut self, surface: &WlSurface) {
        super::subsurface::apply_child_positions(surface);
        on_commit_buffer_handler::<Self>(surface);

        if !is_sync_subsurface(surface) {
            let mut root = surface.clone();
            while let Some(parent) = get_parent(&root) {
                root = parent;
            }
            if let Some(window) = self.core.window_for_surface(&root).cloned() {
                let before = window.geometry().loc;
                window.on_commit();
                self.core.keep_root_in_place(&window, before);
            }
        }
        shell::handle_commit(&mut self.core, surface);
        super::layer_shell::handle_commit(&mut self.core, surface);
        self.layer_keyboard_after_commit(surface);
        self.core.selection.icon_committed(surface);
    }
}
// delegate_compositor! less wl_subcompositor's requests (below).
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_server::protocol::wl_compositor::WlCompositor: ()
] => CompositorState);
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_server::protocol::wl_subcompositor::WlSubcompositor: ()
] => CompositorState);

/// `wl_surface.damage` and `wl_region.add` / `subtract` with a negative
/// width or height: the protocol defines no error, so they are ignored as
/// an empty rectangle would be (`damage_buffer` already is, smithay-0.7.0
/// src/wayland/compositor/handlers.rs:306). smithay would build a negative
/// `Size` from them (handlers.rs:222, :402), a debug assertion that the wire
/// fuzzer (`tests/fuzz.rs`) hit first.
impl smithay::reexports::wayland_server::Dispatch<WlSurface, smithay::wayland::compositor::SurfaceUserData>
    for State
{
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WlSurface,
        request: smithay::reexports::wayland_server::protocol::wl_surface::Request,
        data: &smithay::wayland::compositor::SurfaceUserData,
        dh: &smithay::reexports::wayland_server::DisplayHandle,
        data_init: &mut smithay::reexports::wayland_server::DataInit<'_, State>,
    ) {
        use smithay::reexports::wayland_server::protocol::wl_surface::Request;
        match &request {
            Request::Damage { width, height, .. } if *width < 0 || *height < 0 => return,
            Request::Frame { .. } if !super::budget::charge_object(state, client, "a frame callback") => {
                return;
            }
            _ => {}
        }
        <CompositorState as smithay::reexports::wayland_server::Dispatch<
            WlSurface,
            smithay::wayland::compositor::SurfaceUserData,
            State,
        >>::request(state, client, resource, request, data, dh, data_init)
    }

    fn destroyed(
        state: &mut State,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &WlSurface,
        data: &smithay::wayland::compositor::SurfaceUserData,
    ) {
        // The surface, and the frame callbacks it will never answer now
        // (wl_callback has no destroy request: they stay in the client's
        // object map, uncounted, until it disconnects).
        let orphans = with_states(resource, |s| {
            let mut attrs = s.cached_state.get::<SurfaceAttributes>();
            attrs.pending().frame_callbacks.len() + attrs.current().frame_callbacks.len()
        });
        for _ in 0..=orphans {
            super::budget::release_object_by_id(&state.core.display_handle, &client);
        }
        <CompositorState as smithay::reexports::wayland_server::Dispatch<
            WlSurface,
            smithay::wayland::compositor::SurfaceUserData,
            State,
        >>::destroyed(state, client, resource, data)
    }
}

impl
    smithay::reexports::wayland_server::Dispatch<
        smithay::reexports::wayland_server::protocol::wl_region::WlRegion,
        smithay::wayland::compositor::RegionUserData,
    > for State
{
    fn request(
        state: &mut State,
        client: &Client,
        resource: &smithay::reexports::wayland_server::protocol::wl_region::WlRegion,
        request: smithay::reexports::wayland_server::protocol::wl_region::Request,
        data: &smithay::wayland::compositor::RegionUserData,
        dh: &smithay::reexports::wayland_server::DisplayHandle,
        data_init: &mut smithay::reexports::wayland_server::DataInit<'_, State>,
    ) {
        use smithay::reexports::wayland_server::protocol::wl_region::Request;
        match &request {
            Request::Add { width, height, .. } | Request::Subtract { width, height, .. }
                if *width < 0 || *height < 0 =>
            {
                return;
            }
            _ => {}
        }
        <CompositorState as smithay::reexports::wayland_server::Dispatch<
            smithay::reexports::wayland_server::protocol::wl_region::WlRegion,
            smithay::wayland::compositor::RegionUserData,
            State,
        >>::request(state, client, resource, request, data, dh, data_init)
    }

    fn destroyed(
        state: &mut State,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &smithay::reexports::wayland_server::protocol::wl_region::WlRegion,
        data: &smithay::wayland::compositor::RegionUserData,
    ) {
        super::budget::release_object_by_id(&state.core.display_handle, &client);
        <CompositorState as smithay::reexports::wayland_server::Dispatch<
            smithay::reexports::wayland_server::protocol::wl_region::WlRegion,
            smithay::wayland::compositor::RegionUserData,
            State,
        >>::destroyed(state, client, resource, data)
    }
}

/// `wl_compositor`: each surface and region is charged to its client's
/// object budget (`limits.rs`) before smithay makes it.
impl
    smithay::reexports::wayland_server::Dispatch<
        smithay::reexports::wayland_server::protocol::wl_compositor::WlCompositor,
        (),
    > for State
{
    fn request(
        state: &mut State,
        client: &Client,
        resource: &smithay::reexports::wayland_server::protocol::wl_compositor::WlCompositor,
        request: smithay::reexports::wayland_server::protocol::wl_compositor::Request,
        data: &(),
        dh: &smithay::reexports::wayland_server::DisplayHandle,
        data_init: &mut smithay::reexports::wayland_server::DataInit<'_, State>,
    ) {
        use smithay::reexports::wayland_server::protocol::wl_compositor::Request;
        let what = match &request {
            Request::CreateSurface { .. } => Some("a wl_surface"),
            Request::CreateRegion { .. } => Some("a wl_region"),
            _ => None,
        };
        if let Some(what) = what {
            if !super::budget::charge_object(state, client, what) {
                return;
            }
        }
        <CompositorState as smithay::reexports::wayland_server::Dispatch<
            smithay::reexports::wayland_server::protocol::wl_compositor::WlCompositor,
            (),
            State,
        >>::request(state, client, resource, request, data, dh, data_init)
    }
}

/// Frame callbacks: charged at `wl_surface.frame`, given back when done.
impl
    smithay::reexports::wayland_server::Dispatch<
        smithay::reexports::wayland_server::protocol::wl_callback::WlCallback,
        (),
    > for State
{
    fn request(
        state: &mut State,
        client: &Client,
        resource: &smithay::reexports::wayland_server::protocol::wl_callback::WlCallback,
        request: smithay::reexports::wayland_server::protocol::wl_callback::Request,
        data: &(),
        dh: &smithay::reexports::wayland_server::DisplayHandle,
        data_init: &mut smithay::reexports::wayland_server::DataInit<'_, State>,
    ) {
        <CompositorState as smithay::reexports::wayland_server::Dispatch<
            smithay::reexports::wayland_server::protocol::wl_callback::WlCallback,
            (),
            State,
        >>::request(state, client, resource, request, data, dh, data_init)
    }

    fn destroyed(
        state: &mut State,
        client: smithay::reexports::wayland_server::backend::ClientId,
        _resource: &smithay::reexports::wayland_server::protocol::wl_callback::WlCallback,
        _data: &(),
    ) {
        super::budget::release_object_by_id(&state.core.display_handle, &client);
    }
}
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
