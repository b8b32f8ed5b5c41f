//! `zwp_pointer_constraints_v1` and `zwp_relative_pointer_manager_v1`:
//! games, 3D viewports and Xwayland lock the pointer in place or confine
//! it to a region and read raw relative motion.
//!
//! A constraint is active while its surface has the pointer focus and its
//! window the keyboard focus, as in sway ([`State::update_pointer_constraint`]
//! after every pointer motion, [`State::keyboard_focus_moved`] when the
//! keyboard moves): a game whose window is left with Alt+Tab lets go of the
//! pointer. A locked pointer does not move (relative motion still goes out);
//! a confined one stops at the edge of its region (the whole surface
//! without one).

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
        let keyboard = self.core.seat.get_keyboard().and_then(|k| k.current_focus());
        if pointer.current_focus().as_ref() == Some(surface)
            && self.constraint_allowed(surface, keyboard.as_ref())
        {
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
            let keyboard = self.core.seat.get_keyboard().and_then(|k| k.current_focus());
            if self.constraint_allowed(&new, keyboard.as_ref()) {
                with_pointer_constraint(&new, &pointer, |c| {
                    if let Some(c) = c.filter(|c| !c.is_active()) {
                        c.activate();
                    }
                });
            }
        }
    }

    /// Whether `surface`'s constraint may be active with the keyboard on
    /// `keyboard`: never while locked; otherwise when both are in one
    /// surface tree (a window and its subsurfaces).
    fn constraint_allowed(&self, surface: &WlSurface, keyboard: Option<&WlSurface>) -> bool {
        fn root(s: &WlSurface) -> WlSurface {
            let mut root = s.clone();
            while let Some(parent) = smithay::wayland::compositor::get_parent(&root) {
                root = parent;
            }
            root
        }
        !self.core.lock.is_locked() && keyboard.is_some_and(|k| root(k) == root(surface))
    }

    /// The keyboard went to `focused`: the constraint of the surface under
    /// the pointer follows (called from smithay's `SeatHandler::focus_changed`,
    /// which runs inside the keyboard's focus change: the keyboard is not
    /// asked again here).
    pub fn keyboard_focus_moved(&mut self, focused: Option<&WlSurface>) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        let Some(surface) = pointer.current_focus() else {
            return;
        };
        let allowed = self.constraint_allowed(&surface, focused);
        with_pointer_constraint(&surface, &pointer, |c| match c {
            Some(c) if allowed && !c.is_active() => c.activate(),
            Some(c) if !allowed && c.is_active() => c.deactivate(),
            _ => {}
        });
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
            let target = match constraint {
                None => target,
                // Locked: the pointer stays.
                Some(None) => {
                    pointer.frame(self);
                    return;
                }
                Some(Some(region)) => {
                    let size =
                        smithay::backend::renderer::utils::with_renderer_surface_state(&surface, |s| {
                            s.surface_size()
                        })
                        .flatten()
                        .unwrap_or_default();
                    match confine(region.as_ref(), size, here - origin, target - origin) {
                        Some(local) => origin + local,
                        None => {
                            pointer.frame(self);
                            return;
                        }
                    }
                }
            };
            let time = (utime / 1000) as u32;
            self.pointer_motion_to(target, time);
            return;
        }
        let time = (utime / 1000) as u32;
        self.pointer_motion_to(target, time);
    }
}

/// Where a confined pointer at `from` (surface-local) that is moved to `to`
/// ends up: `to` when it is inside the confinement (`region`, or the whole
/// surface of `size` without one), else `to` clamped to the edges of the
/// confinement's rectangle that holds `from`, as libinput-era compositors
/// (sway, mutter) do; `None` when even that point is outside (a region
/// with holes), and the pointer stays.
fn confine(
    region: Option<&smithay::wayland::compositor::RegionAttributes>,
    size: smithay::utils::Size<i32, Logical>,
    from: Point<f64, Logical>,
    to: Point<f64, Logical>,
) -> Option<Point<f64, Logical>> {
    use smithay::{utils::Rectangle, wayland::compositor::RectangleKind};
    let surface = Rectangle::from_size(size);
    let inside = |p: Point<f64, Logical>| {
        let p = p.to_i32_floor();
        surface.contains(p) && region.is_none_or(|r| r.contains(p))
    };
    if inside(to) {
        return Some(to);
    }
    let rects: Vec<Rectangle<i32, Logical>> = match region {
        None => vec![surface],
        Some(r) => r
            .rects
            .iter()
            .filter(|(kind, _)| matches!(kind, RectangleKind::Add))
            .filter_map(|(_, rect)| rect.intersection(surface))
            .collect(),
    };
    let rect = rects.iter().find(|r| r.contains(from.to_i32_floor()))?;
    let clamped = Point::from((
        to.x.clamp(rect.loc.x as f64, (rect.loc.x + rect.size.w - 1) as f64),
        to.y.clamp(rect.loc.y as f64, (rect.loc.y + rect.size.h - 1) as f64),
    ));
    inside(clamped).then_some(clamped)
}
