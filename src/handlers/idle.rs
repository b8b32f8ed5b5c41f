//! `ext_idle_notifier_v1` (swayidle: lock or blank after a while without
//! input) and `zwp_idle_inhibit_manager_v1` (video players and presentation
//! tools keep the session awake while their surface lives).
//!
//! Every input event counts as activity (`Core::input_activity`, from the
//! input path and `quay msg pointer`). While an inhibiting surface is on
//! screen, smithay's notifier sends no `idled`. On screen, as the protocol
//! asks ("if the surface is visible"): its root is a window on an output, a
//! popup of one, or a layer surface of an output, and while the session is
//! locked only a lock surface is; a surface nobody can see keeps nothing
//! awake. Whether it counts is decided again after every frame.
//!
//! The notifier tells when the user is active: it is not offered to
//! sandboxed clients (`crate::globals`). Inhibitors are, since a sandboxed
//! video player needs one and can only use it while it is seen.

use crate::layers::layer_map_for_output;
use smithay::{
    delegate_idle_inhibit,
    desktop::{find_popup_root_surface, WindowSurfaceType},
    reexports::{
        wayland_protocols::ext::idle_notify::v1::server::{
            ext_idle_notification_v1::ExtIdleNotificationV1, ext_idle_notifier_v1::ExtIdleNotifierV1,
        },
        wayland_server::{
            protocol::wl_surface::WlSurface, Client, DataInit, DisplayHandle, GlobalDispatch, New, Resource,
        },
    },
    wayland::{
        compositor::get_parent,
        idle_inhibit::IdleInhibitHandler,
        idle_notify::{IdleNotificationUserData, IdleNotifierHandler, IdleNotifierState},
    },
};
use tracing::debug;

use crate::{state::Core, State};

/// Idle notification and inhibition: the globals, and which surfaces hold
/// idle off.
pub struct Idle {
    /// `ext_idle_notifier_v1` (privileged).
    notifier: IdleNotifierState<State>,
    /// `zwp_idle_inhibit_manager_v1`.
    _inhibit: smithay::wayland::idle_inhibit::IdleInhibitManagerState,
    /// The surfaces with a live inhibitor.
    inhibitors: Vec<WlSurface>,
    /// Whether one of them is on screen (what the notifier was last told).
    inhibited: bool,
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idle")
            .field("inhibitors", &self.inhibitors.len())
            .field("inhibited", &self.inhibited)
            .finish_non_exhaustive()
    }
}

impl Idle {
    pub fn new(
        dh: &DisplayHandle,
        loop_handle: &smithay::reexports::calloop::LoopHandle<'static, State>,
    ) -> Idle {
        Idle {
            notifier: IdleNotifierState::new(dh, loop_handle.clone()),
            _inhibit: smithay::wayland::idle_inhibit::IdleInhibitManagerState::new::<State>(dh),
            inhibitors: Vec::new(),
            inhibited: false,
        }
    }
}

impl Core {
    /// The user did something: idle timers start again.
    pub fn input_activity(&mut self) {
        self.idle.notifier.notify_activity(&self.seat);
    }

    /// Whether any live inhibitor's surface is on screen now.
    pub fn update_idle_inhibit(&mut self) {
        if self.idle.inhibitors.is_empty() && !self.idle.inhibited {
            return;
        }
        self.idle.inhibitors.retain(|s| s.is_alive());
        let inhibited = self.idle.inhibitors.iter().any(|s| self.on_screen(s));
        if inhibited != self.idle.inhibited {
            debug!(inhibited, "idle inhibition");
            self.idle.inhibited = inhibited;
            self.idle.notifier.set_is_inhibited(inhibited);
        }
    }

    /// Whether `surface` is on an output now (see the module doc).
    fn on_screen(&self, surface: &WlSurface) -> bool {
        let mut root = surface.clone();
        while let Some(parent) = get_parent(&root) {
            root = parent;
        }
        if self.lock.is_locked() {
            return self
                .space
                .outputs()
                .any(|o| self.lock.surface_for(o).is_some_and(|l| l.wl_surface() == &root));
        }
        if let Some(popup) = self.popups.find_popup(&root) {
            if let Ok(top) = find_popup_root_surface(&popup) {
                root = top;
            }
        }
        if let Some(window) = self.window_for_surface(&root) {
            return !self.space.outputs_for_element(window).is_empty();
        }
        self.space.outputs().any(|o| {
            layer_map_for_output(o)
                .layer_for_surface(&root, WindowSurfaceType::TOPLEVEL)
                .is_some()
        })
    }
}

impl IdleNotifierHandler for State {
    fn idle_notifier_state(&mut self) -> &mut IdleNotifierState<Self> {
        &mut self.core.idle.notifier
    }
}
// delegate_idle_notify! less its global, which sandboxed clients do not see.
impl GlobalDispatch<ExtIdleNotifierV1, ()> for State {
    fn bind(
        state: &mut State,
        dh: &DisplayHandle,
        client: &Client,
        resource: New<ExtIdleNotifierV1>,
        data: &(),
        data_init: &mut DataInit<'_, State>,
    ) {
        <IdleNotifierState<State> as GlobalDispatch<ExtIdleNotifierV1, (), State>>::bind(
            state, dh, client, resource, data, data_init,
        )
    }

    fn can_view(client: Client, _data: &()) -> bool {
        crate::state::privileged(&client)
    }
}
smithay::reexports::wayland_server::delegate_dispatch!(State: [ExtIdleNotifierV1: ()] => IdleNotifierState<State>);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    ExtIdleNotificationV1: IdleNotificationUserData
] => IdleNotifierState<State>);

impl IdleInhibitHandler for State {
    fn inhibit(&mut self, surface: WlSurface) {
        debug!(surface = ?surface.id(), "idle inhibited");
        if !self.core.idle.inhibitors.contains(&surface) {
            self.core.idle.inhibitors.push(surface);
        }
        self.core.update_idle_inhibit();
    }

    fn uninhibit(&mut self, surface: WlSurface) {
        debug!(surface = ?surface.id(), "idle inhibitor gone");
        self.core.idle.inhibitors.retain(|s| s != &surface);
        self.core.update_idle_inhibit();
    }
}
delegate_idle_inhibit!(State);
