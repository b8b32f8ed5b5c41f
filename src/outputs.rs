//! Output configuration: `[[output]]` from the config when an output
//! appears, and `zwlr_output_manager_v1` (`wlr-randr`, `kanshi`) while
//! Quay runs. Both end in the same place: an output's scale, transform and
//! position, and whether it is in the space at all.
//!
//! Modes: on udev one of the connector's (a modeset on the next frame), on
//! headless any size and refresh (`--custom-mode` too), on winit only the
//! window's. A mode the backend cannot set fails the configuration (the
//! client is told `failed`), as does one that turns every output off or
//! asks for adaptive sync. `[[output]] mode` is applied when the output
//! appears (the backends read it as they make the output).

use crate::layers::layer_map_for_output;
use quay_config::OutputTransform;
use smithay::{
    output::{Output, Scale},
    utils::{Logical, Point, Transform},
};
use tracing::info;

use crate::{
    protocols::output_management::{HeadState, OutputChange},
    state::Core,
    State,
};

fn transform_of(t: OutputTransform) -> Transform {
    match t {
        OutputTransform::Normal => Transform::Normal,
        OutputTransform::R90 => Transform::_90,
        OutputTransform::R180 => Transform::_180,
        OutputTransform::R270 => Transform::_270,
        OutputTransform::Flipped => Transform::Flipped,
        OutputTransform::Flipped90 => Transform::Flipped90,
        OutputTransform::Flipped180 => Transform::Flipped180,
        OutputTransform::Flipped270 => Transform::Flipped270,
    }
}

impl Core {
    /// Every output Quay has, the ones switched off included.
    fn all_outputs(&self) -> Vec<Output> {
        let mut all: Vec<Output> = self.space.outputs().cloned().collect();
        all.extend(self.disabled_outputs.iter().cloned());
        all
    }

    /// The heads `zwlr_output_manager_v1` shows.
    pub fn output_heads(&self) -> Vec<HeadState> {
        self.all_outputs()
            .iter()
            .map(|o| HeadState::of(o, self.space.output_geometry(o).map(|g| g.loc)))
            .collect()
    }

    /// The outputs changed (configured, added or gone): tell output
    /// managers, re-arrange layer surfaces, fit maximized and fullscreen
    /// windows to their output's new size, and tell surfaces their scale.
    pub fn outputs_changed(&mut self) {
        let outputs: Vec<Output> = self.space.outputs().cloned().collect();
        for output in &outputs {
            layer_map_for_output(output).arrange();
            self.refit_maximized(output);
            self.refit_fullscreen(output);
        }
        self.send_fractional_scales();
        let heads = self.output_heads();
        self.output_management.changed(&self.display_handle, heads);
    }

    /// Apply the config's `[[output]]` for a new output the backend just
    /// mapped; `false` when the config switches it off (it is then
    /// unmapped).
    pub fn configure_new_output(&mut self, output: &Output) -> bool {
        let Some(settings) = self.config.output_settings(&output.name()).cloned() else {
            self.outputs_changed();
            return true;
        };
        if !settings.enabled {
            info!(output = output.name(), "switched off by [[output]]");
            self.space.unmap_output(output);
            self.disabled_outputs.push(output.clone());
            self.outputs_changed();
            return false;
        }
        output.change_current_state(
            None,
            settings.transform.map(transform_of),
            settings.scale.map(|s| Scale::Fractional(s.0)),
            None,
        );
        let loc = settings
            .position
            .map(|p| Point::<i32, Logical>::from((p.x, p.y)))
            .or_else(|| self.space.output_geometry(output).map(|g| g.loc))
            .unwrap_or_default();
        self.space.map_output(output, loc);
        info!(output = output.name(), ?settings, "configured by [[output]]");
        self.outputs_changed();
        true
    }
}

/// What an output configuration may ask for, as a `failed` rather than a
/// protocol error (the protocol lets the compositor refuse any mode): a
/// custom mode's side and area (an 8K output twice over; a headless output
/// allocates a render target of that size), its refresh (1 Hz to 1 kHz, or
/// 0 for the current one), the scale and how far from the origin an
/// output may be placed (so no geometry sum can overflow).
pub const MAX_MODE_SIDE: i32 = 16384;
pub const MAX_MODE_PIXELS: i64 = 7680 * 4320 * 2;
pub const MODE_REFRESH_MHZ: std::ops::RangeInclusive<i32> = 1_000..=1_000_000;
pub const SCALE: std::ops::RangeInclusive<f64> = 0.25..=8.0;
pub const MAX_POSITION: i32 = 1 << 20;

/// Whether `change` stays within the bounds above.
fn check_bounds(change: &OutputChange) -> Result<(), String> {
    if let Some((w, h, r)) = change.custom_mode {
        if w > MAX_MODE_SIDE || h > MAX_MODE_SIDE || i64::from(w) * i64::from(h) > MAX_MODE_PIXELS {
            return Err(format!("{}: custom mode {w}x{h} is too large", change.name));
        }
        if r != 0 && !MODE_REFRESH_MHZ.contains(&r) {
            return Err(format!("{}: custom refresh {r} mHz", change.name));
        }
    }
    if let Some(scale) = change.scale {
        if !SCALE.contains(&scale) {
            return Err(format!("{}: scale {scale} is outside {SCALE:?}", change.name));
        }
    }
    if let Some((x, y)) = change.position.map(|p| (p.x, p.y)) {
        if x.unsigned_abs() > MAX_POSITION.unsigned_abs() || y.unsigned_abs() > MAX_POSITION.unsigned_abs() {
            return Err(format!("{}: position {x},{y} is too far out", change.name));
        }
    }
    Ok(())
}

impl State {
    /// A `zwlr_output_configuration_v1` to apply (or only test).
    pub fn apply_output_changes(&mut self, changes: &[OutputChange], test_only: bool) -> Result<(), String> {
        let outputs = self.core.all_outputs();
        let mut plan = Vec::new();
        for change in changes {
            check_bounds(change)?;
            let output = outputs
                .iter()
                .find(|o| o.name() == change.name)
                .ok_or_else(|| format!("no output {}", change.name))?;
            let current = output.current_mode();
            // A custom mode's refresh 0 is "any": the current one.
            let wanted = change
                .mode
                .or(change.custom_mode.map(|(w, h, r)| smithay::output::Mode {
                    size: (w, h).into(),
                    refresh: if r == 0 {
                        current.map_or(60_000, |m| m.refresh)
                    } else {
                        r
                    },
                }));
            let new_mode = wanted.filter(|m| Some(*m) != current);
            if let Some(mode) = new_mode {
                self.backend.set_mode(&mut self.core, output, mode, true)?;
            }
            if change.adaptive_sync == Some(true) {
                return Err(format!("{}: adaptive sync is not supported", change.name));
            }
            plan.push((output.clone(), change, new_mode));
        }
        if !plan.iter().any(|(_, c, _)| c.enabled) {
            return Err("every output would be off".into());
        }
        if test_only {
            return Ok(());
        }
        for (output, _, mode) in &plan {
            if let Some(mode) = mode {
                self.backend.set_mode(&mut self.core, output, *mode, false)?;
                layer_map_for_output(output).arrange();
            }
        }
        let core = &mut self.core;
        for (output, change, _) in plan {
            if !change.enabled {
                if core.space.output_geometry(&output).is_some() {
                    core.space.unmap_output(&output);
                    core.disabled_outputs.push(output.clone());
                }
                continue;
            }
            let was = core.space.output_geometry(&output).map(|g| g.loc);
            core.disabled_outputs.retain(|o| o != &output);
            output.change_current_state(None, change.transform, change.scale.map(Scale::Fractional), None);
            let loc = change.position.or(was).unwrap_or_default();
            core.space.map_output(&output, loc);
            info!(
                output = output.name(),
                scale = output.current_scale().fractional_scale(),
                transform = ?output.current_transform(),
                ?loc,
                "output configured"
            );
        }
        core.stats.output_configurations_total += 1;
        core.outputs_changed();
        Ok(())
    }
}
