//! `zwlr_layer_shell_v1`: backgrounds, panels, launchers and notifications
//! (swaybg, waybar, fuzzel, mako). Each layer surface goes into its
//! output's layer map (`crate::layers`), which places it by layer, anchor,
//! margin and exclusive zone as the protocol says, and Quay's frame draws
//! it: background and bottom below the windows, top and overlay above
//! (`crate::render::scene_elements`).
//!
//! A layer surface can cover every window, so the global is privileged:
//! sandboxed clients do not see it.
//!
//! Sizes, margins and exclusive zones are bounded ([`LAYER_BOUND`]) before
//! smithay stores them: the layout adds and subtracts them, so a margin of
//! `i32::MIN` would overflow (found by `tests/fuzz.rs` with overflow checks
//! on, in smithay's layout then), and a size above `i32::MAX` became
//! negative (smithay-0.7.0 src/wayland/shell/wlr_layer/handlers.rs:232).

use smithay::{
    desktop::{LayerSurface, WindowSurfaceType},
    output::Output,
    reexports::{
        wayland_protocols_wlr::layer_shell::v1::server::{
            zwlr_layer_shell_v1::ZwlrLayerShellV1,
            zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
        },
        wayland_server::{
            protocol::{wl_output::WlOutput, wl_surface::WlSurface},
            Client, DataInit, Dispatch, DisplayHandle, Resource,
        },
    },
    wayland::{
        compositor::with_states,
        shell::wlr_layer::{self, Layer, LayerSurfaceData, WlrLayerShellHandler, WlrLayerShellState},
    },
};
use tracing::debug;

use crate::{layers::layer_map_for_output, state::Core, State};

pub fn new_state(dh: &smithay::reexports::wayland_server::DisplayHandle) -> WlrLayerShellState {
    WlrLayerShellState::new_with_filter::<State, _>(dh, crate::state::privileged)
}

impl WlrLayerShellHandler for State {
    fn shell_state(&mut self) -> &mut WlrLayerShellState {
        &mut self.core.globals.layer_shell
    }

    fn new_layer_surface(
        &mut self,
        surface: wlr_layer::LayerSurface,
        output: Option<WlOutput>,
        layer: Layer,
        namespace: String,
    ) {
        // The output asked for, else the first one.
        let output = output
            .as_ref()
            .and_then(Output::from_resource)
            .or_else(|| self.core.space.outputs().next().cloned());
        let Some(output) = output else {
            // No output to show it on: the protocol lets the compositor
            // close it.
            debug!(namespace, "layer surface with no output: closed");
            surface.send_close();
            return;
        };
        debug!(namespace, ?layer, output = output.name(), "layer surface");
        layer_map_for_output(&output).map_layer(&LayerSurface::new(surface, namespace));
    }

    fn layer_destroyed(&mut self, surface: wlr_layer::LayerSurface) {
        let outputs: Vec<Output> = self.core.space.outputs().cloned().collect();
        for output in outputs {
            let mut map = layer_map_for_output(&output);
            let found = map.layers().find(|l| l.layer_surface() == &surface).cloned();
            if let Some(layer) = found {
                // unmap_layer arranges what is left.
                map.unmap_layer(&layer);
                drop(map);
                // A panel that goes gives its exclusive zone back.
                self.core.refit_maximized(&output);
            }
        }
    }
}
/// The largest size, margin or exclusive zone a layer surface keeps: four
/// times the largest output side Quay sets (`crate::outputs::MAX_MODE_SIDE`),
/// so every sum the layout (`crate::layers`) makes stays far inside `i32`.
pub const LAYER_BOUND: i32 = 1 << 16;

// delegate_layer_shell! less the layer surface, whose numbers are bounded here.
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    ZwlrLayerShellV1: wlr_layer::WlrLayerShellGlobalData
] => WlrLayerShellState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [ZwlrLayerShellV1: ()] => WlrLayerShellState);

impl Dispatch<ZwlrLayerSurfaceV1, wlr_layer::WlrLayerSurfaceUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &ZwlrLayerSurfaceV1,
        request: zwlr_layer_surface_v1::Request,
        data: &wlr_layer::WlrLayerSurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        use zwlr_layer_surface_v1::Request;
        let bound = |v: i32| v.clamp(-LAYER_BOUND, LAYER_BOUND);
        let request = match request {
            Request::SetSize { width, height } => Request::SetSize {
                width: width.min(LAYER_BOUND as u32),
                height: height.min(LAYER_BOUND as u32),
            },
            Request::SetMargin {
                top,
                right,
                bottom,
                left,
            } => Request::SetMargin {
                top: bound(top),
                right: bound(right),
                bottom: bound(bottom),
                left: bound(left),
            },
            Request::SetExclusiveZone { zone } => Request::SetExclusiveZone {
                zone: zone.min(LAYER_BOUND),
            },
            other => other,
        };
        <WlrLayerShellState as Dispatch<ZwlrLayerSurfaceV1, wlr_layer::WlrLayerSurfaceUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &ZwlrLayerSurfaceV1,
        data: &wlr_layer::WlrLayerSurfaceUserData,
    ) {
        <WlrLayerShellState as Dispatch<ZwlrLayerSurfaceV1, wlr_layer::WlrLayerSurfaceUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}

/// The pre-commit check for a layer surface that attaches a buffer before
/// it acked its first configure: `zwlr_layer_surface_v1.invalid_surface_state`,
/// as wlroots posts it. The protocol asks for an initial commit without a
/// buffer, answered by the configure the client must ack; smithay applies
/// the layer state only from an acked configure (smithay-0.7.0
/// src/wayland/shell/wlr_layer/handlers.rs:154-167), so such a buffer
/// would never be shown nor called back.
pub fn check_unconfigured_buffer(state: &mut State, surface: &WlSurface) {
    use smithay::wayland::compositor::{BufferAssignment, SurfaceAttributes};
    let attaches = with_states(surface, |states| {
        let unconfigured = states
            .data_map
            .get::<LayerSurfaceData>()
            .and_then(|d| d.lock().ok().map(|d| !d.configured))
            .unwrap_or(false);
        unconfigured
            && matches!(
                states.cached_state.get::<SurfaceAttributes>().pending().buffer,
                Some(BufferAssignment::NewBuffer(_))
            )
    });
    if !attaches || state.core.xdg_roles.allow_unconfigured_buffer {
        return;
    }
    let layer = state.core.space.outputs().find_map(|o| {
        layer_map_for_output(o)
            .layer_for_surface(surface, WindowSurfaceType::TOPLEVEL)
            .cloned()
    });
    if let Some(layer) = layer {
        layer.layer_surface().shell_surface().post_error(
            zwlr_layer_surface_v1::Error::InvalidSurfaceState,
            "a buffer was committed before the first configure was acked",
        );
    }
}

/// The layer surface whose surface tree `surface` is in, if any.
pub fn layer_of(core: &Core, surface: &WlSurface) -> Option<LayerSurface> {
    let mut root = surface.clone();
    while let Some(parent) = smithay::wayland::compositor::get_parent(&root) {
        root = parent;
    }
    core.space.outputs().find_map(|o| {
        layer_map_for_output(o)
            .layer_for_surface(&root, WindowSurfaceType::TOPLEVEL)
            .cloned()
    })
}

fn interactivity(layer: &LayerSurface) -> wlr_layer::KeyboardInteractivity {
    layer.cached_state().keyboard_interactivity
}

/// Whether `layer` shows: it has a buffer.
fn shows(layer: &LayerSurface) -> bool {
    smithay::backend::renderer::utils::with_renderer_surface_state(layer.wl_surface(), |s| {
        s.buffer().is_some()
    })
    .unwrap_or(false)
}

impl State {
    /// The keyboard focus is a showing layer surface that asked for the
    /// keyboard exclusively (a launcher, a lock-like overlay): clicks and
    /// new windows leave it there.
    pub fn exclusive_layer_has_keyboard(&self) -> bool {
        let Some(focus) = self.core.seat.get_keyboard().and_then(|k| k.current_focus()) else {
            return false;
        };
        layer_of(&self.core, &focus).is_some_and(|l| {
            matches!(interactivity(&l), wlr_layer::KeyboardInteractivity::Exclusive) && shows(&l)
        })
    }

    /// After a layer surface's commit, its keyboard interactivity
    /// (`zwlr_layer_surface_v1.set_keyboard_interactivity`) decides the
    /// keyboard: `exclusive` on the top or overlay layer takes it while the
    /// surface shows; a surface that holds it and turns `none` or stops
    /// showing gives it back to the topmost window. `on_demand` takes it
    /// when clicked ([`State::pointer_button`]).
    pub fn layer_keyboard_after_commit(&mut self, surface: &WlSurface) {
        let Some(layer) = layer_of(&self.core, surface) else {
            return;
        };
        let Some(keyboard) = self.core.seat.get_keyboard() else {
            return;
        };
        let own = layer.wl_surface().clone();
        let has = keyboard.current_focus().as_ref() == Some(&own);
        let wants = shows(&layer)
            && !self.core.lock.is_locked()
            && matches!(layer.layer(), Layer::Top | Layer::Overlay)
            && matches!(interactivity(&layer), wlr_layer::KeyboardInteractivity::Exclusive);
        let keeps = shows(&layer) && !matches!(interactivity(&layer), wlr_layer::KeyboardInteractivity::None);
        let serial = smithay::utils::SERIAL_COUNTER.next_serial();
        if wants && !has {
            keyboard.set_focus(self, Some(own), serial);
        } else if has && !keeps {
            let next = self.core.topmost_toplevel(None);
            self.focus_keyboard(next, serial);
        }
    }

    /// A press on `surface`: if it is a layer surface's that takes keyboard
    /// input (`on_demand` or `exclusive`), it gets the keyboard. Returns
    /// whether the press is the layer surface's alone: one that takes the
    /// keyboard, or a panel above the windows; a press on a wallpaper
    /// (bottom or background, no keyboard) is a press on the desktop.
    pub fn layer_pressed(&mut self, surface: &WlSurface) -> bool {
        let Some(layer) = layer_of(&self.core, surface) else {
            return false;
        };
        if matches!(interactivity(&layer), wlr_layer::KeyboardInteractivity::None) {
            return matches!(layer.layer(), Layer::Top | Layer::Overlay);
        }
        if let Some(keyboard) = self.core.seat.get_keyboard() {
            let serial = smithay::utils::SERIAL_COUNTER.next_serial();
            keyboard.set_focus(self, Some(layer.wl_surface().clone()), serial);
        }
        true
    }
}

/// A commit of `surface`: if it is a layer surface, re-arrange its output
/// (size, anchor or exclusive zone may have changed) and answer its first
/// commit with the initial configure the protocol requires.
pub fn handle_commit(core: &mut Core, surface: &WlSurface) {
    let Some(output) = core.space.outputs().find(|o| {
        layer_map_for_output(o)
            .layer_for_surface(surface, WindowSurfaceType::TOPLEVEL)
            .is_some()
    }) else {
        return;
    };
    let initial_configure_sent = with_states(surface, |states| {
        states
            .data_map
            .get::<LayerSurfaceData>()
            .and_then(|d| d.lock().ok().map(|a| a.initial_configure_sent))
    })
    .unwrap_or(true);
    let output = output.clone();
    let mut map = layer_map_for_output(&output);
    let zone = map.non_exclusive_zone();
    map.arrange();
    let zone_changed = map.non_exclusive_zone() != zone;
    if !initial_configure_sent {
        if let Some(layer) = map.layer_for_surface(surface, WindowSurfaceType::TOPLEVEL) {
            layer.layer_surface().send_configure();
        }
    }
    drop(map);
    if zone_changed {
        core.refit_maximized(&output);
    }
}
