//! The clipboard: `wl_data_device_manager` (copy, paste, drag and drop),
//! `zwp_primary_selection_device_manager_v1` (middle-click paste), and data
//! control (`zwlr_data_control_manager_v1`, `ext_data_control_manager_v1`)
//! for clipboard tools and managers (wl-clipboard, cliphist) that read and
//! set the selection without a focused surface.
//!
//! smithay keeps the selections and forwards each paste's pipe fd from the
//! receiving client to the source client (smithay-0.7.0
//! src/wayland/selection/mod.rs); Quay decides who may take part. A regular
//! client sees the selection only while it has the keyboard focus
//! ([`State::selection_focus`], from `SeatHandler::focus_changed`). Data
//! control reads every selection without focus, so it is a privileged
//! global, hidden from sandboxed clients like screencopy.
//!
//! X11 clients share both selections through the X11 window manager: a
//! Wayland selection is offered to X11 as the WM's, and an X11 client's
//! becomes Quay's own selection ([`FromX11`]), which the WM serves. An X11
//! client may read the Wayland selection only while an X11 window has the
//! keyboard focus, the same rule as for Wayland clients.

use smithay::{
    delegate_data_control, delegate_ext_data_control,
    input::Seat,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    wayland::selection::{
        data_device::{
            clear_data_device_selection, current_data_device_selection_userdata,
            request_data_device_client_selection, set_data_device_focus, set_data_device_selection,
            ClientDndGrabHandler, DataDeviceHandler, DataDeviceState, ServerDndGrabHandler,
        },
        ext_data_control::{
            DataControlHandler as ExtDataControlHandler, DataControlState as ExtDataControlState,
        },
        primary_selection::{
            clear_primary_selection, current_primary_selection_userdata, request_primary_client_selection,
            set_primary_focus, set_primary_selection, PrimarySelectionHandler, PrimarySelectionState,
        },
        wlr_data_control::{DataControlHandler, DataControlState},
        SelectionHandler, SelectionSource, SelectionTarget,
    },
};
use std::os::fd::OwnedFd;
use tracing::{debug, warn};

use crate::State;

/// The selection protocols' globals, part of `Core`.
#[derive(Debug)]
pub struct SelectionStates {
    pub data_device: DataDeviceState,
    pub primary: PrimarySelectionState,
    pub wlr_data_control: DataControlState,
    pub ext_data_control: ExtDataControlState,
    /// The icon of the drag in progress, if its client gave one.
    pub dnd_icon: Option<DndIcon>,
}

/// A drag's icon (`wl_data_device.start_drag`'s `icon`): drawn at the
/// pointer plus `offset`, the sum of the icon's `wl_surface.offset` /
/// `attach` dx, dy since the drag began (wl_data_device: "the icon
/// surface's position is updated by the surface's offset").
#[derive(Debug, Clone)]
pub struct DndIcon {
    pub surface: WlSurface,
    pub offset: smithay::utils::Point<i32, smithay::utils::Logical>,
}

impl SelectionStates {
    pub fn new(dh: &smithay::reexports::wayland_server::DisplayHandle) -> SelectionStates {
        let data_device = DataDeviceState::new::<State>(dh);
        let primary = PrimarySelectionState::new::<State>(dh);
        let wlr_data_control =
            DataControlState::new::<State, _>(dh, Some(&primary), crate::state::privileged);
        let ext_data_control =
            ExtDataControlState::new::<State, _>(dh, Some(&primary), crate::state::privileged);
        SelectionStates {
            data_device,
            primary,
            wlr_data_control,
            ext_data_control,
            dnd_icon: None,
        }
    }

    /// `surface` was committed: if it is the drag icon, move the icon by
    /// the commit's offset. smithay leaves `buffer_delta` in the committed
    /// state for the compositor to take (smithay-0.7.0
    /// src/wayland/compositor/handlers.rs:115, mod.rs:208).
    pub fn icon_committed(&mut self, surface: &WlSurface) {
        let Some(icon) = self.dnd_icon.as_mut().filter(|i| &i.surface == surface) else {
            return;
        };
        let delta = smithay::wayland::compositor::with_states(surface, |states| {
            states
                .cached_state
                .get::<smithay::wayland::compositor::SurfaceAttributes>()
                .current()
                .buffer_delta
                .take()
        });
        if let Some(delta) = delta {
            icon.offset += delta;
        }
    }
}

impl State {
    /// The keyboard focus moved to `focused`: its client (and only it) sees
    /// the selections now.
    pub fn selection_focus(&mut self, seat: &Seat<State>, focused: Option<&WlSurface>) {
        let dh = &self.core.display_handle;
        let client = focused.and_then(|s| dh.get_client(s.id()).ok());
        set_data_device_focus(dh, seat, client.clone());
        set_primary_focus(dh, seat, client);
    }
}

/// Quay's own selection (what `set_data_device_selection` /
/// `set_primary_selection` hold): an X11 client's, offered to Wayland
/// clients and served by the X11 window manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FromX11;

impl SelectionHandler for State {
    type SelectionUserData = FromX11;

    /// A Wayland client set the clipboard or the primary selection: X11
    /// clients get it as theirs (or lose theirs).
    fn new_selection(&mut self, ty: SelectionTarget, source: Option<SelectionSource>, _seat: Seat<Self>) {
        if let Some(wm) = self.core.xwayland.wm.as_mut() {
            if let Err(e) = wm.new_selection(ty, source.map(|s| s.mime_types())) {
                warn!(?ty, "cannot hand the selection to X11: {e}");
            }
        }
    }

    /// A Wayland client pastes the X11 selection: the WM reads it from
    /// the X11 owner into `fd`.
    fn send_selection(
        &mut self,
        ty: SelectionTarget,
        mime_type: String,
        fd: OwnedFd,
        _seat: Seat<Self>,
        _user_data: &FromX11,
    ) {
        let handle = self.core.loop_handle.clone();
        if let Some(wm) = self.core.xwayland.wm.as_mut() {
            if let Err(e) = wm.send_selection(ty, mime_type, fd, handle) {
                warn!(?ty, "cannot read the X11 selection: {e}");
            }
        }
    }
}

impl State {
    /// An X11 client owns `ty` now, offering `mime_types`.
    pub fn x11_selection(&mut self, ty: SelectionTarget, mime_types: Vec<String>) {
        let dh = self.core.display_handle.clone();
        let seat = self.core.seat.clone();
        match ty {
            SelectionTarget::Clipboard => set_data_device_selection(&dh, &seat, mime_types, FromX11),
            SelectionTarget::Primary => set_primary_selection(&dh, &seat, mime_types, FromX11),
        }
    }

    /// The X11 owner of `ty` gave it up: clear it if it is still theirs.
    pub fn x11_selection_cleared(&mut self, ty: SelectionTarget) {
        let dh = self.core.display_handle.clone();
        let seat = self.core.seat.clone();
        match ty {
            SelectionTarget::Clipboard => {
                if current_data_device_selection_userdata(&seat).is_some_and(|d| *d == FromX11) {
                    clear_data_device_selection(&dh, &seat);
                }
            }
            SelectionTarget::Primary => {
                if current_primary_selection_userdata(&seat).is_some_and(|d| *d == FromX11) {
                    clear_primary_selection(&dh, &seat);
                }
            }
        }
    }

    /// An X11 client pastes the Wayland selection into `fd`.
    pub fn x11_paste(&mut self, ty: SelectionTarget, mime_type: String, fd: OwnedFd) {
        let seat = self.core.seat.clone();
        let res = match ty {
            SelectionTarget::Clipboard => {
                request_data_device_client_selection(&seat, mime_type, fd).map_err(|e| format!("{e:?}"))
            }
            SelectionTarget::Primary => {
                request_primary_client_selection(&seat, mime_type, fd).map_err(|e| format!("{e:?}"))
            }
        };
        if let Err(e) = res {
            debug!(?ty, "an X11 paste found no Wayland selection: {e}");
        }
    }
}

impl DataDeviceHandler for State {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.core.selection.data_device
    }
}
// Drag and drop between clients: smithay's grab sends the offers, enters,
// drops and the source's events (smithay-0.7.0
// src/wayland/selection/data_device/dnd_grab.rs); Quay draws the icon
// (`render::scene_elements`) from the drag's start until its drop, which
// smithay also calls when the grab ends any other way (dnd_grab.rs:402).
// No compositor-side drop targets (`ServerDndGrabHandler`'s defaults).
impl ClientDndGrabHandler for State {
    fn started(
        &mut self,
        _source: Option<smithay::reexports::wayland_server::protocol::wl_data_source::WlDataSource>,
        icon: Option<WlSurface>,
        _seat: Seat<Self>,
    ) {
        self.core.selection.dnd_icon = icon.map(|surface| DndIcon {
            surface,
            offset: (0, 0).into(),
        });
        self.core.stats.dnd_drags_total += 1;
    }

    fn dropped(&mut self, _target: Option<WlSurface>, validated: bool, _seat: Seat<Self>) {
        self.core.selection.dnd_icon = None;
        if validated {
            self.core.stats.dnd_drops_total += 1;
        }
    }
}
impl ServerDndGrabHandler for State {}
// delegate_data_device! less the manager and the source, which
// `handlers/charged.rs` charges to the client's budget.
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_server::protocol::wl_data_device_manager::WlDataDeviceManager: ()
] => DataDeviceState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_server::protocol::wl_data_device::WlDataDevice: smithay::wayland::selection::data_device::DataDeviceUserData
] => DataDeviceState);

impl PrimarySelectionHandler for State {
    fn primary_selection_state(&self) -> &PrimarySelectionState {
        &self.core.selection.primary
    }
}
// delegate_primary_selection! less the manager and the source (as above).
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols::wp::primary_selection::zv1::server::zwp_primary_selection_device_manager_v1::ZwpPrimarySelectionDeviceManagerV1: smithay::wayland::selection::primary_selection::PrimaryDeviceManagerGlobalData
] => PrimarySelectionState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols::wp::primary_selection::zv1::server::zwp_primary_selection_device_v1::ZwpPrimarySelectionDeviceV1: smithay::wayland::selection::primary_selection::PrimaryDeviceUserData
] => PrimarySelectionState);

impl DataControlHandler for State {
    fn data_control_state(&self) -> &DataControlState {
        &self.core.selection.wlr_data_control
    }
}
delegate_data_control!(State);

impl ExtDataControlHandler for State {
    fn data_control_state(&self) -> &ExtDataControlState {
        &self.core.selection.ext_data_control
    }
}
delegate_ext_data_control!(State);
