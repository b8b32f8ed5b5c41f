//! `zwlr_layer_shell_v1`: backgrounds, panels, launchers and notifications
//! (swaybg, waybar, fuzzel, mako). Each layer surface goes into smithay's
//! layer map of its output, which places it by layer, anchor, margin and
//! exclusive zone (`LayerMap::arrange`), and smithay's space rendering draws
//! it: background and bottom below the windows, top and overlay above
//! (smithay-0.7.0 src/desktop/space/mod.rs:600).
//!
//! A layer surface can cover every window, so the global is privileged:
//! sandboxed clients do not see it.

use smithay::{
    delegate_layer_shell,
    desktop::{layer_map_for_output, LayerSurface, WindowSurfaceType},
    output::Output,
    reexports::wayland_server::protocol::{wl_output::WlOutput, wl_surface::WlSurface},
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
delegate_layer_shell!(State);

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
