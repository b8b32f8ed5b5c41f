//! `zwlr_layer_shell_v1`: backgrounds, panels, launchers and notifications
//! (swaybg, waybar, fuzzel, mako). Each layer surface goes into smithay's
//! layer map of its output, which places it by layer, anchor, margin and
//! exclusive zone (`LayerMap::arrange`), and smithay's space rendering draws
//! it: background and bottom below the windows, top and overlay above
//! (smithay-0.7.0 src/desktop/space/mod.rs:600).
//!
//! A layer surface can cover every window, so the global is privileged:
//! sandboxed clients do not see it.
//!
//! Sizes, margins and exclusive zones are bounded ([`LAYER_BOUND`]) before
//! smithay stores them: `LayerMap::arrange` adds and subtracts them
//! unchecked (smithay-0.7.0 src/desktop/wayland/layer.rs:303-360), so a
//! margin of `i32::MIN` overflowed there (found by `tests/fuzz.rs` with
//! overflow checks on), and a size above `i32::MAX` became negative
//! (src/wayland/shell/wlr_layer/handlers.rs:232).

use smithay::{
    desktop::{layer_map_for_output, LayerSurface, WindowSurfaceType},
    output::Output,
    reexports::{
        wayland_protocols_wlr::layer_shell::v1::server::{
            zwlr_layer_shell_v1::ZwlrLayerShellV1,
            zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
        },
        wayland_server::{
            protocol::{wl_output::WlOutput, wl_surface::WlSurface},
            Client, DataInit, Dispatch, DisplayHandle,
        },
    },
    wayland::{
        compositor::with_states,
        shell::wlr_layer::{self, Layer, LayerSurfaceData, WlrLayerShellHandler, WlrLayerShellState},
    },
};
use tracing::debug;

use crate::{state::Core, State};

pub fn new_state(dh: &smithay::reexports::wayland_server::DisplayHandle) -> WlrLayerShellState {
    WlrLayerShellState::new_with_filter::<State, _>(dh, crate::state::privileged)
}

impl WlrLayerShellHandler for State {
    fn shell_state(&mut self) -> &mut WlrLayerShellState {
        &mut self.core.layer_shell_state
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
        let mut map = layer_map_for_output(&output);
        if let Err(err) = map.map_layer(&LayerSurface::new(surface, namespace)) {
            debug!("mapping a layer surface failed: {err}");
        }
    }

    fn layer_destroyed(&mut self, surface: wlr_layer::LayerSurface) {
        for output in self.core.space.outputs() {
            let mut map = layer_map_for_output(output);
            let found = map.layers().find(|l| l.layer_surface() == &surface).cloned();
            if let Some(layer) = found {
                map.unmap_layer(&layer);
            }
        }
    }
}
/// The largest size, margin or exclusive zone a layer surface keeps: four
/// times the largest output side Quay sets (`crate::outputs::MAX_MODE_SIDE`),
/// so every sum `LayerMap::arrange` makes stays far inside `i32`.
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

/// A commit of `surface`: if it is a layer surface, re-arrange its output
/// (size, anchor or exclusive zone may have changed) and answer its first
/// commit with the initial configure the protocol requires.
pub fn handle_commit(core: &Core, surface: &WlSurface) {
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
    let mut map = layer_map_for_output(output);
    map.arrange();
    if !initial_configure_sent {
        if let Some(layer) = map.layer_for_surface(surface, WindowSurfaceType::TOPLEVEL) {
            layer.layer_surface().send_configure();
        }
    }
}
