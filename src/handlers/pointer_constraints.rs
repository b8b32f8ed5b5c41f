//! `zwp_pointer_constraints_v1` and `zwp_relative_pointer_manager_v1`:
//! games, 3D viewports and Xwayland lock the pointer in place or confine
//! it to a region and read raw relative motion.
//!
//! A constraint is active while its surface has the pointer focus
//! ([`State::update_pointer_constraint`], after every pointer motion); a
//! locked pointer does not move (relative motion still goes out), a
//! confined one does not leave the region (the whole surface without one).

use smithay::{
    delegate_pointer_constraints, delegate_relative_pointer,
    input::pointer::{PointerHandle, RelativeMotionEvent},
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    utils::{Logical, Point},
    wayland::{
        pointer_constraints::{with_pointer_constraint, PointerConstraint, PointerConstraintsHandler},
        seat::WaylandFocus,
    },
};

use crate::State;

impl PointerConstraintsHandler for State {
    fn new_constraint(&mut self, surface: &WlSurface, pointer: &PointerHandle<Self>) {
        if pointer.current_focus().as_ref() == Some(surface) {
            with_pointer_constraint(surface, pointer, |c| {
                if let Some(c) = c.filter(|c| !c.is_active()) {
                    c.activate();
                }
            });
        }
    }

    fn cursor_position_hint(
        &mut self,
        surface: &WlSurface,
        pointer: &PointerHandle<Self>,
        location: Point<f64, Logical>,
    ) {
        // Where the client draws its own cursor when it unlocks: the
        // pointer goes there (surface-local to global).
        let locked = with_pointer_constraint(surface, pointer, |c| {
            c.is_some_and(|c| c.is_active() && matches!(&*c, PointerConstraint::Locked(_)))
        });
        if !locked {
            return;
        }
        if let Some((_, origin)) = self
            .core
            .surface_under(pointer.current_location())
            .filter(|(s, _)| s == surface)
        {
            pointer.set_location(origin + location);
        }
    }
}
delegate_pointer_constraints!(State);
delegate_relative_pointer!(State);

impl State {
    /// Activate the constraint of the surface the pointer is on, and
    /// deactivate one the pointer left.
    pub fn update_pointer_constraint(&mut self, before: Option<WlSurface>) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        let now = pointer
            .current_focus()
            .and_then(|f| f.wl_surface().map(|s| s.into_owned()));
        if before == now {
            return;
        }
        if let Some(old) = before.filter(|s| s.is_alive()) {
            with_pointer_constraint(&old, &pointer, |c| {
                if let Some(c) = c.filter(|c| c.is_active()) {
                    c.deactivate();
                }
            });
        }
        if let Some(new) = now {
            if !self.core.lock.is_locked() {
                with_pointer_constraint(&new, &pointer, |c| {
                    if let Some(c) = c.filter(|c| !c.is_active()) {
                        c.activate();
                    }
                });
            }
        }
    }

    /// Relative pointer motion (a mouse; `quay msg pointer --relative` on
    /// headless): relative events to the focused client, then absolute
    /// motion unless a constraint holds the pointer.
    pub fn pointer_motion_relative(
        &mut self,
        delta: Point<f64, Logical>,
        delta_unaccel: Point<f64, Logical>,
        utime: u64,
    ) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        let here = pointer.current_location();
        let under = self.core.surface_under(here);
        pointer.relative_motion(
            self,
            under.clone(),
            &RelativeMotionEvent {
                delta,
                delta_unaccel,
                utime,
            },
        );
        let target = self.core.clamp_to_outputs(here + delta);
        if let Some((surface, origin)) = under {
            // Read the constraint first and decide after: the closure runs
            // with the surface's state locked, and `surface_under` locks it
            // again (Window::geometry), which deadlocked the loop on a
            // confinement without a region (found by WLCS).
            let constraint = with_pointer_constraint(&surface, &pointer, |c| match c {
                Some(c) if c.is_active() => match &*c {
                    PointerConstraint::Locked(_) => Some(None),
                    PointerConstraint::Confined(confined) => Some(Some(confined.region().cloned())),
                },
                _ => None,
            });
            let verdict = constraint.map(|kind| match kind {
                // Locked: the pointer stays.
                None => false,
                Some(Some(region)) => region.contains((target - origin).to_i32_floor()),
                Some(None) => self.core.surface_under(target).is_some_and(|(s, _)| s == surface),
            });
            if verdict == Some(false) {
                pointer.frame(self);
                return;
            }
        }
        let time = (utime / 1000) as u32;
        self.pointer_motion_to(target, time);
    }
}
