//! `zxdg_decoration_manager_v1`: who draws a toplevel's title bar and
//! borders. Quay draws none, so the answer is always client-side, whatever
//! the client asks for: a client that would rather not draw its own still
//! learns that it must (GTK, Qt, foot and kitty all do then).

use smithay::{
    delegate_xdg_decoration,
    reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode,
    wayland::shell::xdg::{decoration::XdgDecorationHandler, ToplevelSurface},
};

use crate::State;

fn client_side(toplevel: &ToplevelSurface) {
    toplevel.with_pending_state(|s| s.decoration_mode = Some(Mode::ClientSide));
    // Before the initial configure smithay sends it with the first
    // configure. After it, set_mode is answered with a configure even when
    // the mode stays (the protocol: "the compositor will respond by
    // emitting an xdg_surface.configure"); smithay adds the decoration's
    // own configure only when the mode changed.
    if toplevel.is_initial_configure_sent() {
        toplevel.send_configure();
    }
}

impl XdgDecorationHandler for State {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        client_side(&toplevel);
    }
    fn request_mode(&mut self, toplevel: ToplevelSurface, _mode: Mode) {
        client_side(&toplevel);
    }
    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        client_side(&toplevel);
    }
}
delegate_xdg_decoration!(State);
