//! `wp_fractional_scale_manager_v1`: each surface is told the scale of the
//! output it is on (the first one it shows on, else the first output), so
//! a client can render at that scale through wp_viewporter instead of
//! rounding up to an integer buffer scale.

use smithay::{
    delegate_fractional_scale,
    reexports::wayland_server::protocol::wl_surface::WlSurface,
    wayland::{
        compositor::with_states,
        fractional_scale::{with_fractional_scale, FractionalScaleHandler},
    },
};

use crate::{state::Core, State};

impl Core {
    /// The fractional scale a surface should draw at.
    pub fn preferred_scale(&self, surface: &WlSurface) -> f64 {
        self.output_of_surface(surface)
            .map(|o| o.current_scale().fractional_scale())
            .unwrap_or(1.0)
    }

    /// Tell every toplevel surface its scale again (after an output's
    /// scale changed).
    pub fn send_fractional_scales(&self) {
        for window in self.space.elements() {
            if let Some(t) = window.toplevel() {
                let scale = self.preferred_scale(t.wl_surface());
                with_states(t.wl_surface(), |states| {
                    with_fractional_scale(states, |fs| fs.set_preferred_scale(scale))
                });
            }
        }
    }
}

impl FractionalScaleHandler for State {
    fn new_fractional_scale(&mut self, surface: WlSurface) {
        let scale = self.core.preferred_scale(&surface);
        with_states(&surface, |states| {
            with_fractional_scale(states, |fs| fs.set_preferred_scale(scale))
        });
    }
}
delegate_fractional_scale!(State);
