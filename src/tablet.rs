//! Drawing tablets (`zwp_tablet_manager_v2`): libinput's tablet devices
//! and tool events routed to smithay's tablet seat.
//!
//! Rules:
//! - A tablet is announced to clients while its device is plugged in
//!   (`zwp_tablet_seat_v2.tablet_added`); a tool when it first comes into
//!   proximity (`tool_added`), and it stays until the last tablet goes.
//! - The tablet's surface is mapped to the first output, as a touch screen
//!   is ([`State::on_first_output`]). The tool's focus is the surface under
//!   it: `proximity_in` there, `motion` while it stays, a new
//!   `proximity_in` where it crosses to another surface (smithay's
//!   `TabletToolHandle::motion`, smithay-0.7.0
//!   src/wayland/tablet_manager/tablet_tool.rs:352-380).
//! - The pointer follows the tool as well, so a client without tablet
//!   support still gets a pointer there, and the tip going down focuses
//!   and raises the window under it as a click would.
//! - While the session is locked the tool only reaches lock surfaces, as
//!   every other input does ([`Core::surface_under`]).

use smithay::{
    backend::input::{
        Device, Event, InputBackend, ProximityState, TabletToolButtonEvent, TabletToolEvent,
        TabletToolProximityEvent, TabletToolTipEvent, TabletToolTipState,
    },
    utils::SERIAL_COUNTER,
    wayland::tablet_manager::{TabletDescriptor, TabletSeatTrait},
};

use crate::State;

impl State {
    /// A device with the tablet-tool capability was plugged in.
    pub fn tablet_added<D: Device>(&mut self, device: &D) {
        let dh = self.core.display_handle.clone();
        let desc = TabletDescriptor::from(device);
        tracing::info!(name = desc.name, "tablet added");
        self.core.seat.tablet_seat().add_tablet::<State>(&dh, &desc);
    }

    /// A tablet was unplugged; with the last one, every tool goes too.
    /// Clients are not told: smithay 0.7 forgets the tablet without
    /// `zwp_tablet_v2.removed` (src/wayland/tablet_manager/tablet_seat.rs:136-138),
    /// and a tool's `removed` is sent only when the tool is dropped
    /// (tablet_tool.rs:229-236), which each client's `zwp_tablet_tool_v2`
    /// prevents by holding it (its user data, tablet_tool.rs:453-456).
    pub fn tablet_removed<D: Device>(&mut self, device: &D) {
        let seat = self.core.seat.tablet_seat();
        seat.remove_tablet(&TabletDescriptor::from(device));
        if seat.count_tablets() == 0 {
            seat.clear_tools();
        }
        tracing::info!(
            name = device.name(),
            tablets = seat.count_tablets(),
            "tablet removed"
        );
    }

    /// A tool came into or left the tablet's proximity.
    pub fn tablet_proximity<I: InputBackend>(&mut self, event: I::TabletToolProximityEvent) {
        let Some(pos) = self.on_first_output(&event) else {
            return;
        };
        let dh = self.core.display_handle.clone();
        let seat = self.core.seat.tablet_seat();
        let tool = seat.add_tool::<State>(self, &dh, &event.tool());
        let Some(tablet) = seat.get_tablet(&TabletDescriptor::from(&event.device())) else {
            return;
        };
        self.pointer_motion_to(pos, event.time_msec());
        tracing::debug!(state = ?event.state(), ?pos, "tablet tool proximity");
        match event.state() {
            ProximityState::In => {
                if let Some(under) = self.core.surface_under(pos) {
                    tool.proximity_in(
                        pos,
                        under,
                        &tablet,
                        SERIAL_COUNTER.next_serial(),
                        event.time_msec(),
                    );
                }
            }
            ProximityState::Out => tool.proximity_out(event.time_msec()),
        }
    }

    /// The tool moved or one of its axes changed (pressure, tilt, ...).
    pub fn tablet_axis<I: InputBackend>(&mut self, event: I::TabletToolAxisEvent) {
        self.tool_axes::<I, _>(&event);
    }

    /// A tool event's position and axes, to the tool's client (queued by
    /// smithay and sent with the motion) and the pointer. libinput puts
    /// the axes' state in tip and proximity events too, not only in axis
    /// events: the pressure that makes a tip go down arrives with it.
    fn tool_axes<I: InputBackend, E: TabletToolEvent<I>>(&mut self, event: &E) {
        let Some(pos) = self.on_first_output(event) else {
            return;
        };
        let seat = self.core.seat.tablet_seat();
        let tablet = seat.get_tablet(&TabletDescriptor::from(&event.device()));
        let tool = seat.get_tool(&event.tool());
        self.pointer_motion_to(pos, event.time_msec());
        let (Some(tablet), Some(tool)) = (tablet, tool) else {
            return;
        };
        if event.pressure_has_changed() {
            tool.pressure(event.pressure());
        }
        if event.distance_has_changed() {
            tool.distance(event.distance());
        }
        if event.tilt_has_changed() {
            tool.tilt(event.tilt());
        }
        if event.slider_has_changed() {
            tool.slider_position(event.slider_position());
        }
        if event.rotation_has_changed() {
            tool.rotation(event.rotation());
        }
        if event.wheel_has_changed() {
            tool.wheel(event.wheel_delta(), event.wheel_delta_discrete());
        }
        let under = self.core.surface_under(pos);
        tracing::trace!(?pos, on_surface = under.is_some(), "tablet tool");
        tool.motion(
            pos,
            under,
            &tablet,
            SERIAL_COUNTER.next_serial(),
            event.time_msec(),
        );
    }

    /// The tool's tip touched the tablet or left it.
    pub fn tablet_tip<I: InputBackend>(&mut self, event: I::TabletToolTipEvent) {
        self.tool_axes::<I, _>(&event);
        let Some(tool) = self.core.seat.tablet_seat().get_tool(&event.tool()) else {
            return;
        };
        tracing::debug!(state = ?event.tip_state(), "tablet tool tip");
        match event.tip_state() {
            TabletToolTipState::Down => {
                let serial = SERIAL_COUNTER.next_serial();
                tool.tip_down(serial, event.time_msec());
                if let Some(pointer) = self.core.seat.get_pointer() {
                    let at = pointer.current_location();
                    self.press_at(at, serial);
                }
            }
            TabletToolTipState::Up => tool.tip_up(event.time_msec()),
        }
    }

    /// A button on the tool (a pen's side buttons).
    pub fn tablet_button<I: InputBackend>(&mut self, event: I::TabletToolButtonEvent) {
        if let Some(tool) = self.core.seat.tablet_seat().get_tool(&event.tool()) {
            tracing::debug!(button = event.button(), state = ?event.button_state(), "tablet tool button");
            let serial = SERIAL_COUNTER.next_serial();
            tool.button(event.button(), event.button_state(), serial, event.time_msec());
        }
    }
}
