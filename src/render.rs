//! What goes on screen, and what happens after a frame is presented.
//!
//! Backends own their renderers and targets; this module gives them one way
//! to draw the `Space` ([`render_space`]) and one way to tell clients about a
//! presented frame ([`post_present`]), so headless, winit and (later) udev
//! send identical frame callbacks and presentation feedback.

use std::time::Duration;

use smithay::{
    backend::renderer::{
        damage::{Error as DamageError, OutputDamageTracker, RenderOutputResult},
        element::{
            default_primary_scanout_output_compare, surface::WaylandSurfaceRenderElement, RenderElementStates,
        },
        ImportAll, Renderer, Texture,
    },
    desktop::utils::{
        surface_presentation_feedback_flags_from_states, surface_primary_scanout_output,
        update_surface_primary_scanout_output, OutputPresentationFeedback,
    },
    output::Output,
    reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback,
    utils::Monotonic,
    wayland::presentation::Refresh,
};

use crate::state::Core;

/// Surfaces not on this output still get a frame callback at most this often,
/// so a hidden client does not spin but does not stall either.
const OFFSCREEN_FRAME_THROTTLE: Duration = Duration::from_secs(1);

/// Draw every window of the space that intersects `output` into
/// `framebuffer`, with damage tracking.
pub fn render_space<'d, R>(
    core: &Core,
    output: &Output,
    renderer: &mut R,
    framebuffer: &mut R::Framebuffer<'_>,
    age: usize,
    damage_tracker: &'d mut OutputDamageTracker,
) -> Result<RenderOutputResult<'d>, DamageError<R::Error>>
where
    R: Renderer + ImportAll,
    R::TextureId: Clone + Texture + 'static,
{
    let cursor: Vec<WaylandSurfaceRenderElement<R>> = cursor_elements(core, output, renderer);
    if core.lock.is_locked() {
        let mut elements = cursor;
        elements.extend(lock_elements(core, output, renderer));
        return damage_tracker.render_output(
            renderer,
            framebuffer,
            age,
            &elements,
            crate::lock::LOCKED_COLOUR,
        );
    }
    smithay::desktop::space::render_output::<_, WaylandSurfaceRenderElement<R>, _, _>(
        output,
        renderer,
        framebuffer,
        1.0,
        age,
        [&core.space],
        &cursor,
        damage_tracker,
        core.config.background.to_f32(),
    )
}

/// The pointer's cursor on `output`, topmost first: the surface the focused
/// client set (`wl_pointer.set_cursor`) at the pointer, less its hotspot.
/// Nothing for a hidden cursor, a pointer on another output, or a named
/// shape (Quay has no cursor theme yet).
pub fn cursor_elements<R, E>(core: &Core, output: &Output, renderer: &mut R) -> Vec<E>
where
    R: Renderer + ImportAll,
    R::TextureId: Clone + Texture + 'static,
    E: From<WaylandSurfaceRenderElement<R>>,
{
    use smithay::input::pointer::{CursorImageStatus, CursorImageSurfaceData};
    use smithay::reexports::wayland_server::Resource;
    let CursorImageStatus::Surface(surface) = &core.cursor else {
        return Vec::new();
    };
    let (Some(pointer), Some(geo)) = (core.seat.get_pointer(), core.space.output_geometry(output)) else {
        return Vec::new();
    };
    let location = pointer.current_location();
    if !surface.is_alive() || !geo.to_f64().contains(location) {
        return Vec::new();
    }
    let hotspot = smithay::wayland::compositor::with_states(surface, |states| {
        states
            .data_map
            .get::<CursorImageSurfaceData>()
            .and_then(|d| d.lock().ok().map(|a| a.hotspot))
    })
    .unwrap_or_default();
    let scale = output.current_scale().fractional_scale();
    let at = (location - geo.loc.to_f64() - hotspot.to_f64()).to_physical_precise_round(scale);
    smithay::backend::renderer::element::surface::render_elements_from_surface_tree(
        renderer,
        surface,
        at,
        scale,
        1.0,
        smithay::backend::renderer::element::Kind::Cursor,
    )
}

/// While the session is locked: what `output` shows, its lock surface (on
/// [`crate::lock::LOCKED_COLOUR`]), or nothing.
pub fn lock_elements<R, E>(core: &Core, output: &Output, renderer: &mut R) -> Vec<E>
where
    R: Renderer + ImportAll,
    R::TextureId: Clone + Texture + 'static,
    E: From<WaylandSurfaceRenderElement<R>>,
{
    let Some(surface) = core.lock.surface_for(output) else {
        return Vec::new();
    };
    smithay::backend::renderer::element::surface::render_elements_from_surface_tree(
        renderer,
        surface.wl_surface(),
        (0, 0),
        output.current_scale().fractional_scale(),
        1.0,
        smithay::backend::renderer::element::Kind::Unspecified,
    )
}

/// One presented frame on one output.
pub struct Presented<'a> {
    pub output: &'a Output,
    /// Which elements were drawn and how (from the render result).
    pub states: &'a RenderElementStates,
    /// When the frame turned into light, on the presentation clock.
    pub time: Duration,
    pub refresh: Refresh,
    /// Monotonic per-output frame counter (the vblank sequence on KMS).
    pub seq: u64,
    pub flags: wp_presentation_feedback::Kind,
}

/// After a frame was rendered for `output`: record each surface's primary
/// output, fire the frame callbacks of the surfaces shown there (once per
/// frame), and collect the presentation feedback of the surfaces in it, to be
/// answered when the frame turns into light ([`OutputPresentationFeedback::presented`]).
///
/// Backends that present at render time (headless, winit) use
/// [`post_present`]; KMS answers the feedback at the page flip.
pub fn after_render(
    core: &mut Core,
    output: &Output,
    states: &RenderElementStates,
    time: Duration,
) -> OutputPresentationFeedback {
    for window in core.space.elements() {
        window.with_surfaces(|surface, data| {
            update_surface_primary_scanout_output(
                surface,
                output,
                data,
                states,
                default_primary_scanout_output_compare,
            );
        });
    }

    let mut feedback = OutputPresentationFeedback::new(output);
    for window in core.space.elements() {
        if core.space.outputs_for_element(window).contains(output) {
            window.take_presentation_feedback(&mut feedback, surface_primary_scanout_output, |surface, _| {
                surface_presentation_feedback_flags_from_states(surface, states)
            });
        }
    }

    for window in core.space.elements() {
        window.send_frame(
            output,
            time,
            Some(OFFSCREEN_FRAME_THROTTLE),
            surface_primary_scanout_output,
        );
    }
    if core.lock.is_locked() {
        let outputs: Vec<Output> = core.space.outputs().cloned().collect();
        core.lock.drawn(output, &outputs);
    }
    if let smithay::input::pointer::CursorImageStatus::Surface(cursor) = &core.cursor {
        smithay::desktop::utils::send_frames_surface_tree(cursor, output, time, None, |_, _| {
            Some(output.clone())
        });
    }
    if let Some(lock) = core.lock.surface_for(output) {
        smithay::desktop::utils::send_frames_surface_tree(lock.wl_surface(), output, time, None, |_, _| {
            Some(output.clone())
        });
    }
    feedback
}

/// A frame that was presented as soon as it was rendered.
pub fn post_present(core: &mut Core, p: Presented<'_>) {
    let mut feedback = after_render(core, p.output, p.states, p.time);
    feedback.presented::<_, Monotonic>(p.time, p.refresh, p.seq, p.flags);
    core.stats.frames_presented_total += 1;
}
