//! Layer surfaces (`zwlr_layer_shell_v1`) per output, and their layout.
//!
//! smithay has a layer map of its own (`smithay::desktop::LayerMap`), whose
//! layout departs from the protocol in three ways (smithay-0.7.0
//! src/desktop/wayland/layer.rs:248-420): a surface anchored to two
//! opposite edges is stretched whatever size it asked; an exclusive zone
//! counts for a surface anchored to a corner, to two opposite edges or to
//! all four; and each surface is placed in the zone the surfaces mapped
//! before it left, so a panel that maps after a wallpaper-sized surface
//! does not push it aside. Quay keeps its own map, with these rules from
//! wlr-layer-shell-unstable-v1.xml:
//!
//! - Size (`set_size`): a width of 0 means "as wide as the area between the
//!   margins" and is allowed only with both left and right anchors (smithay
//!   posts `invalid_size` otherwise); any other width is kept, anchored or
//!   not, and at most the area's width. Heights alike.
//! - Place (`set_anchor`): anchored to the left edge, the surface's left is
//!   the area's plus the left margin; to the right edge alone, its right is
//!   the area's less the right margin; to both or neither, it is centred
//!   between the margins. Vertically alike.
//! - Exclusive zone (`set_exclusive_zone`): counts only for a surface
//!   attached to one edge (anchored to that edge alone, or to it and both
//!   edges perpendicular to it): the area the other surfaces get loses the
//!   zone plus that edge's margin. Any other positive zone counts as 0.
//! - Area: the exclusive surfaces are placed first, each in what the
//!   exclusive surfaces before it left (overlay first, then top, bottom,
//!   background; in map order within a layer); then every other surface in
//!   what all of them left, or in the whole output for a zone of -1.
//!
//! A surface's size goes to its client as a configure when it changes (the
//! initial configure is [`crate::handlers::layer_shell::handle_commit`]'s).
//! The map also sends `wl_surface.enter` / `leave` for its surfaces and
//! their popups, as smithay's does.

use std::sync::{Mutex, MutexGuard};

use smithay::{
    desktop::{LayerSurface, PopupManager, WindowSurfaceType},
    output::{Output, WeakOutput},
    reexports::wayland_server::protocol::wl_surface::WlSurface,
    utils::{IsAlive, Logical, Rectangle, Size},
    wayland::{
        compositor::{with_states, with_surface_tree_downward, TraversalAction},
        shell::wlr_layer::{Anchor, ExclusiveZone, Layer, LayerSurfaceData},
    },
};

/// The layer surfaces of one output, in map order, and the area they leave
/// to windows.
#[derive(Debug)]
pub struct LayerMap {
    output: WeakOutput,
    layers: Vec<LayerSurface>,
    zone: Rectangle<i32, Logical>,
}

/// Where a mapped layer surface was placed: its rectangle in output-local
/// logical coordinates.
#[derive(Debug, Default)]
struct Placed(Mutex<Option<Rectangle<i32, Logical>>>);

fn placed(layer: &LayerSurface) -> Option<Rectangle<i32, Logical>> {
    let data = layer.user_data().get::<Placed>()?;
    *data.0.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_placed(layer: &LayerSurface, rect: Option<Rectangle<i32, Logical>>) {
    layer.user_data().insert_if_missing_threadsafe(Placed::default);
    if let Some(data) = layer.user_data().get::<Placed>() {
        *data.0.lock().unwrap_or_else(|e| e.into_inner()) = rect;
    }
}

/// The layer map of `output`, made on first use.
pub fn layer_map_for_output(output: &Output) -> MutexGuard<'_, LayerMap> {
    let data = output.user_data();
    data.insert_if_missing_threadsafe(|| {
        Mutex::new(LayerMap {
            output: output.downgrade(),
            layers: Vec::new(),
            zone: Rectangle::from_size(output_size(output)),
        })
    });
    let map = data.get::<Mutex<LayerMap>>().expect("inserted above");
    map.lock().unwrap_or_else(|e| e.into_inner())
}

/// `output`'s size in logical pixels (its mode, scale and transform).
fn output_size(output: &Output) -> Size<i32, Logical> {
    let size = output
        .current_mode()
        .map(|mode| {
            mode.size
                .to_f64()
                .to_logical(output.current_scale().fractional_scale())
                .to_i32_round()
        })
        .unwrap_or_default();
    output.current_transform().transform_size(size)
}

/// The one edge `anchor` attaches a surface to, if it does: that edge
/// alone, or it and both edges perpendicular to it.
fn attached_edge(anchor: Anchor) -> Option<Anchor> {
    let (l, r, t, b) = (
        anchor.contains(Anchor::LEFT),
        anchor.contains(Anchor::RIGHT),
        anchor.contains(Anchor::TOP),
        anchor.contains(Anchor::BOTTOM),
    );
    match (l, r, t, b) {
        (true, false, x, y) if x == y => Some(Anchor::LEFT),
        (false, true, x, y) if x == y => Some(Anchor::RIGHT),
        (x, y, true, false) if x == y => Some(Anchor::TOP),
        (x, y, false, true) if x == y => Some(Anchor::BOTTOM),
        _ => None,
    }
}

/// Where a surface with `state` goes in `area`: its rectangle.
fn place(
    state: &smithay::wayland::shell::wlr_layer::LayerSurfaceCachedState,
    area: Rectangle<i32, Logical>,
) -> Rectangle<i32, Logical> {
    let (anchor, m) = (state.anchor, state.margin);
    // Margins count on anchored edges only.
    let axis = |start: i32, len: i32, asked: i32, lo: bool, hi: bool, m_lo: i32, m_hi: i32| {
        let (m_lo, m_hi) = (if lo { m_lo } else { 0 }, if hi { m_hi } else { 0 });
        let room = (len - m_lo - m_hi).max(1);
        let size = if asked == 0 { room } else { asked.min(room) };
        let at = match (lo, hi) {
            (true, false) => start + m_lo,
            (false, true) => start + len - m_hi - size,
            _ => start + m_lo + (room - size) / 2,
        };
        (at, size)
    };
    let (x, w) = axis(
        area.loc.x,
        area.size.w,
        state.size.w,
        anchor.contains(Anchor::LEFT),
        anchor.contains(Anchor::RIGHT),
        m.left,
        m.right,
    );
    let (y, h) = axis(
        area.loc.y,
        area.size.h,
        state.size.h,
        anchor.contains(Anchor::TOP),
        anchor.contains(Anchor::BOTTOM),
        m.top,
        m.bottom,
    );
    Rectangle::new((x, y).into(), (w, h).into())
}

/// `zone` less a surface's exclusive zone of `amount` on `edge`, and the
/// margin it keeps from that edge.
fn shrink(
    zone: &mut Rectangle<i32, Logical>,
    edge: Anchor,
    amount: i32,
    margin: smithay::wayland::shell::wlr_layer::Margins,
) {
    if edge == Anchor::LEFT {
        zone.loc.x += amount + margin.left;
        zone.size.w -= amount + margin.left;
    } else if edge == Anchor::RIGHT {
        zone.size.w -= amount + margin.right;
    } else if edge == Anchor::TOP {
        zone.loc.y += amount + margin.top;
        zone.size.h -= amount + margin.top;
    } else if edge == Anchor::BOTTOM {
        zone.size.h -= amount + margin.bottom;
    }
    zone.size.w = zone.size.w.max(0);
    zone.size.h = zone.size.h.max(0);
}

/// Call `f` on every surface of `layer`'s tree and its popups' trees.
fn for_each_surface(layer: &LayerSurface, mut f: impl FnMut(&WlSurface)) {
    let mut visit = |root: &WlSurface| {
        with_surface_tree_downward(
            root,
            (),
            |_, _, _| TraversalAction::DoChildren(()),
            |surface, _, _| f(surface),
            |_, _, _| true,
        );
    };
    visit(layer.wl_surface());
    for (popup, _) in PopupManager::popups_for_surface(layer.wl_surface()) {
        visit(popup.wl_surface());
    }
}

impl LayerMap {
    /// Add `layer` (a new layer surface) and lay the map out again.
    pub fn map_layer(&mut self, layer: &LayerSurface) {
        if !self.layers.contains(layer) {
            self.layers.push(layer.clone());
            self.arrange();
        }
    }

    /// Remove `layer`: its surfaces leave the output, the rest is laid out
    /// again.
    pub fn unmap_layer(&mut self, layer: &LayerSurface) {
        let before = self.layers.len();
        self.layers.retain(|l| l != layer);
        if self.layers.len() == before {
            return;
        }
        set_placed(layer, None);
        if let Some(output) = self.output.upgrade() {
            for_each_surface(layer, |s| output.leave(s));
        }
        self.arrange();
    }

    /// The area the layer surfaces leave to windows (output-local).
    pub fn non_exclusive_zone(&self) -> Rectangle<i32, Logical> {
        self.zone
    }

    /// Where `layer` is and how large (output-local), if it is on this map.
    pub fn layer_geometry(&self, layer: &LayerSurface) -> Option<Rectangle<i32, Logical>> {
        self.layers.contains(layer).then(|| placed(layer)).flatten()
    }

    /// Every layer surface, in map order.
    pub fn layers(&self) -> impl DoubleEndedIterator<Item = &LayerSurface> {
        self.layers.iter()
    }

    /// The layer surfaces on `layer`, in map order.
    pub fn layers_on(&self, layer: Layer) -> impl DoubleEndedIterator<Item = &LayerSurface> {
        self.layers.iter().filter(move |l| l.layer() == layer)
    }

    /// The layer surface whose `wl_surface` is `surface` (`TOPLEVEL`), or
    /// which has `surface` in its tree (with `SUBSURFACE`) or in one of its
    /// popups' trees (with `POPUP`).
    pub fn layer_for_surface(
        &self,
        surface: &WlSurface,
        surface_type: WindowSurfaceType,
    ) -> Option<&LayerSurface> {
        let in_tree = |root: &WlSurface| {
            let found = std::cell::Cell::new(false);
            with_surface_tree_downward(
                root,
                (),
                |_, _, _| TraversalAction::DoChildren(()),
                |s, _, _| found.set(found.get() || s == surface),
                |_, _, _| !found.get(),
            );
            found.get()
        };
        self.layers.iter().find(|layer| {
            if layer.wl_surface() == surface {
                return surface_type.contains(WindowSurfaceType::TOPLEVEL);
            }
            (surface_type.contains(WindowSurfaceType::SUBSURFACE) && in_tree(layer.wl_surface()))
                || (surface_type.contains(WindowSurfaceType::POPUP)
                    && PopupManager::popups_for_surface(layer.wl_surface())
                        .any(|(p, _)| in_tree(p.wl_surface())))
        })
    }

    /// Lay every surface out again (the rules at the top of this file) and
    /// configure those whose size changed. Returns whether a surface moved
    /// or changed size.
    pub fn arrange(&mut self) -> bool {
        let Some(output) = self.output.upgrade() else {
            return false;
        };
        self.layers.retain(|l| l.alive());
        let whole = Rectangle::from_size(output_size(&output));
        let mut zone = whole;
        let mut rects: Vec<Option<Rectangle<i32, Logical>>> = vec![None; self.layers.len()];
        // The exclusive surfaces, each in what the ones before it left.
        for on in [Layer::Overlay, Layer::Top, Layer::Bottom, Layer::Background] {
            for (i, layer) in self.layers.iter().enumerate().filter(|(_, l)| l.layer() == on) {
                let state = layer.cached_state();
                let edge = attached_edge(state.anchor);
                if let (ExclusiveZone::Exclusive(amount), Some(edge)) = (state.exclusive_zone, edge) {
                    rects[i] = Some(place(&state, zone));
                    shrink(&mut zone, edge, amount as i32, state.margin);
                }
            }
        }
        // The others, in what the exclusive ones left (or everywhere).
        for (i, layer) in self.layers.iter().enumerate() {
            if rects[i].is_none() {
                let state = layer.cached_state();
                let area = match state.exclusive_zone {
                    ExclusiveZone::DontCare => whole,
                    _ => zone,
                };
                rects[i] = Some(place(&state, area));
            }
        }
        let mut changed = false;
        for (layer, rect) in self.layers.iter().zip(rects) {
            for_each_surface(layer, |s| output.enter(s));
            if placed(layer) != rect {
                changed = true;
                set_placed(layer, rect);
            }
            let Some(rect) = rect else { continue };
            let resized = layer
                .layer_surface()
                .with_pending_state(|s| s.size.replace(rect.size) != Some(rect.size));
            let configured = with_states(layer.wl_surface(), |states| {
                states
                    .data_map
                    .get::<LayerSurfaceData>()
                    .and_then(|d| d.lock().ok().map(|d| d.initial_configure_sent))
                    .unwrap_or(false)
            });
            // The first configure answers the first commit (the protocol's
            // rule); later ones go when the size changes.
            if resized && configured {
                layer.layer_surface().send_pending_configure();
            }
        }
        self.zone = zone;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edge_or_an_edge_and_both_sides() {
        let a = |l, r, t, b| {
            let mut x = Anchor::empty();
            for (on, e) in [
                (l, Anchor::LEFT),
                (r, Anchor::RIGHT),
                (t, Anchor::TOP),
                (b, Anchor::BOTTOM),
            ] {
                if on {
                    x |= e;
                }
            }
            attached_edge(x)
        };
        assert_eq!(a(true, false, false, false), Some(Anchor::LEFT));
        assert_eq!(a(true, false, true, true), Some(Anchor::LEFT));
        assert_eq!(a(true, true, true, false), Some(Anchor::TOP));
        assert_eq!(a(false, false, false, true), Some(Anchor::BOTTOM));
        assert_eq!(a(true, false, true, false), None, "a corner");
        assert_eq!(a(true, true, false, false), None, "two opposite edges");
        assert_eq!(a(true, true, true, true), None, "all four");
        assert_eq!(a(false, false, false, false), None, "none");
    }
}
