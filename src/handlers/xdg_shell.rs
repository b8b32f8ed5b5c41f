//! xdg_wm_base: toplevels are placed by [`crate::shell`], popups tracked.

use smithay::{
    delegate_xdg_shell,
    desktop::{PopupKind, Window},
    output::Output,
    reexports::wayland_server::protocol::{wl_output, wl_seat},
    utils::Serial,
    wayland::shell::xdg::{PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState},
};
use tracing::debug;

use crate::State;

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.core.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        let window = Window::new_wayland_window(surface);
        self.core.place_new_window(window);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        if let Some(window) = self.core.window_for_surface(surface.wl_surface()).cloned() {
            self.core.space.unmap_elem(&window);
        }
    }

    fn new_popup(&mut self, surface: PopupSurface, _positioner: PositionerState) {
        self.core.unconstrain_popup(&surface);
        if let Err(err) = self.core.popups.track_popup(PopupKind::Xdg(surface)) {
            debug!("popup not tracked: {err}");
        }
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

    fn grab(&mut self, _surface: PopupSurface, _seat: wl_seat::WlSeat, _serial: Serial) {
        // Popup grabs are not implemented: the popup stays until its client
        // dismisses it.
    }
}
delegate_xdg_shell!(State);
