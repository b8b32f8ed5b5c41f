//! `ext_idle_notifier_v1` (swayidle: lock or blank after a while without
//! input) and `zwp_idle_inhibit_manager_v1` (video players and presentation
//! tools keep the session awake while their surface lives).
//!
//! Every input event counts as activity (`Core::input_activity`, from the
//! input path and `quay msg pointer`). While any inhibiting surface is
//! alive, smithay's notifier sends no `idled`. An inhibitor counts whether
//! or not its surface is on screen (the protocol asks for visible ones:
//! what is left to do once Quay has workspaces).

use smithay::{
    delegate_idle_inhibit, delegate_idle_notify,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    wayland::{
        idle_inhibit::IdleInhibitHandler,
        idle_notify::{IdleNotifierHandler, IdleNotifierState},
    },
};
use tracing::debug;

use crate::{state::Core, State};

impl Core {
    /// The user did something: idle timers start again.
    pub fn input_activity(&mut self) {
        self.idle_notifier.notify_activity(&self.seat);
    }

    fn update_idle_inhibit(&mut self) {
        self.idle_inhibitors.retain(|s| s.is_alive());
        let inhibited = !self.idle_inhibitors.is_empty();
        self.idle_notifier.set_is_inhibited(inhibited);
    }
}

impl IdleNotifierHandler for State {
    fn idle_notifier_state(&mut self) -> &mut IdleNotifierState<Self> {
        &mut self.core.idle_notifier
    }
}
delegate_idle_notify!(State);

impl IdleInhibitHandler for State {
    fn inhibit(&mut self, surface: WlSurface) {
        debug!(surface = ?surface.id(), "idle inhibited");
        if !self.core.idle_inhibitors.contains(&surface) {
            self.core.idle_inhibitors.push(surface);
        }
        self.core.update_idle_inhibit();
    }

    fn uninhibit(&mut self, surface: WlSurface) {
        debug!(surface = ?surface.id(), "idle inhibitor gone");
        self.core.idle_inhibitors.retain(|s| s != &surface);
        self.core.update_idle_inhibit();
    }
}
delegate_idle_inhibit!(State);
