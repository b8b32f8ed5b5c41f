//! X11 applications through Xwayland and smithay's window manager
//! (`X11Wm`).
//!
//! Quay starts one `Xwayland -rootless` when it starts (`[xwayland]
//! enabled`, and the binary on `PATH`); its display's sockets are bound
//! before it runs, so `DISPLAY` is known at once and given to `startup`
//! and spawned commands, and an X client that connects before Xwayland is
//! ready waits in the socket's backlog. X11 toplevels are mapped in the
//! same `Space` as Wayland ones (smithay's `Window::new_x11_window`),
//! placed, focused and drawn like them; override-redirect windows (menus,
//! tooltips) go where they ask. Xwayland connects as a Wayland client
//! smithay inserts with its own client data (`XWaylandClientData`). It
//! sees no privileged global, and carries every X11 client, so its budget
//! (in that data's user-data map) is the session's whole total
//! (`[limits] total_*`): X11 clients together can take no more than all
//! clients may.

use std::{os::fd::OwnedFd, process::Stdio, time::Duration};

use smithay::{
    desktop::Window,
    reexports::calloop::timer::{TimeoutAction, Timer},
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    utils::{Logical, Rectangle, SERIAL_COUNTER},
    wayland::{
        selection::SelectionTarget,
        xwayland_shell::{XWaylandShellHandler, XWaylandShellState},
    },
    xwayland::{
        xwm::{Reorder, ResizeEdge, XwmId},
        X11Surface, X11Wm, XWayland, XWaylandEvent, XwmHandler,
    },
};
use tracing::{debug, info, warn};

use crate::{state::Core, State};

/// Xwayland and its window manager, once started.
#[derive(Debug, Default)]
pub struct XwaylandState {
    /// The X display number (`DISPLAY=:N`), from the moment Xwayland is
    /// spawned until it exits.
    pub display: Option<u32>,
    pub wm: Option<X11Wm>,
    /// Xwayland's own Wayland connection.
    pub client: Option<smithay::reexports::wayland_server::Client>,
    /// Window managers whose Xwayland is gone, kept rather than dropped:
    /// smithay's selection transfers register loop sources that call back
    /// into their WM (`XwmHandler::xwm_state`) and are removed only from
    /// those callbacks (smithay-0.7.0 src/xwayland/xwm/mod.rs:1250, :2056),
    /// so a transfer cut off by Xwayland's death still fires and finds its
    /// dead WM. Such a transfer never completes: smithay disables its
    /// source to wait for X, which is gone, so the paster's pipe stays
    /// open (the paster sees no end of file) until Quay exits. One WM per
    /// Xwayland Quay started (it starts one).
    pub retired: Vec<X11Wm>,
    /// Where maximized and fullscreen X11 windows were before
    /// (`Core::x11_fill`), as `Placement::restore` for toplevels.
    pub restore: Vec<(X11Surface, Rectangle<i32, Logical>)>,
}

impl XwaylandState {
    /// Xwayland is gone: forget it, keeping its WM for the callbacks still
    /// registered (see [`XwaylandState::retired`]).
    fn gone(&mut self) {
        let mut retired = std::mem::take(&mut self.retired);
        retired.extend(self.wm.take());
        *self = XwaylandState {
            retired,
            ..Default::default()
        };
    }
}

fn on_path(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(program).is_file())
}

/// Where X servers put their sockets; smithay binds `X{N}` in it and does
/// not create it (smithay-0.7.0 src/xwayland/x11_sockets.rs:144).
const X11_SOCKET_DIR: &str = "/tmp/.X11-unix";

/// Create the X11 socket directory if it is missing, world-writable and
/// sticky as X servers expect (wlroots does the same). systemd-tmpfiles
/// makes it at boot on most systems; a fresh container, or a machine where
/// no X server ever ran, has none, and then every display number fails
/// with ENOENT and no X11 application can run.
fn ensure_socket_dir(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::create_dir(dir) {
        Ok(()) => {
            if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)) {
                warn!(dir = %dir.display(), "cannot make the X11 socket directory world-writable: {e}");
            }
            info!(dir = %dir.display(), "created the X11 socket directory");
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if !dir.is_dir() {
                warn!(dir = %dir.display(), "not a directory: Xwayland cannot bind its socket");
            }
        }
        Err(e) => warn!(dir = %dir.display(), "cannot create the X11 socket directory: {e}"),
    }
}

/// Start Xwayland if the config wants it and it is installed.
pub fn start(core: &mut Core) {
    if !core.config.xwayland.enabled {
        info!("Xwayland is off ([xwayland] enabled = false)");
        return;
    }
    if !on_path("Xwayland") {
        warn!("Xwayland is not installed (apt-get install xwayland): X11 applications will not run");
        return;
    }
    ensure_socket_dir(std::path::Path::new(X11_SOCKET_DIR));
    let spawned = XWayland::spawn(
        &core.display_handle,
        None,
        std::env::var("WAYLAND_DEBUG")
            .ok()
            .map(|v| ("WAYLAND_DEBUG".to_owned(), v)),
        true,
        Stdio::null(),
        Stdio::inherit(),
        |data| {
            data.insert_if_missing_threadsafe(|| {
                crate::limits::ClientBudget::new(core.budgets.session.limits(), core.budgets.session.clone())
            });
        },
    );
    let (xwayland, client) = match spawned {
        Ok(x) => x,
        Err(e) => {
            warn!("cannot start Xwayland: {e}");
            return;
        }
    };
    let number = xwayland.display_number();
    core.xwayland.client = Some(client.clone());
    let res = core
        .loop_handle
        .insert_source(xwayland, move |event, _, state| match event {
            XWaylandEvent::Ready { x11_socket, .. } => {
                match X11Wm::start_wm(state.core.loop_handle.clone(), x11_socket, client.clone()) {
                    Ok(wm) => {
                        info!(display = %format_args!(":{number}"), "Xwayland is ready");
                        state.core.xwayland.wm = Some(wm);
                    }
                    Err(e) => warn!("cannot start the X11 window manager: {e}"),
                }
            }
            XWaylandEvent::Error => {
                warn!("Xwayland exited: X11 applications will not run");
                state.core.xwayland.gone();
            }
        });
    match res {
        Ok(_) => {
            info!(display = %format_args!(":{number}"), "started Xwayland");
            core.xwayland.display = Some(number);
        }
        Err(e) => warn!("cannot watch Xwayland: {e}"),
    }
}

impl Core {
    /// The wl_surface Xwayland draws an X11 window into.
    ///
    /// smithay 0.7 pairs the two itself only through `xwayland_shell_v1`
    /// (Xwayland 23.1 and later). An older Xwayland (Debian bookworm's is
    /// 22.1) names the surface's protocol id in a `WL_SURFACE_ID` message
    /// instead, which smithay records and leaves to the compositor to look
    /// up (smithay-0.7.0 src/xwayland/xwm/mod.rs:2276): Quay looks it up on
    /// Xwayland's connection, each time it needs it, so a surface that went
    /// is never used.
    pub fn x11_wl_surface(&self, x11: &X11Surface) -> Option<WlSurface> {
        if let Some(wl) = x11.wl_surface() {
            return Some(wl);
        }
        #[allow(deprecated)]
        let id = x11.wl_surface_id()?;
        let client = self.xwayland.client.as_ref()?;
        client
            .object_from_protocol_id::<WlSurface>(&self.display_handle, id)
            .ok()
            .filter(|s| s.is_alive())
    }

    /// The wl_surface of a window: an xdg toplevel's, or an X11 window's.
    pub fn window_wl_surface(&self, window: &Window) -> Option<WlSurface> {
        match window.x11_surface() {
            Some(x11) => self.x11_wl_surface(x11),
            None => window.toplevel().map(|t| t.wl_surface().clone()),
        }
    }

    /// Maximize or restore an X11 window by the toplevels' policy: the
    /// usable area of its output, and back where it was.
    pub fn x11_maximize(&mut self, x11: &X11Surface, on: bool) {
        self.x11_fill(x11, on, false);
    }

    /// Make an X11 window fullscreen on its output, or restore it.
    pub fn x11_fullscreen(&mut self, x11: &X11Surface, on: bool) {
        self.x11_fill(x11, on, true);
    }

    fn x11_fill(&mut self, x11: &X11Surface, on: bool, fullscreen: bool) {
        let Some(window) = self.x11_window(x11) else {
            return;
        };
        let set = |on: bool| {
            if fullscreen {
                x11.set_fullscreen(on)
            } else {
                x11.set_maximized(on)
            }
        };
        if let Err(e) = set(on) {
            debug!("X11 maximize/fullscreen state: {e}");
        }
        let target = if x11.is_fullscreen() {
            Some(true)
        } else if x11.is_maximized() {
            Some(false)
        } else {
            None
        };
        let area = match target {
            Some(full) => {
                let output = self
                    .space
                    .outputs_for_element(&window)
                    .into_iter()
                    .next()
                    .or_else(|| self.space.outputs().next().cloned());
                let area = output.and_then(|o| {
                    if full {
                        self.space.output_geometry(&o)
                    } else {
                        self.usable_area(&o)
                    }
                });
                if !self.xwayland.restore.iter().any(|(x, _)| x == x11) {
                    if let Some(geo) = self.space.element_geometry(&window) {
                        self.xwayland.restore.push((x11.clone(), geo));
                    }
                }
                area
            }
            None => self
                .xwayland
                .restore
                .iter()
                .position(|(x, _)| x == x11)
                .map(|i| self.xwayland.restore.remove(i).1),
        };
        let Some(area) = area else {
            return;
        };
        if let Err(e) = x11.configure(area) {
            debug!("X11 configure: {e}");
        }
        self.place_window_at(&window, area.loc);
    }

    /// An X11 window unmapped or died: it is neither minimized (minimized
    /// windows are out of the space, where `forget_window` finds no window
    /// for it) nor remembered for a restore any more.
    fn forget_x11(&mut self, surface: &X11Surface) {
        self.toplevels
            .minimized
            .retain(|(w, _)| w.x11_surface() != Some(surface));
        self.xwayland.restore.retain(|(x, _)| x != surface);
    }

    /// The X11 window whose wl_surface `wl` is.
    pub fn x11_of_wl_surface(&self, wl: &WlSurface) -> Option<X11Surface> {
        self.space
            .elements()
            .filter_map(|w| w.x11_surface())
            .find(|x| self.x11_wl_surface(x).as_ref() == Some(wl))
            .cloned()
    }

    /// The space's window for an X11 surface.
    fn x11_window(&self, surface: &X11Surface) -> Option<Window> {
        self.space
            .elements()
            .find(|w| w.x11_surface() == Some(surface))
            .cloned()
    }
}

impl State {
    /// The keyboard went to `focused`: if it is an X11 window's surface,
    /// give that window X's input focus too. Quay's keyboard focus is a
    /// `WlSurface`, so smithay's `KeyboardTarget for X11Surface`, which
    /// sets X's input focus (or sends WM_TAKE_FOCUS), never ran: Xwayland
    /// got the keys and X sent them nowhere (xterm took no typing). Done
    /// from the loop, outside the keyboard's focus change. With Debian
    /// bookworm's Xwayland (no xwayland_shell pairing) the X11 target's
    /// `enter` reaches X alone; a paired surface hears a second
    /// `wl_keyboard.enter` (no keys), which Xwayland takes as the same focus.
    pub(crate) fn x11_keyboard_focus(&mut self, focused: Option<&WlSurface>) {
        let Some(x11) = focused.and_then(|wl| self.core.x11_of_wl_surface(wl)) else {
            return;
        };
        let wl = focused.cloned();
        self.core.loop_handle.insert_idle(move |state| {
            let seat = state.core.seat.clone();
            let still = seat.get_keyboard().and_then(|k| k.current_focus()) == wl;
            if still && x11.alive() {
                smithay::input::keyboard::KeyboardTarget::<State>::enter(
                    &x11,
                    &seat,
                    state,
                    Vec::new(),
                    SERIAL_COUNTER.next_serial(),
                );
            }
        });
    }

    /// Give an X11 window's surface the keyboard (not while locked), from
    /// the loop: this runs inside Xwayland's requests, and the surface may
    /// be named only by a message that follows.
    fn focus_x11(&mut self, x11: X11Surface) {
        if self.core.lock.is_locked() {
            return;
        }
        let mut tries = 0;
        let res =
            self.core
                .loop_handle
                .insert_source(Timer::from_duration(Duration::ZERO), move |_, _, state| {
                    if state.core.lock.is_locked() || state.core.x11_window(&x11).is_none() {
                        return TimeoutAction::Drop;
                    }
                    match (state.core.seat.get_keyboard(), state.core.x11_wl_surface(&x11)) {
                        (Some(keyboard), Some(wl)) => {
                            keyboard.set_focus(state, Some(wl), SERIAL_COUNTER.next_serial());
                            TimeoutAction::Drop
                        }
                        // Xwayland has not named the surface yet: look again
                        // shortly, for two seconds at most.
                        _ if tries < 40 => {
                            tries += 1;
                            TimeoutAction::ToDuration(Duration::from_millis(50))
                        }
                        _ => TimeoutAction::Drop,
                    }
                });
        if let Err(e) = res {
            debug!("cannot focus the X11 window: {e}");
        }
    }
}

impl XwmHandler for State {
    fn xwm_state(&mut self, xwm: XwmId) -> &mut X11Wm {
        // Every WM Quay made is `wm` or retired, never dropped (see
        // `XwaylandState::retired`): smithay asks only for one of those.
        let x = &mut self.core.xwayland;
        let live = x.wm.as_ref().is_some_and(|w| w.id() == xwm);
        let wm = if live {
            x.wm.as_mut()
        } else {
            x.retired.iter_mut().find(|w| w.id() == xwm)
        };
        wm.expect("smithay calls back only for a WM Quay made, and Quay keeps every one")
    }

    fn new_window(&mut self, _xwm: XwmId, _window: X11Surface) {}
    fn new_override_redirect_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn map_window_request(&mut self, _xwm: XwmId, surface: X11Surface) {
        if let Err(e) = surface.set_mapped(true) {
            debug!("X11 map: {e}");
            return;
        }
        let window = Window::new_x11_window(surface.clone());
        let size = surface.geometry().size;
        let pos = self.core.free_position(size);
        self.core.placement.last = Some(window.clone());
        if let Err(e) = surface.configure(Rectangle::<i32, Logical>::new(pos, size)) {
            debug!("X11 configure: {e}");
        }
        if let Err(e) = surface.set_activated(true) {
            debug!("X11 activate: {e}");
        }
        self.core.space.map_element(window.clone(), pos, true);
        if let Some(wm) = self.core.xwayland.wm.as_mut() {
            if let Err(e) = wm.raise_window(&surface) {
                debug!("X11 raise: {e}");
            }
        }
        // The keyboard follows the newest window, once it has a
        // wl_surface: Xwayland names it after the map (`WL_SURFACE_ID`), or
        // associates it through xwayland_shell (`surface_associated`).
        self.focus_x11(surface.clone());
        info!(
            title = window.x11_surface().map(|s| s.title()),
            ?pos,
            "mapped X11 window"
        );
    }

    fn mapped_override_redirect_window(&mut self, _xwm: XwmId, surface: X11Surface) {
        let loc = surface.geometry().loc;
        self.core
            .space
            .map_element(Window::new_x11_window(surface), loc, true);
    }

    fn unmapped_window(&mut self, _xwm: XwmId, surface: X11Surface) {
        self.core.forget_x11(&surface);
        if let Some(window) = self.core.x11_window(&surface) {
            self.core.space.unmap_elem(&window);
            self.core.forget_window(&window);
        }
        if !surface.is_override_redirect() {
            let _ = surface.set_mapped(false);
        }
        if let Some(wl) = self.core.x11_wl_surface(&surface) {
            self.release_focus_of(&wl);
        }
    }

    fn destroyed_window(&mut self, _xwm: XwmId, surface: X11Surface) {
        self.core.forget_x11(&surface);
        if let Some(window) = self.core.x11_window(&surface) {
            self.core.space.unmap_elem(&window);
            self.core.forget_window(&window);
        }
    }

    fn configure_request(
        &mut self,
        _xwm: XwmId,
        surface: X11Surface,
        x: Option<i32>,
        y: Option<i32>,
        w: Option<u32>,
        h: Option<u32>,
        _reorder: Option<Reorder>,
    ) {
        // A managed window keeps the place Quay gave it; its size is its
        // own. An unmapped one may also say where it wants to be.
        let mut geo = surface.geometry();
        if let Some(w) = w {
            geo.size.w = w.min(i32::MAX as u32) as i32;
        }
        if let Some(h) = h {
            geo.size.h = h.min(i32::MAX as u32) as i32;
        }
        if self.core.x11_window(&surface).is_none() {
            geo.loc.x = x.unwrap_or(geo.loc.x);
            geo.loc.y = y.unwrap_or(geo.loc.y);
        }
        if let Err(e) = surface.configure(geo) {
            debug!("X11 configure: {e}");
        }
    }

    fn configure_notify(
        &mut self,
        _xwm: XwmId,
        surface: X11Surface,
        geometry: Rectangle<i32, Logical>,
        _above: Option<smithay::xwayland::xwm::X11Window>,
    ) {
        // Override-redirect windows move themselves.
        if surface.is_override_redirect() {
            if let Some(window) = self.core.x11_window(&surface) {
                self.core.space.map_element(window, geometry.loc, false);
            }
        }
    }

    fn maximize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.core.x11_maximize(&window, true);
    }

    fn unmaximize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.core.x11_maximize(&window, false);
    }

    fn fullscreen_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.core.x11_fullscreen(&window, true);
    }

    fn unfullscreen_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.core.x11_fullscreen(&window, false);
    }

    fn resize_request(&mut self, _xwm: XwmId, _window: X11Surface, _button: u32, _edge: ResizeEdge) {}
    fn move_request(&mut self, _xwm: XwmId, _window: X11Surface, _button: u32) {}

    fn allow_selection_access(&mut self, _xwm: XwmId, _selection: SelectionTarget) -> bool {
        // As for Wayland clients: only while X11 has the keyboard focus.
        let focus = self.core.seat.get_keyboard().and_then(|k| k.current_focus());
        let xclient = self.core.xwayland.client.as_ref().map(|c| c.id());
        match (focus, xclient) {
            (Some(f), Some(x)) => f.client().is_some_and(|c| c.id() == x),
            _ => false,
        }
    }

    fn send_selection(&mut self, _xwm: XwmId, selection: SelectionTarget, mime_type: String, fd: OwnedFd) {
        self.x11_paste(selection, mime_type, fd);
    }

    fn new_selection(&mut self, _xwm: XwmId, selection: SelectionTarget, mime_types: Vec<String>) {
        self.x11_selection(selection, mime_types);
    }

    fn cleared_selection(&mut self, _xwm: XwmId, selection: SelectionTarget) {
        self.x11_selection_cleared(selection);
    }

    fn disconnected(&mut self, _xwm: XwmId) {
        warn!("the X11 window manager lost its connection to Xwayland");
        let x = &mut self.core.xwayland;
        x.retired.extend(x.wm.take());
    }
}

impl XWaylandShellHandler for State {
    fn xwayland_shell_state(&mut self) -> &mut XWaylandShellState {
        &mut self.core.globals.xwayland_shell
    }

    fn surface_associated(&mut self, _xwm: XwmId, wl_surface: WlSurface, surface: X11Surface) {
        debug!(
            wl_surface = wl_surface.id().protocol_id(),
            title = surface.title(),
            "X11 window has its surface"
        );
        if !surface.is_override_redirect() && self.core.x11_window(&surface).is_some() {
            self.focus_x11(surface);
        }
    }
}
smithay::delegate_xwayland_shell!(State);

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_socket_dir_is_made_sticky_and_world_writable() {
        let root = std::env::temp_dir().join(format!("quay-x11-dir-{}", std::process::id()));
        let dir = root.join(".X11-unix");
        std::fs::create_dir_all(&root).unwrap();
        super::ensure_socket_dir(&dir);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1777);
        // Present already: left as it is.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        super::ensure_socket_dir(&dir);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
