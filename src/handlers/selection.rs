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

use smithay::{
    delegate_data_control, delegate_data_device, delegate_ext_data_control, delegate_primary_selection,
    input::Seat,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    wayland::selection::{
        data_device::{
            set_data_device_focus, ClientDndGrabHandler, DataDeviceHandler, DataDeviceState,
            ServerDndGrabHandler,
        },
        ext_data_control::{
            DataControlHandler as ExtDataControlHandler, DataControlState as ExtDataControlState,
        },
        primary_selection::{set_primary_focus, PrimarySelectionHandler, PrimarySelectionState},
        wlr_data_control::{DataControlHandler, DataControlState},
        SelectionHandler,
    },
};

use crate::State;

/// The selection protocols' globals, part of `Core`.
#[derive(Debug)]
pub struct SelectionStates {
    pub data_device: DataDeviceState,
    pub primary: PrimarySelectionState,
    pub wlr_data_control: DataControlState,
    pub ext_data_control: ExtDataControlState,
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

impl SelectionHandler for State {
    type SelectionUserData = ();
}

impl DataDeviceHandler for State {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.core.selection.data_device
    }
}
// Drag and drop between clients: smithay's grabs with their default
// callbacks (no compositor-side drop targets, no drag icon drawn yet).
impl ClientDndGrabHandler for State {}
impl ServerDndGrabHandler for State {}
delegate_data_device!(State);

impl PrimarySelectionHandler for State {
    fn primary_selection_state(&self) -> &PrimarySelectionState {
        &self.core.selection.primary
    }
}
delegate_primary_selection!(State);

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
