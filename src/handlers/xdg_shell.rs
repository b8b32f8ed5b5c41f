//! xdg_wm_base: toplevels are placed by [`crate::shell`], popups tracked.
//!
//! `xdg_surface` and `xdg_toplevel` requests pass through Quay before
//! smithay's own dispatch, for the errors of the XML that smithay 0.7 does
//! not post (or posts on another object), each found by
//! `tests/protocol_errors.rs`:
//! - a second `get_toplevel` / `get_popup` on one `xdg_surface`:
//!   `xdg_surface.already_constructed` (smithay makes a second toplevel);
//! - `xdg_surface.destroy` while its role object lives:
//!   `xdg_surface.defunct_role_object` (smithay posts `xdg_wm_base.role`);
//! - `set_window_geometry` with a size <= 0: `xdg_surface.invalid_size`;
//! - `set_min_size` / `set_max_size` negative: `xdg_toplevel.invalid_size`
//!   (smithay would build a negative `Size`, a debug assertion in Quay);
//! - a buffer committed before the first configure was acked:
//!   `xdg_surface.unconfigured_buffer` ([`check_unconfigured_buffer`],
//!   from the pre-commit hook).
//!
//! Which `xdg_surface` a role object belongs to is not public in smithay;
//! Quay learns it while smithay creates the role ([`XdgRoles`]).

use std::collections::HashMap;

use smithay::{
    desktop::{PopupKind, Window},
    output::Output,
    reexports::{
        wayland_protocols::xdg::shell::server::{
            xdg_surface::{self, XdgSurface},
            xdg_toplevel::{self, XdgToplevel},
            xdg_wm_base,
        },
        wayland_server::{
            backend::{ClientId, ObjectId},
            protocol::{wl_output, wl_seat, wl_surface::WlSurface},
            Client, DataInit, Dispatch, DisplayHandle, Resource,
        },
    },
    utils::Serial,
    wayland::{
        compositor::{with_states, BufferAssignment, SurfaceAttributes},
        shell::xdg::{
            PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
            XdgShellSurfaceUserData, XdgSurfaceUserData, XdgToplevelSurfaceData,
        },
    },
};
use tracing::debug;

use crate::State;

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.core.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        self.core.xdg_roles.created(surface.wl_surface());
        let window = Window::new_wayland_window(surface);
        self.core.place_new_window(window);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        self.core.placement.restore.remove(surface.wl_surface());
        self.core.forget_minimized(surface.wl_surface());
        if let Some(window) = self.core.window_for_surface(surface.wl_surface()).cloned() {
            self.core.space.unmap_elem(&window);
            self.core.forget_window(&window);
            // The pointer leaves it now, while its wl_surface still lives
            // and the leave can name it (a client destroys the toplevel and
            // the wl_surface in one go; after that only the enter to what
            // is under the pointer now could be sent).
            self.refresh_pointer_focus();
        }
        // Unmapped, the window's buffers are read no more: release them now,
        // not when the client next attaches or destroys the wl_surface.
        // smithay's renderer state holds each buffer and releases it when
        // dropped (smithay-0.7.0 src/backend/renderer/utils/wayland.rs:40);
        // the states are taken under the surface lock and dropped after it.
        let mut taken = Vec::new();
        smithay::wayland::compositor::with_surface_tree_downward(
            surface.wl_surface(),
            (),
            |_, _, _| smithay::wayland::compositor::TraversalAction::DoChildren(()),
            |_, states, _| {
                if let Some(data) = states
                    .data_map
                    .get::<smithay::backend::renderer::utils::RendererSurfaceStateUserData>()
                {
                    if let Ok(mut state) = data.lock() {
                        taken.push(std::mem::take(&mut *state));
                    }
                }
            },
            |_, _, _| true,
        );
        drop(taken);
    }

    fn new_popup(&mut self, surface: PopupSurface, _positioner: PositionerState) {
        self.core.xdg_roles.created(surface.wl_surface());
        self.core.unconstrain_popup(&surface);
        if let Err(err) = self.core.popups.track_popup(PopupKind::Xdg(surface)) {
            debug!("popup not tracked: {err}");
        }
    }

    fn popup_destroyed(&mut self, _surface: PopupSurface) {
        // As for a toplevel: the pointer leaves it while its wl_surface can
        // still be named (a menu is destroyed with its surface in one go).
        self.core.popups.cleanup();
        self.refresh_pointer_focus();
    }

    fn reposition_request(&mut self, surface: PopupSurface, positioner: PositionerState, token: u32) {
        surface.with_pending_state(|state| {
            state.geometry = positioner.get_geometry();
            state.positioner = positioner;
        });
        self.core.unconstrain_popup(&surface);
        surface.send_repositioned(token);
    }

    fn fullscreen_request(&mut self, surface: ToplevelSurface, output: Option<wl_output::WlOutput>) {
        let output = output.as_ref().and_then(Output::from_resource);
        self.core.fullscreen(&surface, output);
    }

    fn unfullscreen_request(&mut self, surface: ToplevelSurface) {
        self.core.unfullscreen(&surface);
    }

    fn move_request(&mut self, surface: ToplevelSurface, _seat: wl_seat::WlSeat, serial: Serial) {
        if let Some((window, start)) = self.client_grab_start(&surface, serial) {
            self.start_move(window, start, serial);
        }
    }

    fn resize_request(
        &mut self,
        surface: ToplevelSurface,
        _seat: wl_seat::WlSeat,
        serial: Serial,
        edges: xdg_toplevel::ResizeEdge,
    ) {
        if let Some((window, start)) = self.client_grab_start(&surface, serial) {
            self.start_resize(window, edges, start, serial);
        }
    }

    fn minimize_request(&mut self, surface: ToplevelSurface) {
        self.minimize_surface(surface.wl_surface());
    }

    fn maximize_request(&mut self, surface: ToplevelSurface) {
        self.core.maximize(&surface);
    }

    fn unmaximize_request(&mut self, surface: ToplevelSurface) {
        self.core.unmaximize(&surface);
    }

    /// `xdg_popup.grab`: a menu takes the keyboard and the pointer until
    /// it is dismissed (a press outside it, another window taking the
    /// keyboard) through smithay's popup grabs. Granted only for the press
    /// or key whose serial it names, while nothing else grabs the seat
    /// (xdg_popup.grab: "the serial of the user event"), and never while
    /// locked; otherwise the popup is dismissed at once, as the protocol
    /// asks of a grab that cannot be honoured.
    fn grab(&mut self, surface: PopupSurface, seat: wl_seat::WlSeat, serial: Serial) {
        use smithay::{
            desktop::{find_popup_root_surface, PopupKeyboardGrab, PopupPointerGrab, PopupUngrabStrategy},
            input::{pointer::Focus, Seat},
        };
        let Some(seat) = Seat::<State>::from_resource(&seat) else {
            return;
        };
        let kind = PopupKind::Xdg(surface);
        let Ok(root) = find_popup_root_surface(&kind) else {
            return;
        };
        if self.core.lock.is_locked() {
            if let PopupKind::Xdg(p) = &kind {
                p.send_popup_done();
            }
            return;
        }
        let Ok(mut grab) = self.core.popups.grab_popup(root, kind, &seat, serial) else {
            return;
        };
        if let Some(keyboard) = seat.get_keyboard() {
            if keyboard.is_grabbed()
                && !(keyboard.has_grab(serial) || keyboard.has_grab(grab.previous_serial().unwrap_or(serial)))
            {
                grab.ungrab(PopupUngrabStrategy::All);
                return;
            }
            keyboard.set_focus(self, grab.current_grab(), serial);
            keyboard.set_grab(self, PopupKeyboardGrab::new(&grab), serial);
            self.core.popup_grab = Some(grab.clone());
        }
        if let Some(pointer) = seat.get_pointer() {
            if pointer.is_grabbed()
                && !(pointer.has_grab(serial) || pointer.has_grab(grab.previous_serial().unwrap_or(serial)))
            {
                grab.ungrab(PopupUngrabStrategy::All);
                return;
            }
            pointer.set_grab(self, PopupPointerGrab::new(&grab), serial, Focus::Keep);
        }
    }
}

impl State {
    /// A client's move or resize request is honoured only while the button
    /// press whose serial it names still holds the pointer, on one of the
    /// client's own surfaces (xdg_toplevel.move: "the serial of the user
    /// event"); a fullscreen window stays put.
    fn client_grab_start(
        &self,
        surface: &ToplevelSurface,
        serial: Serial,
    ) -> Option<(Window, smithay::input::pointer::GrabStartData<State>)> {
        let pointer = self.core.seat.get_pointer()?;
        if !pointer.has_grab(serial) || self.core.lock.is_locked() {
            return None;
        }
        let start = pointer.grab_start_data()?;
        let (focus, _) = start.focus.as_ref()?;
        if !focus.id().same_client_as(&surface.wl_surface().id()) {
            return None;
        }
        if surface.with_pending_state(|s| s.states.contains(xdg_toplevel::State::Fullscreen)) {
            return None;
        }
        let window = self.core.window_for_surface(surface.wl_surface())?.clone();
        Some((window, start))
    }
}

/// Which `xdg_surface` has constructed a role object, and for which
/// `wl_surface`. An entry is made while smithay handles `get_toplevel` /
/// `get_popup` (its handler's `new_toplevel` / `new_popup` runs inside the
/// request Quay forwards) and goes with the `xdg_surface`.
#[derive(Debug, Default)]
pub struct XdgRoles {
    /// The `xdg_surface` whose request is being forwarded now.
    constructing: Option<ObjectId>,
    /// xdg_surface -> its wl_surface, once it has a role object.
    constructed: HashMap<ObjectId, WlSurface>,
    /// Each client's `xdg_wm_base`, for the errors the protocol posts there
    /// (smithay keeps an xdg_surface's own private).
    wm_bases:
        HashMap<ClientId, smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase>,
    /// Accept a toplevel's or a layer surface's buffer before its first
    /// configure is acked instead of posting `xdg_surface.unconfigured_buffer`
    /// or `zwlr_layer_surface_v1.invalid_surface_state`. Off in Quay; on only
    /// in the WLCS integration, because WLCS 1.5.0 (Debian's) attaches its
    /// test windows' buffers without waiting for the configure (wlcs v1.5.0
    /// src/in_process_server.cpp:789-806, fixed upstream in commit 2a9809e;
    /// its layer surfaces still do upstream, tests/xdg_popup.cpp:172-179).
    pub allow_unconfigured_buffer: bool,
}

impl XdgRoles {
    fn created(&mut self, wl_surface: &WlSurface) {
        if let Some(xdg) = self.constructing.take() {
            self.constructed.insert(xdg, wl_surface.clone());
        }
    }

    /// `client` made a request on `wm_base`.
    pub(crate) fn saw_wm_base(
        &mut self,
        client: &ClientId,
        wm_base: &smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase,
    ) {
        if !self.wm_bases.contains_key(client) {
            self.wm_bases.insert(client.clone(), wm_base.clone());
        }
    }

    /// `wm_base` of `client` is gone.
    pub(crate) fn wm_base_gone(
        &mut self,
        client: &ClientId,
        wm_base: &smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase,
    ) {
        if self.wm_bases.get(client) == Some(wm_base) {
            self.wm_bases.remove(client);
        }
    }

    /// The xdg_surface of `wl_surface`, if it has a role object.
    fn xdg_surface_of(&self, wl_surface: &WlSurface) -> Option<&ObjectId> {
        self.constructed
            .iter()
            .find(|(_, s)| *s == wl_surface)
            .map(|(x, _)| x)
    }
}

/// Whether the role object (toplevel or popup) of `wl_surface` is alive.
fn role_alive(shell: &XdgShellState, wl_surface: &WlSurface) -> bool {
    shell
        .toplevel_surfaces()
        .iter()
        .any(|t| t.wl_surface() == wl_surface && t.alive())
        || shell
            .popup_surfaces()
            .iter()
            .any(|p| p.wl_surface() == wl_surface && p.alive())
}

/// Why `xdg_wm_base.get_xdg_surface` must refuse `surface`, if it must
/// (smithay 0.7 creates the xdg_surface whatever the surface's state,
/// src/wayland/shell/xdg/handlers/wm_base.rs:64-81): a surface with another
/// role is `role`, one with a buffer attached or committed is
/// `invalid_surface_state` (xdg_wm_base.get_xdg_surface and xdg_surface in
/// xdg-shell.xml). A surface that was a toplevel or popup before may be
/// one again.
pub fn xdg_surface_refusal(surface: &WlSurface) -> Option<(xdg_wm_base::Error, &'static str)> {
    use smithay::wayland::shell::xdg::{XDG_POPUP_ROLE, XDG_TOPLEVEL_ROLE};
    if let Some(role) = smithay::wayland::compositor::get_role(surface) {
        if role != XDG_TOPLEVEL_ROLE && role != XDG_POPUP_ROLE {
            return Some((
                xdg_wm_base::Error::Role,
                "the wl_surface already has another role",
            ));
        }
    }
    let attached = with_states(surface, |states| {
        let mut attrs = states.cached_state.get::<SurfaceAttributes>();
        matches!(attrs.pending().buffer, Some(BufferAssignment::NewBuffer(_)))
            || matches!(attrs.current().buffer, Some(BufferAssignment::NewBuffer(_)))
    });
    let committed =
        smithay::backend::renderer::utils::with_renderer_surface_state(surface, |s| s.buffer().is_some())
            .unwrap_or(false);
    (attached || committed).then_some((
        xdg_wm_base::Error::InvalidSurfaceState,
        "the wl_surface already has a buffer attached or committed",
    ))
}

/// The pre-commit check for `xdg_surface.unconfigured_buffer`: a toplevel
/// that attaches a buffer before it acked its first configure.
pub fn check_unconfigured_buffer(state: &mut State, surface: &WlSurface) {
    let attaches = with_states(surface, |states| {
        matches!(
            states.cached_state.get::<SurfaceAttributes>().pending().buffer,
            Some(BufferAssignment::NewBuffer(_))
        ) && states
            .data_map
            .get::<XdgToplevelSurfaceData>()
            .and_then(|d| d.lock().ok().map(|d| !d.configured))
            .unwrap_or(false)
    });
    if !attaches || state.core.xdg_roles.allow_unconfigured_buffer {
        return;
    }
    let Some(id) = state.core.xdg_roles.xdg_surface_of(surface).cloned() else {
        return;
    };
    if let Ok(xdg) = XdgSurface::from_id(&state.core.display_handle, id) {
        xdg.post_error(
            xdg_surface::Error::UnconfiguredBuffer,
            "a buffer was committed before the first configure was acked",
        );
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase: ()
] => XdgShellState);
// xdg_wm_base and xdg_positioner: `handlers/charged.rs` (positioners are
// charged to their client's budget).
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols::xdg::shell::server::xdg_popup::XdgPopup: XdgShellSurfaceUserData
] => XdgShellState);

impl Dispatch<XdgSurface, XdgSurfaceUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &XdgSurface,
        request: xdg_surface::Request,
        data: &XdgSurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        let id = resource.id();
        match &request {
            // A popup's parent must be an xdg_surface that has a live role
            // (xdg_popup: "The parent surface must have either the
            // xdg_toplevel or xdg_popup surface role"). smithay takes any:
            // an xdg_surface made its own parent, or a cycle of two, and the
            // walk to a popup's root (smithay-0.7.0
            // src/desktop/wayland/popup/manager.rs:219) never ends. With
            // every parent already in a role, popup chains stay acyclic.
            xdg_surface::Request::GetPopup {
                parent: Some(parent), ..
            } if !state
                .core
                .xdg_roles
                .constructed
                .get(&parent.id())
                .is_some_and(|wl| wl.is_alive() && role_alive(&state.core.xdg_shell_state, wl)) =>
            {
                use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base;
                let message = "the popup's parent has no xdg_toplevel or xdg_popup role";
                match state.core.xdg_roles.wm_bases.get(&client.id()) {
                    Some(wm_base) => wm_base.post_error(xdg_wm_base::Error::InvalidPopupParent, message),
                    None => resource.post_error(xdg_surface::Error::NotConstructed, message),
                }
                return;
            }
            xdg_surface::Request::GetToplevel { .. } | xdg_surface::Request::GetPopup { .. } => {
                if state.core.xdg_roles.constructed.contains_key(&id) {
                    resource.post_error(
                        xdg_surface::Error::AlreadyConstructed,
                        "this xdg_surface already has a role object",
                    );
                    return;
                }
                state.core.xdg_roles.constructing = Some(id.clone());
            }
            xdg_surface::Request::Destroy => {
                if let Some(wl) = state.core.xdg_roles.constructed.get(&id) {
                    if wl.is_alive() && role_alive(&state.core.xdg_shell_state, wl) {
                        resource.post_error(
                            xdg_surface::Error::DefunctRoleObject,
                            "xdg_surface destroyed before its role object",
                        );
                        return;
                    }
                }
            }
            xdg_surface::Request::SetWindowGeometry { width, height, .. } if *width <= 0 || *height <= 0 => {
                resource.post_error(
                    xdg_surface::Error::InvalidSize,
                    format!("window geometry of {width}x{height}"),
                );
                return;
            }
            _ => {}
        }
        <XdgShellState as Dispatch<XdgSurface, XdgSurfaceUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        );
        state.core.xdg_roles.constructing = None;
    }

    fn destroyed(state: &mut State, client: ClientId, resource: &XdgSurface, data: &XdgSurfaceUserData) {
        state.core.xdg_roles.constructed.remove(&resource.id());
        <XdgShellState as Dispatch<XdgSurface, XdgSurfaceUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<XdgToplevel, XdgShellSurfaceUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &XdgToplevel,
        request: xdg_toplevel::Request,
        data: &XdgShellSurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        match &request {
            xdg_toplevel::Request::SetMinSize { width, height }
            | xdg_toplevel::Request::SetMaxSize { width, height }
                if *width < 0 || *height < 0 =>
            {
                resource.post_error(
                    xdg_toplevel::Error::InvalidSize,
                    format!("negative size limit {width}x{height}"),
                );
                return;
            }
            _ => {}
        }
        <XdgShellState as Dispatch<XdgToplevel, XdgShellSurfaceUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: ClientId,
        resource: &XdgToplevel,
        data: &XdgShellSurfaceUserData,
    ) {
        <XdgShellState as Dispatch<XdgToplevel, XdgShellSurfaceUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}
