//! Window placement and the window states (fullscreen, maximized).
//!
//! A new toplevel is mapped at once (at the top-left of what layer-shell
//! panels leave of the first output) and activated; its size is the
//! client's choice, as the initial configure carries none. At its first
//! commit with a size it gets its place: where it does not cover the window
//! placed last, if that is still mapped: to its right, below it, to its
//! left or above it, the first of those inside the free area, else the
//! free area's top-left if that does not cover it either; where none fits,
//! 32 px down and right of it (covering it, as nothing else can fit), or
//! the top-left. X11 windows, whose size is known when they map, are placed
//! the same way then. A toplevel that asks for fullscreen is moved to the
//! output's origin and told the output's size; one maximized fills what
//! layer-shell panels leave of its output. Both remember where the window
//! was and put it back when they end.

use smithay::{
    desktop::{find_popup_root_surface, get_popup_toplevel_coords, PopupKind, Window},
    output::Output,
    reexports::wayland_protocols::xdg::shell::server::xdg_toplevel,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    utils::{IsAlive, Logical, Point, Rectangle, Size, SERIAL_COUNTER},
    wayland::{
        compositor::with_states,
        shell::xdg::{PopupSurface, ToplevelSurface, XdgToplevelSurfaceData},
    },
};
use tracing::debug;

use crate::state::Core;

const CASCADE_STEP: i32 = 32;

/// Where windows go: new ones not placed yet, the one placed last, and
/// where maximized and fullscreen ones come back to.
#[derive(Debug, Default)]
pub struct Placement {
    /// Toplevels mapped before their first buffer, placed at the first
    /// commit that gives them a size ([`Core::place_if_unplaced`]).
    pub unplaced: Vec<Window>,
    /// The window placed last: the next one goes where it does not cover it.
    pub last: Option<Window>,
    /// Where maximized and fullscreen windows were before.
    pub restore: std::collections::HashMap<WlSurface, Point<i32, Logical>>,
}

impl Core {
    /// What `output` leaves to windows: its area less the panels'
    /// exclusive zones, in global coordinates (None: not in the space).
    pub(crate) fn usable_area(&self, output: &Output) -> Option<Rectangle<i32, Logical>> {
        let geo = self.space.output_geometry(output)?;
        let zone = crate::layers::layer_map_for_output(output).non_exclusive_zone();
        Some(Rectangle::new(geo.loc + zone.loc, zone.size))
    }

    /// Where new windows go: the first output's usable area.
    fn placement_area(&self) -> Rectangle<i32, Logical> {
        self.space
            .outputs()
            .next()
            .and_then(|o| self.usable_area(o))
            .unwrap_or_default()
    }

    /// Where a new window of `size` goes (the module doc's rule).
    pub fn free_position(&self, size: Size<i32, Logical>) -> Point<i32, Logical> {
        let area = self.placement_area();
        let last = self
            .placement
            .last
            .as_ref()
            .filter(|w| w.alive())
            .and_then(|w| self.space.element_geometry(w));
        let Some(last) = last else {
            return area.loc;
        };
        let at = |x: i32, y: i32| Rectangle::new(Point::from((x, y)), size);
        let (l, w, h) = (last.loc, last.size.w, last.size.h);
        let free = [
            at(l.x + w, l.y),
            at(l.x, l.y + h),
            at(l.x - size.w, l.y),
            at(l.x, l.y - size.h),
            at(area.loc.x, area.loc.y),
        ]
        .into_iter()
        .find(|r| area.contains_rect(*r) && !r.overlaps(last));
        if let Some(r) = free {
            return r.loc;
        }
        let cascade = at(l.x + CASCADE_STEP, l.y + CASCADE_STEP);
        if area.contains_rect(cascade) {
            cascade.loc
        } else {
            area.loc
        }
    }

    /// `window` is gone: hold it no longer. A held `Window` keeps its
    /// surface's state alive, and with it the buffers of a commit that never
    /// applied (a fence held it) and their dma-buf fds: the VM's
    /// quay-syncobj-stall saw exactly that leak.
    pub fn forget_window(&mut self, window: &Window) {
        self.placement.unplaced.retain(|w| w != window);
        self.toplevels.minimized.retain(|(w, _)| w != window);
        if self.placement.last.as_ref() == Some(window) {
            self.placement.last = None;
        }
    }

    /// Put `window` at `loc` (global logical) and keep it there: it no
    /// longer waits for Quay's placement. For a test harness that places
    /// windows itself (WLCS's `position_window_absolute`).
    pub fn place_window_at(&mut self, window: &Window, loc: Point<i32, Logical>) {
        self.placement.unplaced.retain(|w| w != window);
        self.move_window(window, loc);
    }

    /// A window that set no geometry (`xdg_surface.set_window_geometry`)
    /// has its surfaces' extent as geometry (smithay-0.7.0
    /// src/desktop/wayland/window.rs:154-171), and the space keeps the
    /// geometry's origin in place (src/desktop/space/mod.rs:509-511). A
    /// subsurface that appears, goes, or reaches beyond the window's edge
    /// would so move every surface of the window: its root surface is kept
    /// where it was instead. `before` is the geometry's origin before the
    /// commit.
    pub fn keep_root_in_place(&mut self, window: &Window, before: Point<i32, Logical>) {
        let after = window.geometry().loc;
        if after == before || self.placement.unplaced.contains(window) {
            return;
        }
        let implicit = window.toplevel().is_some_and(|t| {
            smithay::wayland::compositor::with_states(t.wl_surface(), |states| {
                (states.cached_state)
                    .get::<smithay::wayland::shell::xdg::SurfaceCachedState>()
                    .current()
                    .geometry
                    .is_none()
            })
        });
        if let Some(loc) = self.space.element_location(window).filter(|_| implicit) {
            self.move_window(window, loc + (after - before));
        }
    }

    /// Move a mapped `window` so that its geometry's origin is at `loc`.
    fn move_window(&mut self, window: &Window, loc: Point<i32, Logical>) {
        // Moving keeps the stacking order: map_element raises the window
        // (smithay-0.7.0 src/desktop/space/mod.rs:102-119), so the windows
        // that were above it are raised again, in their order.
        let above: Vec<Window> = self
            .space
            .elements()
            .skip_while(|w| *w != window)
            .skip(1)
            .cloned()
            .collect();
        self.space.map_element(window.clone(), loc, false);
        for w in &above {
            self.space.raise_element(w, false);
        }
    }

    /// Place `window` if it waits for its place and now has a size.
    pub fn place_if_unplaced(&mut self, window: &Window) {
        let Some(i) = self.placement.unplaced.iter().position(|w| w == window) else {
            return;
        };
        let size = window.geometry().size;
        if size.w <= 0 || size.h <= 0 {
            return;
        }
        self.placement.unplaced.remove(i);
        // Fullscreen and maximized windows are where those put them.
        let sized_by_us = window.toplevel().is_some_and(|t| {
            let states = t.current_state().states;
            states.contains(xdg_toplevel::State::Fullscreen)
                || states.contains(xdg_toplevel::State::Maximized)
        });
        if !sized_by_us {
            let pos = self.free_position(size);
            // Re-mapping keeps it on top; `false` leaves its activation as is
            // (smithay-0.7.0 src/desktop/space/mod.rs:102-119).
            self.space.map_element(window.clone(), pos, false);
            debug!(?pos, ?size, "placed toplevel");
        }
        self.placement.last = Some(window.clone());
        self.focus_when_shown(window);
    }

    /// The wl_surface of the topmost live toplevel, other than `except`:
    /// where the keyboard goes when its focus goes away.
    pub fn topmost_toplevel(&self, except: Option<&WlSurface>) -> Option<WlSurface> {
        self.space
            .elements()
            .rev()
            .filter_map(|w| w.toplevel().map(|t| t.wl_surface().clone()))
            .find(|s| Some(s) != except && s.is_alive())
    }

    /// Map a new toplevel at the top-left of the free area until its first
    /// sized commit places it ([`Core::place_if_unplaced`]).
    pub fn place_new_window(&mut self, window: Window) {
        let pos = self.placement_area().loc;
        self.placement.unplaced.push(window.clone());
        self.space.map_element(window.clone(), pos, false);
        debug!(?pos, "mapped toplevel");
    }

    /// Give `window` the keyboard (and so its activated state,
    /// [`Core::activate_focused`]): a new window once it shows, as mutter
    /// and sway do; one cannot type into a window before it is seen.
    fn focus_when_shown(&mut self, window: &Window) {
        if let (Some(keyboard), Some(toplevel)) = (self.seat.get_keyboard(), window.toplevel()) {
            let surface = toplevel.wl_surface().clone();
            // `set_focus` needs the whole State for its callbacks; defer it to
            // the loop, which has it.
            self.loop_handle.insert_idle(move |state| {
                // While locked only lock surfaces get the keyboard, and a
                // layer surface that holds it exclusively keeps it.
                if surface.is_alive() && !state.core.lock.is_locked() && !state.exclusive_layer_has_keyboard()
                {
                    // A menu open elsewhere closes: the new window takes the
                    // keyboard, which the grab would otherwise keep.
                    if let Some(mut grab) = state.core.popup_grab.take().filter(|g| !g.has_ended()) {
                        grab.ungrab(smithay::desktop::PopupUngrabStrategy::All);
                    }
                    keyboard.set_focus(state, Some(surface), SERIAL_COUNTER.next_serial());
                }
            });
        }
    }

    /// The keyboard went to `focused`: the window it is in is the activated
    /// one (`xdg_toplevel.state.activated`, X11's focus), every other is
    /// not, and each toplevel whose state changed gets a configure.
    pub fn activate_focused(&mut self, focused: Option<&WlSurface>) {
        let mut root = focused.cloned();
        while let Some(parent) = root.as_ref().and_then(smithay::wayland::compositor::get_parent) {
            root = Some(parent);
        }
        for window in self.space.elements() {
            let active = root.is_some() && self.window_wl_surface(window) == root;
            if window.set_activated(active) {
                if let Some(t) = window.toplevel().filter(|t| t.is_initial_configure_sent()) {
                    t.send_pending_configure();
                }
            }
        }
    }

    /// Fullscreen a toplevel on `output` (or the first output): it is moved
    /// to the output's origin and told the output's size. Takes effect with
    /// the next configure (the initial one, if the client asked before its
    /// first commit, as weston-simple-dmabuf-feedback does).
    pub fn fullscreen(&mut self, toplevel: &ToplevelSurface, output: Option<Output>) {
        let Some(output) = output.or_else(|| self.space.outputs().next().cloned()) else {
            return;
        };
        let Some(geo) = self.space.output_geometry(&output) else {
            return;
        };
        let wl_output = toplevel
            .wl_surface()
            .client()
            .and_then(|c| output.client_outputs(&c).next());
        toplevel.with_pending_state(|state| {
            state.states.set(xdg_toplevel::State::Fullscreen);
            state.size = Some(geo.size);
            state.fullscreen_output = wl_output;
        });
        self.remember_location(toplevel);
        if let Some(window) = self.window_for_surface(toplevel.wl_surface()).cloned() {
            self.space.map_element(window, geo.loc, true);
        }
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    pub fn unfullscreen(&mut self, toplevel: &ToplevelSurface) {
        let maximized = toplevel.with_pending_state(|state| {
            state.states.unset(xdg_toplevel::State::Fullscreen);
            state.size = None;
            state.fullscreen_output = None;
            state.states.contains(xdg_toplevel::State::Maximized)
        });
        if maximized {
            // Back to maximized, which keeps the place to restore.
            self.maximize(toplevel);
            return;
        }
        self.restore_location(toplevel);
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    /// Remember where a window was before it was maximized or made
    /// fullscreen (once: maximized then fullscreen restores to the first).
    fn remember_location(&mut self, toplevel: &ToplevelSurface) {
        let surface = toplevel.wl_surface().clone();
        if let Some(loc) = self
            .window_for_surface(&surface)
            .and_then(|w| self.space.element_location(w))
        {
            self.placement.restore.entry(surface).or_insert(loc);
        }
    }

    fn restore_location(&mut self, toplevel: &ToplevelSurface) {
        let Some(loc) = self.placement.restore.remove(toplevel.wl_surface()) else {
            return;
        };
        if let Some(window) = self.window_for_surface(toplevel.wl_surface()).cloned() {
            self.space.map_element(window, loc, false);
        }
    }

    /// Maximize a toplevel on its output: it fills the area layer-shell
    /// panels leave (their exclusive zones), and is told that size.
    pub fn maximize(&mut self, toplevel: &ToplevelSurface) {
        let Some(output) = self.output_of_surface(toplevel.wl_surface()) else {
            return;
        };
        let Some(area) = self.usable_area(&output) else {
            return;
        };
        let fullscreen = toplevel.with_pending_state(|state| {
            state.states.set(xdg_toplevel::State::Maximized);
            state.states.contains(xdg_toplevel::State::Fullscreen)
        });
        if fullscreen {
            // Fullscreen wins; unfullscreen comes back here.
            return;
        }
        toplevel.with_pending_state(|state| state.size = Some(area.size));
        self.remember_location(toplevel);
        if let Some(window) = self.window_for_surface(toplevel.wl_surface()).cloned() {
            self.space.map_element(window, area.loc, true);
        }
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    /// The panels on `output` changed their exclusive zones: its maximized
    /// windows are fitted to the area left now (in place, their stacking
    /// and activation as they are).
    pub fn refit_maximized(&mut self, output: &Output) {
        let Some(area) = self.usable_area(output) else {
            return;
        };
        self.refit(output, area, |states| {
            states.contains(xdg_toplevel::State::Maximized)
                && !states.contains(xdg_toplevel::State::Fullscreen)
        });
    }

    /// `output` changed its mode, scale or transform: its fullscreen
    /// windows are given its new size (in place, as
    /// [`Core::refit_maximized`] does for maximized ones).
    pub fn refit_fullscreen(&mut self, output: &Output) {
        let Some(geo) = self.space.output_geometry(output) else {
            return;
        };
        self.refit(output, geo, |states| {
            states.contains(xdg_toplevel::State::Fullscreen)
        });
    }

    /// Give each toplevel on `output` whose pending states `pick` chooses
    /// the size of `area`, at its place, and configure it if that changed.
    fn refit(
        &mut self,
        output: &Output,
        area: Rectangle<i32, Logical>,
        pick: impl Fn(&smithay::wayland::shell::xdg::ToplevelStateSet) -> bool,
    ) {
        // By place, not `Space::elements_for_output`: that is updated by
        // `Space::refresh` after the dispatch, and a window mapped in the
        // same dispatch as the panel's commit is not in it yet.
        let Some(geo) = self.space.output_geometry(output) else {
            return;
        };
        let windows: Vec<Window> = self
            .space
            .elements()
            .filter(|w| self.space.element_geometry(w).is_some_and(|g| g.overlaps(geo)))
            .cloned()
            .collect();
        for window in windows {
            let Some(toplevel) = window.toplevel() else {
                continue;
            };
            let refit = toplevel.with_pending_state(|state| {
                let fits = pick(&state.states) && state.size != Some(area.size);
                if fits {
                    state.size = Some(area.size);
                }
                fits
            });
            if refit {
                self.place_window_at(&window, area.loc);
                if toplevel.is_initial_configure_sent() {
                    toplevel.send_pending_configure();
                }
            }
        }
    }

    pub fn unmaximize(&mut self, toplevel: &ToplevelSurface) {
        let fullscreen = toplevel.with_pending_state(|state| {
            state.states.unset(xdg_toplevel::State::Maximized);
            let fullscreen = state.states.contains(xdg_toplevel::State::Fullscreen);
            if !fullscreen {
                state.size = None;
            }
            fullscreen
        });
        if !fullscreen {
            self.restore_location(toplevel);
        }
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    pub fn unconstrain_popup(&self, popup: &PopupSurface) {
        let Ok(root) = find_popup_root_surface(&PopupKind::Xdg(popup.clone())) else {
            return;
        };
        let Some(window) = self.window_for_surface(&root) else {
            return;
        };
        let Some(output_geo) = self
            .space
            .outputs()
            .next()
            .and_then(|o| self.space.output_geometry(o))
        else {
            return;
        };
        let Some(window_geo) = self.space.element_geometry(window) else {
            return;
        };
        // The target rectangle is relative to the popup's parent.
        let mut target = output_geo;
        target.loc -= get_popup_toplevel_coords(&PopupKind::Xdg(popup.clone()));
        target.loc -= window_geo.loc;
        popup.with_pending_state(|state| {
            state.geometry = state.positioner.get_unconstrained_geometry(target);
        });
    }
}

/// On every commit: send a toplevel's or popup's initial configure.
pub fn handle_commit(core: &mut Core, surface: &WlSurface) {
    if let Some(window) = core.window_for_surface(surface).cloned() {
        core.place_if_unplaced(&window);
        let initial_configure_sent = with_states(surface, |states| {
            states
                .data_map
                .get::<XdgToplevelSurfaceData>()
                .map(|d| d.lock().map(|d| d.initial_configure_sent).unwrap_or(true))
                .unwrap_or(true)
        });
        if !initial_configure_sent {
            if let Some(toplevel) = window.toplevel() {
                toplevel.send_configure();
            }
        }
    }

    core.popups.commit(surface);
    if let Some(PopupKind::Xdg(ref xdg)) = core.popups.find_popup(surface) {
        if !xdg.is_initial_configure_sent() {
            // The initial configure is always allowed; an error here would be
            // smithay's, and is only logged.
            if let Err(err) = xdg.send_configure() {
                debug!("initial popup configure: {err}");
            }
        }
    }
}

impl crate::State {
    /// `surface` is being destroyed: if the keyboard or the pointer still
    /// has it as focus, move the focus off it (the keyboard to the topmost
    /// remaining toplevel).
    ///
    /// smithay keeps a destroyed surface as focus until the focus moves: a
    /// dead focus is only skipped when sending (smithay-0.7.0
    /// src/input/keyboard/mod.rs:309). That handle keeps the surface's data
    /// alive, and in it a commit still held for its fence: its `wl_buffer`,
    /// Quay's import of it and its syncobj points. The VM churn soak saw
    /// exactly that (one 64 KiB import and three fds left) when the last
    /// window to take the focus was a client gone with its acquire point
    /// unsignalled.
    pub fn release_focus_of(&mut self, surface: &WlSurface) {
        let keyboard = self.core.seat.get_keyboard();
        let pointer = self.core.seat.get_pointer();
        let on_keyboard = keyboard.as_ref().and_then(|k| k.current_focus()).as_ref() == Some(surface);
        let on_pointer = pointer.as_ref().and_then(|p| p.current_focus()).as_ref() == Some(surface);
        if !on_keyboard && !on_pointer {
            return;
        }
        let gone = surface.clone();
        // Deferred: set_focus needs the whole State, and this runs inside
        // the surface's destruction.
        self.core.loop_handle.insert_idle(move |state| {
            if let Some(keyboard) = keyboard.filter(|_| on_keyboard) {
                if keyboard.current_focus().as_ref() == Some(&gone) {
                    let next = if state.core.lock.is_locked() {
                        state.core.lock.any_surface().filter(|s| s != &gone)
                    } else {
                        state.core.topmost_toplevel(Some(&gone))
                    };
                    state.focus_keyboard(next, SERIAL_COUNTER.next_serial());
                }
            }
            if let Some(pointer) = pointer.filter(|_| on_pointer) {
                if pointer.current_focus().as_ref() == Some(&gone) {
                    let location = pointer.current_location();
                    let event = smithay::input::pointer::MotionEvent {
                        location,
                        serial: SERIAL_COUNTER.next_serial(),
                        time: 0,
                    };
                    pointer.motion(state, None, &event);
                    pointer.frame(state);
                }
            }
        });
    }
}
