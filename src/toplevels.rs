//! The list of toplevels other clients may see (`ext_foreign_toplevel_list_v1`,
//! `zwlr_foreign_toplevel_manager_v1`; both privileged), and minimizing.
//!
//! A toplevel is listed from its first buffer (an X11 window from its map)
//! until it unmaps or dies, minimized ones included. The lists are brought
//! up to date once per loop turn ([`Core::refresh_toplevel_lists`], from
//! `refresh_and_flush`): titles, app_ids, states and outputs are compared
//! with what was last sent, so a client that retitles itself a hundred
//! times in one turn costs one event.
//!
//! Minimized windows leave the space (nothing draws them, no input finds
//! them) and keep their place; unminimizing maps them back there, raised
//! and focused. Quay has no window list of its own: a taskbar brings them
//! back (`zwlr_foreign_toplevel_handle_v1.unset_minimized` or `activate`).

use smithay::{
    desktop::Window,
    output::Output,
    reexports::{
        wayland_protocols::xdg::shell::server::xdg_toplevel,
        wayland_server::{protocol::wl_surface::WlSurface, DisplayHandle},
    },
    utils::{IsAlive, Logical, Point, SERIAL_COUNTER},
    wayland::{
        compositor::with_states,
        foreign_toplevel_list::{
            ForeignToplevelHandle, ForeignToplevelListHandler, ForeignToplevelListState,
        },
        shell::xdg::XdgToplevelSurfaceData,
    },
};

use crate::{
    protocols::foreign_toplevel::{
        ToplevelInfo, ToplevelRequest, WlrForeignToplevelHandler, WlrForeignToplevelState,
    },
    state::{privileged, Core},
    State,
};

struct Known {
    window: Window,
    ext: ForeignToplevelHandle,
    wlr: u64,
    info: ToplevelInfo,
}

/// Both lists, what they were last told, and the minimized windows.
pub struct Toplevels {
    pub ext: ForeignToplevelListState,
    pub wlr: WlrForeignToplevelState,
    known: Vec<Known>,
    /// Minimized windows, out of the space, with where they were.
    pub minimized: Vec<(Window, Point<i32, Logical>)>,
}

impl std::fmt::Debug for Toplevels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toplevels")
            .field("known", &self.known.len())
            .field("minimized", &self.minimized.len())
            .finish()
    }
}

impl Toplevels {
    pub fn new(dh: &DisplayHandle) -> Toplevels {
        Toplevels {
            ext: ForeignToplevelListState::new_with_filter::<State>(dh, privileged),
            wlr: WlrForeignToplevelState::new::<State>(dh, privileged),
            known: Vec::new(),
            minimized: Vec::new(),
        }
    }
}

/// Whether a toplevel has shown anything yet (X11 windows: mapped).
fn has_content(window: &Window) -> bool {
    match window.toplevel() {
        Some(t) => smithay::backend::renderer::utils::with_renderer_surface_state(t.wl_surface(), |s| {
            s.buffer().is_some()
        })
        .unwrap_or(false),
        None => true,
    }
}

impl Core {
    /// What a taskbar is told of `window`.
    fn toplevel_info(&self, window: &Window, minimized: bool) -> ToplevelInfo {
        let outputs: Vec<Output> = if minimized {
            Vec::new()
        } else {
            self.space.outputs_for_element(window)
        };
        if let Some(t) = window.toplevel() {
            let (title, app_id) = with_states(t.wl_surface(), |s| {
                s.data_map
                    .get::<XdgToplevelSurfaceData>()
                    .and_then(|d| d.lock().ok())
                    .map(|d| (d.title.clone(), d.app_id.clone()))
                    .unwrap_or_default()
            });
            // What Quay asked for last (the pending state): a taskbar shows
            // the state the window is going to, as sway's does.
            let states = t.with_pending_state(|s| s.states.clone());
            return ToplevelInfo {
                title: title.unwrap_or_default(),
                app_id: app_id.unwrap_or_default(),
                maximized: states.contains(xdg_toplevel::State::Maximized),
                fullscreen: states.contains(xdg_toplevel::State::Fullscreen),
                activated: states.contains(xdg_toplevel::State::Activated),
                minimized,
                outputs,
            };
        }
        match window.x11_surface() {
            Some(x) => ToplevelInfo {
                title: x.title(),
                app_id: x.class(),
                maximized: x.is_maximized(),
                fullscreen: x.is_fullscreen(),
                activated: x.is_activated(),
                minimized,
                outputs,
            },
            None => ToplevelInfo::default(),
        }
    }

    /// Bring both lists up to date with the windows (see the module doc).
    pub fn refresh_toplevel_lists(&mut self) {
        let mut windows: Vec<(Window, bool)> = self
            .space
            .elements()
            .filter(|w| has_content(w))
            .map(|w| (w.clone(), false))
            .collect();
        windows.extend(self.toplevels.minimized.iter().map(|(w, _)| (w.clone(), true)));
        let mut known = std::mem::take(&mut self.toplevels.known);
        known.retain(|k| {
            let listed = windows.iter().any(|(w, _)| *w == k.window) && k.window.alive();
            if !listed {
                self.toplevels.ext.remove_toplevel(&k.ext);
                self.toplevels.wlr.remove(k.wlr);
            }
            listed
        });
        for (window, minimized) in &windows {
            if !window.alive() {
                continue;
            }
            let info = self.toplevel_info(window, *minimized);
            match known.iter_mut().find(|k| k.window == *window) {
                Some(k) => {
                    if k.info == info {
                        continue;
                    }
                    let mut ext_changed = false;
                    if k.info.title != info.title {
                        k.ext.send_title(&info.title);
                        ext_changed = true;
                    }
                    if k.info.app_id != info.app_id {
                        k.ext.send_app_id(&info.app_id);
                        ext_changed = true;
                    }
                    if ext_changed {
                        k.ext.send_done();
                    }
                    self.toplevels.wlr.update(k.wlr, info.clone());
                    k.info = info;
                }
                None => {
                    let ext = self
                        .toplevels
                        .ext
                        .new_toplevel::<State>(info.title.clone(), info.app_id.clone());
                    let wlr = self.toplevels.wlr.add::<State>(info.clone());
                    known.push(Known {
                        window: window.clone(),
                        ext,
                        wlr,
                        info,
                    });
                }
            }
        }
        self.toplevels.known = known;
    }

    /// The window a wlr handle stands for.
    fn known_window(&self, id: u64) -> Option<Window> {
        self.toplevels
            .known
            .iter()
            .find(|k| k.wlr == id)
            .map(|k| k.window.clone())
    }

    /// Take `window` off the screen, keeping its place.
    pub fn minimize(&mut self, window: &Window) {
        if self.toplevels.minimized.iter().any(|(w, _)| w == window) {
            return;
        }
        let Some(loc) = self.space.element_location(window) else {
            return;
        };
        self.space.unmap_elem(window);
        self.toplevels.minimized.push((window.clone(), loc));
    }

    /// Put a minimized `window` back where it was, on top. Returns whether it was minimized.
    pub fn unminimize(&mut self, window: &Window) -> bool {
        let Some(i) = self.toplevels.minimized.iter().position(|(w, _)| w == window) else {
            return false;
        };
        let (window, loc) = self.toplevels.minimized.remove(i);
        self.space.map_element(window, loc, true);
        true
    }

    /// A toplevel died: forget it if it was minimized.
    pub fn forget_minimized(&mut self, surface: &WlSurface) {
        let mut minimized = std::mem::take(&mut self.toplevels.minimized);
        minimized.retain(|(w, _)| w.alive() && self.window_wl_surface(w).as_ref() != Some(surface));
        self.toplevels.minimized = minimized;
    }
}

impl State {
    /// Minimize the window of `surface` (its client's `xdg_toplevel.set_minimized`).
    pub fn minimize_surface(&mut self, surface: &WlSurface) {
        if let Some(window) = self.core.window_for_surface(surface).cloned() {
            self.minimize_window(&window);
        }
    }

    pub(crate) fn minimize_window(&mut self, window: &Window) {
        let focused = self
            .core
            .seat
            .get_keyboard()
            .and_then(|k| k.current_focus())
            .is_some_and(|f| self.core.window_wl_surface(window).as_ref() == Some(&f));
        self.core.minimize(window);
        if focused {
            let next = self.core.topmost_toplevel(None);
            self.focus_keyboard(next, SERIAL_COUNTER.next_serial());
        }
        self.refresh_pointer_focus();
    }

    /// Raise, show and focus `window` (a taskbar's `activate`).
    pub(crate) fn activate_window(&mut self, window: &Window) {
        self.core.unminimize(window);
        if self.core.lock.is_locked() || self.exclusive_layer_has_keyboard() {
            self.core.space.raise_element(window, false);
        } else {
            self.raise_and_focus(window, SERIAL_COUNTER.next_serial());
        }
        self.refresh_pointer_focus();
    }
}

impl ForeignToplevelListHandler for State {
    fn foreign_toplevel_list_state(&mut self) -> &mut ForeignToplevelListState {
        &mut self.core.toplevels.ext
    }
}
smithay::delegate_foreign_toplevel_list!(State);

impl WlrForeignToplevelHandler for State {
    fn wlr_foreign_toplevel_state(&mut self) -> &mut WlrForeignToplevelState {
        &mut self.core.toplevels.wlr
    }

    fn toplevel_request(&mut self, id: u64, request: ToplevelRequest) {
        let Some(window) = self.core.known_window(id) else {
            return;
        };
        let toplevel = window.toplevel().cloned();
        match request {
            ToplevelRequest::Activate => self.activate_window(&window),
            ToplevelRequest::Minimize(true) => self.minimize_window(&window),
            ToplevelRequest::Minimize(false) => {
                if self.core.unminimize(&window) {
                    self.activate_window(&window);
                }
            }
            ToplevelRequest::Close => match (&toplevel, window.x11_surface()) {
                (Some(t), _) => t.send_close(),
                (None, Some(x)) => {
                    let _ = x.close();
                }
                (None, None) => {}
            },
            ToplevelRequest::Maximize(on) => {
                // Maximized or fullscreen, a minimized window shows again.
                if on && self.core.unminimize(&window) {
                    self.activate_window(&window);
                }
                match (&toplevel, window.x11_surface()) {
                    (Some(t), _) if on => self.core.maximize(t),
                    (Some(t), _) => self.core.unmaximize(t),
                    (None, Some(x)) => self.core.x11_maximize(x, on),
                    (None, None) => {}
                }
            }
            ToplevelRequest::Fullscreen(on, output) => {
                if on && self.core.unminimize(&window) {
                    self.activate_window(&window);
                }
                match (&toplevel, window.x11_surface()) {
                    (Some(t), _) if on => self.core.fullscreen(t, output),
                    (Some(t), _) => self.core.unfullscreen(t),
                    (None, Some(x)) => self.core.x11_fullscreen(x, on),
                    (None, None) => {}
                }
            }
        }
    }
}
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::foreign_toplevel::v1::server::zwlr_foreign_toplevel_manager_v1::ZwlrForeignToplevelManagerV1: crate::protocols::GlobalFilter
] => WlrForeignToplevelState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::foreign_toplevel::v1::server::zwlr_foreign_toplevel_manager_v1::ZwlrForeignToplevelManagerV1: ()
] => WlrForeignToplevelState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::foreign_toplevel::v1::server::zwlr_foreign_toplevel_handle_v1::ZwlrForeignToplevelHandleV1: crate::protocols::foreign_toplevel::HandleData
] => WlrForeignToplevelState);
